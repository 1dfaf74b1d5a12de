"""auditor.report: status and exit code of one item, worst-code precedence, the JSON report."""

from __future__ import annotations

import base64
import itertools
import json

import pytest

from auditor import report
from auditor.report import CheckResult, ItemReport
from proofs import Check, MalformedError, VerificationError

EXPECTED = b"\x01" * 32
ACTUAL = b"\x02" * 32
PRECEDENCE = (1, 2, 3, 0)  # failed > malformed > unattested > verified


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def verification_error() -> VerificationError:
    return VerificationError(
        "proof-digest",
        "r.json: Proof",
        "folding the proof does not give the digest",
        expected=EXPECTED,
        actual=ACTUAL,
    )


def malformed_error() -> MalformedError:
    return MalformedError("missing-field", "r.json: Proof", "missing field")


def item(status: str) -> ItemReport:
    out = ItemReport(file=f"{status}.json", kind="kvs-ledger-metadata")
    out.add(Check("tip-covers-block", f"{status}.json", detail="block 1/19 <= tip 1/35"))
    if status == "failed":
        out.error = verification_error()
    elif status == "malformed":
        out.error = malformed_error()
    elif status == "unattested":
        out.add(Check("proof-digest", f"{status}.json: Proof", EXPECTED, EXPECTED))
        out.attested = False
    else:
        out.add(Check("proof-digest", f"{status}.json: Proof", EXPECTED, EXPECTED))
    return out


def test_exit_codes_are_the_cli_contract() -> None:
    assert report.EXIT_CODES == {"verified": 0, "failed": 1, "malformed": 2, "unattested": 3}


@pytest.mark.parametrize(
    ("status", "code"), [("verified", 0), ("failed", 1), ("malformed", 2), ("unattested", 3)]
)
def test_status_and_exit_code(status: str, code: int) -> None:
    it = item(status)
    assert it.status == status
    assert it.exit_code == code


def test_an_error_outranks_the_attestation_flag() -> None:
    it = item("failed")
    it.attested = False
    assert (it.status, it.exit_code) == ("failed", 1)
    it.error = malformed_error()
    assert (it.status, it.exit_code) == ("malformed", 2)


def test_a_new_item_without_checks_is_verified_until_told_otherwise() -> None:
    assert ItemReport(file="x").status == "verified"


@pytest.mark.parametrize("size", [1, 2, 3, 4])
def test_worst_exit_code_precedence(size: int) -> None:
    statuses = list(report.EXIT_CODES)
    for combo in itertools.product(statuses, repeat=size):
        items = [item(s) for s in combo]
        codes = {report.EXIT_CODES[s] for s in combo}
        expected = next(code for code in PRECEDENCE if code in codes)
        assert report.worst_exit_code(items) == expected, combo


@pytest.mark.parametrize(
    ("statuses", "code"),
    [
        (["verified", "failed"], 1),
        (["verified", "malformed"], 2),
        (["verified", "unattested"], 3),
        (["failed", "malformed"], 1),
        (["malformed", "unattested"], 2),
        (["unattested", "failed"], 1),
        (["verified", "verified"], 0),
    ],
)
def test_worst_exit_code_pairs(statuses: list[str], code: int) -> None:
    assert report.worst_exit_code([item(s) for s in statuses]) == code
    assert report.worst_exit_code([item(s) for s in reversed(statuses)]) == code


def test_no_items_is_a_usage_error() -> None:
    assert report.worst_exit_code([]) == 2


def test_summary_counts_every_status() -> None:
    items = [item(s) for s in ("verified", "failed", "failed", "unattested")]
    assert report.summary(items) == {"verified": 1, "failed": 2, "malformed": 0, "unattested": 1}
    assert report.summary([]) == {"verified": 0, "failed": 0, "malformed": 0, "unattested": 0}


