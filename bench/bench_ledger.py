"""Writer throughput: durable puts/s, invoices/s in batches of 100, receipts/s, against fsync.

Figures (median of repeated timed loops on a ledger in a temporary directory; see
bench/README.md, "Ledger writer benchmark"):

- fsync floor: ``os.write`` (4 KiB) + ``os.fsync`` on a file in the ledger's directory; a durable
  commit needs at least one, so it bounds single-document transactions (fdatasync as context);
- single-document transactions: ``ledger.put`` of one ~1 KB car-maker invoice;
- batches: ``ledger.put_many`` of 100 invoices (one transaction, one block), in invoices/s;
- receipts: ``revision`` + ``revision_proof`` + ``digest`` for a random key at the current tip;
- gets: ``get`` of a random key (both read paths check each row against the journal).

Targets (from the issue): >= 5,000 invoices/s in batches of 100 with full durability
(``synchronous=FULL``); >= 2,000 receipts/s. Then a profile of the batch path: where the time
goes (cProfile, grouped), and the share of each batch spent in COMMIT (the fsync).

Usage: ``.venv/bin/python bench/bench_ledger.py [--quick] [--dir DIR] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import platform
import pstats
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from amazon.ion import simpleion  # noqa: E402

import proofs  # noqa: E402
from auditor.ledger import Ledger  # noqa: E402
from proofs.note import parse_vkey, verify_note  # noqa: E402

sys.path.insert(0, str(HERE))
from bench_ion_hash import CpuMonitor  # noqa: E402 - one CPU monitor for every benchmark

TARGETS = {"invoices_per_s": 5_000.0, "receipts_per_s": 2_000.0}
BATCH = 100
BUSY_SHARE = 0.1  # warn when other processes used more than this share of all cores
TABLE = "Invoices"

MAKES = [("Acme", "Roadster GT"), ("Zephyr", "Tourer"), ("Nordic", "Fjord 4x4"), ("Vela", "City")]
STATUSES = ["PENDING", "PAID", "OVERDUE", "CANCELLED"]


def invoice(n: int) -> dict[str, Any]:
    """A ~1 KB car-maker invoice (Ion binary with its symbol table): prices are decimals."""
    make, model = MAKES[n % len(MAKES)]
    unit_price = Decimal(4_200_000 + (n * 7919) % 5_000_000).scaleb(-2)
    quantity = 1 + n % 5
    return {
        "invoiceId": f"INV-{n:010d}",
        "billTo": {
            "dealer": f"Dealer {n % 997:03d} Motors LLC",
            "street": f"{100 + n % 900} Industrial Parkway, Suite {n % 40}",
            "city": "Springfield",
            "region": "IL",
            "postalCode": f"{62700 + n % 99}",
            "country": "US",
            "contact": f"accounts.payable+{n % 997}@dealer.example",
        },
        "date": f"2024-{1 + n % 12:02d}-{1 + n % 28:02d}",
        "dueDate": f"2024-{1 + (n + 1) % 12:02d}-{1 + n % 28:02d}",
        "paymentStatus": STATUSES[n % len(STATUSES)],
        "currency": "USD",
        "carInfo": {
            "make": make,
            "model": model,
            "year": 2020 + n % 5,
            "vin": f"1HGCM82633A{n % 1_000_000:06d}",
            "color": "Midnight Blue",
            "unitPrice": unit_price,
        },
        "quantity": quantity,
        "options": [
            {"sku": "OPT-TOW", "description": "Towing package", "amount": Decimal("1250.00")},
            {"sku": "OPT-NAV", "description": "Navigation system", "amount": Decimal("800.00")},
        ],
        "subtotal": unit_price * quantity + Decimal("2050.00"),
        "taxRate": Decimal("0.0825"),
        "salesperson": {"name": "J. Doe", "employeeId": f"EMP-{n % 450:04d}", "region": "Midwest"},
        "deliverTo": {
            "lot": f"Lot {n % 12}",
            "street": "4800 Commerce Drive",
            "city": "Springfield",
            "region": "IL",
            "postalCode": "62711",
        },
        "shipping": {"carrier": "Car Carriers Inc.", "amount": Decimal("1495.00")},
        "warranty": {"plan": "Extended 5y/100k mi", "provider": "Acme Assurance", "fee": 2150},
        "notes": "Delivered to the dealer lot; title documents follow by courier. "
        "Late payments incur 1.5% monthly interest.",
    }


# -- timing ------------------------------------------------------------------------------------
def rate(op: Callable[[], int], seconds: float, repeat: int) -> dict[str, Any]:
    """Run ``op`` (returning how many units it did) for ``seconds``, ``repeat`` times; units/s."""
    runs: list[dict[str, float]] = []
    for _ in range(repeat):
        units, calls = 0, 0
        start = time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            units += op()
            calls += 1
        runs.append({"units": units, "calls": calls, "seconds": elapsed, "rate": units / elapsed})
    rates = [r["rate"] for r in runs]
    median = statistics.median(rates)
    total_calls = sum(r["calls"] for r in runs)
    return {
        "per_s": median,
        "min": min(rates),
        "max": max(rates),
        "ms_per_call": 1000 * sum(r["seconds"] for r in runs) / total_calls,
        "calls": total_calls,
    }


def fsync_floor(directory: str, seconds: float, repeat: int, sync: Callable[[int], None]) -> Any:
    path = os.path.join(directory, "fsync-probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    block = b"\0" * 4096

    def one() -> int:
        os.write(fd, block)
        sync(fd)
        return 1

    try:
        return rate(one, seconds, repeat)
    finally:
        os.close(fd)
        os.unlink(path)


class _TimedTx:
    """Stands in for the ledger's transaction context: times BEGIN, the body and COMMIT."""

    def __init__(self, db: sqlite3.Connection, sink: dict[str, float]) -> None:
        self.db, self.sink = db, sink

    def __enter__(self) -> sqlite3.Connection:
        t0 = time.perf_counter()
        self.db.execute("BEGIN IMMEDIATE")
        self.entered = time.perf_counter()
        self.sink["begin"] += self.entered - t0
        return self.db

    def __exit__(self, kind: object, value: object, tb: object) -> None:
        t1 = time.perf_counter()
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")
        t2 = time.perf_counter()
        self.sink["body"] += t1 - self.entered
        self.sink["commit"] += t2 - t1


