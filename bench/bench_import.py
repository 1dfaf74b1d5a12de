"""Import throughput: revisions/s of ``ledger import`` (verify the whole export under QLDB's
rules and write every block into SQLite, then publish), on one process, and peak memory for two
export sizes; beside it, the same export's audit alone (``verify export --rules qldb``), so the
cost of writing is visible (see bench/README.md).

The export is built once per size in ``--workdir`` (bench_audit.py's: invoices of ~250 bytes, 10
per block, 1,000 blocks per data object, written by this project's writer and read here under
QLDB's rules, as a QLDB export is). ``--generated N`` adds a run on an export of N blocks from
the independent QLDB-shaped generator (fixtures/qldb/generate_export.py: 1-4 revisions per
block, system blocks and revisions, two tables; slow to build: about 10 s per 1,000 blocks).
Each measurement runs in a fresh subprocess, so its peak RSS is its own.

Usage: ``.venv/bin/python bench/bench_import.py [--revisions 100000] [--small 20000]
[--generated 0] [--workdir DIR] [--repeat 2] [--json FILE]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
TARGET = 5000  # revisions/s on one core


def child(source: str, what: str, out_dir: str) -> dict[str, Any]:
    from auditor.audit import AuditOptions, audit
    from auditor.audit.engine import SeqSet
    from auditor.ledger.importer import ImportOptions, import_export

    started = time.perf_counter()
    if what == "audit":
        report = audit(AuditOptions(source=source, rules="qldb", accept_opaque=SeqSet("all"),
                                    accept_deleted=True))  # fmt: skip
        revisions, blocks = report.counts.revisions, report.counts.blocks
        ok = report.status in ("verified", "not-proven")
    else:
        path = os.path.join(out_dir, "imported.db")
        result = import_export(
            ImportOptions(source=source, path=path, name="bench", accept_unanchored=True)
        )
        revisions = result.summary["revisions"]["total"]
        blocks = result.summary["blocks"]
        ok = True
    seconds = time.perf_counter() - started
    if not ok:
        raise SystemExit(f"FAIL: the benchmark export did not verify ({source})")
    return {
        "seconds": seconds,
        "revisions": revisions,
        "blocks": blocks,
        "revisions_per_second": revisions / seconds,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "sqlite_peak_mib": _sqlite_highwater_mib(),
    }


def _sqlite_highwater_mib() -> float | None:
    """SQLite's own allocations at their highest (its page caches: 64 MiB a connection at
    most), from the library Python's sqlite3 module uses; None where it cannot be asked."""
    import _sqlite3
    import ctypes

    try:
        highwater = ctypes.CDLL(_sqlite3.__file__).sqlite3_memory_highwater
    except (OSError, AttributeError):
        return None
    highwater.restype, highwater.argtypes = ctypes.c_int64, [ctypes.c_int]
    return round(highwater(0) / 2**20, 1)


def measure(source: Path, what: str, repeat: int, workdir: Path) -> dict[str, Any]:
    runs = []
    for _ in range(repeat):
        out_dir = Path(tempfile.mkdtemp(dir=workdir, prefix="import-"))
        try:
            done = subprocess.run(
                [sys.executable, __file__, "--child", str(source), what, str(out_dir)],
                capture_output=True, text=True, check=True, cwd=REPO,
            )  # fmt: skip
        finally:
            shutil.rmtree(out_dir, ignore_errors=True)
        runs.append(json.loads(done.stdout))
    best = max(runs, key=lambda r: r["revisions_per_second"])
    best["runs"] = [round(r["revisions_per_second"]) for r in runs]
    return best


def generated(workdir: Path, blocks: int) -> Path:
    """An export of the independent generator (cached)."""
    from fixtures.qldb import generate_export as gen

    dest = workdir / f"generated-{blocks}"
    if (dest / "DONE").exists():
        return dest
    journal = gen.generate(gen.Settings(blocks=blocks, max_objects_blocks=500))
    gen.write(gen.render_export(journal, "ion_binary"), dest)
    (dest / "DONE").write_text("\n")
    return dest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=3, metavar=("SOURCE", "WHAT", "OUT"))
    parser.add_argument("--revisions", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=20_000)
    parser.add_argument("--generated", type=int, default=0, metavar="BLOCKS")
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "qldb-bench"))
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args()
    if args.child:
        source, what, out_dir = args.child
        print(json.dumps(child(source, what, out_dir)))
        return 0
    from bench.bench_audit import build

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {
        "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
        "uptime_before": _uptime(),
    }
    print(f"building exports in {workdir} (cached) ...", file=sys.stderr)
    big = build(workdir, args.revisions, "ion_binary")
    small = build(workdir, args.small, "ion_binary")
    rows = [("import, big", big, "import"), ("audit only, big", big, "audit"),
            ("import, small", small, "import")]  # fmt: skip
    if args.generated:
        rows.append(("import, generator", generated(workdir, args.generated), "import"))
    for label, source, what in rows:
        out.setdefault("load_before", {})[label] = os.getloadavg()[0]
        result = measure(source, what, args.repeat, workdir)
        out[label] = result
        print(
            f"{label:>18}: {result['revisions']:>7} revisions in {result['seconds']:6.2f} s = "
            f"{result['revisions_per_second']:8,.0f} rev/s (runs {result['runs']}); peak RSS "
            f"{result['peak_rss_mib']:.0f} MiB (SQLite's at most {result['sqlite_peak_mib']} MiB)"
        )
    out["uptime_after"] = _uptime()
    print(f"uptime before: {out['uptime_before']}\nuptime after:  {out['uptime_after']}")
    one = out["import, big"]
    ok = one["revisions_per_second"] >= TARGET
    print(("OK" if ok else "BELOW TARGET") + f": {one['revisions_per_second']:,.0f} rev/s on one "
          f"process (target >= {TARGET:,}); peak RSS {out['import, small']['peak_rss_mib']:.0f} "
          f"MiB for {args.small} revisions, {one['peak_rss_mib']:.0f} MiB for "
          f"{args.revisions}")  # fmt: skip
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(out, indent=2) + "\n")
    return 0 if ok else 1


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        load = os.getloadavg()
        return f"load average: {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}"


if __name__ == "__main__":
    sys.exit(main())
