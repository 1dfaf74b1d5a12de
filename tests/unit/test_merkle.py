"""dot, merkle_root and fold: QLDB's rules, shapes and error cases."""

from __future__ import annotations

import hashlib

import pytest

from proofs import MAX_PROOF_LENGTH, MalformedError, dot, fold, merkle_root


def h(n: int) -> bytes:
    return hashlib.sha256(str(n).encode()).digest()


def test_dot_orders_by_signed_bytes_from_the_last_byte() -> None:
    low = bytes(31) + b"\x80"  # last byte -128 (signed): smaller
    high = bytes(31) + b"\x7f"  # last byte 127: larger
    assert dot(low, high) == hashlib.sha256(low + high).digest()
    assert dot(high, low) == hashlib.sha256(low + high).digest()
    # the last byte decides before any earlier one
    a = b"\xff" + bytes(30) + b"\x01"
    b = b"\x00" + bytes(30) + b"\x02"
    assert dot(a, b) == hashlib.sha256(a + b).digest()


def test_dot_equal_and_empty_sides() -> None:
    assert dot(h(1), h(1)) == hashlib.sha256(h(1) + h(1)).digest()
    assert dot(b"", h(1)) == h(1)
    assert dot(h(1), b"") == h(1)
    assert dot(b"", b"") == b""


@pytest.mark.parametrize("bad", [b"\x00" * 31, b"\x00" * 33])
def test_dot_rejects_wrong_lengths(bad: bytes) -> None:
    with pytest.raises(MalformedError) as e:
        dot(bad, h(1))
    assert e.value.reason == "hash-length"
    with pytest.raises(MalformedError):
        dot(h(1), bad)


def test_merkle_shapes_match_the_qldb_samples() -> None:
    a, b, c, d, e, f, g = (h(i) for i in range(7))
    assert merkle_root([]) == b""
    assert merkle_root([a]) == a
    assert merkle_root([a, b]) == dot(a, b)
    assert merkle_root([a, b, c]) == dot(dot(a, b), c)
    assert merkle_root([a, b, c, d, e]) == dot(dot(dot(a, b), dot(c, d)), e)
    assert merkle_root([a, b, c, d, e, f]) == dot(dot(dot(a, b), dot(c, d)), dot(e, f))
    assert merkle_root([a, b, c, d, e, f, g]) == dot(dot(dot(a, b), dot(c, d)), dot(dot(e, f), g))


def test_merkle_root_rejects_a_short_leaf() -> None:
    with pytest.raises(MalformedError) as e:
        merkle_root([h(0), b"\x01" * 31])
    assert e.value.locator == "leaf 1"


def test_fold() -> None:
    assert fold(h(0), []) == h(0)
    assert fold(h(0), [h(1), h(2)]) == dot(dot(h(0), h(1)), h(2))


def test_fold_caps_and_checks_elements() -> None:
    with pytest.raises(MalformedError) as e:
        fold(h(0), [h(1)] * (MAX_PROOF_LENGTH + 1))
    assert e.value.reason == "proof-length"
    with pytest.raises(MalformedError) as e:
        fold(h(0), [h(1), b"\x00" * 31])
    assert e.value.locator == "proof[1]"
    with pytest.raises(MalformedError):
        fold(b"", [h(1)])
    with pytest.raises(MalformedError) as e:
        fold(h(0), ["not bytes"])  # type: ignore[list-item]
    assert e.value.reason == "hash-type"
