"""auditor.ion: reader, limits, errors, spans, streaming, writer; proofs.ionvalue."""

from __future__ import annotations

import io
import signal
import time
import tracemalloc
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import auditor.ion as ion
from auditor.ion import (
    Annotated,
    Clob,
    IonError,
    IonType,
    Limits,
    SExp,
    Symbol,
    Timestamp,
    TimestampPrecision,
    TypedNull,
)
from proofs import MalformedError, ion_hash
from tests.conftest import FIXTURES

IVM = b"\xe0\x01\x00\xea"
HOSTILE = FIXTURES / "ion" / "hostile"
SEC = TimestampPrecision.SECOND


def one(data: bytes | str, limits: Limits = ion.DEFAULT_LIMITS) -> Any:
    (value,) = ion.loads(data, "t", limits=limits)
    return value


def refused(data: bytes | str, reason: str | None = None, **limits: Any) -> IonError:
    with pytest.raises(IonError) as info:
        ion.loads(data, "input.ion", limits=replace(ion.DEFAULT_LIMITS, **limits))
    assert isinstance(info.value, MalformedError)
    if reason is not None:
        assert info.value.reason == reason, info.value
    return info.value


# ------------------------------------------------------------------------------ value model


def test_timestamp_fields_text_and_utc() -> None:
    ts = Timestamp(2001, 2, 3, 0, 30, 6, Decimal("0.500"), 60, SEC)
    assert ts.ion_text() == "2001-02-03T00:30:06.500+01:00"
    assert ts.utc() == (2001, 2, 2, 23, 30)
    assert Timestamp(2001, precision=TimestampPrecision.YEAR).ion_text() == "2001T"
    assert Timestamp(2001, precision=TimestampPrecision.YEAR).iso() == "2001"
    assert Timestamp(2001, 2, precision=TimestampPrecision.MONTH).ion_text() == "2001-02T"
    assert Timestamp(2001, 2, 3).ion_text() == "2001-02-03"
    assert Timestamp(
        1, 1, 1, 0, 0, offset=None, precision=TimestampPrecision.MINUTE
    ).ion_text() == ("0001-01-01T00:00-00:00")


def test_timestamp_equality_keeps_fraction_digits() -> None:
    a = Timestamp(2001, 1, 1, 0, 0, 0, Decimal("0.5"), 0, SEC)
    b = Timestamp(2001, 1, 1, 0, 0, 0, Decimal("0.50"), 0, SEC)
    assert a != b
    assert a == Timestamp(2001, 1, 1, 0, 0, 0, Decimal("0.5"), 0, SEC)
    assert len({a, b}) == 2


@pytest.mark.parametrize(
    "kwargs",
    [
        {"year": 0},
        {"year": 2001, "month": 2, "day": 29},
        {"year": 2001, "hour": 1},  # DAY precision with a time
        {"year": 2001, "offset": 0},  # DAY precision with an offset
        {"year": 2001, "hour": 24, "precision": TimestampPrecision.MINUTE},
        {"year": 2001, "fraction": Decimal("1.0"), "precision": SEC},
        {"year": 2001, "fraction": Decimal("-0.0"), "precision": SEC},
        {"year": 2001, "fraction": Decimal("0"), "precision": SEC},
        {"year": 2001, "offset": 1440, "precision": TimestampPrecision.MINUTE},
        {"year": 1, "offset": 60, "precision": TimestampPrecision.MINUTE},  # UTC in year 0
    ],
)
def test_timestamp_refuses_what_ion_cannot_hold(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="timestamp"):
        Timestamp(**kwargs)


def test_wrappers_are_not_plain_types() -> None:
    assert not isinstance(Symbol("a"), str)
    assert not isinstance(Clob(b"a"), bytes)
    assert not isinstance(SExp(()), list | tuple)
    assert not isinstance(Annotated(("a",), {}), dict)
    with pytest.raises(ValueError, match="TypedNull"):
        TypedNull(IonType.NULL)
    with pytest.raises(ValueError, match="at least one"):
        Annotated((), 1)
    with pytest.raises(ValueError, match="cannot wrap"):
        Annotated(("a",), Annotated(("b",), 1))


