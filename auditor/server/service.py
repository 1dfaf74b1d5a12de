"""What the routes do, over the ledger: blocking functions, run off the event loop (reads in
worker threads, writes on the one writer thread).

Every function takes the calling :class:`Party` and enforces its role (auditor/server/access.py)
before it reveals or writes anything: reads are filtered per revision, and "not yours" is the
same 404 as "does not exist". Errors are :class:`ApiError` (an HTTP status, a machine-readable
``reason`` and a message in the project's one style).

Writes run on ONE thread per process (:class:`GroupWriter`), and the processes take turns
through an OS file lock (``outbox.WriteLock``). Under the lock a write reads the current
version, checks the caller's rights (and the state machine) against it, then the
preconditions, records who is changing a status (the notification intent), then commits with
``expected_version`` = the version it checked, so a writer outside the server that got in
between makes the ledger refuse (ConflictError) instead of silently winning. Queued writes of
one party to one table are committed together (group commit: one block, one fsync).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from auditor import jsonout
from auditor.bundle import receipt_bundle_for as bundle_for_revision
from auditor.ion import Timestamp, utc_datetime
from auditor.ledger import (
    ConflictError,
    DamagedError,
    IntegrityError,
    Ledger,
    LedgerError,
    NotFoundError,
    Revision,
    StorageError,
    value_of,
)
from auditor.server import access
from auditor.server.access import KEY_FIELD, ForbiddenError
from auditor.server.config import Party, ServerConfig, TablePolicy
from auditor.server.outbox import Outbox
from auditor.server.schemas import Problem, SchemaViolationError, Validator
from auditor.server.web import ApiError, not_found

WRITE_RETRIES = 3

__all__ = ["ApiError", "GroupWriter", "Service", "WriteItem", "WriteJob", "Written"]

log = logging.getLogger("qldb_audit.server")


def forbidden(error: ForbiddenError) -> ApiError:
    return ApiError(error.status, error.reason, str(error))


_LEDGER_STATUS = {
    "no-table": 404,
    "too-large": 413,
    "unrepresentable": 422,
    "key-field": 422,
    "float": 422,
    "type": 422,
    "field-name": 422,
    "value": 422,
    "decimal": 422,
    "timestamp": 422,
    "text": 422,
}


def ledger_error(error: LedgerError) -> ApiError:
    if isinstance(error, IntegrityError | DamagedError | StorageError):
        # the server's own file disagrees with its journal, or cannot be used: not the
        # client's input, and never served as if it were fine
        log.error("ledger: %s", error)
        return ApiError(503, "ledger-unavailable", "the ledger cannot serve this now (see the"
                        " server's log; `qldb-audit ledger verify` names the row)")  # fmt: skip
    if isinstance(error, ConflictError):
        return ApiError(409, error.reason, str(error))
    if isinstance(error, NotFoundError) and error.reason != "no-table":
        return ApiError(404, "not-found", str(error))
    return ApiError(_LEDGER_STATUS.get(error.reason, 400), error.reason, str(error))


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a key's history: the revisions and the cursor of the next page (None:
    the last page)."""

    revisions: list[Revision]
    next: str | None


def etag(revision: Revision) -> str:
    return f'"{revision.document_id}.{revision.version}"'


def _etags(header: str) -> list[str]:
    return [t.strip() for t in header.split(",") if t.strip()]


def document_json(revision: Revision) -> dict[str, Any]:
    metadata = revision.value["metadata"]
    return {
        "table": revision.table,
        "key": revision.key,
        "documentId": revision.document_id,
        "version": revision.version,
        "txId": metadata["txId"],
        "txTime": metadata["txTime"],
        "blockAddress": revision.value["blockAddress"],
        "hash": revision.hash,
        "value": value_of(revision.data),
    }


def summary_json(revision: Revision) -> dict[str, Any]:
    """What a write returns per document (the sample's ``{documentId, txId}``, and more)."""
    metadata = revision.value["metadata"]
    return {
        "documentId": revision.document_id,
        "txId": metadata["txId"],
        "key": revision.key,
        "version": revision.version,
        "blockAddress": revision.value["blockAddress"],
    }


