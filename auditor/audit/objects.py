"""The map step: one data object's bytes → its blocks verified, their chain hashes, counts.

:func:`verify_object` is pure (bytes in, :class:`ObjectResult` out): it never raises for bad
data, so the same function serves one process, a process pool and Dask workers
(:func:`fetch_and_verify` adds the read). What it decides:

- **Unreadable object** (``malformed``, exit 2, the object named): nothing in it reads as a
  block of the export's format (empty, not Ion / not JSON Lines, Ion binary without its version
  marker), or it ends inside a value (truncated). The blocks read before a truncation are still
  verified.
- **Damaged block** (``failed``, exit 1, the block named): the object reads, but one of its
  values does not parse, is not a block, has the wrong shape (writer exports), breaks the
  writer's byte layout, or fails :func:`proofs.verify_block`. Text objects are located line by
  line (one block per line); Ion binary objects value by value.

Writer rules (exports of this project's ledger): ``verify_block(writer_rules=True)`` (the header
entry covers ``blockAddress``, ``transactionId`` and ``blockTimestamp``; deleted revisions are
recomputed), the exact field sets and ``entriesHashList`` layout of docs/ledger.md, and the
exact bytes the exporter writes (Ion text: each block's canonical text on its own line; Ion
binary: the canonical encoding of the object's blocks; JSON Lines: canonical base64, decimal
and timestamp texts), so that a changed byte that changes no value is still caught.

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

import gc
import hashlib
import io
import json
import time
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from typing import Any

from amazon.ion import simpleion

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
from auditor.ionframe import ION_BINARY_MARKER, check_framing, varuint
from auditor.jsonout import decimal_text as _decimal_text
from auditor.jsonout import timestamp_text as _timestamp_text
from proofs import MalformedError, ProofError, VerificationError, verify_block
from proofs.merkle import HASH_LENGTH
from proofs.qldb import verify_revision

MAX_OBJECT_BYTES = 512 * 1024 * 1024
MAX_ISSUES_PER_OBJECT = 50
JSON_TYPE_LOSS = (
    "a JSON export loses Ion types (symbols, timestamps, blobs, floats, typed nulls inside data):"
    " a revision whose hash does not recompute from JSON is not proven either way"
)

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

    def __init__(self, check: str, message: str) -> None:
        super().__init__(message)
        self.check = check
        self.message = message


# -- parsing ---------------------------------------------------------------------------------
# Each parser yields (value | None, damage | None) per block position, and may end with an
# unreadable issue for the object (returned through the `tail` list).


def _short(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text[:160]


def _lines(data: bytes) -> list[bytes]:
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return lines


def _ion_text_line(line: bytes) -> list[Any]:
    return list(simpleion.loads(line, single_value=False))


def _parse_ion_text(
    data: bytes, spec: ObjectSpec, tail: list[Issue]
) -> Iterator[tuple[Any, _DamageError | None]]:
    if not data.strip():
        tail.append(_unreadable(spec, "empty", "the object is empty"))
        return
    try:
        values = simpleion.loads(data, single_value=False)
    except Exception:  # noqa: BLE001 - amazon.ion raises many types; located line by line below
        values = None
    if values is not None and spec.writer_bytes:
        expected = "".join(canonical_ion(v) + "\n" for v in values).encode()
        if expected != data:
            values = None  # locate the difference line by line
    if values is not None and (values or not data.strip()):
        for value in values:
            yield value, None
        return
    yield from _ion_text_by_line(data, spec, tail)


def _ion_text_by_line(
    data: bytes, spec: ObjectSpec, tail: list[Issue]
) -> Iterator[tuple[Any, _DamageError | None]]:
    lines = _lines(data)
    parsed: list[tuple[list[Any] | None, str]] = []
    for line in lines:
        try:
            parsed.append((_ion_text_line(line), ""))
        except Exception as e:  # noqa: BLE001
            parsed.append((None, _short(e)))
    if not any(values and any(_is_struct(v) for v in values) for values, _ in parsed):
        problem = next((error for _, error in parsed if error), "no block in it")
        tail.append(_unreadable(spec, "not-ion", f"not Ion text ({problem})"))
        return
    ends_in_newline = data.endswith(b"\n")
    for i, ((values, error), line) in enumerate(zip(parsed, lines, strict=True)):
        last = i == len(lines) - 1
        if values is None:
            if last and not ends_in_newline and not _parses_without_last_byte(line):
                tail.append(
                    _unreadable(spec, "truncated", f"truncated: the object ends inside a value"
                                f" ({error})")
                )  # fmt: skip
                return
            yield None, _DamageError("not-ion", f"does not read as Ion text ({error})")
            continue
        if not values:
            yield None, _DamageError("layout", "an empty line where a block should be")
            continue
        for j, value in enumerate(values):
            damage = None
            if spec.writer_bytes:
                if len(values) > 1 and j == 0:
                    damage = _DamageError("layout", f"{len(values)} values on one line")
                elif len(values) == 1 and canonical_ion(value).encode() != line:
                    damage = _DamageError("layout", "not the writer's canonical Ion text")
                elif last and j == len(values) - 1 and not ends_in_newline:
                    damage = _DamageError("layout", "the object does not end with a newline")
            yield value, damage


def _parses_without_last_byte(line: bytes) -> bool:
    try:
        return len(_ion_text_line(line[:-1])) == 1
    except Exception:  # noqa: BLE001
        return False


def _parse_ion_binary(
    data: bytes, spec: ObjectSpec, tail: list[Issue]
) -> Iterator[tuple[Any, _DamageError | None]]:
    if not data:
        tail.append(_unreadable(spec, "empty", "the object is empty"))
        return
    if not data.startswith(ION_BINARY_MARKER):
        tail.append(_unreadable(spec, "not-ion", "not Ion binary (no version marker)"))
        return
    problem = check_framing(data)
    if problem is not None:
        yield from _binary_damage(data, spec, tail, problem)
        return
    try:
        values = simpleion.loads(data, single_value=False)
    except Exception:  # noqa: BLE001
        values = None
    if values is not None:
        layout = None
        if spec.writer_bytes:
            encoded = simpleion.dumps(values, binary=True, sequence_as_stream=True)
            if encoded != data:
                at = next(
                    (i for i, (a, b) in enumerate(zip(encoded, data, strict=False)) if a != b),
                    min(len(encoded), len(data)),
                )
                layout = _DamageError(
                    "layout", f"the object's bytes are not the writer's encoding of its blocks"
                    f" (first difference at byte {at})",
                )  # fmt: skip
        for i, value in enumerate(values):
            yield value, layout if i == 0 else None
        return
    # Locate the damage: read value by value until the reader fails.
    reader = simpleion.load(io.BytesIO(data), single_value=False, parse_eagerly=False)
    while True:
        try:
            value = next(reader)
        except StopIteration:
            return
        except Exception as e:  # noqa: BLE001
            error = _short(e)
            if "EOF" in error:
                tail.append(
                    _unreadable(spec, "truncated", f"truncated: the object ends inside a value"
                                f" ({error})")
                )  # fmt: skip
            else:
                yield None, _DamageError("not-ion", f"does not read as Ion binary ({error})")
                tail.append(
                    _unreadable(spec, "unreadable-tail", "the rest of the object cannot be read"
                                " after a damaged value", kind=FAILED)
                )  # fmt: skip
            return
        yield value, None


def _top_level_spans(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each top-level value after the version marker, as far as they frame."""
    spans: list[tuple[int, int]] = []
    pos = len(ION_BINARY_MARKER)
    while pos < len(data):
        start = pos
        try:
            descriptor = data[pos]
            pos += 1
            code, low = descriptor >> 4, descriptor & 0x0F
            if code == 1 or low == 15:
                length = 0
            elif low == 14 or (code == 13 and low == 1):
                length, pos = varuint(data, pos, len(data))
            else:
                length = low
        except (ValueError, IndexError):
            break
        pos += length
        spans.append((start, pos))
    return spans


