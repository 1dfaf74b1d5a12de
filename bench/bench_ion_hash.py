"""Ion Hash throughput on the ~1 KB invoice: ``proofs.ion_hash`` against ``ionhash`` and hashlib.

Figures (docs/s, median of repeated timed loops; see bench/README.md):

a. ``proofs.ion_hash(v)`` on an already-parsed value (hash only);
b. ``simpleion.loads(ion_binary)`` (amazon.ion >= 0.15 with its C extension) + ``ion_hash``;
c. ``simpleion.loads(ion_text)`` + ``ion_hash``;
d. the oracle, ``ionhash`` 1.2.1 on amazon.ion 0.9.3 (the stack pyqldb pins), for the same three
   operations, timed in a subprocess under ``--oracle-python`` (bench/oracle_bench.py);
e. the hashlib floor: the exact ``hashlib.sha256(x).digest()`` calls one invoice hash makes.

Both implementations must reproduce the fixture's SHA-256 Ion hash first, or the run fails.

Usage: ``.venv/bin/python bench/bench_ion_hash.py --oracle-python .venv-oracle/bin/python
[--json FILE] [--quick]`` (``make bench`` runs the first part).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib.util
import json
import os
import platform
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
ORACLE_SCRIPT = HERE / "oracle_bench.py"
DEFAULT_ORACLE_PYTHON = REPO / ".venv-oracle/bin/python"

# Warn when a repetition is this much slower than the fastest one, or when other processes used
# more than this share of all cores during the run (2 cores here: a busy neighbour skews figures).
NOISY_SPREAD = 1.25
BUSY_SHARE = 0.1

# Speed-up targets: ours / oracle, in docs/s.
TARGETS = {"hash_only": 3.0, "parse_hash_binary": 12.0}

OPERATIONS = [
    ("hash_only", "a. hash only (already-parsed value)"),
    ("parse_hash_binary", "b. loads(Ion binary) + hash"),
    ("parse_hash_text", "c. loads(Ion text) + hash"),
    ("loads_binary", "   (context) loads(Ion binary) only"),
    ("loads_text", "   (context) loads(Ion text) only"),
]


def _load_shared() -> ModuleType:
    """oracle_bench.py holds the timing code and fixture loader (stdlib only at import time)."""
    spec = importlib.util.spec_from_file_location("_ion_hash_bench_shared", ORACLE_SCRIPT)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {ORACLE_SCRIPT}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def recorded_sha256_inputs(value: Any) -> tuple[bytes, list[bytes]]:
    """Hash ``value`` with a recording SHA-256; return the digest and every input, in order."""
    from proofs import ion_hash

    inputs: list[bytes] = []

    def recording_sha256(data: bytes) -> bytes:
        inputs.append(bytes(data))
        return hashlib.sha256(data).digest()

    return ion_hash(value, hash_function=recording_sha256), inputs


def check_ours(record: dict[str, Any]) -> dict[str, Any]:
    """Fail unless our hash of the binary- and text-parsed value equals the fixture's."""
    from amazon.ion import simpleion

    from proofs import ion_hash

    expected = record["sha256"]
    binary = base64.b64decode(record["ion_binary_b64"])
    from_binary = simpleion.loads(binary)
    recorded, inputs = recorded_sha256_inputs(from_binary)
    got = {
        "binary": ion_hash(from_binary).hex(),
        "text": ion_hash(simpleion.loads(record["ion_text"])).hex(),
        "recording hash function": recorded.hex(),
    }
    for what, digest in got.items():
        if digest != expected:
            raise SystemExit(f"FAIL: our Ion hash ({what}) {digest} != fixture {expected}")
    return {
        "binary": binary,
        "text": record["ion_text"],
        "value": from_binary,
        "sha256_inputs": inputs,
        "sha256": expected,
    }


