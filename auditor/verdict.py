"""One verdict model, fail-closed: what was claimed, and whether each claim was proven.

Every verification command builds one :class:`Verdict` per artefact (a file, a receipt bundle,
a whole export). A verdict lists its claims; each claim is

- **proven** — recomputed from the input, or matched against a trust anchor you supplied;
- **refuted** — the input contradicts it (a hash that does not recompute, a proof that does not
  fold to a digest at the same tip, a signature by a trusted key that is missing or bad);
- **not proven** — nothing in the input can prove it (no anchor supplied, a digest at another
  tip, a position QLDB's hashes do not cover, a block whose contents QLDB's hashes do not let
  anyone check).

A claim is *required* when the command asserts it; other claims are reported so that a reader
sees what was not proven, without deciding the verdict (a receipt's block address, for
example: QLDB's proofs carry no positions, and the receipt's verdict is about its revision).

One function maps verdicts to exit codes (:func:`exit_code`; the server's adapter,
``auditor/server/judge.py``, answers 200 with the same report, or 4xx when nothing could be
read):

=============  ====  =========================================================================
status         exit  meaning
=============  ====  =========================================================================
verified       0     every required claim proven, and a trust anchor you supplied matched
refuted        1     a claim is refuted: evidence of tampering, or a trusted key's signature
                     missing or bad
malformed      2     the input cannot be read or has the wrong shape
not-proven     3     everything present is consistent, but some required claim is not proven
=============  ====  =========================================================================

Nothing defaults to proven: a verdict with no claims, or with no proven anchor claim, is not
verified. Several verdicts give the worst exit code, in the order 1 > 2 > 3 > 0 (evidence of
tampering outranks everything else).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from proofs import MalformedError, ProofError, VerificationError
from proofs.errors import b64

REPORT_FORMAT = "qldb-audit-report"
REPORT_VERSION = 2


class Status(StrEnum):
    PROVEN = "proven"
    REFUTED = "refuted"
    NOT_PROVEN = "not-proven"


VERIFIED, REFUTED, MALFORMED, NOT_PROVEN = "verified", "refuted", "malformed", "not-proven"
EXIT_CODES = {VERIFIED: 0, REFUTED: 1, MALFORMED: 2, NOT_PROVEN: 3}
_SEVERITY = {VERIFIED: 0, NOT_PROVEN: 1, MALFORMED: 2, REFUTED: 3}


@dataclass(frozen=True, slots=True)
class Claim:
    """One claim: its machine name, what it is about, its status, and the evidence."""

    name: str  # machine-readable: content-hash, committed, anchor, signature, position, …
    status: Status
    subject: str  # the file and field it speaks of
    text: str  # the claim, or why it is not proven, in plain words
    expected: str | None = None
    actual: str | None = None
    anchor: str | None = None  # for an anchor claim: the anchor you supplied that matched
    required: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": str(self.status),
            "required": self.required,
            "subject": self.subject,
            "text": self.text,
            "expected": self.expected,
            "actual": self.actual,
            "anchor": self.anchor,
        }


def shown(value: bytes | str | int | None) -> str | None:
    """A value as reports print it: hashes in base64, ``None`` kept."""
    return None if value is None else b64(value)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The immutable result for one artefact. Build it with :class:`VerdictBuilder`."""

    subject: str  # the file, or the export's source
    kind: str
    claims: tuple[Claim, ...] = ()
    facts: tuple[tuple[str, str], ...] = ()  # what the artefact says it is (stated)
    document: tuple[tuple[str, str], ...] = ()  # the revision's data, field by field (stated)
    notes: tuple[str, ...] = ()
    error: MalformedError | None = None  # set: the input could not be used

    @property
    def status(self) -> str:
        if any(c.status is Status.REFUTED for c in self.claims):
            return REFUTED
        if self.error is not None:
            return MALFORMED
        required = [c for c in self.claims if c.required]
        anchored = any(c.anchor is not None and c.status is Status.PROVEN for c in self.claims)
        if required and anchored and all(c.status is Status.PROVEN for c in required):
            return VERIFIED
        return NOT_PROVEN

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    def __bool__(self) -> bool:
        """True only when verified (python-tuf's rule: a result is truthy only when it holds)."""
        return self.status == VERIFIED

    def by_status(self, status: Status) -> list[Claim]:
        return [c for c in self.claims if c.status is status]

    @property
    def anchors(self) -> list[str]:
        return [c.anchor for c in self.claims if c.anchor and c.status is Status.PROVEN]

    def to_json(self) -> dict[str, Any]:
        error = None
        if self.error is not None:
            error = {
                "reason": self.error.reason,
                "locator": self.error.locator,
                "message": str(self.error),
            }
        return {
            "file": self.subject,
            "kind": self.kind,
            "status": self.status,
            "exit_code": self.exit_code,
            "claims": [c.to_json() for c in self.claims],
            "facts": dict(self.facts),
            "document": dict(self.document),
            "anchors": self.anchors,
            "notes": list(self.notes),
            "error": error,
        }


