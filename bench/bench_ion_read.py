"""The project's own Ion reader and writer (``auditor.ion``) on the ~1 KB invoice, against
amazon.ion 0.15 (C extension and pure Python) and the pyqldb stack (amazon.ion 0.9.3 + ionhash).

Figures (µs/doc, median of repeated timed loops, as bench_ion_hash.py):

- parse only, Ion binary and Ion text: ``auditor.ion.loads`` vs ``simpleion.loads`` (C ext,
  pure Python);
- parse + ``proofs.ion_hash``, binary and text; the binary figure against the oracle's
  ``loads(binary) + hash_value`` (bench/oracle_bench.py under ``--oracle-python``): the
  README's "≥ 12× the pyqldb stack" target;
- encode: ``dumps_binary([v])`` / ``dumps_text(v)`` vs ``simpleion.dumps`` (C ext), the calls
  the ledger makes per revision.

Every reader must give the fixture's SHA-256 Ion hash first, or the run fails.

Usage: ``.venv/bin/python bench/bench_ion_read.py [--oracle-python .venv-oracle/bin/python]
[--quick] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import json
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", HERE / f"{name}.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {name}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    shared = _load("oracle_bench")
    hash_bench = _load("bench_ion_hash")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--oracle-python", type=Path, default=hash_bench.DEFAULT_ORACLE_PYTHON)
    parser.add_argument("--no-oracle", action="store_true")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    from amazon.ion import simpleion

    import auditor.ion as ion
    from proofs import ion_hash

    min_time, repeat = shared.timing_params(args.quick)
    record = shared.load_record()
    binary = base64.b64decode(record["ion_binary_b64"])
    text = record["ion_text"]
    expected = record["sha256"]
    for what, source in (("binary", binary), ("text", text)):
        got = ion_hash(ion.loads(source, "invoice")[0]).hex()
        if got != expected:
            raise SystemExit(f"FAIL: auditor.ion {what} parse hashes to {got}, not {expected}")
    (value,) = ion.loads(binary, "invoice")
    c_value = simpleion.loads(binary)
    if ion.dumps_binary([value]) != bytes(simpleion.dumps(c_value, binary=True)):
        raise SystemExit("FAIL: dumps_binary differs from amazon.ion's C extension")
    if ion.dumps_text(value) != simpleion.dumps(c_value, binary=False, omit_version_marker=True):
        raise SystemExit("FAIL: dumps_text differs from amazon.ion's C extension")

    def measure(fn: Any) -> dict[str, Any]:
        result: dict[str, Any] = shared.measure(fn, min_time, repeat)
        return result

    monitor = hash_bench.CpuMonitor()
    loads = ion.loads
    results: dict[str, Any] = {
        "ours loads binary": measure(lambda: loads(binary, "b")),
        "ours loads text": measure(lambda: loads(text, "t")),
        "ours loads+hash binary": measure(lambda: ion_hash(loads(binary, "b")[0])),
        "ours loads+hash text": measure(lambda: ion_hash(loads(text, "t")[0])),
        "ours dumps_binary": measure(lambda: ion.dumps_binary([value])),
        "ours dumps_text": measure(lambda: ion.dumps_text(value)),
        "c-ext loads binary": measure(lambda: simpleion.loads(binary)),
        "c-ext loads text": measure(lambda: simpleion.loads(text)),
        "c-ext loads+hash binary": measure(lambda: ion_hash(simpleion.loads(binary))),
        "c-ext dumps binary": measure(lambda: simpleion.dumps(c_value, binary=True)),
        "c-ext dumps text": measure(
            lambda: simpleion.dumps(c_value, binary=False, omit_version_marker=True)
        ),
    }
    simpleion.c_ext = False
    try:
        results["pure loads binary"] = measure(lambda: simpleion.loads(binary))
        results["pure loads text"] = measure(lambda: simpleion.loads(text))
    finally:
        simpleion.c_ext = True
    oracle = None
    if not args.no_oracle:
        oracle = hash_bench.run_oracle(
            args.oracle_python, shared.DEFAULT_FIXTURE, shared.DEFAULT_SOURCE, min_time, repeat
        )
    others = monitor.others_share()
    lines = [
        f"auditor.ion on the invoice ({len(binary)} B binary, {len(text.encode())} B text); "
        f"os.getloadavg() at the end: {os.getloadavg()[0]:.2f}; other processes used "
        f"{'?' if others is None else f'{others:.0%}'} of the cores",
        f"{'operation':<28} {'µs/doc':>9} {'docs/s':>9}",
    ]
    for name, r in results.items():
        lines.append(f"{name:<28} {r['us_per_doc']:>9,.1f} {r['docs_per_s']:>9,.0f}")
    us = {k: r["us_per_doc"] for k, r in results.items()}
    ratios = {
        "ours/c-ext loads binary": us["ours loads binary"] / us["c-ext loads binary"],
        "ours/c-ext loads text": us["ours loads text"] / us["c-ext loads text"],
        "ours/c-ext dumps binary": us["ours dumps_binary"] / us["c-ext dumps binary"],
        "ours/c-ext dumps text": us["ours dumps_text"] / us["c-ext dumps text"],
        "pure/ours loads binary": us["pure loads binary"] / us["ours loads binary"],
        "pure/ours loads text": us["pure loads text"] / us["ours loads text"],
    }
    if oracle is not None:
        pyqldb = oracle["results"]["parse_hash_binary"]["us_per_doc"]
        ratios["pyqldb stack / ours, parse+hash binary (target >= 12)"] = (
            pyqldb / us["ours loads+hash binary"]
        )
    lines.append("")
    lines += [f"{name}: {ratio:.2f}x" for name, ratio in ratios.items()]
    print("\n".join(lines))
    if args.json:
        args.json.write_text(
            json.dumps({"results": results, "ratios": ratios, "oracle": oracle}, indent=2) + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
