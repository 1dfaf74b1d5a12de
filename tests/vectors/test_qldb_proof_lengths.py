"""Real QLDB receipts: the journal part of each proof (after the 3 elements that lead from the
revision hash to its block hash) is exactly RFC 6962's inclusion path of the block in the
digest's tree, so ``inclusion_path_length`` fits real data and refuses collapsed proofs."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from amazon.ion import simpleion

from proofs import MalformedError, dot, fold
from proofs.merkle import inclusion_path_length, verify_inclusion
from tests.conftest import real_vectors

VECTORS = real_vectors()
DERIVED = VECTORS["restapi-ledger-1HqU-cross-receipt-consistency"]["derived"]
RECEIPTS = [  # (vector, block sequenceNo, digest tip sequenceNo)
    ("restapi-receipt-1HqU-19-tip35", 19, 35),
    ("restapi-receipt-1HqU-19-tip19", 19, 19),
    ("restapi-receipt-1HqU-30-tip38", 30, 38),
]


def _receipt(name: str) -> tuple[list[bytes], bytes, bytes]:
    receipt: dict[str, Any] = VECTORS[name]["receipt"]
    proof = list(simpleion.loads(receipt["Proof"]["IonText"]))
    start = base64.b64decode(receipt["RevisionHash"])
    return proof, start, base64.b64decode(receipt["LedgerDigest"]["Digest"])


@pytest.mark.parametrize(("name", "block", "tip"), RECEIPTS)
def test_the_journal_path_has_the_rfc6962_length(name: str, block: int, tip: int) -> None:
    proof, start, digest = _receipt(name)
    block_hash = base64.b64decode(DERIVED[f"blockHash_{block}"])
    assert fold(start, proof[:3]) == block_hash
    journal = proof[3:]
    assert len(journal) == inclusion_path_length(block, tip + 1)
    verify_inclusion(block, tip + 1, block_hash, journal, digest)
    # an inner node posing as the block (one level up, one element fewer): the fold matches,
    # the length for the claimed position does not
    parent = dot(block_hash, journal[0])
    assert fold(parent, journal[1:]) == digest
    with pytest.raises(MalformedError):
        verify_inclusion(block, tip + 1, parent, journal[1:], digest)
    with pytest.raises(MalformedError) as e:
        verify_inclusion(block, tip + 1, block_hash, journal[:-1], digest)
    assert e.value.reason == "proof-length"
    # the block relabelled at another position fits only if its path has the same length
    for other in range(tip + 1):
        if inclusion_path_length(other, tip + 1) != len(journal):
            with pytest.raises(MalformedError):
                verify_inclusion(other, tip + 1, block_hash, journal, digest)
