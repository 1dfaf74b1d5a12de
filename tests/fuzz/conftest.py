"""The fuzz run's summary: per target, the inputs executed, the time they took, the slowest
input, and the hangs, tracebacks and budget overruns (each must be 0). Printed at the end of
the session; with ``QLDB_AUDIT_FUZZ_REPORT=path`` also written there as JSON."""

from __future__ import annotations

import json
import os
from typing import Any

from tests.fuzz.harness import TALLY, examples


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not TALLY:
        return
    write = terminalreporter.write_line
    terminalreporter.section("fuzz summary (tests/fuzz)")
    write(f"{'target':<16}{'inputs':>8}{'seconds':>9}{'slowest':>9}{'hangs':>7}"
          f"{'tracebacks':>11}{'overruns':>9}")  # fmt: skip
    total = {"inputs": 0, "seconds": 0.0, "hangs": 0, "tracebacks": 0, "overruns": 0}
    for target in sorted(TALLY):
        t = TALLY[target]
        write(f"{target:<16}{t.inputs:>8}{t.seconds:>9.2f}{t.slowest:>9.3f}{t.hangs:>7}"
              f"{t.tracebacks:>11}{t.overruns:>9}")  # fmt: skip
        for key in ("inputs", "hangs", "tracebacks", "overruns"):
            total[key] += getattr(t, key)
        total["seconds"] += t.seconds
    write(f"{'all':<16}{total['inputs']:>8}{total['seconds']:>9.2f}{'':>9}{total['hangs']:>7}"
          f"{total['tracebacks']:>11}{total['overruns']:>9}")  # fmt: skip
    path = os.environ.get("QLDB_AUDIT_FUZZ_REPORT")
    if path:
        report = {
            "examples_per_target": examples(0) or "the short CI counts",
            "total": {**total, "seconds": round(total["seconds"], 3)},
            "targets": {name: t.as_json() for name, t in sorted(TALLY.items())},
        }
        with open(path, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=1)
            f.write("\n")
        write(f"fuzz report written to {path}")
