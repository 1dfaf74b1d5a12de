"""The README's main command runs the demo; it must pass on a fresh clone."""

from __future__ import annotations

import pytest

from auditor import demo


def test_demo_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert demo.main() == 0
    out = capsys.readouterr().out
    assert "every genuine artefact verified and every tampered one was caught" in out
    assert out.count("    exit 1\n") == 2  # the edited README revision and the tampered copy
    assert "UNEXPECTED" not in out
