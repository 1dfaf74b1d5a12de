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

``on_block`` (optional, in-process callers only: ``ledger import``) is called once per block
position, in order, after the block was checked: ``on_block(seq, block, verified)`` with the
block's value when ``verify_block`` passed (``verified`` True), else ``None``; ``seq`` is the
stated sequenceNo, or the one its position in the object gives.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any

from auditor import budget, ion
from auditor.audit.model import (
    FAILED,
    MALFORMED,
    MAX_NOTABLE_PER_OBJECT,
    Counts,
    Issue,
    Link,
    ObjectResult,
    ObjectSpec,
    shown,
)
from auditor.formats import (
    b64decode,
    canonical_ion,
    json_decimal,
    json_int,
    reject_duplicate_keys,
    reject_json_constant,
)
from auditor.jsonout import decimal_text as _decimal_text
from auditor.jsonout import timestamp_text as _timestamp_text
from proofs import MalformedError, ProofError, VerificationError, verify_block
from proofs.ionvalue import Timestamp
from proofs.merkle import HASH_LENGTH
from proofs.qldb import verify_revision

MAX_OBJECT_BYTES = 512 * 1024 * 1024
MAX_BLOCKS_PER_OBJECT = 1_000_000  # values (blocks or damaged stretches) in one object
MAX_ISSUES_PER_OBJECT = 50
CHUNK = 1 << 16  # bytes read at a time
JSON_TYPE_LOSS = (
    "a JSON export loses Ion types (symbols, timestamps, blobs, floats, typed nulls inside data):"
    " a revision whose hash does not recompute from JSON is not proven either way"
)
_TIMESTAMP_LIMITS = ion.Limits(max_bytes=256, max_depth=1, max_values=1)

BlockSink = Callable[[int | None, Any, bool], None]  # on_block(seq, block | None, verified)

_WRITER_BLOCK = (
    "blockAddress", "transactionId", "blockTimestamp", "blockHash", "entriesHash",
    "previousBlockHash", "entriesHashList", "transactionInfo", "revisions",
)  # fmt: skip
_WRITER_REDACTION_BLOCK = (*_WRITER_BLOCK[:-1], "redactionInfo", "revisions")
_WRITER_REVISIONS = (
    frozenset({"blockAddress", "hash", "data", "metadata"}),
    frozenset({"blockAddress", "hash", "dataHash", "metadata"}),
    frozenset({"blockAddress", "hash", "metadata"}),
)


class _DamageError(Exception):
    """A value of a readable object that is not a usable block (becomes a failed issue)."""

    def __init__(self, check: str, message: str, locator: str = "") -> None:
        super().__init__(message)
        self.check = check
        self.message = message
        self.locator = locator


class _UnreadableError(Exception):
    """The rest of the object cannot be read (becomes its unreadable issue)."""

    def __init__(self, check: str, message: str, kind: str = MALFORMED) -> None:
        super().__init__(message)
        self.check = check
        self.message = message
        self.kind = kind


class ReadError(Exception):
    """Reading the object's bytes failed (the file system, the network), not its content."""


