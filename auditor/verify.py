"""Which checks apply to which artefact, and the digest trust policy for single artefacts.

Trust policy: a digest is trusted only when the user supplies it (``--digest``). A receipt's
own embedded digest proves consistency, not authenticity: such a result is "unattested" (exit 3).
When both are present they must be identical (digest and tip), or the receipt fails.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import proofs
from auditor import formats
from auditor.formats import (
    Artefact,
    BlockAddress,
    BlockInput,
    Bundle,
    ConsistencyFile,
    Digest,
    Receipt,
    RevisionInput,
)
from auditor.report import ItemReport
from proofs import Check, MalformedError, ProofError, VerificationError
from proofs.errors import b64
from proofs.note import Checkpoint, VerifierKey, parse_checkpoint, verify_note

UNCOVERED_BLOCK_FIELDS = (
    "blockTimestamp is not covered by any QLDB hash; blockAddress only through the proof's digest"
)


def _files(
    paths: list[str], kind: str, check: Callable[[ItemReport, Artefact, str], None]
) -> list[ItemReport]:
    """Every artefact of every file, checked; all are checked whatever fails."""
    return [item for path in paths for item in _items(path, kind, check)]


def _items(
    path: str, kind: str, check: Callable[[ItemReport, Artefact, str], None]
) -> list[ItemReport]:
    """Load ``path`` and run ``check`` on each artefact in it; never raises for bad input."""
    try:
        artefacts = formats.load(path)
    except ProofError as e:
        return [ItemReport(file=path, kind=kind, error=e)]
    except Exception as e:  # noqa: BLE001 - a parser bug must still end as a clear error
        return [ItemReport(file=path, kind=kind, error=_unexpected(path, e))]
    items = []
    for i, artefact in enumerate(artefacts):
        name = path if len(artefacts) == 1 else f"{path}#{i + 1}"
        item = ItemReport(file=name, kind=getattr(artefact, "kind", kind))
        try:
            check(item, artefact, name)
        except ProofError as e:
            item.error = e
        except Exception as e:  # noqa: BLE001
            item.error = _unexpected(name, e)
        items.append(item)
    return items


def _unexpected(where: str, e: Exception) -> MalformedError:
    if os.environ.get("QLDB_AUDIT_DEBUG"):
        raise e
    return MalformedError("unexpected-input", where, f"cannot be checked ({type(e).__name__}: {e})")


def _address_of(revision: Any, where: str) -> BlockAddress | None:
    if "blockAddress" not in revision:
        return None
    value = revision["blockAddress"]
    if not isinstance(value, Mapping):
        raise MalformedError("block-address", f"{where}.blockAddress", "expected a struct")
    strand, sequence = value.get("strandId"), value.get("sequenceNo")
    if not isinstance(strand, str) or isinstance(sequence, bool) or not isinstance(sequence, int):
        raise MalformedError(
            "block-address", f"{where}.blockAddress", "expected {strandId: string, sequenceNo: int}"
        )
    return BlockAddress(str(strand), int(sequence))


def _check_tip(item: ItemReport, address: BlockAddress | None, digest: Digest, where: str) -> None:
    """The proof must lead to a digest whose tip is on the block's strand and not behind it."""
    if address is None:
        item.note("the block address is unknown: the digest tip could not be compared")
        return
    tip = digest.tip
    if address.strand_id != tip.strand_id:
        raise VerificationError(
            "tip-strand", f"{where}: DigestTipAddress.strandId", "is not the block's strand",
            expected=address.strand_id, actual=tip.strand_id,
        )  # fmt: skip
    if address.sequence_no > tip.sequence_no:
        raise VerificationError(
            "tip-behind-block", f"{where}: DigestTipAddress.sequenceNo",
            "the digest tip is behind the block (a digest cannot cover a later block)",
            expected=f">= {address.sequence_no}", actual=tip.sequence_no,
        )  # fmt: skip
    item.add(Check("tip-covers-block", where, detail=f"block {address} <= tip {tip}"))


def _prove(
    item: ItemReport,
    start: bytes,
    proof: tuple[bytes, ...] | None,
    address: BlockAddress | None,
    trusted: Digest | None,
    where: str,
) -> None:
    """Fold ``proof`` to the trusted digest, or just report where it leads."""
    if trusted is None:
        if proof is not None:
            item.note(f"the proof folds to {b64(proofs.fold(start, proof))}; no digest to compare")
        return
    if proof is None:
        raise MalformedError("missing-proof", where, "has no Proof to check against the digest")
    _check_tip(item, address, trusted, where)
    item.add(proofs.verify_proof(start, proof, trusted.digest, f"{where}: Proof"))