def parse_time(text: str | None, name: str) -> datetime | None:
    if text is None or text == "":
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as e:
        raise ApiError(400, "time", f"{name}: not an ISO-8601 time") from e
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class WriteItem:
    key: str
    value: Any  # None: delete
    expected_version: int | None = None  # from the body (batch): 409 if it differs
    if_match: str | None = None  # the If-Match header: 412 if no tag matches
    if_none_match: bool = False  # If-None-Match: * (create only): 412 if it exists
    server_tag: bool = False  # if_match was set by the server (a patch's base): plan again


@dataclass(frozen=True, slots=True)
class Written:
    revision: Revision
    created: bool


@dataclass(frozen=True, slots=True)
class WriteJob:
    """One request's write to ``keys`` of ``table``. ``make`` returns its items; it runs on the
    writer thread under the write lock, so a read-modify-write (a merge patch) sees exactly
    the version it replaces."""

    party: Party
    table: str
    keys: frozenset[str]
    make: Callable[[], list[WriteItem]]
    delete: bool = False
    future: Future[list[Written]] = field(default_factory=Future)

    @staticmethod
    def of(party: Party, table: str, items: list[WriteItem]) -> WriteJob:
        """A job whose items are known up front (PUT, DELETE, batches)."""
        return WriteJob(
            party,
            table,
            frozenset(item.key for item in items),
            lambda: items,
            delete=any(item.value is None for item in items),
        )


@dataclass(frozen=True, slots=True)
class _Plan:
    job: WriteJob
    items: list[WriteItem]
    rows: list[tuple[str, Any, int | None]]  # put_many's (key, value, expected version)
    existed: list[bool]
    changes: list[tuple[str, Any]]


class GroupWriter:
    """The writer thread of a server process: takes the queued jobs, groups those of one
    party on one table with distinct keys (up to ``max_group`` documents), and commits each
    group in one transaction (:meth:`Service.write_group`). Alone, a job is its own
    transaction; under load, one party's writes share blocks and fsyncs (never two parties'
    writes: a block stays one party's transaction)."""

    def __init__(self, service: Service, max_group: int = 64) -> None:
        self.service = service
        self.max_group = max_group
        self._queue: queue.SimpleQueue[WriteJob | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="ledger-writer", daemon=True)
        self._thread.start()

    def submit(self, job: WriteJob) -> Future[list[Written]]:
        self._queue.put(job)
        return job.future

    def close(self) -> None:
        """Finish the queued jobs, then stop the thread."""
        self._queue.put(None)
        self._thread.join(60)

    def _run(self) -> None:
        waiting: list[WriteJob] = []
        closing = False
        while not closing or waiting:
            if not waiting:
                job = self._queue.get()
                if job is None:
                    return
                waiting.append(job)
            while not closing:  # and whatever else is queued right now
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    closing = True
                else:
                    waiting.append(more)
            waiting = self._dispatch(waiting)

    def _dispatch(self, jobs: list[WriteJob]) -> list[WriteJob]:
        """Commit the first job's group; return the jobs left for the next round."""
        head = jobs[0]
        group, keys, rest = [head], set(head.keys), []
        for job in jobs[1:]:
            joins = (
                not head.delete
                and not job.delete
                and (job.party.name, job.table) == (head.party.name, head.table)
                and not job.keys & keys
                and len(keys) + len(job.keys) <= self.max_group
            )
            if joins:
                group.append(job)
                keys |= job.keys
            else:
                rest.append(job)
        if len(group) == 1:
            try:
                head.future.set_result(self.service.write_job(head))
            except Exception as e:  # noqa: BLE001 - handed to the job's caller
                head.future.set_exception(e)
        else:
            self.service.write_group(group)
        return rest


class Service:
    def __init__(self, ledger: Ledger, config: ServerConfig, outbox: Outbox) -> None:
        self.ledger = ledger
        self.config = config
        self.outbox = outbox
        self._validators = {
            name: Validator(policy.schema)
            for name, policy in config.tables.items()
            if policy.schema is not None
        }
        self._tables: dict[str, str] = ledger.tables()
        self._tables_lock = threading.Lock()
        self.on_status_change: Callable[[], None] | None = None  # wakes the notifier

    # -- tables and documents --------------------------------------------------------------
    def policy(self, table: str) -> TablePolicy:
        """The table's policy; 404 if the ledger has no such table."""
        if table not in self._tables:
            with self._tables_lock:
                self._tables = self.ledger.tables()
            if table not in self._tables:
                raise ApiError(404, "no-table", f"table {table!r}: no such table")
        return self.config.policy(table)

    def tables(self) -> list[dict[str, Any]]:
        self._tables = self.ledger.tables()
        out = []
        for name, table_id in sorted(self._tables.items()):
            policy = self.config.policy(name)
            out.append(
                {
                    "name": name,
                    "tableId": table_id,
                    "hasSchema": policy.schema is not None,
                    "partyField": policy.party_field,
                    "statusField": policy.status_field,
                }
            )
        return out

    def validate(self, table: str, value: Any, prefix: str = "value") -> None:
        """422 (SchemaViolationError) if ``value`` breaks the table's schema."""
        validator = self._validators.get(table)
        if validator is None:
            if not isinstance(value, Mapping | str):
                raise SchemaViolationError([Problem(prefix, "expected a JSON object or a string")])
            return
        validator.validate(value, prefix)

    def latest(self, table: str, key: str) -> Revision | None:
        """The latest revision of ``key`` (a delete included), None if there is none."""
        try:
            return self.ledger.revision(table, key)
        except NotFoundError as e:
            if e.reason == "no-table":
                raise ApiError(404, "no-table", str(e)) from e
            return None

    def readable(self, party: Party, policy: TablePolicy, revision: Revision) -> bool:
        """May ``party`` see ``revision`` (per revision: see access.py)?"""
        if access.sees_all(party):
            return True
        access_check_table(party, policy, revision.table)
        if revision.data is not None:
            return access.can_read(party, policy, revision.data)
        history = self.ledger.history(revision.table, revision.key)
        return any(
            r.document_id == revision.document_id and r.version == revision.version
            for r in access.visible(party, policy, history)
        )

    def document(self, party: Party, table: str, key: str) -> Revision:
        """The current revision; 404 if absent, deleted, or not billed to a dealer caller."""
        policy = self.policy(table)
        access_check_table(party, policy, table)
        latest = self.latest(table, key)
        if latest is None or latest.data is None or not self.readable(party, policy, latest):
            raise not_found(f"{table}/{key}")
        return latest

    def values_json(self, party: Party, table: str, keys: Sequence[str]) -> str:
        """The sample's GET /: the value (one key) or the values in key order, as JSON; 400
        ``not-found`` if any is missing or not the caller's, 413 over the response cap."""
        policy = self.policy(table)
        access_check_table(party, policy, table)
        cap = self.config.max_response_bytes
        parts, size = [], 0
        for key in keys:
            latest = self.latest(table, key)
            if latest is None or latest.data is None or not self.readable(party, policy, latest):
                raise ApiError(400, "not-found", "Client Error: Requested documents do not exist")
            text = jsonout.to_json(value_of(latest.data))
            size += len(text)
            if size > cap:
                raise ApiError(
                    413, "response-too-large",
                    f"the answer would be over {cap} bytes: ask for fewer keys at a time",
                )  # fmt: skip
            parts.append(text)
        return parts[0] if len(parts) == 1 else "[" + ",".join(parts) + "]"

    def history(
        self,
        party: Party,
        table: str,
        key: str,
        since: str | None,
        until: str | None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page:
        """The revisions of the key the caller may see, oldest first, within [since, until],
        one page at a time (``limit`` revisions, at most ``max_response_bytes``); 404 if there
        is none it may see."""
        policy = self.policy(table)
        access_check_table(party, policy, table)
        start, end = parse_time(since, "from"), parse_time(until, "to")
        if start is not None and end is not None and start > end:
            raise ApiError(400, "window", "from is after to")
        first = 0
        if cursor:
            if not (cursor.isascii() and cursor.isdigit()) or len(cursor) > 18:
                raise ApiError(400, "cursor", "cursor: not one this server gave")
            first = int(cursor)
        size_limit = min(limit or self.config.page_size, 1000)
        try:
            everything = self.ledger.history(table, key)
        except NotFoundError as e:  # a key never written: as absent as one not yours
            raise not_found(f"{table}/{key}") from e
        shown = {id(r) for r in access.visible(party, policy, everything)}
        if not shown:
            raise not_found(f"{table}/{key}")
        out: list[Revision] = []
        size = 0
        for index in range(first, len(everything)):
            revision = everything[index]
            if id(revision) not in shown or not _within(revision, start, end):
                continue
            size += len(jsonout.to_json(revision.value))
            if out and (len(out) >= size_limit or size > self.config.max_response_bytes):
                return Page(out, str(index))
            out.append(revision)
        return Page(out, None)

    def revision(self, party: Party, table: str, key: str, version: int) -> Revision:
        """Version ``version`` of the newest document under the key (404 if not visible)."""
        policy = self.policy(table)
        access_check_table(party, policy, table)
        try:
            revision = self.ledger.revision(table, key, version)
        except NotFoundError as e:
            raise ledger_error(e) from e
        if not self.readable(party, policy, revision):
            raise not_found(f"{table}/{key} version {version}")
        return revision

    def by_document(self, party: Party, document_id: str, tx_id: str) -> Revision:
        try:
            revision = self.ledger.revision_by_doc_and_tx(document_id, tx_id)
        except NotFoundError as e:
            raise not_found(f"document {document_id[:40]} tx {tx_id[:40]}") from e
        policy = self.config.policy(revision.table)
        if not access.sees_all(party) and (
            policy.party_field is None or not self.readable(party, policy, revision)
        ):
            raise not_found(f"document {document_id} tx {tx_id}")
        return revision

    def receipt(self, party: Party, table: str, key: str, version: int | None) -> dict[str, Any]:
        if version is None:
            revision = self.document(party, table, key)
        else:
            revision = self.revision(party, table, key, version)
        return bundle_for_revision(self.ledger, revision)

    def bundle(self, revision: Revision) -> dict[str, Any]:
        return bundle_for_revision(self.ledger, revision)

    # -- writes ----------------------------------------------------------------------------
    def write(self, party: Party, table: str, items: Sequence[WriteItem]) -> list[Written]:
        """Write (or, with ``value=None``, delete) documents in ONE transaction, on the calling
        thread. Raises ApiError 403/404/409/412/422."""
        return self.write_job(WriteJob.of(party, table, list(items)))

    def write_job(self, job: WriteJob) -> list[Written]:
        """Run one job: plan and commit under the write lock; a writer outside the server
        that got in between makes it plan again (at most WRITE_RETRIES times)."""
        for attempt in range(WRITE_RETRIES):
            with self.outbox.lock.held():  # one writer at a time across the server's processes
                planned = self._plan(job)
                written = self._commit([planned], attempt)
            if written is not None:
                return written[0]
        raise AssertionError("unreachable")  # pragma: no cover

    def write_group(self, jobs: Sequence[WriteJob]) -> None:
        """Group commit: the jobs of one party on one table, with no key in common, go into
        ONE transaction (one block, one fsync); each job's future gets its documents or its
        error. A job that fails its checks fails alone; if the joint commit fails, each job is
        retried on its own. Runs on the writer thread."""
        plans: list[_Plan] = []
        with self.outbox.lock.held():
            for job in jobs:
                try:
                    plans.append(self._plan(job))
                except Exception as e:  # noqa: BLE001 - handed to the job's caller
                    job.future.set_exception(e)
            if len(plans) > 1:
                try:
                    written = self._commit(plans, WRITE_RETRIES - 1, joint=True)
                except (ApiError, LedgerError):
                    written = None
                if written is not None:
                    for plan, result in zip(plans, written, strict=True):
                        plan.job.future.set_result(result)
                    return
        for plan in plans:  # one alone, or the joint commit failed: each on its own
            try:
                plan.job.future.set_result(self.write_job(plan.job))
            except Exception as e:  # noqa: BLE001
                plan.job.future.set_exception(e)

    def _plan(self, job: WriteJob) -> _Plan:
        """Read the current versions and check preconditions and rights (under the lock)."""
        items = job.make()
        policy = self.policy(job.table)
        keys = [item.key for item in items]
        if len(set(keys)) != len(keys):
            raise ApiError(400, "duplicate-key", "Client Error: Duplicate keys detected")
        if any(item.value is None for item in items) and len(items) != 1:
            raise ApiError(400, "delete-batch", "a delete is written on its own")
        rows: list[tuple[str, Any, int | None]] = []
        existed: list[bool] = []
        changes: list[tuple[str, Any]] = []  # (key, stored data) of status changes
        for item in items:
            latest = self.latest(job.table, item.key)
            current = latest if latest is not None and latest.data is not None else None
            try:  # the caller's rights first: a dealer learns nothing of what is not its own
                access.check_write(
                    job.party,
                    policy,
                    None if current is None else current.data,
                    item.value,
                    f"{job.table}/{item.key}",
                )
            except ForbiddenError as e:
                raise forbidden(e) from e
            self._preconditions(job.table, item, current)
            version = None if current is None else current.version
            rows.append((item.key, item.value, version))
            existed.append(current is not None)
            if current is not None and _status_changes(policy, current.data, item.value):
                changes.append((item.key, _stored(item.key, item.value)))
        return _Plan(job, items, rows, existed, changes)

    def _commit(
        self, plans: Sequence[_Plan], attempt: int, joint: bool = False
    ) -> list[list[Written]] | None:
        """Commit planned writes in one transaction; None: a writer outside the server got in
        between (plan again)."""
        table, party = plans[0].job.table, plans[0].job.party
        rows = [row for plan in plans for row in plan.rows]
        changes = [change for plan in plans for change in plan.changes]
        items = [item for plan in plans for item in plan.items]
        try:
            if rows[0][1] is None:  # a delete (always alone)
                key, _, version = rows[0]
                if version is None:
                    raise not_found(f"{table}/{key}")
                revisions = [self.ledger.delete(table, key, version)]
            else:
                if changes:  # who changed it: the outbox attributes the revision
                    self.outbox.record_intents(table, changes, party)
                revisions = self.ledger.put_many(table, rows)
                if changes and self.on_status_change is not None:
                    self.on_status_change()
        except ConflictError as e:
            if joint:
                return None
            # someone wrote in between: an explicit precondition now fails, else plan again
            if any(i.if_none_match or (i.if_match and not i.server_tag) for i in items):
                raise ApiError(412, "precondition", f"{e} (If-Match)") from e
            if any(i.expected_version is not None for i in items):
                raise ApiError(409, e.reason, str(e)) from e
            if attempt == WRITE_RETRIES - 1:
                raise ApiError(409, "busy", f"{e}; retried {WRITE_RETRIES} times") from e
            return None
        except LedgerError as e:
            raise ledger_error(e) from e
        if not changes:  # nothing for the notifier in this block
            self.outbox.mark_clean(revisions[0].sequence_no)
        out, start = [], 0
        for plan in plans:
            count = len(plan.rows)
            out.append(
                [
                    Written(r, not was)
                    for r, was in zip(revisions[start : start + count], plan.existed, strict=True)
                ]
            )
            start += count
        return out

    @staticmethod
    def _preconditions(table: str, item: WriteItem, current: Revision | None) -> None:
        what = f"{table}/{item.key}"
        version = None if current is None else current.version
        if item.expected_version is not None and item.expected_version != version:
            raise ApiError(
                409,
                "version-conflict",
                f"{what}: expected version {item.expected_version}, "
                f"the ledger has {'none' if version is None else version}",
            )
        if item.if_none_match and current is not None:
            raise ApiError(412, "precondition", f"{what}: exists (If-None-Match: *)")
        if item.if_match is not None:
            tags = _etags(item.if_match)
            ok = current is not None and ("*" in tags or etag(current) in tags)
            if not ok:
                have = "none" if current is None else etag(current)
                raise ApiError(
                    412,
                    "precondition",
                    f"{what}: If-Match {item.if_match} does not match (current ETag {have})",
                    etag=None if current is None else etag(current),
                )


def _status_changes(policy: TablePolicy, current: Any, new: Any) -> bool:
    """Does writing ``new`` over ``current`` change the table's status field?"""
    field = policy.status_field
    if field is None or not isinstance(current, Mapping) or not isinstance(new, Mapping):
        return False
    return not access.same_value(current.get(field), new.get(field))


def _stored(key: str, value: Any) -> Any:
    """The data the ledger will store for (key, value) (its ``_k`` rule; order is irrelevant
    to the Ion hash)."""
    if isinstance(value, str):
        return {KEY_FIELD: key, "_v": value}
    return {**value, KEY_FIELD: key}


def _within(revision: Revision, start: datetime | None, end: datetime | None) -> bool:
    if start is None and end is None:
        return True
    stamp = revision.value["metadata"]["txTime"]  # an Ion timestamp, in UTC
    if type(stamp) is not Timestamp:
        return False
    when = utc_datetime(stamp)
    return (start is None or when >= start) and (end is None or when <= end)


def access_check_table(party: Party, policy: TablePolicy, what: str) -> None:
    try:
        access.check_table(party, policy, what)
    except ForbiddenError as e:
        raise forbidden(e) from e
