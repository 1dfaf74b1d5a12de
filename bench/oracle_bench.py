"""Oracle side of the Ion Hash benchmark: ``ionhash`` 1.2.1 on amazon.ion 0.9.3 (pyqldb's stack).

Runs in the oracle environment (``make oracle`` builds ``.venv-oracle``), normally started by
``bench_ion_hash.py`` as a subprocess. It imports only the standard library, ``amazon.ion`` and
``ionhash``; never ``proofs``. Prints one JSON object to stdout.

Standalone: ``.venv-oracle/bin/python bench/oracle_bench.py [--quick]``.

The timing helpers (:func:`measure` and friends) use only the standard library and are shared
with ``bench_ion_hash.py``, so both processes time operations the same way.
"""

from __future__ import annotations

import argparse
import base64
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

DEFAULT_FIXTURE = (
    Path(__file__).resolve().parent.parent / "fixtures/ion-hash/derived/ion_hash_sha256.jsonl"
)
DEFAULT_SOURCE = "bench:invoice"

# Timing: grow the loop count (1, 2, 5, 10, 20, 50, ...) until one loop lasts >= MIN_TIME,
# then time REPEAT loops of that count and report the median time per operation.
MIN_TIME = 0.3
REPEAT = 7
QUICK_MIN_TIME = 0.02
QUICK_REPEAT = 3


def load_record(fixture: Path = DEFAULT_FIXTURE, source: str = DEFAULT_SOURCE) -> dict[str, Any]:
    """Return the first JSON line of ``fixture`` whose "source" is ``source``."""
    with fixture.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                record: dict[str, Any] = json.loads(line)
                if record.get("source") == source:
                    return record
    raise SystemExit(f"no record with source {source!r} in {fixture}")


def _loop(fn: Callable[[], object], number: int) -> float:
    timer = time.perf_counter
    it = range(number)
    start = timer()
    for _ in it:
        fn()
    return timer() - start


def measure(
    fn: Callable[[], object], min_time: float = MIN_TIME, repeat: int = REPEAT
) -> dict[str, Any]:
    """Time ``fn``: loop count grown until one loop lasts >= min_time, then ``repeat`` loops.

    Returns the median per-call time in µs, its reciprocal in calls/s, the fastest and slowest
    repetition, the loop count and the per-call time of every repetition (µs).
    """
    fn()  # warm up (caches, lazy imports)
    number = 1
    while True:
        for step in (1, 2, 5):
            n = number * step
            if _loop(fn, n) >= min_time:
                number = n
                break
        else:
            number *= 10
            continue
        break
    samples = [_loop(fn, number) / number * 1e6 for _ in range(repeat)]
    median = statistics.median(samples)
    return {
        "us_per_doc": median,
        "docs_per_s": 1e6 / median,
        "min_us": min(samples),
        "max_us": max(samples),
        "loops": number,
        "repeat": repeat,
        "samples_us": samples,
    }


def timing_params(quick: bool) -> tuple[float, int]:
    return (QUICK_MIN_TIME, QUICK_REPEAT) if quick else (MIN_TIME, REPEAT)


def run(record: dict[str, Any], min_time: float, repeat: int) -> dict[str, Any]:
    import amazon.ion
    import ionhash
    from amazon.ion import simpleion
    from ionhash.fast_value_hasher import hash_value
    from ionhash.hasher import hashlib_hash_function_provider

    binary = base64.b64decode(record["ion_binary_b64"])
    text = record["ion_text"]
    expected = record["sha256"]
    hfp = hashlib_hash_function_provider("sha256")
    loads = simpleion.loads

    from_binary = loads(binary)
    from_text = loads(text)
    got = {
        "binary": hash_value(from_binary, hfp).hex(),
        "text": hash_value(from_text, hfp).hex(),
        "ion_hash_method": from_binary.ion_hash("SHA256").hex(),
    }
    for what, digest in got.items():
        if digest != expected:
            raise SystemExit(f"oracle hash mismatch ({what}): {digest} != expected {expected}")

    results = {
        "hash_only": measure(lambda: hash_value(from_binary, hfp), min_time, repeat),
        "parse_hash_binary": measure(lambda: hash_value(loads(binary), hfp), min_time, repeat),
        "parse_hash_text": measure(lambda: hash_value(loads(text), hfp), min_time, repeat),
        "loads_binary": measure(lambda: loads(binary), min_time, repeat),
        "loads_text": measure(lambda: loads(text), min_time, repeat),
    }
    return {
        "python": platform.python_version(),
        "amazon.ion": getattr(amazon.ion, "__version__", None) or _dist_version("amazon.ion"),
        "ionhash": getattr(ionhash, "__version__", None) or _dist_version("ionhash"),
        "c_extension": bool(getattr(simpleion, "c_ext", False)),
        "sha256": got["binary"],
        "results": results,
    }


def _dist_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixture", type=Path, default=DEFAULT_FIXTURE)
    parser.add_argument("--source", default=DEFAULT_SOURCE)
    parser.add_argument("--quick", action="store_true", help="short loops, 3 repetitions")
    parser.add_argument("--min-time", type=float, help="seconds one timed loop must last")
    parser.add_argument("--repeat", type=int, help="timed loops per operation")
    args = parser.parse_args(argv)
    min_time, repeat = timing_params(args.quick)
    min_time = args.min_time if args.min_time is not None else min_time
    repeat = args.repeat if args.repeat is not None else repeat
    out = run(load_record(args.fixture, args.source), min_time, repeat)
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
