"""The two error families of the proof engine.

``MalformedError``: the input cannot be used (missing field, wrong type, a hash that is not
32 bytes, a proof over the length cap). ``VerificationError``: the input is well formed but a
recomputed value disagrees with the stated one. Both carry a machine-readable ``reason`` and a
``locator`` naming the field; a verification error also carries ``expected`` and ``actual``.
Messages follow one style: ``<locator>: <problem> (expected <x>, got <y>)``, hashes in base64.
"""

from __future__ import annotations

import base64
import binascii

Value = bytes | str | int | None


def b64(value: Value) -> str:
    """Base64 of a hash, the way QLDB prints it; other values as text; ``-`` for none."""
    if value is None:
        return "-"
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return str(value)


def b64decode(text: object, locator: str) -> bytes:
    """Strict base64 (RFC 4648 §4): the standard alphabet, padding, no whitespace, and canonical
    (no stray bits in the last character), so exactly one text decodes to given bytes. Raises
    :class:`MalformedError` (reason ``not-base64``)."""
    if not isinstance(text, str):
        raise MalformedError(
            "not-base64", locator, f"expected base64 text, got a {type(text).__name__}"
        )
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError) as e:
        raise MalformedError("not-base64", locator, "not valid base64") from e
    if base64.b64encode(raw).decode("ascii") != text:
        raise MalformedError("not-base64", locator, "not canonical base64")
    return raw


class ProofError(Exception):
    """Base class of every error the proof engine raises."""

    reason: str
    locator: str

    def __init__(self, reason: str, locator: str, message: str) -> None:
        super().__init__(f"{locator}: {message}" if locator else message)
        self.reason = reason
        self.locator = locator
        self.problem = message


class MalformedError(ProofError):
    """The input cannot be parsed or has the wrong shape (e.g. a 31-byte hash)."""


class VerificationError(ProofError):
    """The input parsed, but a recomputed hash disagrees with the stated one."""

    def __init__(
        self, reason: str, locator: str, message: str, expected: Value, actual: Value
    ) -> None:
        super().__init__(
            reason, locator, f"{message} (expected {b64(expected)}, got {b64(actual)})"
        )
        self.problem = message
        self.expected = expected
        self.actual = actual