def test_same_is_exact() -> None:
    assert ion.same(Decimal("1.0"), Decimal("1.0"))
    assert not ion.same(Decimal("1.0"), Decimal("1.00"))
    assert not ion.same(Decimal("0"), Decimal("-0"))
    assert not ion.same(1, True)
    assert not ion.same(1, 1.0)
    assert not ion.same([1], SExp((1,)))
    assert not ion.same(0.0, -0.0)
    assert ion.same(float("nan"), float("nan"))
    assert ion.same({"a": 1, "b": 2}, {"b": 2, "a": 1})
    assert not ion.same({"a": 1}, {"a": 2})


# ------------------------------------------------------------------------------ reading


def test_every_type_from_text_and_binary() -> None:
    text = (
        "null null.int true false 0 -5 0x1F 0b101 1_000 1.5e0 -0e0 nan +inf -inf 1.50 -0d-3 "
        "1d3 2001T 2001-02T 2001-02-03 2001-02-03T04:05Z 2001-02-03T04:05:06.789-08:00 "
        "2001-02-03T04:05:06-00:00 sym 'quoted sym' $0 \"str\" '''long''' '''con''' '''cat''' "
        "{{aGVsbG8=}} {{\"clob\"}} {{'''a''' '''b'''}} [1, 2,] (a + b) {a: 1, 'b': 2, \"c\": 3,} "
        "x::y::1 {$0: 1}"
    )
    values = ion.loads(text, "t")
    expected = [
        None, TypedNull(IonType.INT), True, False, 0, -5, 31, 5, 1000, 1.5, -0.0,
        values[11], float("inf"), float("-inf"), Decimal("1.50"), Decimal("-0.000"),
        Decimal("1E+3"),
        Timestamp(2001, precision=TimestampPrecision.YEAR),
        Timestamp(2001, 2, precision=TimestampPrecision.MONTH),
        Timestamp(2001, 2, 3),
        Timestamp(2001, 2, 3, 4, 5, offset=0, precision=TimestampPrecision.MINUTE),
        Timestamp(2001, 2, 3, 4, 5, 6, Decimal("0.789"), -480, SEC),
        Timestamp(2001, 2, 3, 4, 5, 6, None, None, SEC),
        Symbol("sym"), Symbol("quoted sym"), Symbol(None), "str", "longconcat",
        b"hello", Clob(b"clob"), Clob(b"ab"), [1, 2], SExp((Symbol("a"), Symbol("+"), Symbol("b"))),
        {"a": 1, "b": 2, "c": 3}, Annotated(("x", "y"), 1), {None: 1},
    ]  # fmt: skip
    assert ion.same(values, expected), values
    binary = ion.dumps_binary(values)
    assert ion.same(ion.loads(binary, "t.10n"), values)
    assert [ion_hash(v) for v in ion.loads(binary, "t.10n")] == [ion_hash(v) for v in values]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{a: 1, a: 2}", "duplicate-field"),
        ("{a: 1, 'a': 2}", "duplicate-field"),
        ("{$0: 1, $0: 2}", "duplicate-field"),
        ("[1, , 2]", "not-ion"),
        ("01", "not-ion"),
        ("1_", "not-ion"),
        ("+1", "not-ion"),
        ("1a", "not-ion"),
        ("2001-02-30", "not-ion"),
        ("2001-02-03T04:05", "not-ion"),
        ("2001-02-03T24:00Z", "not-ion"),
        ('"a\nb"', "not-ion"),
        ('"\\q"', "not-ion"),
        ('"\\ud800"', "not-ion"),
        ('"\\U00110000"', "not-ion"),
        ("'\x01'", "not-ion"),
        ("{{ aGVsbG8 }}", "not-ion"),
        ("{{ QR== }}", "not-ion"),  # non-zero padding bits
        ('{{ "\\u00e9" }}', "not-ion"),
        ('{{ "é" }}', "not-ion"),
        ('{{ /* no */ "a" }}', "not-ion"),
        ("null.nil", "not-ion"),
        ("{null: 1}", "not-ion"),
        ("null::1", "not-ion"),
        ("$ion_2_0", "not-ion"),
        ("$10", "symbol-out-of-range"),
        ("(a , b)", "not-ion"),
        ("[1 2]", "not-ion"),
        ("/* open", "truncated"),
        ('"open', "truncated"),
        ("[1, 2", "truncated"),
        ('$ion_symbol_table::{imports: [{name: "s", version: 1}]} 1', "symbol-import"),
        ('$ion_symbol_table::{imports: [{name: "s", max_id: 2}]} $10', "symbol-unknown-text"),
        ("$ion_symbol_table::{symbols: [null]} $10", "symbol-unknown-text"),
    ],
)
def test_malformed_text(text: str, reason: str) -> None:
    refused(text, reason)


