"""Ion Hash details that the vectors exercise only indirectly: the byte encodings, plain Python
inputs, the type distinctions QLDB depends on, and the errors."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

import pytest
from amazon.ion import simpleion
from amazon.ion.core import SymbolToken
from amazon.ion.simple_types import IonPyNull

from proofs import MalformedError, ion_hash
from proofs.ionvalue import Timestamp, TimestampPrecision


def serialized(value: Any) -> bytes:
    return ion_hash(value, lambda data: data)


@pytest.mark.parametrize(
    ("text", "expected_hex"),
    [
        ("null", "0b0f0e"),
        ("null.int", "0b2f0e"),
        ("5", "0b20050e"),
        ("-500", "0b3001f40e"),
        ("128", "0b20800e"),  # UInt has no sign bit: 0x80 alone
        ("1e0", "0b403ff00000000000000e"),
        ("-0e0", "0b4080000000000000000e"),
        ("0e0", "0b400e"),
        ("0d0", "0b500e"),
        ("-0d0", "0b5080800e"),
        ("0.00", "0b50c20e"),
        ("1234.500", "0b50c312d6440e"),
        ("2017-01-01T00:00:00Z", "0b60800fe18181808080" + "0e"),
        ("2017T", "0b60c00fe10e"),
        ('"a\\x0bb"', "0b80610c0b620e"),
        ("$0", "0b710e"),
        ("[1,2,3]", "0bb00b20010e0b20020e0b20030e0e"),
        ("hello::7", "0be00b7068656c6c6f0e0b20070e0e"),
        ("{a:1}", "0bd00c0b70610c0e0c0b20010c0e0e"),
    ],
)
def test_serialization(text: str, expected_hex: str) -> None:
    assert serialized(simpleion.loads(text)).hex() == expected_hex


def test_timestamp_offsets_are_normalized_to_utc_and_hashed() -> None:
    value = simpleion.loads("2001-02-03T04:05:06-12:34")
    assert serialized(value).hex() == "0b6045f20fd1828390a7860e"
    frac = simpleion.loads("2001-02-03T04:05:06.123456789-12:34")
    assert serialized(frac).hex().endswith("c9075bcd150e")


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("{a:1,b:2}", "{b:2,a:1}", True),
        ("2024-01-01T00:00:00Z", "2024-01-01T00:00:00+00:00", True),
        ("2024-01-01T00:00:00Z", "2024-01-01T00:00:00.000Z", False),
        ("2024-01-01T00:00:00Z", "2024-01-01T00:00Z", False),
        ("2024-01-01T00:00:00Z", "2024-01-01T00:00:00-00:00", False),
        ("2024-01-01T01:00:00+01:00", "2024-01-01T00:00:00Z", False),
        ("2024T", "2024-01-01T", False),
        ("1.0", "1.00", False),
        ("1", "1.", False),
        ("1", "1e0", False),
        ('"a"', "a", False),
        ("[1,2]", "[2,1]", False),
        ("{a:1}", "{a:1,a:1}", False),
        ("x::1", "1", False),
        ("[1]", "(1)", False),
        ('{{"x"}}', "{{eA==}}", False),
    ],
)
def test_data_model_distinctions(a: str, b: str, same: bool) -> None:
    assert (ion_hash(simpleion.loads(a)) == ion_hash(simpleion.loads(b))) is same


def test_plain_python_values_follow_the_documented_mapping() -> None:
    ion = simpleion.loads('{s:"x", i:-3, d:1.50, b:true, n:null, l:[{{AQ==}}], f:2.5e0}')
    plain = {
        "s": "x",
        "i": -3,
        "d": Decimal("1.50"),
        "b": True,
        "n": None,
        "l": [b"\x01"],
        "f": 2.5,
    }
    assert ion_hash(plain) == ion_hash(ion)
    assert ion_hash(SymbolToken("sym", None)) == ion_hash(simpleion.loads("sym"))
    assert ion_hash(("a",)) == ion_hash(["a"])
    assert ion_hash(IonPyNull.from_value(7, None)) == ion_hash(simpleion.loads("null.string"))


def test_pluggable_hash_function() -> None:
    value = simpleion.loads("{a:[1, {b:2}]}")

    def sha512(data: bytes) -> bytes:
        return hashlib.sha512(data).digest()

    assert len(ion_hash(value, sha512)) == 64
    assert ion_hash(value, lambda d: hashlib.sha256(d).digest()) == ion_hash(value)


@pytest.mark.parametrize(
    "value",
    [
        object(),
        __import__("datetime").datetime(2024, 1, 1),
        Decimal("NaN"),
        Decimal("Infinity"),
        SymbolToken(None, 10),
        {"a": SymbolToken(None, 12)},
    ],
)
def test_refuses_values_that_are_not_ion_data(value: Any) -> None:
    with pytest.raises(MalformedError):
        ion_hash(value)


def _var_int_reference(n: int) -> bytes:
    """VarInt written out bit by bit: 7-bit groups, sign in 0x40 of the first, end bit 0x80."""
    bits = bin(abs(n))[2:]
    groups = [bits[max(0, i - 7) : i] for i in range(len(bits), 0, -7)][::-1]
    if len(groups[0]) == 7 and groups[0][0] == "1":
        groups.insert(0, "0")
    out = [int(g, 2) for g in groups]
    if n < 0:
        out[0] |= 0x40
    out[-1] |= 0x80
    return bytes(out)


@pytest.mark.parametrize("exponent", [9_999_999, -999_999_999, 6112, -70])
def test_huge_exponents_hash_exactly_and_at_once(exponent: int) -> None:
    value = Decimal(f"-3E{exponent:+d}")
    expected = b"\x0b\x50" + _var_int_reference(exponent) + b"\x83\x0e"
    assert serialized(value) == expected


def _unescape(data: bytes) -> bytes:
    out, escaped = bytearray(), False
    for byte in data:
        if byte == 0x0C and not escaped:
            escaped = True
            continue
        out.append(byte)
        escaped = False
    return bytes(out)


def test_long_coefficients_beyond_pythons_int_string_limit() -> None:
    value = Decimal("9" * 5000)  # plain notation, longer than int()'s 4,300-digit limit
    body = serialized(value)
    assert body[:3] == b"\x0b\x50\x80"  # decimal, exponent 0
    assert int.from_bytes(_unescape(body[3:-1]), "big") == int(value)


def _binary_body(value: Any) -> tuple[int, bytes]:
    """amazon.ion's Ion binary encoding of one scalar: (type code, body after its length)."""
    data = simpleion.dumps(value, binary=True)[4:]  # after the version marker
    descriptor, rest = data[0], data[1:]
    if descriptor & 0x0F == 14:  # the length follows as a VarUInt
        while not rest[0] & 0x80:
            rest = rest[1:]
        rest = rest[1:]
    return descriptor >> 4, rest


