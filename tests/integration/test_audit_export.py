"""``qldb-audit verify export`` end to end: the writer's exports (every format, with updates,
deletes and redactions) verify; tampering is exit 1 with the block named; unreadable objects
are exit 2 with the object named; reports (JSON, JUnit, HTML); S3 on a real moto server; the
real-QLDB fixture exports; one run of the real console entry point in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditor.ledger import Ledger
from proofs.note import parse_vkey
from tests.integration.audit_support import (
    FORMATS,
    digest_file,
    export_to,
    lines_of,
    make_ledger,
    moto_server,
    report_of,
    rewrite_manifest_keys,
    run,
    use_s3,
    write_lines,
)

ROOT = Path(__file__).resolve().parents[2]
EXPORTS = ROOT / "fixtures" / "qldb" / "exports"


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    ledger = make_ledger(str(tmp_path_factory.mktemp("audit") / "books.db"))
    ledger.verify_journal()
    yield ledger
    ledger.close()


@pytest.fixture
def no_debug(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QLDB_AUDIT_DEBUG", raising=False)


# -- exports of the writer verify ---------------------------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS)
def test_writer_exports_verify(ledger: Ledger, tmp_path: Path, fmt: str) -> None:
    result = export_to(ledger, tmp_path / "x", fmt)
    tip = ledger.tip()
    code, report, stderr = report_of(tmp_path / "x", "--trust-key", ledger.vkey)
    assert code == 0, stderr
    assert stderr.startswith("OK: ")
    assert report["format"] == "qldb-audit-export-report"
    assert report["version"] == 2
    assert report["status"] == "verified"
    assert report["verdict"]["status"] == "verified"
    key = parse_vkey(ledger.vkey)
    anchor = f"the key {key.name}+{key.key_id.hex()} you supplied (--trust-key)"
    assert report["verdict"]["anchors"] == [anchor]
    assert report["export"]["rules"] == "writer"
    assert report["export"]["outputFormat"] == fmt.upper()
    assert (report["export"]["firstBlock"], report["export"]["lastBlock"]) == (0, tip)
    counts = report["counts"]
    assert counts["blocks"] == counts["blocks_verified"] == tip + 1
    revisions = counts["revisions"]
    assert revisions["hash_only"] == 1  # the redacted invoice
    assert revisions["deleted"] == revisions["deleted_recomputed"] == 1
    assert revisions["failed"] == 0
    assert revisions["verified"] == revisions["total"] - 2 > 10
    digest_json = json.loads(Path(result.location(result.digest_json)).read_text())
    assert report["digest"] == {
        "tip": tip, "digest": digest_json["Digest"],
        "attested": True, "attestedBy": [result.checkpoint], "note": "",
    }  # fmt: skip
    assert {c["name"]: c["status"] for c in report["checks"]} == {
        "manifest": "passed", "objects-readable": "passed", "object-names": "passed",
        "sequence": "passed", "chain": "passed", "blocks": "passed", "writer-layout": "passed",
        "state": "not-checked", "digests": "passed",
    }  # fmt: skip
    assert all(c["scope"] for c in report["checks"])
    assert report["first_break"] is None
    assert report["timing"]["revisionsPerSecond"] > 0
    # without a trusted key: QLDB rules, and nothing attests it: not proven, each claim named
    code, report, stderr = report_of(tmp_path / "x")
    assert code == 3, stderr
    assert stderr.startswith("NOT PROVEN: ")
    unproven = {c["name"] for c in report["verdict"]["claims"] if c["status"] == "not-proven"}
    assert unproven == {"anchor", "deleted-revisions"}  # QLDB has no rule for deleted ones
    digest = digest_file(ledger, tmp_path / "digest.json")
    # a GetDigest you supply attests; the writer's rules (named by you) recompute the delete
    assert run(tmp_path / "x", "--digest", digest).exit_code == 3
    assert run(tmp_path / "x", "--digest", digest, "--accept-deleted").exit_code == 0
    assert run(tmp_path / "x", "--digest", digest, "--rules", "writer").exit_code == 0


# -- tampering: exit 1 and the exact block ------------------------------------------------------
def _flip_timestamp(result: Any, tmp: Path) -> int:
    """One bit of blockTimestamp in block 5 (covered only by the writer's header entry)."""
    path = Path(result.location(result.keys[1]))  # blocks 4-7
    lines = lines_of(path)
    line = lines[1]
    at = line.index(b"blockTimestamp:") + len(b"blockTimestamp:2024-05-01T00:00:0")
    lines[1] = line[:at] + bytes([line[at] ^ 0x01]) + line[at + 1 :]
    write_lines(path, lines)
    return 5


def _remove_block(result: Any, tmp: Path) -> int:
    path = Path(result.location(result.keys[0]))
    lines = lines_of(path)
    del lines[2]
    write_lines(path, lines)
    return 2


def _swap_blocks(result: Any, tmp: Path) -> int:
    path = Path(result.location(result.keys[1]))
    lines = lines_of(path)
    lines[1], lines[2] = lines[2], lines[1]
    write_lines(path, lines)
    return 5


def _move_block(result: Any, tmp: Path) -> int:
    first, second = Path(result.location(result.keys[0])), Path(result.location(result.keys[1]))
    a, b = lines_of(first), lines_of(second)
    write_lines(first, a[:-1])
    write_lines(second, [a[-1], *b])
    return 3


def _missing_object(result: Any, tmp: Path) -> int:
    os.unlink(result.location(result.keys[1]))  # the manifest still lists it
    rewrite_manifest_keys(result, list(result.keys))
    return 4


def _revision_data(result: Any, tmp: Path) -> int:
    path = Path(result.location(result.keys[1]))
    lines = lines_of(path)
    assert b"101.50" in lines[0]
    lines[0] = lines[0].replace(b"101.50", b"901.50", 1)
    write_lines(path, lines)
    return 4


TAMPERING = {
    "flipped-timestamp-bit": _flip_timestamp,
    "removed-block": _remove_block,
    "swapped-blocks": _swap_blocks,
    "block-moved-to-another-object": _move_block,
    "manifest-lists-a-missing-object": _missing_object,
    "changed-revision-data": _revision_data,
}


@pytest.mark.parametrize("case", sorted(TAMPERING))
def test_tampering_is_exit_1_naming_the_block(
    ledger: Ledger, tmp_path: Path, case: str, no_debug: None
) -> None:
    result = export_to(ledger, tmp_path / "x", "ion_text")
    assert [Path(k).name.split(".")[1] for k in result.keys[:2]] == ["0-3", "4-7"]
    seq = TAMPERING[case](result, tmp_path)
    code, report, stderr = report_of(tmp_path / "x", "--trust-key", ledger.vkey)
    assert code == 1, stderr
    assert stderr.startswith("FAIL: ")
    assert report["status"] == "refuted"
    first = report["first_break"]
    assert first["kind"] == "failed"
    assert first["blockAddress"] == {"strandId": ledger.strand_id, "sequenceNo": seq}, first
    assert f"first break at block {seq}" in stderr.splitlines()[0]
    assert first["message"]
    assert first["expected"] is not None or first["check"] in ("missing-object",)


def test_a_digest_from_a_forked_ledger_is_exit_1(
    ledger: Ledger, tmp_path: Path, no_debug: None
) -> None:
    """Same seed, same ids, same key: the fork differs from block 16 on."""
    fork = make_ledger(str(tmp_path / "fork.db"))
    tip = ledger.tip()
    assert fork.strand_id == ledger.strand_id
    fork.put("invoices", "INV4", {"amount": 2, "status": "FORGED"})  # one more block, other data
    assert bytes(fork.block(tip)["blockHash"]) == bytes(ledger.block(tip)["blockHash"])
    forked = digest_file(fork, tmp_path / "forked.json", fork.tip())
    ledger_branch = make_ledger(str(tmp_path / "branch.db"))
    ledger_branch.put("invoices", "INV4", {"amount": 3, "status": "REAL"})
    export_to(ledger_branch, tmp_path / "y")
    code, report, stderr = report_of(tmp_path / "y", "--digest", forked)
    assert code == 1, stderr
    first = report["first_break"]
    assert first["check"] == "digest"
    assert first["blockAddress"]["sequenceNo"] == fork.tip()
    assert first["expected"] == fork.digest().get_digest_json()["Digest"]
    assert first["actual"] == ledger_branch.digest().get_digest_json()["Digest"]
    # the fork's signed checkpoint (same key) fails the same way
    checkpoint = tmp_path / "fork.checkpoint"
    checkpoint.write_text(fork.digest().checkpoint)
    code, report, _ = report_of(tmp_path / "y", "--digest", checkpoint, "--trust-key", fork.vkey)
    assert code == 1
    assert report["first_break"]["check"] == "digest"


@pytest.mark.parametrize("fmt", FORMATS)
def test_unreadable_objects_are_exit_2_naming_the_object(
    ledger: Ledger, tmp_path: Path, fmt: str, no_debug: None
) -> None:
    result = export_to(ledger, tmp_path / "x", fmt)
    truncated, foreign = (
        Path(result.location(result.keys[1])),
        Path(result.location(result.keys[2])),
    )
    truncated.write_bytes(truncated.read_bytes()[:-40])
    foreign.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(100))
    code, report, stderr = report_of(tmp_path / "x", "--trust-key", ledger.vkey)
    assert code == 2, stderr
    assert stderr.startswith("ERROR: ")
    unreadable = [i for i in report["issues"] if i["kind"] == "malformed"]
    assert {i["object"] for i in unreadable} == {result.keys[1], result.keys[2]}
    assert {i["check"] for i in unreadable} == {"truncated", "not-json" if fmt == "json" else
                                                "not-ion"}  # fmt: skip
    assert all(i["object"] in stderr for i in unreadable)
    assert not [i for i in report["issues"] if i["kind"] == "failed"]


