"""Notifications: the journal is the outbox; webhooks are delivered from tables in the ledger.

Why the journal: the writer (auditor/ledger/writes.py) offers no hook inside its write
transaction, so the server cannot add an outbox row atomically with a ledger write. It does
not need to: the journal itself is a durable, ordered log of exactly the committed writes. A
scanner reads the blocks after a cursor, derives the events (a revision of a watched table
whose status field differs from the previous version's), and in ONE SQLite transaction on the
same file inserts the events and their deliveries and moves the cursor. Hence:

- no event is lost: a write that returned is in the journal, and the cursor only moves in the
  transaction that stores its events (killed before, the scan is done again after restart);
- no event is invented: a write that failed or was rolled back is not in the journal;
- no event is stored twice: event ids are ``<documentId>.<version>`` and deliveries are
  unique per (event, party), so two processes scanning the same blocks agree.

"Who changed it" is not in the journal, so each server write first stores an *intent*
(table, key, IonHash(data), party) in ``server_intents``; the scanner attributes a revision to
the oldest unused intent with the same key and data hash (``changedBy`` is null for writes made
outside the server, e.g. with ``qldb-audit ledger put``). The intent is committed before the
ledger write and, being earlier in the same WAL, is on disk whenever that write is.

Tables (created in the ledger file on first start; the cursor starts at the tip then, so
earlier history is not announced): ``server_state`` (cursor), ``server_intents``,
``server_events`` (also the SSE log), ``server_deliveries`` (state per event and party),
``server_delivery_log`` (every attempt: time, HTTP status or error, duration) and
``server_clean_blocks`` (blocks the server wrote that change no status: not parsed again; a
missing mark only costs a parse).

Delivery: at least once, signed (see :mod:`auditor.server.client`), retried with exponential
backoff (``backoff_base`` · 2^(n-1), at most ``backoff_max``, ±20 % jitter) until a 2xx or
``max_attempts`` (then ``failed``). Deliveries to one party about one document go in version
order: a later one waits while an earlier one is pending. A claimed delivery is leased for
``timeout`` + 1 s; if its process dies, another (or the restarted server) retries it after that.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import os
import random
import sqlite3
import threading
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from auditor.bundle import receipt_bundle_for as bundle_for_revision
from auditor.jsonout import to_json
from auditor.ledger import Ledger, NotFoundError, Revision
from auditor.ledger.codec import decode
from auditor.ledger.store import connect
from auditor.server import access
from auditor.server.access import KEY_FIELD
from auditor.server.client import EVENT_HEADER, SIGNATURE_HEADER, sign
from auditor.server.config import Party, ServerConfig
from proofs import ion_hash

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: threads are still serialized
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("qldb_audit.server")

EVENT_TYPE = "payment-status-changed"
SCAN_BATCH_BLOCKS = 100
INTENT_TTL = 24 * 3600.0
STATUS_CACHE = 100_000  # documents whose latest scanned status is kept in memory
LEASE_MARGIN = 1.0  # seconds a claimed delivery stays leased beyond the HTTP timeout

_SCHEMA = """
CREATE TABLE IF NOT EXISTS server_state (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS server_intents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    table_name TEXT NOT NULL, key TEXT NOT NULL, data_hash BLOB NOT NULL,
    party TEXT NOT NULL, role TEXT NOT NULL, created REAL NOT NULL,
    event_id TEXT                  -- the revision it was matched to
);
CREATE INDEX IF NOT EXISTS server_intents_by_data ON server_intents (table_name, key, data_hash);
CREATE TABLE IF NOT EXISTS server_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,   -- the SSE id
    event_id TEXT NOT NULL UNIQUE,          -- <documentId>.<version>
    type TEXT NOT NULL, table_name TEXT NOT NULL, key TEXT NOT NULL,
    document_id TEXT NOT NULL, version INTEGER NOT NULL, sequence_no INTEGER NOT NULL,
    owner TEXT, created REAL NOT NULL,
    body TEXT NOT NULL                      -- the JSON delivered (and streamed)
);
CREATE TABLE IF NOT EXISTS server_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL, document_id TEXT NOT NULL, party TEXT NOT NULL, url TEXT NOT NULL,
    state TEXT NOT NULL,                    -- pending | delivered | failed
    attempts INTEGER NOT NULL DEFAULT 0, next_at REAL NOT NULL,
    lease_until REAL NOT NULL DEFAULT 0, last_status INTEGER, last_error TEXT,
    delivered_at REAL, created REAL NOT NULL,
    UNIQUE (event_id, party)
);
CREATE INDEX IF NOT EXISTS server_deliveries_due ON server_deliveries (state, next_at);
CREATE INDEX IF NOT EXISTS server_deliveries_order ON server_deliveries (party, document_id, id);
CREATE TABLE IF NOT EXISTS server_delivery_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id INTEGER NOT NULL, event_id TEXT NOT NULL, party TEXT NOT NULL,
    attempt INTEGER NOT NULL, at REAL NOT NULL, status INTEGER, error TEXT,
    duration_ms REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS server_delivery_log_by_delivery ON server_delivery_log (delivery_id);
