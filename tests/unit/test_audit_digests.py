"""auditor.audit.digests: each digest shape parsed field by field, and who it is trusted by.

A GetDigest or proofs.json is trusted only when you supplied it (``--digest``), a checkpoint
only through a key you trust for its ledger; found beside an export, nothing is trusted. Each
refusal names its reason and field; the report form (``to_json``) carries every field."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest

from auditor.audit.digests import DigestInput, parse_digest
from auditor.ledger.keys import SignerKey, sign_note
from auditor.verify import Policy
from proofs import MAX_PROOF_LENGTH
from proofs.note import Checkpoint, checkpoint_text

DIGEST = hashlib.sha256(b"root").digest()
PROOF = (hashlib.sha256(b"a").digest(), hashlib.sha256(b"b").digest())
NONE = Policy()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def get_digest(tip: int = 7, strand: str = "S1") -> bytes:
    return json.dumps({
        "Digest": b64(DIGEST),
        "DigestTipAddress": {"IonText": f'{{strandId:"{strand}",sequenceNo:{tip}}}'},
    }).encode()  # fmt: skip


def proofs_json(**change: Any) -> dict[str, Any]:
    doc = {
        "Ledger": "books", "Digest": b64(DIGEST),
        "DigestTipAddress": {"strandId": "S1", "sequenceNo": 9}, "LastBlockNum": 4,
        "Proof": [b64(p) for p in PROOF],
    }  # fmt: skip
    doc.update(change)
    return {k: v for k, v in doc.items() if v is not ...}


def parsed(doc: dict[str, Any], supplied: bool = True) -> DigestInput:
    return parse_digest(json.dumps(doc).encode(), "p.json", supplied=supplied, policy=NONE)


def test_get_digest_supplied_is_trusted_and_reported_field_by_field() -> None:
    data = get_digest()
    d = parse_digest(data, "d.json", supplied=True, policy=NONE)
    assert d.error is None
    assert (d.kind, d.strand_id, d.tip, d.digest, d.covers) == ("get-digest", "S1", 7, DIGEST, 7)
    assert d.trusted
    assert d.anchor.startswith("the digest you supplied in d.json (tip ")
    assert "S1" in d.anchor
    assert d.to_json() == {
        "source": "d.json", "kind": "get-digest", "supplied": True, "trusted": True,
        "anchor": d.anchor, "sha256": hashlib.sha256(data).hexdigest(), "strandId": "S1",
        "tip": 7, "lastBlock": None, "digest": b64(DIGEST), "computed": None,
        "status": "pending", "message": "", "detail": "",
    }  # fmt: skip
    d.computed, d.status = PROOF[0], "failed"
    assert (d.to_json()["computed"], d.to_json()["status"]) == (b64(PROOF[0]), "failed")


def test_get_digest_beside_the_export_attests_nothing() -> None:
    d = parse_digest(get_digest(), "d.json", supplied=False, policy=NONE)
    assert (d.error, d.trusted, d.anchor, d.tip) == (None, False, "", 7)


def test_ion_binary_is_read_as_ion_not_as_text() -> None:
    from auditor.ion import dumps_binary

    binary = dumps_binary([{"Digest": DIGEST, "DigestTipAddress": {"IonText": "{}"}}])
    assert binary[:1] == b"\xe0"
    d = parse_digest(binary, "d.10n", supplied=True, policy=NONE)
    assert d.error is not None
    assert d.error.reason == "unknown-format"  # (read as text it would be "not-utf8")


def test_proofs_json_fields() -> None:
    d = parsed(proofs_json())
    assert d.error is None
    assert (d.kind, d.strand_id, d.tip, d.last_block, d.proof, d.digest, d.ledger) == (
        "proofs-json",
        "S1",
        9,
        4,
        PROOF,
        DIGEST,
        "books",
    )
    assert d.covers == 4  # the block it attests, not the digest's tip
    assert (d.trusted, d.anchor) == (True, "the proofs.json you supplied in p.json")
    assert d.to_json()["lastBlock"] == 4
    beside = parsed(proofs_json(), supplied=False)
    assert (beside.error, beside.trusted, beside.anchor) == (None, False, "")
    # the Ion text holders of the AWS sample
    holders = proofs_json(
        DigestTipAddress={"IonText": '{strandId:"S1",sequenceNo:9}'},
        Proof={"IonText": "[" + ",".join("{{" + b64(p) + "}}" for p in PROOF) + "]"},
    )
    d = parsed(holders)
    assert (d.error, d.tip, d.proof) == (None, 9, PROOF)
    # a tip at the block itself, block 0, no ledger name, an empty proof
    d = parsed(proofs_json(LastBlockNum=9, Proof=[], Ledger=...))
    assert (d.error, d.last_block, d.proof, d.ledger) == (None, 9, (), None)
    d = parsed(proofs_json(Export={"ExportId": "e"}, LastBlockTimestamp="2024-05-01T00:00:00Z"))
    assert (d.error, d.last_block) == (None, 4)  # the AWS sample's other fields
    d = parsed(proofs_json(LastBlockNum=0, Ledger=7))
    assert (d.error, d.last_block, d.ledger) == (None, 0, None)
    d = parsed(proofs_json(Proof=[b64(PROOF[0])] * MAX_PROOF_LENGTH))
    assert d.error is None
    assert len(d.proof or ()) == MAX_PROOF_LENGTH


@pytest.mark.parametrize(
    ("change", "reason", "field"),
    [
        ({"LastBlockNum": -1}, "not-an-int", "LastBlockNum"),
        ({"LastBlockNum": True}, "not-an-int", "LastBlockNum"),
        ({"LastBlockNum": "4"}, "not-an-int", "LastBlockNum"),
        ({"LastBlockNum": 10}, "tip-behind-block", "DigestTipAddress.sequenceNo"),
        ({"Proof": [b64(PROOF[0])] * (MAX_PROOF_LENGTH + 1)}, "not-a-list", "Proof"),
        ({"Proof": b64(PROOF[0])}, "not-a-list", "Proof"),
        ({"Proof": ["AAAA"]}, "hash-length", "Proof[0]"),
        ({"Proof": [b64(PROOF[0]), 5]}, "not-base64", "Proof[1]"),
        ({"Digest": "AAAA"}, "hash-length", "Digest"),
        ({"Proof": ...}, "missing-field", "Proof"),
        ({"Extra": 1}, "unknown-field", "Extra"),
    ],
)
def test_proofs_json_refusals(change: dict[str, Any], reason: str, field: str) -> None:
    d = parsed(proofs_json(**change))
    assert d.error is not None
    assert (d.error.reason, d.kind) == (reason, "proofs-json"), d.error
    assert d.error.locator.startswith("p.json:")
    assert field in d.error.locator, d.error.locator


def test_size_encoding_and_shape_refusals() -> None:
    mib = 1024 * 1024  # the cap on a digest file
    big = parse_digest(b" " * (mib + 1), "big", supplied=True, policy=NONE)
    assert big.error is not None
    assert (big.error.reason, big.kind, big.anchor) == ("too-large", "unknown", "")
    at_cap = parse_digest(get_digest() + b" " * (mib - len(get_digest())), "cap",
                          supplied=True, policy=NONE)  # fmt: skip
    assert (at_cap.error, at_cap.tip) == (None, 7)
    not_text = parse_digest(b"\xff", "x", supplied=True, policy=NONE)
    assert str(not_text.error) == "x: not a digest file (not UTF-8 text)"
    for data, reason in ((b"\xff", "not-utf8"), (b"[1, 2]", None),
                         (b'{"Block": {"IonText": "{}"}}', "not-a-digest")):  # fmt: skip
        d = parse_digest(data, "x", supplied=True, policy=NONE)
        assert d.error is not None, data
        assert reason is None or d.error.reason == reason, d.error
        assert not d.trusted
    assert (
        parse_digest(b"x", "x", supplied=True, policy=NONE).sha256
        == hashlib.sha256(b"x").hexdigest()
    )
    # what the audit reports for a digest file it could not read: no hash, no anchor
    unread = DigestInput(source="gone.json", kind="unknown", supplied=True).to_json()
    assert (unread["sha256"], unread["anchor"], unread["trusted"]) == ("", "", False)


LOG = SignerKey.generate("books")


def checkpoint(*keys: SignerKey, ledger: str = "books") -> bytes:
    text = checkpoint_text(Checkpoint(ledger, "S1", 12, DIGEST, "2024-05-01T00:00:00Z"))
    return sign_note(text, *keys).encode()


def test_checkpoint_trusted_only_through_a_key_for_its_ledger() -> None:
    note = checkpoint(LOG)
    untrusted = parse_digest(note, "c", supplied=True, policy=NONE)
    assert untrusted.error is None
    assert (untrusted.kind, untrusted.ledger, untrusted.strand_id, untrusted.tip) == (
        "checkpoint",
        "books",
        "S1",
        12,
    )
    assert (untrusted.digest, untrusted.trusted, untrusted.anchor) == (DIGEST, False, "")
    who = f"books+{LOG.verifier.key_id.hex()}"
    assert untrusted.detail.endswith(f"; signed by {who}")
    assert untrusted.detail.startswith("no key you trust was supplied")
    trusted = parse_digest(note, "c", supplied=False, policy=Policy(log_keys=(LOG.verifier,)))
    assert (trusted.error, trusted.trusted, trusted.status) == (None, True, "pending")
    assert trusted.anchor == f"the key {who} you supplied (--trust-key)"
    assert trusted.detail == f"signed by {who}, a key you trust for ledger books; signed by {who}"


def test_checkpoint_a_trusted_key_did_not_sign_is_refuted() -> None:
    other = SignerKey.generate("books")
    for note in (checkpoint(other), checkpoint(LOG, ledger="other")):
        d = parse_digest(note, "c", supplied=True, policy=Policy(log_keys=(LOG.verifier,)))
        assert (d.status, d.trusted, d.kind) == ("failed", False, "checkpoint")
        assert d.error is not None
        assert d.error.reason == "signature"
        assert d.message == str(d.error)
    # a note signed by nobody the policy knows, and a second signature required
    d = parse_digest(checkpoint(LOG), "c", supplied=True,
                     policy=Policy(log_keys=(LOG.verifier,), min_signatures=2))  # fmt: skip
    assert (d.status, d.trusted) == ("failed", False)
    garbled = checkpoint(LOG).replace(b"\n13\n", b"\n1x\n")
    d = parse_digest(garbled, "c", supplied=True, policy=NONE)
    assert (d.status, d.trusted, d.kind) == ("pending", False, "checkpoint")
    assert d.error is not None
