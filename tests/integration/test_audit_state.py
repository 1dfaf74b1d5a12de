"""Nightly incremental audits with ``--state``: the second run over a grown export verifies only
the new blocks and extends the old digest; a rewritten old block is caught; an interrupted run
resumes where it stopped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditor.audit import AuditOptions, Progress, audit
from auditor.ledger import Ledger
from proofs.note import parse_vkey
from tests.integration.audit_support import (
    export_to,
    grow,
    lines_of,
    make_ledger,
    report_of,
    run,
    write_lines,
)


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return make_ledger(str(tmp_path / "books.db"))


def test_second_night_verifies_only_the_new_blocks(ledger: Ledger, tmp_path: Path) -> None:
    state = tmp_path / "audit.state"
    key = tmp_path / "state.key"  # created on first use
    old_tip = ledger.tip()
    per_object = old_tip + 1  # night 1: one object, 0..old_tip
    export_to(ledger, tmp_path / "night1", "ion_binary", per_object)
    code, first, stderr = report_of(
        tmp_path / "night1", "--state", state, "--state-key", key, "--trust-key", ledger.vkey
    )
    assert code == 0, stderr
    saved = json.loads(state.read_text())
    assert saved["format"] == "qldb-audit-state"
    assert saved["verified"]["tip"] == old_tip
    assert saved["verified"]["digest"] == first["digest"]["digest"]
    assert saved["progress"] is None

    grow(ledger, 7)
    export_to(ledger, tmp_path / "night2", "ion_binary", per_object)  # a full export again
    code, second, stderr = report_of(
        tmp_path / "night2", "--state", state, "--state-key", key, "--trust-key", ledger.vkey
    )
    assert code == 0, stderr
    counts = second["counts"]
    assert counts["blocks_skipped"] == old_tip + 1  # unchanged object: not even parsed
    assert counts["blocks"] == counts["blocks_verified"] == 7  # only the new blocks
    assert second["digest"]["digest"] == ledger.digest().get_digest_json()["Digest"]
    assert second["state"]["previousTip"] == old_tip
    assert second["state"]["previousDigest"] == first["digest"]["digest"]
    assert json.loads(state.read_text())["verified"]["tip"] == ledger.tip()

    # night 3: a windowed export holding only the new blocks also extends the state
    grow(ledger, 3, tag="w")
    since = ledger.block(ledger.tip() - 2)["blockTimestamp"]
    from auditor.export import export

    export(ledger, str(tmp_path / "night3"), "json", since=str(since).replace(" ", "T"))
    code, third, stderr = report_of(
        tmp_path / "night3", "--state", state, "--state-key", key, "--trust-key", ledger.vkey
    )
    assert code == 0, stderr
    assert third["counts"]["blocks"] == 3
    assert third["export"]["firstBlock"] == ledger.tip() - 2
    assert third["digest"]["digest"] == ledger.digest().get_digest_json()["Digest"]


def test_a_rewritten_old_block_is_caught(ledger: Ledger, tmp_path: Path) -> None:
    state = tmp_path / "audit.state"
    export_to(ledger, tmp_path / "night1", "ion_text", 4)
    assert report_of(tmp_path / "night1", "--state", state)[0] == 3  # consistent, unattested
    saved = state.read_text()

    # (a) someone edits an old revision in the new export, leaving its hash alone
    grow(ledger, 2)
    result = export_to(ledger, tmp_path / "night2", "ion_text", 4)
    path = Path(result.location(result.keys[1]))  # blocks 4-7, verified last night
    lines = lines_of(path)
    lines[0] = lines[0].replace(b"101.50", b"901.50", 1)
    write_lines(path, lines)
    code, report, stderr = report_of(tmp_path / "night2", "--state", state)
    assert code == 1, stderr
    assert report["first_break"]["blockAddress"]["sequenceNo"] == 4
    assert report["first_break"]["check"] == "revision-hash"
    assert state.read_text() == saved  # a failed run never advances the state

    # (b) history rewritten from an old block on, every hash recomputed (same strand, other
    # old data): the old objects changed, so they are re-verified and their block hashes no
    # longer are the ones verified last night
    ledger2 = make_ledger(str(tmp_path / "forked.db"), seed=3, invoices=10)
    assert ledger2.strand_id == ledger.strand_id
    grow(ledger2, 8)
    export_to(ledger2, tmp_path / "night4", "ion_text", 4)
    code, report, stderr = report_of(tmp_path / "night4", "--state", state)
    assert code == 1, stderr
    assert report["first_break"]["check"] in ("rewritten", "chain")
    assert any(i["check"] == "rewritten" for i in report["issues"])


def test_an_interrupted_run_resumes(ledger: Ledger, tmp_path: Path) -> None:
    grow(ledger, 10)
    export_to(ledger, tmp_path / "x", "json", 3)
    state = tmp_path / "audit.state"
    options = AuditOptions(
        source=str(tmp_path / "x"), state_path=str(state), save_every=0.0,
        trusted_keys=[parse_vkey(ledger.vkey)],
    )  # fmt: skip

    def stop_after_three(progress: Progress) -> None:
        if progress.objects_done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        audit(options, stop_after_three)
    saved = json.loads(state.read_text())
    assert saved["verified"] is None
    assert saved["progress"]["reducer"]["nextIndex"] == 3
    done_before = saved["progress"]["reducer"]["counts"]["blocks"]
    assert done_before == 9

    code, report, stderr = report_of(tmp_path / "x", "--state", state, "--trust-key", ledger.vkey)
    assert code == 0, stderr
    assert report["state"]["resumedFromObject"] == 3
    assert any("resumed an interrupted run" in n for n in report["notes"])
    assert report["counts"]["blocks"] == ledger.tip() + 1  # the first part is carried over
    assert report["digest"]["digest"] == ledger.digest().get_digest_json()["Digest"]
    assert json.loads(state.read_text())["progress"] is None


def test_the_state_file_is_not_trusted_on_its_word(ledger: Ledger, tmp_path: Path) -> None:
    """Without --state-key every old object is re-read; with it, an edited state is refuted
    (exit 1) and a state without a MAC is refused (exit 2); a new tip still needs a trusted
    digest (the state alone attests nothing new)."""
    state, key = tmp_path / "audit.state", tmp_path / "state.key"
    export_to(ledger, tmp_path / "night1", "ion_binary", ledger.tip() + 1)
    code, _, _ = report_of(tmp_path / "night1", "--state", state, "--state-key", key,
                           "--trust-key", ledger.vkey)  # fmt: skip
    assert code == 0
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    grow(ledger, 2)
    export_to(ledger, tmp_path / "night2", "ion_binary", ledger.tip() - 1)
    # no key: the state is used (the old digest must still lead to the new one) but nothing
    # is skipped on its word
    plain = tmp_path / "plain.state"
    plain.write_text(state.read_text())
    code, report, _ = report_of(tmp_path / "night2", "--state", plain, "--trust-key", ledger.vkey)
    assert code == 0
    assert report["counts"]["blocks_skipped"] == 0
    assert any("not authenticated" in n for n in report["notes"])
    # an edited state: its MAC no longer verifies
    edited = tmp_path / "edited.state"
    doc = json.loads(state.read_text())
    doc["verified"]["objects"][0]["sha256"] = "0" * 64
    edited.write_text(json.dumps(doc))
    result = run(tmp_path / "night2", "--state", edited, "--state-key", key,
                 "--trust-key", ledger.vkey)  # fmt: skip
    assert result.exit_code == 1
    assert "was edited" in result.stdout
    # a state written without the key
    result = run(tmp_path / "night2", "--state", plain, "--state-key", key)
    assert result.exit_code == 2
    assert "carries no MAC" in result.stderr
    # with the key and its MAC, the new tip still needs a digest you trust
    code, report, _ = report_of(
        tmp_path / "night2", "--state", state, "--state-key", key, "--rules", "writer"
    )
    assert code == 3
    assert report["counts"]["blocks_skipped"] > 0
    # and the rules are the caller's: a state made with writer rules is not reused with QLDB's
    result = run(tmp_path / "night2", "--state", state, "--state-key", key)
    assert result.exit_code == 2
    assert "writer rules" in result.stderr


def test_an_authenticated_state_attests_an_export_that_did_not_grow(
    ledger: Ledger, tmp_path: Path
) -> None:
    """Night 1 is attested by a trusted key; night 2 audits the same blocks with the state and
    its key only: the anchor is the authenticated state (exit 0, the claim says so). Without the
    key the same run attests nothing (exit 3)."""
    state, key = tmp_path / "audit.state", tmp_path / "state.key"
    export_to(ledger, tmp_path / "night1", "ion_binary", ledger.tip() + 1)
    code, first, err = report_of(tmp_path / "night1", "--state", state, "--state-key", key,
                                 "--trust-key", ledger.vkey)  # fmt: skip
    assert code == 0, err
    claims = {c["name"]: c for c in first["verdict"]["claims"]}
    assert claims["anchor"]["status"] == "proven"
    assert "equals the digest of blocks 0.." in claims["anchor"]["text"]
    plain = tmp_path / "plain.state"
    plain.write_text(state.read_text())
    code, second, err = report_of(tmp_path / "night1", "--state", state, "--state-key", key,
                                  "--rules", "writer")  # fmt: skip
    assert code == 0, err
    claims = {c["name"]: c for c in second["verdict"]["claims"]}
    assert claims["anchor"]["status"] == "proven"
    assert "no block was added since the run of" in claims["anchor"]["text"]
    assert "--state-key" in claims["anchor"]["anchor"]
    code, third, _ = report_of(tmp_path / "night1", "--state", plain, "--rules", "writer")
    assert code == 3
    claims = {c["name"]: c for c in third["verdict"]["claims"]}
    assert claims["anchor"]["status"] == "not-proven"