def test_symbol_tables_text() -> None:
    text = (
        '$ion_symbol_table::{symbols: ["a", "b"]} $10 $11 '
        '$ion_symbol_table::{imports: $ion_symbol_table, symbols: ["c"]} $10 $12 '
        "$ion_1_0 $4 '$ion_1_0' $2 "
        '$ion_symbol_table::{imports: [{name: "shared", version: 2, max_id: 3}], symbols: ["d"]} '
        "$13 annotated::$ion_symbol_table::{} $ion_symbol_table::null.struct"
    )
    assert ion.same(
        ion.loads(text, "t"),
        [Symbol("a"), Symbol("b"), Symbol("a"), Symbol("c"), Symbol("name"), Symbol("d"),
         Annotated(("annotated", "$ion_symbol_table"), {})],
    )  # fmt: skip


def test_binary_specifics() -> None:
    # NOP pads at top level, in a list and in a struct (its field name ignored)
    data = IVM + b"\x00\x01\xff\x0e\x80\xb3\x00\x21\x01\xd3\x8f\x01\xaa\x0f"
    assert ion.loads(data, "t") == [[1], {}, None]
    assert one(IVM + b"\x0f") is None
    assert one(IVM + b"\xd3\x80\x21\x07") == {None: 7}
    # timestamps with 0d0 / 0d1 fraction are second precision without fraction
    plain = one(IVM + b"\x68\x80\x0f\xd0\x81\x81\x80\x80\x80")
    for encoded in (
        b"\x69\x80\x0f\xd0\x81\x81\x80\x80\x80\x80",
        b"\x69\x80\x0f\xd0\x81\x81\x80\x80\x80\x81",
    ):
        assert one(IVM + encoded) == plain
    assert one(IVM + b"\x69\x80\x0f\xd0\x81\x81\x80\x80\x80\xc1").fraction == Decimal("0.0")
    assert one(IVM + b"\x44\x3f\xc0\x00\x00") == 1.5  # 32-bit float, widened


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\x30", "not-ion"),  # negative zero int
        (b"\x31\x00", "not-ion"),
        (b"\x12", "not-ion"),
        (b"\x45\x00\x00\x00\x00\x00", "not-ion"),
        (b"\xf0", "not-ion"),
        (b"\xe3\x81\x84\x00", "not-ion"),  # annotation on a NOP pad
        (b"\xe1\x81", "not-ion"),
        (b"\xd1\x80", "not-ion"),  # sorted struct, empty
        (b"\x82\xc3\x28", "not-ion"),  # invalid UTF-8
        (b"\x83\xed\xa0\x80", "not-ion"),  # UTF-8 encoded surrogate
        (b"\xd4\x84\x82\xc3\x28", "not-ion"),  # invalid UTF-8 in a struct's field
        (b"\xb3\x82\xc3\x28", "not-ion"),  # ... and in a list
        (b"\x71\x0a", "symbol-out-of-range"),
        (b"\xd4\x84\x21\x01\x84\x20", "truncated"),
        (b"\xd6\x84\x21\x01\x84\x21\x02", "duplicate-field"),
        (b"\x65\x80\x0f\xd1\x82\x83", "not-ion"),  # date with a known offset
        (b"\x6a\x80\x0f\xd0\x81\x81\x80\x80\x80\xc1\x81", "not-ion"),  # negative fraction
        (b"\x6a\x80\x0f\xd0\x81\x81\x80\x80\x80\xc1\x0a", "not-ion"),  # fraction 1.0
        (b"\x64\x80\x0f\xd0\x82\x9e", "not-ion"),  # Feb 30
        (b"\x65\x80\x0f\xd0\x81\x81\x80", "not-ion"),  # hour without minute
        (b"\xe0\x01\x01\xea", "not-ion"),  # Ion 1.1 IVM
        (b"\x21", "truncated"),
    ],
)
def test_malformed_binary(body: bytes, reason: str) -> None:
    error = refused(IVM + body, reason)
    assert "byte" in error.locator


