"""Run an export audit: locate → map (verify objects, here or on workers) → reduce → report.

The map step (:func:`auditor.audit.objects.fetch_and_verify`) runs in this process
(``workers=1``), in a pool of processes on this machine (``workers=N``, spawned, so nothing is
inherited but the arguments), or on a Dask cluster (``dask="tcp://scheduler:8786"``; workers
read the objects straight from S3 or from a directory they can see). At most a few objects per
worker are in flight, and the reduce takes them in manifest order, so memory does not grow with
the export.
"""

from __future__ import annotations

import collections
import hashlib
import signal
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from multiprocessing import get_context
from typing import Any

from auditor import budget
from auditor.audit.block import BlockSink
from auditor.audit.digests import DigestInput, parse_digest
from auditor.audit.layout import Export, LayoutError, ObjectSpecs, locate
from auditor.audit.model import MALFORMED, Issue, ObjectResult, ObjectSpec
from auditor.audit.objects import fetch_and_verify
from auditor.audit.reduce import Reducer
from auditor.audit.report import AuditReport
from auditor.audit.source import Source, SourceError
from auditor.audit.state import State, Verified, load_state_key
from auditor.verify import Policy
from proofs import MalformedError, ProofError, VerificationError
from proofs.note import VerifierKey


class AuditUsageError(Exception):
    """The audit cannot start (exit 2): no export, an unusable state file, a bad option."""


class AuditRefutedError(Exception):
    """The audit cannot start because an input you trust is refuted (exit 1): the state file's
    MAC does not verify with your --state-key (it was edited)."""


class SeqSet:
    """Sequence numbers given on the command line: ``all``, or ``0,57,60-62``."""

    def __init__(self, text: str) -> None:
        self.text = text.strip()
        self.all = self.text == "all"
        self.ranges: list[tuple[int, int]] = []
        if self.all:
            return
        for part in self.text.split(","):
            first, _, last = part.strip().partition("-")
            if not (first.isascii() and first.isdigit()) or (
                last and not (last.isascii() and last.isdigit())
            ):
                raise AuditUsageError(f"expected sequence numbers like 0,57,60-62 or all: {text!r}")
            lo, hi = int(first), int(last or first)
            if lo > hi:
                raise AuditUsageError(f"{part}: the range runs backwards")
            self.ranges.append((lo, hi))

    def __contains__(self, seq: int) -> bool:
        return self.all or any(lo <= seq <= hi for lo, hi in self.ranges)


@dataclass(frozen=True, slots=True)
class Progress:
    objects_done: int
    objects_total: int
    blocks: int
    revisions: int
    elapsed: float


@dataclass(slots=True)
class AuditOptions:
    source: str
    digests: list[str] = field(default_factory=list)
    trusted_keys: list[VerifierKey] = field(default_factory=list)
    min_signatures: int = 1
    witness_keys: list[VerifierKey] = field(default_factory=list)
    min_witnesses: int = 0
    state_path: str | None = None
    state_key_path: str | None = None  # --state-key: authenticates the state file
    workers: int = 1
    dask: str | None = None
    export_id: str | None = None
    strand_id: str | None = None
    rules: str | None = None  # writer | qldb; None: writer with --trust-key, else qldb
    qldb_until: int | None = None  # QLDB rules for blocks 0..N, writer rules after (a migration)
    accept_opaque: SeqSet | None = None  # blocks without transactionInfo you accept
    accept_deleted: bool = False  # deleted revisions (QLDB rules: hash rule unknown) you accept
    save_every: float = 2.0  # seconds between progress saves to the state file
    command_line: list[str] = field(default_factory=list)  # for the report's provenance
    on_block: BlockSink | None = None  # in-process only (ledger import): see audit/objects.py


