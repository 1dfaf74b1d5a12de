"""transparency-dev/merkle's RFC 6962 proof vectors (fixtures/transparency-dev-merkle/README.md)
run through ``proofs.merkle`` with an RFC 6962 node function plugged in.

Every happy path verifies, every broken variant is refused, and our own path builders and
frontier reproduce the vectors' proofs, roots and compact ranges from the leaf inputs."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from proofs import MalformedError, ProofError, VerificationError
from proofs.merkle import (
    Frontier,
    consistency_path,
    consistency_path_length,
    consistency_roots,
    inclusion_path,
    inclusion_path_length,
    inclusion_root,
    merkle_root,
    verify_consistency_proof,
    verify_frontier,
    verify_inclusion,
)
from tests.conftest import FIXTURES

DATA = FIXTURES / "transparency-dev-merkle"
# upstream accepts it; we refuse it on purpose: its roots are 12-byte placeholders
STRICTER = {"consistency/additional/sizes-are-equal-one-and-proof-is-empty.json"}


def rfc6962_leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def rfc6962_node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _b64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def _proof(probe: dict[str, Any]) -> list[bytes]:
    return [_b64(x) for x in probe["proof"] or []]  # Go writes an empty proof as null


def _probes(kind: str) -> list[Any]:
    paths = sorted((DATA / kind).rglob("*.json"))
    return [pytest.param(p, id=str(p.relative_to(DATA))) for p in paths]


def _load(path: Path) -> dict[str, Any]:
    probe: dict[str, Any] = json.loads(path.read_text())
    probe["name"] = str(path.relative_to(DATA))
    return probe


def _constants() -> tuple[list[bytes], list[list[bytes]], list[bytes]]:
    """Leaf inputs, node hashes by level, and roots by tree size, from constants.go.txt."""
    text = (DATA / "constants.go.txt").read_text()

    def body(function: str) -> str:
        match = re.search(rf"func {function}\(\)[^{{]*\{{(.*?)\n\}}", text, re.S)
        assert match, function
        return match.group(1)

    def hexes(chunk: str) -> list[bytes]:
        return [bytes.fromhex(h) for h in re.findall(r'hd\("([0-9a-f]*)"\)', chunk)]

    leaves = hexes(body("LeafInputs"))
    levels = [hexes(level) for level in body("NodeHashes").split("}, {")]
    roots = [bytes.fromhex(re.findall(r'hd\("([0-9a-f]+)"\)', body("EmptyRootHash"))[0])]
    roots += hexes(body("RootHashes"))
    return leaves, levels, roots


LEAVES, LEVELS, ROOTS = _constants()
LEAF_HASHES = [rfc6962_leaf(x) for x in LEAVES]


def test_the_fixture_is_complete() -> None:
    assert len(_probes("inclusion")) == 98
    assert len(_probes("consistency")) == 98
    assert len(LEAVES) == 8
    assert [len(level) for level in LEVELS] == [8, 4, 2, 1]
    assert len(ROOTS) == 9
    assert ROOTS[0] == hashlib.sha256(b"").digest()
    assert LEVELS[0] == LEAF_HASHES


@pytest.mark.parametrize("path", _probes("inclusion"))
def test_inclusion_probe(path: Path) -> None:
    p = _load(path)
    index, size, proof = p["leafIdx"], p["treeSize"], _proof(p)
    root, leaf = _b64(p["root"]), _b64(p["leafHash"])
    if not p["wantErr"]:
        verify_inclusion(index, size, leaf, proof, root, rfc6962_node)
        assert inclusion_root(index, size, leaf, proof, rfc6962_node) == root
        assert len(proof) == inclusion_path_length(index, size)
        return
    with pytest.raises(ProofError) as e:
        verify_inclusion(index, size, leaf, proof, root, rfc6962_node)
    # a wrong position or a wrong number of elements is refused before any hashing
    if not 0 <= index < size or len(proof) != inclusion_path_length(index, size):
        assert isinstance(e.value, MalformedError), e.value
        assert e.value.reason in {"leaf-index", "proof-length"}, e.value.reason


@pytest.mark.parametrize("path", _probes("consistency"))
def test_consistency_probe(path: Path) -> None:
    p = _load(path)
    size1, size2, proof = p["size1"], p["size2"], _proof(p)
    root1, root2 = _b64(p["root1"]), _b64(p["root2"])
    if p["name"] in STRICTER:
        assert not p["wantErr"]
        assert len(root1) == 12
        with pytest.raises(MalformedError) as e:
            verify_consistency_proof(size1, size2, root1, root2, proof, rfc6962_node)
        assert e.value.reason == "hash-length"
        return
    if not p["wantErr"]:
        verify_consistency_proof(size1, size2, root1, root2, proof, rfc6962_node)
        assert consistency_roots(size1, size2, root1, proof, rfc6962_node) == (root1, root2)
        assert len(proof) == consistency_path_length(size1, size2)
        return
    with pytest.raises(ProofError) as e:
        verify_consistency_proof(size1, size2, root1, root2, proof, rfc6962_node)
    if not 0 < size1 <= size2 or len(proof) != consistency_path_length(size1, size2):
        assert isinstance(e.value, MalformedError), e.value
        assert e.value.reason in {"tree-size", "proof-length"}, e.value.reason


def _happy(kind: str) -> list[dict[str, Any]]:
    return [_load(p) for p in sorted((DATA / kind).glob("[0-9]/happy-path.json"))]


def test_our_inclusion_paths_are_the_vectors_proofs() -> None:
    happy = _happy("inclusion")
    assert len(happy) == 5
    for p in happy:
        index, size = p["leafIdx"], p["treeSize"]
        want = _proof(p)
        assert inclusion_path(index, size, LEAF_HASHES[:size], rfc6962_node) == want, p["name"]
        assert _b64(p["leafHash"]) == LEAF_HASHES[index]


def test_our_consistency_paths_are_the_vectors_proofs() -> None:
    happy = _happy("consistency")
    assert len(happy) == 5
    for p in happy:
        old, new = p["size1"], p["size2"]
        want = _proof(p)
        assert consistency_path(old, new, LEAF_HASHES[:new], rfc6962_node) == want, p["name"]


def test_roots_and_frontiers_of_every_tree_in_the_constants() -> None:
    frontier = Frontier(node=rfc6962_node)
    for size in range(1, 9):
        frontier = frontier.append(LEAF_HASHES[size - 1])
        assert merkle_root(LEAF_HASHES[:size], rfc6962_node) == ROOTS[size], size
        assert frontier.root() == ROOTS[size], size
        verify_frontier(frontier, ROOTS[size])
        # the compact range: one perfect subtree per set bit of the size, largest first
        expected, start = [], 0
        for level in reversed(range(4)):
            if size >> level & 1:
                expected.append(LEVELS[level][start >> level])
                start += 1 << level
        assert list(frontier.roots) == expected, size
    with pytest.raises(VerificationError):
        verify_frontier(frontier, ROOTS[7])


def test_every_inclusion_and_consistency_proof_of_the_constants_tree() -> None:
    """All positions of all trees of 1..8 leaves: built, verified, and each one-bit change of
    the index or size refused."""
    for size in range(1, 9):
        for index in range(size):
            path = inclusion_path(index, size, LEAF_HASHES[:size], rfc6962_node)
            verify_inclusion(index, size, LEAF_HASHES[index], path, ROOTS[size], rfc6962_node)
            for other in {index ^ 1, index ^ 2, index ^ 4} - {index}:
                if other < size:
                    with pytest.raises(ProofError):
                        verify_inclusion(
                            other, size, LEAF_HASHES[index], path, ROOTS[size], rfc6962_node
                        )
        for old in range(1, size + 1):
            path = consistency_path(old, size, LEAF_HASHES[:size], rfc6962_node)
            verify_consistency_proof(old, size, ROOTS[old], ROOTS[size], path, rfc6962_node)
            if old < size:
                with pytest.raises(VerificationError):
                    verify_consistency_proof(
                        old, size, ROOTS[old], ROOTS[size - 1], path, rfc6962_node
                    )