def test_invalid_utf8_is_not_ion_at_the_text_limit_too() -> None:
    body = b"x" * 8 + b"\xc3\x28"  # 10 bytes: at max_text, not beyond it
    assert refused(IVM + b"\x8a" + body, "not-ion", max_text=10).reason == "not-ion"
    assert refused(IVM + b"\xdc\x84\x8a" + body, "not-ion", max_text=10).path == "name"


def test_binary_must_start_with_ivm_and_text_must_be_utf8() -> None:
    assert refused(b"\xff\xfe", "not-utf8").offset == 0
    assert ion.loads(b"", "empty") == []
    assert ion.loads(IVM, "empty") == []


def test_locators_name_input_position_and_field() -> None:
    error = refused('{a: [1, {b: "x", b: 2}]}', "duplicate-field")
    assert error.locator == "input.ion at line 1, column 18, field a[1]"
    assert str(error).startswith("input.ion at line 1, column 18, field a[1]: duplicate field")
    error = refused("[\n  1,\n  2001-13-01\n]", "not-ion")
    assert (error.line, error.column, error.path) == (3, 3, "[1]")
    error = refused(IVM + b"\xd5\x84\xb3\x21\x01\x30", "not-ion")
    assert error.locator == "input.ion at byte 9, field name[1]"


def test_sigalrm_interrupts_a_long_parse() -> None:
    data = "[" + "1," * 3_000_000 + "]"

    class StopError(Exception):
        pass

    def handler(signum: int, frame: Any) -> None:
        raise StopError

    previous = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, 0.05)
    started = time.monotonic()
    try:
        with pytest.raises(StopError):
            ion.loads(data, "big")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert time.monotonic() - started < 5


# ------------------------------------------------------------------------------ limits
# Each limit: the value at the limit reads, one more is refused.


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def _nested_binary(depth: int) -> bytes:
    from auditor.ion.writer import _framed

    body = b"\xb0"
    for _ in range(depth - 1):
        body = _framed(11, body)
    return IVM + body


def _symbols(count: int) -> str:
    return "$ion_symbol_table::{symbols:[" + '"a",' * count + "]} 1"


def _long_string(size: int) -> bytes:
    return IVM + b"\x8e" + bytes([0x80 | size]) + b"x" * size