def run_oracle(
    oracle_python: Path, fixture: Path, source: str, min_time: float, repeat: int
) -> dict[str, Any]:
    """Run oracle_bench.py under the oracle interpreter; it checks the hash and times itself."""
    if not oracle_python.exists():
        raise SystemExit(f"FAIL: no oracle interpreter at {oracle_python} (run `make oracle`)")
    command = [
        str(oracle_python),
        str(ORACLE_SCRIPT),
        "--fixture",
        str(fixture),
        "--source",
        source,
        "--min-time",
        repr(min_time),
        "--repeat",
        str(repeat),
    ]
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(
            f"FAIL: oracle benchmark exited with {proc.returncode}\n{proc.stderr}{proc.stdout}"
        )
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def time_ours(doc: dict[str, Any], measure: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    from amazon.ion import simpleion

    from proofs import ion_hash

    loads = simpleion.loads
    binary, text, value = doc["binary"], doc["text"], doc["value"]
    return {
        "hash_only": measure(lambda: ion_hash(value)),
        "parse_hash_binary": measure(lambda: ion_hash(loads(binary))),
        "parse_hash_text": measure(lambda: ion_hash(loads(text))),
        "loads_binary": measure(lambda: loads(binary)),
        "loads_text": measure(lambda: loads(text)),
    }


def time_floor(inputs: list[bytes], measure: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    sha256 = hashlib.sha256

    def floor() -> None:
        for data in inputs:
            sha256(data).digest()

    return measure(floor)


def ours_environment() -> dict[str, Any]:
    from importlib.metadata import version

    from amazon.ion import simpleion

    return {
        "python": platform.python_version(),
        "amazon.ion": version("amazon.ion"),
        "c_extension": bool(getattr(simpleion, "c_ext", False)),
    }


def compute_ratios(
    ours: dict[str, Any], oracle: dict[str, Any] | None, floor: dict[str, Any]
) -> dict[str, Any]:
    ratios: dict[str, Any] = {}
    if oracle is not None:
        for key, _ in OPERATIONS:
            ratios[f"{key}_vs_oracle"] = (
                oracle[key]["us_per_doc"] / ours[key]["us_per_doc"]
            )  # = ours docs/s / oracle docs/s
    # Fraction of the hashlib floor's docs/s that our hash-only path reaches.
    ratios["hash_only_fraction_of_floor"] = floor["us_per_doc"] / ours["hash_only"]["us_per_doc"]
    ratios["hash_only_non_hashlib_us"] = ours["hash_only"]["us_per_doc"] - floor["us_per_doc"]
    return ratios


def _fmt_us(us: float) -> str:
    return f"{us:,.1f}" if us < 100 else f"{us:,.0f}"


def render(report: dict[str, Any]) -> str:
    doc, ours, oracle = report["document"], report["ours"], report["oracle"]
    floor, ratios = report["floor"], report["ratios"]
    env = ours["environment"]
    lines = [
        f"Ion Hash benchmark: {doc['source']} ({doc['ion_binary_bytes']:,} B Ion binary, "
        f"{doc['ion_text_bytes']:,} B Ion text; one hash = {doc['sha256_calls']} SHA-256 calls "
        f"over {doc['sha256_input_bytes']:,} B)",
        f"SHA-256 Ion hash {doc['sha256']}: ours (from binary and text)"
        + (" and the oracle agree" if oracle else " agrees")
        + " with the fixture",
        f"ours:   proofs.ion_hash, amazon.ion {env['amazon.ion']} "
        f"({'C extension' if env['c_extension'] else 'pure Python'}), Python {env['python']}",
    ]
    if oracle:
        lines.append(
            f"oracle: ionhash {oracle['ionhash']} fast_value_hasher.hash_value, amazon.ion "
            f"{oracle['amazon.ion']} ({'C extension' if oracle['c_extension'] else 'pure Python'})"
            f", Python {oracle['python']}"
        )
    t = report["timing"]
    lines.append(
        f"timing: loop grown until one loop lasts >= {t['min_time_s']} s, median of "
        f"{t['repeat']} repetitions{' (--quick)' if t['quick'] else ''}; "
        f"speed-up = ours docs/s / oracle docs/s"
    )
    lines.append("")
    header = (
        f"{'operation':<38} {'ours µs/doc':>11} {'docs/s':>8} {'oracle µs/doc':>13} "
        f"{'docs/s':>7} {'speed-up':>9}  target"
    )
    lines += [header, "-" * len(header)]
    for key, label in OPERATIONS:
        o = ours["results"][key]
        row = f"{label:<38} {_fmt_us(o['us_per_doc']):>11} {o['docs_per_s']:>8,.0f}"
        if oracle:
            r = oracle["results"][key]
            ratio = ratios[f"{key}_vs_oracle"]
            target = TARGETS.get(key)
            verdict = ""
            if target is not None:
                verdict = f">= {target:g}x {'met' if ratio >= target else 'NOT MET'}"
            row += f" {_fmt_us(r['us_per_doc']):>13} {r['docs_per_s']:>7,.0f}"
            row += f" {ratio:>8.1f}x  {verdict}"
        lines.append(row.rstrip())
    lines.append(
        f"{'e. hashlib floor (' + str(doc['sha256_calls']) + ' sha256 calls)':<38} "
        f"{_fmt_us(floor['us_per_doc']):>11} {floor['docs_per_s']:>8,.0f}"
    )
    lines.append("")
    lines.append(
        f"ours vs. floor: hash only reaches {ratios['hash_only_fraction_of_floor']:.0%} of the "
        f"hashlib floor's docs/s; {ratios['hash_only_non_hashlib_us']:.0f} µs/doc of "
        f"{ours['results']['hash_only']['us_per_doc']:.0f} are spent outside SHA-256"
    )
    lines += [f"WARNING: {w}" for w in run_warnings(report)]
    return "\n".join(lines)


def run_warnings(report: dict[str, Any]) -> list[str]:
    """No C extension, or signs that another process disturbed the run."""
    warnings = []
    if not report["ours"]["environment"]["c_extension"]:
        warnings.append("amazon.ion's C extension is not in use: figures b and c are not ours")
    others = report["other_processes_cpu_share"]
    if others is not None and others > BUSY_SHARE:
        warnings.append(
            f"other processes used {others:.0%} of the {report['cpu_count']} cores' time during "
            "the run: figures may be low, re-run on an idle machine"
        )
    timings = [(f"ours {k}", v) for k, v in report["ours"]["results"].items()]
    timings.append(("hashlib floor", report["floor"]))
    if report["oracle"]:
        timings += [(f"oracle {k}", v) for k, v in report["oracle"]["results"].items()]
    noisy = [name for name, t in timings if t["max_us"] > NOISY_SPREAD * t["min_us"]]
    if noisy:
        warnings.append(
            f"repetitions differ by more than {NOISY_SPREAD - 1:.0%} (slowest vs fastest) for: "
            + ", ".join(noisy)
        )
    return warnings


class CpuMonitor:
    """Share of all cores' time used by processes other than this one and its children (Linux)."""

    def __init__(self) -> None:
        self.start = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float] | None:
        try:
            with open("/proc/stat", encoding="ascii") as f:
                fields = [int(x) for x in f.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        # user nice system idle iowait irq softirq steal ...: busy = all but idle and iowait
        busy = (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")
        t = os.times()
        ours = t.user + t.system + t.children_user + t.children_system
        return busy, ours, t.elapsed

    def others_share(self) -> float | None:
        end = self._sample()
        if self.start is None or end is None or end[2] <= self.start[2]:
            return None
        busy, ours, wall = (e - s for e, s in zip(end, self.start, strict=True))
        return max(0.0, (busy - ours) / (wall * (os.cpu_count() or 1)))


def main(argv: list[str] | None = None) -> int:
    shared = _load_shared()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--oracle-python",
        type=Path,
        default=DEFAULT_ORACLE_PYTHON,
        help="interpreter with amazon.ion 0.9.3 + ionhash 1.2.1 (default: .venv-oracle)",
    )
    parser.add_argument("--no-oracle", action="store_true", help="skip the oracle (no ratios)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures here")
    parser.add_argument("--quick", action="store_true", help="smoke run: short loops, 3 reps")
    parser.add_argument("--fixture", type=Path, default=shared.DEFAULT_FIXTURE)
    parser.add_argument("--source", default=shared.DEFAULT_SOURCE)
    args = parser.parse_args(argv)

    min_time, repeat = shared.timing_params(args.quick)

    def measure(fn: Callable[[], object]) -> dict[str, Any]:
        result: dict[str, Any] = shared.measure(fn, min_time, repeat)
        return result

    monitor = CpuMonitor()
    record = shared.load_record(args.fixture, args.source)
    doc = check_ours(record)
    oracle = None
    if not args.no_oracle:
        oracle = run_oracle(args.oracle_python, args.fixture, args.source, min_time, repeat)
        if oracle["sha256"] != doc["sha256"]:  # oracle_bench.py checks too; belt and braces
            raise SystemExit(f"FAIL: oracle hash {oracle['sha256']} != fixture {doc['sha256']}")
    ours = {"environment": ours_environment(), "results": time_ours(doc, measure)}
    floor = time_floor(doc["sha256_inputs"], measure)
    inputs = doc["sha256_inputs"]
    report = {
        "document": {
            "source": args.source,
            "sha256": doc["sha256"],
            "ion_binary_bytes": len(doc["binary"]),
            "ion_text_bytes": len(doc["text"].encode("utf-8")),
            "sha256_calls": len(inputs),
            "sha256_input_bytes": sum(map(len, inputs)),
            "sha256_input_sizes": [len(x) for x in inputs],
        },
        "timing": {"min_time_s": min_time, "repeat": repeat, "quick": args.quick},
        "cpu_count": os.cpu_count(),
        "other_processes_cpu_share": monitor.others_share(),
        "ours": ours,
        "oracle": oracle,
        "floor": floor,
        "ratios": compute_ratios(ours["results"], oracle and oracle["results"], floor),
        "targets": {f"{k}_vs_oracle": v for k, v in TARGETS.items()},
    }
    print(render(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
