"""verify_block / verify_revision on synthetic blocks: the shapes real data does not cover
(several revisions, system, deleted and redacted revisions, genesis) and every error path."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

import pytest
from amazon.ion import simpleion

from auditor import ion
from proofs import (
    MalformedError,
    VerificationError,
    dot,
    ion_hash,
    merkle_root,
    revision_hash,
    verify_block,
    verify_revision,
)

STRAND = "S1"


def h(n: int) -> bytes:
    return hashlib.sha256(str(n).encode()).digest()


def revision(seq: int, doc: str, version: int, data: Any, tx: str = "T1") -> dict[str, Any]:
    metadata = {
        "id": doc,
        "version": version,
        "txTime": ion.loads("2024-05-01T10:00:00.123Z", "t")[0],
        "txId": tx,
    }
    rev = {"blockAddress": {"strandId": STRAND, "sequenceNo": seq}, "data": data}
    rev["metadata"] = metadata
    rev["hash"] = dot(ion_hash(data), ion_hash(metadata))
    return rev


def block(
    seq: int, revisions: list[dict[str, Any]], previous: bytes | None = None
) -> dict[str, Any]:
    docs = {
        r["metadata"]["id"]: {"tableName": "t", "tableId": "tid", "statements": [0]}
        for r in revisions
        if "metadata" in r
    }
    info = {
        "statements": [{"statement": "INSERT INTO t ?", "statementDigest": h(9)}],
        "documents": docs,
    }
    entries = [h(100 + seq), merkle_root([r["hash"] for r in revisions]), h(200), ion_hash(info)]
    entries_hash = merkle_root(entries)
    prev = h(seq - 1) if previous is None else previous
    return {
        "blockAddress": {"strandId": STRAND, "sequenceNo": seq},
        "transactionId": "T1",
        "blockHash": dot(entries_hash, prev),
        "entriesHash": entries_hash,
        "previousBlockHash": prev,
        "entriesHashList": entries,
        "transactionInfo": info,
        "revisions": revisions,
    }


def test_multi_revision_block_with_system_deleted_and_redacted_revisions() -> None:
    user = revision(5, "D1", 0, {"k": "INV1", "amount": Decimal("10.50")})
    redacted = revision(5, "D2", 3, {"secret": "x"})
    redacted["dataHash"] = ion_hash(redacted.pop("data"))
    deleted = revision(5, "D3", 2, None)
    del deleted["data"]
    deleted["hash"] = h(77)  # the rule is unknown: it cannot be recomputed, only counted
    system = {"hash": h(55)}
    result = verify_block(block(5, [user, redacted, deleted, system]))
    assert (result.revisions_verified, result.revisions_redacted) == (1, 1)
    assert (result.revisions_deleted, result.revisions_system) == (1, 1)
    assert [c.name for c in result.checks].count("revision-hash") == 2


def test_genesis_block_without_previous_hash() -> None:
    b = block(0, [revision(0, "D1", 0, {"a": 1})], previous=b"")
    assert b["blockHash"] == b["entriesHash"]
    verify_block(b)
    del b["previousBlockHash"]
    verify_block(b)


def test_previous_hash_required_after_genesis() -> None:
    b = block(1, [revision(1, "D1", 0, {"a": 1})])
    del b["previousBlockHash"]
    with pytest.raises(MalformedError) as e:
        verify_block(b)
    assert e.value.locator == "block 1.previousBlockHash"


def test_block_without_transaction_info_or_revisions() -> None:
    b = block(3, [revision(3, "D1", 0, {"a": 1})])
    del b["transactionInfo"], b["revisions"]
    result = verify_block(b)
    assert [c.name for c in result.checks] == ["entries-hash", "block-hash"]


def test_redaction_info_must_be_in_the_list() -> None:
    b = block(3, [revision(3, "D1", 0, {"a": 1})])
    b["redactionInfo"] = {"revisions": [{"documentId": "D1", "version": 0}]}
    with pytest.raises(VerificationError) as e:
        verify_block(b)
    assert e.value.reason == "redaction-info"


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda b: b["revisions"][0]["data"].update(a=2), "revision-hash"),
        (lambda b: b["revisions"][0].update(hash=h(1)), "revision-hash"),
        (lambda b: b["entriesHashList"].__setitem__(1, h(1)), "revisions-root"),
        (
            lambda b: b["transactionInfo"]["statements"][0].update(statement="DELETE"),
            "transaction-info",
        ),
        (lambda b: b["entriesHashList"].__setitem__(0, h(1)), "entries-hash"),
        (lambda b: b.update(entriesHash=h(1)), "entries-hash"),
        (lambda b: b.update(previousBlockHash=h(1)), "block-hash"),
        (lambda b: b.update(blockHash=h(1)), "block-hash"),
        (lambda b: b.update(transactionId="T2"), "transaction-id"),
        (lambda b: b["revisions"][0]["blockAddress"].update(sequenceNo=8), "block-address"),
        (lambda b: b["transactionInfo"]["documents"].clear(), "transaction-documents"),
    ],
)
def test_each_check_fails_on_its_own_field(mutate: Any, reason: str) -> None:
    b = block(7, [revision(7, "D1", 0, {"a": 1})])
    verify_block(b)
    mutate(b)
    with pytest.raises(VerificationError) as e:
        verify_block(b)
    assert e.value.reason == reason


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda b: b.update(blockHash=b"\x00" * 31), "hash-length"),
        (lambda b: b.update(entriesHash="abc"), "hash-type"),
        (lambda b: b.pop("entriesHashList"), "missing-field"),
        (lambda b: b.update(entriesHashList=[]), "empty-list"),
        (lambda b: b.update(entriesHashList=h(1)), "not-a-list"),
        (lambda b: b["revisions"][0].pop("hash"), "missing-field"),
        (lambda b: b.update(revisions={"a": 1}), "not-a-list"),
        (lambda b: b.update(blockAddress={"strandId": 1, "sequenceNo": 2}), "not-a-strand-id"),
        (lambda b: b["revisions"][0].update(dataHash=h(1)), "data-and-datahash"),
    ],
)
def test_shape_errors_are_malformed(mutate: Any, reason: str) -> None:
    b = block(7, [revision(7, "D1", 0, {"a": 1})])
    mutate(b)
    with pytest.raises(MalformedError) as e:
        verify_block(b)
    assert e.value.reason == reason


def test_revision_errors() -> None:
    rev = revision(1, "D1", 0, {"a": 1})
    with pytest.raises(MalformedError) as e:
        revision_hash({"hash": rev["hash"]})
    assert e.value.reason == "missing-field"
    with pytest.raises(MalformedError) as e:
        revision_hash({"metadata": rev["metadata"]})
    assert e.value.reason == "deleted-revision"
    with pytest.raises(MalformedError) as e:
        revision_hash({"metadata": "x", "data": 1})
    assert e.value.reason == "not-a-struct"
    with pytest.raises(MalformedError) as e:
        ion.loads("{hash:{{AA==}}, hash:{{AA==}}, metadata:{}, data:1}", "r")
    assert e.value.reason == "duplicate-field"  # the reader: a struct holds one value a name
    with pytest.raises(MalformedError) as e:
        verify_revision(simpleion.loads("{hash:{{AA==}}, metadata:{}, data:1}"))
    assert e.value.reason == "not-a-struct"  # amazon.ion's values are not the model


def test_verification_error_message_style() -> None:
    rev = revision(1, "D1", 0, {"a": 1})
    rev["data"] = {"a": 2}
    with pytest.raises(VerificationError) as e:
        verify_revision(rev, "invoice.ion: revision")
    text = str(e.value)
    assert text.startswith("invoice.ion: revision.hash: does not match")
    assert "(expected " in text
    assert ", got " in text
    assert e.value.expected == rev["hash"]
    assert e.value.actual == revision_hash(rev)
