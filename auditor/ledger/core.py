"""The writer: a QLDB-compatible journal in one SQLite file (see docs/ledger.md for the layout).

One strand; every transaction is one block shaped exactly like a QLDB journal block, so
``proofs.verify_block`` checks it and the digest at tip T is ``merkle_root(blockHash_0..T)``.
Writes run in ``BEGIN IMMEDIATE`` transactions on a WAL database with ``synchronous=FULL``: a
call that returned has been fsynced and survives a crash or ``kill -9``; one that did not return
left nothing behind. Several threads (one connection each) and processes may write: SQLite
serializes the writers, and every block is built from the tip read inside its own transaction.

Reads hand out only what agrees with the journal (``check.py``); proofs are folded to the
digest they are issued with; ``verify_journal`` checks every table (``integrity.py``). Every
failure is a typed error of ``errors.py`` naming the file and the table, row or field.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import os
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Concatenate, ParamSpec, TypeVar

import auditor.ledger.integrity as integrity
import auditor.ledger.store as store
import proofs
from auditor.ledger.check import (
    REVISION_COLUMNS,
    Revision,
    Verified,
    block_row,
    indexed_current,
    served,
    split_hashes,
)
from auditor.ledger.codec import attach_revisions, decode, encode, time_column
from auditor.ledger.codec import timestamp as _timestamp
from auditor.ledger.errors import (
    ConflictError,
    DamagedError,
    IntegrityError,
    LedgerError,
    NotFoundError,
    StorageError,
)
from auditor.ledger.keys import SignerKey, read_private, sign_note
from auditor.ledger.store import FORMAT_VERSION, connect
from auditor.ledger.tree import add_leaf, subtree_reader
from auditor.ledger.values import document
from proofs import dot, inclusion_path, ion_hash, merkle_root
from proofs.merkle import consistency_path
from proofs.note import Checkpoint, checkpoint_text

__all__ = [
    "FORMAT_VERSION",
    "ConflictError",
    "DamagedError",
    "IntegrityError",
    "Ledger",
    "LedgerError",
    "NotFoundError",
    "Revision",
    "SignedDigest",
    "StorageError",
    "connect",
    "split_hashes",
]

DEFAULT_MAX_DOCUMENT_BYTES = 128 * 1024  # QLDB's document size limit
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _guarded(
    method: Callable[Concatenate[Ledger, _P], _R],
) -> Callable[Concatenate[Ledger, _P], _R]:
    """SQLite and file-system failures inside ``method`` become ledger errors naming the file."""

    def guarded(self: Ledger, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        with store.translated(self.path):
            return method(self, *args, **kwargs)

    functools.update_wrapper(guarded, method)
    return guarded


def _reading(
    method: Callable[Concatenate[Ledger, _P], _R],
) -> Callable[Concatenate[Ledger, _P], _R]:
    """A read under ``_guarded`` that sees one snapshot: its SELECTs run in one read
    transaction (unless the caller already holds one), so a writer committing between two of
    them cannot make the rows disagree (the ``documents`` row and the journal it indexes)."""

    def reading(self: Ledger, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        with store.translated(self.path):
            db = self._db()
            if db.in_transaction:
                return method(self, *args, **kwargs)
            db.execute("BEGIN")
            try:
                return method(self, *args, **kwargs)
            finally:
                if db.in_transaction:
                    db.execute("COMMIT")  # a read transaction: nothing to write

    functools.update_wrapper(reading, method)
    return reading


@dataclass(frozen=True, slots=True)
class SignedDigest:
    strand_id: str
    tip: int
    digest: bytes
    checkpoint: str  # the signed note

    def get_digest_json(self) -> dict[str, Any]:
        """The AWS GetDigest output shape."""
        address = f'{{strandId:"{self.strand_id}",sequenceNo:{self.tip}}}'
        return {
            "Digest": base64.b64encode(self.digest).decode(),
            "DigestTipAddress": {"IonText": address},
        }


@dataclass(frozen=True, slots=True)
class _Write:
    table: str
    key: str
    data: Any  # None for a delete
    expected_version: int | None


def _new_id(rng: Callable[[int], bytes]) -> str:
    n = int.from_bytes(rng(16), "big")
    out = []
    for _ in range(22):
        n, r = divmod(n, 62)
        out.append(_BASE62[r])
    return "".join(out)


class Ledger:
    """A verifiable ledger in one SQLite file. Open with :meth:`create` or :meth:`open`.

    A file that is not writable (file, directory or media) opens read-only: reads, proofs,
    signed digests and :meth:`verify_journal` work; writes raise :class:`StorageError`."""

    def __init__(
        self,
        path: str,
        *,
        clock: Callable[[], datetime] | None = None,
        rng: Callable[[int], bytes] | None = None,
        key_path: str | None = None,
    ) -> None:
        self.path = path
        self._clock = clock or (lambda: datetime.now(UTC))
        self._rng = rng or secrets.token_bytes
        self._local = threading.local()
        db, self.read_only = store.open_file(path)
        self._local.db = db
        with store.translated(path):
            meta = store.read_meta(db, path)
        self.name: str = meta["name"]
        self.strand_id: str = meta["strand_id"]
        self.max_document_bytes = int(meta["max_document_bytes"])
        self._vkey = meta.get("vkey")
        self.import_boundary: int | None = store.import_boundary(meta)  # migrated from QLDB
        self._boundary = -1 if self.import_boundary is None else self.import_boundary
        self.key_path = key_path or path + ".key"
        self._signer: SignerKey | None = None
        self._checkpoint_cache: tuple[int, SignedDigest] | None = None
        self._verified = Verified()  # block rows and tree nodes checked by this instance

    # -- lifecycle ---------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        path: str,
        name: str,
        *,
        tables: Sequence[str] = (),
        max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES,
        clock: Callable[[], datetime] | None = None,
        rng: Callable[[int], bytes] | None = None,
        signer: SignerKey | None = None,
    ) -> Ledger:
        """Create the ledger file, its signing key (``<path>.key``, mode 0600) and the genesis
        block (sequenceNo 0), all or nothing: on any failure (a full disk, a name taken) no file
        is left behind. Raises :class:`LedgerError` if either file exists."""
        if not name or len(name) > 32 or not all(c.isalnum() or c in "-_" for c in name):
            raise LedgerError("name", f"ledger name {name!r}: 1-32 letters, digits, - or _")
        if signer is not None and signer.name != name:
            raise LedgerError(
                "key-name", f"the signing key is named {signer.name!r}: a ledger's checkpoints are"
                f" signed by a key named after the ledger ({name!r})",
            )  # fmt: skip
        if not 1 <= max_document_bytes <= 1 << 30:
            raise LedgerError("argument", f"max_document_bytes {max_document_bytes}: 1 to 2**30")
        rng = rng or secrets.token_bytes
        key = signer or SignerKey.generate(name)
        meta = {
            "format": str(FORMAT_VERSION),
            "name": name,
            "strand_id": _new_id(rng),
            "max_document_bytes": str(max_document_bytes),
            "vkey": str(key.verifier),
        }

        def fill(temporary: str) -> None:
            ledger = cls(temporary, clock=clock, rng=rng)
            try:
                ledger._genesis()
                for table in tables:
                    ledger.create_table(table)
            finally:
                ledger.close()

        store.create_file(path, meta, str(key), fill)
        return cls(path, clock=clock, rng=rng)

    @classmethod
    def open(cls, path: str, **kwargs: Any) -> Ledger:
        return cls(path, **kwargs)

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            with store.translated(self.path):
                db = store.connect_read_only(self.path) if self.read_only else connect(self.path)
            self._local.db = db
        return db

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    def _writing(self) -> None:
        """Before a write: the file is writable (its pages were checked when it was opened)."""
        if self.read_only:
            raise StorageError(
                "read-only", f"{self.path}: read-only (file, directory or media not writable): "
                "it can be read and verified, not written",
            )  # fmt: skip

    @property
    def signer(self) -> SignerKey:
        if self._signer is None:
            self._signer = self._read_signer()
        return self._signer

    def _read_signer(self) -> SignerKey:
        where = self.key_path
        try:
            key = read_private(where)
        except OSError as e:
            raise StorageError(
                "key-file", f"{where}: cannot read the ledger's signing key ({e.strerror or e})"
            ) from e
        except UnicodeDecodeError as e:
            raise DamagedError("key-file", f"{where}: not a signing key (not UTF-8 text)") from e
        except proofs.MalformedError as e:
            raise DamagedError("key-file", f"{where}: not a signing key ({e.problem})") from e
        if self._vkey is not None and str(key.verifier) != self._vkey:
            raise DamagedError(
                "key-file", f"{where}: not this ledger's signing key (table meta, vkey: "
                f"{self._vkey})",
            )  # fmt: skip
        return key

    @property
    def vkey(self) -> str:
        """The public verifier key of the signing key (checked against ``meta``)."""
        return str(self.signer.verifier)

    # -- tables ------------------------------------------------------------------------------
    @_guarded
    def create_table(self, name: str) -> str:
        """Create a table (one transaction, one block); returns its tableId."""
        if not name or not name.replace("_", "").isalnum() or len(name) > 128:
            raise LedgerError("table-name", f"table name {name!r}: letters, digits and _ only")
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM tables WHERE name = ?", (name,)).fetchone():
                raise LedgerError("table-exists", f"{self.path}: table {name} already exists")
            table_id = _new_id(self._rng)
            db.execute("INSERT INTO tables VALUES (?, ?)", (name, table_id))
            statement = f"CREATE TABLE {name}"
            self._append_block(db, [statement], [], {}, None)
        return table_id

    @_reading
    def tables(self) -> dict[str, str]:
        return dict(self._db().execute("SELECT name, table_id FROM tables").fetchall())

    def _table_id(self, db: sqlite3.Connection, table: str) -> str:
        row = db.execute("SELECT table_id FROM tables WHERE name = ?", (table,)).fetchone()
        if row is None:
            raise NotFoundError("no-table", f"{self.path}: unknown table {table!r}")
        return str(row[0])

    # -- writes ------------------------------------------------------------------------------
    def put(
        self, table: str, key: str, value: Any, expected_version: int | None = None
    ) -> Revision:
        """Insert or update ``key``. ``value``: a JSON-like object (dict; the key is stored in
        ``_k``) or a string (stored as ``{_k, _v}``). Returns the committed revision."""
        return self.put_many(table, [(key, value, expected_version)])[0]

    def put_many(
        self, table: str, items: Iterable[tuple[str, Any, int | None] | tuple[str, Any]]
    ) -> list[Revision]:
        """Write several documents in one transaction (one block), atomically."""
        writes = []
        for item in items:
            key, value = item[0], item[1]
            expected = item[2] if len(item) > 2 else None
            writes.append(_Write(table, key, document(key, value), expected))
        return self._commit(writes, "UPSERT")

    def delete(self, table: str, key: str, expected_version: int | None = None) -> Revision:
        """Delete ``key``: a revision with metadata and no data."""
        return self._commit([_Write(table, key, None, expected_version)], "DELETE")[0]

    @_guarded
    def _commit(self, writes: list[_Write], verb: str) -> list[Revision]:
        if not writes:
            raise LedgerError("empty", "nothing to write")
        keys = [(w.table, w.key) for w in writes]
        if len(set(keys)) != len(keys):
            raise LedgerError("duplicate-key", "a key appears twice in one transaction")
        with self._transaction() as db:
            tx_id = _new_id(self._rng)
            tx_time = _timestamp(self._clock())
            seq = self._tip(db) + 1
            statements: list[str] = []
            documents: dict[str, Any] = {}
            revisions = []
            rows = []
            table_ids: dict[str, str] = {}
            for index, w in enumerate(writes):
                if w.table not in table_ids:
                    table_ids[w.table] = self._table_id(db, w.table)
                table_id = table_ids[w.table]
                row = indexed_current(db, w.table, w.key, self.path)
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
                    doc_id, version = _new_id(self._rng), 0
                else:
                    doc_id, version = row[0], current + 1
                metadata = {"id": doc_id, "version": version, "txTime": tx_time, "txId": tx_id}
                revision: dict[str, Any] = {
                    "blockAddress": {"strandId": self.strand_id, "sequenceNo": seq},
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
                    "tableId": table_id,
                    "statements": [index],
                }
                revisions.append(revision)
                blob = encode(revision)
                if len(blob) > self.max_document_bytes:
                    raise LedgerError(
                        "too-large", f"{w.key}: the revision is {len(blob)} bytes of Ion, over "
                        f"{self.max_document_bytes}",
                    )  # fmt: skip
                rows.append((w, doc_id, version, index, revision["hash"], blob))
            self._append_block(db, statements, revisions, documents, None, tx_id, tx_time)
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

    @_guarded
    def redact(
        self, table: str, key: str, version: int, document_id: str | None = None
    ) -> Revision:
        """Replace a non-latest revision's data by its ``dataHash`` (the chain still verifies)
        and record the redaction in a new block's ``redactionInfo``. A key deleted and written
        again is a new document: ``document_id`` (see :meth:`history`) picks an earlier one."""
        with self._transaction() as db:
            table_id = self._table_id(db, table)
            row = db.execute(
                f"SELECT {REVISION_COLUMNS} FROM revisions "  # noqa: S608 - our literal
                "WHERE table_name=? AND key=? AND version=? AND doc_id=coalesce(?, doc_id) "
                "ORDER BY seq DESC, rev_index DESC LIMIT 1",
                (table, key, version, document_id),
            ).fetchone()
            if row is None:
                raise NotFoundError("no-revision", f"{table}/{key}: no version {version}")
            target = served(
                db, row, self.strand_id, self.path, self._verified, self._boundary
            ).value  # the journal's, checked
            doc_id, old_seq, kind = str(row[2]), int(row[4]), row[8]
            latest = db.execute(
                "SELECT max(version) FROM revisions WHERE doc_id=?", (doc_id,)
            ).fetchone()[0]
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
                        "blockAddress": {"strandId": self.strand_id, "sequenceNo": old_seq},
                        "tableId": table_id,
                        "documentId": doc_id,
                        "version": version,
                    }
                ]
            }
            statement = f"REDACT {table} {key} {version}"
            self._append_block(db, [statement], [], {}, info)
        return self.revision(table, key, version, doc_id)

    # -- blocks ------------------------------------------------------------------------------
    def _genesis(self) -> None:
        with self._transaction() as db:
            self._append_block(db, [f"CREATE LEDGER {self.name}"], [], {}, None)

    def _tip(self, db: sqlite3.Connection) -> int:
        row = db.execute("SELECT max(seq) FROM blocks").fetchone()
        return -1 if row[0] is None else int(row[0])

    def _append_block(
        self,
        db: sqlite3.Connection,
        statements: list[str],
        revisions: list[dict[str, Any]],
        documents: dict[str, Any],
        redaction: Any,
        tx_id: str | None = None,
        tx_time: Any = None,
    ) -> int:
        seq = self._tip(db) + 1
        tx_id = tx_id or _new_id(self._rng)
        block_time = tx_time if tx_time is not None else _timestamp(self._clock())
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
        address = {"strandId": self.strand_id, "sequenceNo": seq}
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
        # `revisions` is stored once, per row (the revisions table); block() puts it back
        db.execute(
            "INSERT INTO blocks VALUES (?,?,?,?,?,?,?,?)",
            (seq, encode(block), block_hash, previous, b"".join(entries),
             b"".join(revision_hashes), tx_id, time_column(block_time)),
        )  # fmt: skip
        add_leaf(db, seq, block_hash)
        return seq

    class _Tx:
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

    def _transaction(self) -> Ledger._Tx:
        self._writing()
        return Ledger._Tx(self._db())

    # -- reads -------------------------------------------------------------------------------
    @_reading
    def tip(self) -> int:
        return self._tip(self._db())

    @_reading
    def block(self, seq: int) -> Any:
        """Journal block ``seq`` as an Ion struct (with its revisions), its stored hashes
        checked against the block's frame and revisions."""
        db = self._db()
        row = db.execute("SELECT block FROM blocks WHERE seq=?", (seq,)).fetchone()
        if row is None:
            raise NotFoundError("no-block", f"{self.path}: no block {seq}")
        stored = block_row(db, seq, self.path, self._verified)
        where = f"{self.path}: table blocks, row {seq}"
        frame = decode(row[0], f"{where}: block")
        blobs = db.execute(
            "SELECT rev_index, doc_id, version, revision FROM revisions WHERE seq=?", (seq,)
        ).fetchall()
        if seq <= self._boundary:
            blobs += db.execute(
                "SELECT rev_index, NULL, NULL, revision FROM system_revisions WHERE seq=?", (seq,)
            ).fetchall()
        revisions = [
            decode(blob, self._revision_where(seq, index, doc_id, version))
            for index, doc_id, version, blob in sorted(blobs, key=lambda b: int(b[0]))
        ]  # fmt: skip
        try:
            found = (
                bytes(frame["blockHash"]),
                _previous(frame, seq, self._boundary),
                [bytes(h) for h in frame["entriesHashList"]],
                [bytes(r["hash"]) for r in revisions],
            )
        except (KeyError, TypeError) as e:
            raise IntegrityError("journal", f"{where}: block lacks {e}") from e
        expected = (stored.block_hash, stored.previous, stored.entries, stored.revision_hashes)
        if found != expected:
            raise IntegrityError(
                "index", f"{where}: the block's hashes are not its row's (blockHash, "
                "previousBlockHash, entriesHashList or its revisions)", f"table blocks, row {seq}",
            )  # fmt: skip
        return _with_revisions(frame, revisions, seq, self._boundary)

    def blocks(self, first: int = 0, last: int | None = None) -> Iterator[bytes]:
        """The journal blocks ``first..last`` as Ion binary, in order (as stored: an export
        is checked by ``verify export``, the file by :meth:`verify_journal`)."""
        with store.translated(self.path):
            yield from self._blocks(first, last)

    def _revision_where(self, seq: int, index: int, doc_id: Any, version: Any) -> str:
        if doc_id is None:
            return f"{self.path}: table system_revisions, row ({seq}, {index}): revision"
        return f"{self.path}: table revisions, row (document {doc_id}, version {version}): revision"

    def _blocks(self, first: int, last: int | None) -> Iterator[bytes]:
        last = self.tip() if last is None else last
        db = self._db()
        rows = store.revision_rows(db, first, last, self._boundary)
        pending = next(rows, None)
        cursor = db.execute(
            "SELECT seq, block FROM blocks WHERE seq BETWEEN ? AND ? ORDER BY seq", (first, last)
        )
        for seq, blob in cursor:
            mine = []
            while pending is not None and pending[0] == seq:
                _, index, doc_id, version, revision = pending
                mine.append(decode(revision, self._revision_where(seq, index, doc_id, version)))
                pending = next(rows, None)
            frame = decode(blob, f"{self.path}: table blocks, row {seq}: block")
            yield encode(_with_revisions(frame, mine, seq, self._boundary))

    def _served(self, where: str, args: tuple[Any, ...], what: str) -> Revision:
        row = (
            self._db()
            .execute(f"SELECT {REVISION_COLUMNS} FROM revisions " + where, args)  # noqa: S608 - where is one of this module's literals
            .fetchone()
        )
        if row is None:
            raise NotFoundError("no-revision", f"{self.path}: {what}: not found")
        return served(self._db(), row, self.strand_id, self.path, self._verified, self._boundary)

    def _latest(self, table: str, key: str) -> Revision | None:
        """The latest revision of ``key`` (a delete included) by the ``documents`` index,
        checked against the journal; None if the key was never written."""
        db = self._db()
        self._table_id(db, table)
        row = db.execute(
            "SELECT doc_id, version FROM documents WHERE table_name=? AND key=?", (table, key)
        ).fetchone()
        newest = db.execute(
            "SELECT max(seq) FROM revisions WHERE table_name=? AND key=?", (table, key)
        ).fetchone()[0]
        where = f"table documents, row ({table}, {key})"
        if row is None:
            if newest is not None:
                raise IntegrityError(
                    "index", f"{self.path}: {where}: missing (the journal has the key in block "
                    f"{newest})", where,
                )  # fmt: skip
            return None
        found = db.execute(
            f"SELECT {REVISION_COLUMNS} FROM revisions WHERE doc_id=? AND version=?",  # noqa: S608
            (row[0], row[1]),
        ).fetchone()
        if found is None:
            raise IntegrityError(
                "index", f"{self.path}: {where}: points to document {row[0]} version {row[1]}, "
                "which the journal does not have", where,
            )  # fmt: skip
        if (found[0], found[1]) != (table, key):
            raise IntegrityError(
                "index", f"{self.path}: {where}: points to a revision of {found[0]}/{found[1]}",
                where,
            )  # fmt: skip
        revision = served(db, found, self.strand_id, self.path, self._verified, self._boundary)
        if revision.sequence_no != newest:
            raise IntegrityError(
                "index", f"{self.path}: {where}: points to block {revision.sequence_no}, but "
                f"the key was written again in block {newest}", where,
            )  # fmt: skip
        return revision

    @_reading
    def revision(
        self, table: str, key: str, version: int | None = None, document_id: str | None = None
    ) -> Revision:
        """The latest revision of ``key`` (deleted ones included), or the given version — of
        the newest document under that key, or of ``document_id``."""
        if version is None and document_id is None:
            latest = self._latest(table, key)  # checks the table too
            if latest is None:
                raise NotFoundError("no-revision", f"{self.path}: {table}/{key}: not found")
            return latest
        self._table_id(self._db(), table)
        if version is None:
            return self._served(
                "WHERE table_name=? AND key=? AND doc_id=? ORDER BY version DESC LIMIT 1",
                (table, key, document_id), f"{table}/{key} document {document_id}",
            )  # fmt: skip
        return self._served(
            "WHERE table_name=? AND key=? AND version=? AND doc_id=coalesce(?, doc_id) "
            "ORDER BY seq DESC, rev_index DESC LIMIT 1",
            (table, key, version, document_id), f"{table}/{key} version {version}",
        )  # fmt: skip

    @_reading
    def revision_by_doc_and_tx(self, document_id: str, tx_id: str) -> Revision:
        return self._served(
            "WHERE doc_id=? AND tx_id=?", (document_id, tx_id), f"document {document_id} tx {tx_id}"
        )

    @_reading
    def current(self, table: str, key: str) -> Revision:
        """The current revision of ``key``: :class:`NotFoundError` if it was never written
        (reason ``no-key``) or is deleted (reason ``deleted``)."""
        latest = self._latest(table, key)
        if latest is None:
            raise NotFoundError("no-key", f"{self.path}: {table}/{key}: no such key")
        if latest.data is None:
            raise NotFoundError(
                "deleted", f"{self.path}: {table}/{key}: deleted (version {latest.version}; "
                "its history remains)",
            )  # fmt: skip
        return latest

    @_reading
    def get(self, table: str, key: str) -> Any:
        """The current data of ``key``, or None if it does not exist or was deleted."""
        latest = self._latest(table, key)
        return None if latest is None else latest.data

    @_reading
    def get_many(self, table: str, keys: Sequence[str]) -> dict[str, Any]:
        return {key: self.get(table, key) for key in keys}

    @_reading
    def history(
        self, table: str, key: str, since: str | None = None, until: str | None = None
    ) -> list[Revision]:
        """Every revision of ``key`` in commit order, optionally within [since, until]
        (ISO-8601 UTC strings compared with the txTime). :class:`NotFoundError` if the key was
        never written."""
        db = self._db()
        self._table_id(db, table)
        rows = db.execute(
            f"SELECT {REVISION_COLUMNS} FROM revisions WHERE table_name=? AND key=? "  # noqa: S608
            "ORDER BY seq, rev_index",
            (table, key),
        ).fetchall()
        if not rows and self._latest(table, key) is None:  # documents must not know it either
            raise NotFoundError("no-key", f"{self.path}: {table}/{key}: no such key")
        start, end = _iso(since) if since else None, _iso(until) if until else None
        out = []
        for row in rows:
            revision = served(db, row, self.strand_id, self.path, self._verified, self._boundary)
            moment = _iso(time_column(revision.value["metadata"]["txTime"]))
            if (start and moment < start) or (end and moment > end):
                continue
            out.append(revision)
        return out

    @_guarded
    def document_history(self, table: str, document_id: str) -> list[Revision]:
        """Every revision of one document (by its id, whatever key indexes it), oldest first.
        :class:`NotFoundError` if the table has no such document."""
        db = self._db()
        self._table_id(db, table)
        rows = db.execute(
            f"SELECT {REVISION_COLUMNS} FROM revisions WHERE doc_id=? AND table_name=? "  # noqa: S608
            "ORDER BY version",
            (document_id, table),
        ).fetchall()
        if not rows:
            raise NotFoundError("no-document", f"{self.path}: {table}: no document {document_id}")
        return [
            served(db, row, self.strand_id, self.path, self._verified, self._boundary)
            for row in rows
        ]

    # -- digests and proofs ------------------------------------------------------------------
    def _subtree(self) -> Callable[[int, int], bytes]:
        return subtree_reader(self._db(), self.path, self._verified)

    def _root(self, tip: int) -> bytes:
        """The digest at ``tip`` from checked digest-tree nodes."""
        return self._subtree()(0, tip + 1)

    @_reading
    def digest(self, tip: int | None = None) -> SignedDigest:
        """The digest at ``tip`` (default: the current tip) and its signed checkpoint."""
        db = self._db()
        current = self._tip(db)
        tip = current if tip is None else tip
        if not 0 <= tip <= current:
            raise NotFoundError("no-tip", f"{self.path}: no block {tip} (tip is {current})")
        cached = self._checkpoint_cache
        if cached is not None and cached[0] == tip:
            return cached[1]
        digest = self._root(tip)
        moment = self._clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        text = checkpoint_text(Checkpoint(self.name, self.strand_id, tip, digest, moment))
        signed = SignedDigest(self.strand_id, tip, digest, sign_note(text, self.signer))
        self._checkpoint_cache = (tip, signed)
        return signed

    def _folded(self, leaf: bytes, path: list[bytes], tip: int, what: str) -> list[bytes]:
        """``path`` if it folds ``leaf`` to the digest at ``tip``, else IntegrityError."""
        try:
            proofs.verify_proof(leaf, path, self._root(tip))
        except proofs.ProofError as e:
            raise IntegrityError(
                "proof", f"{self.path}: the proof of {what} to tip {tip} does not fold to the "
                f"digest ({e.problem}); the file's rows disagree (run `ledger verify`)",
            ) from e  # fmt: skip
        return path

    @_reading
    def block_proof(self, seq: int, tip: int) -> list[bytes]:
        """The proof from blockHash ``seq`` to the digest at ``tip`` (GetBlock's Proof)."""
        if not 0 <= seq <= tip <= self.tip():
            raise NotFoundError("no-tip", f"{self.path}: no proof from block {seq} to tip {tip}")
        leaf = block_row(self._db(), seq, self.path, self._verified).block_hash
        path = inclusion_path(seq, tip + 1, self._subtree())
        return self._folded(leaf, path, tip, f"block {seq}")

    @_reading
    def revision_proof(self, revision: Revision, tip: int) -> list[bytes]:
        """The proof from a revision hash to the digest at ``tip`` (GetRevision's Proof),
        folded to that digest before it is handed out."""
        seq = revision.sequence_no
        exists = self._db().execute("SELECT 1 FROM blocks WHERE seq=?", (seq,)).fetchone()
        row = None if exists is None else block_row(self._db(), seq, self.path, self._verified)
        hashes = [] if row is None else row.revision_hashes
        if row is None or revision.hash not in hashes or not 0 <= seq <= tip <= self.tip():
            raise NotFoundError(
                "no-revision", f"revision {revision.document_id} v{revision.version}: "
                f"not in block {seq} of this ledger, or past tip {tip}",
            )  # fmt: skip
        index = hashes.index(revision.hash)
        path = inclusion_path(index, len(hashes), lambda lo, hi: merkle_root(hashes[lo:hi]))
        root_index = row.entries.index(merkle_root(hashes))
        entries = row.entries
        path += inclusion_path(root_index, len(entries), lambda lo, hi: merkle_root(entries[lo:hi]))
        if row.previous:  # the genesis block has no previous block
            path.append(row.previous)
        path += inclusion_path(seq, tip + 1, self._subtree())
        what = f"revision {revision.document_id} v{revision.version}"
        return self._folded(revision.hash, path, tip, what)

    @_reading
    def consistency_proof(self, old_tip: int, new_tip: int) -> list[bytes]:
        if not 0 <= old_tip <= new_tip <= self.tip():
            raise NotFoundError(
                "no-tip", f"{self.path}: no consistency proof from tip {old_tip} to {new_tip}"
            )
        path = consistency_path(old_tip + 1, new_tip + 1, self._subtree())
        try:
            proofs.verify_consistency(
                self._root(old_tip), self._root(new_tip), path, old_tip=old_tip, new_tip=new_tip
            )
        except proofs.ProofError as e:
            raise IntegrityError(
                "proof", f"{self.path}: the consistency proof from tip {old_tip} to {new_tip} "
                f"does not verify ({e.problem}); run `ledger verify`",
            ) from e  # fmt: skip
        return path

    @_guarded
    def verify_journal(self) -> int:
        """Check every table against the journal (``integrity.py``): blocks, chain, revisions,
        documents, tables, digest-tree nodes, meta; returns the number of blocks. Raises
        :class:`IntegrityError` naming the first row that disagrees, :class:`DamagedError` if
        SQLite cannot read the file. Reads one snapshot (a read transaction), so concurrent
        writers neither disturb nor wait for it."""
        db = self._db()
        db.execute("BEGIN")
        try:
            count = integrity.verify(db, self.path)
        finally:
            db.execute("COMMIT")
        if self._vkey is not None and os.path.exists(self.key_path):
            self._read_signer()  # meta's vkey is the key file's (a copy without it: not checked)
        return count


def _with_revisions(frame: Any, revisions: list[Any], seq: int, boundary: int) -> Any:
    """The block: its frame with its revisions. A block imported from QLDB without a
    ``revisions`` field is stored without one (its frame has ``revisions: []`` when the
    exported block had the field), so it comes back without one."""
    if seq <= boundary and "revisions" not in frame and not revisions:
        return frame
    return attach_revisions(frame, revisions)


def _previous(frame: Any, seq: int, boundary: int) -> bytes:
    """A block's previousBlockHash (QLDB's genesis block may have none)."""
    if seq == 0 and seq <= boundary and "previousBlockHash" not in frame:
        return b""
    return bytes(frame["previousBlockHash"])


def _iso(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as e:
        raise LedgerError("time", f"{text!r}: not an ISO-8601 time") from e
    return value if value.tzinfo else value.replace(tzinfo=UTC)
