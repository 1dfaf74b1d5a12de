"""The transaction writer: functions over one SQLite connection that build and store blocks.

Every write is one ``BEGIN IMMEDIATE`` transaction (:class:`Transaction`) on a WAL database
with ``synchronous=FULL`` (``store.connect``): a transaction that committed has been fsynced;
one that raised left nothing behind. Each block is built from the tip read inside its own
transaction (:func:`append_block`), so several threads and processes may write: SQLite
serializes the writers and the chain stays single. A block is shaped exactly like a QLDB
journal block (docs/ledger.md); its ``revisions`` are stored once, per row of ``revisions``.

Writes check what they build on: the ``documents`` row of every written key
(``check.indexed_current``) and, for a redaction, the revision it replaces (``check.served``).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from auditor.ledger.check import REVISION_COLUMNS, Revision, indexed_current
from auditor.ledger.codec import encode, time_column, timestamp
from auditor.ledger.errors import ConflictError, LedgerError, NotFoundError
from auditor.ledger.reads import Reader, table_id, tip
from auditor.ledger.tree import add_leaf
from proofs import dot, ion_hash, merkle_root

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True, slots=True)
class Write:
    table: str
    key: str
    data: Any  # None for a delete
    expected_version: int | None


def new_id(rng: Callable[[int], bytes]) -> str:
    """A QLDB-style id: 22 base-62 digits of 128 random bits."""
    n = int.from_bytes(rng(16), "big")
    out = []
    for _ in range(22):
        n, r = divmod(n, 62)
        out.append(_BASE62[r])
    return "".join(out)


class Transaction:
    """``with Transaction(db) as db:`` one ``BEGIN IMMEDIATE`` transaction, committed when the
    body returns, rolled back when it (or the COMMIT) raises."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, kind: object, value: object, tb: object) -> None:
        if kind is None:
            try:
                self.db.execute("COMMIT")
                return
            except BaseException:
                self._rollback()
                raise
        self._rollback()

    def _rollback(self) -> None:
        # SQLite may have rolled back already (a full disk, an I/O error)
        if self.db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("ROLLBACK")


def refuse_batch(writes: list[Write]) -> None:
    """:class:`LedgerError` for a batch no transaction may write (checked before it begins)."""
    if not writes:
        raise LedgerError("empty", "nothing to write")
    keys = [(w.table, w.key) for w in writes]
    if len(set(keys)) != len(keys):
        raise LedgerError("duplicate-key", "a key appears twice in one transaction")


def genesis(
    db: sqlite3.Connection,
    name: str,
    *,
    strand_id: str,
    rng: Callable[[int], bytes],
    clock: Callable[[], datetime],
) -> None:
    """Block 0: ``CREATE LEDGER <name>``."""
    append_block(db, [f"CREATE LEDGER {name}"], [], {}, None, strand_id=strand_id, rng=rng,
                 clock=clock)  # fmt: skip


def create_table(
    db: sqlite3.Connection,
    name: str,
    *,
    path: str,
    strand_id: str,
    rng: Callable[[int], bytes],
    clock: Callable[[], datetime],
) -> str:
    """The table ``name`` and its ``CREATE TABLE`` block; returns its tableId."""
    if db.execute("SELECT 1 FROM tables WHERE name = ?", (name,)).fetchone():
        raise LedgerError("table-exists", f"{path}: table {name} already exists")
    new_table = new_id(rng)
    db.execute("INSERT INTO tables VALUES (?, ?)", (name, new_table))
    statement = f"CREATE TABLE {name}"
    append_block(db, [statement], [], {}, None, strand_id=strand_id, rng=rng, clock=clock)
    return new_table


