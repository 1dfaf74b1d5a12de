"""End-to-end tests of ``qldb-audit`` (auditor/cli.py) on the real QLDB artefacts.

Contract under test (the verdict model, auditor/verdict.py): exit 0 only when every claim is
proven and an anchor you supplied matched, 1 refuted, 2 usage or malformed input (one ``ERROR:``
line naming the file and the field, never a traceback), 3 consistent but not everything proven;
several files: every file checked, a summary line, worst code wins 1 > 2 > 3 > 0; the verdicts
on stdout (``--json``: the report instead), option errors on stderr. Most runs use click's
``CliRunner`` (click >= 8.2 keeps ``stdout`` and ``stderr`` apart); a few run the real console
script and ``python -m auditor`` in a subprocess.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import auditor
from auditor import formats
from auditor.cli import main

ROOT = Path(__file__).resolve().parents[2]
ARTEFACTS = ROOT / "fixtures" / "qldb" / "artefacts"
MANIFEST: list[dict[str, Any]] = json.loads((ARTEFACTS / "manifest.json").read_text())
PREFIX = {0: "OK:", 1: "FAIL:", 2: "ERROR:", 3: "NOT PROVEN:"}
STATUS = {0: "verified", 1: "refuted", 2: "malformed", 3: "not-proven"}
CLAIM_FIELDS = {"name", "status", "required", "subject", "text", "expected", "actual", "anchor"}
ITEM_FIELDS = {"file", "kind", "status", "exit_code", "claims", "facts", "document", "anchors",
               "notes", "error"}  # fmt: skip

KMA3_TIP = '{strandId:"KmA3ZZca7vAIiJAK9S5Iwl",sequenceNo:123}'


def test_click_keeps_stdout_and_stderr_apart() -> None:
    major, minor = (int(x) for x in version("click").split(".")[:2])
    assert (major, minor) >= (8, 2), "these tests read result.stderr separately (click >= 8.2)"


@pytest.fixture
def in_artefacts(monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(ARTEFACTS)
    monkeypatch.delenv("QLDB_AUDIT_DEBUG", raising=False)
    return ARTEFACTS


def run(*args: str | os.PathLike[str]) -> Result:
    result = CliRunner().invoke(main, [str(a) for a in args])
    # A crash inside the CLI would be caught by CliRunner: it must never happen.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert "Traceback" not in result.stderr + result.stdout
    return result


def check_report(report: dict[str, Any], command: str, files: list[str]) -> None:
    """The versioned report: format, version, one item per file, per-claim fields, summary."""
    assert report["format"] == "qldb-audit-report"
    assert report["version"] == 2
    assert report["command"] == command
    assert [item["file"] for item in report["items"]] == files
    for item in report["items"]:
        assert set(item) >= ITEM_FIELDS
        assert item["exit_code"] == {v: k for k, v in STATUS.items()}[item["status"]]
        assert isinstance(item["notes"], list)
        assert all(isinstance(n, str) for n in item["notes"])
        for claim in item["claims"]:
            assert set(claim) >= CLAIM_FIELDS
            assert isinstance(claim["name"], str)
            assert claim["name"]
            assert claim["status"] in ("proven", "refuted", "not-proven")
            assert claim["text"]
            assert claim["expected"] is None or isinstance(claim["expected"], str)
            assert claim["actual"] is None or isinstance(claim["actual"], str)
        statuses = [c["status"] for c in item["claims"] if c["required"]]
        if item["status"] == "verified":
            assert item["error"] is None
            assert statuses, "a verified item must say what it proved"
            assert all(s == "proven" for s in statuses)
            assert item["anchors"], "verified needs an anchor you supplied"
            for c in item["claims"]:
                if c["name"] in ("committed", "content-hash", "block-contents"):
                    assert c["expected"] is not None
                if c["name"] in ("committed", "content-hash"):
                    assert c["expected"] == c["actual"]
        elif item["status"] == "not-proven":
            assert item["error"] is None
            assert "not-proven" in statuses
            assert "refuted" not in [c["status"] for c in item["claims"]]
        elif item["status"] == "refuted":
            refuted = [c for c in item["claims"] if c["status"] == "refuted"]
            assert len(refuted) == 1
            assert refuted[0]["expected"] != refuted[0]["actual"]
        else:
            assert set(item["error"]) >= {"reason", "locator", "message"}
            assert item["file"] in item["error"]["message"]
    summary = report["summary"]
    for status in STATUS.values():
        assert summary[status] == sum(i["status"] == status for i in report["items"])
    codes = [i["exit_code"] for i in report["items"]]
    assert summary["exit_code"] == worst(codes)


def worst(codes: list[int]) -> int:
    for code in (1, 2, 3, 0):
        if code in codes:
            return code
    return 2


# -- every manifest entry ----------------------------------------------------------------------
def _manifest_params() -> list[Any]:
    return [
        pytest.param(e, id=f"{e['file']}::{' '.join(e['command']) or 'digest'}") for e in MANIFEST
    ]


def test_manifest_entries_are_unique_and_files_exist() -> None:
    keys = [(e["file"], tuple(e["command"])) for e in MANIFEST]
    assert len(keys) == len(set(keys))
    for entry in MANIFEST:
        assert (ARTEFACTS / entry["file"]).is_file()
        assert entry["exit_code"] in PREFIX


@pytest.mark.parametrize("entry", _manifest_params())
def test_manifest_entry_exit_code(entry: dict[str, Any], in_artefacts: Path) -> None:
    if not entry["command"]:  # a digest file: no command of its own, it must load as a digest
        digest = formats.load_digest(entry["file"])
        assert len(digest.digest) == 32
        assert entry["exit_code"] == 0
        result = run("verify", "revision", entry["file"])
        assert result.exit_code == 2, "a digest is not a revision"
        return
    command, *options = entry["command"]
    args = ["verify", command, *options, entry["file"]]
    expected = entry["exit_code"]

    result = run(*args)
    assert result.exit_code == expected, result.stdout
    assert result.stderr == ""  # the verdict goes to stdout
    lines = result.stdout.splitlines()
    assert lines[0].startswith(PREFIX[expected])
    assert lines[0].endswith(f"(exit {expected})")
    # The verdict names the file, or the --revision file when that revision is the culprit.
    assert entry["file"] in lines[0] or any(o in result.stdout for o in options if ".json" in o)
    if expected == 3:  # every unproven claim is named in plain words
        assert any(line.startswith("  not proven:") for line in lines)

    result = run(*args, "--json")
    assert result.exit_code == expected
    report = json.loads(result.stdout)
    check_report(report, f"verify {command}", [entry["file"]])
    (item,) = report["items"]
    assert item["status"] == STATUS[expected]
    assert report["summary"]["exit_code"] == expected


@pytest.mark.parametrize(
    "entry", [e for e in MANIFEST if e["command"]][:3], ids=lambda e: e["file"]
)
def test_absolute_paths_work_from_anywhere(
    entry: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    command, *options = entry["command"]
    options = [str(ARTEFACTS / o) if o.endswith(".json") else o for o in options]
    result = run("verify", command, *options, ARTEFACTS / entry["file"])
    assert result.exit_code == entry["exit_code"]


def test_verbose_lists_evidence_and_notes(in_artefacts: Path) -> None:
    result = run("verify", "block", "-v", "getblock-KmA3-100-tip123.json")
    assert result.exit_code == 3
    assert "(expected " in result.stdout
    assert "  note:" in result.stdout
    quiet = run("verify", "block", "getblock-KmA3-100-tip123.json")
    assert len(quiet.stdout.splitlines()) < len(result.stdout.splitlines())


def test_json_report_of_a_verified_receipt_names_its_values(in_artefacts: Path) -> None:
    result = run(
        "verify",
        "receipt",
        "receipt-1HqU-19-tip35.json",
        "--digest",
        "digest-1HqU-19-tip35.json",
        "--json",
    )
    assert result.exit_code == 0
    (item,) = json.loads(result.stdout)["items"]
    (proof,) = [c for c in item["claims"] if c["name"] == "committed"]
    assert proof["expected"] == proof["actual"] == "XzGkk+RaYgbdLqhGyza6uVo6nal2oG9WrJixfYWsYqc="
    assert proof["anchor"] == item["anchors"][0]
    assert "digest-1HqU-19-tip35.json" in proof["anchor"]
    (position,) = [c for c in item["claims"] if c["name"] == "position"]
    assert (position["status"], position["required"]) == ("not-proven", False)
    assert run(
        "verify", "receipt", "receipt-1HqU-19-tip35.json", "--digest", "digest-1HqU-19-tip35.json"
    ).stdout.startswith("OK: receipt-1HqU-19-tip35.json")


# -- several files -------------------------------------------------------------------------------
@pytest.fixture
def bad_files(tmp_path: Path) -> dict[str, Path]:
    files = {"empty": tmp_path / "empty.json", "garbage": tmp_path / "garbage.ion"}
    files["empty"].write_bytes(b"")
    files["garbage"].write_text("this is ;;; not :: a QLDB artefact")
    return files


COMBOS = [
    ("good+tampered", "revision", ["revision-G3Oi-v0.json", "revision-G3Oi-v0-EDITED.json"], 1),
    ("good+malformed", "revision", ["revision-G3Oi-v0.json", "@empty"], 2),
    ("tampered+malformed", "revision", ["revision-G3Oi-v0-EDITED.json", "@garbage"], 1),
    ("malformed+tampered", "revision", ["@garbage", "revision-G3Oi-v0-EDITED.json"], 1),
    ("good+good", "revision", ["revision-G3Oi-v0.json", "revision-LNQE-v0.json"], 3),
    (
        "verified+verified",
        "receipt",
        [
            "receipt-1HqU-19-tip35.json",
            "receipt-1HqU-19-tip35.json",
            "--digest",
            "digest-1HqU-19-tip35.json",
        ],
        0,
    ),
    (
        "unattested+unattested",
        "receipt",
        ["receipt-1HqU-19-tip35.json", "receipt-Dp04-90-tip91.json"],
        3,
    ),
    (
        "unattested+tampered",
        "receipt",
        ["receipt-1HqU-19-tip35.json", "receipt-KbW0-21-tip46.json"],
        1,
    ),
    ("unattested+malformed", "receipt", ["receipt-1HqU-19-tip35.json", "@empty"], 2),
    (
        "good+tampered+malformed+good",
        "block",
        [
            "getblock-KmA3-100-tip123.json",
            "revision-G3Oi-v0.json",
            "@empty",
            "journal-block-KmA3-100.ion",
        ],
        2,
    ),
]


@pytest.mark.parametrize(
    ("command", "names", "code"), [c[1:] for c in COMBOS], ids=[c[0] for c in COMBOS]
)
def test_several_files_worst_code_wins(
    command: str, names: list[str], code: int, bad_files: dict[str, Path], in_artefacts: Path
) -> None:
    args = [str(bad_files[n[1:]]) if n.startswith("@") else n for n in names]
    files = [a for i, a in enumerate(args) if not a.startswith("--") and
             (i == 0 or not args[i - 1].startswith("--"))]  # fmt: skip
    result = run("verify", command, *args)
    assert result.exit_code == code, result.stdout
    lines = result.stdout.splitlines()
    heads = [line for line in lines if line.startswith(tuple(PREFIX.values()))]
    assert len(heads) == len(files)  # every file is checked, then one summary line
    for line, file in zip(heads, files, strict=True):
        assert file in line
    assert lines[-1].startswith(f"summary: {len(files)} items: ")

    report = json.loads(run("verify", command, *args, "--json").stdout)
    check_report(report, f"verify {command}", files)
    assert report["summary"]["exit_code"] == code
    counts = ", ".join(f"{n} {s}" for s, n in report["summary"].items() if s != "exit_code" and n)
    assert lines[-1] == f"summary: {len(files)} items: {counts}"


def test_a_block_given_to_verify_block_and_a_revision_are_reported_separately(
    in_artefacts: Path,
) -> None:
    result = run(
        "verify", "block", "getblock-KmA3-100-tip123.json", "revision-G3Oi-v0.json",
        "--digest", "derived-digest-KmA3-tip123.json",
    )  # fmt: skip
    assert result.exit_code == 2
    lines = result.stdout.splitlines()
    assert lines[0].startswith("OK: getblock-KmA3-100-tip123.json")
    (error,) = [line for line in lines if line.startswith("ERROR: ")]
    assert error.startswith("ERROR: revision-G3Oi-v0.json")
    assert lines[-1] == "summary: 2 items: 1 verified, 1 malformed"


# -- malformed inputs: exit 2, one line naming the file and the field, no traceback ---------------
def _receipt(**changes: Any) -> bytes:
    doc = json.loads((ARTEFACTS / "receipt-1HqU-19-tip35.json").read_text())
    for key, value in changes.items():
        if value is None:
            del doc[key]
        else:
            doc[key] = value
    return json.dumps(doc, indent=2).encode()


def _json_revision(edit: Callable[[dict[str, Any]], None]) -> bytes:
    doc = json.loads((ARTEFACTS / "revision-G3Oi-v0.json").read_text())
    edit(doc)
    return json.dumps(doc, indent=2).encode()


def _drop_metadata(text: str) -> bytes:
    start = text.index(",metadata:")
    return (text[:start] + "}" + ("}\n" if text.rstrip().endswith("}}}") else "\n")).encode()


def _getrevision_without_metadata() -> bytes:
    doc = json.loads((ARTEFACTS / "getrevision-KmA3-100-tip123.json").read_text())
    text = doc["Revision"]["IonText"]
    doc["Revision"]["IonText"] = text[: text.index(",metadata:")] + "}"
    return json.dumps(doc).encode()


def _b64(n: int) -> str:
    return base64.b64encode(bytes(range(n))).decode()


MALFORMED: list[tuple[str, str, Callable[[], bytes], str | None]] = [
    ("empty-file", "receipt", lambda: b"", None),
    ("whitespace-only", "receipt", lambda: b"  \n\t\n", None),
    ("text-garbage", "receipt", lambda: b"hello ;;; world ::", None),
    ("binary-garbage", "receipt", lambda: bytes(range(256)) * 4, None),
    ("truncated-json", "receipt", lambda: _receipt()[:300], "JSON"),
    ("revision-hash-31-bytes", "receipt", lambda: _receipt(RevisionHash=_b64(31)), "RevisionHash"),
    (
        "revision-hash-bad-base64",
        "receipt",
        lambda: _receipt(RevisionHash="not*base64!"),
        "RevisionHash",
    ),
    ("missing-proof", "receipt", lambda: _receipt(Proof=None), "Proof"),
    (
        "proof-element-31-bytes",
        "receipt",
        lambda: _receipt(Proof={"IonText": f"[{{{{{_b64(32)}}}}}, {{{{{_b64(31)}}}}}]"}),
        "Proof.IonText[1]",
    ),
    (
        "proof-element-not-a-blob",
        "receipt",
        lambda: _receipt(Proof={"IonText": '["abc"]'}),
        "Proof.IonText[0]",
    ),
    ("proof-not-ion", "receipt", lambda: _receipt(Proof={"IonText": "[{{"}), "Proof.IonText"),
    ("missing-ledger-digest", "receipt", lambda: _receipt(LedgerDigest=None), "LedgerDigest"),
    (
        "block-address-not-an-address",
        "receipt",
        lambda: _receipt(BlockAddress={"IonText": '{strandId:"x",sequenceNo:-1}'}),
        "sequenceNo",
    ),
    (
        "duplicate-json-keys",
        "receipt",
        lambda: b'{"RevisionHash": "' + _b64(32).encode() + b'", "RevisionHash": "x"}',
        "RevisionHash",
    ),
    (
        "ion-revision-missing-metadata",
        "revision",
        lambda: _drop_metadata((ARTEFACTS / "revision-KmA3-100.ion").read_text()),
        "metadata",
    ),
    ("getrevision-missing-metadata", "revision", _getrevision_without_metadata, "metadata"),
    (
        "txtime-not-a-timestamp",
        "revision",
        lambda: _json_revision(lambda d: d["metadata"].update(txTime="yesterday")),
        "txTime",
    ),
    (
        "txtime-a-number",
        "revision",
        lambda: _json_revision(lambda d: d["metadata"].update(txTime=20210613)),
        "txTime",
    ),
    (
        "version-not-an-int",
        "revision",
        lambda: _json_revision(lambda d: d["metadata"].update(version="0")),
        "version",
    ),
    (
        "hash-31-bytes",
        "revision",
        lambda: _json_revision(lambda d: d.update(hash=_b64(31))),
        "hash",
    ),
    (
        "json-nan",
        "revision",
        lambda: (
            (ARTEFACTS / "revision-G3Oi-v0.json")
            .read_bytes()
            .replace(b'"version": 0', b'"version": NaN')
        ),
        "NaN",
    ),
    (
        "stream-control-record",
        "revision",
        lambda: (
            b'{qldbStreamArn:"arn:x",recordType:"CONTROL",payload:{controlRecordType:"CREATED"}}'
        ),
        "recordType",
    ),
    ("json-array", "revision", lambda: b"[1, 2, 3]", None),
]


def assert_one_error_line(result: Result, file: str, field: str | None) -> str:
    """A file that cannot be checked: its verdict is one ERROR line on stdout (an option file
    that cannot be read: one ERROR line on stderr, nothing on stdout)."""
    assert result.exit_code == 2, result.stdout + result.stderr
    lines = (result.stdout or result.stderr).splitlines()
    assert not (result.stdout and result.stderr)
    assert len(lines) == 1, result.stderr
    (line,) = lines
    assert line.startswith("ERROR: ")
    assert file in line
    if field is not None:
        assert field in line.replace(file, "", 1)
    assert "Traceback" not in line
    assert " object at 0x" not in line  # never an object's repr
    return line


@pytest.mark.parametrize(
    ("command", "content", "field"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_malformed_input_gives_one_error_line(
    command: str,
    content: Callable[[], bytes],
    field: str | None,
    tmp_path: Path,
    in_artefacts: Path,
) -> None:
    path = tmp_path / "input.json"
    path.write_bytes(content())
    assert_one_error_line(run("verify", command, path), str(path), field)
    report = json.loads(run("verify", command, path, "--json").stdout)
    check_report(report, f"verify {command}", [str(path)])
    assert report["items"][0]["status"] == "malformed"


def test_json_revision_missing_metadata_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "revision.json"
    path.write_bytes(_json_revision(lambda d: d.pop("metadata")))
    assert_one_error_line(run("verify", "revision", path), str(path), "metadata")


def test_json_revision_missing_metadata_is_malformed(tmp_path: Path) -> None:
    path = tmp_path / "revision.json"
    path.write_bytes(_json_revision(lambda d: d.pop("metadata")))
    assert_one_error_line(run("verify", "revision", path), str(path), None)


def test_nonexistent_file(tmp_path: Path) -> None:
    path = tmp_path / "does-not-exist.json"
    line = assert_one_error_line(run("verify", "receipt", path), str(path), None)
    assert "cannot read" in line


def test_directory_is_rejected_with_exit_2(tmp_path: Path) -> None:
    result = run("verify", "revision", tmp_path)
    assert result.exit_code == 2
    assert str(tmp_path) in result.stdout
    assert "directory" in result.stdout


def test_directory_gives_one_error_line(tmp_path: Path) -> None:
    assert_one_error_line(run("verify", "revision", tmp_path), str(tmp_path), None)


def test_several_files_with_a_missing_one_still_check_the_others(
    tmp_path: Path, in_artefacts: Path
) -> None:
    missing = str(tmp_path / "missing.json")
    result = run("verify", "revision", missing, "revision-G3Oi-v1.json")
    assert result.exit_code == 2
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"ERROR: {missing}")
    assert lines[1].startswith("NOT PROVEN: revision-G3Oi-v1.json")


def test_digest_option_with_a_non_digest_file(in_artefacts: Path) -> None:
    result = run(
        "verify", "receipt", "receipt-1HqU-19-tip35.json", "--digest", "revision-G3Oi-v0.json"
    )
    assert_one_error_line(result, "revision-G3Oi-v0.json", "Digest")


@pytest.mark.parametrize("command", ["revision", "block"])
def test_digest_option_with_an_unreadable_file(
    command: str, tmp_path: Path, in_artefacts: Path
) -> None:
    missing = str(tmp_path / "nope.json")
    file = "getblock-KmA3-100-tip123.json" if command == "block" else "revision-KmA3-100.ion"
    assert_one_error_line(run("verify", command, file, "--digest", missing), missing, None)


def test_getblock_given_to_verify_revision(in_artefacts: Path) -> None:
    result = run("verify", "revision", "getblock-KmA3-100-tip123.json")
    line = assert_one_error_line(result, "getblock-KmA3-100-tip123.json", None)
    assert "not a revision" in line


def test_revision_given_to_verify_receipt(in_artefacts: Path) -> None:
    line = assert_one_error_line(
        run("verify", "receipt", "revision-G3Oi-v0.json"), "revision-G3Oi-v0.json", None
    )
    assert "not a receipt" in line


def test_revision_option_with_a_non_revision(in_artefacts: Path) -> None:
    result = run(
        "verify", "receipt", "receipt-1HqU-19-tip35.json", "--revision", "digest-1HqU-19-tip35.json"
    )
    assert_one_error_line(result, "digest-1HqU-19-tip35.json", None)


def test_missing_file_argument_is_a_usage_error() -> None:
    result = run("verify", "receipt")
    assert result.exit_code == 2
    assert "Missing argument" in result.stderr


# -- digests: trusted, behind, different --------------------------------------------------------
def _digest_file(tmp_path: Path, digest: str, tip_ion: str) -> str:
    path = tmp_path / "digest.json"
    path.write_text(json.dumps({"Digest": digest, "DigestTipAddress": {"IonText": tip_ion}}))
    return str(path)


DERIVED = json.loads((ARTEFACTS / "derived-digest-KmA3-tip123.json").read_text())["Digest"]


@pytest.mark.parametrize(
    ("command", "file"),
    [("receipt", "getrevision-KmA3-100-tip123.json"), ("block", "getblock-KmA3-100-tip123.json")],
)
def test_digest_whose_tip_is_behind_the_block_fails(
    command: str, file: str, tmp_path: Path, in_artefacts: Path
) -> None:
    behind = _digest_file(tmp_path, DERIVED, '{strandId:"KmA3ZZca7vAIiJAK9S5Iwl",sequenceNo:99}')
    result = run("verify", command, file, "--digest", behind, "--json")
    assert result.exit_code == 1
    (item,) = json.loads(result.stdout)["items"]
    assert [c["name"] for c in item["claims"] if c["status"] == "refuted"] == ["tip-behind-block"]
    assert run("verify", command, file, "--digest", behind).stdout.startswith(f"FAIL: {file}")
    # The same digest with its real tip verifies: only the tip made the difference.
    ok = _digest_file(tmp_path, DERIVED, KMA3_TIP)
    assert run("verify", command, file, "--digest", ok).exit_code == 0


def test_receipt_whose_own_digest_tip_is_behind_its_block_fails(
    tmp_path: Path, in_artefacts: Path
) -> None:
    doc = json.loads(Path("receipt-1HqU-30-tip38.json").read_text())
    doc["LedgerDigest"]["DigestTipAddress"]["IonText"] = (
        '{strandId:"1HqUNaR8u8s13eFiSzGZl9",sequenceNo:29}'
    )
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(doc))
    result = run("verify", "receipt", path, "--json")
    assert result.exit_code == 1
    claims = json.loads(result.stdout)["items"][0]["claims"]
    assert [c["name"] for c in claims if c["status"] == "refuted"] == ["tip-behind-block"]


def test_digest_on_another_strand_fails(tmp_path: Path, in_artefacts: Path) -> None:
    other = _digest_file(tmp_path, DERIVED, '{strandId:"1HqUNaR8u8s13eFiSzGZl9",sequenceNo:123}')
    result = run("verify", "receipt", "getrevision-KmA3-100-tip123.json", "--digest", other)
    assert result.exit_code == 1


def test_a_proof_that_misses_the_trusted_digest_is_not_proven(
    tmp_path: Path, in_artefacts: Path
) -> None:
    """A GetRevision/GetBlock output does not say which tip its proof is for: missing your
    digest may mean a proof to another tip, so it is 3 (naming your digest), never 0 or 1."""
    wrong = base64.b64encode(bytes(32)).decode()
    path = _digest_file(tmp_path, wrong, KMA3_TIP)
    for command, file in (
        ("receipt", "getrevision-KmA3-100-tip123.json"),
        ("block", "getblock-KmA3-100-tip123.json"),
    ):
        result = run("verify", command, file, "--digest", path, "--json")
        assert result.exit_code == 3
        (committed,) = [c for c in json.loads(result.stdout)["items"][0]["claims"]
                        if c["name"] == "committed"]  # fmt: skip
        assert committed["status"] == "not-proven"
        assert "another tip" in committed["text"]


def test_a_receipt_whose_digest_differs_from_the_trusted_one_at_the_same_tip_fails(
    tmp_path: Path, in_artefacts: Path
) -> None:
    wrong = base64.b64encode(bytes(32)).decode()
    path = _digest_file(tmp_path, wrong, '{strandId:"1HqUNaR8u8s13eFiSzGZl9",sequenceNo:35}')
    result = run("verify", "receipt", "receipt-1HqU-19-tip35.json", "--digest", path, "--json")
    assert result.exit_code == 1
    (refuted,) = [c for c in json.loads(result.stdout)["items"][0]["claims"]
                  if c["status"] == "refuted"]  # fmt: skip
    assert (refuted["name"], refuted["expected"]) == ("digest-mismatch", wrong)


def test_revision_and_block_without_proof_given_a_digest_are_not_proven(
    tmp_path: Path, in_artefacts: Path
) -> None:
    digest = _digest_file(tmp_path, DERIVED, KMA3_TIP)
    result = run("verify", "revision", "revision-KmA3-100.ion", "--digest", digest)
    assert result.exit_code == 3
    assert "carries no proof" in result.stdout


# -- help and version ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "command", [[], ["revision"], ["block"], ["receipt"]], ids=lambda c: "verify " + " ".join(c)
)
def test_help_mentions_the_exit_codes(command: list[str]) -> None:
    result = run("verify", *command, "--help")
    assert result.exit_code == 0
    assert "Exit codes" in result.stdout
    for code, word in ((0, "verified"), (1, "refuted"), (2, "malformed"), (3, "not everything")):
        assert any(
            line.strip().startswith(f"{code} ") and word in line
            for line in result.stdout.splitlines()
        ), (code, result.stdout)
    assert "1 > 2 > 3 > 0" in result.stdout


def test_top_level_help_lists_verify() -> None:
    result = run("--help")
    assert result.exit_code == 0
    assert "verify" in result.stdout
    assert run("-h").stdout == result.stdout


def test_version() -> None:
    result = run("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"qldb-audit, version {auditor.__version__}"


# -- real processes: the console script and the module entry point ------------------------------
def _process(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "QLDB_AUDIT_DEBUG"}
    return subprocess.run(
        args, cwd=ARTEFACTS, capture_output=True, text=True, timeout=120, env=env, check=False
    )


SCRIPT = Path(sys.executable).with_name("qldb-audit")


def test_console_script_verifies_with_json_report() -> None:
    assert SCRIPT.is_file(), "install the package into the venv: pip install -e ."
    done = _process(
        str(SCRIPT),
        "verify",
        "receipt",
        "receipt-1HqU-19-tip35.json",
        "--digest",
        "digest-1HqU-19-tip35.json",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    check_report(json.loads(done.stdout), "verify receipt", ["receipt-1HqU-19-tip35.json"])
    assert done.stderr == ""


def test_console_script_malformed_input(tmp_path: Path) -> None:
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"")
    done = _process(str(SCRIPT), "verify", "revision", str(empty))
    assert done.returncode == 2
    assert done.stderr == ""
    (line,) = done.stdout.splitlines()
    assert line.startswith(f"ERROR: {empty}: ")
    assert "empty" in line.removeprefix(f"ERROR: {empty}")
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "code", "prefix"),
    [
        (["verify", "revision", "revision-G3Oi-v0-EDITED.json"], 1, "FAIL: "),
        (["verify", "receipt", "receipt-1HqU-19-tip35.json"], 3, "NOT PROVEN: "),
        (
            ["verify", "block", "stream-block-summary-HbD9-3.ion", "journal-block-KmA3-100.ion"],
            3,
            "NOT PROVEN: ",
        ),
        (
            [
                "verify",
                "receipt",
                "receipt-1HqU-19-tip35.json",
                "--digest",
                "digest-1HqU-19-tip35.json",
            ],
            0,
            "OK: ",
        ),
    ],
    ids=["refuted", "not-proven", "two-blocks", "verified"],
)
def test_python_dash_m_auditor(args: list[str], code: int, prefix: str) -> None:
    done = _process(sys.executable, "-m", "auditor", *args)
    assert done.returncode == code, done.stderr
    assert done.stderr == ""
    assert done.stdout.startswith(prefix)
    assert "Traceback" not in done.stdout


def test_python_dash_m_auditor_version() -> None:
    done = _process(sys.executable, "-m", "auditor", "--version")
    assert done.returncode == 0
    assert auditor.__version__ in done.stdout