def check_revision(
    item: ItemReport, artefact: Artefact, where: str, trusted: Digest | None
) -> None:
    if not isinstance(artefact, RevisionInput):
        raise MalformedError("not-a-revision", where, f"is a {_what(artefact)}, not a revision")
    item.add(proofs.verify_revision(artefact.revision, f"{where}: revision"))
    if "dataHash" in artefact.revision:
        item.note("redacted revision: dataHash stands for the data, which is not checked")
    address = _address_of(artefact.revision, f"{where}: revision")
    start = proofs.check_hash(artefact.revision["hash"], f"{where}: revision.hash")
    _prove(item, start, artefact.proof, address, trusted, where)


def check_block(item: ItemReport, artefact: Artefact, where: str, trusted: Digest | None) -> None:
    if not isinstance(artefact, BlockInput):
        raise MalformedError("not-a-block", where, f"is a {_what(artefact)}, not a block")
    result = proofs.verify_block(artefact.block, f"{where}: block")
    for check in result.checks:
        item.add(check)
    if result.revisions_deleted:
        item.note(
            f"{result.revisions_deleted} deleted revision(s): hash rule unknown, not recomputed"
        )
    if result.revisions_system:
        item.note(f"{result.revisions_system} hash-only system revision(s): not recomputable")
    if artefact.kind == "stream-block-summary":
        item.note("a BLOCK_SUMMARY carries no revision bodies: only their hashes are checked")
    item.note(UNCOVERED_BLOCK_FIELDS)
    address = None
    if result.strand_id is not None and result.sequence_no is not None:
        address = BlockAddress(result.strand_id, result.sequence_no)
    _prove(item, result.block_hash, artefact.proof, address, trusted, where)


def check_receipt(
    item: ItemReport,
    artefact: Artefact,
    where: str,
    trusted: Digest | None,
    bound: RevisionInput | None,
    bound_where: str,
) -> None:
    if isinstance(artefact, RevisionInput) and artefact.proof is not None:
        item.add(proofs.verify_revision(artefact.revision, f"{where}: Revision"))
        revision_hash = proofs.check_hash(artefact.revision["hash"], f"{where}: Revision.hash")
        receipt = Receipt(
            kind="get-revision",
            block_address=_address_of(artefact.revision, f"{where}: Revision"),
            revision_hash=revision_hash,
            proof=artefact.proof,
            digest=None,
            document_id=_document_id(artefact.revision),
            revision=artefact,
        )
    elif isinstance(artefact, Receipt):
        receipt = artefact
    elif isinstance(artefact, Bundle):  # its KVS-compatible section is a receipt too
        receipt = artefact.ledger_metadata
    else:
        raise MalformedError(
            "not-a-receipt",
            where,
            f"is a {_what(artefact)}, not a receipt (LedgerMetadata or GetRevision with Proof)",
        )
    if bound is not None:
        _bind_revision(item, receipt, bound, bound_where, where)
    digest = trusted or receipt.digest
    if trusted is not None and receipt.digest is not None and receipt.digest != trusted:
        same_digest = receipt.digest.digest == trusted.digest
        raise VerificationError(
            "digest-not-trusted", f"{where}: LedgerDigest",
            "differs from the trusted digest" + (" (tip address)" if same_digest else ""),
            expected=trusted.digest if not same_digest else str(trusted.tip),
            actual=receipt.digest.digest if not same_digest else str(receipt.digest.tip),
        )  # fmt: skip
    if digest is None:
        item.attested = False
        item.note(
            "no digest in the receipt and none supplied (--digest): the proof folds to "
            + b64(proofs.fold(receipt.revision_hash, receipt.proof))
        )
        return
    _check_tip(item, receipt.block_address, digest, where)
    item.add(
        proofs.verify_proof(receipt.revision_hash, receipt.proof, digest.digest, f"{where}: Proof")
    )
    if trusted is None:
        item.attested = False
        item.note("checked against the receipt's own digest: supply --digest to attest it")


