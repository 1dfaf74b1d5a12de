"""auditor.audit.frontier: the state file's {size, roots} form of proofs.merkle.Frontier, read
strictly, and the reducer's growing holder."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest

from auditor.audit.frontier import Frontier, from_json, to_json
from proofs import MalformedError, merkle_root
from proofs.merkle import Frontier as Tree

LEAVES = [hashlib.sha256(str(i).encode()).digest() for i in range(11)]


def test_round_trip_and_growth() -> None:
    holder = Frontier()
    for n, leaf in enumerate(LEAVES, start=1):
        holder.append(leaf)
        assert holder.size == n
        assert holder.root() == merkle_root(LEAVES[:n])
        assert Frontier.from_json(holder.to_json(), "state") == holder
    copy = holder.copy()
    holder.append(LEAVES[0])
    assert copy.size == 11
    assert holder.size == 12
    assert copy != holder
    assert copy != copy.tree  # a holder is not the tree it holds
    assert to_json(Tree.of(LEAVES[:3])) == {
        "size": 3,
        "roots": [base64.b64encode(r).decode() for r in Tree.of(LEAVES[:3]).roots],
    }
    assert from_json(to_json(Tree.of(LEAVES)), "state") == Tree.of(LEAVES)


@pytest.mark.parametrize(
    ("change", "locator"),
    [
        (lambda v: [v], "state"),
        (lambda v: {**v, "extra": 1}, "state"),
        (lambda v: {"size": v["size"]}, "state"),
        (lambda v: {**v, "size": True}, "state.size"),
        (lambda v: {**v, "size": "3"}, "state.size"),
        (lambda v: {**v, "size": -1}, "state.size"),
        (lambda v: {**v, "size": 2**64}, "state.size"),
        (lambda v: {**v, "size": 4}, "state.roots"),
        (lambda v: {**v, "roots": v["roots"][1:]}, "state.roots"),
        (lambda v: {**v, "roots": "AAAA"}, "state.roots"),
        (lambda v: {**v, "roots": [v["roots"][0], 7]}, "state.roots[1]"),
        (lambda v: {**v, "roots": [v["roots"][0], v["roots"][1].rstrip("=")]}, "state.roots[1]"),
        (lambda v: {**v, "roots": [v["roots"][0], base64.b64encode(bytes(31)).decode()]},
         "state.roots[1]"),
    ],
)  # fmt: skip
def test_malformed_frontiers_name_the_field(change: Any, locator: str) -> None:
    good = to_json(Tree.of(LEAVES[:3]))
    with pytest.raises(MalformedError) as e:
        Frontier.from_json(change(good), "state")
    assert e.value.locator == locator