def commit(
    db: sqlite3.Connection,
    writes: list[Write],
    verb: str,
    *,
    path: str,
    strand_id: str,
    max_document_bytes: int,
    rng: Callable[[int], bytes],
    clock: Callable[[], datetime],
) -> list[Revision]:
    """One block of ``verb`` (``UPSERT`` or ``DELETE``) statements writing ``writes`` (checked
    by :func:`refuse_batch`), and their ``revisions`` and ``documents`` rows."""
    tx_id = new_id(rng)
    tx_time = timestamp(clock())
    seq = tip(db) + 1
    statements: list[str] = []
    documents: dict[str, Any] = {}
    revisions = []
    rows = []
    table_ids: dict[str, str] = {}
    for index, w in enumerate(writes):
        if w.table not in table_ids:
            table_ids[w.table] = table_id(db, w.table, path)
        this_table = table_ids[w.table]
        row = indexed_current(db, w.table, w.key, path)
        current = None if row is None or row[2] else row[1]
        if w.expected_version is not None and w.expected_version != current:
            raise ConflictError(
                "version-conflict",
                f"{w.table}/{w.key}: expected version {w.expected_version}, "
                f"the ledger has {'none' if current is None else current}",
            )
        if w.data is None:
            if current is None:
                raise NotFoundError("no-key", f"{w.table}/{w.key}: no such document")
            assert row is not None
            doc_id, version = row[0], current + 1
        elif current is None or row is None:
            doc_id, version = new_id(rng), 0
        else:
            doc_id, version = row[0], current + 1
        metadata = {"id": doc_id, "version": version, "txTime": tx_time, "txId": tx_id}
        revision: dict[str, Any] = {
            "blockAddress": {"strandId": strand_id, "sequenceNo": seq},
            "hash": b"",
        }
        if w.data is not None:
            revision["data"] = w.data
            data_hash = ion_hash(w.data)
        else:
            data_hash = b""  # a delete: hash = IonHash(metadata) (docs/ledger.md)
        revision["metadata"] = metadata
        revision["hash"] = dot(data_hash, ion_hash(metadata))
        statement = f"{verb} {w.table} {w.key}"
        statements.append(statement)
        documents[doc_id] = {
            "tableName": w.table,
            "tableId": this_table,
            "statements": [index],
        }
        revisions.append(revision)
        blob = encode(revision)
        if len(blob) > max_document_bytes:
            raise LedgerError(
                "too-large", f"{w.key}: the revision is {len(blob)} bytes of Ion, over "
                f"{max_document_bytes}",
            )  # fmt: skip
        rows.append((w, doc_id, version, index, revision["hash"], blob))
    append_block(db, statements, revisions, documents, None, strand_id=strand_id, rng=rng,
                 clock=clock, tx_id=tx_id, tx_time=tx_time)  # fmt: skip
    db.executemany(
        "INSERT INTO revisions VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        [(doc_id, version, w.table, w.key, seq, index, tx_id, time_column(tx_time),
          "deleted" if w.data is None else "data", rev_hash, blob)
         for w, doc_id, version, index, rev_hash, blob in rows],
    )  # fmt: skip
    db.executemany(
        "INSERT OR REPLACE INTO documents VALUES (?,?,?,?,?)",
        [(w.table, w.key, doc_id, version, int(w.data is None))
         for w, doc_id, version, _, _, _ in rows],
    )  # fmt: skip
    return [
        Revision(w.table, w.key, doc_id, version, seq, revisions[index])
        for w, doc_id, version, index, _, _ in rows
    ]


