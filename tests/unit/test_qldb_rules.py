"""Every rule of proofs/qldb.py that decides a verdict, each with the input that must be refused
and the genuine one that must pass (written to kill the mutants ``make mutate`` found
surviving the other tests)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

import proofs
from auditor import ion
from proofs import (
    MAX_PROOF_LENGTH,
    BlockAddress,
    MalformedError,
    VerificationError,
    block_address,
    dot,
    ion_hash,
    merkle_root,
    revision_hash,
    verify_block,
    verify_consistency,
    verify_proof,
    verify_revision,
)
from proofs.qldb import BLOCK_FIELDS, MAX_ENTRIES, REVISION_FIELDS, Check, _hash_list

STRAND = "S1"
TX = "T1"


def _ion(text: str) -> Any:
    """One value of Ion text, as the project's reader gives it (the model proofs/ checks)."""
    return ion.loads(text, "test")[0]


def h(n: int) -> bytes:
    return hashlib.sha256(str(n).encode()).digest()


def metadata(doc: str, version: int = 0, tx: str = TX) -> dict[str, Any]:
    return {"id": doc, "version": version, "txTime": _ion("2024-05-01T10:00:00Z"),
            "txId": tx}  # fmt: skip


def user_revision(seq: int, doc: str, data: Any = None, deleted: bool = False) -> dict[str, Any]:
    meta = metadata(doc)
    rev: dict[str, Any] = {"blockAddress": {"strandId": STRAND, "sequenceNo": seq}}
    if deleted:
        rev["hash"] = ion_hash(meta)  # the writer's rule: dot(empty, IonHash(metadata))
    else:
        data = {"n": 1} if data is None else data
        rev["data"] = data
        rev["hash"] = dot(ion_hash(data), ion_hash(meta))
    rev["metadata"] = meta
    return rev


def block(
    seq: int,
    revisions: list[dict[str, Any]] | None = None,
    *,
    documents: list[str] | None = None,
    redaction: dict[str, Any] | None = None,
    info: bool = True,
    header: bool = False,
) -> dict[str, Any]:
    revisions = [] if revisions is None else revisions
    docs = documents if documents is not None else [
        r["metadata"]["id"] for r in revisions if "metadata" in r
    ]  # fmt: skip
    out: dict[str, Any] = {
        "blockAddress": {"strandId": STRAND, "sequenceNo": seq},
        "transactionId": TX,
        "blockTimestamp": _ion("2024-05-01T10:00:00Z"),
    }
    entries = [h(7)]
    if header:
        entries = [ion_hash({k: out[k] for k in ("blockAddress", "transactionId",
                                                 "blockTimestamp")})]  # fmt: skip
    if revisions:
        entries.append(merkle_root([r["hash"] for r in revisions]))
    if info:
        transaction = {"statements": [], "documents": {d: {"tableName": "t"} for d in docs}}
        out["transactionInfo"] = transaction
        entries.append(ion_hash(transaction))
    if redaction is not None:
        out["redactionInfo"] = redaction
        entries.append(ion_hash(redaction))
    previous = b"" if seq == 0 else h(seq - 1)
    entries_hash = merkle_root(entries)
    out.update(blockHash=dot(entries_hash, previous), entriesHash=entries_hash,
               previousBlockHash=previous, entriesHashList=entries)  # fmt: skip
    if revisions:
        out["revisions"] = revisions
    return out


# -- constants and records ------------------------------------------------------------------------
def test_the_caps_are_the_documented_ones() -> None:
    assert MAX_ENTRIES == 1 << 20
    assert MAX_PROOF_LENGTH == 256
    assert Check("a", "b").detail == ""
    assert {"blockAddress", "hash", "data", "dataHash", "metadata"} == REVISION_FIELDS
    assert {"transactionInfo", "redactionInfo", "revisions", "revisionSummaries"} <= BLOCK_FIELDS


def test_hash_lists_are_capped_exactly() -> None:
    assert len(_hash_list([h(1), h(2)], "l", 2)) == 2
    with pytest.raises(MalformedError) as e:
        _hash_list([h(1), h(2), h(3)], "l", 2)
    assert e.value.reason == "list-length"
    with pytest.raises(MalformedError) as e:
        _hash_list(_ion("x::[{{" + "A" * 43 + "=}}]"), "l", 2)
    assert e.value.reason == "annotation"


