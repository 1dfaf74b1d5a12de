"""Receipt bundles for a given committed revision (our writer's bundle format, auditor/bundle.py).

``auditor.bundle.receipt_bundle`` finds its revision by (table, key, version); the server also
starts from a (documentId, txId) pair, which names one revision even after a key was deleted
and written again (a new document id, versions from 0 again). :func:`bundle_for_revision`
builds the same bundle, field for field, from the revision itself; a test checks that both
give identical output. (Proposed to the writer's owner: ``bundle.receipt_bundle_for(ledger,
revision)``, which ``receipt_bundle`` would call, so that this module disappears.)
"""

from __future__ import annotations

from typing import Any

from auditor.bundle import BUNDLE_FORMAT, VERSION, address_text, b64, ion_text, proof_text
from auditor.ledger import Ledger, Revision


def bundle_for_revision(ledger: Ledger, revision: Revision) -> dict[str, Any]:
    """The receipt bundle of ``revision`` against the ledger's current tip."""
    signed = ledger.digest()
    proof = ledger.revision_proof(revision, signed.tip)
    block = address_text(ledger.strand_id, revision.sequence_no)
    tip = address_text(ledger.strand_id, signed.tip)
    digest = {"Digest": b64(signed.digest), "DigestTipAddress": {"IonText": tip}}
    proof_ion = proof_text(proof)
    return {
        "format": BUNDLE_FORMAT,
        "version": VERSION,
        "ledgerName": ledger.name,
        "tableName": revision.table,
        "key": revision.key,
        "documentId": revision.document_id,
        "blockAddress": {"IonText": block},
        "revision": {"IonText": ion_text(revision.value)},
        "proof": {"IonText": proof_ion},
        "digest": digest,
        "checkpoint": signed.checkpoint,
        "LedgerMetadata": {
            "LedgerName": ledger.name,
            "TableName": revision.table,
            "BlockAddress": {"IonText": block},
            "DocumentId": revision.document_id,
            "RevisionHash": b64(revision.hash),
            "Proof": {"IonText": proof_ion},
            "LedgerDigest": digest,
        },
    }