def work(
    source: Source, spec: ObjectSpec, skip_if_sha256: str | None,
    on_block: BlockSink | None = None, parse_budget: float | None = None,
) -> ObjectResult:  # fmt: skip
    """The map task: open one object and verify it as it streams (what processes and Dask
    workers run); ``parse_budget``: the caller's per-input budget (a Dask worker does not
    share the caller's environment)."""
    if parse_budget is not None:
        budget.set_seconds(parse_budget)
    return fetch_and_verify(source.open, spec, skip_if_sha256, on_block)


Job = tuple[ObjectSpec, str | None]
# a progress save that took t seconds waits SAVE_GAP * t before the next one (when that is more
# than save_every): the record holds every object's summary, so on a large export a save
# takes seconds, and saving every 2 s would leave the run little time of its own
SAVE_GAP = 4.0


def _serial(
    source: Source, jobs: Iterable[Job], on_block: BlockSink | None = None
) -> Iterator[tuple[ObjectSpec, ObjectResult]]:
    for spec, skip in jobs:
        yield spec, work(source, spec, skip, on_block)  # this process: its own budget setting


def _specs_from(export: Export, start: int) -> Iterator[ObjectSpec]:
    """The export's objects from index ``start`` on, made one at a time when it can."""
    objects = export.objects
    if isinstance(objects, ObjectSpecs):
        return objects.iter_from(start)
    return iter(objects[start:])


def _failed_task(spec: ObjectSpec, error: BaseException) -> ObjectResult:
    issue = Issue(
        MALFORMED, "worker", f"{spec.key}: the worker verifying it failed ({type(error).__name__}:"
        f" {error})", seq=spec.name_first, strand_id=spec.strand_id, object_key=spec.key,
        locator=spec.key,
    )  # fmt: skip
    return ObjectResult(spec.index, spec.key, unreadable=issue, issues=[issue], issues_total=1)


def _windowed(
    submit: Callable[[ObjectSpec, str | None], Any],
    result_of: Callable[[Any], ObjectResult],
    jobs: Iterable[Job],
    window: int,
) -> Iterator[tuple[ObjectSpec, ObjectResult]]:
    """Keep ``window`` tasks in flight and yield their results in job order."""
    pending: collections.deque[tuple[ObjectSpec, Any]] = collections.deque()
    queue = iter(jobs)
    for spec, skip in queue:
        pending.append((spec, submit(spec, skip)))
        if len(pending) >= window:
            break
    while pending:
        spec, task = pending.popleft()
        try:
            result = result_of(task)
        except Exception as e:  # noqa: BLE001 - a crashed worker is reported, not raised
            result = _failed_task(spec, e)
        yield spec, result
        nxt = next(queue, None)
        if nxt is not None:
            pending.append((nxt[0], submit(*nxt)))


