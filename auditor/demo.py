"""``make demo``: the invoice story, end to end, with the real ``qldb-audit`` CLI.

Part 1 verifies real Amazon QLDB outputs (``fixtures/qldb/artefacts``) offline and catches
tampered copies. Part 2 tells the car maker's invoice story on our own ledger, with each party
in a directory of its own: the car maker keeps its ledger file; the dealer holds only what the
maker sent it (a receipt bundle, the public key, a signed digest, a consistency proof) and
verifies offline; the external auditor holds only the exported journal and the key. Part 3
plays the same story over the REST API against a real server. Part 4 migrates a QLDB ledger
(a generated QLDB-shaped export) with its proofs (``auditor/demo_migrate.py``).

Every step runs ``python -m auditor …`` and must end with the exit code shown; the demo exits
non-zero otherwise. The working directory is kept (``out/demo`` in the repository by default,
``--workdir DIR`` to choose; a previous demo's directory is replaced) and printed at the start
and the end, so every file the output and the HTML report cite can be opened afterwards.

Run: ``python -m auditor.demo [--workdir DIR]`` (``make demo``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from auditor import jsonout

ROOT = Path(__file__).resolve().parent.parent
ARTEFACTS = ROOT / "fixtures" / "qldb" / "artefacts"
WORKDIR = ROOT / "out" / "demo"
MARKER = ".qldb-audit-demo"  # marks a directory the demo may replace

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


MAKER, DEALER, AUDITOR = "carmaker", "dealer", "auditor"
# (who, title, qldb-audit args, expected exit, stdout file, files handed to another party)
Step = tuple[str, str, list[str], int, str | None, tuple[str, list[str]] | None]


def _story(maker: Path) -> list[Step]:
    """The invoice story on our own ledger, party by party."""
    (maker / "invoices.jsonl").write_text("".join(jsonout.dumps(i) + "\n" for i in INVOICES))
    (maker / "paid.json").write_text(jsonout.dumps(PAID, indent=2))
    return [
        (MAKER, "The car maker creates its ledger (and its signing key)",
         ["ledger", "init", "--name", "carmaker", "--table", "invoices"], 0, None, None),
        (MAKER, "It records three invoices in one transaction",
         ["ledger", "put-many", "--table", "invoices", "invoices.jsonl"], 0, "put-many.json",
         None),
        (MAKER, "The dealer's payment of TEST10011 is recorded, with the transfer details "
         "(optimistic concurrency)", ["ledger", "put", "--table", "invoices", "TEST10011",
         "@paid.json", "--expected-version", "0"], 0, "paid-revision.json", None),
        (MAKER, "A second writer holding the old version is refused",
         ["ledger", "put", "--table", "invoices", "TEST10011", "@paid.json",
          "--expected-version", "0"], 1, None, None),
        (MAKER, "The ledger's public key, shared with every dealer once",
         ["ledger", "vkey"], 0, "carmaker.vkey", (DEALER, ["carmaker.vkey"])),
        (MAKER, "The maker issues the receipt bundle of the dealer's invoice",
         ["ledger", "receipt", "--table", "invoices", "TEST10011", "-o", "receipt.json"], 0,
         None, (DEALER, ["receipt.json"])),
        (DEALER, "The dealer verifies it offline, from the bundle and the key alone: content, "
         "revision hash, proof, digest, signature",
         ["verify", "bundle", "receipt.json", "--trust-key", "carmaker.vkey", "-v"], 0, None,
         None),
        (DEALER, "Without a key it trusts, the dealer gets 'consistent, unattested'",
         ["verify", "bundle", "receipt.json"], 3, None, None),
        (DEALER, "A copy whose unit price was lowered is rejected",
         ["verify", "bundle", "receipt-TAMPERED.json", "--trust-key", "carmaker.vkey"], 1, None,
         None),
        (MAKER, "The maker signs today's digest; the dealer keeps it ...",
         ["ledger", "digest", "-o", "digest-then.json"], 0, None,
         (DEALER, ["digest-then.json"])),
        (MAKER, "... the maker confirms the payment later ...",
         ["ledger", "put", "--table", "invoices", "TEST10011",
          jsonout.dumps({**PAID, "paymentStatus": "CONFIRMED"})], 0, "confirmed.json", None),
        (MAKER, "... and proves the new digest extends the one the dealer kept",
         ["ledger", "consistency", "--from", "TIP_THEN", "-o", "consistency.json"], 0, None,
         (DEALER, ["consistency.json"])),
        (DEALER, "The dealer checks that proof between the two signed checkpoints",
         ["verify", "consistency", "consistency.json", "--trust-key", "carmaker.vkey"], 0, None,
         None),
        (MAKER, "History shows every version of the invoice",
         ["ledger", "history", "--table", "invoices", "TEST10011"], 0, "history.json", None),
        (MAKER, "The whole journal re-verifies: every block, the chain and the digest",
         ["ledger", "verify"], 0, None, None),
        (MAKER, "The journal is exported in QLDB's layout (Ion binary) for the auditor, with the "
         "public key", ["ledger", "export", "export", "--format", "ion_binary"], 0,
         "export.json", (AUDITOR, ["export", "carmaker.vkey"])),
        (AUDITOR, "The external auditor audits the export offline, writing an HTML report",
         ["verify", "export", "export", "--trust-key", "carmaker.vkey", "--html",
          "audit-report.html"], 0, None, None),
    ]  # fmt: skip


def _hand_over(source: Path, target: Path, names: list[str]) -> None:
    for name in names:
        if (source / name).is_dir():
            shutil.copytree(source / name, target / name)
        else:
            shutil.copy(source / name, target / name)
    print(f"    (handed to the {target.name}: {', '.join(names)})")


def _tamper_bundle(dealer: Path) -> None:
    doc = json.loads((dealer / "receipt.json").read_text())
    text = doc["revision"]["IonText"]
    if "unitPrice:89000.00" not in text:
        raise SystemExit("demo: the receipt has no unitPrice 89000.00; update the tampering step")
    doc["revision"]["IonText"] = text.replace("unitPrice:89000.00", "unitPrice:8900.00")
    (dealer / "receipt-TAMPERED.json").write_text(json.dumps(doc, indent=2))


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


def _fresh(workdir: Path) -> Path:
    """An empty working directory; a previous demo's is replaced, anything else refused."""
    workdir = workdir.resolve()
    if workdir.exists():
        if not workdir.is_dir() or (any(workdir.iterdir()) and not (workdir / MARKER).exists()):
            raise SystemExit(f"demo: {workdir} exists and is not a demo directory; "
                             "choose another with --workdir")  # fmt: skip
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    (workdir / MARKER).write_text("written by `make demo`; the next demo replaces it\n")
    return workdir


