"""The README's main command runs the demo; it must pass on a fresh clone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from auditor import demo


def test_demo_exits_zero_and_keeps_what_it_cites(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = dict(os.environ)
    workdir = tmp_path / "demo"
    assert demo.main(workdir) == 0
    out = capsys.readouterr().out
    assert "every genuine artefact verified and every tampered one was caught" in out
    assert "UNEXPECTED" not in out
    # part 1: the edited README revision and the tampered GetRevision copy;
    # part 2: the refused stale write and the tampered bundle
    assert out.count("    exit 1\n") == 4
    # the lone revision, the receipt on its own digest, the receipt against another tip, the
    # bundle without a key
    assert out.count("    exit 3\n") == 4
    assert "OK: export: export " in out  # the exported journal audited, attested by the key
    assert "OK: receipt.json: verified (exit 0)" in out
    assert "OK: consistency.json: verified (exit 0)" in out
    assert "part 3: the same story over the REST API" in out
    assert "PENDING -> TRANSFERRED by {'party': 'abc', 'role': 'dealer'}" in out
    assert "HTTP 403" in out
    # part 4: a QLDB ledger migrated with its proofs
    assert "part 4: migrating a QLDB ledger" in out
    assert "blocks 0-39 imported into migrated.db (digests matched: 2, anchored to tip 39)" in out
    assert "a partial export: blocks 0-99 missing" in out
    assert "OK: kvs-invoices-zdf8PV-v4-block22-tip22.json: verified (exit 0)" in out
    assert "OK: continuity.json: verified (exit 0)" in out
    assert "OK: migrated-export: export " in out
    assert not (workdir / "migration" / "partial.db").exists()
    assert dict(os.environ) == before  # the demo leaves the caller's environment alone

    # the working directory is kept and printed; the report it cites exists
    assert f"working directory {workdir.resolve()}" in out
    report = workdir / "auditor" / "audit-report.html"
    assert f"the auditor's HTML report is {report.resolve()}" in out
    assert "QLDB export audit" in report.read_text()
    assert ". " in out.split("to run qldb-audit yourself:")[1]

    # the dealer and the auditor hold only what the maker handed them: no ledger file
    dealer = sorted(p.name for p in (workdir / "dealer").iterdir())
    assert dealer == ["carmaker.vkey", "consistency.json", "digest-then.json",
                      "receipt-TAMPERED.json", "receipt.json"]  # fmt: skip
    auditor = sorted(p.name for p in (workdir / "auditor").iterdir())
    assert auditor == ["audit-report.html", "carmaker.vkey", "export"]
    assert (workdir / "carmaker" / "carmaker.db").is_file()
    assert sorted(p.name for p in (workdir / "rest" / "abc-dealer").iterdir()) == [
        "carmaker-rest.vkey",
        "rest-receipt.json",
    ]
    for party in ("dealer", "auditor", "rest/abc-dealer"):
        assert not list((workdir / party).rglob("*.db*")), party


def test_demo_replaces_only_its_own_directory(tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.txt").write_text("do not delete")
    with pytest.raises(SystemExit, match="not a demo directory"):
        demo.main(precious)
    assert (precious / "thesis.txt").read_text() == "do not delete"
