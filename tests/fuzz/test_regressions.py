"""Bugs the fuzzer found, one test each (their triggers are ``crash-*`` seeds of the corpus)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from auditor import formats
from auditor.cli import main
from proofs import MalformedError
from tests.fuzz.harness import CORPUS

IVM_ONLY = CORPUS / "ion-binary" / "crash-ivm-only.10n"


def test_ivm_only_is_empty_not_silent() -> None:
    """An Ion binary file holding only its version marker was parsed to no artefact: ``verify
    revision`` printed nothing at all and exited 2 (found by cli-revision)."""
    data = IVM_ONLY.read_bytes()
    assert data == b"\xe0\x01\x00\xea"
    with pytest.raises(MalformedError) as e:
        formats.parse(data, "x.10n")
    assert e.value.reason == "empty"
    for command in ("revision", "block"):
        result = CliRunner().invoke(main, ["verify", command, str(IVM_ONLY)])
        assert result.exit_code == 2
        assert f"{IVM_ONLY}: no Ion value in the file" in result.output + result.stderr