# -- revisions ---------------------------------------------------------------------------------
def test_revision_checks_say_what_they_recomputed() -> None:
    rev = user_revision(1, "D1")
    assert verify_revision(rev).detail == ""
    assert verify_revision(rev).locator == "revision.hash"
    redacted = {**rev, "dataHash": ion_hash(rev["data"])}
    del redacted["data"]
    assert verify_revision(redacted).detail == "redacted: dataHash in place of data"
    deleted = user_revision(1, "D1", deleted=True)
    assert (
        verify_revision(deleted, hash_deleted=True).detail
        == "deleted: metadata only (qldb-audit writer rule)"
    )
    with pytest.raises(MalformedError) as e:
        verify_revision(deleted)
    assert (e.value.reason, e.value.locator) == ("deleted-revision", "revision")
    with pytest.raises(MalformedError) as e:
        revision_hash({"data": 1})
    assert e.value.locator == "revision.metadata"


def test_verify_proof_names_its_check_and_refuses_non_lists() -> None:
    check = verify_proof(h(1), [h(2)], dot(h(1), h(2)))
    assert (check.name, check.locator) == ("proof-digest", "proof")
    with pytest.raises(MalformedError) as e:
        verify_proof(h(1), h(2), dot(h(1), h(2)))  # type: ignore[arg-type]
    assert e.value.reason == "not-a-list"
    with pytest.raises(VerificationError) as v:
        verify_proof(h(1), [h(2)], h(3))
    assert (v.value.reason, v.value.locator) == ("proof-digest", "proof")


def test_consistency_between_digests_at_two_tips() -> None:
    leaves = [h(i) for i in range(7)]
    old, new = merkle_root(leaves[:3]), merkle_root(leaves)
    proof = proofs.consistency_path(3, 7, leaves)
    check = verify_consistency(old, new, proof, old_tip=2, new_tip=6)
    assert (check.name, check.locator) == ("consistency", "consistency")
    assert check.detail == f"tip 2 -> tip 6, {len(proof)} proof elements"
    with pytest.raises(VerificationError) as v:
        verify_consistency(old, h(0), proof, old_tip=2, new_tip=6)
    assert v.value.reason == "consistency-new"
    with pytest.raises(VerificationError) as v:
        verify_consistency(h(0), new, proof, old_tip=2, new_tip=6)
    assert v.value.reason == "consistency-old"
    assert proofs.consistency_path_length(3, 7) != proofs.consistency_path_length(3, 4)
    with pytest.raises(MalformedError):  # the sizes are tip + 1: other tips, other lengths
        verify_consistency(old, new, proof, old_tip=2, new_tip=3)
    # a consistency proof pins the roots, and the tips only through its length: sizes whose
    # lengths differ are told apart
    wide = merkle_root([h(i) for i in range(5)])
    long_proof = proofs.consistency_path(3, 5, [h(i) for i in range(5)])
    assert proofs.consistency_path_length(3, 5) != proofs.consistency_path_length(3, 3)
    verify_consistency(old, wide, long_proof, old_tip=2, new_tip=4)
    with pytest.raises(MalformedError):
        verify_consistency(old, wide, long_proof, old_tip=2, new_tip=2)
    with pytest.raises(MalformedError) as e:
        verify_consistency(old[:31], new, proof, old_tip=2, new_tip=6)
    assert e.value.locator == "consistency old digest"


# -- block addresses ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (["S1", 1], "block-address"),
        ({"strandId": "S1", "sequenceNo": 1, "x": 1}, "unknown-field"),
        ({"strandId": "S1"}, "missing-field"),
        ({"strandId": "S/1", "sequenceNo": 1}, "not-a-strand-id"),
        ({"strandId": "", "sequenceNo": 1}, "not-a-strand-id"),
        ({"strandId": "S1", "sequenceNo": -1}, "not-an-int"),
        ({"strandId": "S1", "sequenceNo": True}, "not-an-int"),
        ({"strandId": "S1", "sequenceNo": 1.0}, "not-an-int"),
        ({"strandId": "S1", "sequenceNo": 1 << 63}, "not-an-int"),
        (_ion('a::{strandId:"S1",sequenceNo:1}'), "annotation"),
        (_ion('{strandId:a::"S1",sequenceNo:1}'), "annotation"),
    ],
)
def test_block_addresses_are_parsed_exactly(value: Any, reason: str) -> None:
    with pytest.raises(MalformedError) as e:
        block_address(value, "at")
    assert e.value.reason == reason


def test_the_largest_and_smallest_block_addresses() -> None:
    assert block_address({"strandId": "S1", "sequenceNo": 0}, "at") == BlockAddress("S1", 0)
    top = (1 << 63) - 1
    assert block_address({"strandId": "x" * 64, "sequenceNo": top}, "at").sequence_no == top
    with pytest.raises(MalformedError):
        block_address({"strandId": "x" * 65, "sequenceNo": 0}, "at")


