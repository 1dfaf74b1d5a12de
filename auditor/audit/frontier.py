"""The Merkle frontier of the audit's block hashes, as the state and progress files store it.

The tree math is :class:`proofs.merkle.Frontier` (QLDB's digest at tip T is the Merkle root
of blockHash_0 … blockHash_T, docs/formats.md §3.3, §4.2). This module only reads and
writes it as ``{"size": n, "roots": [base64, …]}``, and keeps a mutable holder for the audit's
reducer, which appends each block hash once, in sequence order.
"""

from __future__ import annotations

import base64
from typing import Any

from proofs import MalformedError
from proofs.errors import b64decode
from proofs.merkle import Frontier as Tree


def to_json(tree: Tree) -> dict[str, Any]:
    return {"size": tree.size, "roots": [base64.b64encode(r).decode() for r in tree.roots]}


def from_json(value: Any, where: str) -> Tree:
    """Parse ``{size, roots}``: one strict-base64 32-byte root per set bit of ``size``.
    Raises :class:`MalformedError` naming ``where`` and the field."""
    if not isinstance(value, dict) or set(value) != {"size", "roots"}:
        raise MalformedError("not-a-struct", where, "expected exactly {size, roots}")
    size, roots = value["size"], value["roots"]  # the size is checked by the Frontier
    if not isinstance(roots, list):
        raise MalformedError("frontier", f"{where}.roots", "expected a list of base64 hashes")
    decoded = tuple(b64decode(text, f"{where}.roots[{i}]") for i, text in enumerate(roots))
    try:
        return Tree(size, decoded)
    except MalformedError as e:
        field = e.locator.removeprefix("frontier ")  # "size", "roots" or "roots[i]"
        raise MalformedError(e.reason, f"{where}.{field}", e.problem) from e


class Frontier:
    """A growing :class:`proofs.merkle.Frontier` (the reducer appends in place)."""

    __slots__ = ("tree",)

    def __init__(self, tree: Tree | None = None) -> None:
        self.tree = tree if tree is not None else Tree()

    @property
    def size(self) -> int:
        return self.tree.size

    @property
    def roots(self) -> tuple[bytes, ...]:
        return self.tree.roots

    def append(self, leaf: bytes) -> None:
        """Add the next leaf (a 32-byte block hash). Raises :class:`MalformedError` otherwise."""
        self.tree = self.tree.append(leaf)

    def root(self) -> bytes:
        """The Merkle root of every leaf so far (``b""`` for none)."""
        return self.tree.root()

    def copy(self) -> Frontier:
        return Frontier(self.tree)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Frontier) and other.tree == self.tree

    __hash__ = None  # type: ignore[assignment]

    def to_json(self) -> dict[str, Any]:
        return to_json(self.tree)

    @classmethod
    def from_json(cls, value: Any, where: str) -> Frontier:
        return cls(from_json(value, where))