def _document_id(revision: Any) -> str | None:
    metadata = revision.get("metadata") if isinstance(revision, Mapping) else None
    doc = metadata.get("id") if isinstance(metadata, Mapping) else None
    return str(doc) if isinstance(doc, str) else None


def _bind_revision(
    item: ItemReport, receipt: Receipt, bound: RevisionInput, bound_where: str, where: str
) -> None:
    """The revision the user holds must be the one the receipt speaks of."""
    item.add(proofs.verify_revision(bound.revision, f"{bound_where}: revision"))
    computed = proofs.revision_hash(bound.revision, f"{bound_where}: revision")
    if computed != receipt.revision_hash:
        raise VerificationError(
            "revision-binding", f"{where}: RevisionHash", "is not the hash of the given revision",
            expected=receipt.revision_hash, actual=computed,
        )  # fmt: skip
    item.add(Check("revision-binding", f"{where}: RevisionHash", receipt.revision_hash, computed))
    address = _address_of(bound.revision, f"{bound_where}: revision")
    if (
        address is not None
        and receipt.block_address is not None
        and address != receipt.block_address
    ):
        raise VerificationError(
            "revision-binding-address", f"{where}: BlockAddress",
            "is not the block address of the given revision",
            expected=str(receipt.block_address), actual=str(address),
        )  # fmt: skip
    doc = _document_id(bound.revision)
    if doc is not None and receipt.document_id is not None and doc != receipt.document_id:
        raise VerificationError(
            "revision-binding-document", f"{where}: DocumentId",
            "is not the document id of the given revision",
            expected=receipt.document_id, actual=doc,
        )  # fmt: skip


def _same(name: str, where: str, expected: object, actual: object) -> None:
    """A cross-check between two places of one file that must agree."""
    if expected != actual:
        raise VerificationError(
            name, where, "disagrees with the rest of the file",
            expected=_shown(expected), actual=_shown(actual),
        )  # fmt: skip


def _shown(value: object) -> bytes | str | int | None:
    return value if isinstance(value, bytes | str | int) or value is None else str(value)


def _signed_checkpoint(
    item: ItemReport, note: str, where: str, trusted: list[VerifierKey], quorum: int
) -> Checkpoint:
    """Verify a signed note's signatures and parse its checkpoint; counts toward attestation."""
    result = verify_note(note, trusted)
    checkpoint = parse_checkpoint(result.text)
    signers = ", ".join(result.trusted_signers) or "none"
    item.add(Check("checkpoint-signatures", where, detail=f"trusted signatures: {signers}"))
    if result.untrusted_signers:
        item.note(f"{where}: signatures by keys not trusted: {', '.join(result.untrusted_signers)}")
    if len(result.trusted_signers) < quorum:
        item.attested = False
        item.note(
            f"{where}: {len(result.trusted_signers)} trusted signature(s), {quorum} required"
            " (--trust-key, --min-signatures)"
        )
    return checkpoint