# -- blocks ------------------------------------------------------------------------------------
def test_a_genuine_block_and_what_it_reports() -> None:
    revisions = [user_revision(3, "D1"), {"hash": h(50)}, user_revision(3, "D2", deleted=True)]
    result = verify_block(block(3, revisions))
    assert (result.revisions_verified, result.revisions_system, result.revisions_deleted) == (
        1, 1, 1,
    )  # fmt: skip
    assert result.deleted_documents == ("D2",)
    assert result.user_revisions == 2
    assert result.has_transaction_info
    assert result.address == BlockAddress(STRAND, 3)
    writer = verify_block(block(3, revisions, header=True), writer_rules=True)
    assert [c.name for c in writer.checks].count("revision-hash") == 2  # the delete recomputed
    assert "block-header" in [c.name for c in writer.checks]
    with pytest.raises(VerificationError) as v:  # no header entry: not the writer's block
        verify_block(block(3, revisions), writer_rules=True)
    assert v.value.reason == "block-header"
    no_recompute = verify_block(block(3, revisions), recompute=False)
    assert no_recompute.revisions_verified == 0


def test_a_system_revision_does_not_stop_the_revisions_after_it() -> None:
    edited = user_revision(3, "D2")
    edited["data"] = {"n": 2}  # the hash no longer recomputes
    with pytest.raises(VerificationError) as v:
        verify_block(block(3, [{"hash": h(50)}, edited]))
    assert v.value.reason == "revision-hash"


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda b: b.update(extra=1), "unknown-field"),
        (lambda b: b["revisions"][0].update(date=b["revisions"][0].pop("data")), "unknown-field"),
        (lambda b: b["revisions"][0].pop("metadata"), "missing-field"),
        (lambda b: b["revisions"][0].update(dataHash=h(1)), "data-and-datahash"),
        (lambda b: b.update(revisions=[{"hash": h(1), "dataHash": h(2)}]), "missing-field"),
        (lambda b: b["revisions"][0]["metadata"].pop("txId"), "revision-hash"),
        (lambda b: b.update(revisions=[["not", "a", "revision"]]), "not-a-struct"),
        (lambda b: b.update(revisions="x"), "not-a-list"),
        (lambda b: b.update(transactionId=7), "not-a-string"),
    ],
)
def test_block_shapes_that_are_refused(edit: Any, reason: str) -> None:
    b = block(3, [user_revision(3, "D1")])
    edit(b)
    with pytest.raises((MalformedError, VerificationError)) as e:
        verify_block(b)
    assert e.value.reason == reason


def test_a_deleted_revision_still_names_its_transaction() -> None:
    deleted = user_revision(3, "D2", deleted=True)
    deleted["metadata"]["txId"] = 5
    with pytest.raises(MalformedError) as e:
        verify_block(block(3, [deleted]))
    assert (e.value.reason, e.value.locator) == (
        "not-a-string",
        "block 3.revisions[0].metadata.txId",
    )
    other = user_revision(3, "D2", deleted=True)
    other["metadata"]["txId"] = "T9"
    with pytest.raises(VerificationError) as v:
        verify_block(block(3, [other]))
    assert v.value.reason == "transaction-id"


def test_a_block_must_be_a_struct() -> None:
    with pytest.raises(MalformedError) as e:
        verify_block([1, 2])
    assert e.value.reason == "not-a-struct"


def test_a_block_without_its_address_verifies_and_says_so() -> None:
    b = block(3, [user_revision(3, "D1")])
    del b["blockAddress"]
    for r in b["revisions"]:
        del r["blockAddress"]
    result = verify_block(b)
    assert (result.address, result.sequence_no) == (None, None)
    b["previousBlockHash"] = b""  # only block 0 may have an empty previous hash
    with pytest.raises(MalformedError):
        verify_block(b)


def test_hashes_carry_no_annotations() -> None:
    b = block(3, [user_revision(3, "D1")])
    b["blockHash"] = _ion("x::{{" + __import__("base64").b64encode(b["blockHash"])
                                     .decode() + "}}")  # fmt: skip
    with pytest.raises(MalformedError) as e:
        verify_block(b)
    assert e.value.reason == "annotation"


def test_the_entries_cap_is_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    import proofs.qldb

    monkeypatch.setattr(proofs.qldb, "MAX_ENTRIES", 3)  # entries: [h(7), revisions, txinfo]
    verify_block(block(3, [user_revision(3, f"D{i}") for i in range(3)]))
    with pytest.raises(MalformedError) as e:
        verify_block(block(3, [user_revision(3, f"D{i}") for i in range(4)]))
    assert (e.value.reason, e.value.locator) == ("not-a-list", "block 3.revisions")
    rev = user_revision(3, "D1")
    base = {k: v for k, v in block(3, [rev]).items() if k != "revisions"}
    with pytest.raises(VerificationError):  # three summaries: read, then their root is checked
        verify_block({**base, "revisionSummaries": [{"hash": rev["hash"], "documentId": "D1"}] * 3})
    summaries = [{"hash": rev["hash"], "documentId": "D1"}] * 4
    with pytest.raises(MalformedError) as e:
        verify_block({**base, "revisionSummaries": summaries})
    assert (e.value.reason, e.value.locator) == ("not-a-list", "block 3.revisionSummaries")