def test_usage_errors_are_one_line(tmp_path: Path, no_debug: None) -> None:
    for args, text in (
        ([tmp_path / "nowhere"], "not a directory"),
        ([tmp_path], "no completed manifest"),
        ([tmp_path, "--trust-key", "nonsense+key"], "--trust-key"),
        (["ftp://x/y"], "expected a directory or s3://"),
    ):
        result = run(*args)
        assert result.exit_code == 2, args
        assert result.stderr.startswith("ERROR: ")
        assert text in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


# -- reports ------------------------------------------------------------------------------------
def test_junit_and_html_reports(ledger: Ledger, tmp_path: Path, no_debug: None) -> None:
    result = export_to(ledger, tmp_path / "x", "ion_text")
    _revision_data(result, tmp_path)
    junit, page = tmp_path / "audit.xml", tmp_path / "audit.html"
    code = run(tmp_path / "x", "--junit", junit, "--html", page).exit_code
    assert code == 1
    suite = ET.parse(junit).getroot()
    assert suite.tag == "testsuite"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert {"manifest", "sequence", "chain", "blocks", "digests", "attestation"} <= set(cases)
    assert cases["blocks"].find("failure") is not None
    assert "revision-hash" in (cases["blocks"].find("failure").text or "")
    assert cases["chain"].find("failure") is None
    assert int(suite.get("failures", "0")) >= 1
    text = page.read_text()
    assert text.startswith("<!DOCTYPE html>")
    assert "REFUTED (exit 1)" in text
    assert "First break" in text
    assert "What was not checked" in text
    assert "<script" not in text
    assert "http://" not in text
    assert "https://" not in text


