"""Edges of ``verify export``'s inputs: digest files of every shape (and broken ones), state
files that cannot be used, several exports in one place, unlisted objects, no started manifest,
the progress line, and keys that would leave the export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditor.audit.digests import parse_digest
from auditor.ledger import Ledger
from auditor.ledger.keys import SignerKey
from auditor.verify import Policy
from proofs.note import parse_vkey
from tests.integration.audit_support import (
    digest_file,
    export_to,
    make_ledger,
    report_of,
    rewrite_manifest_keys,
    run,
)


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Ledger:
    return make_ledger(str(tmp_path_factory.mktemp("inputs") / "books.db"))


def test_digest_shapes(ledger: Ledger, tmp_path: Path) -> None:
    signed = ledger.digest()
    get_digest = json.dumps(signed.get_digest_json()).encode()
    none = Policy()
    d = parse_digest(get_digest, "d.json", supplied=True, policy=none)
    assert (d.kind, d.trusted, d.tip, d.error) == ("get-digest", True, ledger.tip(), None)
    beside = parse_digest(get_digest, "d.json", supplied=False, policy=none)
    assert not beside.trusted
    note = parse_digest(signed.checkpoint.encode(), "c", supplied=True, policy=none)
    assert (note.kind, note.trusted, note.tip) == ("checkpoint", False, ledger.tip())
    # a checkpoint is trusted through a key you trust for its ledger, and only so
    key = Policy(log_keys=(parse_vkey(ledger.vkey),))
    note = parse_digest(signed.checkpoint.encode(), "c", supplied=False, policy=key)
    assert (note.trusted, note.anchor) == (
        True,
        f"the key {ledger.name}+{parse_vkey(ledger.vkey).key_id.hex()} you supplied (--trust-key)",
    )
    impostor = SignerKey.generate(ledger.name)  # same ledger name, another key
    other = Policy(log_keys=(impostor.verifier,))
    note = parse_digest(signed.checkpoint.encode(), "c", supplied=False, policy=other)
    assert (note.status, note.trusted, note.error.reason) == ("failed", False, "signature")
    for bad, reason in (
        (b"", "empty"),
        (b"\xff\xfe", "not-utf8"),
        (b'{"Digest": "AAAA", "DigestTipAddress": {"IonText": "{}"}}', None),
        (b'{"LastBlockNum": 1, "Digest": "' + b"A" * 43 + b'=", "DigestTipAddress": '
         b'{"strandId": "s", "sequenceNo": 0}, "Proof": []}', "tip-behind-block"),
        (b'{"LastBlockNum": 1, "Digest": "' + b"A" * 43 + b'="}', "missing-field"),
    ):  # fmt: skip
        parsed = parse_digest(bad, "bad", supplied=True, policy=none)
        assert parsed.error is not None, bad
        assert reason is None or parsed.error.reason == reason, (bad, parsed.error)


def test_proofs_json_attests_an_export_that_does_not_start_at_zero(
    ledger: Ledger, tmp_path: Path
) -> None:
    from auditor.export import export

    since = str(ledger.block(5)["blockTimestamp"]).replace(" ", "T")
    result = export(ledger, str(tmp_path / "x"), "ion_text", since=since)
    last = result.last_seq
    proofs_json = tmp_path / "proofs.json"
    proof = ledger.block_proof(last, ledger.tip())
    import base64

    proofs_json.write_text(json.dumps({
        "Ledger": ledger.name, "Digest": signed_b64(ledger),
        "DigestTipAddress": {"IonText": f'{{strandId:"{ledger.strand_id}",sequenceNo:'
                                        f'{ledger.tip()}}}'},
        "LastBlockNum": last, "Proof": {"IonText": "[" + ",".join(
            "{{" + base64.b64encode(p).decode() + "}}" for p in proof) + "]"},
    }))  # fmt: skip
    code, report, stderr = report_of(tmp_path / "x", "--digest", proofs_json, "--rules", "writer")
    assert code == 3, stderr  # attested, but the blocks' positions are not proven
    unproven = [c["name"] for c in report["verdict"]["claims"] if c["status"] == "not-proven"]
    assert unproven == ["positions"]
    assert report["digest"]["digest"] is None  # no Merkle root without blocks 0..4
    assert report["digests"][0]["status"] == "verified"
    assert any("starts at block 5" in n for n in report["not_checked"])
    # the checkpoint beside it covers 0..last: not computable here, so not checked
    assert {d["status"] for d in report["digests"][1:]} == {"not-checked"}
    wrong = json.loads(proofs_json.read_text())
    wrong["LastBlockNum"] = last - 1
    proofs_json.write_text(json.dumps(wrong))
    code, report, _ = report_of(tmp_path / "x", "--digest", proofs_json)
    assert code == 1
    assert report["first_break"]["check"] == "proof-digest"
    assert report["first_break"]["blockAddress"]["sequenceNo"] == last - 1


def signed_b64(ledger: Ledger) -> str:
    return ledger.digest().get_digest_json()["Digest"]


def test_digest_problems(ledger: Ledger, tmp_path: Path) -> None:
    export_to(ledger, tmp_path / "x")
    other = make_ledger(str(tmp_path / "other.db"), seed=99)
    beyond = tmp_path / "beyond.json"
    beyond.write_text(json.dumps({
        "Digest": signed_b64(ledger),
        "DigestTipAddress": {"IonText": f'{{strandId:"{ledger.strand_id}",sequenceNo:999}}'},
    }))  # fmt: skip
    code, report, _ = report_of(tmp_path / "x", "--digest", beyond)
    assert code == 2
    assert "beyond the export" in report["digests"][0]["message"]
    code, report, _ = report_of(tmp_path / "x", "--digest", digest_file(other, tmp_path / "o"))
    assert code == 1
    assert report["first_break"]["check"] == "digest-strand"
    code, report, _ = report_of(tmp_path / "x", "--digest", tmp_path / "missing.json")
    assert code == 2
    older = digest_file(ledger, tmp_path / "older.json", tip=7)
    code, report, _ = report_of(tmp_path / "x", "--digest", older)
    assert code == 3  # verified at tip 7, but blocks after it are not covered
    assert report["digests"][0]["status"] == "verified"


def test_state_files_that_cannot_be_used(ledger: Ledger, tmp_path: Path) -> None:
    export_to(ledger, tmp_path / "x")
    state = tmp_path / "s.json"
    for content, text in (
        ("not json", "not a JSON state file"),
        ('{"format": "other"}', "format"),
        ('{"format": "qldb-audit-state", "version": 9}', "version"),
    ):
        state.write_text(content)
        result = run(tmp_path / "x", "--state", state)
        assert result.exit_code == 2
        assert text in result.stderr
    state.unlink()
    assert run(tmp_path / "x", "--state", state).exit_code == 3
    saved = json.loads(state.read_text())
    saved["verified"]["digest"] = saved["verified"]["tipHash"]
    state.write_text(json.dumps(saved))
    result = run(tmp_path / "x", "--state", state)
    assert result.exit_code == 2
    assert "not the root of the stored frontier" in result.stderr
    other = make_ledger(str(tmp_path / "other.db"), seed=42)
    export_to(other, tmp_path / "y")
    state.unlink()
    assert run(tmp_path / "x", "--state", state).exit_code == 3
    result = run(tmp_path / "y", "--state", state)
    assert result.exit_code == 2
    assert "the state is for strand" in result.stderr


def test_layouts(ledger: Ledger, tmp_path: Path) -> None:
    a = export_to(ledger, tmp_path, "ion_text", export_id="first")
    export_to(ledger, tmp_path, "json", export_id="second")
    result = run(tmp_path)
    assert result.exit_code == 2
    assert "several completed manifests" in result.stderr
    assert run(tmp_path, "--export-id", "second").exit_code == 3
    (tmp_path / "first" / "stray.ion").write_text("{}\n")
    Path(a.location(a.started_manifest)).unlink()
    code, report, _ = report_of(tmp_path, "--export-id", "first", "--rules", "qldb", "-v")
    assert code == 3
    assert report["export"]["rules"] == "qldb"
    assert any("not in the manifest" in n for n in report["not_checked"])
    assert any("no started manifest" in n for n in report["notes"])
    rewrite_manifest_keys(a, ["../../etc/passwd"])
    result = run(tmp_path, "--export-id", "first")
    assert result.exit_code == 2
    assert "outside the export" in result.stderr
    rewrite_manifest_keys(a, [a.keys[0], a.keys[0], *a.keys[1:]])
    code, report, _ = report_of(tmp_path, "--export-id", "first")
    assert code == 1
    assert {i["check"] for i in report["issues"]} == {"duplicate-object"}


def test_progress_line_and_verbose(ledger: Ledger, tmp_path: Path) -> None:
    export_to(ledger, tmp_path / "x", "ion_binary", 2)
    result = run(tmp_path / "x", "--progress", "-v")
    assert result.exit_code == 3
    assert "\r[" in result.stderr
    assert "objects," in result.stderr
    assert "not checked:" in result.stdout
    assert "passed      chain" in result.stdout
    quiet = run(tmp_path / "x")
    assert "\r" not in quiet.stderr