def _binary_damage(
    data: bytes, spec: ObjectSpec, tail: list[Issue], problem: str
) -> Iterator[tuple[Any, _DamageError | None]]:
    """A binary object whose framing is broken: read the blocks before the damage, name the
    damaged one (or call the object truncated when its last value runs past the end)."""
    spans = _top_level_spans(data)
    low, high = 0, len(spans)  # the longest run of spans that frames (the first is the LST)
    while low < high:
        middle = (low + high + 1) // 2
        if check_framing(data[: spans[middle - 1][1]]) is None:
            low = middle
        else:
            high = middle - 1
    good: list[Any] = []
    if low > 0:
        try:
            good = list(simpleion.loads(data[: spans[low - 1][1]], single_value=False))
        except Exception:  # noqa: BLE001 - the damage is then in the symbol table
            good = []
    for value in good:
        yield value, None
    if spans and spans[-1][1] > len(data) and low == len(spans) - 1:
        tail.append(_unreadable(spec, "truncated", f"truncated: the object ends inside a value"
                                f" ({problem})"))  # fmt: skip
        return
    yield None, _DamageError("not-ion", f"does not read as Ion binary ({problem})")
    tail.append(
        _unreadable(spec, "unreadable-tail", "the rest of the object cannot be read after a"
                    " damaged value", kind=FAILED)
    )  # fmt: skip


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
            parsed = simpleion.loads(value)
        except Exception as e:
            raise MalformedError("not-a-timestamp", where, f"not a timestamp: {value!r}") from e
        if type(parsed).__name__ != "IonPyTimestamp":
            raise MalformedError("not-a-timestamp", where, f"not a timestamp: {value!r}")
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