def phases(ledger: Ledger, prefix: str, transactions: int, size: int) -> dict[str, float] | None:
    """Milliseconds per transaction of ``size`` invoices (``put`` if 1, else ``put_many``):
    before the transaction (checks, size check), BEGIN, the body, COMMIT (the WAL fsync).
    Uses the ledger's private ``_transaction`` hook; None if it is not there any more."""
    if not hasattr(ledger, "_transaction") or not hasattr(ledger, "_db"):
        return None
    work = [[(f"{prefix}{t}-{i}", invoice(i)) for i in range(size)] for t in range(transactions)]
    sink = {"begin": 0.0, "body": 0.0, "commit": 0.0}
    timed: Any = lambda: _TimedTx(ledger._db(), sink)  # noqa: E731
    ledger._transaction = timed  # type: ignore[method-assign]
    try:
        start = time.perf_counter()
        for items in work:
            if size == 1:
                ledger.put(TABLE, *items[0])
            else:
                ledger.put_many(TABLE, items)
        total = time.perf_counter() - start
    finally:
        del ledger._transaction
    per = {k: 1000 * v / transactions for k, v in sink.items()}
    per["before"] = 1000 * (total - sum(sink.values())) / transactions
    per["total"] = 1000 * total / transactions
    return per


# Disjoint entry points of the batch path, measured inclusively (cProfile cumulative time).
ENTRY_POINTS = [
    ("Ion Hash (proofs.ion_hash, incl. SHA-256)", "proofs/ionhash.py", "ion_hash"),
    ("Ion encode (simpleion.dumps)", "amazon/ion/simpleion.py", "dumps"),
    ("Ion decode (simpleion.loads)", "amazon/ion/simpleion.py", "loads"),
    (
        "SQLite (execute, incl. COMMIT = fsync)",
        "~",
        "<method 'execute' of 'sqlite3.Connection' objects>",
    ),
    ("input checks (values.check_value)", "auditor/ledger/values.py", "check_value"),
]
REST = "everything else (ledger code, ids, Merkle, ...)"


