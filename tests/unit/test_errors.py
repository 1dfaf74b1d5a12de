"""proofs.errors: the message style of both error families, the base64 a message prints, and
the one strict, canonical base64 decoder (each refusal with its own problem text)."""

from __future__ import annotations

import base64

import pytest

from proofs.errors import MalformedError, ProofError, VerificationError, b64, b64decode

HASH = bytes(range(32))


def test_b64_prints_hashes_as_qldb_does() -> None:
    assert b64(None) == "-"
    assert b64(b"") == ""
    assert b64(HASH) == base64.b64encode(HASH).decode()
    assert b64("tip 7") == "tip 7"
    assert b64(7) == "7"


def test_b64decode_accepts_exactly_the_canonical_text() -> None:
    for raw in (b"", b"\0", b"ab", b"abc", HASH):
        assert b64decode(base64.b64encode(raw).decode(), "f") == raw


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (b"AAAA", "expected base64 text, got a bytes"),
        (None, "expected base64 text, got a NoneType"),
        ("AAÄA", "not valid base64"),  # not ASCII
        ("AA!A", "not valid base64"),  # outside the alphabet
        ("AAAA\n", "not valid base64"),  # whitespace
        ("AAA", "not valid base64"),  # no padding
        ("AB==", "not canonical base64"),  # stray bits in the last character
        ("AAB=", "not canonical base64"),
    ],
)
def test_b64decode_refusals(text: object, problem: str) -> None:
    with pytest.raises(MalformedError) as info:
        b64decode(text, "doc.json: Digest")
    e = info.value
    assert (e.reason, e.locator, e.problem) == ("not-base64", "doc.json: Digest", problem)
    assert str(e) == f"doc.json: Digest: {problem}"


def test_message_style() -> None:
    e = MalformedError("hash-length", "f: blockHash", "a hash must be 32 bytes")
    assert isinstance(e, ProofError)
    assert (str(e), e.reason, e.locator, e.problem) == (
        "f: blockHash: a hash must be 32 bytes", "hash-length", "f: blockHash",
        "a hash must be 32 bytes",
    )  # fmt: skip
    assert str(MalformedError("empty", "", "the file is empty")) == "the file is empty"
    v = VerificationError("block-hash", "f: block 3", "blockHash does not recompute", HASH, None)
    assert isinstance(v, ProofError)
    assert not isinstance(v, MalformedError)
    assert str(v) == (
        f"f: block 3: blockHash does not recompute (expected {base64.b64encode(HASH).decode()}"
        ", got -)"
    )
    assert (v.reason, v.locator, v.problem, v.expected, v.actual) == (
        "block-hash", "f: block 3", "blockHash does not recompute", HASH, None,
    )  # fmt: skip
