"""What the routes do, over the ledger: blocking functions (bounded reads run on the event
loop, other reads in worker threads, writes on the writer thread).

Every function takes the calling :class:`Party` and enforces its role (auditor/server/access.py)
before it reveals or writes anything. Errors are :class:`ApiError` (an HTTP status, a
machine-readable ``reason`` and a message in the project's one style).

Writes run on ONE thread per process (:class:`GroupWriter`), and the processes take turns
through an OS file lock (``outbox.WriteLock``). Under the lock a write reads the current
version, checks preconditions and the caller's rights against it, records who is changing a
status (the notification intent), then commits with ``expected_version`` = the version it
checked, so a writer outside the server that got in between makes the ledger refuse
(ConflictError) instead of silently winning. Queued writes of one party to one table are
committed together (group commit: one block, one fsync).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from amazon.ion import simpleion

from auditor import formats, verify
from auditor.bundle import receipt_bundle_for as bundle_for_revision
from auditor.formats import BlockAddress, Digest
from auditor.ledger import ConflictError, Ledger, LedgerError, NotFoundError, Revision
from auditor.server import access
from auditor.server.access import KEY_FIELD, ForbiddenError
from auditor.server.config import Party, ServerConfig, TablePolicy
from auditor.server.outbox import Outbox
from auditor.server.schemas import Problem, SchemaViolationError, Validator
from auditor.verdict import Verdict, VerdictBuilder
from auditor.verify import Policy, TrustedDigest
from proofs import MalformedError, VerificationError
from proofs.note import parse_vkey

MAX_DEPTH = 64
WRITE_RETRIES = 3


class ApiError(Exception):
    """An HTTP error answer: ``status``, ``reason`` (machine-readable), message, extra fields."""

    def __init__(
        self,
        status: int,
        reason: str,
        message: str,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.headers = dict(headers or {})
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"message": self.message, "reason": self.reason, **self.extra}


def forbidden(error: ForbiddenError) -> ApiError:
    return ApiError(403, error.reason, str(error))


_LEDGER_STATUS = {
    "no-table": 404,
    "no-key": 404,
    "no-revision": 404,
    "no-block": 404,
    "no-tip": 404,
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
    if isinstance(error, ConflictError):
        return ApiError(409, error.reason, str(error))
    return ApiError(_LEDGER_STATUS.get(error.reason, 400), error.reason, str(error))


def check_depth(value: Any, limit: int = MAX_DEPTH) -> None:
    """Refuse JSON nested deeper than ``limit`` (iterative; before anything recurses)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            raise ApiError(400, "too-deep", f"request body: nested deeper than {limit} levels")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


