"""Large and hostile completed manifests (issue 9): the specs made one at a time match the
list the manifest gives, duplicates far apart are found, the manifest's issues past the report's
cap are counted (and the first break is still the first one), and a manifest of many keys costs
a few bytes a key, not hundreds."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from auditor.audit.layout import locate
from auditor.audit.model import MAX_ISSUES
from auditor.audit.source import Source
from tests.integration.audit_support import report_of

REPO = Path(__file__).resolve().parents[2]
_NAME = re.compile(r"(?P<strand>[A-Za-z0-9]{1,64})\.(?P<first>[0-9]{1,19})-(?P<last>[0-9]{1,19})"
                   r"\.(?P<ext>[A-Za-z0-9]{1,16})")  # fmt: skip


def _write(directory: Path, keys: list[str], started: dict[str, Any] | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "X.S.completed.manifest").write_text(
        "{keys:[" + ",".join(json.dumps(k) for k in keys) + "]}\n"
    )
    if started is not None:
        (directory / "X.started.manifest").write_text(json.dumps(started) + "\n")
    return directory


def _reference(keys: list[str], prefix: str | None) -> tuple[list[tuple[Any, ...]], list[str]]:
    """What the manifest lists, the way a list and a set say it: (index, relative path, name's
    first, last) of each first listing, and the check of each issue in order."""
    seen: set[str] = set()
    specs, issues = [], []
    for key in keys:
        rel = key[len(prefix) :] if prefix and key.startswith(prefix) else key
        if key in seen:
            issues.append("duplicate-object")
            continue
        seen.add(key)
        m = _NAME.fullmatch(rel.rsplit("/", 1)[-1])
        first = last = None
        if m is None:
            issues.append("object-name")
        else:
            first, last = int(m["first"]), int(m["last"])
            if m["strand"] != "S" or first > last:
                issues.append("object-name")
        specs.append((len(specs), rel, first, last))
    return specs, issues


def test_specs_made_one_at_a_time_are_the_manifest_list(tmp_path: Path) -> None:
    rng = random.Random(4)
    early = ["X/S.0-0.ion", "X/S.0-0.ion", "pre/X/S.0-0.ion", "X/S.1-1.ion", "X/S.0-0.ion"]
    for trial in range(7):
        keys = list(early)
        for _ in range(rng.randrange(1, 400) if trial else 0):
            i, j = rng.randrange(60), rng.randrange(60)
            strand = rng.choice(["S", "S", "S", "T"])
            name = rng.choice([f"{strand}.{i}-{j}.ion", f"{strand}.{i}-{i}.ion", f"odd{i}.ion"])
            keys.append(rng.choice(["", "pre/"]) + f"X/{name}")
        export = locate(Source.parse(str(_write(tmp_path / str(trial), keys, {"prefix": "pre/"}))))
        specs, issues = _reference(keys, "pre/")
        got = [(s.index, s.key, s.name_first, s.name_last) for s in export.objects]
        assert got == specs
        assert [i.check for i in export.issues] == issues
        assert len(export.objects) == len(specs)
        for start in (0, 1, len(specs) // 2, len(specs) - 1, len(specs)):
            assert [s.index for s in export.objects.iter_from(start)] == list(
                range(start, len(specs))
            )
        assert export.objects[-1] == list(export.objects)[-1]
        assert export.objects[1:3] == list(export.objects)[1:3]


def test_a_duplicate_far_apart_and_an_unlisted_object(tmp_path: Path) -> None:
    keys = [f"X/S.{i}-{i}.ion" for i in range(3000)]
    keys.append(keys[7])  # listed again, 2,993 keys later
    directory = _write(tmp_path / "dup", keys)
    (directory / "X").mkdir()
    (directory / "X" / "S.9000-9000.ion").write_text("{}\n")  # beside the export, unlisted
    code, report, _ = report_of(directory, "-v")
    assert code == 1
    dup = [i for i in report["issues"] if i["check"] == "duplicate-object"]
    assert [(i["object"], i["locator"]) for i in dup] == [
        ("X/S.7-7.ion", "X.S.completed.manifest: keys[3000]")
    ]
    assert report["export"]["objects"] == 3000
    assert any("X/S.9000-9000.ion" in n and "not in the manifest" in n
               for n in report["not_checked"])  # fmt: skip
    assert report["first_break"]["check"] == "missing-object"
    assert report["first_break"]["object"] == "X/S.0-0.ion"
    listed = _write(tmp_path / "listed", keys[:-1])
    code, report, _ = report_of(listed)
    assert code == 1
    assert {i["check"] for i in report["issues"]} == {"missing-object"}


def test_manifest_issues_past_the_cap_are_counted_and_the_first_break_kept(
    tmp_path: Path,
) -> None:
    bad = [f"X/odd{i}.ion" for i in range(MAX_ISSUES + 200)]  # names that do not fit: malformed
    keys = [*bad, "X/S.5-5.ion", "X/T.3-3.ion", bad[0], "X/S.4-4.ion"]  # T: another strand
    code, report, _ = report_of(_write(tmp_path / "many", keys))
    assert code == 1  # refuted, though every issue listed is malformed: the worst wins
    assert [i["object"] for i in report["issues"]] == bad[:MAX_ISSUES]  # the first ones
    # every issue counted: the bad names, the other strand, the duplicate, and each object
    # listed once is missing
    listed = len(keys) - 1
    assert report["export"]["objects"] == listed
    assert report["issues_total"] == len(bad) + 1 + 1 + listed
    checks = {c["name"]: (c["failures"], c["unreadable"]) for c in report["checks"]}
    assert checks["object-names"] == (1, len(bad))
    assert checks["manifest"] == (1 + listed, 0)
    # past the cap, and still the first break: the other strand's block 3 comes first
    assert (report["first_break"]["check"], report["first_break"]["blockAddress"]) == (
        "object-name", {"strandId": "S", "sequenceNo": 3},
    )  # fmt: skip


_PEAK = """
import resource, sys
from auditor.cli import main
try:
    main(["verify", "export", sys.argv[1]])
