"""Checking one block of a data object, and the bookkeeping of what that found.

:func:`verify_one` takes one value as :mod:`auditor.audit.stream` read it (or the damage found
instead), applies the JSON rules (:mod:`auditor.audit.jsonrules`) and the writer's field sets
and ``entriesHashList`` layout, runs :func:`proofs.verify_block`, and records the outcome on the
object's :class:`~auditor.audit.model.ObjectResult`: the counts, the block's
:class:`~auditor.audit.model.Link` for the chain check, its issue (at most
:data:`MAX_ISSUES_PER_OBJECT` kept), the opaque and notable blocks, and the ``on_block`` call.
:func:`late_layout` fails a block after the fact (the writer's bytes at the object's ends).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from auditor.audit.jsonrules import JsonRules, json_revisions
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
from auditor.audit.stream import DamageError
from proofs import MalformedError, ProofError, VerificationError, verify_block
from proofs.merkle import HASH_LENGTH
from proofs.qldb import verify_revision

MAX_ISSUES_PER_OBJECT = 50

RawBlock = tuple[bytes, list[str | None]]  # a block's Ion binary bytes and their symbol table
BlockSink = Callable[[int | None, Any, bool, RawBlock | None], None]
"""``on_block(seq, block | None, verified, raw)``: see :mod:`auditor.audit.objects`."""

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


def verify_one(
    result: ObjectResult,
    spec: ObjectSpec,
    position: int,
    value: Any,
    damage: DamageError | None,
    rules: JsonRules | None,
    on_block: BlockSink | None = None,
    raw: RawBlock | None = None,
) -> None:
    """Check the value at ``position`` of the object (or record ``damage``, found instead of a
    block) and record the outcome on ``result`` (see the module doc)."""
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
        if not is_struct(block):
            raise DamageError("not-a-block", "a value that is not a block struct")
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
    except DamageError as e:
        _block_issue(
            result, spec, FAILED, e.check, e.message, seq, expected_seq, position,
            locator=e.locator,
        )  # fmt: skip
        _link(result, position, seq, block, verified=False)
        counts.blocks_failed += 1
        if on_block is not None:
            on_block(seq if seq is not None else expected_seq, None, False, None)
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
            on_block(seq if seq is not None else expected_seq, None, False, None)
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
            on_block(seq if seq is not None else expected_seq, None, False, None)
        return
    counts.blocks_verified += 1
    if rules is not None:
        json_revisions(block, where, counts, writer)
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
        on_block(checked.sequence_no, block, True, raw)


def late_layout(result: ObjectResult, spec: ObjectSpec, position: int, problem: str) -> None:
    """The writer's byte layout fails at the object's first or last bytes, found once the
    blocks were verified: the block at ``position`` fails (exit 1)."""
    link = result.links[position]
    seq = link.seq
    _block_issue(result, spec, FAILED, "layout", problem, seq, None, position)
    if link.verified:
        result.links[position] = replace(link, verified=False)
        result.counts.blocks_verified -= 1
        result.counts.blocks_failed += 1


def add_issue(result: ObjectResult, issue: Issue) -> None:
    result.issues_total += 1
    if len(result.issues) < MAX_ISSUES_PER_OBJECT:
        result.issues.append(issue)


def is_struct(value: Any) -> bool:
    return type(value) is dict


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
    if len(result.issues) >= MAX_ISSUES_PER_OBJECT:  # counted, not kept: not built either
        result.issues_total += 1
        return
    named = seq if seq is not None else expected_seq
    where = f"{spec.key}: block {named}" if named is not None else f"{spec.key}: #{position}"
    add_issue(
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


def _link(result: ObjectResult, position: int, seq: int | None, block: Any, verified: bool) -> None:
    block_hash = _hash_or_none(block, "blockHash")
    result.links.append(Link(position, seq, block_hash, _previous(block), verified))


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
