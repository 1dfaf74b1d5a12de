"""The Merkle frontier (compact range) of a growing list of block hashes.

QLDB's digest at tip T is ``merkle_root(blockHash_0 … blockHash_T)`` in the RFC 6962 shape
with ``dot`` as node function (docs/formats.md §3.3, §4.2). A tree of ``n`` leaves is the
perfect subtrees given by the set bits of ``n``, largest (leftmost) first; the frontier keeps
only their roots, so appending a leaf costs O(log n) ``dot`` calls and memory is O(log n)
hashes, and the root of all ``n`` leaves is the fold from the right:
``dot(R_0, dot(R_1, … dot(R_{k-2}, R_{k-1})))``.

That is what makes the audit stream: each block hash is appended once, in sequence order, and
the digest at any tip reached so far is read off the frontier. The state file stores the
frontier, so the next nightly run continues the same tree without re-reading old blocks.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

from proofs import MalformedError, check_hash, dot

MAX_LEVELS = 64


@dataclass(slots=True)
class Frontier:
    """Roots of the perfect subtrees of a tree of ``size`` leaves, leftmost (largest) first."""

    size: int = 0
    roots: list[bytes] = field(default_factory=list)

    def append(self, leaf: bytes) -> None:
        """Add the next leaf (a 32-byte block hash). Raises :class:`MalformedError` otherwise."""
        node = check_hash(leaf, f"leaf {self.size}")
        index = self.size
        while index & 1:
            node = dot(self.roots.pop(), node)
            index >>= 1
        self.roots.append(node)
        self.size += 1

    def root(self) -> bytes:
        """The Merkle root of every leaf so far (``b""`` for none)."""
        if not self.roots:
            return b""
        node = self.roots[-1]
        for left in reversed(self.roots[:-1]):
            node = dot(left, node)
        return node

    def copy(self) -> Frontier:
        return Frontier(self.size, list(self.roots))

    def to_json(self) -> dict[str, Any]:
        return {"size": self.size, "roots": [base64.b64encode(r).decode() for r in self.roots]}

    @classmethod
    def from_json(cls, value: Any, where: str) -> Frontier:
        """Parse and check: one root per set bit of ``size``, each 32 bytes."""
        if not isinstance(value, dict):
            raise MalformedError("not-a-struct", where, "expected {size, roots}")
        size, roots = value.get("size"), value.get("roots")
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size < 1 << MAX_LEVELS:
            raise MalformedError("frontier", f"{where}.size", "expected an integer >= 0")
        if not isinstance(roots, list) or len(roots) != bin(size).count("1"):
            raise MalformedError(
                "frontier", f"{where}.roots", f"a tree of {size} leaves has {bin(size).count('1')}"
                " perfect subtrees",
            )  # fmt: skip
        decoded = []
        for i, text in enumerate(roots):
            try:
                raw = base64.b64decode(str(text), validate=True)
            except (binascii.Error, ValueError) as e:
                raise MalformedError("not-base64", f"{where}.roots[{i}]", "not base64") from e
            decoded.append(check_hash(raw, f"{where}.roots[{i}]"))
        return cls(size, decoded)