LIMIT_CASES = [
    ("max_depth", 5, lambda n: _nested(n), "too-deep"),
    ("max_depth", 5, lambda n: _nested_binary(n), "too-deep"),
    ("max_annotations", 3, lambda n: "a::" * n + "1", "limit"),
    ("max_annotations", 3, lambda n: ion.dumps_binary([Annotated(("a",) * n, 1)]), "limit"),
    ("max_digits", 5, lambda n: "9" * n, "limit"),
    ("max_digits", 5, lambda n: "9" * n + ".0"[: 1 if n else 0], "limit"),
    ("max_digits", 5, lambda n: ion.dumps_binary([10**n - 1]), "limit"),
    ("max_digits", 5, lambda n: ion.dumps_binary([-(10**n - 1)]), "limit"),
    ("max_digits", 5, lambda n: ion.dumps_binary([Decimal(10**n - 1)]), "limit"),
    ("max_exponent", 50, lambda n: f"1d{n}", "limit"),
    ("max_exponent", 50, lambda n: f"1d-{n}", "limit"),
    ("max_exponent", 50, lambda n: ion.dumps_binary([Decimal(f"1E{n}")]), "limit"),
    ("max_exponent", 50, lambda n: "2001-01-01T00:00:00." + "0" * n + "Z", "limit"),
    ("max_text", 10, lambda n: '"' + "x" * n + '"', "limit"),
    ("max_text", 10, lambda n: ion.dumps_binary(["x" * n]), "limit"),
    ("max_text", 10, lambda n: ion.dumps_binary([{"k": "x" * n}]), "limit"),
    ("max_text", 10, lambda n: ion.dumps_binary([["x" * n]]), "limit"),
    ("max_text", 10, lambda n: ion.dumps_binary([b"x" * n]), "limit"),
    ("max_values", 10, lambda n: "[" + "1," * (n - 1) + "]", "budget"),
    ("max_values", 10, lambda n: ion.dumps_binary([[1] * (n - 1)]), "budget"),
    ("max_symbols", 12, lambda n: _symbols(n - 9), "too-many-symbols"),
    ("max_value_bytes", 10, lambda n: '"' + "x" * (n - 2) + '"', "limit"),
    ("max_value_bytes", 10, lambda n: _long_string(n - 2), "limit"),
    ("max_bytes", 20, lambda n: " " * (n - 1) + "1", "limit"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "limit", "make", "reason"), LIMIT_CASES)
def test_each_limit_at_and_beyond(name: str, limit: int, make: Any, reason: str) -> None:
    limits = replace(ion.DEFAULT_LIMITS, **{name: limit})
    ion.loads(make(limit), "at-limit", limits=limits)
    with pytest.raises(IonError) as info:
        ion.loads(make(limit + 1), "beyond", limits=limits)
    assert info.value.reason == reason


def test_default_limits_and_validation() -> None:
    assert ion.DEFAULT_LIMITS.max_depth == 100
    with pytest.raises(ValueError, match="max_depth"):
        Limits(max_depth=0)
    with pytest.raises(ValueError, match="max_digits"):
        Limits(max_digits=5000)
    with pytest.raises(ValueError, match="Decimal"):
        Limits(max_exponent=10**18)


def test_deadline_turns_slow_input_into_budget() -> None:
    expired = replace(ion.DEFAULT_LIMITS, deadline=time.monotonic() - 1)
    for data in ("1", ion.dumps_binary([1])):
        with pytest.raises(IonError) as info:
            ion.loads(data, "slow", limits=expired)
        assert info.value.reason == "budget"
    assert ion.loads("1", "fast", limits=ion.DEFAULT_LIMITS.within(60)) == [1]
    big = "[" + "1," * 200_000 + "]"
    soon = ion.DEFAULT_LIMITS.within(0.0)
    with pytest.raises(IonError, match="deadline"):
        ion.loads(big, "big", limits=soon)


# ------------------------------------------------------------------------------ spans, stream


def test_spans_are_byte_offsets() -> None:
    binary = ion.dumps_binary([1, "x", {"a": 1}])
    parts = [binary[s:e] for _, s, e in ion.iter_values(binary, "t")]
    assert parts == [b"\x21\x01", b"\x81x", b"\xd3\x8a\x21\x01"]


def test_text_spans_after_non_ascii() -> None:
    data = '"é" 1 "üü" 22'.encode()
    got = [data[s:e] for _, s, e in ion.iter_values(data, "t")]
    assert got == ['"é"'.encode(), b"1", '"üü"'.encode(), b"22"]