def _parse_json(
    data: bytes, spec: ObjectSpec, tail: list[Issue], rules: _JsonRules
) -> Iterator[tuple[Any, _DamageError | None]]:
    if not data.strip():
        tail.append(_unreadable(spec, "empty", "the object is empty"))
        return
    lines = _lines(data)
    parsed: list[tuple[Any, str]] = []
    for line in lines:
        try:
            parsed.append((rules.loads(line), ""))
        except (ValueError, RecursionError) as e:
            parsed.append((None, _short(e)))
    if not any(isinstance(value, dict) for value, _ in parsed):
        problem = next((error for _, error in parsed if error), "no JSON object in it")
        tail.append(_unreadable(spec, "not-json", f"not JSON Lines ({problem})"))
        return
    ends_in_newline = data.endswith(b"\n")
    for i, ((value, error), line) in enumerate(zip(parsed, lines, strict=True)):
        last = i == len(lines) - 1
        if error:
            if last and not ends_in_newline and not _json_without_last_byte(line, rules):
                tail.append(
                    _unreadable(spec, "truncated", f"truncated: the object ends inside a value"
                                f" ({error})")
                )  # fmt: skip
                return
            yield None, _DamageError("not-json", f"does not read as JSON ({error})")
            continue
        damage = None
        if spec.writer_bytes and last and not ends_in_newline:
            damage = _DamageError("layout", "the object does not end with a newline")
        yield value, damage


def _json_without_last_byte(line: bytes, rules: _JsonRules) -> bool:
    try:
        return isinstance(rules.loads(line[:-1]), dict)
    except (ValueError, RecursionError):
        return False


def _is_struct(value: Any) -> bool:
    return isinstance(value, Mapping)


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


def verify_object(data: bytes, spec: ObjectSpec, on_block: BlockSink | None = None) -> ObjectResult:
    """Verify every block of one data object; never raises for bad data (see module doc)."""
    started = time.perf_counter()
    result = ObjectResult(
        index=spec.index, key=spec.key, size=len(data), sha256=hashlib.sha256(data).hexdigest()
    )
    tail: list[Issue] = []
    rules = _JsonRules(strict=spec.writer_bytes) if spec.fmt == "json" else None
    binary = spec.fmt == "ion_binary" or (spec.fmt == "ion" and data.startswith(ION_BINARY_MARKER))
    if binary:
        values = _parse_ion_binary(data, spec, tail)
    elif rules is not None:
        values = _parse_json(data, spec, tail, rules)
    else:
        values = _parse_ion_text(data, spec, tail)

    enabled = gc.isenabled()
    gc.disable()  # amazon.ion builds many small objects; the collector only slows it down
    try:
        for position, (value, damage) in enumerate(values):
            _verify_one(result, spec, position, value, damage, rules, on_block)
    finally:
        if enabled:
            gc.enable()
    for issue in tail:
        if issue.kind == MALFORMED:
            result.unreadable = issue
        _add(result, issue)
    if rules is not None and result.counts.unproven:
        result.notes.append(JSON_TYPE_LOSS)
    result.seconds = time.perf_counter() - started
    return result


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
        _block_issue(result, spec, FAILED, e.check, e.message, seq, expected_seq, position)
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


# -- reading ---------------------------------------------------------------------------------
Reader = Callable[[str], bytes]


def fetch_and_verify(
    read: Reader,
    spec: ObjectSpec,
    skip_if_sha256: str | None = None,
    on_block: BlockSink | None = None,
) -> ObjectResult:
    """Read the object with ``read`` and verify it. A missing object is a failure (the manifest
    lists it); any other read error makes it unreadable. With ``skip_if_sha256``, an object
    whose bytes still have that SHA-256 is not parsed (an earlier run verified it)."""
    from auditor.audit.source import MissingObjectError, SourceError

    try:
        data = read(spec.location)
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
    except SourceError as e:
        issue = _unreadable(spec, "unreadable", f"cannot be read ({e})")
        return ObjectResult(
            index=spec.index, key=spec.key, unreadable=issue, issues=[issue], issues_total=1
        )
    if len(data) > MAX_OBJECT_BYTES:
        issue = _unreadable(spec, "too-large", f"larger than {MAX_OBJECT_BYTES} bytes")
        return ObjectResult(
            index=spec.index, key=spec.key, unreadable=issue, issues=[issue], issues_total=1
        )
    if skip_if_sha256 is not None:
        digest = hashlib.sha256(data).hexdigest()
        if digest == skip_if_sha256:
            return ObjectResult(
                index=spec.index, key=spec.key, size=len(data), sha256=digest, skipped=True
            )
    return verify_object(data, spec, on_block)
