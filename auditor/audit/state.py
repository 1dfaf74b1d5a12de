"""The state file of nightly incremental audits (``--state FILE``), versioned JSON.

``verified`` is what the last successful run (exit 0 or 3) established: the strand, the rules
used, the tip ``T``, its block hash, the digest at ``T``, the Merkle frontier of blocks
``0..T``, and one fingerprint per data object it verified (block range, SHA-256 of the object's
bytes, the hashes at its two ends, SHA-256 of its block hashes). The next run:

- skips an old object whose bytes still have the recorded SHA-256 (it is not even parsed);
- re-verifies an old object whose bytes changed (a redaction changes bytes, not block hashes):
  its block hashes must be the recorded ones, else it was rewritten;
- checks that block ``T`` still has the recorded hash and that block ``T+1`` links to it;
- extends the recorded frontier with the new blocks only, so the new digest is computed from
  the old one plus the new blocks: a trusted new digest that matches proves the old digest is a
  prefix of the new history (no consistency proof file needed).

``progress`` is written while a run goes on (every few seconds, and when it is interrupted):
the export being read (its completed manifest and SHA-256), the next object, and the reduce
step's state. A later run on the same export resumes there; on another export it starts over.

Writes are atomic (temporary file, fsync, rename). A failed run (exit 1 or 2) never advances
``verified``.

The state is not a trust anchor: a nightly run still needs a trusted digest for its new tip, and
the state file itself is authenticated only with ``--state-key`` (an HMAC-SHA256 key you keep
where the export's writer cannot reach it). With the key, the file carries a MAC over
everything else in it: an edited state is refuted (exit 1), a state without a MAC is refused
(exit 2). Without the key, the state is used only as far as it can be checked: old objects are
read and verified again (nothing is skipped on its word), and the digest it holds must still
lead, through the new blocks, to the trusted digest of the new tip.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
from dataclasses import dataclass, field
from typing import Any

from auditor.audit.frontier import Frontier
from auditor.audit.jsonstream import chunks
from auditor.formats import b64decode
from proofs import MalformedError, VerificationError

STATE_FORMAT = "qldb-audit-state"
STATE_VERSION = 1
MAX_STATE_BYTES = 256 * 1024 * 1024


def b64e(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def b64d(value: Any, where: str, empty_ok: bool = False) -> bytes:
    """A hash (or, with ``empty_ok``, an empty value) in the one strict base64 of formats."""
    if empty_ok and value == "":
        return b""
    return b64decode(value, where)


@dataclass(frozen=True, slots=True)
class Fingerprint:
    first: int
    last: int
    sha256: str  # of the object's bytes
    first_previous: bytes  # previousBlockHash of its first block (b"" for genesis)
    last_hash: bytes  # blockHash of its last block
    hashes: str  # SHA-256 of its block hashes, concatenated

    def to_json(self) -> dict[str, Any]:
        return {
            "first": self.first, "last": self.last, "sha256": self.sha256,
            "firstPrevious": b64e(self.first_previous), "lastHash": b64e(self.last_hash),
            "hashes": self.hashes,
        }  # fmt: skip

    @classmethod
    def from_json(cls, value: Any, where: str) -> Fingerprint:
        if not isinstance(value, dict):
            raise MalformedError("not-a-struct", where, "expected an object")
        first, last = value.get("first"), value.get("last")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (first, last)):
            raise MalformedError("not-an-int", where, "first/last must be integers")
        assert isinstance(first, int)
        assert isinstance(last, int)
        for name in ("sha256", "hashes"):
            text = value.get(name)
            if not isinstance(text, str) or len(text) != 64:
                raise MalformedError("fingerprint", f"{where}.{name}", "expected 64 hex digits")
        return cls(
            first, last, str(value["sha256"]),
            b64d(value.get("firstPrevious"), f"{where}.firstPrevious", empty_ok=True),
            b64d(value.get("lastHash"), f"{where}.lastHash"), str(value["hashes"]),
        )  # fmt: skip


@dataclass(slots=True)
class Verified:
    ledger_name: str | None
    strand_id: str
    rules: str  # writer | qldb | qldb-until-N (a migrated ledger: QLDB rules to block N)
    tip: int
    tip_hash: bytes
    digest: bytes
    frontier: Frontier
    attested: bool
    time: str
    export_id: str
    source: str
    objects: list[Fingerprint] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "ledgerName": self.ledger_name, "strandId": self.strand_id, "rules": self.rules,
            "tip": self.tip, "tipHash": b64e(self.tip_hash), "digest": b64e(self.digest),
            "frontier": self.frontier.to_json(), "attested": self.attested, "time": self.time,
            "exportId": self.export_id, "source": self.source,
            "objects": [o.to_json() for o in self.objects],
        }  # fmt: skip

    @classmethod
    def from_json(cls, value: Any, where: str) -> Verified:
        if not isinstance(value, dict):
            raise MalformedError("not-a-struct", where, "expected an object")
        tip = value.get("tip")
        if isinstance(tip, bool) or not isinstance(tip, int) or tip < 0:
            raise MalformedError("not-an-int", f"{where}.tip", "expected an integer >= 0")
        strand = value.get("strandId")
        rules = value.get("rules")
        if not isinstance(strand, str) or not (
            rules in ("writer", "qldb")
            or (isinstance(rules, str) and re.fullmatch(r"qldb-until-(0|[1-9][0-9]{0,18})", rules))
        ):
            raise MalformedError(
                "state", where, "expected strandId and rules (writer|qldb|qldb-until-N)"
            )
        frontier = Frontier.from_json(value.get("frontier"), f"{where}.frontier")
        if frontier.size != tip + 1:
            raise MalformedError(
                "frontier", f"{where}.frontier.size", f"expected {tip + 1} leaves for tip {tip}"
            )
        digest = b64d(value.get("digest"), f"{where}.digest")
        if frontier.root() != digest:
            raise MalformedError(
                "frontier", f"{where}.digest", "is not the root of the stored frontier"
            )
        objects = value.get("objects", [])
        if not isinstance(objects, list):
            raise MalformedError("not-a-list", f"{where}.objects", "expected a list")
        return cls(
            ledger_name=value.get("ledgerName") if isinstance(value.get("ledgerName"), str)
            else None,
            strand_id=strand, rules=str(rules), tip=tip,
            tip_hash=b64d(value.get("tipHash"), f"{where}.tipHash"), digest=digest,
            frontier=frontier, attested=bool(value.get("attested")),
            time=str(value.get("time", "")), export_id=str(value.get("exportId", "")),
            source=str(value.get("source", "")),
            objects=[Fingerprint.from_json(o, f"{where}.objects[{i}]")
                     for i, o in enumerate(objects)],
        )  # fmt: skip


MIN_KEY_BYTES = 32


def load_state_key(path: str) -> bytes:
    """The HMAC key in ``path`` (base64, at least 32 bytes); a missing file is created with a
    new random key (mode 0600). Raises :class:`MalformedError` naming the file."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    except OSError as e:
        raise MalformedError("unreadable", path, f"cannot create ({e.strerror})") from e
    else:
        with os.fdopen(fd, "w") as f:
            f.write(base64.b64encode(secrets.token_bytes(MIN_KEY_BYTES)).decode() + "\n")
            f.flush()
            os.fsync(f.fileno())
    try:
        with open(path, "rb") as f:
            text = f.read(4096).decode("ascii").strip()
        key = base64.b64decode(text, validate=True)
    except OSError as e:
        raise MalformedError("unreadable", path, f"cannot read ({e.strerror})") from e
    except (UnicodeDecodeError, binascii.Error, ValueError) as e:
        raise MalformedError("state-key", path, "not a base64 state key") from e
    if len(key) < MIN_KEY_BYTES:
        raise MalformedError("state-key", path, f"a state key has at least {MIN_KEY_BYTES} bytes")
    return key