CREATE TABLE IF NOT EXISTS server_clean_blocks (  -- written by this server, no status changed
    seq INTEGER PRIMARY KEY
);
"""


@dataclass(frozen=True, slots=True)
class _Found:
    body: dict[str, Any]
    subscribers: list[Party]
    owner: str | None
    sequence_no: int


@dataclass(frozen=True, slots=True)
class Due:
    """A delivery claimed for one attempt."""

    id: int
    event_id: str
    party: str
    attempt: int
    body: bytes


@dataclass(frozen=True, slots=True)
class Attempt:
    status: int | None
    error: str | None
    duration_ms: float

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
    """POST ``body`` to ``url``; returns the HTTP status (raises ``OSError`` or
    ``http.client.HTTPException`` when there is none). Redirects are not followed."""
    parts = urllib.parse.urlsplit(url)
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = cls(parts.hostname or "", parts.port, timeout=timeout)
    try:
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.request("POST", path, body=body, headers=dict(headers))
        response = conn.getresponse()
        response.read(64 * 1024)
        return int(response.status)
    finally:
        conn.close()


class Outbox:
    """The outbox tables in the ledger file, on connections of its own (one per thread)."""

    def __init__(
        self,
        ledger: Ledger,
        config: ServerConfig,
        clock: Callable[[], float] = time.time,
        sender: Callable[[str, bytes, Mapping[str, str], float], int] = post,
    ) -> None:
        self.ledger = ledger
        self.config = config
        self._clock = clock
        self._send = sender
        self._local = threading.local()
        self._parties = {p.name: p for p in config.parties}
        self.lock = WriteLock(ledger.path + ".serve-lock")
        self._scans = 0
        self._statuses: OrderedDict[str, tuple[int, bytes, Any, str | None]] = OrderedDict()
        db = self._db()
        db.executescript(_SCHEMA)
        db.execute(
            "INSERT OR IGNORE INTO server_state VALUES ('scan_cursor', ?)", (str(ledger.tip()),)
        )

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            # NORMAL: a commit is in the WAL (safe from kill -9); the next FULL commit of the
            # ledger, or a checkpoint, fsyncs it. What could be lost to a power cut is re-derived
            # from the journal (events) or re-sent (deliveries: at least once).
            db = self._local.db = connect(self.ledger.path, "NORMAL")
        return db

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None
        self.lock.close()

    @property
    def watched(self) -> dict[str, str]:
        """Table → status field, for the tables whose status changes are announced."""
        return {
            name: policy.status_field
            for name, policy in self.config.tables.items()
            if policy.status_field is not None
        }

    # -- intents -------------------------------------------------------------------------
    def record_intents(self, table: str, items: list[tuple[str, Any]], party: Party) -> None:
        """Remember that ``party`` is writing these (key, stored data) pairs to ``table``."""
        if table not in self.watched:
            return
        now = self._clock()
        rows = []
        for key, data in items:
            try:
                rows.append((table, key, ion_hash(data), party.name, party.role, now))
            except (ValueError, TypeError, UnicodeError):
                continue  # no Ion image: the ledger refuses the write anyway
        db = self._db()
        db.execute("BEGIN IMMEDIATE")  # the caller holds self.lock
        try:
            db.executemany(
                "INSERT INTO server_intents (table_name, key, data_hash, party, role, created) "
                "VALUES (?,?,?,?,?,?)",
                rows,
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def checkpoint(self) -> None:
        """Copy the WAL into the database now (PASSIVE: never waits for readers or writers),
        so that the ledger's commits rarely find a long WAL to checkpoint themselves: that
        work, and its fsync, leave the write path."""
        self._db().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def mark_clean(self, sequence_no: int) -> None:
        """Block ``sequence_no`` was just committed by this server and changes no status: the
        scanner need not parse it. Written after the commit (the caller holds the lock), so a
        crash in between only costs the scanner a parse; a mark never names another block."""
        db = self._db()
        db.execute("INSERT OR IGNORE INTO server_clean_blocks VALUES (?)", (sequence_no,))

    # -- scanning the journal --------------------------------------------------------------
    def cursor(self) -> int:
        row = self._db().execute("SELECT value FROM server_state WHERE name='scan_cursor'")
        return int(row.fetchone()[0])

    def scan(self) -> int:
        """Turn the blocks committed after the cursor into events and deliveries; returns how
        many events were stored. Safe to run in several threads or processes at once."""
        cursor = self.cursor()
        tip = self.ledger.tip()
        if tip <= cursor:
            return 0
        last = min(tip, cursor + SCAN_BATCH_BLOCKS)
        watched = self.watched
        events: list[_Found] = []
        matched: list[tuple[int, str]] = []
        clean = {
            int(row[0])
            for row in self._db().execute(
                "SELECT seq FROM server_clean_blocks WHERE seq BETWEEN ? AND ?", (cursor + 1, last)
            )
        }
        for seq, blob in enumerate(self.ledger.blocks(cursor + 1, last), start=cursor + 1):
            if seq in clean:
                continue
            block = decode(blob, f"{self.ledger.path}: block {seq}")
            documents = block["transactionInfo"]["documents"]
            tx_id = str(block["transactionId"])
            for revision in block["revisions"]:
                metadata = revision.get("metadata")
                if metadata is None:
                    continue
                doc_id = str(metadata["id"])
                info = documents.get(doc_id)
                table = None if info is None else str(info["tableName"])
                if table not in watched or "data" not in revision:
                    continue
                found = self._event(table, watched[table], doc_id, tx_id, revision, matched)
                if found is not None:
                    events.append(found)
        with self.lock.held():
            return self._store(cursor, last, events, matched)

    def _event(
        self,
        table: str,
        field: str,
        doc_id: str,
        tx_id: str,
        revision: Any,
        matched: list[tuple[int, str]],
    ) -> _Found | None:
        data = revision["data"]
        version = int(revision["metadata"]["version"])
        policy = self.config.policy(table)
        new = data.get(field) if isinstance(data, Mapping) else None
        new_hash = ion_hash(new)
        owner = access.owner(policy, data)
        known = self._statuses.get(doc_id)
        self._remember(doc_id, version, new_hash, new, owner)
        if version == 0:
            return None  # a new document: no status change
        if known is not None and known[0] == version - 1:
            if known[1] == new_hash:
                return None
            old, old_known, old_owner = known[2], True, known[3]
        else:
            key = data.get(KEY_FIELD) if isinstance(data, Mapping) else None
            if not isinstance(key, str):
                key = self.ledger.revision_by_doc_and_tx(doc_id, tx_id).key
            previous = self._previous(table, str(key), doc_id, version - 1)
            old_known = previous is not None and previous.data is not None
            old = previous.data.get(field) if old_known and previous is not None else None
            old_owner = access.owner(policy, previous.data) if previous is not None else None
            if old_known and ion_hash(old) == new_hash:
                return None
        if old_owner != owner:  # re-billed: the previous revision is not the new dealer's
            old_known = False
        stored = self.ledger.revision_by_doc_and_tx(doc_id, tx_id)
        event_id = f"{doc_id}.{stored.version}"
        intent = self._intent(table, stored.key, ion_hash(data))
        if intent is not None:
            matched.append((intent[0], event_id))
        changed_by = None if intent is None else {"party": intent[1], "role": intent[2]}
        body = {
            "type": EVENT_TYPE,
            "id": event_id,
            "ledger": self.ledger.name,
            "table": table,
            "key": stored.key,
            "documentId": doc_id,
            "version": stored.version,
            "field": field,
            "oldStatus": old if old_known else None,  # null: redacted, or billed to another
            "newStatus": new,
            "changedBy": changed_by,
            "txId": tx_id,
            "txTime": stored.value["metadata"]["txTime"],
            "receipt": bundle_for_revision(self.ledger, stored),
        }
        subscribers = [
            p
            for p in self.config.parties
            if p.webhook_url is not None and access.can_read(p, policy, data)
        ]
        return _Found(body, subscribers, owner, stored.sequence_no)

    def _remember(
        self, doc_id: str, version: int, status_hash: bytes, status: Any, owner: str | None
    ) -> None:
        """Journal facts (a version's status and party) never change: a bounded cache."""
        self._statuses[doc_id] = (version, status_hash, status, owner)
        self._statuses.move_to_end(doc_id)
        if len(self._statuses) > STATUS_CACHE:
            self._statuses.popitem(last=False)

    def _previous(self, table: str, key: str, doc_id: str, version: int) -> Revision | None:
        """The document's revision ``version`` (None if it cannot be found)."""
        try:
            candidate = self.ledger.revision(table, key, version)
        except NotFoundError:
            candidate = None
        if candidate is not None and candidate.document_id == doc_id:
            return candidate
        for older in self.ledger.history(table, key):  # the key was deleted and re-created
            if older.document_id == doc_id and older.version == version:
                return older
        return None

    def _intent(self, table: str, key: str, data_hash: bytes) -> tuple[int, str, str] | None:
        row = (
            self._db()
            .execute(
                "SELECT id, party, role FROM server_intents WHERE table_name=? AND key=? "
                "AND data_hash=? AND event_id IS NULL ORDER BY id LIMIT 1",
                (table, key, data_hash),
            )
            .fetchone()
        )
        return None if row is None else (int(row[0]), str(row[1]), str(row[2]))

    def _store(
        self,
        cursor: int,
        last: int,
        events: list[_Found],
        matched: list[tuple[int, str]],
    ) -> int:
        db = self._db()
        now = self._clock()
        db.execute("BEGIN IMMEDIATE")
        try:
            if self.cursor() != cursor:  # another scanner got there first
                db.execute("ROLLBACK")
                return 0
            stored = 0
            for found in events:
                body = found.body
                inserted = db.execute(
                    "INSERT OR IGNORE INTO server_events (event_id, type, table_name, key, "
                    "document_id, version, sequence_no, owner, created, body) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (
                        body["id"],
                        body["type"],
                        body["table"],
                        body["key"],
                        body["documentId"],
                        body["version"],
                        found.sequence_no,
                        found.owner,
                        now,
                        to_json(body),
                    ),
                ).rowcount
                stored += inserted
                for party in found.subscribers:
                    db.execute(
                        "INSERT OR IGNORE INTO server_deliveries (event_id, document_id, party, "
                        "url, state, next_at, created) VALUES (?,?,?,?,'pending',?,?)",
                        (body["id"], body["documentId"], party.name, party.webhook_url, now, now),
                    )
            for intent_id, event_id in matched:
                db.execute(
                    "UPDATE server_intents SET event_id=? WHERE id=? AND event_id IS NULL",
                    (event_id, intent_id),
                )
            db.execute("UPDATE server_state SET value=? WHERE name='scan_cursor'", (str(last),))
            db.execute("DELETE FROM server_clean_blocks WHERE seq <= ?", (last,))
            self._scans += 1
            if self._scans % 100 == 1:
                db.execute(
                    "DELETE FROM server_intents WHERE (event_id IS NOT NULL AND created < ?) "
                    "OR created < ?",
                    (now - 600, now - INTENT_TTL),
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return stored

    # -- delivering ------------------------------------------------------------------------
    def claim(self, limit: int = 16) -> list[Due]:
        """Lease up to ``limit`` due deliveries for one attempt each."""
        with self.lock.held():
            return self._claim(limit)

    def _claim(self, limit: int) -> list[Due]:
        db = self._db()
        now = self._clock()
        lease = now + self.config.webhooks.timeout + LEASE_MARGIN
        db.execute("BEGIN IMMEDIATE")
        try:
            rows = db.execute(
                "SELECT d.id, d.event_id, d.party, d.attempts, e.body "
                "FROM server_deliveries d JOIN server_events e ON e.event_id = d.event_id "
                "WHERE d.state = 'pending' AND d.next_at <= ? AND d.lease_until <= ? "
                "AND NOT EXISTS (SELECT 1 FROM server_deliveries p WHERE p.party = d.party "
                "  AND p.document_id = d.document_id AND p.state = 'pending' AND p.id < d.id) "
                "ORDER BY d.next_at, d.id LIMIT ?",
                (now, now, limit),
            ).fetchall()
            for row in rows:
                db.execute(
                    "UPDATE server_deliveries SET lease_until=?, attempts=attempts+1 WHERE id=?",
                    (lease, row[0]),
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return [
            Due(int(r[0]), str(r[1]), str(r[2]), int(r[3]) + 1, str(r[4]).encode()) for r in rows
        ]

    def attempt(self, due: Due) -> Attempt:
        """Send one delivery (blocking) and record the outcome."""
        party = self._parties.get(due.party)
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        if party is None or party.webhook_url is None or party.webhook_secret is None:
            error = "the party no longer has a webhook in the configuration"
        else:
            timestamp = int(self._clock())
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "qldb-audit-webhook/1",
                EVENT_HEADER: due.event_id,
                "X-Qldb-Audit-Delivery": str(due.id),
                "X-Qldb-Audit-Attempt": str(due.attempt),
                SIGNATURE_HEADER: sign(party.webhook_secret, timestamp, due.body),
            }
            try:
                status = self._send(
                    party.webhook_url, due.body, headers, self.config.webhooks.timeout
                )
            except (OSError, http.client.HTTPException) as e:
                error = f"{type(e).__name__}: {e}"[:500]
            if status is not None and not 200 <= status < 300:
                error = f"HTTP {status}"
        result = Attempt(status, error, (time.monotonic() - started) * 1000)
        with self.lock.held():
            self._record(due, result, gone=party is None or party.webhook_url is None)
        return result

    def _record(self, due: Due, result: Attempt, gone: bool) -> None:
        settings = self.config.webhooks
        now = self._clock()
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            if result.ok:
                db.execute(
                    "UPDATE server_deliveries SET state='delivered', delivered_at=?, "
                    "last_status=?, last_error=NULL, lease_until=0 WHERE id=?",
                    (now, result.status, due.id),
                )
            elif gone or due.attempt >= settings.max_attempts:
                db.execute(
                    "UPDATE server_deliveries SET state='failed', last_status=?, last_error=?, "
                    "lease_until=0 WHERE id=?",
                    (result.status, result.error, due.id),
                )
            else:
                delay = min(settings.backoff_base * 2 ** (due.attempt - 1), settings.backoff_max)
                delay *= random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not a secret
                db.execute(
                    "UPDATE server_deliveries SET next_at=?, last_status=?, last_error=?, "
                    "lease_until=0 WHERE id=?",
                    (now + delay, result.status, result.error, due.id),
                )
            db.execute(
                "INSERT INTO server_delivery_log (delivery_id, event_id, party, attempt, at, "
                "status, error, duration_ms) VALUES (?,?,?,?,?,?,?,?)",
                (
                    due.id,
                    due.event_id,
                    due.party,
                    due.attempt,
                    now,
                    result.status,
                    result.error,
                    round(result.duration_ms, 3),
                ),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    # -- reading ---------------------------------------------------------------------------
    def last_event(self) -> int:
        row = self._db().execute("SELECT max(id) FROM server_events").fetchone()
        return 0 if row[0] is None else int(row[0])

    def events_after(self, after: int, limit: int = 100) -> list[tuple[int, str, str | None, str]]:
        """(id, type, owner, body) of the events after ``after``, oldest first."""
        rows = (
            self._db()
            .execute(
                "SELECT id, type, owner, body FROM server_events WHERE id > ? ORDER BY id LIMIT ?",
                (after, limit),
            )
            .fetchall()
        )
        return [(int(r[0]), str(r[1]), r[2], str(r[3])) for r in rows]

    def deliveries(
        self, party: str | None, state: str | None, limit: int, before: int | None = None
    ) -> list[dict[str, Any]]:
        """The newest ``limit`` deliveries (older than id ``before``), newest first."""
        sql = (
            "SELECT id, event_id, party, url, state, attempts, next_at, last_status, "
            "last_error, delivered_at, created FROM server_deliveries WHERE 1=1"
        )
        args: list[Any] = []
        if party is not None:
            sql += " AND party = ?"
            args.append(party)
        if state is not None:
            sql += " AND state = ?"
            args.append(state)
        if before is not None:
            sql += " AND id < ?"
            args.append(before)
        sql += " ORDER BY id DESC LIMIT ?"
        args.append(limit)
        keys = (
            "id",
            "eventId",
            "party",
            "url",
            "state",
            "attempts",
            "nextAttemptAt",
            "lastStatus",
            "lastError",
            "deliveredAt",
            "createdAt",
        )
        out = []
        for row in self._db().execute(sql, args).fetchall():
            item = dict(zip(keys, row, strict=True))
            for name in ("nextAttemptAt", "deliveredAt", "createdAt"):
                item[name] = _iso(item[name])
            if item["state"] != "pending":
                item["nextAttemptAt"] = None
            out.append(item)
        return out

    def attempts(self, delivery_id: int) -> tuple[str, list[dict[str, Any]]] | None:
        """The delivery's party and its attempts, or None."""
        row = (
            self._db()
            .execute("SELECT party FROM server_deliveries WHERE id=?", (delivery_id,))
            .fetchone()
        )
        if row is None:
            return None
        rows = (
            self._db()
            .execute(
                "SELECT attempt, at, status, error, duration_ms FROM server_delivery_log "
                "WHERE delivery_id=? ORDER BY id",
                (delivery_id,),
            )
            .fetchall()
        )
        return str(row[0]), [
            {"attempt": a, "at": _iso(at), "status": s, "error": e, "durationMs": d}
            for a, at, s, e, d in rows
        ]


def _iso(moment: float | None) -> str | None:
    if moment is None:
        return None
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(moment))
        + f".{int(moment * 1000) % 1000:03d}Z"
    )


class WriteLock:
    """One writer at a time across this server's threads and processes (``--workers``).

    SQLite serializes writers anyway, but a writer that finds the database locked sleeps in
    SQLite's busy handler (1, 2, 5, … up to 100 ms at a time) while others keep winning: under
    load that is the whole tail latency. An OS file lock (``flock``) wakes a waiter as soon
    as the holder is done. Writers outside the server (``qldb-audit ledger put``) still work:
    they just go through SQLite's own locking.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._threads = threading.Lock()
        self._fd: int | None = None
        if fcntl is not None:
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        with self._threads:
            if self._fd is not None and fcntl is not None:
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                if self._fd is not None and fcntl is not None:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
