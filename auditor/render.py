"""Verdicts for people: one block of plain lines per artefact (the CLI prints them on stdout).

The first line names the file and the verdict (``OK``, ``FAIL``, ``ERROR``, ``NOT PROVEN``) and
the exit code it stands for; then what the artefact says it is, which anchor you supplied
matched, what was proven and what was not. ``verbose`` adds each claim's evidence and the notes.
"""

from __future__ import annotations

from auditor.verdict import (
    MALFORMED,
    NOT_PROVEN,
    REFUTED,
    VERIFIED,
    Claim,
    Status,
    Verdict,
    summary,
)

HEADLINES = {
    VERIFIED: ("OK", "verified"),
    REFUTED: (
        "FAIL",
        "does NOT verify: it contradicts its own hashes, a signature you require, or what you hold",
    ),
    MALFORMED: ("ERROR", "cannot be checked"),
    NOT_PROVEN: ("NOT PROVEN", "consistent, but not everything is proven"),
}


def _evidence(claim: Claim) -> str:
    parts = []
    if claim.expected is not None or claim.actual is not None:
        parts.append(f"expected {claim.expected or '-'}, got {claim.actual or '-'}")
    return f" ({'; '.join(parts)})" if parts else ""


def verdict_lines(verdict: Verdict, verbose: int = 0) -> list[str]:
    label, meaning = HEADLINES[verdict.status]
    if verdict.status == MALFORMED and verdict.error is not None:
        text = str(verdict.error)
        where = "" if text.startswith(verdict.subject) else f"{verdict.subject}: "
        return [f"{label}: {where}{text} (exit {verdict.exit_code})"]
    lines = [f"{label}: {verdict.subject}: {meaning} (exit {verdict.exit_code})"]
    refuted = verdict.by_status(Status.REFUTED)
    for claim in refuted:
        lines.append(f"  refuted:     {claim.subject}: {claim.text}{_evidence(claim)}")
    if verdict.facts:
        lines.append("  says:        " + "; ".join(f"{k}: {v}" for k, v in verdict.facts))
    if verdict.document:
        proven = any(c.name == "content-hash" and c.status is Status.PROVEN for c in verdict.claims)
        lines.append(
            "  document:    "
            + (
                "(these are the fields its hash covers)"
                if proven
                else "(as stated: its hash does not cover it)"
            )
        )
        lines.extend(f"    {path}: {text}" for path, text in verdict.document)
    for anchor in verdict.anchors:
        lines.append(f"  anchor:      {anchor}")
    for claim in verdict.by_status(Status.PROVEN):
        detail = _evidence(claim) if verbose else ""
        lines.append(f"  proven:      {claim.text}{detail}")
    for claim in verdict.by_status(Status.NOT_PROVEN):
        why = "" if claim.required else " [reported, not part of the verdict]"
        lines.append(f"  not proven:  {claim.text}{why}")
    if verbose or verdict.status == REFUTED:  # a refutation's notes may say why
        lines.extend(f"  note:        {note}" for note in verdict.notes)
    return lines


def summary_line(verdicts: list[Verdict]) -> str:
    parts = ", ".join(f"{n} {status}" for status, n in summary(verdicts).items() if n)
    return f"summary: {len(verdicts)} items: {parts}"