def _party_env(who: str, ledger: Path) -> dict[str, str]:
    """The maker's commands find its ledger; nobody else's environment names it."""
    env = {k: v for k, v in os.environ.items() if k != "QLDB_AUDIT_LEDGER"}
    if who == MAKER:
        env["QLDB_AUDIT_LEDGER"] = str(ledger)
    return env


def main(workdir: Path = WORKDIR) -> int:
    workdir = _fresh(workdir)
    print(f"qldb-audit demo: working directory {workdir} (kept after the demo)\n")
    print("part 1: verifying real Amazon QLDB data offline, no AWS needed\n")
    failures = 0
    qldb = workdir / "qldb"
    shutil.copytree(ARTEFACTS, qldb)
    steps = [*STEPS]
    tampered = _tamper(qldb)
    steps.append(
        (
            "A tampered copy of the GetRevision output (penalty 90.25 changed to 9.25)",
            ["revision", tampered.name],
            1,
        )
    )
    for number, (title, args, expected) in enumerate(steps, 1):
        print(f"{number}. {title} (expect exit {expected})")
        failures += _expect(title, number, expected, _run(["verify", *args], qldb))
        print()

    print("part 2: the invoice story on our own verifiable ledger (an SQLite file)\n")
    parties = {who: workdir / who for who in (MAKER, DEALER, AUDITOR)}
    for directory in parties.values():
        directory.mkdir()
    ledger = parties[MAKER] / "carmaker.db"
    for number, (who, title, args, expected, out, send) in enumerate(_story(parties[MAKER]), 1):
        here = parties[who]
        if "receipt-TAMPERED.json" in args:
            _tamper_bundle(here)
        if "TIP_THEN" in args:
            tip = json.loads((here / "digest-then.json").read_text())
            then = tip["DigestTipAddress"]["IonText"].rsplit(":", 1)[1].rstrip("}")
            args = [then if a == "TIP_THEN" else a for a in args]
        print(f"{number}. [{who}] {title} (expect exit {expected})")
        code = _run(args, here, here / out if out else None, _party_env(who, ledger))
        failures += _expect(title, number, expected, code)
        if out == "carmaker.vkey":
            print(f"    {(here / out).read_text().strip()}")
        if send is not None and code == expected:
            _hand_over(here, parties[send[0]], send[1])
        print()

    print("part 3: the same story over the REST API, against a real server\n")
    from auditor import demo_rest

    rest = workdir / "rest"
    rest.mkdir()
    failures += demo_rest.run(
        rest, _run, lambda name, expected, got: _expect(name, 0, expected, got)
    )
    print("part 4: migrating a QLDB ledger off QLDB, keeping its proofs\n")
    from auditor import demo_migrate

    migration = workdir / "migration"
    migration.mkdir()
    failures += demo_migrate.run(
        migration, _run, lambda name, expected, got: _expect(name, 0, expected, got)
    )
    activate = Path(sys.prefix) / "bin" / "activate"
    try:
        activate_shown = os.path.relpath(activate)
    except ValueError:  # another drive (Windows)
        activate_shown = str(activate)
    print(f"demo: every file above is in {workdir} (the car maker's ledger in {MAKER}/, what "
          f"the dealer holds in {DEALER}/, the auditor's export in {AUDITOR}/, the migrated "
          "QLDB ledger in migration/)")  # fmt: skip
    print(f"demo: the auditor's HTML report is {parties[AUDITOR] / 'audit-report.html'}")
    print(f"demo: to run qldb-audit yourself: . {activate_shown}  (or {Path(sys.prefix)}/bin/"
          "qldb-audit)")  # fmt: skip
    if failures:
        print(f"demo: {failures} step(s) did not end as expected")
        return 1
    print("demo: every genuine artefact verified and every tampered one was caught")
    return 0


def _cli() -> int:
    parser = argparse.ArgumentParser(description="qldb-audit's demo: the whole story, offline.")
    where = f"where the demo's files go and stay (default: {WORKDIR})"
    parser.add_argument("--workdir", type=Path, default=WORKDIR, help=where)
    return main(parser.parse_args().workdir)


if __name__ == "__main__":
    sys.exit(_cli())
