"""The README's main command runs the demo; it must pass on a fresh clone."""

from __future__ import annotations

import os

import pytest

from auditor import demo


def test_demo_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    before = dict(os.environ)
    assert demo.main() == 0
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
    assert dict(os.environ) == before  # the demo leaves the caller's environment alone
