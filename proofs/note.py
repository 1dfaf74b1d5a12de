"""Signed notes (C2SP signed-note, https://c2sp.org/signed-note, with Ed25519) and the ledger
checkpoint they carry.

A signed note is valid UTF-8 with no control character other than newline (U+000A): ``text``
(ending in a newline; it may hold empty lines), a blank line, then one or more signature lines
``— <key name> <base64(key id ‖ signature)>`` each ending in a newline; the text ends at the last
blank line. Key names are non-empty and hold no Unicode space and no ``+``. The key id is the
first 4 bytes of ``SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ public key)``; a verifier key is written
``<name>+<hex key id>+<base64(0x01 ‖ public key)>``. Each signature is Ed25519 over ``text``.
Base64 is RFC 4648 §4, strict and canonical. Anything else is a malformed note: a bad signature
line is never skipped.

A signature line is judged by the pair (name, key id): a trusted key with both must verify it
(else the note is refuted); a line whose pair no trusted key has is listed as not trusted, even
if it shares the name or the id (not both) with a trusted key. :func:`check_note` lists every
line with its status; which keys count for what (the log's own key, witnesses, thresholds) is
the caller's policy.

The checkpoint text follows C2SP tlog-checkpoint: origin line ``qldb-audit/v1/<ledger>/<strand>``,
tree size (``tip sequenceNo + 1``, decimal), the digest in base64, then the extension line
``time <RFC 3339 UTC>``.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from proofs.errors import MalformedError, VerificationError, b64, b64decode
from proofs.merkle import MAX_TREE_SIZE, check_hash

ED25519 = 0x01
ORIGIN_PREFIX = "qldb-audit/v1/"
MAX_NOTE_BYTES = 64 * 1024
MAX_SIGNATURES = 100  # C2SP: a verifier must accept at least 16
_SIGNATURE_PREFIX = "— "
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")  # every C0 control but newline
_DECIMAL = re.compile(r"[1-9][0-9]*")
_HEX_ID = re.compile(r"[0-9a-f]{8}")
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?Z")


def valid_name(name: str) -> bool:
    """A key name: non-empty, no Unicode space, no ``+``, no control character."""
    return bool(name) and not any(c.isspace() or c == "+" or c < " " for c in name)


@dataclass(frozen=True, slots=True)
class VerifierKey:
    """A trusted Ed25519 key. Raises :class:`MalformedError` if a field has the wrong shape."""

    name: str
    key_id: bytes
    public_key: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not valid_name(self.name):
            raise MalformedError("vkey", "verifier key", f"not a valid key name: {self.name!r}")
        if not isinstance(self.key_id, bytes) or len(self.key_id) != 4:
            raise MalformedError("vkey", f"verifier key {self.name}", "the key id is 4 bytes")
        if not isinstance(self.public_key, bytes) or len(self.public_key) != 32:
            raise MalformedError("vkey", f"verifier key {self.name}", "not an Ed25519 key")

    def __str__(self) -> str:
        encoded = base64.b64encode(bytes([ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"


class Status(StrEnum):
    """What a signature line proved."""

    VERIFIED = "verified"  # a trusted key has its name and key id, and the signature verifies
    INVALID = "invalid"  # a trusted key has its name and key id, but the signature is bad
    UNTRUSTED = "untrusted"  # no trusted key has its name and key id: not checked


@dataclass(frozen=True, slots=True)
class SignatureLine:
    """One parsed signature line (not yet judged)."""

    name: str
    key_id: bytes
    signature: bytes


@dataclass(frozen=True, slots=True)
class NoteSignature:
    """One signature line of a note and its status; ``key`` is the trusted key with its name
    and key id (``None`` when untrusted)."""

    index: int  # 0-based, among the note's signature lines
    name: str
    key_id: bytes
    signature: bytes
    status: Status
    key: VerifierKey | None


@dataclass(frozen=True, slots=True)
class NoteResult:
    """Every signature line of a note, in order, with its status. True only when at least one
    trusted key verified and no trusted key's signature failed (C2SP: otherwise reject)."""

    text: str
    signatures: tuple[NoteSignature, ...]

    def verified_keys(self) -> tuple[VerifierKey, ...]:
        """The distinct trusted keys whose signatures verified, in order of appearance."""
        keys: dict[tuple[str, bytes], VerifierKey] = {}
        for s in self.signatures:
            if s.status is Status.VERIFIED and s.key is not None:
                keys.setdefault((s.name, s.key_id), s.key)
        return tuple(keys.values())

    @property
    def trusted_signers(self) -> tuple[str, ...]:
        """Names of the distinct trusted keys whose signatures verified."""
        return tuple(dict.fromkeys(k.name for k in self.verified_keys()))

    @property
    def untrusted_signers(self) -> tuple[str, ...]:
        """Names on the signature lines of keys not trusted, in order."""
        return tuple(s.name for s in self.signatures if s.status is Status.UNTRUSTED)

    def __bool__(self) -> bool:
        statuses = {s.status for s in self.signatures}
        return Status.VERIFIED in statuses and Status.INVALID not in statuses


