"""The checked reads: what ``get``, ``current``, ``history``, ``revision`` and ``block`` serve.

A :class:`Reader` reads one ledger file through one connection and hands out only rows that
agree with the journal (``check.py``): revisions through ``check.served``, blocks with their
stored hashes compared to the block's frame and revisions. It holds no transaction of its own:
``Ledger`` runs each read method in one read transaction (one snapshot, ``core._reading``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import auditor.ledger.store as store
from auditor.ledger.check import REVISION_COLUMNS, Revision, Verified, block_row, served
from auditor.ledger.codec import attach_revisions, decode, encode, time_column
from auditor.ledger.errors import IntegrityError, LedgerError, NotFoundError


def tip(db: sqlite3.Connection) -> int:
    """The last block's sequence number (-1 for a file without blocks)."""
    row = db.execute("SELECT max(seq) FROM blocks").fetchone()
    return -1 if row[0] is None else int(row[0])


def table_id(db: sqlite3.Connection, table: str, path: str) -> str:
    """The tableId of ``table``; :class:`NotFoundError` if the ledger has no such table."""
    row = db.execute("SELECT table_id FROM tables WHERE name = ?", (table,)).fetchone()
    if row is None:
        raise NotFoundError("no-table", f"{path}: unknown table {table!r}")
    return str(row[0])


@dataclass(frozen=True, slots=True)
class Reader:
    """Checked reads of the ledger file ``path`` through ``db``. ``verified``: the block rows
    and digest-tree nodes this ledger instance has checked; ``boundary``: the last block
    imported from QLDB (-1 for none)."""

    db: sqlite3.Connection
    path: str
    strand_id: str
    verified: Verified
    boundary: int

    def tip(self) -> int:
        return tip(self.db)

    def tables(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT name, table_id FROM tables").fetchall())

    def checked(self, row: Any) -> Revision:
        """The revision of a ``revisions`` row (``REVISION_COLUMNS``), checked (``check.py``)."""
        return served(self.db, row, self.strand_id, self.path, self.verified, self.boundary)

    def _served(self, where: str, args: tuple[Any, ...], what: str) -> Revision:
        row = self.db.execute(
            f"SELECT {REVISION_COLUMNS} FROM revisions " + where,  # noqa: S608 - where is one of this module's literals
            args,
        ).fetchone()
        if row is None:
            raise NotFoundError("no-revision", f"{self.path}: {what}: not found")
        return self.checked(row)

    def latest(self, table: str, key: str) -> Revision | None:
        """The latest revision of ``key`` (a delete included) by the ``documents`` index,
        checked against the journal; None if the key was never written."""
        db = self.db
        table_id(db, table, self.path)
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
        revision = self.checked(found)
        if revision.sequence_no != newest:
            raise IntegrityError(
                "index", f"{self.path}: {where}: points to block {revision.sequence_no}, but "
                f"the key was written again in block {newest}", where,
            )  # fmt: skip
        return revision

    def revision(
        self, table: str, key: str, version: int | None = None, document_id: str | None = None
    ) -> Revision:
        """``Ledger.revision``."""
        if version is None and document_id is None:
            latest = self.latest(table, key)  # checks the table too
            if latest is None:
                raise NotFoundError("no-revision", f"{self.path}: {table}/{key}: not found")
            return latest
        table_id(self.db, table, self.path)
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

    def revision_by_doc_and_tx(self, document_id: str, tx_id: str) -> Revision:
        return self._served(
            "WHERE doc_id=? AND tx_id=?", (document_id, tx_id), f"document {document_id} tx {tx_id}"
        )

    def current(self, table: str, key: str) -> Revision:
        """``Ledger.current``."""
        latest = self.latest(table, key)
        if latest is None:
            raise NotFoundError("no-key", f"{self.path}: {table}/{key}: no such key")
        if latest.data is None:
            raise NotFoundError(
                "deleted", f"{self.path}: {table}/{key}: deleted (version {latest.version}; "
                "its history remains)",
            )  # fmt: skip
        return latest

    def get(self, table: str, key: str) -> Any:
        latest = self.latest(table, key)
        return None if latest is None else latest.data

    def history(
        self, table: str, key: str, since: str | None = None, until: str | None = None
    ) -> list[Revision]:
        """``Ledger.history``."""
        db = self.db
        table_id(db, table, self.path)
        rows = db.execute(
            f"SELECT {REVISION_COLUMNS} FROM revisions WHERE table_name=? AND key=? "  # noqa: S608
            "ORDER BY seq, rev_index",
            (table, key),
        ).fetchall()
        if not rows and self.latest(table, key) is None:  # documents must not know it either
            raise NotFoundError("no-key", f"{self.path}: {table}/{key}: no such key")
        start, end = _iso(since) if since else None, _iso(until) if until else None
        out = []
        for row in rows:
            revision = self.checked(row)
            moment = _iso(time_column(revision.value["metadata"]["txTime"]))
            if (start and moment < start) or (end and moment > end):
                continue
            out.append(revision)
        return out

    def document_history(self, table: str, document_id: str) -> list[Revision]:
        """``Ledger.document_history``."""
        db = self.db
        table_id(db, table, self.path)
        rows = db.execute(
            f"SELECT {REVISION_COLUMNS} FROM revisions WHERE doc_id=? AND table_name=? "  # noqa: S608
            "ORDER BY version",
            (document_id, table),
        ).fetchall()
        if not rows:
            raise NotFoundError("no-document", f"{self.path}: {table}: no document {document_id}")
        return [self.checked(row) for row in rows]

    def block(self, seq: int) -> Any:
        """``Ledger.block``: its stored hashes checked against its frame and revisions."""
        db = self.db
        row = db.execute("SELECT block FROM blocks WHERE seq=?", (seq,)).fetchone()
        if row is None:
            raise NotFoundError("no-block", f"{self.path}: no block {seq}")
        stored = block_row(db, seq, self.path, self.verified)
        where = f"{self.path}: table blocks, row {seq}"
        frame = decode(row[0], f"{where}: block")
        blobs = db.execute(
            "SELECT rev_index, doc_id, version, revision FROM revisions WHERE seq=?", (seq,)
        ).fetchall()
        if seq <= self.boundary:
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
                _previous(frame, seq, self.boundary),
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
        return _with_revisions(frame, revisions, seq, self.boundary)

    def blocks(self, first: int, last: int) -> Iterator[bytes]:
        """The journal blocks ``first..last`` as Ion binary, as stored (``Ledger.blocks``)."""
        db = self.db
        rows = store.revision_rows(db, first, last, self.boundary)
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
            yield encode(_with_revisions(frame, mine, seq, self.boundary))

    def _revision_where(self, seq: int, index: int, doc_id: Any, version: Any) -> str:
        if doc_id is None:
            return f"{self.path}: table system_revisions, row ({seq}, {index}): revision"
        return f"{self.path}: table revisions, row (document {doc_id}, version {version}): revision"


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
