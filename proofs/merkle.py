"""QLDB's hash join and the Merkle tree over it (docs/formats.md §1.1, §3.3, §4.1;
RFC 6962 §2.1, RFC 9162 §2.1.1-2.1.4).

``dot(a, b)``: SHA-256 of the two 32-byte hashes concatenated smaller-first, where "smaller"
compares bytes from index 31 down to 0 as signed int8 (AWS QLDB samples ``Verifier.dot``,
drivers' ``QldbHash``). An empty side returns the other unchanged. ``dot`` is commutative, so a
QLDB proof needs no left/right bits; the *length* of a proof still depends on the position.

The tree is RFC 6962's shape: the left subtree of ``n`` leaves holds the largest power of two
below ``n``. The node function is a strategy: every function below takes ``node`` (default
``dot``; leaves are taken as given, QLDB has no leaf prefix). With an RFC 6962 node function
(``SHA-256(0x01 ‖ left ‖ right)``, order-sensitive) and leaf hashes as leaves, the same code
computes and verifies RFC 6962 trees, which is how the transparency-dev vectors test it.

- ``merkle_root(hashes)``: MTH, bottom-up (an odd last node is carried up unchanged).
- ``fold(start, proof)``: QLDB's proof check, ``node`` each element onto the running value.
- ``inclusion_path`` / ``consistency_path``: RFC 6962 PATH and PROOF, built from subtree roots.
- ``inclusion_path_length(i, n)`` / ``consistency_path_length(m, n)``: their exact lengths.
- ``inclusion_root`` / ``consistency_roots``: recompute roots from a proof (RFC 9162 §2.1.3.2,
  §2.1.4.2), after checking its length exactly; ``verify_*`` compare with the stated roots.
- ``Frontier``: the roots of the perfect subtrees of a growing tree (one per set bit of the
  size, largest first), so appending a leaf costs O(log n) and memory is O(log n).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from proofs.errors import MalformedError, VerificationError

HASH_LENGTH = 32
MAX_PROOF_LENGTH = 256  # a proof through 2**64 blocks and 2**64 entries is far shorter
MAX_TREE_SIZE = 1 << 64
EMPTY = b""

Node = Callable[[bytes, bytes], bytes]
# `subtree(lo, hi)` returns the Merkle root of leaves [lo, hi); callers back it with stored
# nodes (a ledger) or a list (a block), so the path builders stay pure.
SubtreeRoot = Callable[[int, int], bytes]

_sha256 = hashlib.sha256
# Reversing the bytes and flipping each sign bit turns "signed, last byte first" into plain
# unsigned lexicographic order, which bytes comparison does in C.
_FLIP_SIGN = bytes(i ^ 0x80 for i in range(256))


def check_hash(value: object, locator: str) -> bytes:
    """Return ``value`` as bytes if it is a 32-byte hash, else raise :class:`MalformedError`."""
    if not isinstance(value, bytes | bytearray):
        kind = type(value).__name__
        raise MalformedError("hash-type", locator, f"a hash must be 32 bytes, got a {kind}")
    if len(value) != HASH_LENGTH:
        raise MalformedError(
            "hash-length", locator, f"a hash must be 32 bytes, got {len(value)} bytes"
        )
    return bytes(value)


def dot(a: bytes, b: bytes) -> bytes:
    """QLDB's sorted-pair join; an empty side returns the other side unchanged.

    Raises :class:`MalformedError` if a non-empty side is not exactly 32 bytes.
    """
    if not a:
        return b if not b else check_hash(b, "dot right")
    if not b:
        return check_hash(a, "dot left")
    if len(a) != HASH_LENGTH or len(b) != HASH_LENGTH:
        check_hash(a, "dot left")
        check_hash(b, "dot right")
    if a[::-1].translate(_FLIP_SIGN) < b[::-1].translate(_FLIP_SIGN):
        return _sha256(a + b).digest()
    return _sha256(b + a).digest()


def merkle_root(hashes: Sequence[bytes], node: Node = dot) -> bytes:
    """Merkle root of ``hashes`` (empty input gives ``b""``). Raises :class:`MalformedError`
    if an element is not a 32-byte hash."""
    level = [check_hash(h, f"leaf {i}") for i, h in enumerate(hashes)]
    while len(level) > 1:
        paired = [node(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0] if level else EMPTY


def fold(start: bytes, proof: Sequence[bytes], locator: str = "proof", node: Node = dot) -> bytes:
    """``node`` every proof element onto ``start`` in order (``node(running, element)``) and
    return the result. With ``dot`` this is QLDB's proof check, which carries no positions.

    Raises :class:`MalformedError` if ``start`` or an element is not a 32-byte hash, or the proof
    is longer than ``MAX_PROOF_LENGTH``.
    """
    _check_cap(proof, locator)
    candidate = check_hash(start, f"{locator} start")
    for i, element in enumerate(proof):
        candidate = node(candidate, check_hash(element, f"{locator}[{i}]"))
    return candidate


# -- positions and exact proof lengths (RFC 9162 §2.1.3-2.1.4) ---------------------------------
def _check_cap(proof: Sequence[bytes], locator: str) -> None:
    if len(proof) > MAX_PROOF_LENGTH:
        raise MalformedError(
            "proof-length", locator, f"at most {MAX_PROOF_LENGTH} elements, got {len(proof)}"
        )


def _check_size(value: object, what: str, locator: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedError("tree-size", locator, f"the {what} must be an integer")
    if not 0 <= value <= MAX_TREE_SIZE:
        raise MalformedError("tree-size", locator, f"the {what} {value} is out of range")
    return value


def _check_position(index: int, size: int, locator: str) -> None:
    _check_size(index, "leaf index", locator)
    _check_size(size, "tree size", locator)
    if not index < size:
        raise MalformedError("leaf-index", locator, f"leaf {index} is not in a tree of {size}")


def _check_sizes(old_size: int, new_size: int, locator: str) -> None:
    _check_size(old_size, "old tree size", locator)
    _check_size(new_size, "new tree size", locator)
    if not 0 < old_size <= new_size:
        raise MalformedError(
            "tree-size", locator, f"no proof from size {old_size} to size {new_size}"
        )


def _split_path(index: int, size: int) -> tuple[int, int]:
    """PATH(index, D[size]) in two parts: ``inner`` elements below the level where the paths to
    ``index`` and to ``size - 1`` meet (siblings on either side, by the index bits), then
    ``border`` elements on the tree's right border (all left siblings, one per set bit of
    ``index >> inner``)."""
    inner = (index ^ (size - 1)).bit_length()
    return inner, (index >> inner).bit_count()


def inclusion_path_length(index: int, size: int) -> int:
    """The exact number of elements of an inclusion proof for leaf ``index`` (0-based) in a tree
    of ``size`` leaves. Raises :class:`MalformedError` unless ``0 <= index < size <= 2**64``."""
    _check_position(index, size, "inclusion")
    inner, border = _split_path(index, size)
    return inner + border


def _trailing_zeros(n: int) -> int:
    return (n & -n).bit_length() - 1


def consistency_path_length(old_size: int, new_size: int) -> int:
    """The exact number of elements of a consistency proof from ``old_size`` to ``new_size``
    leaves. Raises :class:`MalformedError` unless ``0 < old_size <= new_size <= 2**64``."""
    _check_sizes(old_size, new_size, "consistency")
    if old_size == new_size:
        return 0
    inner, border = _split_path(old_size - 1, new_size)
    shift = _trailing_zeros(old_size)
    seed = 0 if old_size == 1 << shift else 1
    return seed + inner - shift + border


def _check_length(proof: Sequence[bytes], want: int, what: str, locator: str) -> list[bytes]:
    if not isinstance(proof, list | tuple):
        raise MalformedError("not-a-list", locator, "expected a list of hashes")
    if len(proof) != want:
        raise MalformedError(
            "proof-length", locator, f"{what} has {want} elements, got {len(proof)}"
        )
    return [check_hash(p, f"{locator}[{i}]") for i, p in enumerate(proof)]


def _equal(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)


# -- inclusion ---------------------------------------------------------------------------------
def inclusion_root(
    index: int,
    size: int,
    leaf: bytes,
    proof: Sequence[bytes],
    node: Node = dot,
    locator: str = "inclusion",
) -> bytes:
    """Recompute the root of a tree of ``size`` leaves from leaf ``index``'s hash and its
    inclusion proof (bottom-up, RFC 9162 §2.1.3.2).

    Raises :class:`MalformedError` if the position is impossible, the proof does not have
    exactly :func:`inclusion_path_length` elements, or a hash is not 32 bytes.
    """
    _check_position(index, size, locator)
    inner, border = _split_path(index, size)
    nodes = _check_length(proof, inner + border, f"a proof for leaf {index} of {size}", locator)
    running = check_hash(leaf, f"{locator} leaf")
    for level, sibling in enumerate(nodes):
        if level < inner and not (index >> level) & 1:
            running = node(running, sibling)  # the sibling is on the right
        else:
            running = node(sibling, running)
    return running


def verify_inclusion(
    index: int,
    size: int,
    leaf: bytes,
    proof: Sequence[bytes],
    root: bytes,
    node: Node = dot,
    locator: str = "inclusion",
) -> None:
    """Check that ``proof`` proves leaf ``index`` of a tree of ``size`` leaves with ``root``.

    Raises :class:`MalformedError` (as :func:`inclusion_root`, or ``root`` not 32 bytes) or
    :class:`VerificationError` (reason ``inclusion-root``, expected = root, actual = computed).
    """
    computed = inclusion_root(index, size, leaf, proof, node, locator)
    root = check_hash(root, f"{locator} root")
    if not _equal(root, computed):
        raise VerificationError(
            "inclusion-root", locator, f"the proof for leaf {index} does not lead to the root",
            expected=root, actual=computed,
        )  # fmt: skip


def inclusion_path(
    index: int, size: int, subtree: SubtreeRoot | Sequence[bytes], node: Node = dot
) -> list[bytes]:
    """RFC 6962 PATH(index, D[size]), bottom-up: ``inclusion_root`` of it gives the root (and,
    with ``dot``, so does ``fold(leaf, path)``). ``subtree`` is a :data:`SubtreeRoot` or the
    list of all ``size`` leaves (hashed with ``node``). Raises :class:`MalformedError`."""
    _check_position(index, size, "inclusion")
    root_of = _subtree_function(subtree, size, node)
    path = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            path.append(root_of(lo + k, hi))
            hi = lo + k
        else:
            path.append(root_of(lo, lo + k))
            lo += k
    path.reverse()
    return path


# -- consistency -------------------------------------------------------------------------------
def consistency_roots(
    old_size: int,
    new_size: int,
    old_root: bytes,
    proof: Sequence[bytes],
    node: Node = dot,
    locator: str = "consistency",
) -> tuple[bytes, bytes]:
    """Recompute (old root, new root) from a consistency proof (RFC 9162 §2.1.4.2).

    The proof is the root of the old tree's last perfect subtree (omitted when the old tree is
    one perfect subtree: it is the old root), then that subtree's inclusion path in the new tree.
    Raises :class:`MalformedError` if the sizes are impossible (``0 < old <= new``), the proof
    does not have exactly :func:`consistency_path_length` elements, or a hash is not 32 bytes.
    """
    want = consistency_path_length(old_size, new_size)
    what = f"a proof from size {old_size} to size {new_size}"
    nodes = _check_length(proof, want, what, locator)
    old_root = check_hash(old_root, f"{locator} old root")
    if old_size == new_size:
        return old_root, old_root
    shift = _trailing_zeros(old_size)
    if old_size == 1 << shift:
        nodes.insert(0, old_root)
    inner = ((old_size - 1) ^ (new_size - 1)).bit_length() - shift
    position = (old_size - 1) >> shift  # the seed's index on its level
    old_hash = new_hash = nodes[0]
    for level, sibling in enumerate(nodes[1:]):
        if level < inner and not (position >> level) & 1:
            new_hash = node(new_hash, sibling)  # right of the old tree: only in the new one
        else:
            old_hash = node(sibling, old_hash)
            new_hash = node(sibling, new_hash)
    return old_hash, new_hash


def verify_consistency_proof(
    old_size: int,
    new_size: int,
    old_root: bytes,
    new_root: bytes,
    proof: Sequence[bytes],
    node: Node = dot,
    locator: str = "consistency",
) -> None:
    """Check that the tree of ``new_size`` leaves with ``new_root`` extends the tree of
    ``old_size`` leaves with ``old_root``.

    Raises :class:`MalformedError` (as :func:`consistency_roots`, or ``new_root`` not 32 bytes)
    or :class:`VerificationError` (reason ``consistency-old`` or ``consistency-new``).
    """
    old, new = consistency_roots(old_size, new_size, old_root, proof, node, locator)
    new_root = check_hash(new_root, f"{locator} new root")
    if not _equal(old, old_root):
        raise VerificationError(
            "consistency-old", locator, "the proof does not lead to the old root",
            expected=old_root, actual=old,
        )  # fmt: skip
    if not _equal(new, new_root):
        raise VerificationError(
            "consistency-new", locator, "the new root does not extend the old one",
            expected=new_root, actual=new,
        )  # fmt: skip


def consistency_path(
    old_size: int, new_size: int, subtree: SubtreeRoot | Sequence[bytes], node: Node = dot
) -> list[bytes]:
    """RFC 6962 PROOF(old_size, D[new_size]): the nodes that prove the old tree is a prefix.
    ``subtree`` as for :func:`inclusion_path`. Raises :class:`MalformedError`."""
    _check_sizes(old_size, new_size, "consistency")
    root_of = _subtree_function(subtree, new_size, node)
    path: list[bytes] = []

    def sub(m: int, lo: int, hi: int, complete: bool) -> None:
        if m == hi - lo:
            if not complete:
                path.append(root_of(lo, hi))
            return
        k = _split(hi - lo)
        if m <= k:
            sub(m, lo, lo + k, complete)
            path.append(root_of(lo + k, hi))
        else:
            sub(m - k, lo + k, hi, False)
            path.append(root_of(lo, lo + k))

    sub(old_size, 0, new_size, True)
    return path


def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _subtree_function(subtree: SubtreeRoot | Sequence[bytes], size: int, node: Node) -> SubtreeRoot:
    if callable(subtree):
        return subtree
    leaves = list(subtree)
    if len(leaves) != size:
        raise MalformedError("tree-size", "leaves", f"expected {size} leaves, got {len(leaves)}")
    return lambda lo, hi: merkle_root(leaves[lo:hi], node)


# -- the frontier of a growing tree ------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Frontier:
    """The roots of the perfect subtrees of a tree of ``size`` leaves, leftmost (largest) first:
    one per set bit of ``size``. Immutable: :meth:`append` returns the grown frontier.

    Construction checks the shape; raises :class:`MalformedError` (reason ``frontier``) if the
    size is not an integer in ``[0, 2**64)`` or the roots are not one 32-byte hash per set bit.
    """

    size: int = 0
    roots: tuple[bytes, ...] = ()
    node: Node = dot

    def __post_init__(self) -> None:
        size = self.size
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size < MAX_TREE_SIZE:
            raise MalformedError("frontier", "frontier size", "expected an integer >= 0, < 2**64")
        if not isinstance(self.roots, tuple) or len(self.roots) != size.bit_count():
            raise MalformedError(
                "frontier", "frontier roots",
                f"a tree of {size} leaves has {size.bit_count()} perfect subtrees",
            )  # fmt: skip
        roots = tuple(check_hash(r, f"frontier roots[{i}]") for i, r in enumerate(self.roots))
        object.__setattr__(self, "roots", roots)  # bytes, never a caller's bytearray

    @classmethod
    def of(cls, leaves: Iterable[bytes], node: Node = dot) -> Frontier:
        """The frontier of a tree of ``leaves`` (32-byte hashes)."""
        frontier = cls(node=node)
        for leaf in leaves:
            frontier = frontier.append(leaf)
        return frontier

    def append(self, leaf: bytes) -> Frontier:
        """The frontier with ``leaf`` (a 32-byte hash) added as leaf number ``size``."""
        running = check_hash(leaf, f"leaf {self.size}")
        roots = list(self.roots)
        index = self.size
        while index & 1:  # each set low bit is a perfect subtree that the new leaf completes
            running = self.node(roots.pop(), running)
            index >>= 1
        roots.append(running)
        return Frontier(self.size + 1, tuple(roots), self.node)

    def root(self) -> bytes:
        """The Merkle root of every leaf so far (``b""`` for none): the roots folded from the
        right, ``node(R_0, node(R_1, … node(R_k-2, R_k-1)))``."""
        if not self.roots:
            return EMPTY
        running = self.roots[-1]
        for left in reversed(self.roots[:-1]):
            running = self.node(left, running)
        return running


def verify_frontier(frontier: Frontier, root: bytes, locator: str = "frontier") -> None:
    """Check that ``frontier`` is the tree whose Merkle root is ``root``.

    Raises :class:`MalformedError` (``root`` not 32 bytes, or an empty frontier) or
    :class:`VerificationError` (reason ``frontier-root``, expected = root, actual = computed).
    """
    root = check_hash(root, f"{locator} root")
    if not frontier.size:
        raise MalformedError("frontier", locator, "an empty tree has no root to verify")
    computed = frontier.root()
    if not _equal(root, computed):
        raise VerificationError(
            "frontier-root", locator, f"the frontier of {frontier.size} leaves is not the root",
            expected=root, actual=computed,
        )  # fmt: skip