@dataclass(slots=True)
class VerdictBuilder:
    """Collects claims while an artefact is checked; :meth:`build` freezes them."""

    subject: str
    kind: str
    claims: list[Claim] = field(default_factory=list)
    facts: dict[str, str] = field(default_factory=dict)
    document: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def proven(
        self,
        name: str,
        subject: str,
        text: str,
        *,
        expected: bytes | str | int | None = None,
        actual: bytes | str | int | None = None,
        anchor: str | None = None,
        required: bool = True,
    ) -> None:
        self.claims.append(
            Claim(name, Status.PROVEN, subject, text, shown(expected), shown(actual), anchor,
                  required)
        )  # fmt: skip

    def not_proven(self, name: str, subject: str, text: str, *, required: bool = True) -> None:
        self.claims.append(Claim(name, Status.NOT_PROVEN, subject, text, required=required))

    def refuted(self, error: VerificationError) -> None:
        self.claims.append(
            Claim(error.reason, Status.REFUTED, error.locator, error.problem,
                  shown(error.expected), shown(error.actual))
        )  # fmt: skip

    def fact(self, label: str, value: object) -> None:
        if value is not None and value != "":
            self.facts.setdefault(label, str(value))

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def build(self, error: ProofError | None = None) -> Verdict:
        """The verdict: a :class:`VerificationError` becomes a refuted claim, any other error
        (malformed input) the verdict's ``error``."""
        malformed = None
        if isinstance(error, VerificationError):
            self.refuted(error)
        elif error is not None:
            malformed = (
                error if isinstance(error, MalformedError)
                else MalformedError(error.reason, error.locator, error.problem)
            )  # fmt: skip
        return Verdict(
            self.subject, self.kind, tuple(self.claims), tuple(self.facts.items()),
            tuple(self.document), tuple(self.notes), malformed,
        )  # fmt: skip


def malformed(subject: str, kind: str, error: MalformedError) -> Verdict:
    return Verdict(subject, kind, error=error)


def exit_code(verdicts: Iterable[Verdict]) -> int:
    """The worst exit code (1 > 2 > 3 > 0); no verdict at all is malformed (2)."""
    items = list(verdicts)
    if not items:
        return EXIT_CODES[MALFORMED]
    return EXIT_CODES[max((v.status for v in items), key=_SEVERITY.__getitem__)]


def summary(verdicts: Iterable[Verdict]) -> dict[str, int]:
    counts = dict.fromkeys(EXIT_CODES, 0)
    for v in verdicts:
        counts[v.status] += 1
    return counts


def to_json(command: str, verdicts: list[Verdict], extra: dict[str, Any] | None = None) -> str:
    report: dict[str, Any] = {
        "format": REPORT_FORMAT,
        "version": REPORT_VERSION,
        "command": command,
        **(extra or {}),
        "items": [v.to_json() for v in verdicts],
        "summary": {**summary(verdicts), "exit_code": exit_code(verdicts)},
    }
    return json.dumps(report, indent=2)
