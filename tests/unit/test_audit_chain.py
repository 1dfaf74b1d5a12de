"""The export audit's chain check, on the reducer's own inputs: each block's previousBlockHash
must be the blockHash of the block before it, within an object, across object boundaries, onto
the tip of an earlier run (state file) and past objects that run verified (skipped, not read).
Every break is named by block, with the expected and the stated hash; a genuine chain passes;
``block._previous`` turns what a block states into what the check compares."""

from __future__ import annotations

import base64
import hashlib

from auditor.audit.block import _link, _previous
from auditor.audit.frontier import Frontier
from auditor.audit.model import FAILED, Issue, Link, Links, ObjectResult, ObjectSpec
from auditor.audit.reduce import Reducer
from auditor.audit.state import Fingerprint, Verified

H = [hashlib.sha256(bytes([i])).digest() for i in range(12)]  # blockHash of block i
WRONG = hashlib.sha256(b"another block").digest()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def spec(index: int, first: int, last: int) -> ObjectSpec:
    return ObjectSpec(index, f"o{index}.ion", f"o{index}.ion", "ion_text", None, "S1", first, last)


def result(index: int, first: int, last: int, previous: dict[int, bytes | None] | None = None,
           **kw: object) -> ObjectResult:  # fmt: skip
    """Blocks first..last, chained genuinely except where ``previous`` says otherwise."""
    links = Links()
    for position, seq in enumerate(range(first, last + 1)):
        stated = (previous or {}).get(seq, H[seq - 1] if seq else b"")
        links.append(Link(position, seq, H[seq], stated, True))
    return ObjectResult(index, f"o{index}.ion", links=links, **kw)  # type: ignore[arg-type]


def run(*objects: ObjectResult, base: Verified | None = None) -> Reducer:
    reducer = Reducer("S1", base)
    for r in objects:
        first, last = r.links[0].seq, r.links[len(r.links) - 1].seq
        assert first is not None
        assert last is not None
        reducer.add(r, spec(r.index, first, last))
    return reducer


def chain_issues(reducer: Reducer) -> list[Issue]:
    return [i for i in reducer.issues if i.check == "chain"]


def test_a_genuine_chain_passes_across_objects() -> None:
    reducer = run(result(0, 0, 3), result(1, 4, 6), result(2, 7, 7))
    assert reducer.issues == []
    assert (reducer.prev_seq, reducer.prev_hash, reducer.last_hash) == (7, H[7], H[7])
    assert reducer.frontier is not None
    assert reducer.frontier.size == 8


def test_a_wrong_previous_hash_inside_an_object_is_named() -> None:
    reducer = run(result(0, 0, 5, {3: WRONG}))
    [issue] = reducer.issues
    assert (issue.kind, issue.check, issue.seq, issue.object_key) == (FAILED, "chain", 3, "o0.ion")
    assert issue.message == "o0.ion: block 3: previousBlockHash is not the blockHash of block 2"
    assert (issue.expected, issue.actual) == (b64(H[2]), b64(WRONG))
    assert reducer.first_failed is issue


def test_an_unusable_previous_hash_cannot_link() -> None:
    for stated in (None, b""):
        reducer = run(result(0, 0, 2, {2: stated}))
        [issue] = chain_issues(reducer)
        assert issue.message == (
            "o0.ion: block 2: previousBlockHash is not a hash: it cannot link to block 1"
        )
        assert (issue.seq, issue.expected, issue.actual) == (
            2,
            b64(H[1]),
            "-" if stated is None else "",
        )


def test_a_break_at_an_object_boundary_is_named() -> None:
    reducer = run(result(0, 0, 3), result(1, 4, 6, {4: H[2]}), result(2, 7, 8))
    [issue] = reducer.issues
    assert (issue.check, issue.seq, issue.object_key) == ("chain", 4, "o1.ion")
    assert (issue.expected, issue.actual) == (b64(H[3]), b64(H[2]))
    # the objects after it link to the blocks as stated: no second issue
    assert reducer.prev_hash == H[8]


def test_every_break_counts() -> None:
    reducer = run(result(0, 0, 6, {1: WRONG, 4: WRONG, 6: None}))
    assert [i.seq for i in chain_issues(reducer)] == [1, 4, 6]
    assert reducer.issues_total == 3


def test_the_first_block_of_a_partial_export_links_to_nothing_read() -> None:
    # an export from block 5: its first previousBlockHash cannot be checked here
    reducer = run(result(0, 5, 7, {5: WRONG}))
    assert reducer.issues == []


def test_a_missing_block_is_a_sequence_break_not_a_chain_break() -> None:
    # block 3 missing: block 4's previousBlockHash (H[3]) cannot match block 2, and the break
    # is reported once, as the sequence
    links = Links([Link(p, s, H[s], H[s - 1], True) for p, s in enumerate((1, 2, 4, 5))])
    reducer = Reducer("S1", None)
    reducer.add(ObjectResult(0, "o0.ion", links=Links([Link(0, 0, H[0], b"", True)])),
                spec(0, 0, 0))  # fmt: skip
    reducer.add(ObjectResult(1, "o1.ion", links=links), spec(1, 1, 5))
    checks = [(i.check, i.seq) for i in reducer.issues]
    assert checks == [("sequence", 3)]