def profile_batches(ledger: Ledger, first: int, batches: int) -> dict[str, Any]:
    """cProfile the batch path: inclusive time of each entry point, calls per invoice, and the
    functions with the most exclusive time."""
    profiler = cProfile.Profile()
    documents = [[(f"Q{first + b}-{i}", invoice(i)) for i in range(BATCH)] for b in range(batches)]
    start = time.perf_counter()
    profiler.enable()
    for items in documents:
        ledger.put_many(TABLE, items)
    profiler.disable()
    wall = time.perf_counter() - start
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    n = batches * BATCH
    spent: dict[str, float] = {}
    calls: dict[str, float] = {}
    for label, file_suffix, func in ENTRY_POINTS:
        matched = [v for (f, _, fn), v in stats.items() if fn == func and f.endswith(file_suffix)]
        spent[label] = sum(v[3] for v in matched)  # cumulative
        calls[label] = sum(v[0] for v in matched) / n  # primitive calls
    total = sum(v[2] for v in stats.values())  # all exclusive time = the profiled run
    spent[REST] = total - sum(spent.values())
    top = sorted(
        ((v[2], v[1], f"{Path(f).name}:{fn}") for (f, _, fn), v in stats.items()), reverse=True
    )[:10]
    return {
        "documents": n,
        "profiled_wall_s": wall,
        "us_per_document": {k: 1e6 * v / n for k, v in spent.items()},
        "share": {k: v / total for k, v in spent.items()},
        "calls_per_document": calls,
        "top": [
            {"function": name, "tottime_us_per_doc": 1e6 * tt / n, "calls_per_doc": nc / n}
            for tt, nc, name in top
        ],
    }


# -- the run -----------------------------------------------------------------------------------
def run(directory: str, seconds: float, repeat: int, profile: bool) -> dict[str, Any]:
    report: dict[str, Any] = {
        "environment": {
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "cpus": os.cpu_count(),
            "amazon.ion c extension": bool(getattr(simpleion, "c_ext", False)),
            "directory": directory,
        }
    }
    sample = invoice(1)
    report["document"] = {
        "ion_binary_bytes": len(simpleion.dumps({**sample, "_k": "INV-0000000001"}, binary=True)),
        "ion_text_bytes": len(simpleion.dumps(sample, binary=False, omit_version_marker=True)),
    }
    report["fsync"] = fsync_floor(directory, seconds, repeat, os.fsync)
    report["fdatasync"] = fsync_floor(directory, seconds, repeat, os.fdatasync)

    ledger = Ledger.create(os.path.join(directory, "bench.db"), "bench", tables=[TABLE])
    keys: list[str] = []
    counter = iter(range(1 << 62))
    # The documents are built before timing (building them is the caller's work, not the
    # writer's); every write still gets its own key, so each one is a new document.
    pool = [invoice(n) for n in range(4 * BATCH)]

    def single() -> int:
        n = next(counter)
        key = f"S-{n}"
        ledger.put(TABLE, key, pool[n % len(pool)])
        keys.append(key)
        return 1

    def batch() -> int:
        b = next(counter)
        first = (b % 4) * BATCH
        items = [(f"B{b}-{i}", pool[first + i]) for i in range(BATCH)]
        ledger.put_many(TABLE, items)
        keys.append(items[b % BATCH][0])
        return BATCH

    report["single_puts"] = rate(single, seconds, repeat)
    report["batch_invoices"] = rate(batch, seconds, repeat)

    chooser = random.Random(1)
    tip = ledger.tip()

    def receipt() -> int:
        revision = ledger.revision(TABLE, chooser.choice(keys))
        ledger.revision_proof(revision, tip)
        ledger.digest(tip)
        return 1

    report["receipts"] = rate(receipt, seconds, repeat)

    def get() -> int:  # the current value of a random key, checked against the journal
        ledger.get(TABLE, chooser.choice(keys))
        return 1

    report["gets"] = rate(get, seconds, repeat)

    # context: what an auditor pays to check one receipt, and one freshly signed digest
    revision = ledger.revision(TABLE, keys[0])
    proof, signed = ledger.revision_proof(revision, tip), ledger.digest(tip)
    trusted = [parse_vkey(ledger.vkey)]

    def check() -> int:
        proofs.verify_proof(revision.hash, proof, signed.digest)
        verify_note(signed.checkpoint, trusted)
        return 1

    tips = iter(range(1 << 62))

    def fresh_digest() -> int:
        ledger.digest(tip - next(tips) % tip)  # a different tip each call: no cache
        return 1

    report["receipt_checks"] = rate(check, seconds, repeat)
    report["fresh_digests"] = rate(fresh_digest, seconds, repeat)
    report["blocks"] = ledger.tip() + 1
    report["journal_verified"] = ledger.verify_journal() == ledger.tip() + 1
    if profile:
        batches = 5 if seconds < 1 else 20
        report["phases_ms_per_put"] = phases(ledger, "PS", 20 * batches, 1)
        report["phases_ms_per_batch"] = phases(ledger, "PB", batches, BATCH)
        report["profile"] = profile_batches(ledger, 0, batches)
    ledger.close()
    report["targets"] = {
        "invoices_per_s": {
            "target": TARGETS["invoices_per_s"],
            "measured": report["batch_invoices"]["per_s"],
        },
        "receipts_per_s": {
            "target": TARGETS["receipts_per_s"],
            "measured": report["receipts"]["per_s"],
        },
    }
    for target in report["targets"].values():
        target["met"] = target["measured"] >= target["target"]
    return report