def test_check_result_from_a_passed_check_is_base64() -> None:
    result = CheckResult.passed(Check("block-hash", "b: blockHash", EXPECTED, ACTUAL, "d"))
    assert result.to_json() == {
        "name": "block-hash",
        "ok": True,
        "subject": "b: blockHash",
        "expected": b64(EXPECTED),
        "actual": b64(ACTUAL),
        "detail": "d",
    }
    bare = CheckResult.passed(Check("tip-covers-block", "r.json"))
    assert (bare.expected, bare.actual) == (None, None)


def test_check_result_from_a_verification_error() -> None:
    result = CheckResult.failed(verification_error())
    assert result.ok is False
    assert result.name == "proof-digest"
    assert result.subject == "r.json: Proof"
    assert (result.expected, result.actual) == (b64(EXPECTED), b64(ACTUAL))
    assert result.detail == "folding the proof does not give the digest"
    text_values = VerificationError("tip-behind-block", "r", "behind", expected=">= 30", actual=19)
    assert (CheckResult.failed(text_values).expected, CheckResult.failed(text_values).actual) == (
        ">= 30",
        "19",
    )
    no_actual = VerificationError(
        "revisions-root", "b", "not in list", expected=EXPECTED, actual=None
    )
    assert CheckResult.failed(no_actual).actual is None


def test_item_json_of_a_failed_item_ends_with_the_failed_check() -> None:
    data = item("failed").to_json()
    assert data["status"] == "failed"
    assert data["exit_code"] == 1
    assert [c["ok"] for c in data["checks"]] == [True, False]
    failed = data["checks"][-1]
    assert (failed["name"], failed["expected"], failed["actual"]) == (
        "proof-digest",
        b64(EXPECTED),
        b64(ACTUAL),
    )
    assert data["error"]["reason"] == "proof-digest"
    assert data["error"]["locator"] == "r.json: Proof"
    assert b64(EXPECTED) in data["error"]["message"]


def test_item_json_of_a_malformed_item_has_the_error_not_a_check() -> None:
    data = item("malformed").to_json()
    assert [c["name"] for c in data["checks"]] == ["tip-covers-block"]
    assert data["error"] == {
        "reason": "missing-field",
        "locator": "r.json: Proof",
        "message": "r.json: Proof: missing field",
    }


def test_item_json_of_a_verified_item() -> None:
    it = item("verified")
    it.note("a note")
    data = it.to_json()
    assert set(data) == {"file", "kind", "status", "exit_code", "checks", "notes", "error"}
    assert data["error"] is None
    assert data["notes"] == ["a note"]
    assert all(c["ok"] for c in data["checks"])


def test_report_json() -> None:
    items = [item(s) for s in ("verified", "unattested", "malformed")]
    document = json.loads(report.to_json("verify receipt", items))
    assert document["format"] == report.REPORT_FORMAT == "qldb-audit-report"
    assert document["version"] == report.REPORT_VERSION == 1
    assert document["command"] == "verify receipt"
    assert [i["status"] for i in document["items"]] == ["verified", "unattested", "malformed"]
    assert document["summary"] == {
        "verified": 1,
        "failed": 0,
        "malformed": 1,
        "unattested": 1,
        "exit_code": 2,
    }


@pytest.mark.parametrize(
    ("status", "prefix"),
    [
        ("verified", "OK: "),
        ("failed", "FAIL: "),
        ("malformed", "ERROR: "),
        ("unattested", "UNATTESTED: "),
    ],
)
def test_headline(status: str, prefix: str) -> None:
    it = item(status)
    line = it.headline()
    assert line.startswith(prefix)
    assert "\n" not in line
    if status in ("verified", "unattested"):
        assert line.startswith(f"{prefix}{it.file}: kvs-ledger-metadata: ")
        assert "tip-covers-block, proof-digest" in line
    else:
        # the error is located in another file (r.json), so the item's own file leads the line
        assert line == f"{prefix}{it.file}: {it.error}"
        assert "r.json: Proof" in line
    if status == "failed":
        assert f"expected {b64(EXPECTED)}, got {b64(ACTUAL)}" in line


def test_malformed_helper() -> None:
    it = report.malformed("x.json", malformed_error())
    assert (it.file, it.status, it.exit_code) == ("x.json", "malformed", 2)