@dataclass(frozen=True, slots=True)
class Checkpoint:
    ledger: str
    strand_id: str
    tip: int  # sequenceNo of the last block the digest covers
    digest: bytes
    time: str


def key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public_key).digest()[:4]


def parse_vkey(text: str) -> VerifierKey:
    """Parse ``name+hexid+base64key``; raises :class:`MalformedError`."""
    parts = text.strip().split("+", 2)  # base64 may itself contain "+"
    if len(parts) != 3 or not valid_name(parts[0]):
        raise MalformedError("vkey", "verifier key", "expected name+keyid+base64key")
    name, hex_id, encoded = parts
    raw = b64decode(encoded, f"verifier key {name}")
    if not _HEX_ID.fullmatch(hex_id):
        raise MalformedError("vkey", f"verifier key {name}", "the key id must be 8 hex digits")
    kid = bytes.fromhex(hex_id)
    if len(raw) != 33 or raw[0] != ED25519:
        raise MalformedError("vkey", f"verifier key {name}", "not an Ed25519 verifier key")
    if key_id(name, raw[1:]) != kid:
        raise MalformedError("vkey", f"verifier key {name}", "the key id does not match the key")
    return VerifierKey(name, kid, raw[1:])


def key_set(trusted: Iterable[VerifierKey]) -> dict[tuple[str, bytes], VerifierKey]:
    """The trusted keys by (name, key id). Raises :class:`MalformedError` (reason
    ``duplicate-key``) if two keys share a name and key id: which one a signature is by
    would be ambiguous."""
    keys: dict[tuple[str, bytes], VerifierKey] = {}
    for key in trusted:
        if (key.name, key.key_id) in keys:
            raise MalformedError(
                "duplicate-key", "trusted keys", f"{key.name}+{key.key_id.hex()} is given twice"
            )
        keys[key.name, key.key_id] = key
    return keys


def _note_text(note: str | bytes) -> str:
    if isinstance(note, bytes):
        if len(note) > MAX_NOTE_BYTES:
            raise MalformedError("note-size", "note", f"larger than {MAX_NOTE_BYTES} bytes")
        try:
            return note.decode("utf-8")
        except UnicodeDecodeError as e:
            raise MalformedError("note-encoding", "note", "not valid UTF-8") from e
    try:
        size = len(note.encode("utf-8"))
    except UnicodeEncodeError as e:  # a lone surrogate
        raise MalformedError("note-encoding", "note", "not valid UTF-8") from e
    if size > MAX_NOTE_BYTES:
        raise MalformedError("note-size", "note", f"larger than {MAX_NOTE_BYTES} bytes")
    return note