# -- S3 -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from moto_server(tmp_path_factory.mktemp("moto"))


def test_s3_export_verifies_and_a_missing_object_fails(
    ledger: Ledger, tmp_path: Path, moto: str, monkeypatch: pytest.MonkeyPatch, no_debug: None
) -> None:
    s3 = use_s3(monkeypatch, moto, tmp_path)
    s3.create_bucket(Bucket="journal")
    result = export_to(ledger, "s3://journal/nightly/", "ion_binary")  # type: ignore[arg-type]
    code, report, stderr = report_of("s3://journal/nightly", "--trust-key", ledger.vkey)
    assert code == 0, stderr
    assert report["counts"]["blocks_verified"] == ledger.tip() + 1
    s3.delete_object(Bucket="journal", Key=result.keys[2])
    code, report, stderr = report_of("s3://journal/nightly", "--trust-key", ledger.vkey)
    assert code == 1, stderr
    assert report["first_break"]["check"] == "missing-object"
    assert report["first_break"]["blockAddress"]["sequenceNo"] == 8
    assert run("s3://no-such-bucket/x").exit_code == 2


# -- real QLDB data -----------------------------------------------------------------------------
def test_real_qldb_fixture_exports(no_debug: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(EXPORTS)
    manifest = json.loads((EXPORTS / "manifest.json").read_text())
    for entry in manifest:
        args = [entry["export"]] + [
            f"{entry['export']}/{a}" if a.endswith(".json") else a for a in entry["args"]
        ]
        code, report, stderr = report_of(*args)
        assert code == entry["exit_code"], (entry, stderr)
        assert report["export"]["rules"] == "qldb"
    code, report, _ = report_of(
        "real-KmA3-block-100", "--digest", "real-KmA3-block-100/proofs.json"
    )
    assert report["counts"]["revisions"]["verified"] == 1
    assert report["digests"][0]["kind"] == "proofs-json"
    assert report["digests"][0]["status"] == "verified"
    assert report["export"]["firstBlock"] == report["export"]["lastBlock"] == 100
    code, report, _ = report_of(
        "real-KmA3-block-100-json", "--digest", "real-KmA3-block-100-json/proofs.json"
    )
    assert report["first_break"] is None  # JSON cannot show that the data was changed
    assert report["counts"]["revisions"]["unproven"] == 1
    claims = {c["name"]: c["status"] for c in report["verdict"]["claims"]}
    assert claims["json-types"] == "not-proven"
    assert report["digests"][0]["status"] == "verified"  # the chain and proof still hold
    code, report, _ = report_of("constructed-qldb-shapes", "--digest",
                                "constructed-qldb-shapes/digest-tip4.json")  # fmt: skip
    revisions = report["counts"]["revisions"]
    assert (revisions["verified"], revisions["hash_only"], revisions["deleted"],
            revisions["system"]) == (2, 1, 1, 2)  # fmt: skip
    assert any("deleted revision(s): QLDB's hash rule" in n for n in report["not_checked"])
    assert report["opaque_blocks"] == {"total": 2, "blocks": [0, 4]}
    assert [r["kind"] for r in report["redacted_and_deleted"]["revisions"]] == [
        "redacted",
        "deleted",
    ]


def test_real_qldb_fixture_exports_regenerate(tmp_path: Path) -> None:
    sys.path.insert(0, str(EXPORTS))
    try:
        import make_exports
    finally:
        sys.path.remove(str(EXPORTS))
    for name, content in make_exports.build().items():
        assert (EXPORTS / name).read_text() == content, name


# -- the real console script ----------------------------------------------------------------
def test_console_script_in_a_subprocess(ledger: Ledger, tmp_path: Path) -> None:
    export_to(ledger, tmp_path / "x", "ion_binary")
    env = {k: v for k, v in os.environ.items() if k != "QLDB_AUDIT_DEBUG"}
    done = subprocess.run(
        [sys.executable, "-m", "auditor", "verify", "export", str(tmp_path / "x"), "--json",
         "--workers", "2"],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert json.loads(done.stdout)["status"] == "not-proven"
    assert "\r" not in done.stderr  # no progress line when stderr is not a terminal
    assert "Traceback" not in done.stderr
