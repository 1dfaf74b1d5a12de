"""auditor.ion.rebase on hand-made bytes: what is re-based, what is left to the encoder (None),
and that input written another way still reads back as the same value."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

import pytest

import auditor.ion as ion
from auditor.ion import Annotated, SExp, Symbol, rebase
from auditor.ion.symbols import system_table
from auditor.ion.writer import _header as symbol_table

IVM = b"\xe0\x01\x00\xea"
TEXTS = [*system_table(), "a", "revisions", "b"]  # a=10, revisions=11, b=12


def read(raw: bytes, texts: list[str | None] = TEXTS) -> Any:
    (value,) = ion.loads(raw, "rebased")
    return value


def test_field_names_are_renumbered_in_the_order_they_are_met() -> None:
    # {b: "x", a: [1]} under TEXTS: b is 12 and a is 10 there; 10 and 11 in a stream of its own
    raw = b"\xd7\x8c\x81x\x8a\xb2\x21\x01"
    out = rebase.rebase(raw, TEXTS)
    assert out == ion.dumps_binary([{"b": "x", "a": [1]}])
    assert read(out) == {"b": "x", "a": [1]}


def test_a_system_symbol_as_field_name_is_not_added_to_the_table() -> None:
    raw = b"\xd2\x84\x20"  # {name: 0}: "name" is system symbol 4
    assert rebase.rebase(raw, TEXTS) == IVM + raw == ion.dumps_binary([{"name": 0}])


@pytest.mark.parametrize(
    "raw",
    [
        b"\xd3\x8a\x71\x0a",  # {a: a} (a symbol value)
        b"\xd5\x8a\xe3\x81\x8a\x20",  # {a: a::0} (an annotation)
        b"\xd3\x8a\xc1\x20",  # {a: (0)} (an s-expression)
        b"\xd4\x8a\x00\x8b\x20",  # {a: <NOP pad>, revisions: 0}
        b"\xb3\x20\x00\x20",  # [0, <NOP pad>, 0]
        b"\xd2\xa5\x20",  # {$37: 0}: no such symbol
        b"\xd2\x8a",  # truncated inside its container
        b"\xd3\x8a\x22\x01",  # a field's value runs past its struct
        b"\xb2\x8e",  # a list element's VarUInt length is cut by the list's end
        b"\xd4\x8a\xde\x81",  # a struct's VarUInt length is cut by its container's end
        b"\xd1\x82",  # a sorted struct's length runs past the data
        b"\xd2\x8a\xef",  # a field's descriptor is illegal
        b"\xd5\x8a\xf0\x80\x8a\x20",  # a reserved type (F) with what would be a length
        b"\xb1\x22",  # a list's element runs past the list
        b"\xd3\x8a\x8e\x85",  # a string's one-byte VarUInt length runs past its struct
        b"\xd3\x8a\x21",  # a field's value runs past the data
        b"\xd2\x8a\x8e",  # a field's VarUInt length is past the data
        b"\xd6\x8a\x0e\x81\x00\x8c\x20",  # {a: <NOP pad, a VarUInt length>, b: 0}
    ],
)
def test_what_is_left_to_the_encoder(raw: bytes) -> None:
    assert rebase.rebase(raw, TEXTS) is None


def test_field_name_zero_keeps_symbol_zero() -> None:
    raw = b"\xd2\x80\x20"  # {$0: 0}
    assert rebase.rebase(raw, TEXTS) == IVM + raw == ion.dumps_binary([{None: 0}])


def read_with_bytes(data: bytes) -> tuple[Any, bytes, list[str | None]]:
    """The last top-level value of ``data`` with the bytes and symbol table it was read from."""
    seen: list[tuple[bytes, list[str | None]]] = []
    *_, (value, _, _, _) = ion.stream_items(
        io.BytesIO(data), "t", on_value=lambda d, t: seen.append((d, t))
    )
    return value, *seen[-1]


@pytest.mark.parametrize(
    "value",
    [
        {"a": "01234567890"},  # a struct body of 13 bytes
        {"a": "012345678901"},  # 14 bytes: a VarUInt length
        [b"0123456789ab"],  # a list body of 13 bytes
        [b"0123456789abc"],  # 14 bytes
        [{"a": [1] * 200}, {"b": list(range(300))}],  # bodies longer than 127 bytes
        {"a": "x" * 124},  # a struct body of 127 bytes (a one-byte VarUInt length)
        {"a": "x" * 125},  # 128 bytes: a two-byte one
        ["x" * 124, ["x" * 125], ["x" * 126]],  # list bodies of 127, 128 and 129 bytes
        {f"f{i}": {f"g{i}": i} for i in range(150)},  # output symbol ids past 127
        # scalars of every length form in a struct: 0, 1-13 bytes, a one-byte VarUInt length
        # (14, 127), a two- and a three-byte one (128, 300, 16,384)
        {"z": 0, "t": True, "n": None, "i2": 32768, "i3": 8388608, "d": Decimal("-1.5")},
        {f"s{n}": "x" * n for n in (13, 14, 127, 128, 300, 16384)},
        {f"b{n}": b"\x80" * n for n in (13, 14, 32, 127, 128, 300)},
    ],
)
def test_long_bodies_and_large_symbol_ids_are_the_encoders(value: Any) -> None:
    before = {f"s{i}": i for i in range(200)}  # input symbol ids past 127 for the value's names
    got, raw, texts = read_with_bytes(ion.dumps_binary([before, value]))
    assert got == value
    assert rebase.rebase(raw, texts) == ion.dumps_binary([value])


def test_input_written_another_way_reads_back_as_the_same_value() -> None:
    # a sorted struct (D1, VarUInt length), a string with a 2-byte length for 3 bytes, an int
    # with a leading zero byte: valid Ion that our writer would write shorter
    raw = b"\xd1\x8a\x8a\x8e\x83abc\x8c\x22\x00\x05"
    (value,) = ion.loads(symbol_table(("a", "x", "b")) + raw, "t")
    out = rebase.rebase(raw, [*system_table(), "a", "x", "b"])
    assert out is not None
    assert out != ion.dumps_binary([value])
    assert ion.same(read(out), {"a": "abc", "b": 5})


def block(revisions: Any) -> bytes:
    return ion.dumps_binary([{"a": 1, "revisions": revisions, "b": {"a": [Decimal("1.0")]}}])


def split_of(data: bytes) -> tuple[bytes, list[bytes]] | None:
    seen: list[tuple[bytes, list[str | None]]] = []
    list(ion.stream_items(io.BytesIO(data), "t", on_value=lambda d, t: seen.append((d, t))))
    ((raw, texts),) = seen
    return rebase.split(raw, texts, "revisions")


def test_split_gives_the_frame_and_each_revision_as_the_encoder_does() -> None:
    revisions = [{"b": "x"}, {"a": {"revisions": [1]}}, {}]
    out = split_of(block(revisions))
    assert out is not None
    frame, rows = out
    assert frame == ion.dumps_binary([{"a": 1, "revisions": [], "b": {"a": [Decimal("1.0")]}}])
    assert rows == [ion.dumps_binary([r]) for r in revisions]
    # a system symbol ("name") and a field name met again inside, in the frame
    framed = {"name": 1, "a": {"name": 2, "a": 3}, "revisions": revisions, "b": {"name": 4}}
    out = split_of(ion.dumps_binary([framed]))
    assert out is not None
    assert out[0] == ion.dumps_binary([{**framed, "revisions": []}])


@pytest.mark.parametrize(
    "revisions",
    [
        None,
        "x",
        ion.TypedNull(ion.IonType.LIST),
        [Symbol("s")],
        [Annotated(("a",), {})],
        [SExp(())],
    ],
)
def test_split_leaves_other_blocks_to_the_encoder(revisions: Any) -> None:
    assert split_of(block(revisions)) is None


def test_split_of_a_block_without_the_field_or_not_a_struct() -> None:
    assert split_of(ion.dumps_binary([{"a": [1]}])) is None
    assert split_of(ion.dumps_binary([[{"revisions": []}]])) is None
    assert split_of(ion.dumps_binary([ion.TypedNull(ion.IonType.STRUCT)])) is None
    # a list whose bytes would read as a struct holding `revisions: []` (11 is its symbol id)
    assert rebase.split(b"\xb2\x8b\xb0", TEXTS, "revisions") is None
    assert rebase.split(b"\xd2\x8b\xb0", TEXTS, "revisions") == (
        ion.dumps_binary([{"revisions": []}]),
        [],
    )
    assert rebase.split(b"\xd2\x8b\xb0\x20", TEXTS, "revisions") is None  # bytes after it
    assert rebase.split(b"\xd3\x8b\xb1\xf0", TEXTS, "revisions") is None  # a reserved type
    assert rebase.split(b"\xd5\x8b\xb3\x0e\x80\xd0", TEXTS, "revisions") is None  # a NOP pad


def test_split_with_large_symbol_ids() -> None:
    before = {f"s{i}": i for i in range(200)}
    revisions = [{f"f{i}": i for i in range(140)}, {"x": [{"y": 1}]}]
    block = {"z": 1, "revisions": revisions}
    _, raw, texts = read_with_bytes(ion.dumps_binary([before, block]))
    assert rebase.split(raw, texts, "revisions") == (
        ion.dumps_binary([{"z": 1, "revisions": []}]),
        [ion.dumps_binary([r]) for r in revisions],
    )


@pytest.mark.parametrize(
    "revisions",
    [
        [{"a": 1, "b": 2, "c": 3}, {"a": 4, "b": 5, "c": 6}],  # one shape
        [{"a": 1, "b": 2, "c": 3}, {"b": 1, "a": 2, "c": 3}],  # the same names, another order
        [{"a": 1, "b": 2, "c": 3}, {"a": 1, "b": 2}],  # the first names only
        [{"a": 1, "b": 2, "c": 3}, {"a": 1, "c": 3}],  # a name left out in the middle
        [{"a": 1, "b": 2}, {"a": 1, "b": 2, "c": 3}],  # one more name
        [{"a": 1, "b": 2}, {"c": 1}, {"a": 1, "b": 2}],  # another shape, then the first again
        [{"x": {"y": 1}, "z": 2}, {"x": {"y": 1, "w": 0}, "z": 2}],  # a new name inside
        [{"x": {"y": 1}}, {"x": [{"y": 1}], "y": 0}],  # nested and again at the top
        [{"name": 1, "a": 2}, {"a": 2, "name": 1}, {}],  # a system symbol among them; none
        [{"a": 1}, {"a": Symbol("s")}, {"a": 1}],  # one not re-based: the block is not
    ],
)
def test_each_revision_row_has_its_own_table_whatever_the_one_before(revisions: Any) -> None:
    out = split_of(block(revisions))
    if any(isinstance(v, Symbol) for r in revisions for v in r.values()):
        assert out is None
        return
    assert out is not None
    assert out[1] == [ion.dumps_binary([r]) for r in revisions]