@pytest.mark.parametrize("chunk", [1, 3, 7, 64, 65536])
def test_stream_equals_loads(chunk: int) -> None:
    text = (
        "$ion_1_0 /* c */ a::{b: [1, 2.5, \"x\", '''lo''' // c\n '''ng''']} 'q' 1d3 "
        '2001-02-03T04:05:06.7Z $ion_symbol_table::{symbols:["s"]} $10 {{aGk=}} -inf'
    )
    expected = list(ion.iter_values(text.encode(), "t"))
    got = list(ion.stream(io.BytesIO(text.encode()), "t", chunk_size=chunk))
    assert ion.same([v for v, _, _ in got], [v for v, _, _ in expected])
    assert [(s, e) for _, s, e in got] == [(s, e) for _, s, e in expected]
    binary = ion.dumps_binary([v for v, _, _ in expected])
    got_binary = list(ion.stream(io.BytesIO(binary), "t", chunk_size=chunk))
    assert ion.same([v for v, _, _ in got_binary], [v for v, _, _ in expected])
    assert got_binary == list(ion.iter_values(binary, "t")) or ion.same(
        [v for v, _, _ in got_binary], [v for v, _, _ in ion.iter_values(binary, "t")]
    )


def test_stream_errors_name_the_position() -> None:
    with pytest.raises(IonError) as info:
        list(ion.stream(io.BytesIO(b"1 2\n 3 {a:1, a:2}"), "obj", chunk_size=2))
    assert info.value.locator == "obj at line 2, column 10"
    assert info.value.offset == 13
    with pytest.raises(IonError) as info:
        list(ion.stream(io.BytesIO(IVM + b"\x21\x01\x30"), "obj.10n", chunk_size=2))
    assert info.value.locator == "obj.10n at byte 6"


def _peak(fn: Any) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(
    "padding",
    [
        b"\n" * 4_000_000,
        b" /* " + b"x" * 4_000_000 + b" */ ",
        b"// " + b"y" * 4_000_000 + b"\n",
    ],
    ids=["newlines", "block-comment", "line-comment"],
)
def test_stream_text_padding_in_flat_memory(padding: bytes) -> None:
    data = b'{a: "first"}' + padding + b'{b: "last"}'
    values: list[Any] = []
    peak = _peak(lambda: values.extend(ion.stream(io.BytesIO(data), "padded")))
    assert [v for v, _, _ in values] == [{"a": "first"}, {"b": "last"}]
    assert values[1][1] == len(data) - len(b'{b: "last"}')
    assert peak < 2_000_000, peak


def test_stream_binary_nop_pads_in_flat_memory() -> None:
    size = 4_000_000
    length = bytes([(size >> 14) & 0x7F, (size >> 7) & 0x7F, 0x80 | (size & 0x7F)])
    pad = b"\x0e" + length + bytes(size)
    data = IVM + b"\x21\x01" + pad + b"\x21\x02"
    values: list[Any] = []
    peak = _peak(lambda: values.extend(ion.stream(io.BytesIO(data), "padded.10n")))
    assert [v for v, _, _ in values] == [1, 2]
    assert values[1][1:] == (len(data) - 2, len(data))
    assert peak < 2_000_000, peak
    assert ion.loads(data, "padded.10n") == [1, 2]


# ------------------------------------------------------------------------------ hostile files

HOSTILE_CASES = {
    "sid_2147483648.ion": "symbol-out-of-range",
    "sid_4294967296.ion": "symbol-out-of-range",
    "nested_1000.ion": "too-deep",
    "nested_1000.10n": "too-deep",
    "lst_list_length_plus_2.10n": "truncated",
}
GENUINE_CASES = {
    "fraction_10_digits.ion": Timestamp(2001, 1, 1, 0, 0, 0, Decimal("0.5000000000"), 0, SEC),
    "decimal_exponent_99999.ion": Decimal("0E+99999"),
    "annotations_11.ion": Annotated(tuple("abcdefghijk"), 1),
}