def test_an_unreadable_object_is_not_a_chain_break_after_it() -> None:
    unreadable = Issue("malformed", "unreadable", "o1.ion: cannot be read", object_key="o1.ion")
    reducer = Reducer("S1", None)
    reducer.add(result(0, 0, 3), spec(0, 0, 3))
    reducer.add(ObjectResult(1, "o1.ion", unreadable=unreadable), spec(1, 4, 6))
    assert (reducer.prev_seq, reducer.prev_hash) == (6, None)
    reducer.add(result(2, 7, 8, {7: WRONG}), spec(2, 7, 8))
    assert chain_issues(reducer) == []  # nothing read to compare with: not a break


def base(tip: int, objects: list[Fingerprint]) -> Verified:
    frontier = Frontier()
    for h in H[: tip + 1]:
        frontier.append(h)
    return Verified("books", "S1", "qldb", tip, H[tip], frontier.root(), frontier, True,
                    "2024-05-01T00:00:00Z", "x", "state.json", objects)  # fmt: skip


def fingerprint(first: int, last: int, first_previous: bytes | None = None) -> Fingerprint:
    return Fingerprint(
        first, last, "sha", H[first - 1] if first_previous is None and first else
        (first_previous or b""), H[last], hashlib.sha256(b"".join(H[first : last + 1])).hexdigest(),
    )  # fmt: skip


def test_new_blocks_link_onto_the_tip_of_an_earlier_run() -> None:
    state = base(3, [fingerprint(0, 3)])
    genuine = run(result(0, 0, 3), result(1, 4, 5), base=state)
    assert genuine.issues == []
    reducer = run(result(0, 0, 3), result(1, 4, 5, {4: WRONG}), base=state)
    [issue] = chain_issues(reducer)
    assert (issue.seq, issue.expected, issue.actual) == (4, b64(H[3]), b64(WRONG))
    # only the new blocks are read: the chain starts at the state's tip
    alone = Reducer("S1", state)
    alone.add(result(1, 4, 5, {4: WRONG}), spec(1, 4, 5))
    [issue] = chain_issues(alone)
    assert (issue.seq, issue.expected) == (4, b64(H[3]))


def skipped(index: int) -> ObjectResult:
    return ObjectResult(index, f"o{index}.ion", skipped=True)


def test_skipped_objects_link_through_their_fingerprints() -> None:
    state = base(7, [fingerprint(0, 3), fingerprint(4, 7)])
    reducer = Reducer("S1", state)
    reducer.add(skipped(0), spec(0, 0, 3))
    reducer.add(skipped(1), spec(1, 4, 7))
    reducer.add(result(2, 8, 9), spec(2, 8, 9))
    assert reducer.issues == []
    assert (reducer.prev_seq, reducer.prev_hash) == (9, H[9])
    # a skipped object whose first block does not link onto the object read before it
    broken = base(7, [fingerprint(0, 3), fingerprint(4, 7, first_previous=WRONG)])
    reducer = Reducer("S1", broken)
    reducer.add(result(0, 0, 3), spec(0, 0, 3))
    reducer.add(skipped(1), spec(1, 4, 7))
    [issue] = reducer.issues
    assert (issue.kind, issue.check, issue.seq, issue.object_key) == (FAILED, "chain", 4, "o1.ion")
    assert issue.message == "o1.ion: block 4: previousBlockHash is not the blockHash of block 3"
    assert (issue.expected, issue.actual) == (b64(H[3]), b64(WRONG))
    # and the blocks read after a skipped object link onto its last hash
    reducer = Reducer("S1", state)
    reducer.add(skipped(0), spec(0, 0, 3))
    reducer.add(skipped(1), spec(1, 4, 7))
    reducer.add(result(2, 8, 9, {8: H[3]}), spec(2, 8, 9))
    [issue] = reducer.issues
    assert (issue.check, issue.seq, issue.expected) == ("chain", 8, b64(H[7]))


def test_previous_as_the_chain_check_reads_it() -> None:
    genesis = {"blockAddress": {"strandId": "S1", "sequenceNo": 0}}
    later = {"blockAddress": {"strandId": "S1", "sequenceNo": 1}}
    assert _previous({**genesis}) == b""  # QLDB's genesis block states none
    assert _previous({**genesis, "previousBlockHash": b""}) == b""
    assert _previous({**genesis, "previousBlockHash": H[0]}) == H[0]
    assert _previous({**genesis, "previousBlockHash": None}) is None  # stated, but null
    assert _previous({**later, "previousBlockHash": H[0]}) == H[0]
    assert _previous({**later, "previousBlockHash": bytearray(H[0])}) == H[0]
    assert _previous({**later, "previousBlockHash": b""}) is None  # only genesis may be empty
    assert _previous({**later}) is None
    assert _previous({**later, "previousBlockHash": H[0][:31]}) is None
    assert _previous({**later, "previousBlockHash": H[0] + b"\0"}) is None
    assert _previous({**later, "previousBlockHash": b64(H[0])}) is None  # text, not a blob
    assert _previous([H[0]]) is None


def test_link_records_what_the_block_states() -> None:
    block = {"blockAddress": {"strandId": "S1", "sequenceNo": 5}, "blockHash": H[5],
             "previousBlockHash": H[4]}  # fmt: skip
    r = ObjectResult(0, "o0.ion")
    _link(r, 2, 5, block, False)
    _link(r, 3, None, {**block, "blockHash": H[5][:31]}, True)
    assert list(r.links) == [Link(2, 5, H[5], H[4], False), Link(3, None, None, H[4], True)]