def check_bundle(
    item: ItemReport, artefact: Artefact, where: str, trusted: list[VerifierKey], quorum: int
) -> None:
    """content -> revision hash -> proof -> digest -> signed checkpoint, and every cross-check."""
    if not isinstance(artefact, Bundle):
        raise MalformedError("not-a-bundle", where, f"is a {_what(artefact)}, not a receipt bundle")
    b = artefact
    # our writer's bundles: a deleted revision's hash is IonHash(metadata) (docs/ledger.md)
    check = proofs.verify_revision(b.revision, f"{where}: revision", hash_deleted=True)
    item.add(check)
    revision_hash = check.actual
    assert revision_hash is not None
    address = _address_of(b.revision, f"{where}: revision")
    _same("block-address", f"{where}: revision.blockAddress", b.block_address, address)
    _same("document-id", f"{where}: revision.metadata.id", b.document_id, _document_id(b.revision))
    data = b.revision.get("data")
    if data is not None:
        _same("key", f"{where}: revision.data._k", b.key, data.get("_k"))
    kvs = b.ledger_metadata
    _same(
        "ledger-metadata",
        f"{where}: LedgerMetadata.LedgerName",
        b.ledger_name,
        b.ledger_metadata_names[0],
    )
    _same(
        "ledger-metadata",
        f"{where}: LedgerMetadata.TableName",
        b.table_name,
        b.ledger_metadata_names[1],
    )
    _same(
        "ledger-metadata",
        f"{where}: LedgerMetadata.BlockAddress",
        b.block_address,
        kvs.block_address,
    )
    _same("ledger-metadata", f"{where}: LedgerMetadata.DocumentId", b.document_id, kvs.document_id)
    _same(
        "ledger-metadata", f"{where}: LedgerMetadata.RevisionHash", revision_hash, kvs.revision_hash
    )
    _same("ledger-metadata", f"{where}: LedgerMetadata.Proof", b.proof, kvs.proof)
    _same("ledger-metadata", f"{where}: LedgerMetadata.LedgerDigest", b.digest, kvs.digest)
    item.add(Check("cross-checks", where, detail="revision, bundle and LedgerMetadata agree"))
    _check_tip(item, b.block_address, b.digest, where)
    item.add(proofs.verify_proof(revision_hash, b.proof, b.digest.digest, f"{where}: proof"))
    checkpoint = _signed_checkpoint(item, b.checkpoint, f"{where}: checkpoint", trusted, quorum)
    _same("checkpoint", f"{where}: checkpoint ledger", b.ledger_name, checkpoint.ledger)
    _same("checkpoint", f"{where}: checkpoint strand", b.digest.tip.strand_id, checkpoint.strand_id)
    _same("checkpoint", f"{where}: checkpoint tip", b.digest.tip.sequence_no, checkpoint.tip)
    _same("checkpoint", f"{where}: checkpoint digest", b.digest.digest, checkpoint.digest)
    item.add(Check("checkpoint-digest", f"{where}: checkpoint", checkpoint.digest, b.digest.digest))


def check_consistency(
    item: ItemReport, artefact: Artefact, where: str, trusted: list[VerifierKey], quorum: int
) -> None:
    if not isinstance(artefact, ConsistencyFile):
        raise MalformedError("not-a-consistency-proof", where, f"is a {_what(artefact)}")
    old = _signed_checkpoint(item, artefact.old, f"{where}: old", trusted, quorum)
    new = _signed_checkpoint(item, artefact.new, f"{where}: new", trusted, quorum)
    for label, checkpoint in (("old", old), ("new", new)):
        _same("checkpoint", f"{where}: {label} ledger", artefact.ledger_name, checkpoint.ledger)
        _same("checkpoint", f"{where}: {label} strand", artefact.strand_id, checkpoint.strand_id)
    if old.tip > new.tip:
        raise VerificationError(
            "consistency-order", f"{where}: old", "is newer than the new checkpoint",
            expected=f"<= {new.tip}", actual=old.tip,
        )  # fmt: skip
    item.add(
        proofs.verify_consistency(
            old.digest, new.digest, artefact.proof, old_tip=old.tip, new_tip=new.tip
        )
    )


def _what(artefact: Artefact) -> str:
    if isinstance(artefact, Digest):
        return "digest"
    return artefact.kind.replace("-", " ")


# -- entry points used by the CLI (and by batch work later) ------------------------------------
def revisions(paths: list[str], trusted: Digest | None = None) -> list[ItemReport]:
    return _files(paths, "revision", lambda i, a, w: check_revision(i, a, w, trusted))


def blocks(paths: list[str], trusted: Digest | None = None) -> list[ItemReport]:
    return _files(paths, "block", lambda i, a, w: check_block(i, a, w, trusted))


def bundles(paths: list[str], trusted: list[VerifierKey], quorum: int = 1) -> list[ItemReport]:
    return _files(paths, "receipt-bundle", lambda i, a, w: check_bundle(i, a, w, trusted, quorum))


def consistency(paths: list[str], trusted: list[VerifierKey], quorum: int = 1) -> list[ItemReport]:
    return _files(
        paths, "consistency-proof", lambda i, a, w: check_consistency(i, a, w, trusted, quorum)
    )


def receipts(
    paths: list[str], trusted: Digest | None = None, revision_path: str | None = None
) -> list[ItemReport]:
    bound = None
    if revision_path is not None:
        artefacts = formats.load(revision_path)
        if len(artefacts) != 1 or not isinstance(artefacts[0], RevisionInput):
            raise MalformedError("not-a-revision", revision_path, "expected one revision")
        bound = artefacts[0]
    return _files(
        paths,
        "receipt",
        lambda i, a, w: check_receipt(i, a, w, trusted, bound, revision_path or ""),
    )
