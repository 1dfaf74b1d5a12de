"""The verdict model's rules (auditor/verdict.py): what makes a verdict verified, refuted,
malformed or not proven, the worst-wins order, and what the JSON report carries."""

from __future__ import annotations

import itertools
import json

import pytest

from auditor.verdict import (
    EXIT_CODES,
    Claim,
    Status,
    Verdict,
    VerdictBuilder,
    exit_code,
    malformed,
    summary,
    to_json,
)
from proofs import MalformedError, ProofError, VerificationError


def verdict(*statuses: str) -> Verdict:
    v = VerdictBuilder("f", "k")
    for status in statuses:
        if status == "verified":
            v.proven("c", "f", "proven", anchor="your digest")
        elif status == "not-proven":
            v.not_proven("c", "f", "not proven")
        elif status == "refuted":
            return v.build(VerificationError("r", "f", "bad", b"a", b"b"))
        elif status == "malformed":
            return v.build(MalformedError("m", "f", "unreadable"))
    return v.build()


def test_each_status_and_its_exit_code() -> None:
    assert EXIT_CODES == {"verified": 0, "refuted": 1, "malformed": 2, "not-proven": 3}
    for status in EXIT_CODES:
        assert verdict(status).status == status
        assert verdict(status).exit_code == EXIT_CODES[status]


def test_the_worst_exit_code_wins_in_the_order_1_2_3_0() -> None:
    order = ["refuted", "malformed", "not-proven", "verified"]
    for a, b in itertools.product(order, repeat=2):
        worst = min(order.index(a), order.index(b))
        assert exit_code([verdict(a), verdict(b)]) == EXIT_CODES[order[worst]], (a, b)
    assert exit_code([]) == 2


def test_refuted_outranks_malformed_within_one_verdict() -> None:
    v = VerdictBuilder("f", "k")
    v.refuted(VerificationError("r", "f", "bad", b"a", b"b"))
    assert v.build(MalformedError("m", "f", "x")).status == "refuted"


def test_a_generic_proof_error_is_malformed() -> None:
    v = VerdictBuilder("f", "k").build(ProofError("p", "f", "cannot"))
    assert v.status == "malformed"
    assert isinstance(v.error, MalformedError)
    assert v.error.reason == "p"


def test_claims_are_required_by_default_and_anchors_listed_only_when_proven() -> None:
    assert Claim("c", Status.PROVEN, "s", "t").required is True
    v = VerdictBuilder("f", "k")
    v.proven("a", "f", "no anchor here")
    v.proven("b", "f", "anchored", anchor="your key")
    assert v.build().anchors == ["your key"]
    v.not_proven("c", "f", "reported", required=False)
    assert v.build().status == "verified"


def test_facts_skip_empty_values_and_keep_the_first() -> None:
    v = VerdictBuilder("f", "k")
    v.fact("a", None)
    v.fact("b", "")
    v.fact("c", 0)
    v.fact("c", 1)
    assert v.build().facts == (("c", "0"),)
    v.note("n")
    v.note("n")
    assert v.build().notes == ("n",)


def test_the_json_report() -> None:
    v = VerdictBuilder("f", "k")
    v.document.append(("amount", "1.50"))
    v.proven("c", "f", "t", expected=b"\x00" * 32, actual="x", anchor="a")
    items = [v.build(), malformed("g", "k", MalformedError("m", "g", "bad"))]
    report = json.loads(to_json("verify x", items, {"extra": 1}))
    assert (report["format"], report["version"], report["command"]) == (
        "qldb-audit-report", 2, "verify x",
    )  # fmt: skip
    assert report["extra"] == 1
    first, second = report["items"]
    assert first["document"] == {"amount": "1.50"}
    assert first["claims"][0]["expected"] == "A" * 43 + "="
    assert second["error"] == {"reason": "m", "locator": "g", "message": "g: bad"}
    assert report["summary"] == {**summary(items), "exit_code": 2}
    assert summary(items) == {"verified": 1, "refuted": 0, "malformed": 1, "not-proven": 0}


@pytest.mark.parametrize("value", [True, False])
def test_a_verdict_is_true_only_when_verified(value: bool) -> None:
    assert bool(verdict("verified" if value else "not-proven")) is value
