"""dot, merkle_root, fold, inclusion and consistency proofs and the frontier: QLDB's rules,
RFC 6962 shapes (checked against the RFCs' recursive definitions), exact lengths, error cases."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from proofs import MAX_PROOF_LENGTH, MalformedError, VerificationError, dot, fold, merkle_root
from proofs.merkle import (
    Frontier,
    Node,
    consistency_path,
    consistency_path_length,
    consistency_roots,
    inclusion_path,
    inclusion_path_length,
    inclusion_root,
    verify_consistency_proof,
    verify_frontier,
    verify_inclusion,
)


def h(n: int) -> bytes:
    return hashlib.sha256(str(n).encode()).digest()


def test_dot_orders_by_signed_bytes_from_the_last_byte() -> None:
    low = bytes(31) + b"\x80"  # last byte -128 (signed): smaller
    high = bytes(31) + b"\x7f"  # last byte 127: larger
    assert dot(low, high) == hashlib.sha256(low + high).digest()
    assert dot(high, low) == hashlib.sha256(low + high).digest()
    # the last byte decides before any earlier one
    a = b"\xff" + bytes(30) + b"\x01"
    b = b"\x00" + bytes(30) + b"\x02"
    assert dot(a, b) == hashlib.sha256(a + b).digest()


def test_dot_equal_and_empty_sides() -> None:
    assert dot(h(1), h(1)) == hashlib.sha256(h(1) + h(1)).digest()
    assert dot(b"", h(1)) == h(1)
    assert dot(h(1), b"") == h(1)
    assert dot(b"", b"") == b""


@pytest.mark.parametrize("bad", [b"\x00" * 31, b"\x00" * 33])
def test_dot_rejects_wrong_lengths(bad: bytes) -> None:
    with pytest.raises(MalformedError) as e:
        dot(bad, h(1))
    assert e.value.reason == "hash-length"
    with pytest.raises(MalformedError):
        dot(h(1), bad)


def test_merkle_shapes_match_the_qldb_samples() -> None:
    a, b, c, d, e, f, g = (h(i) for i in range(7))
    assert merkle_root([]) == b""
    assert merkle_root([a]) == a
    assert merkle_root([a, b]) == dot(a, b)
    assert merkle_root([a, b, c]) == dot(dot(a, b), c)
    assert merkle_root([a, b, c, d, e]) == dot(dot(dot(a, b), dot(c, d)), e)
    assert merkle_root([a, b, c, d, e, f]) == dot(dot(dot(a, b), dot(c, d)), dot(e, f))
    assert merkle_root([a, b, c, d, e, f, g]) == dot(dot(dot(a, b), dot(c, d)), dot(dot(e, f), g))


def test_merkle_root_rejects_a_short_leaf() -> None:
    with pytest.raises(MalformedError) as e:
        merkle_root([h(0), b"\x01" * 31])
    assert e.value.locator == "leaf 1"


def test_fold() -> None:
    assert fold(h(0), []) == h(0)
    assert fold(h(0), [h(1), h(2)]) == dot(dot(h(0), h(1)), h(2))


def test_fold_caps_and_checks_elements() -> None:
    with pytest.raises(MalformedError) as e:
        fold(h(0), [h(1)] * (MAX_PROOF_LENGTH + 1))
    assert e.value.reason == "proof-length"
    with pytest.raises(MalformedError) as e:
        fold(h(0), [h(1), b"\x00" * 31])
    assert e.value.locator == "proof[1]"
    with pytest.raises(MalformedError):
        fold(b"", [h(1)])
    with pytest.raises(MalformedError) as e:
        fold(h(0), ["not bytes"])  # type: ignore[list-item]
    assert e.value.reason == "hash-type"


# -- the node function is a strategy ---------------------------------------------------------
def concat(left: bytes, right: bytes) -> bytes:
    """An order-sensitive node function (RFC 6962's without the prefix): positions matter."""
    return hashlib.sha256(left + right).digest()


def rfc6962(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def naive_root(leaves: list[bytes], node: Node) -> bytes:
    """RFC 6962 §2.1 MTH by its recursive definition (leaves taken as they are)."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return node(naive_root(leaves[:k], node), naive_root(leaves[k:], node))


def naive_path(index: int, leaves: list[bytes], node: Node) -> list[bytes]:
    """RFC 6962 §2.1.1 PATH(m, D[n]) by its recursive definition."""
    if len(leaves) == 1:
        return []
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    if index < k:
        return [*naive_path(index, leaves[:k], node), naive_root(leaves[k:], node)]
    return [*naive_path(index - k, leaves[k:], node), naive_root(leaves[:k], node)]


def naive_proof(m: int, leaves: list[bytes], node: Node, complete: bool = True) -> list[bytes]:
    """RFC 6962 §2.1.2 SUBPROOF(m, D[n], b) by its recursive definition."""
    n = len(leaves)
    if m == n:
        return [] if complete else [naive_root(leaves, node)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return [*naive_proof(m, leaves[:k], node, complete), naive_root(leaves[k:], node)]
    return [*naive_proof(m - k, leaves[k:], node, False), naive_root(leaves[:k], node)]


LEAVES = [h(1000 + i) for i in range(40)]


def test_merkle_root_takes_the_node_function() -> None:
    a, b, c = LEAVES[:3]
    assert merkle_root([a, b, c], concat) == concat(concat(a, b), c)
    assert merkle_root([a, b, c], concat) != merkle_root([b, a, c], concat)
    assert merkle_root([a, b, c]) == merkle_root([b, a, c])  # dot: commutative
    for n in range(1, 40):
        assert merkle_root(LEAVES[:n], concat) == naive_root(LEAVES[:n], concat), n
    assert fold(a, [b, c], node=concat) == concat(concat(a, b), c)


@pytest.mark.parametrize("node", [dot, concat], ids=["dot", "concat"])
def test_paths_match_rfc6962_definitions_and_verify_at_every_position(node: Node) -> None:
    for n in range(1, 34):
        leaves = LEAVES[:n]
        root = merkle_root(leaves, node)
        for i in range(n):
            path = inclusion_path(i, n, leaves, node)
            assert path == naive_path(i, leaves, node), (i, n)
            assert len(path) == inclusion_path_length(i, n), (i, n)
            assert inclusion_root(i, n, leaves[i], path, node) == root
            verify_inclusion(i, n, leaves[i], path, root, node)
            if node is dot:
                assert fold(leaves[i], path) == root
        for m in range(1, n + 1):
            proof = consistency_path(m, n, leaves, node)
            assert proof == naive_proof(m, leaves, node), (m, n)
            assert len(proof) == consistency_path_length(m, n), (m, n)
            old = merkle_root(leaves[:m], node)
            assert consistency_roots(m, n, old, proof, node) == (old, root)
            verify_consistency_proof(m, n, old, root, proof, node)


def test_path_lengths() -> None:
    assert inclusion_path_length(0, 1) == 0
    assert inclusion_path_length(0, 2) == inclusion_path_length(1, 2) == 1
    assert inclusion_path_length(4, 5) == 1  # the last leaf's sibling is the root of [0, 4)
    assert inclusion_path_length(3, 5) == 3
    assert inclusion_path_length(100, 121) == 7
    assert inclusion_path_length(2**64 - 1, 2**64) == 64
    assert inclusion_path_length(2**63, 2**63 + 1) == 1
    assert consistency_path_length(1, 1) == 0
    assert consistency_path_length(1, 2) == 1
    assert consistency_path_length(2, 5) == 2  # old tree is perfect: its root is not sent
    assert consistency_path_length(3, 5) == 4
    assert consistency_path_length(6, 8) == 3
    assert consistency_path_length(2**64 - 1, 2**64) == 65  # seed, right sibling, 63 left
    assert consistency_path_length(2**63, 2**64) == 1


@pytest.mark.parametrize(
    ("index", "size", "reason"),
    [(0, 0, "leaf-index"), (5, 5, "leaf-index"), (-1, 5, "tree-size"), (0, 2**64 + 1, "tree-size"),
     (True, 5, "tree-size"), (0, 5.0, "tree-size"), ("1", 5, "tree-size")],
)  # fmt: skip
def test_impossible_positions_are_malformed(index: object, size: object, reason: str) -> None:
    with pytest.raises(MalformedError) as e:
        inclusion_path_length(index, size)  # type: ignore[arg-type]
    assert e.value.reason == reason
    with pytest.raises(MalformedError):
        inclusion_root(index, size, h(0), [], dot)  # type: ignore[arg-type]
    with pytest.raises(MalformedError):
        inclusion_path(index, size, lambda lo, hi: h(lo))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("old", "new"), [(0, 0), (0, 5), (6, 5), (-1, 5), (1, 2**64 + 1), (True, 2), (1, 2.0)]
)
def test_impossible_sizes_are_malformed(old: object, new: object) -> None:
    with pytest.raises(MalformedError) as e:
        consistency_path_length(old, new)  # type: ignore[arg-type]
    assert e.value.reason == "tree-size"
    with pytest.raises(MalformedError):
        consistency_roots(old, new, h(0), [])  # type: ignore[arg-type]
    with pytest.raises(MalformedError):
        consistency_path(old, new, lambda lo, hi: h(lo))  # type: ignore[arg-type]


def test_a_dot_proof_of_the_wrong_length_for_its_position_is_refused() -> None:
    """dot is commutative, so only the length ties a QLDB proof to a position: collapsing two
    levels into one node (or adding one) keeps the fold but not the length."""
    leaves = LEAVES[:21]
    root = merkle_root(leaves)
    path = inclusion_path(5, 21, leaves)
    collapsed = [dot(path[0], leaves[5]), *path[1:]]  # starts from the parent instead
    assert fold(leaves[5], path) == root == fold(collapsed[0], collapsed[1:])
    for bad in (path[:-1], [*path, h(1)], [leaves[5], *path]):
        with pytest.raises(MalformedError) as e:
            verify_inclusion(5, 21, leaves[5], bad, root)
        assert e.value.reason == "proof-length"
    # the leaf at another index with a proof of that index's length is a hash mismatch
    verify_inclusion(20, 21, leaves[20], inclusion_path(20, 21, leaves), root)
    with pytest.raises(VerificationError) as v:
        verify_inclusion(4, 21, leaves[20], path, root)
    assert v.value.reason == "inclusion-root"
    assert (v.value.expected, v.value.actual) == (root, inclusion_root(4, 21, leaves[20], path))


def test_inclusion_proofs_refuse_every_single_change() -> None:
    leaves = LEAVES[:13]
    root = merkle_root(leaves, concat)
    for i in range(13):
        path = inclusion_path(i, 13, leaves, concat)
        for j in range(len(path)):
            for bit in (0, 7, 255):
                bad = list(path)
                bad[j] = bytes(b ^ (1 << (bit % 8)) if k == bit // 8 else b
                               for k, b in enumerate(bad[j]))  # fmt: skip
                with pytest.raises(VerificationError):
                    verify_inclusion(i, 13, leaves[i], bad, root, concat)
            if j:
                swapped = list(path)
                swapped[j - 1], swapped[j] = swapped[j], swapped[j - 1]
                if swapped != path:
                    with pytest.raises(VerificationError):
                        verify_inclusion(i, 13, leaves[i], swapped, root, concat)
        for other in range(13):
            if other != i and inclusion_path_length(other, 13) == len(path):
                with pytest.raises(VerificationError):
                    verify_inclusion(other, 13, leaves[i], path, root, concat)
        with pytest.raises(MalformedError):
            verify_inclusion(i, 13, leaves[i], path, root[:31], concat)
        with pytest.raises(MalformedError):
            verify_inclusion(i, 13, leaves[i][:31], path, root, concat)
        with pytest.raises(MalformedError):
            verify_inclusion(i, 13, leaves[i], (*tuple(path[:-1]), b""), root, concat)


def test_consistency_proofs_refuse_every_single_change() -> None:
    """Other sizes are refused when they need another proof length. Sizes that need the same
    length can give the same hashes (1 -> 3 and 1 -> 4 both compute node(node(a, b), c)): the
    sizes come from the signed tree heads, the proof binds only their roots."""
    for n in range(2, 20):
        leaves = LEAVES[:n]
        root = merkle_root(leaves, rfc6962)
        for m in range(1, n):
            old = merkle_root(leaves[:m], rfc6962)
            proof = consistency_path(m, n, leaves, rfc6962)
            for j in range(len(proof)):
                bad = list(proof)
                bad[j] = bytes([bad[j][0] ^ 16]) + bad[j][1:]
                with pytest.raises(VerificationError):
                    verify_consistency_proof(m, n, old, root, bad, rfc6962)
            for bad in (proof[:-1], proof[1:], [*proof, old], [old, *proof], [proof[0], *proof]):
                with pytest.raises(MalformedError) as e:
                    verify_consistency_proof(m, n, old, root, bad, rfc6962)
                assert e.value.reason == "proof-length"
            for m2, n2 in ((m - 1, n), (m + 1, n), (m, n + 1), (m, n - 1), (m, 2 * n)):
                if not 0 < m2 <= n2 or consistency_path_length(m2, n2) != len(proof):
                    with pytest.raises(MalformedError):
                        verify_consistency_proof(m2, n2, old, root, proof, rfc6962)
            with pytest.raises(VerificationError) as v:
                verify_consistency_proof(m, n, root, root, proof, rfc6962)
            # a perfect old tree is its own seed: a wrong old root then shows in the new root
            perfect = m & (m - 1) == 0
            assert v.value.reason == ("consistency-new" if perfect else "consistency-old")
            with pytest.raises(VerificationError) as v:
                verify_consistency_proof(m, n, old, old, proof, rfc6962)
            assert v.value.reason == "consistency-new"
            assert (v.value.expected, v.value.actual) == (old, root)


def test_equal_sizes_need_an_empty_proof_and_equal_roots() -> None:
    verify_consistency_proof(3, 3, h(1), h(1), [])
    assert consistency_roots(3, 3, h(1), []) == (h(1), h(1))
    with pytest.raises(MalformedError) as e:
        verify_consistency_proof(3, 3, h(1), h(1), [h(1)])
    assert e.value.reason == "proof-length"
    with pytest.raises(VerificationError):
        verify_consistency_proof(3, 3, h(1), h(2), [])
    with pytest.raises(MalformedError) as e:
        consistency_roots(3, 5, h(1), "not a list")  # type: ignore[arg-type]
    assert e.value.reason == "not-a-list"


def test_path_builders_take_leaves_or_a_subtree_function() -> None:
    leaves = LEAVES[:7]
    by_function = inclusion_path(3, 7, lambda lo, hi: merkle_root(leaves[lo:hi]))
    assert by_function == inclusion_path(3, 7, leaves)
    assert consistency_path(3, 7, lambda lo, hi: merkle_root(leaves[lo:hi])) == consistency_path(
        3, 7, leaves
    )
    with pytest.raises(MalformedError) as e:
        inclusion_path(3, 7, leaves[:6])
    assert e.value.reason == "tree-size"


# -- the frontier ------------------------------------------------------------------------------
@pytest.mark.parametrize("node", [dot, concat], ids=["dot", "concat"])
def test_frontier_is_the_merkle_root_at_every_size(node: Node) -> None:
    frontier = Frontier(node=node)
    assert frontier.root() == b""
    for n in range(1, 40):
        grown = frontier.append(LEAVES[n - 1])
        assert frontier.size == n - 1  # immutable: append returns the grown frontier
        frontier = grown
        assert frontier.size == n
        assert len(frontier.roots) == n.bit_count()
        assert frontier.root() == merkle_root(LEAVES[:n], node), n
        verify_frontier(frontier, merkle_root(LEAVES[:n], node))
        assert frontier == Frontier.of(LEAVES[:n], node)
        # each root is the perfect subtree of its set bit, largest first
        start = 0
        for level, root in zip(
            [b for b in reversed(range(6)) if n >> b & 1], frontier.roots, strict=True
        ):
            assert root == merkle_root(LEAVES[start : start + (1 << level)], node)
            start += 1 << level


def test_frontier_refuses_wrong_shapes_and_roots() -> None:
    three = Frontier.of(LEAVES[:3])
    with pytest.raises(MalformedError, match="perfect subtrees"):
        Frontier(3, three.roots[:1])
    with pytest.raises(MalformedError, match="perfect subtrees"):
        Frontier(2, three.roots)
    with pytest.raises(MalformedError, match="perfect subtrees"):
        Frontier(1, [h(1)])  # type: ignore[arg-type]
    for size in (-1, 2**64, True, 1.0):
        with pytest.raises(MalformedError) as e:
            Frontier(size, (h(1),))  # type: ignore[arg-type]
        assert e.value.locator == "frontier size"
    with pytest.raises(MalformedError) as e:
        Frontier(1, (h(1)[:31],))
    assert e.value.locator == "frontier roots[0]"
    assert Frontier(1, (bytearray(h(1)),)).roots == (h(1),)
    with pytest.raises(MalformedError):
        three.append(b"short")
    with pytest.raises(VerificationError) as v:
        verify_frontier(three, merkle_root(LEAVES[:4]))
    assert v.value.reason == "frontier-root"
    assert (v.value.expected, v.value.actual) == (merkle_root(LEAVES[:4]), three.root())
    with pytest.raises(MalformedError):
        verify_frontier(three, b"")
    with pytest.raises(MalformedError):
        verify_frontier(Frontier(), h(1))
    assert Frontier.of([], concat).root() == b""


# -- tests that kill the mutants tools/mutate.py found (see tools/mutate.toml) ------------------
def naive_dot(a: bytes, b: bytes) -> bytes:
    """QLDB's dot by its definition: compare as signed int8 from byte 31 down to byte 0."""
    for i in reversed(range(32)):
        x, y = (a[i] ^ 0x80) - 0x80, (b[i] ^ 0x80) - 0x80
        if x != y:
            return hashlib.sha256(a + b if x < y else b + a).digest()
    return hashlib.sha256(a + b).digest()


def test_dot_matches_its_definition_on_every_edge_byte_and_position() -> None:
    edges = [0x00, 0x01, 0x7E, 0x7F, 0x80, 0x81, 0xFE, 0xFF]
    base = h(7)
    checked = 0
    for position in (31, 30, 16, 1, 0):
        for x in edges:
            for y in edges:
                for tail in (0x00, 0x80):  # the bytes after `position` tie, then differ
                    a = bytearray(base)
                    b = bytearray(base)
                    a[position], b[position] = x, y
                    if position > 0:
                        a[position - 1], b[position - 1] = tail, tail ^ 0x01
                    assert dot(bytes(a), bytes(b)) == naive_dot(bytes(a), bytes(b))
                    assert dot(bytes(b), bytes(a)) == naive_dot(bytes(a), bytes(b))
                    checked += 1
    assert checked == 5 * 8 * 8 * 2
    # the sign bit alone orders 0x00 above 0x80, whatever the earlier bytes say
    a, b = bytes(30) + b"\x00\x00", bytes(30) + b"\x01\x80"
    assert dot(a, b) == hashlib.sha256(b + a).digest()


def test_dot_names_the_side_that_is_not_a_hash() -> None:
    for left, right, locator in [
        (b"\x00" * 31, h(1), "dot left"),
        (h(1), b"\x00" * 31, "dot right"),
        (b"", b"\x00" * 33, "dot right"),
        (b"\x00" * 33, b"", "dot left"),
    ]:
        with pytest.raises(MalformedError) as e:
            dot(left, right)
        assert e.value.locator == locator


def test_the_proof_length_cap_is_256() -> None:
    assert MAX_PROOF_LENGTH == 256
    assert fold(h(0), [h(1)] * 256) == fold(fold(h(0), [h(1)] * 255), [h(1)])
    with pytest.raises(MalformedError, match="at most 256 elements, got 257"):
        fold(h(0), [h(1)] * 257)


def test_position_and_size_errors_name_the_proof_and_the_value() -> None:
    cases: list[tuple[Any, str, str]] = [
        (lambda: inclusion_path_length(True, 5), "inclusion", "the leaf index must be an integer"),
        (lambda: inclusion_path_length(0, -1), "inclusion", "the tree size -1 is out of range"),
        (lambda: inclusion_root(5, 5, h(0), []), "inclusion", "leaf 5 is not in a tree of 5"),
        (lambda: inclusion_root(0, 1.5, h(0), []), "inclusion", "the tree size must be an integer"),
        (lambda: verify_inclusion(2, 5, h(0), [h(1)], h(2)), "inclusion",
         "a proof for leaf 2 of 5 has 3 elements, got 1"),
        (lambda: inclusion_path(0, 0, []), "inclusion", "leaf 0 is not in a tree of 0"),
        (lambda: consistency_path_length(None, 3), "consistency",
         "the old tree size must be an integer"),
        (lambda: consistency_path_length(1, "3"), "consistency",
         "the new tree size must be an integer"),
        (lambda: consistency_roots(2, 1, h(0), []), "consistency",
         "no proof from size 2 to size 1"),
        (lambda: consistency_roots(2, 5, h(0), [h(2)]), "consistency",
         "a proof from size 2 to size 5 has 2 elements, got 1"),
        (lambda: verify_consistency_proof(2, 5, h(0), h(1), [h(2)]), "consistency",
         "a proof from size 2 to size 5 has 2 elements, got 1"),
        (lambda: consistency_path(0, 3, []), "consistency", "no proof from size 0 to size 3"),
        (lambda: verify_frontier(Frontier(), h(1)), "frontier",
         "an empty tree has no root to verify"),
    ]  # fmt: skip
    for call, locator, problem in cases:
        with pytest.raises(MalformedError) as e:
            call()
        assert (e.value.locator, e.value.problem) == (locator, problem)


def test_frontier_roots_are_bytes_and_errors_name_the_frontier() -> None:
    frontier = Frontier(1, (bytearray(h(1)),))  # type: ignore[arg-type]
    assert type(frontier.roots[0]) is bytes
    with pytest.raises(VerificationError) as v:
        verify_frontier(frontier, h(2))
    assert v.value.locator == "frontier"
    with pytest.raises(VerificationError) as v:
        verify_inclusion(0, 2, h(0), [h(1)], h(2))
    assert v.value.locator == "inclusion"
    with pytest.raises(VerificationError) as v:
        verify_consistency_proof(1, 2, h(0), h(2), [h(1)])
    assert v.value.locator == "consistency"