def _ignore_interrupts() -> None:
    """Worker processes leave SIGINT to the parent, which stops them (no traceback each)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _pool(
    source: Source, jobs: Iterable[Job], workers: int
) -> Iterator[tuple[ObjectSpec, ObjectResult]]:
    """The jobs on ``workers`` spawned processes. When the caller stops early (an interrupt,
    SIGTERM, an error), the workers are terminated at once, not waited for: one may be deep in
    a slow object."""
    seconds = budget.seconds()
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=get_context("spawn"), initializer=_ignore_interrupts
    )
    finished = False
    try:

        def submit(spec: ObjectSpec, skip: str | None) -> Future[ObjectResult]:
            return pool.submit(work, source, spec, skip, None, seconds)

        yield from _windowed(submit, lambda f: f.result(), jobs, 2 * workers)
        finished = True
    finally:
        if not finished:
            processes = getattr(pool, "_processes", None) or {}
            for process in list(processes.values()):
                process.terminate()
        pool.shutdown(wait=True, cancel_futures=True)


def _dask(
    source: Source, jobs: Iterable[Job], address: str
) -> Iterator[tuple[ObjectSpec, ObjectResult]]:
    try:
        from distributed import Client
    except ImportError as e:  # pragma: no cover - the extra is installed in tests
        raise AuditUsageError(
            "--dask: Dask is not installed (pip install 'qldb-auditor[dask]')"
        ) from e
    try:
        client = Client(address, set_as_default=False, timeout="20s")  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError) as e:
        raise AuditUsageError(f"--dask {address}: cannot reach the scheduler ({e})") from e
    seconds = budget.seconds()
    try:
        workers = max(1, len(client.scheduler_info().get("workers", {})))

        def submit(spec: ObjectSpec, skip: str | None) -> Any:
            return client.submit(work, source, spec, skip, None, seconds, pure=False)

        yield from _windowed(submit, lambda f: f.result(), jobs, 2 * workers)
    finally:
        client.close()  # type: ignore[no-untyped-call]


def _load_digests(options: AuditOptions, export: Export) -> list[DigestInput]:
    policy = Policy(
        log_keys=tuple(options.trusted_keys), witness_keys=tuple(options.witness_keys),
        min_signatures=options.min_signatures, min_witnesses=options.min_witnesses,
    )  # fmt: skip

    def one(read: Callable[[], bytes], shown: str, supplied: bool) -> DigestInput:
        try:
            data = read()
        except (OSError, SourceError) as e:
            d = DigestInput(source=shown, kind="unknown", supplied=supplied)
            problem = e.strerror if isinstance(e, OSError) else e
            d.error = MalformedError("unreadable", shown, f"cannot read ({problem})")
            return d
        return parse_digest(data, shown, supplied=supplied, policy=policy)

    def local(path: str) -> bytes:
        with open(path, "rb") as f:
            return f.read(2 * 1024 * 1024)

    digests = [one(partial(local, path), path, True) for path in options.digests]
    for name in (export.checkpoint_name, export.digest_json_name):
        if name is not None:
            location = export.source.location(name)
            shown = export.source.shown(location)
            digests.append(one(partial(export.source.read, location), shown, False))
    return digests


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def audit(
    options: AuditOptions, on_progress: Callable[[Progress], None] | None = None
) -> AuditReport:
    """Audit one export. Raises :class:`AuditUsageError` when it cannot start; otherwise every
    finding is in the report. ``KeyboardInterrupt`` (also raised by ``on_progress``) saves the
    progress to the state file first, then propagates."""
    started_at, started = _now(), time.perf_counter()
    if options.workers < 1:
        raise AuditUsageError("--workers: must be at least 1")
    if options.rules not in (None, "writer", "qldb"):
        raise AuditUsageError("--rules: expected writer or qldb")
    if options.on_block is not None and (
        options.workers != 1 or options.dask or options.state_path is not None
    ):
        raise AuditUsageError("on_block: only for one process, without --state")
    until = options.qldb_until
    if until is not None and (isinstance(until, bool) or not isinstance(until, int) or until < 0):
        raise AuditUsageError("--qldb-until: expected a sequenceNo (0 or more)")
    if until is not None and options.rules == "qldb":
        raise AuditUsageError(
            "--qldb-until: QLDB rules up to that block and the writer's after it; --rules qldb "
            "would judge the writer's blocks by QLDB's rules: give one or the other"
        )
    try:
        source = Source.parse(options.source)
    except SourceError as e:
        raise AuditUsageError(str(e)) from e
    state = None
    if options.state_path is not None:
        try:
            key = None if options.state_key_path is None else load_state_key(options.state_key_path)
            state = State.load(options.state_path, key)
        except VerificationError as e:
            raise AuditRefutedError(str(e)) from e
        except ProofError as e:
            raise AuditUsageError(str(e)) from e
    elif options.state_key_path is not None:
        raise AuditUsageError("--state-key: needs --state")
    base = state.verified if state is not None else None
    notes: list[str] = []
    rules = options.rules or ("writer" if options.trusted_keys else "qldb")
    why = (
        "--rules"
        if options.rules
        else ("implied by --trust-key" if rules == "writer" else "the default")
    )
    if until is not None:
        rules = f"qldb-until-{until}"
        notes.append(
            f"QLDB rules for blocks 0-{until}, the writer's rules after block {until} "
            f"(--qldb-until {until})"
        )
    else:
        notes.append(f"{rules} rules ({why})")
    if base is not None and base.rules != rules:
        raise AuditUsageError(
            f"{options.state_path}: the state was verified with {base.rules} rules, this run uses "
            f"{rules} rules: use another state file"
        )
    if state is not None and not state.authenticated and base is not None:
        notes.append(
            f"{options.state_path} is not authenticated (no --state-key): every object is read "
            "and verified again"
        )
    try:
        export = locate(
            source, options.export_id, rules == "writer", options.strand_id, qldb_until=until
        )
    except LayoutError as e:
        raise AuditUsageError(str(e)) from e
    declared = export.import_boundary
    if declared is not None and until is None and options.rules != "qldb":
        where = source.shown(source.location(export.started_name or ""))
        raise AuditUsageError(
            f"{where}: importBoundary: the export says it is of a ledger migrated from QLDB, "
            f"QLDB's blocks up to block {declared}: pass --qldb-until {declared} (QLDB rules "
            f"up to it, the writer's after it) if you know that to be so, or --rules qldb; "
            "this tool never takes the boundary from the export itself"
        )
    if declared is not None and until is not None and declared != until:
        notes.append(
            f"the export's started manifest says QLDB's blocks end at block {declared}; "
            f"--qldb-until {until} is what was used"
        )
    if base is not None and base.strand_id != export.strand_id:
        raise AuditUsageError(
            f"{options.state_path}: the state is for strand {base.strand_id}, the export is "
            f"strand {export.strand_id}"
        )
    if not export.objects:
        raise AuditUsageError(f"{source.shown(export.completed_name)}: keys: no data objects")

    digests = _load_digests(options, export)
    reducer = Reducer(export.strand_id, base, export.ledger_name)
    reducer.digests = digests
    resumed_from = 0
    progress = state.progress if state is not None else None
    if (
        progress is not None
        and progress.get("exportId") == export.export_id
        and progress.get("manifestSha256") == export.completed_sha256
    ):
        try:
            reducer.restore(progress["reducer"])
            resumed_from = reducer.next_index
            notes.append(
                f"resumed an interrupted run (started {progress.get('started')}) at object "
                f"{resumed_from + 1} of {len(export.objects)}"
            )
        except (KeyError, ValueError, TypeError, ProofError):
            reducer = Reducer(export.strand_id, base, export.ledger_name)
            reducer.digests = digests
            notes.append("the state's progress record was unusable: started over")
    elif progress is not None:
        notes.append("the state's progress record is for another export: started over")
    reducer.add_digests(digests)
    for issue in export.issues:
        reducer.issue(issue)
    reducer.overflow(export.overflow)

    trusted_state = state is not None and state.authenticated

    def jobs() -> Iterator[Job]:
        """(spec, SHA-256 to skip it on) of each object left, made as the map step asks."""
        for spec in _specs_from(export, resumed_from):
            skip = None
            if (
                trusted_state
                and base is not None
                and spec.name_first is not None
                and spec.name_last is not None
            ):
                old = reducer.old.get((spec.name_first, spec.name_last))
                if old is not None and spec.name_last <= base.tip:
                    skip = old.sha256
            yield spec, skip

    if options.dask:
        results = _dask(source, jobs(), options.dask)
        mode = f"dask ({options.dask})"
    elif options.workers > 1 and len(export.objects) - resumed_from > 1:
        results = _pool(source, jobs(), options.workers)
        mode = f"{options.workers} processes"
    else:
        results = _serial(source, jobs(), options.on_block)
        mode = "1 process"

    last_save = time.monotonic()
    save_gap = options.save_every

    def save_progress() -> None:
        if state is None:
            return
        state.progress = {
            "exportId": export.export_id, "completedManifest": export.completed_name,
            "manifestSha256": export.completed_sha256, "source": options.source,
            "started": started_at, "reducer": reducer.to_json(),
        }  # fmt: skip
        state.save()

    try:
        for done, (spec, result) in enumerate(results, start=resumed_from + 1):
            reducer.add(result, spec)
            if state is not None and time.monotonic() - last_save >= save_gap:
                began = time.monotonic()
                save_progress()
                last_save = time.monotonic()
                save_gap = max(options.save_every, SAVE_GAP * (last_save - began))
            if on_progress is not None:
                on_progress(
                    Progress(done, len(export.objects), reducer.counts.blocks,
                             reducer.counts.revisions, time.perf_counter() - started)
                )  # fmt: skip
    except KeyboardInterrupt:
        save_progress()
        raise
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()
    reducer.finish()
    report = AuditReport.build(
        export=export, reducer=reducer, digests=digests, options_mode=mode,
        started_at=started_at, seconds=time.perf_counter() - started, base=base,
        resumed_from=resumed_from, notes=notes, state_path=options.state_path,
        accept_opaque=options.accept_opaque, accept_deleted=options.accept_deleted,
        state_authenticated=state is not None and state.authenticated,
        provenance=_provenance(options, digests, started_at, state),
    )  # fmt: skip
    if state is not None:
        _commit(state, report, export, reducer, base, options)
    return report


def _provenance(
    options: AuditOptions, digests: list[DigestInput], started_at: str, state: State | None
) -> dict[str, Any]:
    """Who ran what, when, on which trust inputs (SHA-256 of each, so a report can be filed)."""
    from auditor import __version__

    def sha(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()

    inputs: list[dict[str, Any]] = [
        {"kind": f"digest ({d.kind})", "source": d.source, "sha256": d.sha256,
         "supplied": d.supplied}
        for d in digests
    ]  # fmt: skip
    inputs += [{"kind": "trusted key", "source": str(k), "sha256": sha(str(k)), "supplied": True}
               for k in options.trusted_keys]  # fmt: skip
    inputs += [{"kind": "witness key", "source": str(k), "sha256": sha(str(k)), "supplied": True}
               for k in options.witness_keys]  # fmt: skip
    if state is not None:
        inputs.append({"kind": "state file (as read)", "source": state.path,
                       "sha256": state.sha256, "supplied": True})  # fmt: skip
    return {
        "tool": "qldb-audit", "version": __version__, "commandLine": options.command_line,
        "started": started_at, "finished": _now(), "rules": options.rules,
        "trustInputs": inputs,
    }  # fmt: skip


def _commit(
    state: State, report: AuditReport, export: Export, reducer: Reducer, base: Verified | None,
    options: AuditOptions,
) -> None:  # fmt: skip
    state.progress = None
    if report.exit_code not in (0, 3):
        report.state_note = f"{state.path}: not advanced (the run did not verify)"
    elif reducer.frontier is None or reducer.last_seq is None or reducer.last_hash is None:
        report.state_note = (f"{state.path}: not advanced: no digest could be computed "
                             f"({reducer.frontier_note})")  # fmt: skip
    elif base is not None and reducer.last_seq < base.tip:
        report.state_note = f"{state.path}: not advanced: the export ends before tip {base.tip}"
    else:
        tip = reducer.last_seq
        state.verified = Verified(
            ledger_name=export.ledger_name or (base.ledger_name if base else None),
            strand_id=export.strand_id, rules=export.rules,
            tip=tip, tip_hash=reducer.last_hash, digest=reducer.frontier.root(),
            frontier=reducer.frontier, attested=report.exit_code == 0, time=_now(),
            export_id=export.export_id, source=options.source,
            objects=sorted(reducer.fingerprints.values(), key=lambda f: f.first),
        )  # fmt: skip
        report.state_note = f"{state.path}: verified tip is now block {tip}"
    state.save()


__all__ = [
    "AuditOptions", "AuditRefutedError", "AuditUsageError", "Progress", "SeqSet", "audit", "work",
]  # fmt: skip