def render(r: dict[str, Any]) -> str:
    env, doc = r["environment"], r["document"]
    fsync = r["fsync"]["per_s"]

    def line(label: str, m: dict[str, Any], unit: str, note: str = "") -> str:
        spread = f"(min {m['min']:,.0f}, max {m['max']:,.0f}; {m['ms_per_call']:.2f} ms/call)"
        return f"  {label:<44} {m['per_s']:>9,.0f} {unit:<12} {spread}{note}"

    def verdict(name: str) -> str:
        t = r["targets"][name]
        state = "met" if t["met"] else "NOT MET"
        return f"  -> target >= {t['target']:,.0f}: {state}"

    single = r["single_puts"]["per_s"]
    out = [
        f"Ledger writer benchmark: Python {env['python']}, SQLite {env['sqlite']}, "
        f"{env['cpus']} CPUs, amazon.ion C extension: {env['amazon.ion c extension']}",
        f"ledger in {env['directory']}; invoice = {doc['ion_binary_bytes']:,} B Ion binary "
        f"({doc['ion_text_bytes']:,} B Ion text); synchronous=FULL, WAL",
        "",
        line("fsync floor (4 KiB write + fsync)", r["fsync"], "fsyncs/s"),
        line("  (context) write + fdatasync", r["fdatasync"], "syncs/s"),
        line(
            "single-document transactions (put)",
            r["single_puts"],
            "puts/s",
            f"  = {single / fsync:.0%} of the fsync floor",
        ),
        line(f"batches of {BATCH} invoices (put_many)", r["batch_invoices"], "invoices/s"),
        verdict("invoices_per_s"),
        line("receipts (revision + proof + digest)", r["receipts"], "receipts/s"),
        verdict("receipts_per_s"),
        line("gets (current value, checked against the journal)", r["gets"], "gets/s"),
        line("  (context) receipt check (proof + note)", r["receipt_checks"], "checks/s"),
        line("  (context) digest at a new tip (+ sign)", r["fresh_digests"], "digests/s"),
        f"  journal of {r['blocks']:,} blocks verified: {r['journal_verified']}",
    ]
    for key, what in (("phases_ms_per_put", "put"), ("phases_ms_per_batch", f"batch of {BATCH}")):
        split = r.get(key)
        if split:
            total = split["total"]
            parts = ", ".join(
                f"{k} {split[k]:.2f} ({split[k] / total:.0%})"
                for k in ("before", "begin", "body", "commit")
            )
            out += ["", f"Where a {what} goes (unprofiled, ms): total {total:.2f} = {parts}"]
    if r.get("phases_ms_per_put"):
        out.append(
            "  before = input and size checks, outside the transaction; body = inside "
            "BEGIN..COMMIT; commit = COMMIT (the WAL fsync)"
        )
    p = r.get("profile")
    if p:
        out += [
            "",
            f"Profile of the batch path (cProfile, {p['documents']:,} invoices; inclusive time "
            "per entry point, profiler overhead included):",
        ]
        for name, us in sorted(p["us_per_document"].items(), key=lambda kv: -kv[1]):
            count = p["calls_per_document"].get(name)
            per = f"  {count:.2f} calls/invoice" if count is not None else ""
            out.append(f"  {name:<44} {us:>7.1f} us/invoice {p['share'][name]:>4.0%}{per}")
        out.append("  top functions by exclusive time (us/invoice, calls/invoice):")
        out += [
            f"    {t['tottime_us_per_doc']:>7.1f}  {t['calls_per_doc']:>6.2f}  {t['function']}"
            for t in p["top"]
        ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short loops (about 5 s in all)")
    parser.add_argument("--dir", help="directory for the ledger (default: a new temp dir)")
    parser.add_argument("--json", type=Path, help="also write the report as JSON")
    parser.add_argument("--no-profile", action="store_true", help="skip the profile")
    args = parser.parse_args(argv)
    seconds, repeat = (0.3, 2) if args.quick else (2.0, 3)
    monitor = CpuMonitor()
    with tempfile.TemporaryDirectory(prefix="bench-ledger-", dir=args.dir) as directory:
        report = run(directory, seconds, repeat, not args.no_profile)
    report["others_cpu_share"] = monitor.others_share()
    print(render(report))
    if (report["others_cpu_share"] or 0) > BUSY_SHARE:
        print(
            f"WARNING: other processes used {report['others_cpu_share']:.0%} of all cores "
            "during the run; the figures are low, re-run on an idle machine"
        )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return 0 if all(t["met"] for t in report["targets"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
