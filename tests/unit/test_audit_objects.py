"""The audit's map step and frontier: bit flips anywhere in a writer's data object never pass,
damage is named by block, truncated and non-Ion objects are unreadable, and the Merkle frontier
gives exactly ``merkle_root`` at every size."""

from __future__ import annotations

import hashlib
import os
import pickle
import time
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from auditor import ion
from auditor.audit.frontier import Frontier
from auditor.audit.model import FAILED, MALFORMED, Link, Links, ObjectSpec
from auditor.audit.objects import verify_object
from auditor.export import export
from auditor.ledger import Ledger
from proofs import MalformedError, merkle_root

FORMATS = ["ion_text", "ion_binary", "json"]


def test_frontier_is_merkle_root_at_every_size() -> None:
    leaves = [hashlib.sha256(str(i).encode()).digest() for i in range(300)]
    frontier = Frontier()
    assert frontier.root() == b""
    for n, leaf in enumerate(leaves, start=1):
        frontier.append(leaf)
        assert frontier.size == n
        assert len(frontier.roots) == bin(n).count("1")
        assert frontier.root() == merkle_root(leaves[:n]), n
    again = Frontier.from_json(frontier.to_json(), "state")
    assert again == frontier
    broken = frontier.to_json()
    broken["roots"] = broken["roots"][1:]
    with pytest.raises(MalformedError, match="perfect subtrees"):
        Frontier.from_json(broken, "state")
    with pytest.raises(MalformedError):
        frontier.append(b"short")


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    path = tmp_path_factory.mktemp("flip") / "flip.db"
    ledger = Ledger.create(str(path), "flip", tables=["t"])
    ledger.put("t", "a", {"x": Decimal("1.50"), "s": "hé"})
    ledger.put("t", "a", {"x": 2, "n": None})
    ledger.put_many("t", [("b", {"y": -5}), ("c", "str")])
    ledger.delete("t", "b")
    ledger.redact("t", "a", 0)
    yield ledger
    ledger.close()


def middle_object(ledger: Ledger, tmp: Path, fmt: str) -> tuple[bytes, ObjectSpec]:
    result = export(ledger, str(tmp), fmt, max_blocks_per_object=3)
    key = result.keys[1]
    first, last = (int(x) for x in Path(key).name.split(".")[1].split("-"))
    path = result.location(key)
    spec = ObjectSpec(1, key, path, fmt, True, ledger.strand_id, first, last)
    return Path(path).read_bytes(), spec


