"""Exports name their own files, and reports name the file actually read.

A directory export's manifests list keys relative to the directory (``prefix: ""``), so a copy
is self-contained. An auditor who edits a *copy* gets a failure naming the copy's file (by its
path relative to the export root), never the untampered original — also for exports whose
manifests list the exporter's absolute paths (as this project wrote them before).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from amazon.ion import simpleion

from auditor.ledger import Ledger
from tests.integration.audit_support import (
    export_to,
    lines_of,
    make_ledger,
    report_of,
    rewrite_manifest_keys,
    write_lines,
)


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    ledger = make_ledger(str(tmp_path_factory.mktemp("paths") / "books.db"))
    yield ledger
    ledger.close()


@pytest.mark.parametrize("fmt", ["ion_text", "json"])
def test_directory_manifests_hold_no_machine_path(ledger: Ledger, tmp_path: Path, fmt: str) -> None:
    dest = tmp_path / "exports"
    result = export_to(ledger, dest, fmt)
    for name in (result.started_manifest, result.completed_manifest):
        text = Path(result.location(name)).read_text()
        assert str(tmp_path) not in text
        assert "/tmp" not in text
    started = simpleion.loads(Path(result.location(result.started_manifest)).read_text())
    assert (started["bucket"], started["prefix"]) == ("", "")
    completed = simpleion.loads(Path(result.location(result.completed_manifest)).read_text())
    assert list(completed["keys"]) == list(result.keys)
    for key in result.keys:
        assert key.startswith(f"{result.export_id}/")
        assert not os.path.isabs(key)
        assert (dest / key).is_file()
    assert result.location(result.keys[0]) == str(dest / result.keys[0])


def _tamper(copy: Path, key: str) -> None:
    """Change one revision's amount in the second block of the object ``key``."""
    path = copy / key
    lines = lines_of(path)
    assert b"amount:" in lines[1]
    lines[1] = lines[1].replace(b"amount:", b"amount:1", 1)
    write_lines(path, lines)


def _check_names_the_copy(report: dict, stderr: str, original: Path, key: str) -> None:
    issues = [i for i in report["issues"] if i["kind"] == "failed"]
    assert issues, stderr
    assert {i["object"] for i in issues} == {key}
    assert report["first_break"]["object"] == key
    everything = json.dumps(report) + stderr
    assert str(original) not in everything  # the untampered original is never named


def test_a_failure_in_an_edited_copy_names_the_copys_file(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = tmp_path / "original"
    result = export_to(ledger, original, "ion_text")
    copy = tmp_path / "copy"
    shutil.copytree(original, copy)
    key = next(k for k in result.keys if b"amount:" in lines_of(copy / k)[1:2][0])
    _tamper(copy, key)
    monkeypatch.chdir(tmp_path)
    assert report_of("original", "--trust-key", ledger.vkey)[0] == 0  # untouched
    code, report, stderr = report_of("copy", "--trust-key", ledger.vkey)
    assert code == 1, stderr
    _check_names_the_copy(report, stderr, original, key)
    assert f"FAIL: copy: export {result.export_id}" in stderr
    html = tmp_path / "report.html"
    assert report_of("copy", "--trust-key", ledger.vkey, "--html", html)[0] == 1
    assert key in html.read_text()
    assert str(original) not in html.read_text()


def test_an_old_export_listing_absolute_paths_still_names_the_copy(
    ledger: Ledger, tmp_path: Path
) -> None:
    """Manifests whose keys are the exporter's absolute paths (``prefix`` the directory)."""
    original = tmp_path / "original"
    result = export_to(ledger, original, "ion_text")
    started_path = Path(result.location(result.started_manifest))
    started = simpleion.loads(started_path.read_text())
    started["prefix"] = str(original) + os.sep
    started_path.write_text(simpleion.dumps(started, binary=False, omit_version_marker=True))
    rewrite_manifest_keys(result, [result.location(k) for k in result.keys])
    copy = tmp_path / "copy"
    shutil.copytree(original, copy)
    key = next(k for k in result.keys if b"amount:" in lines_of(copy / k)[1:2][0])
    _tamper(copy, key)
    code, report, stderr = report_of(copy, "--trust-key", ledger.vkey)
    assert code == 1, stderr
    _check_names_the_copy(report, stderr, original, key)
