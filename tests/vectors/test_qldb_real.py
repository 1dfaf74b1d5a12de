"""Every real QLDB vector in fixtures/qldb behaves as its `checks` say, through the Python API.
(The CLI side is tests/integration/test_cli.py, driven by fixtures/qldb/artefacts/manifest.json.)"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

import proofs
from auditor import ion
from fixtures.qldb import make_artefacts
from tests.conftest import ARTEFACTS, real_vectors

VECTORS = real_vectors()


def _b64(text: str) -> bytes:
    return base64.b64decode(text)


def _ion(text: str) -> Any:
    (value,) = ion.loads(text, "vector")
    return value


def _json_revision(revision_json: dict[str, Any]) -> Any:
    from auditor.formats import parse

    (artefact,) = parse(json.dumps(revision_json).encode(), "revision.json")
    return artefact.revision  # type: ignore[union-attr]


def test_inventory() -> None:
    """18 vectors; the ones we test below cover every kind that can be checked."""
    assert len(VECTORS) == 18
    kinds = {v["kind"] for v in VECTORS.values()}
    assert kinds >= {"getblock_output", "getrevision_output", "receipt", "revision"}


@pytest.mark.parametrize("vid", [k for k, v in VECTORS.items() if v["kind"] == "receipt"])
def test_receipt(vid: str) -> None:
    receipt = VECTORS[vid]["receipt"]
    expected = {c["check"]: c["expected"] for c in VECTORS[vid]["checks"]}
    proof = list(_ion(receipt["Proof"]["IonText"]))
    digest = _b64(receipt["LedgerDigest"]["Digest"])
    start = _b64(receipt["RevisionHash"])
    if expected["fold(RevisionHash, Proof) == LedgerDigest.Digest"]:
        check = proofs.verify_proof(start, proof, digest)
        assert check.actual == digest
    else:
        with pytest.raises(proofs.VerificationError) as e:
            proofs.verify_proof(start, proof, digest)
        assert e.value.expected == digest
        assert e.value.actual == proofs.fold(start, proof) != digest
    block = _ion(receipt["BlockAddress"]["IonText"])["sequenceNo"]
    tip = _ion(receipt["LedgerDigest"]["DigestTipAddress"]["IonText"])["sequenceNo"]
    assert (block <= tip) is expected["block sequenceNo <= tip sequenceNo"]


@pytest.mark.parametrize("vid", [k for k, v in VECTORS.items() if v["kind"] == "revision"])
def test_json_revision(vid: str) -> None:
    vector = VECTORS[vid]
    ok = vector["checks"][0]["expected"]
    revision = _json_revision(vector["revision_json"])
    if ok:
        assert proofs.verify_revision(revision).actual == _b64(vector["revision_json"]["hash"])
        # where the vector gives its own Ion reconstruction, it hashes the same way
        ion = vector.get("ion_reconstruction")
        if ion is None:
            return
        data_hash = proofs.ion_hash(_ion(ion["data"]))
        meta_hash = proofs.ion_hash(_ion(ion["metadata"]))
        assert proofs.dot(data_hash, meta_hash) == proofs.revision_hash(revision)
    else:
        with pytest.raises(proofs.VerificationError):
            proofs.verify_revision(revision)


def test_getblock_and_getrevision_agree() -> None:
    blk = VECTORS["awscli-getblock-KmA3-100-tip123"]
    rev = VECTORS["awscli-getrevision-KmA3-100-tip123"]
    block = _ion(blk["response"]["Block"]["IonText"])
    result = proofs.verify_block(block)
    assert [c.name for c in result.checks] == [
        "revision-hash",
        "revisions-root",
        "transaction-info",
        "entries-hash",
        "block-hash",
    ]
    assert result.revisions_verified == 1
    assert result.sequence_no == 100
    assert result.checks[2].detail == "entriesHashList[3]"  # as the vector says (index 3)
    assert proofs.ion_hash(block["transactionInfo"]) == _b64(blk["derived"]["transactionInfo_hash"])
    digest = _b64(blk["derived"]["digest_at_tip_123"])
    proofs.verify_proof(result.block_hash, list(_ion(blk["response"]["Proof"]["IonText"])), digest)
    revision = _ion(rev["response"]["Revision"]["IonText"])
    proofs.verify_revision(revision)
    rev_proof = list(_ion(rev["response"]["Proof"]["IonText"]))
    proofs.verify_proof(revision["hash"], rev_proof, digest)
    # GetRevision proof = in-block steps + previousBlockHash + the GetBlock proof (§4.3)
    entries = list(block["entriesHashList"])
    assert rev_proof[0] == entries[0]
    assert rev_proof[1] == proofs.dot(entries[2], entries[3])
    assert rev_proof[2] == block["previousBlockHash"]
    assert rev_proof[3:] == list(_ion(blk["response"]["Proof"]["IonText"]))


def test_statement_digest_without_parameters() -> None:
    for vid in ("awscli-getblock-KmA3-100-tip123", "stream-dmv-block-summary-HbD9-3"):
        vector = VECTORS[vid]
        text = (
            vector["response"]["Block"]["IonText"] if "response" in vector else vector["ion_text"]
        )
        block = _ion(text)
        block = block.get("payload", block)
        (statement,) = block["transactionInfo"]["statements"]
        assert proofs.ion_hash(statement["statement"]) == statement["statementDigest"]


def test_parameterized_statement_digests_are_not_the_bare_statement_hash() -> None:
    vector = VECTORS["qldbguide-statement-digests-parameterized"]
    for s in vector["statements"]:
        assert proofs.ion_hash(s["statement"]) != _b64(s["statementDigest"])


def test_stream_records() -> None:
    summary = _ion(VECTORS["stream-dmv-block-summary-HbD9-3"]["ion_text"])["payload"]
    result = proofs.verify_block(summary)
    assert [c.name for c in result.checks][:2] == ["revisions-root", "transaction-info"]
    assert result.checks[0].detail == "entriesHashList[1]"
    details = VECTORS["stream-dmv-revision-details-D35q-v0"]
    good = _ion(details["ion_text_corrected"])["payload"]["revision"]
    assert proofs.verify_revision(good).actual == summary["revisionSummaries"][0]["hash"]
    assert good["hash"] == summary["entriesHashList"][1]
    with pytest.raises(proofs.VerificationError) as e:
        proofs.verify_revision(_ion(details["ion_text_as_published"])["payload"]["revision"])
    assert e.value.reason == "revision-hash"


def test_digest_tree_structure() -> None:
    """Three receipts of one ledger: the digest tree is RFC 6962-shaped over block hashes."""
    derived = VECTORS["restapi-ledger-1HqU-cross-receipt-consistency"]["derived"]
    a = VECTORS["restapi-receipt-1HqU-19-tip35"]["receipt"]
    b = VECTORS["restapi-receipt-1HqU-19-tip19"]["receipt"]
    c = VECTORS["restapi-receipt-1HqU-30-tip38"]["receipt"]
    proof_a = list(_ion(a["Proof"]["IonText"]))
    proof_b = list(_ion(b["Proof"]["IonText"]))
    proof_c = list(_ion(c["Proof"]["IonText"]))
    h = {k: _b64(v) for k, v in derived.items()}
    assert proofs.fold(_b64(a["RevisionHash"]), proof_a[:3]) == h["blockHash_19"]
    assert proofs.fold(_b64(c["RevisionHash"]), proof_c[:3]) == h["blockHash_30"]
    assert proofs.fold(h["blockHash_19"], proof_a[3:6]) == h["MTH_16_23"] == proof_c[6]
    assert proofs.fold(h["blockHash_30"], proof_c[3:6]) == h["MTH_24_31"] == proof_a[6]
    assert proofs.dot(h["MTH_16_23"], h["MTH_24_31"]) == h["MTH_16_31"]
    assert proof_a[7] == proof_b[5] == proof_c[7] == h["MTH_0_15"]
    assert proofs.fold(h["blockHash_19"], proof_b[3:5]) == h["MTH_16_19"]
    assert proofs.dot(h["MTH_16_19"], h["MTH_0_15"]) == _b64(b["LedgerDigest"]["Digest"])
    assert proof_b[2] == proof_b[3]  # odd leaf 19: previous block hash twice in a row


def test_rust_driver_dot_vector() -> None:
    f = VECTORS["rust-driver-dot-vector"]["fields"]
    a, b = bytes.fromhex(f["a_hex"]), bytes.fromhex(f["b_hex"])
    assert proofs.dot(a, b).hex() == f["dot_hex"] == proofs.dot(b, a).hex()


def test_artefact_files_regenerate_identically() -> None:
    built = make_artefacts.build()
    on_disk = {p.name: p.read_text() for p in ARTEFACTS.iterdir() if p.is_file()}
    assert built == on_disk