def redact(
    reader: Reader,
    table: str,
    key: str,
    version: int,
    document_id: str | None,
    *,
    rng: Callable[[int], bytes],
    clock: Callable[[], datetime],
) -> str:
    """Replace the data of a non-latest revision (checked by ``reader``, whose connection is
    in the transaction) by its ``dataHash`` and record it in a new block's ``redactionInfo``;
    returns the document id."""
    db, strand_id = reader.db, reader.strand_id
    redacted_table = table_id(db, table, reader.path)
    row = db.execute(
        f"SELECT {REVISION_COLUMNS} FROM revisions "  # noqa: S608 - our literal
        "WHERE table_name=? AND key=? AND version=? AND doc_id=coalesce(?, doc_id) "
        "ORDER BY seq DESC, rev_index DESC LIMIT 1",
        (table, key, version, document_id),
    ).fetchone()
    if row is None:
        raise NotFoundError("no-revision", f"{table}/{key}: no version {version}")
    target = reader.checked(row).value  # the journal's, checked
    doc_id, old_seq, kind = str(row[2]), int(row[4]), row[8]
    (latest,) = db.execute(
        "SELECT max(version) FROM revisions WHERE doc_id=?", (doc_id,)
    ).fetchone()
    if version == latest:
        raise LedgerError("latest", f"{table}/{key}: version {version} is the latest")
    if kind != "data":
        raise LedgerError("not-redactable", f"{table}/{key} v{version} is {kind}")
    target["dataHash"] = ion_hash(target["data"])
    del target["data"]
    db.execute(
        "UPDATE revisions SET kind='redacted', revision=? WHERE doc_id=? AND version=?",
        (encode(target), doc_id, version),
    )
    info = {
        "revisions": [
            {
                "blockAddress": {"strandId": strand_id, "sequenceNo": old_seq},
                "tableId": redacted_table,
                "documentId": doc_id,
                "version": version,
            }
        ]
    }
    statement = f"REDACT {table} {key} {version}"
    append_block(db, [statement], [], {}, info, strand_id=strand_id, rng=rng, clock=clock)
    return doc_id


def append_block(
    db: sqlite3.Connection,
    statements: list[str],
    revisions: list[dict[str, Any]],
    documents: dict[str, Any],
    redaction: Any,
    *,
    strand_id: str,
    rng: Callable[[int], bytes],
    clock: Callable[[], datetime],
    tx_id: str | None = None,
    tx_time: Any = None,
) -> int:
    """Build the next block on the tip (read in ``db``'s transaction), store its row and its
    digest-tree leaf; returns its sequence number. ``revisions`` are stored by the caller.
    Without ``tx_id`` and ``tx_time``, a new id and the clock's time."""
    seq = tip(db) + 1
    tx_id = tx_id or new_id(rng)
    block_time = tx_time if tx_time is not None else timestamp(clock())
    previous = b""
    if seq > 0:
        previous = bytes(
            db.execute("SELECT block_hash FROM blocks WHERE seq=?", (seq - 1,)).fetchone()[0]
        )
    info = {
        "statements": [
            {"statement": s, "startTime": block_time, "statementDigest": ion_hash(s)}
            for s in statements
        ],
        "documents": documents,
    }
    address = {"strandId": strand_id, "sequenceNo": seq}
    header = {"blockAddress": address, "transactionId": tx_id, "blockTimestamp": block_time}
    revision_hashes = [r["hash"] for r in revisions]
    entries = [ion_hash(header)]
    if revisions:
        entries.append(merkle_root(revision_hashes))
    entries.append(ion_hash(info))
    if redaction is not None:
        entries.append(ion_hash(redaction))
    entries_hash = merkle_root(entries)
    block_hash = dot(entries_hash, previous)
    block: dict[str, Any] = {
        "blockAddress": address,
        "transactionId": tx_id,
        "blockTimestamp": block_time,
        "blockHash": block_hash,
        "entriesHash": entries_hash,
        "previousBlockHash": previous,
        "entriesHashList": entries,
        "transactionInfo": info,
    }
    if redaction is not None:
        block["redactionInfo"] = redaction
    # `revisions` is stored once, per row (the revisions table); Reader.block puts it back
    db.execute(
        "INSERT INTO blocks VALUES (?,?,?,?,?,?,?,?)",
        (seq, encode(block), block_hash, previous, b"".join(entries),
         b"".join(revision_hashes), tx_id, time_column(block_time)),
    )  # fmt: skip
    add_leaf(db, seq, block_hash)
    return seq
