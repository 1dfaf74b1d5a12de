"""The digest tree over block hashes, stored as its perfect subtrees (table ``nodes``).

Node ``(level, idx)`` is the root of leaves ``idx·2^level … (idx+1)·2^level - 1``; a leaf is
a block hash. Writers add one leaf per block (:func:`add_leaf`). Readers get subtree roots from
:func:`subtree_reader`, which checks every node it hands out against the rows below it: a
level-0 node against the block's stored hash, a higher node against its two children. So a
digest or a proof built from an edited node is refused (``ledger verify`` recomputes every
node from the blocks).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from auditor.ledger.check import Verified
from auditor.ledger.errors import IntegrityError, mismatch
from proofs import dot


def add_leaf(db: sqlite3.Connection, index: int, leaf: bytes) -> None:
    """Store leaf ``index`` and every perfect subtree it completes."""
    level, node = 0, leaf
    db.execute("INSERT INTO nodes VALUES (0, ?, ?)", (index, node))
    while index & 1:
        left = db.execute(
            "SELECT hash FROM nodes WHERE level=? AND idx=?", (level, index - 1)
        ).fetchone()[0]
        node = dot(bytes(left), node)
        level, index = level + 1, index >> 1
        db.execute("INSERT INTO nodes VALUES (?, ?, ?)", (level, index, node))


def checked_node(
    db: sqlite3.Connection, level: int, idx: int, path: str, verified: Verified | None = None
) -> bytes:
    """Node ``(level, idx)``, checked against the block hash (level 0) or its children."""
    if verified is not None and (level, idx) in verified.nodes:
        return verified.nodes[(level, idx)]
    node = _checked_node(db, level, idx, path)
    if verified is not None:
        verified.keep(verified.nodes, (level, idx), node)
    return node


def _checked_node(db: sqlite3.Connection, level: int, idx: int, path: str) -> bytes:
    where = f"table nodes, row (level {level}, idx {idx})"
    if level == 0:
        row = db.execute(
            "SELECT n.hash, b.block_hash FROM nodes n LEFT JOIN blocks b ON b.seq = n.idx "
            "WHERE n.level = 0 AND n.idx = ?",
            (idx,),
        ).fetchone()
        if row is None:
            raise IntegrityError("index", f"{path}: {where}: missing", where)
        node, leaf = row
        if leaf is None or bytes(node) != bytes(leaf):
            raise mismatch(path, where, "hash", node, leaf)
        return bytes(node)
    rows = db.execute(
        "SELECT level, idx, hash FROM nodes WHERE (level = ? AND idx = ?) "
        "OR (level = ? AND idx BETWEEN ? AND ?)",
        (level, idx, level - 1, 2 * idx, 2 * idx + 1),
    ).fetchall()
    found = {(int(lv), int(i)): bytes(h) for lv, i, h in rows}
    node = found.get((level, idx))
    left, right = found.get((level - 1, 2 * idx)), found.get((level - 1, 2 * idx + 1))
    if node is None or left is None or right is None:
        raise IntegrityError("index", f"{path}: {where}: missing (or its children)", where)
    if dot(left, right) != node:
        raise mismatch(path, where, "hash", node, dot(left, right))
    return node


def subtree_reader(
    db: sqlite3.Connection, path: str, verified: Verified | None = None
) -> Callable[[int, int], bytes]:
    """``subtree(lo, hi)``: the root of leaves ``lo … hi-1`` from checked nodes."""

    def subtree(lo: int, hi: int) -> bytes:
        size = hi - lo
        if size & (size - 1) == 0 and lo % size == 0:
            level = size.bit_length() - 1
            return checked_node(db, level, lo >> level, path, verified)
        k = 1 << ((size - 1).bit_length() - 1)
        return dot(subtree(lo, lo + k), subtree(lo + k, hi))

    return subtree