def parse_note(note: str | bytes) -> tuple[str, tuple[SignatureLine, ...]]:
    """Split a signed note into its text and its signature lines.

    Raises :class:`MalformedError` (reasons ``note-encoding``, ``note-size``, ``note-control``,
    ``note-format``) for anything that is not exactly a C2SP signed note.
    """
    note = _note_text(note)
    control = _CONTROL.search(note)
    if control:
        number = note.count("\n", 0, control.start()) + 1
        raise MalformedError(
            "note-control", f"note line {number}", f"control character U+{ord(control[0]):04X}"
        )
    cut = note.rfind("\n\n")
    if cut < 0 or not note.endswith("\n"):
        raise MalformedError("note-format", "note", "expected text, a blank line, signatures")
    text, lines = note[: cut + 1], note[cut + 2 : -1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedError("note-format", "note", f"more than {MAX_SIGNATURES} signatures")
    signatures = []
    for i, line in enumerate(lines):
        where = f"note signature {i}"
        name, space, encoded = line.removeprefix(_SIGNATURE_PREFIX).partition(" ")
        if not line.startswith(_SIGNATURE_PREFIX) or not space or not valid_name(name):
            raise MalformedError("note-format", where, "expected '— <key name> <base64>'")
        raw = b64decode(encoded, where)
        if len(raw) < 5:
            raise MalformedError("note-format", where, "a key id and a signature are 5+ bytes")
        signatures.append(SignatureLine(name, raw[:4], raw[4:]))
    return text, tuple(signatures)


def split_note(note: str | bytes) -> tuple[str, list[tuple[str, bytes, bytes]]]:
    """:func:`parse_note` as (text, [(key name, key id, signature)]) (kept for callers)."""
    text, lines = parse_note(note)
    return text, [(s.name, s.key_id, s.signature) for s in lines]


def _verifies(key: VerifierKey, signature: bytes, text: str) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(key.public_key).verify(signature, text.encode())
    except InvalidSignature:
        return False
    return True


def check_note(note: str | bytes, trusted: Iterable[VerifierKey]) -> NoteResult:
    """Judge every signature line of ``note`` against the trusted keys, without raising on a
    bad signature (it is listed as :attr:`Status.INVALID`).

    Raises :class:`MalformedError` if the note is malformed (:func:`parse_note`) or two trusted
    keys share a name and key id (:func:`key_set`).
    """
    keys = key_set(trusted)
    text, lines = parse_note(note)
    judged = []
    for i, line in enumerate(lines):
        key = keys.get((line.name, line.key_id))
        if key is None:
            status = Status.UNTRUSTED
        elif _verifies(key, line.signature, text):
            status = Status.VERIFIED
        else:
            status = Status.INVALID
        judged.append(NoteSignature(i, line.name, line.key_id, line.signature, status, key))
    return NoteResult(text, tuple(judged))


def verify_note(note: str | bytes, trusted: Iterable[VerifierKey]) -> NoteResult:
    """:func:`check_note`, and a signature line of a trusted key that does not verify refutes
    the note: :class:`VerificationError` (reason ``note-signature``, expected = the key,
    actual = the signature). A result with no verified signature is returned (it is false):
    which keys must have signed is the caller's policy.
    """
    result = check_note(note, trusted)
    for s in result.signatures:
        if s.status is Status.INVALID:
            raise VerificationError(
                "note-signature", f"note signature {s.index} by {s.name}", "does not verify",
                expected=str(s.key), actual=b64(s.signature),
            )  # fmt: skip
    return result


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
    if not valid_name(ledger) or not valid_name(strand) or "/" in ledger + strand:
        raise MalformedError("checkpoint", "checkpoint origin", "expected <ledger>/<strand>")
    if not _DECIMAL.fullmatch(lines[1]) or int(lines[1]) > MAX_TREE_SIZE:
        raise MalformedError("checkpoint", "checkpoint size", "expected a positive integer")
    digest = b64decode(lines[2], "checkpoint digest")
    time = lines[3].removeprefix("time ")
    if not lines[3].startswith("time ") or not _TIME.fullmatch(time):
        raise MalformedError("checkpoint", "checkpoint time", "expected 'time <RFC 3339 UTC>'")
    return Checkpoint(
        ledger, strand, int(lines[1]) - 1, check_hash(digest, "checkpoint digest"), time
    )
