"""Receipt bundles and consistency files: self-contained JSON a third party verifies offline.

Receipt bundle (``"format": "qldb-audit-receipt-bundle", "version": 1``)::

    {format, version, ledgerName, tableName, key, documentId,
     blockAddress: {IonText},            the block that holds the revision
     revision:     {IonText},            the committed revision (data or dataHash, metadata)
     proof:        {IonText},            revision hash -> digest (GetRevision's Proof)
     digest:       {Digest, DigestTipAddress: {IonText}}   (GetDigest's shape)
     checkpoint:   "<signed note>",      the digest, signed by the ledger (and witnesses)
     LedgerMetadata: {…}}                the QLDB key-value store library's receipt, for tools
                                         that already read those

Consistency file (``"format": "qldb-audit-consistency-proof", "version": 1``)::

    {format, version, ledgerName, strandId, old: "<signed note>", new: "<signed note>",
     proof: {IonText}}

For a ledger migrated from QLDB, ``old`` may be a digest saved from QLDB (GetDigest's shape,
``{Digest, DigestTipAddress: {IonText}}``) instead of a signed note: the file then proves that
QLDB's digest is a prefix of the migrated ledger's signed checkpoint (``consistency_from_digest``).

Every Ion text and base64 string in these files is written in one canonical form and must be
read back in exactly that form, so that no bit of a bundle can change without rejection.
"""

from __future__ import annotations

import base64
from typing import Any

from auditor.formats import Digest, canonical_ion
from auditor.ledger import Ledger, LedgerError, Revision

BUNDLE_FORMAT = "qldb-audit-receipt-bundle"
CONSISTENCY_FORMAT = "qldb-audit-consistency-proof"
VERSION = 1


def ion_text(value: Any) -> str:
    """The one canonical Ion text of a value (compact, no version marker)."""
    return canonical_ion(value)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def address_text(strand_id: str, sequence_no: int) -> str:
    return ion_text({"strandId": strand_id, "sequenceNo": sequence_no})


def proof_text(proof: list[bytes]) -> str:
    return ion_text([bytes(p) for p in proof])


def receipt_bundle(
    ledger: Ledger, table: str, key: str, version: int | None = None
) -> dict[str, Any]:
    """Build the bundle for ``key`` (latest revision, or ``version``) against the current tip."""
    return receipt_bundle_for(ledger, ledger.revision(table, key, version))


def receipt_bundle_for(ledger: Ledger, revision: Revision) -> dict[str, Any]:
    """The bundle of one committed revision (e.g. one found by documentId and txId).

    A deleted revision imported from QLDB has no bundle (:class:`LedgerError` ``not-provable``):
    its hash is QLDB's, whose rule is not known, so no one could check the bundle's content."""
    if _imported_deletion(ledger, revision):
        raise LedgerError(
            "not-provable", f"{revision.table}/{revision.key} version {revision.version} (block "
            f"{revision.sequence_no}): a deletion imported from QLDB: QLDB's hash rule for deleted"
            " revisions is not known, so a receipt bundle of it could not be verified; ask for "
            "a receipt of the version before it",
        )  # fmt: skip
    table, key = revision.table, revision.key
    signed = ledger.digest()
    proof = ledger.revision_proof(revision, signed.tip)
    block = address_text(ledger.strand_id, revision.sequence_no)
    tip = address_text(ledger.strand_id, signed.tip)
    digest = {"Digest": b64(signed.digest), "DigestTipAddress": {"IonText": tip}}
    return {
        "format": BUNDLE_FORMAT,
        "version": VERSION,
        "ledgerName": ledger.name,
        "tableName": table,
        "key": key,
        "documentId": revision.document_id,
        "blockAddress": {"IonText": block},
        "revision": {"IonText": ion_text(revision.value)},
        "proof": {"IonText": proof_text(proof)},
        "digest": digest,
        "checkpoint": signed.checkpoint,
        "LedgerMetadata": {
            "LedgerName": ledger.name,
            "TableName": table,
            "BlockAddress": {"IonText": block},
            "DocumentId": revision.document_id,
            "RevisionHash": b64(revision.hash),
            "Proof": {"IonText": proof_text(proof)},
            "LedgerDigest": digest,
        },
    }


def _imported_deletion(ledger: Ledger, revision: Revision) -> bool:
    boundary = ledger.import_boundary
    return (
        boundary is not None
        and revision.sequence_no <= boundary
        and "data" not in revision.value
        and "dataHash" not in revision.value
    )


def get_digest(strand_id: str, tip: int, digest: bytes) -> dict[str, Any]:
    """A digest in GetDigest's shape, canonical (the form consistency files carry)."""
    return {"Digest": b64(digest), "DigestTipAddress": {"IonText": address_text(strand_id, tip)}}


def consistency_from_digest(ledger: Ledger, saved: Digest, where: str) -> dict[str, Any]:
    """A consistency file from a digest saved elsewhere (QLDB's, before a migration) to the
    current signed checkpoint. :class:`LedgerError` (``not-this-ledger``) unless ``saved`` is
    this ledger's digest at its tip: same strand, a tip the ledger has, the same hash."""
    tip, current = saved.tip.sequence_no, ledger.tip()
    if saved.tip.strand_id != ledger.strand_id:
        raise LedgerError(
            "not-this-ledger", f"{where}: the digest is of strand {saved.tip.strand_id}, this "
            f"ledger is strand {ledger.strand_id}",
        )  # fmt: skip
    if tip > current:
        raise LedgerError(
            "not-this-ledger", f"{where}: the digest is at tip {tip}, this ledger's tip is "
            f"{current}",
        )  # fmt: skip
    ours = ledger.digest(tip).digest
    if ours != saved.digest:
        raise LedgerError(
            "not-this-ledger", f"{where}: the digest at tip {tip} is not this ledger's digest at "
            f"that tip ({b64(ours)}): a digest of another history (a fork, or another ledger); "
            "no proof made",
        )  # fmt: skip
    proof = ledger.consistency_proof(tip, current)
    return {
        "format": CONSISTENCY_FORMAT,
        "version": VERSION,
        "ledgerName": ledger.name,
        "strandId": ledger.strand_id,
        "old": get_digest(ledger.strand_id, tip, saved.digest),
        "new": ledger.digest(current).checkpoint,
        "proof": {"IonText": proof_text(proof)},
    }


def consistency_file(ledger: Ledger, old_tip: int, new_tip: int) -> dict[str, Any]:
    proof = ledger.consistency_proof(old_tip, new_tip)
    return {
        "format": CONSISTENCY_FORMAT,
        "version": VERSION,
        "ledgerName": ledger.name,
        "strandId": ledger.strand_id,
        "old": ledger.digest(old_tip).checkpoint,
        "new": ledger.digest(new_tip).checkpoint,
        "proof": {"IonText": proof_text(proof)},
    }