# -- reading ---------------------------------------------------------------------------------
class _Tap:
    """The object's bytes as they are read: their SHA-256 and size (over the cap: unreadable),
    and, for the writer's byte checks, the bytes read since the last :meth:`release` (at most
    ``keep`` of them: older ones are dropped, and :meth:`take` then returns None)."""

    def __init__(self, fp: ion.Readable, limit: int, keep: int = 0) -> None:
        self.fp = fp
        self.limit = limit
        self.sha = hashlib.sha256()
        self.size = 0
        self.keep = keep
        self.kept = bytearray()
        self.kept_from = 0  # input offset of kept[0]
        self.pending = b""  # read ahead by readline

    def _raw(self, n: int) -> bytes:
        try:
            data = self.fp.read(n)
        except Exception as e:  # files, S3 bodies and sockets raise many types
            raise ReadError(f"cannot be read ({type(e).__name__}: {e})") from e
        if not isinstance(data, bytes | bytearray):
            raise ReadError("cannot be read (the source returned no bytes)")
        data = bytes(data)
        self.size += len(data)
        if self.size > self.limit:
            raise _UnreadableError("too-large", f"larger than {self.limit} bytes")
        self.sha.update(data)
        if self.keep:
            self.kept += data
            if len(self.kept) > self.keep:
                drop = len(self.kept) - self.keep
                del self.kept[:drop]
                self.kept_from += drop
        return data

    def read(self, n: int = -1) -> bytes:
        if self.pending:
            data, self.pending = self.pending[: max(n, 0) or None], self.pending[max(n, 0) or 0 :]
            if n < 0:
                data, self.pending = data + self.pending, b""
            return data
        return self._raw(CHUNK if n < 0 else n)

    def readline(self, limit: int) -> tuple[bytes, bool]:
        """The next line (without its newline) and whether it ended in one; a line longer than
        ``limit`` is returned cut at ``limit`` bytes with False, the rest of it discarded."""
        parts: list[bytes] = []
        size = 0
        while True:
            buf = self.pending or self._raw(CHUNK)
            self.pending = b""
            if not buf:
                return b"".join(parts), False
            at = buf.find(b"\n")
            if at >= 0:
                self.pending = buf[at + 1 :]
                buf = buf[:at]
            if size < limit:
                parts.append(buf[: limit - size])
            size += len(buf)
            if at >= 0:
                return b"".join(parts), size <= limit

    def take(self, start: int, end: int) -> bytes | None:
        """The bytes ``[start, end)`` of the object, if still kept."""
        if start < self.kept_from or end > self.kept_from + len(self.kept):
            return None
        return bytes(self.kept[start - self.kept_from : end - self.kept_from])

    def release(self, upto: int) -> None:
        """Forget the bytes before ``upto``."""
        drop = min(max(0, upto - self.kept_from), len(self.kept))
        del self.kept[:drop]
        self.kept_from += drop

    def drain(self) -> None:
        """Read the rest (for the object's SHA-256 after a stop)."""
        self.pending = b""
        while self._raw(1 << 20):
            pass


Item = tuple[Any, "_DamageError | None", int, int]  # (value, damage, start, end)


def _ion_items(tap: _Tap, spec: ObjectSpec, binary: bool, limits: ion.Limits) -> Iterator[Item]:
    """Each top-level Ion value (or damaged stretch), resynchronising; raises _UnreadableError."""
    kind = "binary" if binary else "text"
    try:
        for value, start, end, error in ion.stream_items(
            tap, spec.key, limits=limits, chunk_size=CHUNK, binary=binary
        ):  # fmt: skip
            if error is not None:
                damage = _DamageError(
                    "not-ion", f"does not read as Ion {kind} ({error.problem})", error.locator
                )
                yield None, damage, start, end
            else:
                yield value, None, start, end
    except ion.IonError as e:
        if e.reason == "truncated":
            raise _UnreadableError(
                "truncated", f"truncated: the object ends inside a value ({e})"
            ) from None
        if e.reason == "budget":
            raise _UnreadableError("budget", f"over its parse budget ({e.problem}; {e.locator}; "
                              "see --parse-budget)") from None  # fmt: skip
        if e.reason == "limit" and "Limits.max_bytes" in e.problem:
            raise _UnreadableError("too-large", f"{e.problem} ({e.locator})") from None
        if binary and e.offset < 4:
            raise _UnreadableError("not-ion", f"not Ion binary ({e.problem})") from None
        yield None, _DamageError("not-ion", f"does not read as Ion {kind} ({e.problem})",
                                 e.locator), e.offset, tap.size  # fmt: skip
        raise _UnreadableError(
            "unreadable-tail", "the rest of the object cannot be read after a damaged value "
            f"({e})", kind=FAILED,
        ) from None  # fmt: skip


