"""The writer: a QLDB-compatible journal in one SQLite file (see docs/ledger.md for the layout).

One strand; every transaction is one block shaped exactly like a QLDB journal block, so
``proofs.verify_block`` checks it and the digest at tip T is ``merkle_root(blockHash_0..T)``.
Writes run in ``BEGIN IMMEDIATE`` transactions on a WAL database with ``synchronous=FULL``: a
call that returned has been fsynced and survives a crash or ``kill -9``; one that did not return
left nothing behind. Several threads (one connection each) and processes may write: SQLite
serializes the writers, and every block is built from the tip read inside its own transaction.

:class:`Ledger` is the one public face; this module holds its lifecycle (create, open, the
per-thread connection, the signing key) and the two decorators every method runs under
(``_guarded``: errors name the file; ``_reading``: one read transaction, one snapshot). The
work is done by ``writes.py`` (the transaction writer: blocks, revisions, redactions),
``reads.py`` (the checked reads: what agrees with the journal, ``check.py``), ``proving.py``
(digests and the proofs folded to them) and ``integrity.py`` (``verify_journal``: every table).
Every failure is a typed error of ``errors.py`` naming the file and the table, row or field.
"""

from __future__ import annotations

import functools
import os
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, Concatenate, ParamSpec, TypeVar

import auditor.ledger.integrity as integrity
import auditor.ledger.proving as proving
import auditor.ledger.store as store
import auditor.ledger.writes as writes
import proofs
from auditor.ledger.check import Revision, Verified, split_hashes
from auditor.ledger.errors import (
    ConflictError,
    DamagedError,
    IntegrityError,
    LedgerError,
    NotFoundError,
    StorageError,
)
from auditor.ledger.keys import SignerKey, read_private
from auditor.ledger.proving import SignedDigest
from auditor.ledger.reads import Reader
from auditor.ledger.store import FORMAT_VERSION, connect
from auditor.ledger.values import document

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
            "strand_id": writes.new_id(rng),
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
            return writes.create_table(
                db, name, path=self.path, strand_id=self.strand_id, rng=self._rng,
                clock=self._clock,
            )  # fmt: skip

    @_reading
    def tables(self) -> dict[str, str]:
        return self._reader().tables()

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
        batch = []
        for item in items:
            key, value = item[0], item[1]
            expected = item[2] if len(item) > 2 else None
            batch.append(writes.Write(table, key, document(key, value), expected))
        return self._commit(batch, "UPSERT")

    def delete(self, table: str, key: str, expected_version: int | None = None) -> Revision:
        """Delete ``key``: a revision with metadata and no data."""
        return self._commit([writes.Write(table, key, None, expected_version)], "DELETE")[0]

    @_guarded
    def _commit(self, batch: list[writes.Write], verb: str) -> list[Revision]:
        writes.refuse_batch(batch)
        with self._transaction() as db:
            return writes.commit(
                db, batch, verb, path=self.path, strand_id=self.strand_id,
                max_document_bytes=self.max_document_bytes, rng=self._rng, clock=self._clock,
            )  # fmt: skip

    @_guarded
    def redact(
        self, table: str, key: str, version: int, document_id: str | None = None
    ) -> Revision:
        """Replace a non-latest revision's data by its ``dataHash`` (the chain still verifies)
        and record the redaction in a new block's ``redactionInfo``. A key deleted and written
        again is a new document: ``document_id`` (see :meth:`history`) picks an earlier one."""
        with self._transaction() as db:
            doc_id = writes.redact(
                self._reader(db), table, key, version, document_id, rng=self._rng,
                clock=self._clock,
            )  # fmt: skip
        return self.revision(table, key, version, doc_id)

    def _genesis(self) -> None:
        with self._transaction() as db:
            writes.genesis(
                db, self.name, strand_id=self.strand_id, rng=self._rng, clock=self._clock
            )

    def _transaction(self) -> writes.Transaction:
        self._writing()
        return writes.Transaction(self._db())

    # -- reads -------------------------------------------------------------------------------
    def _reader(self, db: sqlite3.Connection | None = None) -> Reader:
        """The checked reads through ``db`` (default: this thread's connection)."""
        db = self._db() if db is None else db
        return Reader(db, self.path, self.strand_id, self._verified, self._boundary)

    @_reading
    def tip(self) -> int:
        return self._reader().tip()

    @_reading
    def block(self, seq: int) -> Any:
        """Journal block ``seq`` as an Ion struct (with its revisions), its stored hashes
        checked against the block's frame and revisions."""
        return self._reader().block(seq)

    def blocks(self, first: int = 0, last: int | None = None) -> Iterator[bytes]:
        """The journal blocks ``first..last`` as Ion binary, in order (as stored: an export
        is checked by ``verify export``, the file by :meth:`verify_journal`)."""
        with store.translated(self.path):
            last = self.tip() if last is None else last
            yield from self._reader().blocks(first, last)

    @_reading
    def revision(
        self, table: str, key: str, version: int | None = None, document_id: str | None = None
    ) -> Revision:
        """The latest revision of ``key`` (deleted ones included), or the given version — of
        the newest document under that key, or of ``document_id``."""
        return self._reader().revision(table, key, version, document_id)

    @_reading
    def revision_by_doc_and_tx(self, document_id: str, tx_id: str) -> Revision:
        return self._reader().revision_by_doc_and_tx(document_id, tx_id)

    @_reading
    def current(self, table: str, key: str) -> Revision:
        """The current revision of ``key``: :class:`NotFoundError` if it was never written
        (reason ``no-key``) or is deleted (reason ``deleted``)."""
        return self._reader().current(table, key)

    @_reading
    def get(self, table: str, key: str) -> Any:
        """The current data of ``key``, or None if it does not exist or was deleted."""
        return self._reader().get(table, key)

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
        return self._reader().history(table, key, since, until)

    @_reading
    def document_history(self, table: str, document_id: str) -> list[Revision]:
        """Every revision of one document (by its id, whatever key indexes it), oldest first.
        :class:`NotFoundError` if the table has no such document."""
        return self._reader().document_history(table, document_id)

    # -- digests and proofs ------------------------------------------------------------------
    @_reading
    def digest(self, tip: int | None = None) -> SignedDigest:
        """The digest at ``tip`` (default: the current tip) and its signed checkpoint."""
        reader = self._reader()
        tip = proving.digest_tip(reader, tip)
        cached = self._checkpoint_cache
        if cached is not None and cached[0] == tip:
            return cached[1]
        signed = proving.signed_digest(reader, tip, self.name, self._clock, lambda: self.signer)
        self._checkpoint_cache = (tip, signed)
        return signed

    @_reading
    def block_proof(self, seq: int, tip: int) -> list[bytes]:
        """The proof from blockHash ``seq`` to the digest at ``tip`` (GetBlock's Proof)."""
        return proving.block_proof(self._reader(), seq, tip)

    @_reading
    def revision_proof(self, revision: Revision, tip: int) -> list[bytes]:
        """The proof from a revision hash to the digest at ``tip`` (GetRevision's Proof),
        folded to that digest before it is handed out."""
        return proving.revision_proof(self._reader(), revision, tip)

    @_reading
    def consistency_proof(self, old_tip: int, new_tip: int) -> list[bytes]:
        return proving.consistency_proof(self._reader(), old_tip, new_tip)

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
