"""``make demo``, part 4: a QLDB ledger migrated with its proofs (``ledger import``).

The QLDB side is the generated QLDB-shaped export of ``fixtures/qldb/exports/generated`` (an
independent generator's journal: two tables, system blocks, deletes, redactions) with what a
QLDB customer saved beside it: GetDigest outputs and a dealer's KVS receipt. The import
verifies the export and keeps QLDB's blocks; the old digests and receipt still verify against
the migrated ledger; a saved digest is proven a prefix of the new signed checkpoint; and the
whole journal, QLDB's blocks and the new ones, audits with the boundary.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GENERATED = ROOT / "fixtures" / "qldb" / "exports" / "generated"
PARTIAL = ROOT / "fixtures" / "qldb" / "exports" / "real-KmA3-block-100"
RECEIPT = "kvs-invoices-zdf8PV-v4-block22-tip22.json"  # a dealer's receipt, saved at tip 22

Runner = Callable[..., int]
Expect = Callable[[str, int, int], int]


def run(workdir: Path, command: Runner, expect: Expect) -> int:
    """Play part 4 in ``workdir``; returns the number of steps that did not end as expected."""
    shutil.copytree(GENERATED / "ion-binary", workdir / "qldb-export")
    shutil.copytree(PARTIAL, workdir / "qldb-export-block-100")
    for tip in (17, 22, 39):
        name = f"digest-tip-{tip:03d}.json"
        shutil.copy(GENERATED / "digests" / name, workdir / f"qldb-{name}")
    shutil.copy(GENERATED / "receipts" / RECEIPT, workdir / RECEIPT)
    ledger = ["--ledger", "migrated.db"]
    steps: list[tuple[str, list[str], int, str | None]] = [
        ("The QLDB export is verified and imported (QLDB's rules; the digests saved at tips 17 "
         "and 39 must be its Merkle roots there); the ledger keeps QLDB's blocks, strand, "
         "documents and versions, with a new signing key",
         ["ledger", "import", "qldb-export", *ledger, "--digest", "qldb-digest-tip-017.json",
          "--digest", "qldb-digest-tip-039.json"], 0, "import.json"),
        ("A partial export (the real block 100 alone) is refused, naming the missing blocks; "
         "nothing is created",
         ["ledger", "import", "qldb-export-block-100", "--ledger", "partial.db"], 2, None),
        ("The migrated ledger's digest at tip 22 is QLDB's digest at tip 22 ...",
         ["ledger", "digest", "--tip", "22", *ledger, "-o", "digest-22.json"], 0, None),
        ("... so the receipt a dealer saved from QLDB still verifies against it",
         ["verify", "receipt", RECEIPT, "--digest", "digest-22.json"], 0, None),
        ("New writes chain onto QLDB's last block (the next version of a QLDB document)",
         ["ledger", "put", *ledger, "--table", "invoices", "INV0003",
          '{"billTo":"Nordic Autos AB","paymentStatus":"CONFIRMED"}', "--expected-version", "5"],
         0, "put.json"),
        ("The migrated ledger's public key", ["ledger", "vkey", *ledger], 0, "migrated.vkey"),
        ("A proof that the digest saved from QLDB is a prefix of the new signed checkpoint ...",
         ["ledger", "consistency", *ledger, "--from-digest", "qldb-digest-tip-039.json", "-o",
          "continuity.json"], 0, None),
        ("... checked by a third party with the QLDB digest they hold and the new key",
         ["verify", "consistency", "continuity.json", "--trust-key", "migrated.vkey",
          "--digest", "qldb-digest-tip-039.json"], 0, None),
        ("The whole journal (QLDB's blocks and the new ones) is exported ...",
         ["ledger", "export", *ledger, "migrated-export", "--format", "ion_binary"], 0,
         "export.json"),
        ("... and audited: QLDB's rules up to block 39 (the import boundary), the writer's after",
         ["verify", "export", "migrated-export", "--trust-key", "migrated.vkey", "--qldb-until",
          "39", "--accept-opaque-blocks", "all", "--accept-deleted"], 0, None),
    ]  # fmt: skip
    failures = 0
    for number, (title, args, expected, out) in enumerate(steps, 1):
        print(f"{number}. {title} (expect exit {expected})")
        code = command(args, workdir, workdir / out if out else None)
        failures += expect(title, expected, code)
        print()
    return failures