def flipped(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


@pytest.mark.parametrize("fmt", FORMATS)
def test_bit_flips_never_pass_and_name_the_block(ledger: Ledger, tmp_path: Path, fmt: str) -> None:
    """Every 7th bit, and every bit of the first and last 8 bytes (markers, newlines)."""
    data, spec = middle_object(ledger, tmp_path, fmt)
    assert spec.name_first is not None
    assert spec.name_last is not None
    clean = verify_object(data, spec)
    assert clean.issues == []
    assert clean.counts.blocks_verified == 3
    bits = set(range(0, len(data) * 8, 7)) | set(range(64))
    bits |= set(range(len(data) * 8 - 64, len(data) * 8))
    unreadable = 0
    for bit in sorted(bits):
        result = verify_object(flipped(data, bit), spec)
        if fmt == "json" and not result.issues:
            # JSON cannot carry every Ion type back, so a revision that does not recompute
            # from JSON is "not proven", never "tampered": the flip still does not pass
            c = result.counts
            assert c.unproven or c.deleted > c.deleted_recomputed, f"bit {bit}: the flip passed"
            continue
        assert result.issues, f"bit {bit}: the flip passed"
        failed = [i for i in result.issues if i.kind == FAILED]
        if failed:
            first = min(i.seq for i in failed if i.seq is not None)
            assert spec.name_first <= first <= spec.name_last, (bit, failed[0].line())
            continue
        # Ion binary only: the version marker, or a length running past the object's end
        unreadable += 1
        issue = result.unreadable
        assert fmt == "ion_binary", (bit, result.issues[0].line())
        assert issue is not None
        assert issue.kind == MALFORMED
        assert issue.object_key == spec.key
        assert (issue.check == "not-ion" and bit < 32) or issue.check == "truncated", bit
    assert unreadable <= len(bits) // 50


def test_a_damaged_line_names_its_block(ledger: Ledger, tmp_path: Path) -> None:
    data, spec = middle_object(ledger, tmp_path, "ion_text")
    lines = data.split(b"\n")
    lines[1] = lines[1].replace(b"blockHash", b"blockHasX", 1)  # a readable, wrong block
    result = verify_object(b"\n".join(lines), spec)
    assert [(i.kind, i.check, i.seq) for i in result.issues] == [
        (FAILED, "writer-layout", (spec.name_first or 0) + 1)
    ]
    lines = data.split(b"\n")
    lines[2] = b"{not ion" + lines[2][8:]
    result = verify_object(b"\n".join(lines), spec)
    assert [(i.kind, i.check, i.seq) for i in result.issues] == [
        (FAILED, "not-ion", (spec.name_first or 0) + 2)
    ]
    assert result.counts.blocks_verified == 2


WINDOW = 16 * 1024 * 1024 + 4 * (1 << 16)  # the writer's byte check: max_value_bytes + 4 chunks


def _layout(data: bytes, spec: ObjectSpec) -> list[tuple[int | None, str]]:
    result = verify_object(data, spec)
    assert result.unreadable is None
    assert {i.check for i in result.issues} == {"layout"}, [i.line() for i in result.issues]
    assert result.counts.blocks == 3
    return [(i.seq, i.message) for i in result.issues]


def test_padding_beyond_the_byte_window_names_the_padding_not_the_genuine_block(
    ledger: Ledger, tmp_path: Path
) -> None:
    """Padding between blocks longer than the window the writer's byte check keeps: the break
    is the padding before the next block; the genuine block before it is never named (the
    reader used to yield a line's block only once it had read the padding after it, by which
    time the block's bytes had left the window: "before this block (bytes 0-0)")."""
    data, spec = middle_object(ledger, tmp_path, "ion_text")
    first = spec.name_first or 0
    lines = data.split(b"\n")
    pad = b" \n" * (WINDOW // 2 + 1000)
    issues = _layout(lines[0] + b"\n" + pad + b"\n".join(lines[1:]), spec)
    assert [seq for seq, _ in issues] == [first + 1], issues
    assert "before this block" in issues[0][1]
    # newlines only (padded_object's padding), in the middle and after the last block
    issues = _layout(lines[0] + b"\n" * (WINDOW + 1000) + b"\n".join(lines[1:]), spec)
    assert [seq for seq, _ in issues] == [first + 1], issues
    issues = _layout(data + b"\n" * (WINDOW + 1000), spec)
    assert issues == [(first + 2, f"{spec.key}: block {first + 2}: not the writer's layout "
                       "after the last block")]  # fmt: skip
    # the same padding within the window: the same places
    issues = _layout(lines[0] + b"\n" + b" \n" * 1000 + b"\n".join(lines[1:]), spec)
    assert [seq for seq, _ in issues] == [first + 1], issues
    # blanks on a block's own line, beyond the window: that line is a break (its bytes could
    # not be compared), and so are the bytes before the next block
    issues = _layout(lines[0] + b" " * (WINDOW + 1000) + b"\n" + b"\n".join(lines[1:]), spec)
    assert [seq for seq, _ in issues] == [first, first + 1], issues
    assert "on this block's line" in issues[0][1]
    assert "bytes 0-0" not in issues[0][1]


def test_damaged_lines_are_packed_in_flat_memory() -> None:
    """The links of a run of damaged values (binary noise in Ion text: one per line) are one
    entry, and still read back one link per position."""
    links = Links()
    real = Link(0, 5, b"h" * 32, b"p" * 32, True)
    links.append(real)
    for i in range(1, 100_001):
        links.append(Link(i, None, None, None, False))
    links.append(Link(100_001, 7, None, b"", False))
    assert len(links) == 100_002
    assert links[0] == real
    assert links[-1] == Link(100_001, 7, None, b"", False)
    assert links[50_000] == Link(50_000, None, None, None, False)
    assert len(pickle.dumps(links)) < 2000  # what a worker sends back
    assert list(links) == [real, *(Link(i, None, None, None, False) for i in range(1, 100_001)),
                           Link(100_001, 7, None, b"", False)]  # fmt: skip
    links[70_000] = Link(70_000, 3, b"x" * 32, None, True)  # a slot inside the run
    assert links[70_000] == Link(70_000, 3, b"x" * 32, None, True)
    assert links[69_999] == Link(69_999, None, None, None, False)
    assert links[70_001] == Link(70_001, None, None, None, False)
    assert len(links) == 100_002
    gap = Links([Link(0, None, None, None, False), Link(2, None, None, None, False)])
    assert list(gap) == [Link(0, None, None, None, False), Link(2, None, None, None, False)]


@pytest.mark.parametrize("fmt", FORMATS)
def test_truncated_empty_and_foreign_objects_are_unreadable(
    ledger: Ledger, tmp_path: Path, fmt: str
) -> None:
    data, spec = middle_object(ledger, tmp_path, fmt)
    cut = verify_object(data[: len(data) * 2 // 3], spec)
    assert cut.unreadable is not None
    assert (cut.unreadable.kind, cut.unreadable.check) == (MALFORMED, "truncated")
    assert spec.key in cut.unreadable.message
    assert cut.counts.blocks_verified >= 1  # what was read before the cut is still verified
    for foreign, check in ((b"", "empty"), (os.urandom(64) + b"\xff", None), (b"%PDF-1.7", None)):
        result = verify_object(foreign, spec)
        assert result.unreadable is not None, foreign
        assert result.unreadable.kind == MALFORMED
        assert check is None or result.unreadable.check == check
        assert [i.kind for i in result.issues] == [MALFORMED]


def test_a_damaged_symbol_table_length_is_refused_quickly() -> None:
    """A local symbol table list whose length is off by two made amazon.ion's C extension
    loop forever; the project's reader frames every length, so the object is unreadable."""
    data = ion.dumps_binary([{"blockAddress": {"strandId": "s"}}])
    at = data.index(b"\xbe")  # the symbols list with a VarUInt length
    damaged = data[:at] + b"\xbc" + data[at + 1 :]
    spec = ObjectSpec(0, "o.ion", "o.ion", "ion_binary", None, "s", None, None)
    started = time.monotonic()
    for bad in (damaged, data[:-3]):
        result = verify_object(bad, spec)
        assert result.issues, bad
        assert result.counts.blocks_verified == 0
    assert time.monotonic() - started < 2


def test_json_rules_refuse_equivalent_texts(ledger: Ledger, tmp_path: Path) -> None:
    """Writer JSON: a decimal's exponent letter, non-canonical base64 or another spelling of a
    timestamp changes no value, yet is not what the writer wrote: a failed block."""
    data, spec = middle_object(ledger, tmp_path, "json")
    text = data.decode()
    stamp = text.split('"blockTimestamp":"')[1].split('"')[0]
    other = text.replace(f'"blockTimestamp":"{stamp}"', f'"blockTimestamp":"{stamp[:-1]}+00:00"', 1)
    result = verify_object(other.encode(), spec)
    assert [(i.kind, i.check) for i in result.issues] == [(FAILED, "not-a-timestamp")]
    digest = text.split('"statementDigest":"')[1].split('"')[0]
    last = digest[-2]  # base64 of 32 bytes: the last character carries 2 unused bits
    loose = chr(ord(last) ^ 1) if last not in "AQgw" else last
    other = text.replace(digest, digest[:-2] + loose + "=", 1)
    if loose != last:
        result = verify_object(other.encode(), spec)
        assert [(i.kind, i.check) for i in result.issues][:1] == [(FAILED, "not-base64")]
    lenient = replace(spec, writer_from=None)
    assert verify_object(data, lenient).issues == []


def test_qldb_rules_keep_malformed_blocks_malformed(ledger: Ledger, tmp_path: Path) -> None:
    data, spec = middle_object(ledger, tmp_path, "ion_text")
    qldb = replace(spec, writer_from=None)
    lines = data.split(b"\n")
    lines[0] = lines[0].replace(b"entriesHashList", b"entriesHashLisX", 1)
    result = verify_object(b"\n".join(lines), qldb)
    assert [(i.kind, i.check) for i in result.issues] == [(MALFORMED, "unknown-field")]
    assert result.counts.blocks_verified == 2