def test_every_listed_document_has_its_revision_or_its_redaction() -> None:
    missing = block(3, [user_revision(3, "D1")], documents=["D1", "D2"])
    with pytest.raises(VerificationError) as v:
        verify_block(missing)
    assert (v.value.reason, v.value.expected) == ("transaction-documents", "D2")
    none = block(3, [], documents=["D1"])
    with pytest.raises(MalformedError) as e:
        verify_block(none)
    assert e.value.reason == "missing-field"
    redaction = {"revisions": [{"blockAddress": {"strandId": STRAND, "sequenceNo": 1},
                                "tableId": "t", "documentId": "D1", "version": 0}]}  # fmt: skip
    verify_block(block(3, [], documents=["D1"], redaction=redaction))
    wrong = {"revisions": [{**redaction["revisions"][0], "documentId": "D9"}]}
    with pytest.raises((MalformedError, VerificationError)):
        verify_block(block(3, [], documents=["D1"], redaction=wrong))
    for odd, reason in (
        ({}, "missing-field"), ({"revisions": "x"}, "not-a-list"),
        ({"revisions": [1]}, "not-a-struct"), ({"revisions": [{"documentId": 1}]}, "not-a-string"),
    ):  # fmt: skip
        with pytest.raises(MalformedError) as e:
            verify_block(block(3, [], documents=["D1"], redaction=odd))
        assert e.value.reason == reason
    # D1 redacted, D2 listed with no revision at all: "no revisions" is what the block shows
    with pytest.raises(VerificationError) as v:
        verify_block(block(3, [], documents=["D1", "D2"], redaction=redaction))
    assert (v.value.expected, v.value.actual) == ("D2", "no revisions")
    assert v.value.locator == "block 3.revisions"
    # a revision for a document the transaction did not list
    with pytest.raises(VerificationError) as v:
        verify_block(block(3, [user_revision(3, "D1")], documents=["D3"]))
    assert v.value.reason == "transaction-documents"
    # user revisions, and transactionInfo with no documents field at all
    b = block(3, [user_revision(3, "D1")])
    del b["transactionInfo"]["documents"]
    b["entriesHashList"][-1] = ion_hash(b["transactionInfo"])
    b["entriesHash"] = merkle_root(b["entriesHashList"])
    b["blockHash"] = dot(b["entriesHash"], b["previousBlockHash"])
    with pytest.raises(VerificationError) as v:
        verify_block(b)
    assert v.value.reason == "transaction-documents"


def test_stream_summaries_are_checked_field_by_field() -> None:
    rev = user_revision(3, "D1")
    b = block(3, [rev])
    summary = {k: v for k, v in b.items() if k != "revisions"}
    summary["revisionSummaries"] = [{"hash": rev["hash"], "documentId": "D1"}]
    assert verify_block(summary).user_revisions == 1
    extra = [{"hash": rev["hash"], "documentId": "D1"}, {"hash": h(1), "documentId": "D9"}]
    with pytest.raises(VerificationError) as v:  # D1 has its summary; D9 was not listed
        verify_block({**summary, "revisionSummaries": extra})
    assert v.value.locator == "block 3.revisionSummaries[1].documentId"
    for odd, reason in (
        ([{"hash": rev["hash"], "documentId": "D1", "x": 1}], "unknown-field"),
        ([{"hash": rev["hash"], "documentId": "D9"}], "transaction-documents"),
        ([{"hash": rev["hash"]}], "missing-field"),
        ("x", "not-a-list"),
    ):
        with pytest.raises((MalformedError, VerificationError)) as e:
            verify_block({**summary, "revisionSummaries": odd})
        assert e.value.reason == reason
    missing = block(3, [rev], documents=["D1", "D2"])
    missing = {**{k: v for k, v in missing.items() if k != "revisions"},
               "revisionSummaries": [{"hash": rev["hash"], "documentId": "D1"}]}  # fmt: skip
    with pytest.raises(VerificationError) as v:
        verify_block(missing)
    assert v.value.locator == "block 3.revisionSummaries"


def test_hashes_must_be_blobs_not_clobs() -> None:
    b = block(3, [user_revision(3, "D1")])
    b["blockHash"] = _ion('{{"' + "x" * 32 + '"}}')
    with pytest.raises(MalformedError) as e:
        verify_block(b)
    assert e.value.reason == "hash-type"
