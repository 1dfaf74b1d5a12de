"""``make demo``: the invoice story, end to end, with the real ``qldb-audit`` CLI.

Part 1 verifies real Amazon QLDB outputs (``fixtures/qldb/artefacts``) offline and catches
tampered copies. Part 2 tells the car maker's invoice story on our own ledger: create it,
record invoices, a dealer's status change, a receipt bundle verified offline with the ledger's
public key, a tampered copy rejected, a consistency proof between two signed checkpoints.
Every step runs ``python -m auditor …`` and must end with the exit code shown; the demo exits
non-zero otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

from auditor import jsonout

ARTEFACTS = Path(__file__).resolve().parent.parent / "fixtures" / "qldb" / "artefacts"
REPORT = Path(__file__).resolve().parent.parent / "out" / "demo-audit-report.html"

STEPS: list[tuple[str, list[str], int]] = [
    (
        "A document revision from the AWS CLI (GetRevision), on its own: its hash recomputes, "
        "but a hash that matches its own content proves nothing about where it came from",
        ["revision", "getrevision-KmA3-100-tip123.json"],
        3,
    ),
    (
        "The same revision against a digest the auditor trusts: committed, verified",
        ["revision", "getrevision-KmA3-100-tip123.json", "--digest",
         "derived-digest-KmA3-tip123.json"],
        0,
    ),
    (
        "Its block (GetBlock) against that digest: revisions root, transactionInfo, entries and "
        "block hash, and its proof (its position is reported as not proven: QLDB's hashes do not "
        "cover it)",
        ["block", "getblock-KmA3-100-tip123.json", "--digest", "derived-digest-KmA3-tip123.json"],
        0,
    ),
    (
        "Its receipt (KVS LedgerMetadata) against its own embedded digest: consistent, not proven",
        ["receipt", "receipt-1HqU-19-tip35.json"],
        3,
    ),
    (
        "The same receipt, bound to the invoice revision from the REST sample's history, against"
        " a digest the auditor trusts",
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
        "The receipt against a later genuine digest of the same ledger (tip 38): another tip, "
        "so not comparable without a consistency proof; never called tampered",
        ["receipt", "receipt-1HqU-19-tip35.json", "--digest", "digest-1HqU-30-tip38.json"],
        3,
    ),
    (
        "The README of the REST sample after a human edited the data but kept the hash",
        ["revision", "revision-G3Oi-v0-EDITED.json"],
        1,
    ),
]  # fmt: skip


def _run(
    args: list[str], cwd: Path, stdout: Path | None = None, env: dict[str, str] | None = None
) -> int:
    command = [sys.executable, "-m", "auditor", *args]
    shown = " ".join(a if " " not in a else repr(a) for a in args)
    print(f"  $ qldb-audit {shown}" + (f" > {stdout.name}" if stdout else ""), flush=True)
    done = subprocess.run(  # noqa: S603 - our own CLI, fixed arguments
        command, cwd=cwd, capture_output=True, text=True, check=False, env=env
    )
    if stdout is not None:
        stdout.write_text(done.stdout)
    else:
        for line in done.stdout.strip().splitlines()[:14]:
            print(f"    {line}")
    for line in done.stderr.strip().splitlines():
        print(f"    {line}")
    print(f"    exit {done.returncode}", flush=True)
    return done.returncode


INVOICES = [
    {"key": "TEST10011", "value": {"date": "2021-05-22", "billTo": "ABC Car Dealer Pte Ltd",
     "paymentStatus": "PENDING", "carInfo": {"model": "Jazz", "make": "Honda", "year": 2021,
     "unitPrice": Decimal("89000.00")}, "quantity": 10}},
    {"key": "TEST10012", "value": {"date": "2021-05-23", "billTo": "Bay Motors LLC",
     "paymentStatus": "PENDING", "carInfo": {"model": "Yaris", "make": "Toyota", "year": 2021,
     "unitPrice": Decimal("76500.50")}, "quantity": 4}},
    {"key": "TEST10013", "value": {"date": "2021-05-24", "billTo": "ABC Car Dealer Pte Ltd",
     "paymentStatus": "PENDING", "carInfo": {"model": "CX-5", "make": "Mazda", "year": 2021,
     "unitPrice": 112000}, "quantity": 2}},
]  # fmt: skip
PAID = {
    **INVOICES[0]["value"],  # type: ignore[dict-item]
    "paymentStatus": "TRANSFERRED",
    "payment": {"bank": "DBS", "reference": "TRF-20210601-0042"},
}


def _story(workdir: Path) -> list[tuple[str, list[str], int, str | None]]:
    """The invoice story on our own ledger: (title, qldb-audit args, expected exit, stdout file)."""
    (workdir / "invoices.jsonl").write_text("".join(jsonout.dumps(i) + "\n" for i in INVOICES))
    (workdir / "paid.json").write_text(jsonout.dumps(PAID, indent=2))
    return [
        ("The car maker creates its ledger (and its signing key)",
         ["ledger", "init", "--name", "carmaker", "--table", "invoices"], 0, None),
        ("It records three invoices in one transaction",
         ["ledger", "put-many", "--table", "invoices", "invoices.jsonl"], 0, "put-many.json"),
        ("A dealer marks TEST10011 paid, with the transfer details (optimistic concurrency)",
         ["ledger", "put", "--table", "invoices", "TEST10011", "@paid.json",
          "--expected-version", "0"], 0, "paid-revision.json"),
        ("A second writer holding the old version is refused",
         ["ledger", "put", "--table", "invoices", "TEST10011", "@paid.json",
          "--expected-version", "0"], 1, None),
        ("The ledger's public key, shared with every dealer once",
         ["ledger", "vkey"], 0, "carmaker.vkey"),
        ("The dealer asks for a receipt bundle of its invoice",
         ["ledger", "receipt", "--table", "invoices", "TEST10011", "-o", "receipt.json"], 0, None),
        ("... and verifies it offline: content, revision hash, proof, digest, signature",
         ["verify", "bundle", "receipt.json", "--trust-key", "carmaker.vkey", "-v"], 0, None),
        ("Without a key it trusts, the dealer gets 'consistent, unattested'",
         ["verify", "bundle", "receipt.json"], 3, None),
        ("A copy whose unit price was lowered is rejected",
         ["verify", "bundle", "receipt-TAMPERED.json", "--trust-key", "carmaker.vkey"], 1, None),
        ("The dealer pins today's digest ...",
         ["ledger", "digest", "-o", "digest-then.json"], 0, None),
        ("... the maker confirms the payment later ...",
         ["ledger", "put", "--table", "invoices", "TEST10011",
          jsonout.dumps({**PAID, "paymentStatus": "CONFIRMED"})], 0, "confirmed.json"),
        ("... and proves the new digest extends the pinned one (no rewritten history)",
         ["ledger", "consistency", "--from", "TIP_THEN", "-o", "consistency.json"], 0, None),
        ("The dealer checks that proof between the two signed checkpoints",
         ["verify", "consistency", "consistency.json", "--trust-key", "carmaker.vkey"], 0, None),
        ("History shows every version of the invoice",
         ["ledger", "history", "--table", "invoices", "TEST10011"], 0, "history.json"),
        ("The whole journal re-verifies: every block, the chain and the digest",
         ["ledger", "verify"], 0, None),
        ("The journal is exported in QLDB's layout (Ion binary) ...",
         ["ledger", "export", "export", "--format", "ion_binary"], 0, "export.json"),
        ("... and an external auditor audits the export offline, writing an HTML report",
         ["verify", "export", "export", "--trust-key", "carmaker.vkey", "--html",
          str(REPORT)], 0, None),
    ]  # fmt: skip


def _tamper_bundle(workdir: Path) -> None:
    doc = json.loads((workdir / "receipt.json").read_text())
    text = doc["revision"]["IonText"]
    if "unitPrice:89000.00" not in text:
        raise SystemExit("demo: the receipt has no unitPrice 89000.00; update the tampering step")
    doc["revision"]["IonText"] = text.replace("unitPrice:89000.00", "unitPrice:8900.00")
    (workdir / "receipt-TAMPERED.json").write_text(json.dumps(doc, indent=2))


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


def _expect(title: str, number: int, expected: int, code: int) -> int:
    if code != expected:
        print(f"    UNEXPECTED: exit {code}, expected {expected}")
        return 1
    return 0


def main() -> int:
    print("qldb-audit demo, part 1: verifying real Amazon QLDB data offline, no AWS needed\n")
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
            failures += _expect(title, number, expected, _run(["verify", *args], workdir))
            print()

        print("part 2: the invoice story on our own verifiable ledger (an SQLite file)\n")
        story = workdir / "story"
        story.mkdir()
        REPORT.parent.mkdir(exist_ok=True)
        env = {**os.environ, "QLDB_AUDIT_LEDGER": str(story / "carmaker.db")}
        for number, (title, args, expected, out) in enumerate(_story(story), 1):
            if "receipt-TAMPERED.json" in args:
                _tamper_bundle(story)
            if "TIP_THEN" in args:
                tip = json.loads((story / "digest-then.json").read_text())
                then = tip["DigestTipAddress"]["IonText"].rsplit(":", 1)[1].rstrip("}")
                args = [then if a == "TIP_THEN" else a for a in args]
            print(f"{number}. {title} (expect exit {expected})")
            code = _run(args, story, story / out if out else None, env)
            failures += _expect(title, number, expected, code)
            if out == "carmaker.vkey":
                print(f"    {(story / out).read_text().strip()}")
            print()

        print("part 3: the same story over the REST API, against a real server\n")
        from auditor import demo_rest

        rest = workdir / "rest"
        rest.mkdir()
        failures += demo_rest.run(
            rest, _run, lambda name, expected, got: _expect(name, 0, expected, got)
        )
    if failures:
        print(f"demo: {failures} step(s) did not end as expected")
        return 1
    print("demo: every genuine artefact verified and every tampered one was caught")
    print(f"demo: the auditor's HTML report is {REPORT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
