"""The map step: one data object, read as a stream → its blocks verified, their chain hashes.

:func:`verify_object` reads the object from a file-like object (a file, an S3 body) in
chunks, so memory is flat in the object's size: it holds one block at a time (Ion through
:func:`auditor.ion.stream_items`, JSON Lines line by line), and the links of its blocks packed
(:class:`~auditor.audit.model.Links`). It never raises for bad data, so the same function
serves one process, a process pool and Dask workers (:func:`fetch_and_verify` adds the open).
Every read is bounded by the per-input budget (:mod:`auditor.budget`: the deadline, and the
reader's :class:`~auditor.ion.Limits`; objects up to :data:`MAX_OBJECT_BYTES`, at most
:data:`MAX_BLOCKS_PER_OBJECT` values). What it decides:

- **Unreadable object** (``malformed``, exit 2, the object named): nothing in it reads as a
  block of the export's format (empty, not Ion / not JSON Lines, Ion binary without its version
  marker), it ends inside a value (truncated), it is over a limit or over its time budget. The
  blocks read before are still verified.
- **Damaged block** (``failed``, exit 1, the block named, with the reader's position: line and
  column for text, byte for binary, and the field): the object reads, but one of its values
  does not parse, is not a block, has the wrong shape (writer exports), breaks the writer's
  byte layout, or fails :func:`proofs.verify_block`. The reader resynchronises after a damaged
  value — Ion text at the next line, Ion binary at the next top-level value (its header gives
  its length), JSON Lines at the next line — so the blocks after it are still verified; a
  binary header that does not frame leaves the rest of the object unread (``unreadable-tail``).

Writer rules (exports of this project's ledger): ``verify_block(writer_rules=True)`` (the header
entry covers ``blockAddress``, ``transactionId`` and ``blockTimestamp``; deleted revisions are
recomputed), the exact field sets and ``entriesHashList`` layout of docs/ledger.md, and the
exact bytes the exporter writes (Ion text: each block's canonical text on its own line; Ion
binary: the canonical encoding of the object's blocks, value by value, then its symbol table;
JSON Lines: canonical base64, decimal and timestamp texts), so that a changed byte that changes
no value is still caught.

JSON exports: the known fields get their Ion types back (hashes → blobs; ``blockTimestamp``,
``statements[].startTime``, ``metadata.txTime`` → timestamps parsed from their exact text) and
``data`` follows the JSON → Ion rule of :func:`auditor.formats.loads_json`. What JSON cannot
carry (symbols, timestamps, blobs, floats, ... inside ``data``) makes a revision fail; such
failures carry a note saying so.

The parts: :mod:`auditor.audit.stream` reads the object (its bytes, its values, the writer's
byte layout), :mod:`auditor.audit.jsonrules` gives a JSON block its Ion types back,
:mod:`auditor.audit.block` checks one block and records what it found; this module holds the
object's size and value limits, its unreadable and empty verdicts, and the open
(:func:`fetch_and_verify`).

``on_block`` (optional, in-process callers only: ``ledger import``) is called once per block
position, in order, after the block was checked: ``on_block(seq, block, verified, raw)`` with
the block's value when ``verify_block`` passed (``verified`` True), else ``None``; ``seq`` is the
stated sequenceNo, or the one its position in the object gives; ``raw`` is, for a verified
block of an Ion binary object, the bytes it was read from and their symbol table (else None).
"""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Callable

from auditor import budget, ion
from auditor.audit.block import (
    BlockSink,
    RawBlock,
    add_issue,
    is_struct,
    late_layout,
    verify_one,
)
from auditor.audit.jsonrules import JSON_TYPE_LOSS, JsonRules
from auditor.audit.model import FAILED, MALFORMED, Issue, ObjectResult, ObjectSpec
from auditor.audit.stream import (
    CHUNK,
    ReadError,
    Tap,
    UnreadableError,
    WriterBytes,
    ion_items,
    json_items,
)

MAX_OBJECT_BYTES = 512 * 1024 * 1024
MAX_BLOCKS_PER_OBJECT = 1_000_000  # values (blocks or damaged stretches) in one object


