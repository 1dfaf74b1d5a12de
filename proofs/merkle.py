"""QLDB's hash join and Merkle tree (docs/formats.md §1.1, §3.3, §4.1).

``dot(a, b)``: SHA-256 of the two 32-byte hashes concatenated smaller-first, where "smaller"
compares bytes from index 31 down to 0 as signed int8 (AWS QLDB samples ``Verifier.dot``,
drivers' ``QldbHash``). An empty side returns the other unchanged. ``dot`` is commutative, so a
proof needs no left/right bits.

``merkle_root(hashes)``: pair neighbours bottom-up, carry an odd last node up unchanged, node =
``dot``. Leaves are not re-hashed and there is no domain-separation prefix. This is the RFC 6962
shape (the left subtree holds the largest power of two below n) with ``dot`` as node function.

``fold(start, proof)``: ``dot`` each proof element onto the running value, bottom-up.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from proofs.errors import MalformedError

HASH_LENGTH = 32
MAX_PROOF_LENGTH = 256  # a proof through 2**64 blocks and 2**64 entries is far shorter
EMPTY = b""

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


def merkle_root(hashes: Sequence[bytes]) -> bytes:
    """Merkle root of ``hashes`` (empty input gives ``b""``). Raises :class:`MalformedError`
    if an element is not a 32-byte hash."""
    level = [check_hash(h, f"leaf {i}") for i, h in enumerate(hashes)]
    while len(level) > 1:
        paired = [dot(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0] if level else EMPTY


def fold(start: bytes, proof: Sequence[bytes], locator: str = "proof") -> bytes:
    """``dot`` every proof element onto ``start`` in order and return the result.

    Raises :class:`MalformedError` if ``start`` or an element is not a 32-byte hash, or the proof
    is longer than ``MAX_PROOF_LENGTH``.
    """
    if len(proof) > MAX_PROOF_LENGTH:
        raise MalformedError(
            "proof-length", locator, f"at most {MAX_PROOF_LENGTH} elements, got {len(proof)}"
        )
    candidate = check_hash(start, f"{locator} start")
    for i, element in enumerate(proof):
        candidate = dot(candidate, check_hash(element, f"{locator}[{i}]"))
    return candidate


# -- proofs over a tree of `size` leaves (RFC 6962 §2.1.1-2.1.2, RFC 9162 §2.1.3-2.1.4) --------
# `subtree(lo, hi)` returns the Merkle root of leaves [lo, hi); callers back it with stored
# nodes (a ledger) or a list (a block), so these functions stay pure.
SubtreeRoot = Callable[[int, int], bytes]


def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def inclusion_path(index: int, size: int, subtree: SubtreeRoot) -> list[bytes]:
    """RFC 6962 PATH(index, D[size]), bottom-up: fold(leaf, path) gives the root."""
    if not 0 <= index < size:
        raise MalformedError("leaf-index", "inclusion", f"leaf {index} is not in a tree of {size}")
    path = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            path.append(subtree(lo + k, hi))
            hi = lo + k
        else:
            path.append(subtree(lo, lo + k))
            lo += k
    path.reverse()
    return path


def consistency_path(old_size: int, new_size: int, subtree: SubtreeRoot) -> list[bytes]:
    """RFC 6962 PROOF(old_size, D[new_size]): the nodes that prove the old tree is a prefix."""
    if not 0 < old_size <= new_size:
        raise MalformedError(
            "tree-size", "consistency", f"no proof from size {old_size} to size {new_size}"
        )
    path: list[bytes] = []

    def sub(m: int, lo: int, hi: int, complete: bool) -> None:
        if m == hi - lo:
            if not complete:
                path.append(subtree(lo, hi))
            return
        k = _split(hi - lo)
        if m <= k:
            sub(m, lo, lo + k, complete)
            path.append(subtree(lo + k, hi))
        else:
            sub(m - k, lo + k, hi, False)
            path.append(subtree(lo, lo + k))

    sub(old_size, 0, new_size, True)
    return path


def consistency_roots(
    old_size: int, new_size: int, old_root: bytes, proof: Sequence[bytes]
) -> tuple[bytes, bytes]:
    """Recompute (old root, new root) from a consistency proof (RFC 9162 §2.1.4.2).

    Raises :class:`MalformedError` if the proof has the wrong number of elements for the sizes.
    """
    if not 0 < old_size <= new_size:
        raise MalformedError(
            "tree-size", "consistency", f"no proof from size {old_size} to size {new_size}"
        )
    if len(proof) > MAX_PROOF_LENGTH:
        raise MalformedError("proof-length", "consistency", f"{len(proof)} elements")
    nodes = [check_hash(p, f"consistency[{i}]") for i, p in enumerate(proof)]
    old_root = check_hash(old_root, "consistency old root")
    if old_size == new_size:
        if nodes:
            raise MalformedError("proof-length", "consistency", "equal sizes need an empty proof")
        return old_root, old_root
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is the first node
        nodes.insert(0, old_root)
    if not nodes:
        raise MalformedError("proof-length", "consistency", "the proof is empty")
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = nodes[0]
    for node in nodes[1:]:
        if sn == 0:
            raise MalformedError("proof-length", "consistency", "the proof is too long")
        if fn & 1 or fn == sn:
            fr = dot(node, fr)
            sr = dot(node, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = dot(sr, node)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise MalformedError("proof-length", "consistency", "the proof is too short")
    return fr, sr