def _json_items(tap: _Tap, spec: ObjectSpec, rules: _JsonRules, limit: int) -> Iterator[Item]:
    """Each line of a JSON Lines object: a value, or damage; blank lines are skipped (a run of
    them is one layout damage under the writer's rules). Raises _UnreadableError (truncated)."""
    offset = 0
    line_no = 0
    blank_from: int | None = None
    while True:
        line, newline = tap.readline(limit)
        line_no += 1
        start, end = offset, offset + len(line)
        offset = end + newline  # the true length only when the line was not cut
        if not newline and not line:
            break
        if not line.strip():
            if blank_from is None:
                blank_from = line_no
            continue
        where = f"{spec.key} at line {line_no}"
        if blank_from is not None and spec.writer_bytes:
            yield None, _DamageError("layout", f"a blank line before this block (line "
                                     f"{blank_from})", where), start, end  # fmt: skip
        blank_from = None
        if len(line) >= limit and not newline:
            yield None, _DamageError("not-json", f"a line over {limit} bytes", where), start, end
            continue
        try:
            value = rules.loads(line)
        except (ValueError, RecursionError) as e:
            if not newline and _json_truncated(line, rules):
                raise _UnreadableError(
                    "truncated", f"truncated: the object ends inside a value ({where}: "
                    f"{_short(e)})",
                ) from None  # fmt: skip
            yield None, _DamageError("not-json", f"does not read as JSON ({_short(e)})",
                                     where), start, end  # fmt: skip
            continue
        damage = None
        if spec.writer_bytes and not newline:
            damage = _DamageError("layout", "the object does not end with a newline", where)
        yield value, damage, start, end
        if not newline:
            break
    if blank_from is not None and spec.writer_bytes:
        yield None, _DamageError("layout", f"blank lines at the end (from line {blank_from})",
                                 f"{spec.key} at line {blank_from}"), offset, offset  # fmt: skip


def _json_truncated(line: bytes, rules: _JsonRules) -> bool:
    """A last line that fails is truncated unless dropping its last byte does not help."""
    try:
        return not isinstance(rules.loads(line[:-1]), dict)
    except (ValueError, RecursionError):
        return True


