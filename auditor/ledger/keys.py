"""The ledger's Ed25519 signing key and signed notes (C2SP signed-note; see proofs/note.py).

Signer keys are stored as ``PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 ‖ seed)>`` in a file
of mode 0600 next to the ledger, never in exports.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from proofs import MalformedError
from proofs.errors import b64decode
from proofs.note import ED25519, VerifierKey, key_id


@dataclass(frozen=True, slots=True)
class SignerKey:
    name: str
    seed: bytes

    @classmethod
    def generate(cls, name: str) -> SignerKey:
        seed = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return cls(name, seed)

    @property
    def _private(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self.seed)

    @property
    def verifier(self) -> VerifierKey:
        public = self._private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return VerifierKey(self.name, key_id(self.name, public), public)

    def __str__(self) -> str:
        encoded = base64.b64encode(bytes([ED25519]) + self.seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.verifier.key_id.hex()}+{encoded}"

    def sign(self, text: str) -> str:
        """One signature line ``— name base64(key id ‖ signature)`` over ``text``."""
        signature = self._private.sign(text.encode())
        encoded = base64.b64encode(self.verifier.key_id + signature).decode()
        return f"— {self.name} {encoded}\n"


def parse_skey(text: str) -> SignerKey:
    parts = text.strip().split("+", 4)  # base64 may itself contain "+"
    if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
        raise MalformedError("skey", "signer key", "expected PRIVATE+KEY+name+keyid+base64")
    raw = b64decode(parts[4], "signer key")
    if len(raw) != 33 or raw[0] != ED25519:
        raise MalformedError("skey", "signer key", "not an Ed25519 key")
    key = SignerKey(parts[2], raw[1:])
    if key.verifier.key_id.hex() != parts[3]:
        raise MalformedError("skey", "signer key", "the key id does not match the key")
    return key


def write_private(path: str, key: SignerKey) -> None:
    """Create ``path`` with mode 0600 (never overwriting) and write the signer key."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(str(key) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_private(path: str) -> SignerKey:
    with open(path) as f:
        return parse_skey(f.read())


def sign_note(text: str, *keys: SignerKey) -> str:
    """A signed note: the text, a blank line, one signature line per key."""
    return text + "\n" + "".join(key.sign(text) for key in keys)


def cosign(note: str, key: SignerKey) -> str:
    """Add ``key``'s signature line to an existing signed note (a witness, e.g. a dealer)."""
    from proofs.note import split_note

    text, _ = split_note(note)
    return note + key.sign(text)
