"""The writer: a QLDB-compatible journal in one SQLite file (see docs/ledger.md for the layout).

One strand; every transaction is one block shaped exactly like a QLDB journal block, so
``proofs.verify_block`` checks it and the digest at tip T is ``merkle_root(blockHash_0..T)``.
Writes run in ``BEGIN IMMEDIATE`` transactions on a WAL database with ``synchronous=FULL``: a
call that returned has been fsynced and survives a crash or ``kill -9``; one that did not return
left nothing behind. Several threads (one connection each) and processes may write: SQLite
serializes the writers, and every block is built from the tip read inside its own transaction.
"""

from __future__ import annotations

import base64
import os
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from amazon.ion import simpleion
from amazon.ion.core import IonType, Timestamp, TimestampPrecision
from amazon.ion.simple_types import IonPyList

import proofs
from auditor.ledger.keys import SignerKey, read_private, sign_note, write_private
from proofs import dot, inclusion_path, ion_hash, merkle_root
from proofs.merkle import consistency_path
from proofs.note import Checkpoint, checkpoint_text

FORMAT_VERSION = 2  # 2: blocks stored without their revisions (stored once, per row)
DEFAULT_MAX_DOCUMENT_BYTES = 128 * 1024  # QLDB's document size limit
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE tables (name TEXT PRIMARY KEY, table_id TEXT NOT NULL UNIQUE);
CREATE TABLE blocks (
    seq INTEGER PRIMARY KEY,
    block BLOB NOT NULL,            -- the journal block without `revisions`, Ion binary
    block_hash BLOB NOT NULL,
    previous_hash BLOB NOT NULL,
    entries BLOB NOT NULL,          -- entriesHashList, 32-byte hashes concatenated
    revision_hashes BLOB NOT NULL,  -- revisions[].hash, concatenated
    tx_id TEXT NOT NULL,
    block_time TEXT NOT NULL
);
CREATE TABLE nodes (               -- perfect subtrees of the digest tree over block hashes
    level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;
CREATE TABLE revisions (         -- a rowid table: its rows (~1 KB) are too big for WITHOUT ROWID
    doc_id TEXT NOT NULL, version INTEGER NOT NULL,
    table_name TEXT NOT NULL, key TEXT NOT NULL,
    seq INTEGER NOT NULL, rev_index INTEGER NOT NULL,
    tx_id TEXT NOT NULL, tx_time TEXT NOT NULL,
    kind TEXT NOT NULL,            -- data | deleted | redacted
    hash BLOB NOT NULL,
    revision BLOB NOT NULL,        -- the revision as in its block, Ion binary
    UNIQUE (doc_id, version)
);
CREATE INDEX revisions_by_key ON revisions (table_name, key, seq);
CREATE INDEX revisions_by_tx ON revisions (tx_id);
CREATE TABLE documents (
    table_name TEXT NOT NULL, key TEXT NOT NULL, doc_id TEXT NOT NULL,
    version INTEGER NOT NULL, deleted INTEGER NOT NULL,
    PRIMARY KEY (table_name, key)
) WITHOUT ROWID;
"""


class LedgerError(Exception):
    """A write or read the ledger refuses; nothing was written. ``reason`` is machine-readable."""

    exit_code = 2

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class ConflictError(LedgerError):
    """An expected version did not match the stored one (optimistic concurrency)."""

    exit_code = 1


class NotFoundError(LedgerError):
    """No such table, key, version or document."""


@dataclass(frozen=True, slots=True)
class Revision:
    """A committed revision as stored in the journal (``value`` is the Ion struct)."""

    table: str
    key: str
    document_id: str
    version: int
    sequence_no: int
    value: Any

    @property
    def hash(self) -> bytes:
        return bytes(self.value["hash"])

    @property
    def data(self) -> Any:
        return self.value.get("data")

    def ion_text(self) -> str:
        text: str = simpleion.dumps(self.value, binary=False, omit_version_marker=True)
        return text


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


def connect(path: str, synchronous: str = "FULL") -> sqlite3.Connection:
    """A connection to a ledger file: autocommit (explicit transactions), WAL, and the given
    durability (FULL: a returned commit is fsynced)."""
    if synchronous not in ("FULL", "NORMAL"):
        raise ValueError(f"synchronous={synchronous}")
    db = sqlite3.connect(path, isolation_level=None, timeout=60)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.execute("PRAGMA busy_timeout=60000")
    db.execute("PRAGMA cache_size=-65536")  # 64 MiB of page cache: B-tree inserts stay in memory
    return db


def _new_id(rng: Callable[[int], bytes]) -> str:
    n = int.from_bytes(rng(16), "big")
    out = []
    for _ in range(22):
        n, r = divmod(n, 62)
        out.append(_BASE62[r])
    return "".join(out)


def _timestamp(moment: datetime) -> Any:
    """An Ion timestamp with millisecond precision in UTC, as QLDB writes txTime."""
    utc = moment.astimezone(UTC)
    millis = utc.microsecond // 1000
    return Timestamp(
        utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, millis * 1000, UTC,
        precision=TimestampPrecision.SECOND, fractional_precision=3,
        fractional_seconds=Decimal(millis).scaleb(-3),
    )  # fmt: skip


def _dumps(value: Any) -> bytes:
    data: bytes = simpleion.dumps(value, binary=True)
    return data


MAX_DECIMAL_EXPONENT = 6111  # amazon.ion's C extension mis-writes decimals beyond this
MAX_FRACTION_DIGITS = 9  # ... and cuts timestamp fractions to 9 digits


def _check_text(text: str, where: str) -> None:
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:  # a lone surrogate: not an Ion string
        raise LedgerError("text", f"{where}: not valid Unicode text ({e.reason})") from e


_SCALARS = (int, bytes, type(None))  # bool is an int


def _check_value(value: Any, where: str) -> None:
    """Refuse values with no exact Ion image, before amazon.ion sees them: Python floats
    (invoices need decimals; Ion floats read from Ion text are kept), non-finite decimals and
    extreme exponents (the C writer loops on the first and mis-writes the second), timestamps
    with more than 9 fraction digits, text that is not Unicode, and unknown types. Walks plain
    and amazon.ion containers alike."""
    if isinstance(value, str):
        _check_text(value, where)
    elif isinstance(value, _SCALARS):
        return
    elif isinstance(value, Decimal):
        exponent = value.as_tuple().exponent
        if not isinstance(exponent, int) or abs(exponent) > MAX_DECIMAL_EXPONENT:
            raise LedgerError(
                "decimal", f"{where}: {value} cannot be stored exactly (finite decimals with "
                f"exponents within ±{MAX_DECIMAL_EXPONENT} only)",
            )  # fmt: skip
    elif type(value) is float:
        raise LedgerError("float", f"{where}: a float is not allowed; use a decimal (exact digits)")
    elif isinstance(value, dict | list | tuple) or hasattr(value, "ion_type"):
        _check_container(value, where)
    else:
        raise LedgerError("type", f"{where}: {type(value).__name__} is not a JSON or Ion value")


def _check_container(value: Any, where: str) -> None:
    if isinstance(value, datetime):
        fraction = getattr(value, "fractional_seconds", None)
        if fraction is not None and -fraction.as_tuple().exponent > MAX_FRACTION_DIGITS:
            raise LedgerError(
                "timestamp", f"{where}: more than {MAX_FRACTION_DIGITS} fraction digits"
            )
    elif isinstance(value, dict) or hasattr(value, "iteritems"):
        pairs = value.iteritems() if hasattr(value, "iteritems") else value.items()
        for k, v in pairs:
            if not isinstance(k, str):
                raise LedgerError("field-name", f"{where}: field names must be strings")
            _check_text(k, where)
            _check_value(v, f"{where}.{k}")
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _check_value(v, f"{where}[{i}]")


class Ledger:
    """A verifiable ledger in one SQLite file. Open with :meth:`create` or :meth:`open`."""

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
        meta = dict(self._db().execute("SELECT key, value FROM meta").fetchall())
        if meta.get("format") != str(FORMAT_VERSION):
            raise LedgerError(
                "format", f"{path}: not a qldb-audit ledger (format {FORMAT_VERSION})"
            )
        self.name: str = meta["name"]
        self.strand_id: str = meta["strand_id"]
        self.max_document_bytes = int(meta["max_document_bytes"])
        self.key_path = key_path or path + ".key"
        self._signer: SignerKey | None = None
        self._checkpoint_cache: tuple[int, SignedDigest] | None = None

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
        block (sequenceNo 0). Raises :class:`LedgerError` if either file exists."""
        if not name or len(name) > 32 or not all(c.isalnum() or c in "-_" for c in name):
            raise LedgerError("name", f"ledger name {name!r}: 1-32 letters, digits, - or _")
        if signer is not None and signer.name != name:
            raise LedgerError(
                "key-name", f"the signing key is named {signer.name!r}: a ledger's checkpoints are"
                f" signed by a key named after the ledger ({name!r})",
            )  # fmt: skip
        key_path = path + ".key"
        for existing in (path, key_path):
            if os.path.exists(existing):
                raise LedgerError("exists", f"{existing}: already exists")
        rng = rng or secrets.token_bytes
        write_private(key_path, signer or SignerKey.generate(name))
        db = sqlite3.connect(path, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
            meta = {
                "format": str(FORMAT_VERSION),
                "name": name,
                "strand_id": _new_id(rng),
                "max_document_bytes": str(max_document_bytes),
            }
            db.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
        finally:
            db.close()
        ledger = cls(path, clock=clock, rng=rng)
        ledger._genesis()
        for table in tables:
            ledger.create_table(table)
        return ledger

    @classmethod
    def open(cls, path: str, **kwargs: Any) -> Ledger:
        if not os.path.exists(path):
            raise NotFoundError(
                "no-ledger", f"{path}: no ledger here (run `qldb-audit ledger init`)"
            )
        return cls(path, **kwargs)

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = connect(self.path)
        return db

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    @property
    def signer(self) -> SignerKey:
        if self._signer is None:
            self._signer = read_private(self.key_path)
        return self._signer

    @property
    def vkey(self) -> str:
        return str(self.signer.verifier)

    # -- tables ------------------------------------------------------------------------------
    def create_table(self, name: str) -> str:
        """Create a table (one transaction, one block); returns its tableId."""
        if not name or not name.replace("_", "").isalnum() or len(name) > 128:
            raise LedgerError("table-name", f"table name {name!r}: letters, digits and _ only")
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM tables WHERE name = ?", (name,)).fetchone():
                raise LedgerError("table-exists", f"table {name} already exists")
            table_id = _new_id(self._rng)
            db.execute("INSERT INTO tables VALUES (?, ?)", (name, table_id))
            statement = f"CREATE TABLE {name}"
            self._append_block(db, [statement], [], {}, None)
        return table_id

    def tables(self) -> dict[str, str]:
        return dict(self._db().execute("SELECT name, table_id FROM tables").fetchall())

    def _table_id(self, db: sqlite3.Connection, table: str) -> str:
        row = db.execute("SELECT table_id FROM tables WHERE name = ?", (table,)).fetchone()
        if row is None:
            raise NotFoundError("no-table", f"unknown table {table!r}")
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
            writes.append(_Write(table, key, self._document(key, value), expected))
        return self._commit(writes, "UPSERT")

    def delete(self, table: str, key: str, expected_version: int | None = None) -> Revision:
        """Delete ``key``: a revision with metadata and no data."""
        return self._commit([_Write(table, key, None, expected_version)], "DELETE")[0]

    def _document(self, key: str, value: Any) -> Any:
        if not isinstance(key, str) or not key or len(key) > 1024:
            raise LedgerError("key", f"key {key!r}: a non-empty string of at most 1024 characters")
        _check_text(key, "key")
        _check_value(value, key)
        if isinstance(value, str):
            document: Any = {"_k": key, "_v": value}
        elif hasattr(value, "ion_type") and int(value.ion_type) == 12:  # an Ion struct
            if "_k" in value and value["_k"] != key:
                raise LedgerError("key-field", f"{key}: _k is {value['_k']!r}, not the key")
            document = value
            document["_k"] = key
        elif isinstance(value, dict):
            if "_k" in value and value["_k"] != key:
                raise LedgerError("key-field", f"{key}: _k is {value['_k']!r}, not the key")
            document = {**value, "_k": key}
        else:
            raise LedgerError("value", f"{key}: a value must be a JSON object or a string")
        return document

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
                row = db.execute(
                    "SELECT doc_id, version, deleted FROM documents WHERE table_name=? AND key=?",
                    (w.table, w.key),
                ).fetchone()
                current = None if row is None or row[2] else int(row[1])
                if w.expected_version is not None and w.expected_version != current:
                    raise ConflictError(
                        "version-conflict",
                        f"{w.table}/{w.key}: expected version {w.expected_version}, "
                        f"the ledger has {'none' if current is None else current}",
                    )
                if w.data is None:
                    if current is None:
                        raise NotFoundError("no-key", f"{w.table}/{w.key}: no such document")
                    doc_id, version = str(row[0]), current + 1
                elif current is None:
                    doc_id, version = _new_id(self._rng), 0
                else:
                    doc_id, version = str(row[0]), current + 1
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
                blob = _dumps(revision)
                if len(blob) > self.max_document_bytes:
                    raise LedgerError(
                        "too-large", f"{w.key}: the revision is {len(blob)} bytes of Ion, over "
                        f"{self.max_document_bytes}",
                    )  # fmt: skip
                rows.append((w, doc_id, version, index, revision["hash"], blob))
            self._append_block(db, statements, revisions, documents, None, tx_id, tx_time)
            db.executemany(
                "INSERT INTO revisions VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                [(doc_id, version, w.table, w.key, seq, index, tx_id, str(tx_time),
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
        self, table: str, key: str, version: int, document_id: str | None = None
    ) -> Revision:
        """Replace a non-latest revision's data by its ``dataHash`` (the chain still verifies)
        and record the redaction in a new block's ``redactionInfo``. A key deleted and written
        again is a new document: ``document_id`` (see :meth:`history`) picks an earlier one."""
        with self._transaction() as db:
            table_id = self._table_id(db, table)
            row = db.execute(
                "SELECT doc_id, seq, rev_index, kind FROM revisions "
                "WHERE table_name=? AND key=? AND version=? AND doc_id=coalesce(?, doc_id) "
                "ORDER BY seq DESC LIMIT 1",
                (table, key, version, document_id),
            ).fetchone()
            if row is None:
                raise NotFoundError("no-revision", f"{table}/{key}: no version {version}")
            doc_id, old_seq, kind = str(row[0]), int(row[1]), row[3]
            latest = db.execute(
                "SELECT max(version) FROM revisions WHERE doc_id=?", (doc_id,)
            ).fetchone()[0]
            if version == latest:
                raise LedgerError("latest", f"{table}/{key}: version {version} is the latest")
            if kind != "data":
                raise LedgerError("not-redactable", f"{table}/{key} v{version} is {kind}")
            stored = db.execute(
                "SELECT revision FROM revisions WHERE doc_id=? AND version=?", (doc_id, version)
            ).fetchone()[0]
            target = simpleion.loads(stored)
            target["dataHash"] = ion_hash(target["data"])
            del target["data"]
            db.execute(
                "UPDATE revisions SET kind='redacted', revision=? WHERE doc_id=? AND version=?",
                (_dumps(target), doc_id, version),
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
            (seq, _dumps(block), block_hash, previous, b"".join(entries),
             b"".join(revision_hashes), tx_id, str(block_time)),
        )  # fmt: skip
        self._add_leaf(db, seq, block_hash)
        return seq

    def _add_leaf(self, db: sqlite3.Connection, index: int, leaf: bytes) -> None:
        level, node = 0, leaf
        db.execute("INSERT INTO nodes VALUES (0, ?, ?)", (index, node))
        while index & 1:
            left = db.execute(
                "SELECT hash FROM nodes WHERE level=? AND idx=?", (level, index - 1)
            ).fetchone()[0]
            node = dot(bytes(left), node)
            level, index = level + 1, index >> 1
            db.execute("INSERT INTO nodes VALUES (?, ?, ?)", (level, index, node))

    def _subtree(self, db: sqlite3.Connection) -> Callable[[int, int], bytes]:
        def subtree(lo: int, hi: int) -> bytes:
            size = hi - lo
            if size & (size - 1) == 0 and lo % size == 0:
                level = size.bit_length() - 1
                row = db.execute(
                    "SELECT hash FROM nodes WHERE level=? AND idx=?", (level, lo >> level)
                ).fetchone()
                return bytes(row[0])
            k = 1 << ((size - 1).bit_length() - 1)
            return dot(subtree(lo, lo + k), subtree(lo + k, hi))

        return subtree

    class _Tx:
        def __init__(self, db: sqlite3.Connection) -> None:
            self.db = db

        def __enter__(self) -> sqlite3.Connection:
            self.db.execute("BEGIN IMMEDIATE")
            return self.db

        def __exit__(self, kind: object, value: object, tb: object) -> None:
            self.db.execute("COMMIT" if kind is None else "ROLLBACK")

    def _transaction(self) -> Ledger._Tx:
        return Ledger._Tx(self._db())

    # -- reads -------------------------------------------------------------------------------
    def tip(self) -> int:
        return self._tip(self._db())

    def block(self, seq: int) -> Any:
        """Journal block ``seq`` as an Ion struct (with its revisions)."""
        db = self._db()
        row = db.execute("SELECT block FROM blocks WHERE seq=?", (seq,)).fetchone()
        if row is None:
            raise NotFoundError("no-block", f"no block {seq}")
        revisions = db.execute(
            "SELECT revision FROM revisions WHERE seq=? ORDER BY rev_index", (seq,)
        ).fetchall()
        return _with_revisions(row[0], [blob for (blob,) in revisions])

    def blocks(self, first: int = 0, last: int | None = None) -> Iterator[bytes]:
        """The journal blocks ``first..last`` as Ion binary, in order."""
        last = self.tip() if last is None else last
        db = self._db()
        revisions = db.execute(
            "SELECT seq, revision FROM revisions WHERE seq BETWEEN ? AND ? ORDER BY seq, rev_index",
            (first, last),
        )
        pending = next(revisions, None)
        cursor = db.execute(
            "SELECT seq, block FROM blocks WHERE seq BETWEEN ? AND ? ORDER BY seq", (first, last)
        )
        for seq, blob in cursor:
            mine = []
            while pending is not None and pending[0] == seq:
                mine.append(pending[1])
                pending = next(revisions, None)
            yield _dumps(_with_revisions(blob, mine))

    def _revision_row(self, sql: str, args: tuple[Any, ...], what: str) -> Revision:
        row = (
            self._db()
            .execute(
                "SELECT table_name, key, doc_id, version, seq, revision FROM revisions " + sql,  # noqa: S608 - sql is one of this module's literals
                args,
            )
            .fetchone()
        )
        if row is None:
            raise NotFoundError("no-revision", f"{what}: not found")
        table, key, doc_id, version, seq, blob = row
        return Revision(table, key, doc_id, int(version), int(seq), simpleion.loads(blob))

    def revision(
        self, table: str, key: str, version: int | None = None, document_id: str | None = None
    ) -> Revision:
        """The latest revision of ``key`` (deleted ones included), or the given version — of
        the newest document under that key, or of ``document_id``."""
        self._table_id(self._db(), table)
        if version is None:
            return self._revision_row(
                "WHERE table_name=? AND key=? AND doc_id=coalesce(?, doc_id) "
                "ORDER BY seq DESC, version DESC LIMIT 1",
                (table, key, document_id), f"{table}/{key}",
            )  # fmt: skip
        return self._revision_row(
            "WHERE table_name=? AND key=? AND version=? AND doc_id=coalesce(?, doc_id) "
            "ORDER BY seq DESC LIMIT 1",
            (table, key, version, document_id), f"{table}/{key} version {version}",
        )  # fmt: skip

    def revision_by_doc_and_tx(self, document_id: str, tx_id: str) -> Revision:
        return self._revision_row(
            "WHERE doc_id=? AND tx_id=?", (document_id, tx_id), f"document {document_id} tx {tx_id}"
        )

    def get(self, table: str, key: str) -> Any:
        """The current data of ``key``, or None if it does not exist or was deleted."""
        self._table_id(self._db(), table)
        row = (
            self._db()
            .execute("SELECT deleted FROM documents WHERE table_name=? AND key=?", (table, key))
            .fetchone()
        )
        if row is None or row[0]:
            return None
        return self.revision(table, key).data

    def get_many(self, table: str, keys: Sequence[str]) -> dict[str, Any]:
        return {key: self.get(table, key) for key in keys}

    def history(
        self, table: str, key: str, since: str | None = None, until: str | None = None
    ) -> list[Revision]:
        """Every revision of ``key`` in commit order, optionally within [since, until]
        (ISO-8601 UTC strings compared with the txTime)."""
        self._table_id(self._db(), table)
        rows = (
            self._db()
            .execute(
                "SELECT table_name, key, doc_id, version, seq, revision, tx_time FROM revisions "
                "WHERE table_name=? AND key=? ORDER BY seq",
                (table, key),
            )
            .fetchall()
        )
        out = []
        for t, k, doc_id, version, seq, blob, tx_time in rows:
            moment = _iso(tx_time)
            if (since and moment < _iso(since)) or (until and moment > _iso(until)):
                continue
            out.append(Revision(t, k, doc_id, int(version), int(seq), simpleion.loads(blob)))
        return out

    # -- digests and proofs ------------------------------------------------------------------
    def digest(self, tip: int | None = None) -> SignedDigest:
        """The digest at ``tip`` (default: the current tip) and its signed checkpoint."""
        db = self._db()
        current = self._tip(db)
        tip = current if tip is None else tip
        if not 0 <= tip <= current:
            raise NotFoundError("no-tip", f"no block {tip} (tip is {current})")
        cached = self._checkpoint_cache
        if cached is not None and cached[0] == tip:
            return cached[1]
        digest = self._subtree(db)(0, tip + 1)
        moment = self._clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        text = checkpoint_text(Checkpoint(self.name, self.strand_id, tip, digest, moment))
        signed = SignedDigest(self.strand_id, tip, digest, sign_note(text, self.signer))
        self._checkpoint_cache = (tip, signed)
        return signed

    def block_proof(self, seq: int, tip: int) -> list[bytes]:
        """The proof from blockHash ``seq`` to the digest at ``tip`` (GetBlock's Proof)."""
        if not 0 <= seq <= tip <= self.tip():
            raise NotFoundError("no-tip", f"no proof from block {seq} to tip {tip}")
        return inclusion_path(seq, tip + 1, self._subtree(self._db()))

    def revision_proof(self, revision: Revision, tip: int) -> list[bytes]:
        """The proof from a revision hash to the digest at ``tip`` (GetRevision's Proof)."""
        row = (
            self._db()
            .execute(
                "SELECT entries, revision_hashes, previous_hash FROM blocks WHERE seq=?",
                (revision.sequence_no,),
            )
            .fetchone()
        )
        hashes = [] if row is None else _split_hashes(row[1])
        if revision.hash not in hashes or not 0 <= revision.sequence_no <= tip <= self.tip():
            raise NotFoundError(
                "no-revision", f"revision {revision.document_id} v{revision.version}: "
                f"not in block {revision.sequence_no} of this ledger, or past tip {tip}",
            )  # fmt: skip
        entries = _split_hashes(row[0])
        index = hashes.index(revision.hash)
        path = inclusion_path(index, len(hashes), lambda lo, hi: merkle_root(hashes[lo:hi]))
        root_index = entries.index(merkle_root(hashes))
        path += inclusion_path(root_index, len(entries), lambda lo, hi: merkle_root(entries[lo:hi]))
        if row[2]:  # the genesis block has no previous block
            path.append(bytes(row[2]))
        return path + self.block_proof(revision.sequence_no, tip)

    def consistency_proof(self, old_tip: int, new_tip: int) -> list[bytes]:
        if not 0 <= old_tip <= new_tip <= self.tip():
            raise NotFoundError("no-tip", f"no consistency proof from tip {old_tip} to {new_tip}")
        return consistency_path(old_tip + 1, new_tip + 1, self._subtree(self._db()))

    def verify_journal(self) -> int:
        """Verify every block, the chain and the current digest; returns the number of blocks.
        Raises :class:`proofs.ProofError` at the first problem. Reads one snapshot (a read
        transaction), so concurrent writers neither disturb nor wait for it."""
        db = self._db()
        db.execute("BEGIN")
        try:
            return self._verify_snapshot()
        finally:
            db.execute("COMMIT")

    def _verify_snapshot(self) -> int:
        previous = b""
        hashes = []
        for seq, blob in enumerate(self.blocks()):
            try:
                block = simpleion.loads(blob)
            except Exception as e:
                raise proofs.MalformedError("not-ion", f"{self.path}: block {seq}", str(e)) from e
            result = proofs.verify_block(block, f"{self.path}: block", writer_rules=True)
            if result.sequence_no != seq or bytes(block["previousBlockHash"]) != previous:
                raise proofs.VerificationError(
                    "chain", f"{self.path}: block {seq}", "does not link to the previous block",
                    expected=previous, actual=bytes(block["previousBlockHash"]),
                )  # fmt: skip
            previous = result.block_hash
            hashes.append(previous)
        root = merkle_root(hashes)
        # the stored tree at the size read (a writer may have appended blocks since)
        stored = self._subtree(self._db())(0, len(hashes))
        if root != stored:
            raise proofs.VerificationError(
                "digest", self.path, "the digest is not the root of the block hashes",
                expected=stored, actual=root,
            )  # fmt: skip
        return len(hashes)


def _with_revisions(frame: bytes, revisions: list[bytes]) -> Any:
    block = simpleion.loads(frame)
    block["revisions"] = IonPyList.from_value(
        IonType.LIST, [simpleion.loads(blob) for blob in revisions]
    )
    return block


def _split_hashes(blob: bytes) -> list[bytes]:
    return [bytes(blob[i : i + 32]) for i in range(0, len(blob), 32)]


def _iso(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)