@pytest.mark.parametrize(
    "text",
    [
        "9999T", "8192-12T", "0001-01-01", "9999-12-31T23:59Z", "2001-02-03T04:05:06-23:59",
        "2001-02-03T04:05:06.123456+23:59", "0001-01-01T00:00:00.5Z", "2400-02-29T12:00:00.00Z",
        "1.5", "-1.5", "123456789012345678901234567890.123", "1d300", "-1d-300", "7d-6112",
        "0.000", "-0.000", "128.0", "-128.0", "255", "256", "-256", "65535", "-65536",
        "18446744073709551616", "-18446744073709551615", "1.5e0", "-2.5e-300", "+inf", "-inf",
    ],
)  # fmt: skip
def test_scalar_representation_is_the_ion_binary_body(text: str) -> None:
    """The Ion Hash representation of a scalar is its Ion binary body (spec §3), escaped: checked
    against amazon.ion's writer for values at the edges of each field's width."""
    value = simpleion.loads(text)
    code, body = _binary_body(value)
    framed = serialized(value)
    assert framed[0] == 0x0B
    assert framed[1] >> 4 == code, text
    assert framed[-1] == 0x0E
    assert _unescape(framed[2:-1]) == body, text
    # and the project's own value model hashes the same bytes
    from auditor import ion

    (ours,) = ion.loads(text, "t")
    assert serialized(ours) == framed, text