def verify_object(
    data: bytes | ion.Readable, spec: ObjectSpec, on_block: BlockSink | None = None
) -> ObjectResult:
    """Verify every block of one data object (its bytes, or a binary file-like object read to
    its end); never raises for bad data (see module doc). Raises :class:`ReadError` when the
    bytes cannot be read (the caller reports the object unreadable)."""
    fp = io.BytesIO(data) if isinstance(data, bytes | bytearray) else data
    started = time.perf_counter()
    limits = budget.limits(max_bytes=MAX_OBJECT_BYTES)
    result = ObjectResult(index=spec.index, key=spec.key)
    rules = JsonRules(strict=spec.writer_bytes) if spec.fmt == "json" else None
    tap = Tap(fp, MAX_OBJECT_BYTES, keep=limits.max_value_bytes + 4 * CHUNK if spec.writer_bytes
              and rules is None else 0)  # fmt: skip
    head = b""
    if rules is None:
        head = tap.read(4)
        tap.pending = head
    binary = spec.fmt == "ion_binary" or (spec.fmt == "ion" and head.startswith(ion.IVM))
    writer = WriterBytes(tap, "binary" if binary else "text", spec.key) if tap.keep else None
    tail: Issue | None = None
    last: list[RawBlock | None] = [None]  # the bytes of the value being checked, for on_block

    def keep_bytes(data: bytes, texts: list[str | None]) -> None:
        last[0] = (data, texts)

    blocks = damaged = 0
    first_damage = ""
    try:
        if rules is not None:
            items = json_items(tap, spec, rules.loads, limits.max_value_bytes)
        elif binary and not head.startswith(ion.IVM):
            raise UnreadableError("empty" if not head else "not-ion", "the object is empty" if not
                              head else "not Ion binary (no version marker)")  # fmt: skip
        else:
            items = ion_items(tap, spec, binary, limits, keep_bytes if on_block else None)
        for position, (value, damage, start, end) in enumerate(items):
            if position >= MAX_BLOCKS_PER_OBJECT:
                raise UnreadableError("too-many-blocks", f"more than {MAX_BLOCKS_PER_OBJECT} "
                                  "values (MAX_BLOCKS_PER_OBJECT)")  # fmt: skip
            if damage is not None:
                damaged += 1
                if not first_damage:
                    at = damage.locator.removeprefix(spec.key).lstrip(" :")
                    first_damage = f"{at}: {damage.message}" if at else damage.message
                if writer is not None:
                    writer.skip(end)
            else:
                blocks += is_struct(value)
                if writer is not None:
                    damage = writer.check(value, start, end)
                    if writer.shared:
                        writer.shared = False
                        late_layout(result, spec, position - 1, "more than one value on a line")
            raw, last[0] = last[0], None  # set by keep_bytes for this value only
            verify_one(result, spec, position, value, damage, rules, on_block, raw)
            if deadline_passed(limits):
                spent = f"over its parse budget ({budget.seconds():g} s; see --parse-budget)"
                raise UnreadableError("budget", spent)
        if writer is not None and result.counts.blocks:
            problem = writer.finish(tap.size)
            if problem is not None:
                late_layout(result, spec, 0 if writer.binary else len(result.links) - 1,
                            problem)  # fmt: skip
    except UnreadableError as e:
        tail = _unreadable(spec, e.check, e.message, kind=e.kind)
    if tail is None or tail.check not in ("too-large",):
        with contextlib.suppress(UnreadableError):
            tap.drain()
    cut = tail is not None and tail.check == "truncated"
    if tail is None and not blocks and not result.counts.blocks:
        tail = _unreadable(spec, "empty", "the object is empty")
    elif not blocks and (damaged or cut) and not binary:  # nothing in it reads as a block
        _reset(result)
        what = "JSON Lines" if rules is not None else "Ion text"
        problem = first_damage or (tail.message.removeprefix(f"{spec.key}: ") if tail else "")
        tail = _unreadable(spec, "not-json" if rules is not None else "not-ion",
                           f"not {what} ({problem})")  # fmt: skip
    if tail is not None:
        if tail.kind == MALFORMED:
            result.unreadable = tail
        add_issue(result, tail)
    if rules is not None and result.counts.unproven:
        result.notes.append(JSON_TYPE_LOSS)
    result.size = tap.size
    result.sha256 = tap.sha.hexdigest()
    result.seconds = time.perf_counter() - started
    return result


def deadline_passed(limits: ion.Limits) -> bool:
    return limits.deadline is not None and time.monotonic() > limits.deadline


def _reset(result: ObjectResult) -> None:
    fresh = ObjectResult(index=result.index, key=result.key)
    for name in ("links", "issues", "issues_total", "counts", "notes", "opaque", "notable"):
        setattr(result, name, getattr(fresh, name))


def _unreadable(spec: ObjectSpec, check: str, message: str, kind: str = MALFORMED) -> Issue:
    return Issue(
        kind=kind,
        check=check,
        message=f"{spec.key}: {message}",
        seq=spec.name_first,
        strand_id=spec.strand_id,
        object_key=spec.key,
        locator=spec.key,
    )


# -- fetching --------------------------------------------------------------------------------
Opener = Callable[[str], contextlib.AbstractContextManager[ion.Readable]]


def fetch_and_verify(
    open_object: Opener,
    spec: ObjectSpec,
    skip_if_sha256: str | None = None,
    on_block: BlockSink | None = None,
) -> ObjectResult:
    """Open the object with ``open_object`` (a context manager giving a binary file-like
    object: :meth:`auditor.audit.source.Source.open`) and verify it as it streams. A missing
    object is a failure (the manifest lists it); any other read error makes it unreadable.
    With ``skip_if_sha256``, an object whose bytes still have that SHA-256 is not parsed (an
    earlier run verified it): it is read once to hash it."""
    from auditor.audit.source import MissingObjectError, SourceError

    def unreadable(check: str, message: str) -> ObjectResult:
        issue = _unreadable(spec, check, message)
        return ObjectResult(
            index=spec.index, key=spec.key, unreadable=issue, issues=[issue], issues_total=1
        )

    try:
        if skip_if_sha256 is not None:
            with open_object(spec.location) as fp:
                tap = Tap(fp, MAX_OBJECT_BYTES)
                tap.drain()
            if tap.sha.hexdigest() == skip_if_sha256:
                return ObjectResult(
                    index=spec.index, key=spec.key, size=tap.size, sha256=skip_if_sha256,
                    skipped=True,
                )  # fmt: skip
        with open_object(spec.location) as fp:
            return verify_object(fp, spec, on_block)
    except MissingObjectError:
        first, last = spec.name_first, spec.name_last
        blocks = f" (blocks {first}-{last})" if first is not None else ""
        issue = Issue(
            kind=FAILED, check="missing-object",
            message=f"{spec.key}: listed in the completed manifest, not found{blocks}",
            seq=first, strand_id=spec.strand_id, object_key=spec.key, locator=spec.key,
        )  # fmt: skip
        return ObjectResult(
            index=spec.index, key=spec.key, unreadable=issue, issues=[issue], issues_total=1
        )
    except UnreadableError as e:
        return unreadable(e.check, e.message)
    except (SourceError, ReadError) as e:
        return unreadable("unreadable", f"cannot be read ({e})" if isinstance(e, SourceError)
                          else str(e))  # fmt: skip
