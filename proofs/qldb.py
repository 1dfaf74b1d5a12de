"""QLDB revision, block and proof checks (docs/formats.md §2, §3.2, §4.1).

- revision hash = ``dot(IonHash(data), IonHash(metadata))``; a redacted revision stores
  ``dataHash`` (= IonHash of the original data) in place of ``data``.
- block: ``IonHash(transactionInfo)`` and ``IonHash(redactionInfo)`` (when present) and the
  Merkle root of the revision hashes (or of a stream record's ``revisionSummaries``) are
  elements of ``entriesHashList``; ``entriesHash = merkle_root(entriesHashList)``;
  ``blockHash = dot(entriesHash, previousBlockHash)``. Other list elements are opaque.
- proof: ``fold(start, proof) == digest``.

Inputs are values of the Ion value model :mod:`proofs.ionvalue` (what ``auditor.ion`` reads;
plain ``dict``/``list``/``bytes``/``str``/``int`` where the model uses them): a struct is a
``dict``, a hash is ``bytes`` (a :class:`~proofs.ionvalue.Clob` is not a blob), an annotated
value is an :class:`~proofs.ionvalue.Annotated` wrapper, so no subclass of another type passes
for a struct, a list or a blob.
Every check raises on failure and, on success, returns what it checked (a :class:`Check` list),
so callers can report exactly what was verified and what was not.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from proofs.errors import MalformedError, VerificationError
from proofs.ionhash import ion_hash
from proofs.ionvalue import Annotated, Clob
from proofs.merkle import (
    EMPTY,
    MAX_PROOF_LENGTH,
    check_hash,
    dot,
    fold,
    merkle_root,
    verify_consistency_proof,
)

MAX_ENTRIES = 1 << 20  # entries or revisions in one block


@dataclass(frozen=True, slots=True)
class Check:
    """One passed check: its machine name, the field it speaks of, and the matching values."""

    name: str
    locator: str
    expected: bytes | None = None
    actual: bytes | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class BlockResult:
    """What :func:`verify_block` checked, and what it could not recompute."""

    strand_id: str | None
    sequence_no: int | None
    address: BlockAddress | None
    block_hash: bytes
    has_transaction_info: (
        bool  # False: QLDB's hashes cannot tell a system block from a stripped one
    )
    user_revisions: int  # revisions with metadata (data, dataHash or deleted)
    deleted_documents: tuple[str, ...]  # document ids of revisions without data or dataHash
    checks: tuple[Check, ...]
    revisions_verified: int
    revisions_redacted: int  # hash-only: dataHash in place of data, still recomputed
    revisions_deleted: int  # metadata without data: not recomputed (unless writer_rules)
    revisions_system: int  # {hash} only: not recomputable, still part of the revisions root


def _get(struct: Any, key: str, locator: str, required: bool = True) -> Any:
    if type(struct) is not dict:
        raise MalformedError("not-a-struct", locator, "expected an Ion struct")
    if key not in struct:
        if required:
            raise MalformedError("missing-field", f"{locator}.{key}", "missing field")
        return None
    return struct[key]  # one value per name: the reader refuses duplicate fields


def _hash(struct: Any, key: str, locator: str) -> bytes:
    return _checked_hash(_get(struct, key, locator), f"{locator}.{key}")


def _hash_list(value: Any, locator: str, limit: int) -> list[bytes]:
    if type(value) is not list:
        _plain(value, locator)
        raise MalformedError("not-a-list", locator, "expected a list of hashes")
    if len(value) > limit:
        raise MalformedError("list-length", locator, f"at most {limit} elements, got {len(value)}")
    _plain(value, locator)
    return [_checked_hash(h, f"{locator}[{i}]") for i, h in enumerate(value)]


def _equal(expected: bytes, actual: bytes) -> bool:
    return hmac.compare_digest(expected, actual)


def revision_hash(revision: Any, locator: str = "revision", *, hash_deleted: bool = False) -> bytes:
    """Recompute a committed revision's hash from ``data`` (or ``dataHash``) and ``metadata``.

    A deleted revision (metadata, no data, no dataHash) has no documented QLDB rule: it raises
    unless ``hash_deleted`` asks for this project's writer rule, ``dot(empty, IonHash(metadata))``
    = ``IonHash(metadata)``. Raises :class:`MalformedError` when ``metadata`` is missing or not
    a struct, when ``dataHash`` is not 32 bytes, or when both ``data`` and ``dataHash`` are there.
    """
    metadata = _get(revision, "metadata", locator)
    if type(metadata) is not dict:
        raise MalformedError("not-a-struct", f"{locator}.metadata", "expected an Ion struct")
    has_data = "data" in revision
    if "dataHash" in revision:
        if has_data:
            raise MalformedError("data-and-datahash", locator, "has both data and dataHash")
        data_hash = _hash(revision, "dataHash", locator)
    elif has_data:
        data_hash = ion_hash(_get(revision, "data", locator))
    elif hash_deleted:
        data_hash = EMPTY
    else:
        raise MalformedError(
            "deleted-revision",
            locator,
            "no data and no dataHash (a deleted revision: its hash rule is not known)",
        )
    return dot(data_hash, ion_hash(metadata))


def verify_revision(
    revision: Any, locator: str = "revision", *, hash_deleted: bool = False
) -> Check:
    """Check that a revision's ``hash`` equals its recomputed hash (``hash_deleted``: see
    :func:`revision_hash`).

    Raises :class:`MalformedError` (see :func:`revision_hash`; also a missing or non-32-byte
    ``hash``) or :class:`VerificationError` (reason ``revision-hash``).
    """
    stated = _hash(revision, "hash", locator)
    computed = revision_hash(revision, locator, hash_deleted=hash_deleted)
    if not _equal(stated, computed):
        raise VerificationError(
            "revision-hash",
            f"{locator}.hash",
            "does not match the hash of data and metadata",
            expected=stated,
            actual=computed,
        )
    detail = "redacted: dataHash in place of data" if "dataHash" in revision else ""
    if "data" not in revision and "dataHash" not in revision:
        detail = "deleted: metadata only (qldb-audit writer rule)"
    return Check("revision-hash", f"{locator}.hash", stated, computed, detail)


def verify_proof(
    start: bytes, proof: Sequence[bytes], digest: bytes, locator: str = "proof"
) -> Check:
    """Check that folding ``proof`` onto ``start`` gives ``digest``.

    Raises :class:`MalformedError` (a hash that is not 32 bytes, a proof over the length cap) or
    :class:`VerificationError` (reason ``proof-digest``, expected = digest, actual = the fold).
    """
    if not isinstance(proof, list | tuple):
        raise MalformedError("not-a-list", locator, "expected a list of hashes")
    digest = check_hash(digest, f"{locator} digest")
    computed = fold(start, proof, locator)
    if not _equal(digest, computed):
        raise VerificationError(
            "proof-digest",
            locator,
            "folding the proof does not give the digest",
            expected=digest,
            actual=computed,
        )
    return Check("proof-digest", locator, digest, computed, f"{len(proof)} proof elements")


def verify_consistency(
    old_digest: bytes, new_digest: bytes, proof: Sequence[bytes], *, old_tip: int, new_tip: int
) -> Check:
    """Check that the digest at ``new_tip`` extends the digest at ``old_tip`` (same strand).

    Digests are Merkle roots of block hashes 0..tip, so the tree sizes are ``tip + 1``
    (:func:`proofs.merkle.verify_consistency_proof`, ``dot`` nodes). Raises
    :class:`MalformedError` (hash lengths, a proof of the wrong length for the tips) or
    :class:`VerificationError` (reason ``consistency-old`` or ``consistency-new``).
    """
    old_digest = check_hash(old_digest, "consistency old digest")
    verify_consistency_proof(old_tip + 1, new_tip + 1, old_digest, new_digest, proof)
    detail = f"tip {old_tip} -> tip {new_tip}, {len(proof)} proof elements"
    return Check("consistency", "consistency", new_digest, new_digest, detail)


def _in_list(name: str, locator: str, value: bytes, entries: list[bytes]) -> Check:
    for i, entry in enumerate(entries):
        if _equal(entry, value):
            return Check(name, locator, value, entry, f"entriesHashList[{i}]")
    raise VerificationError(
        name, locator, "its hash is not an element of entriesHashList", expected=value, actual=None
    )


_STRAND = re.compile(r"[A-Za-z0-9]{1,64}")
BLOCK_FIELDS = frozenset({
    "blockAddress", "transactionId", "blockTimestamp", "blockHash", "entriesHash",
    "previousBlockHash", "entriesHashList", "transactionInfo", "redactionInfo", "revisions",
    "revisionSummaries",
})  # fmt: skip
REVISION_FIELDS = frozenset({"blockAddress", "hash", "data", "dataHash", "metadata"})
_SUMMARY_FIELDS = frozenset({"hash", "documentId"})


def _known_fields(struct: Any, fields: frozenset[str], locator: str) -> None:
    """No field a check does not know: a renamed field must not pass as an absent one (a
    ``data`` renamed ``date`` would turn a checked revision into a "deleted" one)."""
    for key in struct:
        if key not in fields:
            raise MalformedError("unknown-field", f"{locator}.{key}", "unknown field")


_ADDRESS_FIELDS = frozenset({"strandId", "sequenceNo"})


@dataclass(frozen=True, slots=True, order=True)
class BlockAddress:
    """A block's position: its strand and sequence number (QLDB's ``{strandId, sequenceNo}``)."""

    strand_id: str
    sequence_no: int

    def __str__(self) -> str:
        return f"{self.strand_id}/{self.sequence_no}"


def _plain(value: Any, locator: str) -> Any:
    """Fields the hashes do not cover must carry no Ion annotations (nothing unaccounted for)."""
    if type(value) is Annotated:
        raise MalformedError("annotation", locator, "annotations are not allowed here")
    return value


def block_address(value: Any, locator: str) -> BlockAddress:
    """Parse ``{strandId: string, sequenceNo: int}`` exactly: no other field, no duplicate, no
    annotation, a base62-style strand id, ``0 <= sequenceNo < 2**63``.

    The one parser of block addresses (journal blocks, revisions, receipts, digests). Raises
    :class:`MalformedError` naming the field.
    """
    if type(_plain(value, locator)) is not dict:
        raise MalformedError("block-address", locator, "expected {strandId, sequenceNo}")
    for key in value:
        if key not in _ADDRESS_FIELDS:
            raise MalformedError("unknown-field", f"{locator}.{key}", "unknown field")
    strand = _plain(_get(value, "strandId", locator), f"{locator}.strandId")
    sequence = _plain(_get(value, "sequenceNo", locator), f"{locator}.sequenceNo")
    if type(strand) is not str or not _STRAND.fullmatch(strand):
        raise MalformedError(
            "not-a-strand-id", f"{locator}.strandId", "expected a string of 1-64 letters and digits"
        )
    if type(sequence) is not int or not 0 <= sequence < 1 << 63:
        raise MalformedError("not-an-int", f"{locator}.sequenceNo", "expected an integer >= 0")
    return BlockAddress(str(strand), int(sequence))


def _address(block: Any, locator: str) -> BlockAddress | None:
    address = _get(block, "blockAddress", locator, required=False)
    return None if address is None else block_address(address, f"{locator}.blockAddress")


def _previous(block: Any, where: str, sequence: int | None) -> bytes:
    """``previousBlockHash``: a 32-byte hash, or (only at sequenceNo 0) absent or an empty blob."""
    if "previousBlockHash" not in block:
        if sequence != 0:
            raise MalformedError("missing-field", f"{where}.previousBlockHash", "missing field")
        return EMPTY
    value = _get(block, "previousBlockHash", where)
    if sequence == 0 and _blob(value, f"{where}.previousBlockHash") == EMPTY:
        return EMPTY
    return _checked_hash(value, f"{where}.previousBlockHash")


def _blob(value: Any, locator: str) -> Any:
    """A value that must be an Ion blob (not a clob, not annotated); returned unchanged."""
    _plain(value, locator)
    if type(value) is Clob:
        raise MalformedError("hash-type", locator, "a hash must be a blob, got a clob")
    if isinstance(value, bytes | bytearray) and type(value) is not bytes:
        raise MalformedError(
            "hash-type", locator, f"a hash must be a blob, got a {type(value).__name__}"
        )
    return value


def _checked_hash(value: Any, locator: str) -> bytes:
    return check_hash(_blob(value, locator), locator)


def verify_block(
    block: Any, locator: str = "block", *, writer_rules: bool = False, recompute: bool = True
) -> BlockResult:
    """Verify one journal block (GetBlock / export / stream ``BLOCK_SUMMARY`` payload).

    Checks, in order: every revision with data or dataHash recomputes to its ``hash`` and names
    this block's address and transaction; the revisions root (of ``revisions`` or a stream
    record's ``revisionSummaries``), ``IonHash(transactionInfo)`` and ``IonHash(redactionInfo)``
    are elements of ``entriesHashList``; ``entriesHash`` is the list's Merkle root;
    ``blockHash = dot(entriesHash, previousBlockHash)``. Hash-only system revisions and deleted
    revisions are counted, not recomputed; they still enter the revisions root.

    ``writer_rules`` (blocks written by this project's ledger, docs/ledger.md): deleted
    revisions are recomputed as ``IonHash(metadata)``, and ``IonHash({blockAddress,
    transactionId, blockTimestamp})`` must be in ``entriesHashList`` (it covers the fields QLDB's
    hashes leave out).

    ``recompute=False`` checks everything but the revision hashes themselves (the caller
    recomputes them, e.g. from a JSON export whose types may not come back exactly); such
    revisions are counted as neither verified nor failed.

    Raises :class:`MalformedError` for a wrong shape, :class:`VerificationError` at the first
    mismatch (its ``reason`` names the check).
    """
    address = _address(block, locator)  # (and the block is a struct: else not-a-struct)
    strand, sequence = (address.strand_id, address.sequence_no) if address else (None, None)
    where = f"{locator} {sequence}" if sequence is not None else locator
    _known_fields(block, BLOCK_FIELDS, where)
    entries = _hash_list(
        _get(block, "entriesHashList", where), f"{where}.entriesHashList", MAX_ENTRIES
    )
    if not entries:
        raise MalformedError("empty-list", f"{where}.entriesHashList", "no entries")
    entries_hash = _hash(block, "entriesHash", where)
    block_hash = _hash(block, "blockHash", where)
    previous = _previous(block, where, sequence)
    transaction_id = _string(block, "transactionId", where) if "transactionId" in block else None
    info = _get(block, "transactionInfo", where, required=False)
    documents = _get(info, "documents", f"{where}.transactionInfo", False) if info else None

    checks: list[Check] = []
    counts = {"verified": 0, "redacted": 0, "deleted": 0, "system": 0}
    revisions = _get(block, "revisions", where, required=False)
    summaries = _get(block, "revisionSummaries", where, required=False)
    leaves: list[bytes] | None = None
    leaves_name = "revisions"
    shown: list[str] = []  # document ids the block's revisions speak for
    deleted: list[str] = []  # document ids of revisions without data or dataHash
    if revisions is not None:
        if type(revisions) is not list or len(revisions) > MAX_ENTRIES:
            raise MalformedError("not-a-list", f"{where}.revisions", "expected a list of revisions")
        leaves = []
        for i, revision in enumerate(revisions):
            at = f"{where}.revisions[{i}]"
            leaves.append(_hash(revision, "hash", at))
            _known_fields(revision, REVISION_FIELDS, at)
            if _get(revision, "metadata", at, required=False) is None:
                if "data" in revision or "dataHash" in revision:
                    raise MalformedError(
                        "missing-field", f"{at}.metadata", "a revision with data needs metadata"
                    )
                counts["system"] += 1
                continue
            # the hash first: a changed metadata field is refuted as such, not as a shape
            is_deleted = "data" not in revision and "dataHash" not in revision
            if recompute and (writer_rules or not is_deleted):
                checks.append(verify_revision(revision, at, hash_deleted=is_deleted))
            _check_links(revision, at, address, transaction_id, documents)
            shown.append(_string(revision["metadata"], "id", f"{at}.metadata"))
            if is_deleted:
                counts["deleted"] += 1
                deleted.append(shown[-1])
            elif recompute:
                counts["redacted" if "dataHash" in revision else "verified"] += 1
    elif summaries is not None:
        if type(summaries) is not list or len(summaries) > MAX_ENTRIES:
            raise MalformedError("not-a-list", f"{where}.revisionSummaries", "expected a list")
        leaves = [
            _hash(s, "hash", f"{where}.revisionSummaries[{i}]") for i, s in enumerate(summaries)
        ]
        for i, summary in enumerate(summaries):
            at = f"{where}.revisionSummaries[{i}]"
            _known_fields(summary, _SUMMARY_FIELDS, at)
            _check_document(summary, "documentId", at, documents)
            shown.append(_string(summary, "documentId", at))
        leaves_name = "revisionSummaries"
    if info is not None and documents is None and shown:
        raise VerificationError(
            "transaction-documents", f"{where}.transactionInfo.documents",
            "the block has user revisions, transactionInfo names no documents",
            expected=", ".join(shown), actual="no documents field",
        )  # fmt: skip
    redaction = _get(block, "redactionInfo", where, required=False)
    if documents:
        # Every document the transaction wrote has a revision in its block, or is one whose
        # earlier revision the block's redactionInfo names (a redaction writes none).
        redacted = _redacted_documents(redaction, f"{where}.redactionInfo")
        if leaves is None and not redacted:
            raise MalformedError(
                "missing-field",
                f"{where}.revisions",
                "transactionInfo names documents, the block shows no revisions",
            )
        missing = sorted(str(d) for d in documents if str(d) not in shown and d not in redacted)
        if missing:
            raise VerificationError(
                "transaction-documents", f"{where}.{leaves_name}",
                "a document of transactionInfo.documents has no revision in the block",
                expected=", ".join(missing), actual=", ".join(shown) or "no revisions",
            )  # fmt: skip
    if leaves:
        root = merkle_root(leaves)
        checks.append(_in_list("revisions-root", f"{where}.{leaves_name}", root, entries))
    if info is not None:
        checks.append(
            _in_list("transaction-info", f"{where}.transactionInfo", ion_hash(info), entries)
        )
    if writer_rules:
        header = {
            "blockAddress": _get(block, "blockAddress", where),
            "transactionId": _get(block, "transactionId", where),
            "blockTimestamp": _get(block, "blockTimestamp", where),
        }
        checks.append(_in_list("block-header", where, ion_hash(header), entries))
    if redaction is not None:
        checks.append(
            _in_list("redaction-info", f"{where}.redactionInfo", ion_hash(redaction), entries)
        )
    root = merkle_root(entries)
    if not _equal(root, entries_hash):
        raise VerificationError(
            "entries-hash", f"{where}.entriesHash", "is not the Merkle root of entriesHashList",
            expected=entries_hash, actual=root,
        )  # fmt: skip
    checks.append(Check("entries-hash", f"{where}.entriesHash", entries_hash, root))
    computed = dot(entries_hash, previous)
    if not _equal(computed, block_hash):
        raise VerificationError(
            "block-hash", f"{where}.blockHash", "is not dot(entriesHash, previousBlockHash)",
            expected=block_hash, actual=computed,
        )  # fmt: skip
    checks.append(Check("block-hash", f"{where}.blockHash", block_hash, computed))
    return BlockResult(
        strand_id=strand,
        sequence_no=sequence,
        address=address,
        block_hash=block_hash,
        has_transaction_info=info is not None,
        user_revisions=len(shown),
        deleted_documents=tuple(deleted),
        checks=tuple(checks),
        revisions_verified=counts["verified"],
        revisions_redacted=counts["redacted"],
        revisions_deleted=counts["deleted"],
        revisions_system=counts["system"],
    )


def _redacted_documents(redaction: Any, locator: str) -> set[str]:
    """The document ids a block's ``redactionInfo.revisions`` names (empty when the block has
    no redactionInfo). Raises :class:`MalformedError` for any other shape."""
    if redaction is None:
        return set()
    entries = _get(redaction, "revisions", locator)
    if type(entries) is not list:
        raise MalformedError("not-a-list", f"{locator}.revisions", "expected a list")
    return {_string(e, "documentId", f"{locator}.revisions[{i}]") for i, e in enumerate(entries)}


def _check_links(
    revision: Any,
    at: str,
    address: BlockAddress | None,
    transaction_id: Any,
    documents: Any,
) -> None:
    """A user revision must name its block's address, transaction and a document it wrote."""
    metadata = _get(revision, "metadata", at)
    if "blockAddress" in revision:
        own = _address(revision, at)
        if address is not None and own != address:
            raise VerificationError(
                "block-address", f"{at}.blockAddress", "is not the address of its block",
                expected=str(address), actual=str(own),
            )  # fmt: skip
    tx = _string(metadata, "txId", f"{at}.metadata")
    if transaction_id is not None and tx != transaction_id:
        raise VerificationError(
            "transaction-id", f"{at}.metadata.txId", "is not the block's transactionId",
            expected=str(transaction_id), actual=tx,
        )  # fmt: skip
    _check_document(metadata, "id", f"{at}.metadata", documents)


def _string(struct: Any, key: str, locator: str) -> str:
    value = _get(struct, key, locator)
    if type(value) is not str:
        raise MalformedError("not-a-string", f"{locator}.{key}", "expected a string")
    return value


def _check_document(struct: Any, key: str, at: str, documents: Any) -> None:
    doc = _string(struct, key, at)
    if documents is not None and doc not in documents:
        raise VerificationError(
            "transaction-documents", f"{at}.{key}", "is not among transactionInfo.documents",
            expected=", ".join(sorted(str(d) for d in documents)), actual=str(doc),
        )  # fmt: skip


__all__ = [
    "MAX_PROOF_LENGTH",
    "BlockAddress",
    "BlockResult",
    "Check",
    "block_address",
    "revision_hash",
    "verify_block",
    "verify_consistency",
    "verify_proof",
    "verify_revision",
]
