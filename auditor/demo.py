"""``make demo``: verify real QLDB artefacts offline, then catch a tampered copy.

Runs the real ``qldb-audit`` CLI (as ``python -m auditor``) on the real QLDB outputs in
``fixtures/qldb/artefacts`` and prints each step. Exits non-zero if any step does not end as
expected. (Later issues extend this to the whole invoice story on our own ledger.)
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ARTEFACTS = Path(__file__).resolve().parent.parent / "fixtures" / "qldb" / "artefacts"

STEPS: list[tuple[str, list[str], int]] = [
    (
        "A document revision from the AWS CLI (GetRevision): recompute its hash",
        ["revision", "getrevision-KmA3-100-tip123.json"],
        0,
    ),
    (
        "Its block (GetBlock): revision, revisions root, transactionInfo, entries and block hash",
        ["block", "getblock-KmA3-100-tip123.json"],
        0,
    ),
    (
        "The invoice revision from the REST sample's history (JSON, types restored)",
        ["revision", "revision-G3Oi-v0.json"],
        0,
    ),
    (
        "Its receipt (KVS LedgerMetadata) against its own embedded digest: consistent, unattested",
        ["receipt", "receipt-1HqU-19-tip35.json"],
        3,
    ),
    (
        "The same receipt, bound to the revision, against a digest the auditor trusts",
        [
            "receipt",
            "receipt-1HqU-19-tip35.json",
            "--revision",
            "revision-G3Oi-v0.json",
            "--digest",
            "digest-1HqU-19-tip35.json",
        ],
        0,
    ),
    (
        "A QLDB stream BLOCK_SUMMARY record",
        ["block", "stream-block-summary-HbD9-3.ion"],
        0,
    ),
    (
        "The README of the REST sample after a human edited the data but kept the hash",
        ["revision", "revision-G3Oi-v0-EDITED.json"],
        1,
    ),
]


def _run(args: list[str], cwd: Path) -> int:
    command = [sys.executable, "-m", "auditor", "verify", *args]
    print(f"  $ qldb-audit verify {' '.join(args)}", flush=True)
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)  # noqa: S603
    for line in done.stderr.strip().splitlines():
        print(f"    {line}")
    print(f"    exit {done.returncode}", flush=True)
    return done.returncode


def _tamper(workdir: Path) -> Path:
    """A copy of the GetRevision output with the penalty amount lowered from 90.25 to 9.25."""
    original = json.loads((ARTEFACTS / "getrevision-KmA3-100-tip123.json").read_text())
    text = original["Revision"]["IonText"]
    if "PendingPenaltyTicketAmount:90.25" not in text:
        raise SystemExit("demo: the GetRevision fixture changed; update the tampering step")
    original["Revision"]["IonText"] = text.replace(
        "PendingPenaltyTicketAmount:90.25", "PendingPenaltyTicketAmount:9.25"
    )
    path = workdir / "getrevision-TAMPERED.json"
    path.write_text(json.dumps(original, indent=2))
    return path


def main() -> int:
    print("qldb-audit demo: verifying real Amazon QLDB data offline, no AWS needed\n")
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for name in ARTEFACTS.iterdir():
            shutil.copy(name, workdir / name.name)
        steps = [*STEPS]
        tampered = _tamper(workdir)
        steps.append(
            (
                "A tampered copy of the GetRevision output (penalty 90.25 changed to 9.25)",
                ["revision", tampered.name],
                1,
            )
        )
        for number, (title, args, expected) in enumerate(steps, 1):
            print(f"{number}. {title} (expect exit {expected})")
            code = _run(args, workdir)
            if code != expected:
                failures += 1
                print(f"    UNEXPECTED: exit {code}, expected {expected}")
            print()
    if failures:
        print(f"demo: {failures} step(s) did not end as expected")
        return 1
    print("demo: every genuine artefact verified and every tampered one was caught")
    return 0


if __name__ == "__main__":
    sys.exit(main())