def _short(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text[:160]


class _WriterBytes:
    """The writer's exact bytes, checked value by value as the object streams past."""

    def __init__(self, tap: _Tap, fmt: str, key: str) -> None:
        self.tap = tap
        self.key = key
        self.binary = fmt == "binary"
        self.encoder = ion.BinaryEncoder() if self.binary else None
        self.end = 0  # where the last value ended
        self.header: bytes | None = None
        self.first = True
        self.shared = False  # set by check: the last value is on the previous value's line

    def check(self, value: Any, start: int, end: int) -> _DamageError | None:
        tap = self.tap
        gap = tap.take(self.end, start)
        first, self.first = self.first, False
        previous_end, self.end = self.end, end
        if self.binary:
            assert self.encoder is not None
            if first:
                self.header = gap
            try:
                encoded = self.encoder.encode(value)
            except ValueError:
                encoded = b""
            got = tap.take(start, end)
            tap.release(end)
            if (not first and gap != b"") or got != encoded:
                at = start
                if got is not None and got != encoded:
                    at += next(
                        (i for i, (a, b) in enumerate(zip(encoded, got, strict=False)) if a != b),
                        min(len(encoded), len(got)),
                    )
                return _DamageError(
                    "layout", f"the object's bytes are not the writer's encoding of its blocks"
                    f" (first difference at byte {at})", f"{self.key} at byte {at}",
                )  # fmt: skip
            return None
        got = tap.take(start, end)
        tap.release(end)
        if gap is None or gap != (b"" if first else b"\n"):
            if gap is not None and b"\n" not in gap and not first:
                self.shared = True  # the previous block's line holds this value too
                return None
            if gap is not None and gap.strip() == b"" and gap.count(b"\n") > 1:
                return _DamageError("layout", "an empty line before this block")
            return _DamageError("layout", "not the writer's layout before this block "
                                f"(bytes {previous_end}-{start})")  # fmt: skip
        if got != canonical_ion(value).encode():
            return _DamageError("layout", "not the writer's canonical Ion text")
        return None

    def skip(self, end: int) -> None:
        """A damaged stretch ends at ``end`` (its bytes are not checked)."""
        self.end = end
        self.tap.release(end)

    def finish(self, size: int) -> str | None:
        """After the last value: the problem with the object's first or last bytes, if any."""
        tail = self.tap.take(self.end, size)
        if self.binary:
            assert self.encoder is not None
            if self.header is not None and self.header != self.encoder.header():
                return "its version marker and symbol table are not the writer's"
            if tail != b"":
                return "bytes after the last block"
            return None
        if tail != b"\n" and not self.first:
            return "the object does not end with a newline" if tail == b"" else (
                "not the writer's layout after the last block"
            )  # fmt: skip
        return None


class _JsonRules:
    """JSON → Ion for one export block, strict (writer) or lenient (QLDB)."""

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.timestamps: dict[str, Any] = {}

    def parse_float(self, text: str) -> Decimal:
        value = json_decimal(text)  # the one JSON -> Ion rule (auditor/formats.py)
        if self.strict and _decimal_text(value) != text:
            raise ValueError(f"{text} is not the writer's decimal text")
        return value

    def loads(self, line: bytes) -> Any:
        return json.loads(
            line,
            parse_float=self.parse_float,
            parse_int=json_int,
            object_pairs_hook=reject_duplicate_keys,
            parse_constant=reject_json_constant,
        )

    def blob(self, value: Any, where: str, empty_ok: bool = False) -> bytes:
        if not isinstance(value, str):
            raise MalformedError("hash-type", where, "expected a base64 string")
        if empty_ok and value == "":
            return b""
        return b64decode(value, where)

    def timestamp(self, value: Any, where: str) -> Any:
        if not isinstance(value, str):
            raise MalformedError("not-a-timestamp", where, "expected a timestamp string")
        cached = self.timestamps.get(value)
        if cached is not None:
            return cached
        try:
            values = ion.loads(value, where, limits=_TIMESTAMP_LIMITS)
        except ion.IonError as e:
            problem = f"not a timestamp: {value[:60]!r}"
            raise MalformedError("not-a-timestamp", where, problem) from e
        parsed = values[0] if len(values) == 1 else None
        if type(parsed) is not Timestamp:
            raise MalformedError("not-a-timestamp", where, f"not a timestamp: {value[:60]!r}")
        if self.strict and _timestamp_text(parsed) != value:
            raise MalformedError("not-a-timestamp", where, "not the writer's timestamp text")
        if len(self.timestamps) < 4096:
            self.timestamps[value] = parsed
        return parsed

    def block(self, obj: Any, where: str) -> dict[str, Any]:
        """Give a JSON block's known fields their Ion types back."""
        if not isinstance(obj, dict):
            raise _DamageError("not-a-block", "a JSON value that is not an object")
        out = dict(obj)
        for key in ("blockHash", "entriesHash"):
            if key in out:
                out[key] = self.blob(out[key], f"{where}.{key}")
        if "previousBlockHash" in out:
            out["previousBlockHash"] = self.blob(
                out["previousBlockHash"], f"{where}.previousBlockHash", empty_ok=True
            )
        if "entriesHashList" in out:
            entries = out["entriesHashList"]
            if not isinstance(entries, list):
                raise MalformedError("not-a-list", f"{where}.entriesHashList", "expected a list")
            out["entriesHashList"] = [
                self.blob(h, f"{where}.entriesHashList[{i}]") for i, h in enumerate(entries)
            ]
        if "blockTimestamp" in out:
            out["blockTimestamp"] = self.timestamp(out["blockTimestamp"], f"{where}.blockTimestamp")
        info = out.get("transactionInfo")
        if isinstance(info, dict) and isinstance(info.get("statements"), list):
            info = dict(info)
            statements = []
            for i, statement in enumerate(info["statements"]):
                at = f"{where}.transactionInfo.statements[{i}]"
                if isinstance(statement, dict):
                    statement = dict(statement)
                    if "startTime" in statement:
                        statement["startTime"] = self.timestamp(
                            statement["startTime"], f"{at}.startTime"
                        )
                    if "statementDigest" in statement:
                        statement["statementDigest"] = self.blob(
                            statement["statementDigest"], f"{at}.statementDigest"
                        )
                statements.append(statement)
            info["statements"] = statements
            out["transactionInfo"] = info
        revisions = out.get("revisions")
        if isinstance(revisions, list):
            out["revisions"] = [
                self.revision(r, f"{where}.revisions[{i}]") for i, r in enumerate(revisions)
            ]
        return out

    def revision(self, obj: Any, where: str) -> Any:
        if not isinstance(obj, dict):
            return obj
        out = dict(obj)
        for key in ("hash", "dataHash"):
            if key in out:
                out[key] = self.blob(out[key], f"{where}.{key}")
        metadata = out.get("metadata")
        if isinstance(metadata, dict) and "txTime" in metadata:
            metadata = dict(metadata)
            metadata["txTime"] = self.timestamp(metadata["txTime"], f"{where}.metadata.txTime")
            out["metadata"] = metadata
        return out


def _is_struct(value: Any) -> bool:
    return type(value) is dict


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


# -- verification ----------------------------------------------------------------------------
def _writer_shape(block: Any, where: str) -> None:
    keys = tuple(block.keys())
    expected = _WRITER_REDACTION_BLOCK if "redactionInfo" in block else _WRITER_BLOCK
    if len(keys) != len(expected) or set(keys) != set(expected):
        extra = sorted(map(str, set(keys) - set(expected))) or sorted(set(expected) - set(keys))
        raise MalformedError(
            "writer-layout", where, "its fields are not the writer's "
            f"(unexpected or missing: {', '.join(map(str, extra)) or 'a repeated field'})",
        )  # fmt: skip
    revisions = block["revisions"]
    entries = block["entriesHashList"]
    if isinstance(revisions, list):
        for i, revision in enumerate(revisions):
            fields = frozenset(revision.keys()) if isinstance(revision, Mapping) else None
            if fields not in _WRITER_REVISIONS or len(revision) != len(fields or ()):
                raise MalformedError(
                    "writer-layout", f"{where}.revisions[{i}]", "its fields are not the writer's"
                )
        if isinstance(entries, list):
            wanted = 2 + bool(revisions) + ("redactionInfo" in block)
            if len(entries) != wanted:
                raise MalformedError(
                    "writer-layout", f"{where}.entriesHashList",
                    f"the writer's blocks of this kind have {wanted} entries, got {len(entries)}",
                )  # fmt: skip


def _hash_or_none(block: Any, key: str, empty_ok: bool = False) -> bytes | None:
    value = block.get(key) if isinstance(block, Mapping) else None
    if isinstance(value, bytes | bytearray) and (
        len(value) == HASH_LENGTH or (empty_ok and not value)
    ):
        return bytes(value)
    return None


def _seq_of(block: Any) -> int | None:
    address = block.get("blockAddress") if isinstance(block, Mapping) else None
    seq = address.get("sequenceNo") if isinstance(address, Mapping) else None
    return int(seq) if isinstance(seq, int) and not isinstance(seq, bool) else None


def _recount(block: Any, where: str, writer_rules: bool, counts: Counts) -> None:
    """After a failed block: count its revisions one by one (the block check stopped early)."""
    revisions = block.get("revisions") if isinstance(block, Mapping) else None
    if not isinstance(revisions, list):
        return
    for i, revision in enumerate(revisions):
        if not isinstance(revision, Mapping):
            counts.failed += 1
            continue
        if "metadata" not in revision:
            counts.system += 1
            continue
        deleted = "data" not in revision and "dataHash" not in revision
        if deleted and not writer_rules:
            counts.deleted += 1
            continue
        try:
            verify_revision(revision, f"{where}.revisions[{i}]", hash_deleted=deleted)
        except ProofError:
            counts.failed += 1
            continue
        if deleted:
            counts.deleted += 1
            counts.deleted_recomputed += 1
        elif "dataHash" in revision:
            counts.hash_only += 1
        else:
            counts.verified += 1


def _json_revisions(block: Any, where: str, counts: Counts, writer: bool) -> None:
    """JSON exports: recompute each revision on its own; a mismatch is *not proven* (JSON could
    not carry the Ion types back), never a failure: JSON cannot show that data was changed."""
    for i, revision in enumerate(block.get("revisions") or ()):
        if not isinstance(revision, Mapping) or "metadata" not in revision:
            continue
        deleted = "data" not in revision and "dataHash" not in revision
        if deleted and not writer:
            continue  # counted as deleted by verify_block
        try:
            verify_revision(revision, f"{where}.revisions[{i}]", hash_deleted=deleted)
        except ProofError:
            if not deleted:
                counts.unproven += 1
            continue
        if deleted:
            counts.deleted_recomputed += 1
            continue
        if "dataHash" in revision:
            counts.hash_only += 1
        else:
            counts.verified += 1


def _notable(result: ObjectResult, block: Any, seq: int | None) -> None:
    """Name the redacted and deleted revisions of a block (table and document), up to a cap."""
    info = block.get("transactionInfo")
    documents = info.get("documents") if isinstance(info, Mapping) else None
    for revision in block.get("revisions") or ():
        if not isinstance(revision, Mapping) or "metadata" not in revision:
            continue
        kind = "redacted" if "dataHash" in revision else None
        if "data" not in revision and "dataHash" not in revision:
            kind = "deleted"
        if kind is None or len(result.notable) >= MAX_NOTABLE_PER_OBJECT:
            continue
        metadata = revision["metadata"]
        doc = metadata.get("id") if isinstance(metadata, Mapping) else None
        entry = documents.get(doc) if isinstance(documents, Mapping) and doc is not None else None
        table = entry.get("tableName") if isinstance(entry, Mapping) else None
        version = metadata.get("version") if isinstance(metadata, Mapping) else None
        result.notable.append({
            "kind": kind, "sequenceNo": seq, "documentId": None if doc is None else str(doc),
            "table": None if table is None else str(table),
            "version": version if isinstance(version, int) else None,
        })  # fmt: skip


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
    rules = _JsonRules(strict=spec.writer_bytes) if spec.fmt == "json" else None
    tap = _Tap(fp, MAX_OBJECT_BYTES, keep=limits.max_value_bytes + 4 * CHUNK if spec.writer_bytes
               and rules is None else 0)  # fmt: skip
    head = b""
    if rules is None:
        head = tap.read(4)
        tap.pending = head
    binary = spec.fmt == "ion_binary" or (spec.fmt == "ion" and head.startswith(ion.IVM))
    writer = _WriterBytes(tap, "binary" if binary else "text", spec.key) if tap.keep else None
    tail: Issue | None = None
    blocks = damaged = 0
    first_damage = ""
    try:
        if rules is not None:
            items = _json_items(tap, spec, rules, limits.max_value_bytes)
        elif binary and not head.startswith(ion.IVM):
            raise _UnreadableError("empty" if not head else "not-ion", "the object is empty" if not
                              head else "not Ion binary (no version marker)")  # fmt: skip
        else:
            items = _ion_items(tap, spec, binary, limits)
        for position, (value, damage, start, end) in enumerate(items):
            if position >= MAX_BLOCKS_PER_OBJECT:
                raise _UnreadableError("too-many-blocks", f"more than {MAX_BLOCKS_PER_OBJECT} "
                                  "values (MAX_BLOCKS_PER_OBJECT)")  # fmt: skip
            if damage is not None:
                damaged += 1
                if not first_damage:
                    at = damage.locator.removeprefix(spec.key).lstrip(" :")
                    first_damage = f"{at}: {damage.message}" if at else damage.message
                if writer is not None:
                    writer.skip(end)
            else:
                blocks += _is_struct(value)
                if writer is not None:
                    damage = writer.check(value, start, end)
                    if writer.shared:
                        writer.shared = False
                        _late_layout(result, spec, position - 1, "more than one value on a line")
            _verify_one(result, spec, position, value, damage, rules, on_block)
            if deadline_passed(limits):
                spent = f"over its parse budget ({budget.seconds():g} s; see --parse-budget)"
                raise _UnreadableError("budget", spent)
        if writer is not None and result.counts.blocks:
            problem = writer.finish(tap.size)
            if problem is not None:
                _late_layout(result, spec, 0 if writer.binary else len(result.links) - 1,
                             problem)  # fmt: skip
    except _UnreadableError as e:
        tail = _unreadable(spec, e.check, e.message, kind=e.kind)
    if tail is None or tail.check not in ("too-large",):
        with contextlib.suppress(_UnreadableError):
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
        _add(result, tail)
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


def _late_layout(result: ObjectResult, spec: ObjectSpec, position: int, problem: str) -> None:
    """The writer's byte layout fails at the object's first or last bytes, found once the
    blocks were verified: the block at ``position`` fails (exit 1)."""
    link = result.links[position]
    seq = link.seq
    _block_issue(result, spec, FAILED, "layout", problem, seq, None, position)
    if link.verified:
        result.links[position] = replace(link, verified=False)
        result.counts.blocks_verified -= 1
        result.counts.blocks_failed += 1


def _add(result: ObjectResult, issue: Issue) -> None:
    result.issues_total += 1
    if len(result.issues) < MAX_ISSUES_PER_OBJECT:
        result.issues.append(issue)


def _verify_one(
    result: ObjectResult,
    spec: ObjectSpec,
    position: int,
    value: Any,
    damage: _DamageError | None,
    rules: _JsonRules | None,
    on_block: BlockSink | None = None,
) -> None:
    counts = result.counts
    counts.blocks += 1
    expected_seq = None if spec.name_first is None else spec.name_first + position
    block = value
    where = f"{spec.key}: block"
    seq = _seq_of(block) if block is not None else None
    first, last = spec.name_first, spec.name_last
    if seq is not None and first is not None and last is not None and not first <= seq <= last:
        seq = expected_seq  # a sequenceNo outside the object's name: name it by position
    writer = spec.writer_rules(seq if seq is not None else expected_seq)
    try:
        if damage is not None:
            raise damage
        if not _is_struct(block):
            raise _DamageError("not-a-block", "a value that is not a block struct")
        if rules is not None:
            block = rules.block(block, f"{where} {seq if seq is not None else expected_seq}")
        if writer:
            _writer_shape(block, f"{where} {seq}")
        checked = verify_block(block, where, writer_rules=writer, recompute=rules is None)
        if checked.strand_id is not None and checked.strand_id != spec.strand_id:
            raise VerificationError(
                "strand", f"{where} {seq}.blockAddress.strandId",
                "is not the export's strand (an export holds one strand)",
                expected=spec.strand_id, actual=checked.strand_id,
            )  # fmt: skip
    except _DamageError as e:
        _block_issue(
            result, spec, FAILED, e.check, e.message, seq, expected_seq, position,
            locator=e.locator,
        )  # fmt: skip
        _link(result, position, seq, block, verified=False)
        counts.blocks_failed += 1
        if on_block is not None:
            on_block(seq if seq is not None else expected_seq, None, False)
        return
    except VerificationError as e:
        _block_issue(
            result, spec, FAILED, e.reason, e.problem, seq, expected_seq, position,
            locator=e.locator, expected=shown(e.expected), actual=shown(e.actual),
        )  # fmt: skip
        _recount(block, where, writer, counts)
        _link(result, position, seq, block, verified=False)
        counts.blocks_failed += 1
        if on_block is not None:
            on_block(seq if seq is not None else expected_seq, None, False)
        return
    except Exception as e:  # noqa: BLE001 - a shape no check foresaw: reported, never raised
        kind = FAILED if writer else MALFORMED
        problem = e.problem if isinstance(e, MalformedError) else f"cannot be checked ({e!r})"
        reason = e.reason if isinstance(e, MalformedError) else "unexpected-shape"
        locator = e.locator if isinstance(e, MalformedError) else ""
        _block_issue(
            result, spec, kind, reason, problem, seq, expected_seq, position, locator=locator
        )
        _recount(block, where, writer, counts)
        _link(result, position, seq, block, verified=False)
        counts.blocks_failed += 1
        if on_block is not None:
            on_block(seq if seq is not None else expected_seq, None, False)
        return
    counts.blocks_verified += 1
    if rules is not None:
        _json_revisions(block, where, counts, writer)
    counts.verified += checked.revisions_verified
    counts.hash_only += checked.revisions_redacted
    counts.deleted += checked.revisions_deleted
    counts.system += checked.revisions_system
    if writer and rules is None:
        counts.deleted_recomputed += checked.revisions_deleted
    elif not writer and not checked.has_transaction_info and checked.sequence_no is not None:
        result.opaque.append(checked.sequence_no)
    if checked.revisions_deleted or checked.revisions_redacted:
        _notable(result, block, checked.sequence_no)
    result.links.append(
        Link(position, checked.sequence_no, checked.block_hash, _previous(block), verified=True)
    )
    if on_block is not None:
        on_block(checked.sequence_no, block, True)


def _previous(block: Any) -> bytes | None:
    """The block's previousBlockHash as the chain check uses it: 32 bytes, or (only at
    sequenceNo 0) empty; ``None`` when it is anything else (the chain check then fails)."""
    if not isinstance(block, Mapping):
        return None
    value = block.get("previousBlockHash")
    genesis = _seq_of(block) == 0
    if value is None and genesis and "previousBlockHash" not in block:
        return b""
    if isinstance(value, bytes | bytearray) and (
        len(value) == HASH_LENGTH or (genesis and not value)
    ):
        return bytes(value)
    return None


def _link(result: ObjectResult, position: int, seq: int | None, block: Any, verified: bool) -> None:
    block_hash = _hash_or_none(block, "blockHash")
    result.links.append(Link(position, seq, block_hash, _previous(block), verified))


def _block_issue(
    result: ObjectResult,
    spec: ObjectSpec,
    kind: str,
    check: str,
    message: str,
    seq: int | None,
    expected_seq: int | None,
    position: int,
    *,
    locator: str = "",
    expected: str | None = None,
    actual: str | None = None,
    note: str = "",
) -> None:
    named = seq if seq is not None else expected_seq
    where = f"{spec.key}: block {named}" if named is not None else f"{spec.key}: #{position}"
    _add(
        result,
        Issue(
            kind=kind,
            check=check,
            message=f"{where}: {message}" if not locator else f"{locator}: {message}",
            seq=named,
            strand_id=spec.strand_id,
            object_key=spec.key,
            locator=locator or where,
            expected=expected,
            actual=actual,
            note=note,
        ),
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
                tap = _Tap(fp, MAX_OBJECT_BYTES)
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
    except _UnreadableError as e:
        return unreadable(e.check, e.message)
    except (SourceError, ReadError) as e:
        return unreadable("unreadable", f"cannot be read ({e})" if isinstance(e, SourceError)
                          else str(e))  # fmt: skip