@pytest.mark.parametrize("text", ["2001-02-03T04:05:06.1Z", "2001-02-03T04:05:06.000120+01:00",
                                  "2001-02-03T04:05:06.123456Z", "2001-02-03T04:05:06.123Z",
                                  "2001-02-03T04:05:06.07Z", "2001-02-03T04:05:06Z"])  # fmt: skip
def test_timestamps_of_older_amazon_ion_without_fractional_seconds(text: str) -> None:
    """amazon.ion before fractional_seconds kept microseconds and a digit count: the same
    timestamp, the same hash."""
    modern = simpleion.loads(text)
    older = simpleion.loads(text)
    older.fractional_seconds = None
    assert older.fractional_precision == modern.fractional_precision
    assert serialized(older) == serialized(modern)


def test_an_amazon_timestamp_without_precision_is_refused() -> None:
    from amazon.ion.core import Timestamp

    with pytest.raises(MalformedError) as info:
        ion_hash(Timestamp(2001, 1, 1))  # built by hand: its Ion precision would be a guess
    assert info.value.reason == "timestamp-precision"


def test_a_fraction_of_seventy_digits() -> None:
    """Ion fractions have no digit limit: an exponent of -70 is beyond the small-VarInt table.
    (amazon.ion's readers misread such text, the C extension beyond 9 digits and the pure-Python
    one beyond 28: its Timestamp is built here from the exact Decimal.)"""
    from amazon.ion.core import Timestamp, TimestampPrecision

    from auditor import ion

    digits = "1234567" * 10
    text = f"2001-02-03T04:05:06.{digits}-08:00"
    (ours,) = ion.loads(text, "t")
    whole = serialized(simpleion.loads("2001-02-03T04:05:06-08:00"))
    coefficient = int(digits)
    magnitude = coefficient.to_bytes((coefficient.bit_length() + 7) // 8, "big")
    if magnitude[0] & 0x80:  # an Int keeps the top bit for its sign
        magnitude = b"\0" + magnitude
    expected = _unescape(whole[2:-1]) + _var_int_reference(-70) + magnitude
    framed = serialized(ours)
    assert _unescape(framed[2:-1]) == expected
    tz = simpleion.loads("2001-02-03T04:05:06-08:00").tzinfo
    theirs = Timestamp(2001, 2, 3, 4, 5, 6, None, tz, precision=TimestampPrecision.SECOND,
                       fractional_seconds=Decimal("0." + digits))  # fmt: skip
    assert serialized(theirs) == framed


def test_a_timestamp_object_met_again_hashes_as_the_first_time() -> None:
    """The hasher frames a timestamp object once and keeps it by identity: the same object again
    (in one value or the next), an equal copy, and another precision of the same instant."""
    second = TimestampPrecision.SECOND
    ts = Timestamp(2024, 5, 1, 10, 0, 0, Decimal("0.123"), 0, second)
    copy = Timestamp(2024, 5, 1, 10, 0, 0, Decimal("0.123"), 0, second)
    first = ion_hash(ts)
    assert ion_hash(ts) == first == ion_hash(copy)
    assert ion_hash({"a": ts, "b": ts}) == ion_hash({"a": copy, "b": copy})
    assert ion_hash([ts, ts]) == ion_hash([copy, copy])
    finer = Timestamp(2024, 5, 1, 10, 0, 0, Decimal("0.1230"), 0, second)
    assert ion_hash(finer) != first
    assert ion_hash(ts) == first
