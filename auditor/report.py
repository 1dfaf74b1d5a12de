"""One report model for every renderer: per-item results, each a list of named checks.

Statuses and exit codes (the CLI contract):

==============  ====  =========================================================================
status          exit  meaning
==============  ====  =========================================================================
verified        0     every check passed (and, where a digest is involved, it is trusted)
failed          1     a check failed: tampering or a mismatch
malformed       2     the input cannot be read or has the wrong shape
unattested      3     everything is consistent, but nothing attests the digest
==============  ====  =========================================================================

Several items give the worst exit code, in the order failed (1) > malformed (2) >
unattested (3) > verified (0): evidence of tampering outranks everything else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from proofs import Check, MalformedError, ProofError, VerificationError
from proofs.errors import b64

REPORT_FORMAT = "qldb-audit-report"
REPORT_VERSION = 1

EXIT_CODES = {"verified": 0, "failed": 1, "malformed": 2, "unattested": 3}
_SEVERITY = {"verified": 0, "unattested": 1, "malformed": 2, "failed": 3}


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    ok: bool
    subject: str
    expected: str | None = None
    actual: str | None = None
    detail: str = ""

    @classmethod
    def passed(cls, check: Check) -> CheckResult:
        return cls(
            check.name,
            True,
            check.locator,
            None if check.expected is None else b64(check.expected),
            None if check.actual is None else b64(check.actual),
            check.detail,
        )

    @classmethod
    def failed(cls, error: VerificationError) -> CheckResult:
        return cls(
            error.reason,
            False,
            error.locator,
            None if error.expected is None else b64(error.expected),
            None if error.actual is None else b64(error.actual),
            error.problem,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ok": self.ok,
            "subject": self.subject,
            "expected": self.expected,
            "actual": self.actual,
            "detail": self.detail,
        }


@dataclass(slots=True)
class ItemReport:
    """The result for one input file."""

    file: str
    kind: str = "unknown"
    checks: list[CheckResult] = field(default_factory=list)
    attested: bool = True
    error: ProofError | None = None
    notes: list[str] = field(default_factory=list)

    def add(self, check: Check) -> None:
        self.checks.append(CheckResult.passed(check))

    def note(self, text: str) -> None:
        self.notes.append(text)

    @property
    def status(self) -> str:
        if isinstance(self.error, VerificationError):
            return "failed"
        if self.error is not None:
            return "malformed"
        return "verified" if self.attested else "unattested"

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    def to_json(self) -> dict[str, Any]:
        checks = list(self.checks)
        if isinstance(self.error, VerificationError):
            checks.append(CheckResult.failed(self.error))
        error = None
        if self.error is not None:
            error = {
                "reason": self.error.reason,
                "locator": self.error.locator,
                "message": str(self.error),
            }
        return {
            "file": self.file,
            "kind": self.kind,
            "status": self.status,
            "exit_code": self.exit_code,
            "checks": [c.to_json() for c in checks],
            "notes": self.notes,
            "error": error,
        }

    def headline(self) -> str:
        status = self.status
        if status == "failed" or status == "malformed":
            label = "FAIL" if status == "failed" else "ERROR"
            text = str(self.error)
            # name the item even when the error is in another file (e.g. --revision's)
            return (
                f"{label}: {text}"
                if text.startswith(self.file)
                else f"{label}: {self.file}: {text}"
            )
        names = ", ".join(dict.fromkeys(c.name for c in self.checks))
        if status == "unattested":
            return (
                f"UNATTESTED: {self.file}: {self.kind}: consistent ({names}), but no trusted digest"
            )
        return f"OK: {self.file}: {self.kind}: {names}"


def worst_exit_code(items: list[ItemReport]) -> int:
    if not items:
        return EXIT_CODES["malformed"]
    worst = max(items, key=lambda item: _SEVERITY[item.status])
    return worst.exit_code


def summary(items: list[ItemReport]) -> dict[str, int]:
    counts = dict.fromkeys(EXIT_CODES, 0)
    for item in items:
        counts[item.status] += 1
    return counts


def to_json(command: str, items: list[ItemReport]) -> str:
    report = {
        "format": REPORT_FORMAT,
        "version": REPORT_VERSION,
        "command": command,
        "items": [item.to_json() for item in items],
        "summary": {**summary(items), "exit_code": worst_exit_code(items)},
    }
    return json.dumps(report, indent=2, sort_keys=False)


def malformed(file: str, error: MalformedError) -> ItemReport:
    return ItemReport(file=file, error=error)