def _mac(key: bytes, doc: dict[str, Any]) -> str:
    body = {k: v for k, v in doc.items() if k != "mac"}
    mac = hmac.new(key, digestmod=hashlib.sha256)
    for text in chunks(body, sort_keys=True, separators=(",", ":")):
        mac.update(text.encode())
    return mac.hexdigest()


@dataclass(slots=True)
class State:
    path: str
    verified: Verified | None = None
    progress: dict[str, Any] | None = None
    key: bytes | None = None  # --state-key: the file is authenticated with it
    authenticated: bool = False  # loaded with a key and its MAC verified (or new)
    sha256: str = ""  # of the file's bytes as loaded ("" when there was none)

    @classmethod
    def load(cls, path: str, key: bytes | None = None) -> State:
        """A missing file is an empty state; anything unusable raises :class:`MalformedError`;
        with ``key``, a MAC that does not verify raises :class:`VerificationError`."""
        if not os.path.exists(path):
            return cls(path, key=key, authenticated=key is not None)
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_STATE_BYTES + 1)
        except OSError as e:
            raise MalformedError("unreadable", path, f"cannot read ({e.strerror})") from e
        if len(data) > MAX_STATE_BYTES:
            raise MalformedError("too-large", path, f"larger than {MAX_STATE_BYTES} bytes")
        try:
            doc = json.loads(data)
        except ValueError as e:
            raise MalformedError("not-json", path, "not a JSON state file") from e
        if not isinstance(doc, dict) or doc.get("format") != STATE_FORMAT:
            raise MalformedError("state", f"{path}: format", f"expected {STATE_FORMAT!r}")
        if doc.get("version") != STATE_VERSION:
            raise MalformedError("version", f"{path}: version", f"only {STATE_VERSION} is known")
        if key is not None:
            mac = doc.get("mac")
            if not isinstance(mac, str):
                raise MalformedError(
                    "state-mac", f"{path}: mac",
                    "the state carries no MAC: it was not written with this --state-key (start "
                    "a new state file)",
                )  # fmt: skip
            if not hmac.compare_digest(mac, _mac(key, doc)):
                raise VerificationError(
                    "state-mac", f"{path}: mac",
                    "does not verify with your --state-key: the state file was edited",
                    expected="the MAC of the file's contents", actual=mac[:16],
                )  # fmt: skip
        verified = doc.get("verified")
        progress = doc.get("progress")
        return cls(
            path,
            None if verified is None else Verified.from_json(verified, f"{path}: verified"),
            progress if isinstance(progress, dict) else None,
            key=key,
            authenticated=key is not None,
            sha256=hashlib.sha256(data).hexdigest(),
        )

    def save(self) -> None:
        doc = {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "verified": None if self.verified is None else self.verified.to_json(),
            "progress": self.progress,
        }
        if self.key is not None:
            doc["mac"] = _mac(self.key, doc)
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=".state-", dir=directory)
        try:
            with os.fdopen(fd, "w") as f:
                for text in chunks(doc, indent=1):  # the progress's objects too
                    f.write(text)
                f.write("\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise
