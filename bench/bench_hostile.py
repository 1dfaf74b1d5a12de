"""Hostile export objects of issue 9: peak memory and time of ``qldb-audit verify export``
(flat memory in the object's size, linear time; see bench/README.md).

The objects are the recipes of ``fixtures/hostile/make_hostile.py``, each at 1, 20 and 60 MiB
(the issue's sizes: the first at 1 MiB, the second at 20 MiB, the third at 60 MiB, under the
64 MiB reader cap), put into an Ion text export written by this project's writer:

- ``newlines``: one valid block, then newlines (``padded_object``; 1 MiB: a million newlines);
- ``noise``: Ion binary noise (``binary_noise``) in place of a data object of the ION_TEXT
  export;
- ``padding``: two valid blocks with spaces and newlines between them (``padded_pair``);
- ``manifest``: a completed manifest listing 1, 100,000 and 1,000,000 keys
  (``million_keys_manifest``), none of which exists.

Each data-object case has a baseline: the same export, the same blocks, no padding. Every run
is ``qldb-audit verify export`` in its own child process (the console script beside this
interpreter, else ``python -m auditor``), with the trusted digest (QLDB's rules) and again with
``--trust-key`` (the writer's rules: exact bytes). Wall time is measured around the child;
peak RSS is the child's own ``ru_maxrss`` from ``os.wait4``. The objects are written by a
builder subprocess so that this process stays small: on Linux a child's ``ru_maxrss`` starts at
its parent's peak RSS at fork time.

Every run must end with the verdict the product documents for it, the object named in its
line, and no traceback; otherwise the script prints ``FAIL:`` lines and exits 1.

Usage: ``.venv/bin/python bench/bench_hostile.py [--sizes 1,20,60] [--keys 1,100000,1000000]
[--recipes newlines,noise,padding,manifest] [--repeat 3] [--workdir DIR] [--json FILE]``
(``--recipes manifest``: the manifest rows only).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

from bench_ion_hash import BUSY_SHARE, CpuMonitor  # noqa: E402

MiB = 1024 * 1024
RECIPES = ("newlines", "noise", "padding")
INVOICES = 8  # 10 blocks with the genesis block and the tables' creation
WARN_LOAD = 0.5
LONG = 10.0  # seconds: a run this long is not repeated
NOISE = 0.25  # seconds: differences below this are the start-up's noise, not a rate


# -- the builder (a subprocess: it imports auditor and holds the big objects) -------------------
def build(
    workdir: Path, sizes: list[int], keys: list[int], recipes: tuple[str, ...] = RECIPES
) -> list[dict[str, Any]]:
    """Write every case's export under ``workdir``; return the cases (see :class:`Case`)."""
    from auditor.export import export
    from auditor.ledger import Ledger
    from fixtures.hostile import make_hostile

    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    ledger = Ledger.create(str(workdir / "ledger.db"), "bench", tables=["invoices"])
    for i in range(INVOICES):
        ledger.put("invoices", f"INV{i}", {"amount": Decimal(f"{100 + i}.50"), "status": "NEW"})
    digest = json.dumps(ledger.digest().get_digest_json()) + "\n"
    cases: list[dict[str, Any]] = []
    for recipe in recipes:
        base = workdir / recipe / "baseline"
        # one block per object, so that the padded block keeps the export's block count; two
        # for the pair
        result = export(ledger, str(base), "ion_text",
                        max_blocks_per_object=2 if recipe == "padding" else 1)  # fmt: skip
        (base / "trusted.json").write_text(digest)
        index = 1 if recipe == "noise" else 0  # noise replaces a block in the middle
        key = result.keys[index]
        original = Path(result.location(key)).read_bytes()
        common = {"recipe": recipe, "key": key, "vkey": ledger.vkey}
        cases.append({**common, "size": 0, "source": str(base), "object_bytes": len(original)})
        for size in sizes:
            dest = workdir / recipe / f"{size}MiB"
            shutil.copytree(base, dest)
            if recipe == "newlines":
                data = make_hostile.padded_object(original, size * MiB)
            elif recipe == "noise":
                data = make_hostile.binary_noise(size * MiB)
            else:
                first, _, rest = original.partition(b"\n")
                data = make_hostile.padded_pair(first, rest, size * MiB)
            (dest / key).write_bytes(data)
            cases.append({**common, "size": size, "source": str(dest), "object_bytes": len(data)})
            del data
    ledger.close()
    for count in keys:
        dest = workdir / "manifest" / f"{count}keys"
        dest.mkdir(parents=True)
        manifest = make_hostile.million_keys_manifest(count)
        (dest / "X.S.completed.manifest").write_bytes(manifest)
        cases.append({"recipe": "manifest", "key": "X/S.0-0.ion", "vkey": None, "size": count,
                      "source": str(dest), "object_bytes": len(manifest)})  # fmt: skip
    return cases


# -- the measurement ------------------------------------------------------------------------------
@dataclass
class Run:
    recipe: str
    rules: str
    size: int  # MiB of the hostile object (0: the baseline); keys for the manifest
    object_bytes: int
    expected: int
    code: int = -1
    seconds: float = 0.0
    peak_rss_mib: float = 0.0
    others_cpu: float | None = None
    load_before: float = 0.0
    verdict: str = ""
    problems: list[str] = field(default_factory=list)


def command() -> list[str]:
    script = Path(sys.executable).with_name("qldb-audit")
    return [str(script)] if script.exists() else [sys.executable, "-m", "auditor"]


def expected_code(recipe: str, rules: str, size: int) -> int:
    """The verdict the product documents (README "Exit codes", `verify export --help`)."""
    if recipe == "manifest":
        return 1  # every listed object is missing: refuted, the first one named
    if size == 0:
        return 0  # the baseline verifies
    if recipe == "noise":
        return 2  # the object is unreadable (not Ion text), named
    # whitespace between Ion values is not data: QLDB's rules prove every claim (0); the
    # writer's rules check the exact bytes, so the padding is a layout break (1), named
    return 0 if rules == "qldb" else 1


def measure(case: dict[str, Any], rules: str, repeat: int) -> Run:
    source = Path(case["source"])
    args = ["verify", "export", str(source)]
    if case["recipe"] != "manifest":
        args += ["--digest", str(source / "trusted.json")]
    if rules == "writer":
        args += ["--trust-key", case["vkey"]]
    run = Run(case["recipe"], rules, case["size"], case["object_bytes"],
              expected_code(case["recipe"], rules, case["size"]))  # fmt: skip
    best: tuple[float, float, float | None, int, str, str] | None = None
    for _ in range(repeat):
        if best is not None and best[0] > LONG:
            break  # start-up noise no longer matters
        run.load_before = max(run.load_before, os.getloadavg()[0])
        monitor = CpuMonitor()
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            started = time.perf_counter()
            child = subprocess.Popen([*command(), *args], stdout=out, stderr=err, cwd=REPO)
            _, status, usage = os.wait4(child.pid, 0)
            seconds = time.perf_counter() - started
            child.returncode = os.waitstatus_to_exitcode(status)
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read().decode(errors="replace"), err.read().decode("replace")
        rss = usage.ru_maxrss / 1024
        if best is None or seconds < best[0]:
            best = (seconds, rss, monitor.others_share(), child.returncode, stdout, stderr)
    assert best is not None
    run.seconds, run.peak_rss_mib, run.others_cpu, run.code, stdout, stderr = best
    run.verdict = stdout.splitlines()[0] if stdout else stderr.strip()[-300:]
    run.problems = check(run, case["key"], stdout, stderr)
    return run


def check(run: Run, key: str, stdout: str, stderr: str) -> list[str]:
    """What is wrong with this run's verdict (nothing: an empty list)."""
    problems = []
    if run.code != run.expected:
        problems.append(f"exit {run.code}, expected {run.expected}")
    if "Traceback" in stdout + stderr:
        problems.append("a traceback")
    tag = {0: "OK: ", 1: "FAIL: ", 2: "ERROR: "}.get(run.expected, "")
    lines = [line.strip() for line in stdout.splitlines()]
    if not lines or not lines[0].startswith(tag) or f"(exit {run.expected})" not in lines[0]:
        problems.append(f"the verdict line is not {tag!r}...(exit {run.expected})")
    if run.expected != 0 and not any(line.startswith(tag) and key in line for line in lines[1:]):
        problems.append(f"no {tag.strip()} line names the object {key}")
    if run.expected == 1 and run.recipe in ("newlines", "padding"):
        # the break is the padding: before block 1 of the pair, after the one block; block 0's
        # own bytes are genuine and are never the break
        where = "first break at block 1" if run.recipe == "padding" else "after the last block"
        if lines and where not in stdout:
            problems.append(f"the layout break is not named where the padding is ({where!r})")
        if any("block 0 (layout)" in line and "before this block" in line for line in lines):
            problems.append("block 0 is called a layout break before itself")
    return problems


# -- the report -----------------------------------------------------------------------------------
def rates(runs: list[Run]) -> dict[tuple[str, str, int], dict[str, float | None]]:
    """Per hostile run: the peak RSS and seconds above its baseline, and MB/s of the object's
    bytes over the extra time (a linear reader has the same MB/s at every size)."""
    base = {(r.recipe, r.rules): r for r in runs if r.size == 0 or r.recipe == "manifest"}
    if any(r.recipe == "manifest" for r in runs):
        smallest = min(r.size for r in runs if r.recipe == "manifest")
        base[("manifest", "qldb")] = next(
            r for r in runs if r.recipe == "manifest" and r.size == smallest
        )
    out: dict[tuple[str, str, int], dict[str, float | None]] = {}
    for r in runs:
        b = base[(r.recipe, r.rules)]
        if b is r:
            continue
        extra = r.seconds - b.seconds
        out[(r.recipe, r.rules, r.size)] = {
            "extra_seconds": extra,
            "extra_rss_mib": r.peak_rss_mib - b.peak_rss_mib,
            "mb_per_s": (r.object_bytes - b.object_bytes) / 1e6 / extra if extra > NOISE else None,
        }
    return out


def steps(runs: list[Run]) -> list[str]:
    """Linear time: MB/s between consecutive sizes of one recipe (equal at every step)."""
    lines = []
    for recipe, rules in dict.fromkeys((r.recipe, r.rules) for r in runs):
        series = [r for r in runs if (r.recipe, r.rules) == (recipe, rules)]
        parts = []
        for a, b in itertools.pairwise(series):
            dt = b.seconds - a.seconds
            mb = (b.object_bytes - a.object_bytes) / 1e6
            rate = f"{mb / dt:.1f} MB/s" if dt > NOISE else f"< {NOISE} s more (no rate)"
            parts.append(f"{a.object_bytes / 1e6:.1f}->{b.object_bytes / 1e6:.1f} MB: {rate}")
        if parts:
            lines.append(f"{recipe} ({rules} rules): " + "; ".join(parts))
    return lines


def render(runs: list[Run], derived: dict[tuple[str, str, int], dict[str, float | None]]) -> str:
    lines = [
        f"{'object':<26} {'rules':<6} {'bytes':>12} {'exit':>4} {'s':>7} {'+s':>7} {'MB/s':>6} "
        f"{'RSS MiB':>8} {'+MiB':>6} {'others':>6} {'load':>5}",
    ]
    for r in runs:
        if r.recipe == "manifest":
            what = f"manifest, {r.size:,} keys"
        else:
            what = f"{r.recipe}, " + (f"{r.size} MiB" if r.size else "baseline")
        d = derived.get((r.recipe, r.rules, r.size), {})
        extra, mem, mbs = d.get("extra_seconds"), d.get("extra_rss_mib"), d.get("mb_per_s")
        others = "?" if r.others_cpu is None else f"{r.others_cpu:.0%}"
        lines.append(
            f"{what:<26} {r.rules:<6} {r.object_bytes:>12,} {r.code:>4} {r.seconds:>7.2f} "
            f"{'' if extra is None else f'{extra:+.2f}':>7} "
            f"{'' if mbs is None else f'{mbs:.1f}':>6} {r.peak_rss_mib:>8.1f} "
            f"{'' if mem is None else f'{mem:+.1f}':>6} {others:>6} {r.load_before:>5.2f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", type=Path, help=argparse.SUPPRESS)  # the builder subprocess
    parser.add_argument("--sizes", default="1,20,60", help="MiB of each hostile data object")
    parser.add_argument("--keys", default="1,100000,1000000", help="keys of the manifests")
    parser.add_argument("--recipes", default=",".join((*RECIPES, "manifest")),
                        help="which cases: newlines, noise, padding, manifest")  # fmt: skip
    parser.add_argument("--rules", default="qldb,writer", help="qldb, writer or both")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help=f"runs per case, the fastest counts (one if over {LONG:.0f} s)",
    )
    parser.add_argument("--workdir", type=Path,
                        default=Path(tempfile.gettempdir()) / "qldb-bench-hostile")  # fmt: skip
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    recipes = [r for r in args.recipes.split(",") if r]
    if not set(recipes) <= {*RECIPES, "manifest"}:
        parser.error("--recipes: newlines, noise, padding and/or manifest")
    keys = [int(k) for k in args.keys.split(",") if k] if "manifest" in recipes else []
    objects = tuple(r for r in RECIPES if r in recipes)
    if args.build:
        print(json.dumps(build(args.build, sizes, keys, objects)))
        return 0
    if any(not 0 < s < 64 for s in sizes):
        parser.error("--sizes: each between 1 and 63 MiB (the reader's cap is 64 MiB)")
    all_rules = [r for r in args.rules.split(",") if r]
    if not set(all_rules) <= {"qldb", "writer"}:
        parser.error("--rules: qldb, writer or qldb,writer")

    load_start = os.getloadavg()
    print(f"building the objects in {args.workdir} ...", file=sys.stderr)
    built = subprocess.run(
        [sys.executable, __file__, "--build", str(args.workdir), "--sizes", args.sizes,
         "--keys", ",".join(map(str, keys)), "--recipes", ",".join(recipes)],
        capture_output=True, text=True, check=False, cwd=REPO,
    )  # fmt: skip
    if built.returncode != 0:
        raise SystemExit(f"FAIL: building the objects failed\n{built.stderr}")
    cases = json.loads(built.stdout)
    parent_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    monitor = CpuMonitor()
    runs: list[Run] = []
    for case in cases:
        for rules in all_rules if case["recipe"] != "manifest" else ["qldb"]:
            run = measure(case, rules, args.repeat)
            runs.append(run)
            print(f"{run.recipe} {run.size} {rules}: exit {run.code} in {run.seconds:.2f} s, "
                  f"{run.peak_rss_mib:.0f} MiB", file=sys.stderr)  # fmt: skip
    others = monitor.others_share()
    load_end = os.getloadavg()
    derived = rates(runs)
    print(render(runs, derived))
    print("\ntime per step in size (linear time: the same MB/s at every step):")
    for line in steps(runs):
        print(f"  {line}")
    print(
        f"\nmachine: {os.cpu_count()} cores, Python {platform.python_version()}; load average "
        f"{load_start[0]:.2f} before, {load_end[0]:.2f} after; other processes used "
        f"{'?' if others is None else f'{others:.0%}'} of all cores during the runs; this "
        f"process's peak RSS {parent_rss:.0f} MiB (a floor under every child's figure)"
    )
    warnings = []
    if others is not None and others > BUSY_SHARE:
        warnings.append(f"other processes used {others:.0%} of the cores: times are high")
    if load_start[0] > WARN_LOAD or load_end[0] > WARN_LOAD:
        warnings.append("the machine was loaded (load average above 0.5): times are high")
    if any(r.peak_rss_mib <= parent_rss * 1.1 for r in runs):
        warnings.append("a child's peak RSS is at this process's own: that figure is a floor")
    for line in warnings:
        print(f"WARNING: {line}")
    failures = [f"FAIL: {r.recipe} {r.size} ({r.rules} rules): {p}; verdict: {r.verdict}"
                for r in runs for p in r.problems]  # fmt: skip
    for line in failures:
        print(line)
    if args.json:
        report = {
            "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
            "load_average_before": load_start, "load_average_after": load_end,
            "others_cpu_share": others, "bench_peak_rss_mib": parent_rss,
            "command": command(), "runs": [asdict(r) for r in runs],
            "steps": steps(runs), "derived": [{"recipe": k[0], "rules": k[1], "size": k[2], **v}
                        for k, v in derived.items()],
            "warnings": warnings, "failures": failures,
        }  # fmt: skip
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