@pytest.mark.parametrize(("name", "reason"), HOSTILE_CASES.items())
def test_hostile_fixtures_are_refused_quickly(name: str, reason: str) -> None:
    data = (HOSTILE / name).read_bytes()
    started = time.monotonic()
    with pytest.raises(IonError) as info:
        ion.loads(data, name)
    assert info.value.reason == reason
    assert info.value.where == name
    assert time.monotonic() - started < 2
    with pytest.raises(IonError):
        list(ion.stream(io.BytesIO(data), name, chunk_size=5))


@pytest.mark.parametrize(("name", "expected"), GENUINE_CASES.items())
def test_genuine_values_amazon_ion_misreads(name: str, expected: Any) -> None:
    value = one((HOSTILE / name).read_bytes())
    assert ion.same(value, expected)
    assert ion.same(one(ion.dumps_binary([value])), expected)
    assert ion.same(one(ion.dumps_text(value)), expected)


def test_hostile_readme_lists_every_file() -> None:
    readme = (HOSTILE / "README.md").read_text()
    for path in HOSTILE.iterdir():
        if path.name != "README.md":
            assert f"`{path.name}`" in readme, path.name


# ------------------------------------------------------------------------------ writer


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.5, "1.5e+0"),
        (0.0, "0e0"),
        (-0.0, "-0e0"),
        (1e-7, "9.9999999999999995475e-08"),
        (Decimal("1.50"), "1.50"),
        (Decimal("1E+3"), "1d+3"),
        (Decimal("-0"), "-0d0"),
        (Decimal("1E-100"), "1d-100"),
        ("a\x00\x1f\x7fé\"'", '"a\\0\\x1F\x7fé\\"\'"'),
        (Symbol("$4"), "'$4'"),
        (Symbol("null"), "'null'"),
        (Symbol("a b"), "'a b'"),
        (Symbol(None), "$0"),
        (Clob(b"\x00\x7f\x80'"), '{{"\\0\\x7F\\x80\'"}}'),
        ({None: 1, "a b": SExp((Symbol("+"),))}, "{$0:1,'a b':('+')}"),
        (Annotated(("a", None), TypedNull(IonType.STRUCT)), "a::$0::null.struct"),
        (Timestamp(2001, 2, 3), "2001-02-03"),
    ],
)
def test_text_writer_forms(value: Any, text: str) -> None:
    assert ion.dumps_text(value) == text
    assert ion.same(one(text), value)


@pytest.mark.parametrize(
    "value",
    [
        "\ud800",
        Decimal("NaN"),
        Decimal("Infinity"),
        object(),
        {1: 2},
        Annotated(("$ion_symbol_table",), {}),
    ],
)
def test_writers_refuse_what_has_no_ion_image(value: Any) -> None:
    with pytest.raises(ValueError, match=r"."):
        ion.dumps_text(value)
    with pytest.raises(ValueError, match=r"."):
        ion.dumps_binary([value])


def test_writers_refuse_top_level_ivm_symbol() -> None:
    with pytest.raises(ValueError, match="ion_1_0"):
        ion.dumps_binary([Symbol("$ion_1_0")])
    with pytest.raises(ValueError, match="ion_1_0"):
        ion.dumps_text(Symbol("$ion_1_0"))
    assert one(ion.dumps_text([Symbol("$ion_1_0")])) == [Symbol("$ion_1_0")]
    assert one(ion.dumps_binary([[Symbol("$ion_1_0")]])) == [Symbol("$ion_1_0")]


def test_binary_writer_symbol_table_order() -> None:
    # the C extension's order: a scalar's own symbol before its field name and annotations
    data = ion.dumps_binary([{"k": Annotated(("x",), Symbol("y"))}])
    assert data.hex() == "e00100eaeb8183d887b6817981" + "6b8178d68be4818c710a"


def test_fixture_paths_exist() -> None:
    assert Path(HOSTILE).is_dir()
