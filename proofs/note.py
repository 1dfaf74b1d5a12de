"""Signed notes (C2SP signed-note, Ed25519) and the ledger checkpoint they carry.

A signed note is ``text`` (UTF-8, ending in a newline), a blank line, then signature lines
``— <key name> <base64(key id ‖ signature)>``. The key id is the first 4 bytes of
``SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ public key)``; a verifier key is written
``<name>+<hex key id>+<base64(0x01 ‖ public key)>``. Each signature is Ed25519 over ``text``.

The checkpoint text follows C2SP tlog-checkpoint: origin line ``qldb-audit/v1/<ledger>/<strand>``,
tree size (``tip sequenceNo + 1``), the digest in base64, then the extension line
``time <RFC 3339 UTC>``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from proofs.errors import MalformedError, VerificationError
from proofs.merkle import check_hash

ED25519 = 0x01
ORIGIN_PREFIX = "qldb-audit/v1/"
MAX_NOTE_BYTES = 64 * 1024
MAX_SIGNATURES = 100
_NAME = re.compile(r"[^\s+—]+")
_SIGNATURE_PREFIX = "— "


@dataclass(frozen=True, slots=True)
class VerifierKey:
    name: str
    key_id: bytes
    public_key: bytes

    def __str__(self) -> str:
        encoded = base64.b64encode(bytes([ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    ledger: str
    strand_id: str
    tip: int  # sequenceNo of the last block the digest covers
    digest: bytes
    time: str


@dataclass(frozen=True, slots=True)
class NoteResult:
    text: str
    trusted_signers: tuple[str, ...]  # names of trusted keys whose signatures verified
    untrusted_signers: tuple[str, ...]  # signature lines from keys not in the trusted set


def _b64decode(text: str, where: str) -> bytes:
    """Strict base64: valid alphabet and padding, and canonical (no stray low bits), so that
    no other text decodes to the same bytes."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise MalformedError("not-base64", where, "not valid base64") from e
    if base64.b64encode(raw).decode("ascii") != text:
        raise MalformedError("not-base64", where, "not canonical base64")
    return raw


def key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public_key).digest()[:4]


def parse_vkey(text: str) -> VerifierKey:
    """Parse ``name+hexid+base64key``; raises :class:`MalformedError`."""
    parts = text.strip().split("+", 2)  # base64 may itself contain "+"
    if len(parts) != 3 or not _NAME.fullmatch(parts[0]):
        raise MalformedError("vkey", "verifier key", "expected name+keyid+base64key")
    name, hex_id, encoded = parts
    raw = _b64decode(encoded, f"verifier key {name}")
    if not re.fullmatch(r"[0-9a-f]{8}", hex_id):
        raise MalformedError("vkey", f"verifier key {name}", "the key id must be 8 hex digits")
    kid = bytes.fromhex(hex_id)
    if len(raw) != 33 or raw[0] != ED25519 or len(kid) != 4:
        raise MalformedError("vkey", f"verifier key {name}", "not an Ed25519 verifier key")
    if key_id(name, raw[1:]) != kid:
        raise MalformedError("vkey", f"verifier key {name}", "the key id does not match the key")
    return VerifierKey(name, kid, raw[1:])


def split_note(note: str) -> tuple[str, list[tuple[str, bytes, bytes]]]:
    """Split a signed note into its text and (key name, key id, signature) lines."""
    if len(note.encode()) > MAX_NOTE_BYTES:
        raise MalformedError("note-size", "note", f"larger than {MAX_NOTE_BYTES} bytes")
    cut = note.rfind("\n\n")
    if cut < 0 or not note.endswith("\n"):
        raise MalformedError("note-format", "note", "expected text, a blank line, signatures")
    text, lines = note[: cut + 1], note[cut + 2 :].splitlines()
    if not lines or len(lines) > MAX_SIGNATURES:
        raise MalformedError("note-format", "note", f"expected 1 to {MAX_SIGNATURES} signatures")
    signatures = []
    for i, line in enumerate(lines):
        fields = line.removeprefix(_SIGNATURE_PREFIX).split(" ")
        if not line.startswith(_SIGNATURE_PREFIX) or len(fields) != 2:
            raise MalformedError("note-format", f"note signature {i}", "expected '— name sig'")
        raw = _b64decode(fields[1], f"note signature {i}")
        if len(raw) < 5:
            raise MalformedError("note-format", f"note signature {i}", "too short")
        signatures.append((fields[0], raw[:4], raw[4:]))
    return text, signatures


def verify_note(note: str, trusted: list[VerifierKey]) -> NoteResult:
    """Verify a signed note against trusted keys.

    A signature line naming a trusted key (same name and key id) must verify, else
    :class:`VerificationError` (reason ``note-signature``). Lines from other keys are listed as
    untrusted. How many trusted signatures are enough is the caller's policy (k of n).
    """
    text, signatures = split_note(note)
    by_id = {(k.name, k.key_id): k for k in trusted}
    good: list[str] = []
    others: list[str] = []
    for name, kid, signature in signatures:
        key = by_id.get((name, kid))
        if key is None:
            others.append(name)
            continue
        try:
            Ed25519PublicKey.from_public_bytes(key.public_key).verify(signature, text.encode())
        except InvalidSignature as e:
            raise VerificationError(
                "note-signature", f"note signature by {name}", "does not verify",
                expected=str(key), actual=base64.b64encode(signature).decode(),
            ) from e  # fmt: skip
        if name not in good:
            good.append(name)
    return NoteResult(text, tuple(good), tuple(others))


def checkpoint_text(checkpoint: Checkpoint) -> str:
    digest = base64.b64encode(check_hash(checkpoint.digest, "checkpoint digest")).decode()
    return (
        f"{ORIGIN_PREFIX}{checkpoint.ledger}/{checkpoint.strand_id}\n"
        f"{checkpoint.tip + 1}\n{digest}\ntime {checkpoint.time}\n"
    )


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse checkpoint text (the note body); raises :class:`MalformedError`."""
    lines = text.split("\n")
    if len(lines) != 5 or lines[4] != "" or not lines[0].startswith(ORIGIN_PREFIX):
        raise MalformedError("checkpoint", "checkpoint", "not a qldb-audit/v1 checkpoint")
    ledger, _, strand = lines[0].removeprefix(ORIGIN_PREFIX).partition("/")
    if not ledger or not strand or "/" in strand:
        raise MalformedError("checkpoint", "checkpoint origin", "expected <ledger>/<strand>")
    if not lines[1].isdigit() or lines[1].startswith("0"):
        raise MalformedError("checkpoint", "checkpoint size", "expected a positive integer")
    digest = _b64decode(lines[2], "checkpoint digest")
    if not lines[3].startswith("time "):
        raise MalformedError("checkpoint", "checkpoint time", "expected 'time <RFC 3339>'")
    return Checkpoint(
        ledger, strand, int(lines[1]) - 1, check_hash(digest, "checkpoint digest"), lines[3][5:]
    )