except SystemExit as e:
    code = e.code
print(code, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _peak_kib(directory: Path) -> int:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", _PEAK, str(directory)], capture_output=True, text=True, env=env,
        cwd=REPO, check=False, timeout=300,
    )  # fmt: skip
    code, peak = out.stdout.split()[-2:]
    assert code == "1", out.stdout[-2000:] + out.stderr[-2000:]
    return int(peak)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss in KiB: Linux")
def test_a_large_manifest_costs_bytes_a_key(tmp_path: Path) -> None:
    n = 40_000
    small = _peak_kib(_write(tmp_path / "one", ["X/S.0-0.ion"]))
    large = _peak_kib(_write(tmp_path / "many", [f"X/S.{i}-{i}.ion" for i in range(n)]))
    per_key = (large - small) * 1024 / n
    print(f"{per_key:.0f} bytes a key")
    assert per_key < 250, f"{per_key:.0f} bytes a key"  # the list of specs and dicts: ~800


def test_the_json_report_written_in_pieces_is_the_report(tmp_path: Path) -> None:
    from auditor.audit.engine import AuditOptions, audit

    keys = [f"X/S.{i}-{i}.ion" for i in range(50)] + ["X/S.3-3.ion"]
    report = audit(AuditOptions(source=str(_write(tmp_path / "m", keys))))
    assert report.exit_code == 1
    whole = json.dumps(report.to_dict(), indent=2)
    assert report.to_json() == whole
    pieces: list[str] = []
    report.write_json(pieces.append)
    assert "".join(pieces) == whole
    objects = json.loads(whole)["objects"]
    assert [o["key"] for o in objects] == [f"X/S.{i}-{i}.ion" for i in range(50)]
    assert {o["status"] for o in objects} == {"failed"}
    assert report.export["objectsByStatus"] == {"failed": 50}


def test_only_the_objects_the_manifest_does_not_list_are_unlisted(tmp_path: Path) -> None:
    from tests.integration.audit_support import export_to, make_ledger

    ledger = make_ledger(str(tmp_path / "books.db"))
    result = export_to(ledger, tmp_path / "x", "ion_text", 2)
    (tmp_path / "x" / result.export_id / "stray.ion").write_text("{}\n")
    code, report, _ = report_of(tmp_path / "x")
    assert code == 3
    notes = [n for n in report["not_checked"] if "not in the manifest" in n]
    assert notes == [
        f"1 object(s) beside the export are not in the manifest and were not used: "
        f"{result.export_id}/stray.ion"
    ]


def test_the_state_file_is_named_by_the_bytes_read_not_by_its_progress(tmp_path: Path) -> None:
    import hashlib

    from auditor.audit.engine import AuditOptions, audit
    from tests.integration.audit_support import export_to, grow, make_ledger

    ledger = make_ledger(str(tmp_path / "books.db"))
    export_to(ledger, tmp_path / "one", "ion_text", 2)
    state = tmp_path / "audit.state"
    assert audit(AuditOptions(source=str(tmp_path / "one"), state_path=str(state))).exit_code == 3
    before = hashlib.sha256(state.read_bytes()).hexdigest()
    grow(ledger, 6)
    export_to(ledger, tmp_path / "two", "ion_text", 2)
    report = audit(AuditOptions(source=str(tmp_path / "two"), state_path=str(state),
                                save_every=0.0))  # fmt: skip
    assert report.exit_code == 3
    inputs = [i for i in report.provenance["trustInputs"] if i["kind"] == "state file (as read)"]
    assert [i["sha256"] for i in inputs] == [before]  # the progress saves came after the read
    assert hashlib.sha256(state.read_bytes()).hexdigest() != before


def test_a_manifest_past_its_deadline_is_refused_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from auditor.audit import layout
    from auditor.audit.layout import LayoutError

    directory = _write(tmp_path / "late", [f"X/S.{i}-{i}.ion" for i in range(10)])
    calls: list[int] = []

    def late(base: Any = None, **_: Any) -> Any:
        calls.append(1)
        return layout._MANIFEST_LIMITS.within(-1.0)  # the deadline has passed

    monkeypatch.setattr(layout.budget, "limits", late)
    with pytest.raises(LayoutError, match=r"X\.S\.completed\.manifest") as e:
        locate(Source.parse(str(directory)))
    assert "not an Ion or JSON manifest" in str(e.value)
    assert calls == [1]  # the Ion reader, asked after the fast path, kept the same deadline