def parse_json(body: bytes, what: str = "request body") -> Any:
    """The JSON → Ion rule (exact decimals); 400 on anything else."""
    if not body.strip():
        raise ApiError(400, "empty", f"{what}: empty")
    try:
        value = formats.loads_json(body.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ApiError(400, "not-utf8", f"{what}: not UTF-8") from e
    except RecursionError as e:
        raise ApiError(400, "too-deep", f"{what}: nested too deeply") from e
    except ValueError as e:
        raise ApiError(400, "not-json", f"{what}: not valid JSON ({e})") from e
    check_depth(value)
    return value


def etag(revision: Revision) -> str:
    return f'"{revision.document_id}.{revision.version}"'


def _etags(header: str) -> list[str]:
    return [t.strip() for t in header.split(",") if t.strip()]


def value_of(data: Any) -> Any:
    """A document's value as the KVS library gives it back: the data without ``_k``, or the
    string of a ``{_k, _v}`` document."""
    if isinstance(data, Mapping):
        if set(data) == {KEY_FIELD, "_v"}:
            return data["_v"]
        return {k: v for k, v in data.items() if k != KEY_FIELD}
    return data


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
        raise ApiError(400, "time", f"{name}: not an ISO-8601 time ({text!r})") from e
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
        self.vkey = parse_vkey(ledger.vkey)
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

    def _owner_data(self, latest: Revision) -> Any:
        """The data deciding who owns a document: its latest revision that has data."""
        if latest.data is not None:
            return latest.data
        for revision in reversed(self.ledger.history(latest.table, latest.key)):
            if revision.document_id == latest.document_id and revision.data is not None:
                return revision.data
        return None

    def _check_read(self, party: Party, policy: TablePolicy, latest: Revision, what: str) -> None:
        if party.role == "dealer":
            try:
                access.check_read(party, policy, self._owner_data(latest), what)
            except ForbiddenError as e:
                raise forbidden(e) from e

    def document(self, party: Party, table: str, key: str) -> Revision:
        """The current revision; 404 if absent or deleted, 403 if not the caller's."""
        policy = self.policy(table)
        latest = self.latest(table, key)
        if latest is None or latest.data is None:
            raise ApiError(404, "no-key", f"{table}/{key}: no such document")
        self._check_read(party, policy, latest, f"{table}/{key}")
        return latest

    def values(self, party: Party, table: str, keys: Sequence[str]) -> list[Any] | None:
        """The sample's GET /: values in key order, or None if any key is missing."""
        policy = self.policy(table)
        out = []
        for key in keys:
            latest = self.latest(table, key)
            if latest is None or latest.data is None:
                return None
            self._check_read(party, policy, latest, f"{table}/{key}")
            out.append(value_of(latest.data))
        return out

    def history(
        self, party: Party, table: str, key: str, since: str | None, until: str | None
    ) -> list[Revision]:
        """Every revision of the key, oldest first, within [since, until] (404: no such key)."""
        policy = self.policy(table)
        start, end = parse_time(since, "from"), parse_time(until, "to")
        if start is not None and end is not None and start > end:
            raise ApiError(400, "window", f"from {since} is after to {until}")
        latest = self.latest(table, key)
        if latest is None:
            raise ApiError(404, "no-key", f"{table}/{key}: no such document")
        self._check_read(party, policy, latest, f"{table}/{key}")
        revisions = self.ledger.history(table, key)
        return [r for r in revisions if _within(r, start, end)]

    def revision(self, party: Party, table: str, key: str, version: int) -> Revision:
        policy = self.policy(table)
        latest = self.latest(table, key)
        if latest is None:
            raise ApiError(404, "no-key", f"{table}/{key}: no such document")
        self._check_read(party, policy, latest, f"{table}/{key}")
        try:
            return self.ledger.revision(table, key, version)
        except NotFoundError as e:
            raise ApiError(404, e.reason, str(e)) from e

    def by_document(self, party: Party, document_id: str, tx_id: str) -> Revision:
        try:
            revision = self.ledger.revision_by_doc_and_tx(document_id, tx_id)
        except NotFoundError as e:
            raise ApiError(404, e.reason, str(e)) from e
        policy = self.config.policy(revision.table)
        latest = self.latest(revision.table, revision.key)
        if party.role == "dealer" and latest is not None:
            if latest.document_id != revision.document_id:  # the key was re-created since
                latest = revision
            self._check_read(party, policy, latest, f"{revision.table}/{revision.key}")
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
            self._preconditions(job.table, item, current)
            try:
                access.check_write(
                    job.party,
                    policy,
                    None if current is None else current.data,
                    item.value,
                    f"{job.table}/{item.key}",
                )
            except ForbiddenError as e:
                raise forbidden(e) from e
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
                    raise ApiError(404, "no-key", f"{table}/{key}: no such document")
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

    # -- verification ----------------------------------------------------------------------
    def attest(self, digest: Digest, where: str) -> Digest:
        """``digest`` if it is the one this ledger has at its tip, else VerificationError."""
        tip = digest.tip
        if tip.strand_id != self.ledger.strand_id:
            raise VerificationError(
                "digest-ledger",
                f"{where}.DigestTipAddress.strandId",
                "is not this ledger's strand",
                expected=self.ledger.strand_id,
                actual=tip.strand_id,
            )
        current = self.ledger.tip()
        if tip.sequence_no > current:
            raise VerificationError(
                "digest-tip",
                f"{where}.DigestTipAddress.sequenceNo",
                "is beyond this ledger's tip",
                expected=f"<= {current}",
                actual=tip.sequence_no,
            )
        ours = self.ledger.digest(tip.sequence_no).digest
        if ours != digest.digest:
            raise VerificationError(
                "digest-not-ours",
                f"{where}.Digest",
                f"is not this ledger's digest at tip {tip.sequence_no}",
                expected=ours,
                actual=digest.digest,
            )
        return Digest(ours, tip)

    def stored_revision(
        self, address: BlockAddress | None, document_id: str | None, where: str
    ) -> Revision:
        """The ledger's revision of ``document_id`` in the block at ``address``."""
        if address is None or document_id is None:
            raise MalformedError("missing-field", where, "needs BlockAddress and DocumentId")
        if address.strand_id != self.ledger.strand_id:
            raise VerificationError(
                "ledger-revision",
                f"{where}: BlockAddress.strandId",
                "is not this ledger's strand",
                expected=self.ledger.strand_id,
                actual=address.strand_id,
            )
        try:
            tx_id = str(self.ledger.block(address.sequence_no)["transactionId"])
            return self.ledger.revision_by_doc_and_tx(document_id, tx_id)
        except NotFoundError as e:
            raise VerificationError(
                "ledger-revision",
                f"{where}: DocumentId",
                f"this ledger has no revision of it in block {address}",
                expected=None,
                actual=document_id,
            ) from e

    def check_receipt(self, v: VerdictBuilder, receipt: formats.Receipt, where: str) -> Revision:
        """Offline proof check with our engine, the digest attested by this ledger, and the
        receipt bound to the revision this ledger stores. Raises ProofError."""
        if receipt.digest is None:
            raise MalformedError("missing-digest", where, "has no LedgerDigest")
        ours = self.attest(receipt.digest, f"{where}: LedgerDigest")
        anchor = TrustedDigest(ours, "this ledger", "", f"this ledger's digest at tip {ours.tip}")
        verify.check_receipt(v, receipt, where, Policy(digest=anchor))
        stored = self.stored_revision(receipt.block_address, receipt.document_id, where)
        if stored.hash != receipt.revision_hash:
            raise VerificationError(
                "ledger-revision",
                f"{where}: RevisionHash",
                "is not the hash of the revision this ledger stores",
                expected=stored.hash,
                actual=receipt.revision_hash,
            )
        v.proven(
            "ledger-revision", f"{where}: RevisionHash",
            f"this ledger stores the revision ({stored.table}/{stored.key} v{stored.version})",
            expected=stored.hash, actual=receipt.revision_hash,
        )  # fmt: skip
        return stored

    def verify_report(self, kind: str, body: bytes) -> list[Verdict]:
        """The /v1/verify routes: parse the artefact(s) and check each (one engine)."""
        policy = Policy(log_keys=(self.vkey,))
        return verify.check_bytes(body, "request body", kind, policy, self._verify_one(kind))

    def _verify_one(self, kind: str) -> verify.Checker:
        def check(v: VerdictBuilder, artefact: Any, where: str, policy: Policy) -> None:
            if kind == "receipt" and isinstance(artefact, formats.Receipt):
                self.check_receipt(v, artefact, where)
            elif kind == "receipt" and isinstance(artefact, formats.RevisionInput):
                address = _address(artefact.revision)
                anchor = None
                if address is not None and address.strand_id == self.ledger.strand_id:
                    signed = self.ledger.digest()
                    ours = Digest(signed.digest, BlockAddress(signed.strand_id, signed.tip))
                    anchor = TrustedDigest(
                        ours, "this ledger", "", f"this ledger's digest at tip {ours.tip}"
                    )
                verify.check_receipt(v, artefact, where, Policy(digest=anchor))
            elif kind == "bundle":
                verify.check_bundle(v, artefact, where, policy)
                assert isinstance(artefact, formats.Bundle)
                self.attest(artefact.digest, f"{where}: digest")
                v.proven("digest-attested", f"{where}: digest", "the digest is this ledger's")
            else:
                verify.CHECKERS[kind](v, artefact, where, policy)

        return check


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
    when: datetime = revision.value["metadata"]["txTime"]  # an Ion timestamp, in UTC
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (start is None or when >= start) and (end is None or when <= end)


def _address(revision: Any) -> BlockAddress | None:
    value = revision.get("blockAddress") if isinstance(revision, Mapping) else None
    if not isinstance(value, Mapping):
        return None
    strand, seq = value.get("strandId"), value.get("sequenceNo")
    if not isinstance(strand, str) or isinstance(seq, bool) or not isinstance(seq, int):
        return None
    return BlockAddress(str(strand), int(seq))


def ion_address(text: str, where: str) -> BlockAddress:
    """``{strandId, sequenceNo}`` from Ion text (a receipt's ``…Address.IonText``)."""
    try:
        value = simpleion.loads(text)
    except Exception as e:  # amazon.ion raises many types
        raise MalformedError("not-ion", where, "not valid Ion") from e
    address = _address({"blockAddress": value})
    if address is None or address.sequence_no < 0:
        raise MalformedError("block-address", where, "expected {strandId, sequenceNo}")
    return address
