"""Optional extras: a command that needs a missing one says so in one line (exit 2).

The wheel check (tests/packaging/) runs the real thing in an environment without the extras;
here the missing module is simulated, so that the dev environment (which has them all) covers
the same paths: the early check (``require``) and the safety net in the CLI for an ImportError
raised anywhere below it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from auditor import extras
from auditor.cli import main
from auditor.extras import MissingExtraError, from_import_error, require


def _hide(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> Any:
        return None if name in modules else real(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


def test_every_extra_names_modules_that_map_back_to_it() -> None:
    for extra, modules in extras.MODULES.items():
        assert modules
        assert all(extras.EXTRAS[m] == extra for m in modules)


def test_require_passes_when_installed_and_names_the_extra_when_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    require("s3", "an s3:// source")  # installed in the dev environment
    _hide(monkeypatch, "botocore")
    with pytest.raises(MissingExtraError) as caught:
        require("s3", "s3://b/p: an s3:// source")
    assert caught.value.extra == "s3"
    assert caught.value.module == "botocore"
    assert str(caught.value) == (
        "s3://b/p: an s3:// source needs the [s3] extra (module botocore is not installed): "
        "pip install 'qldb-auditor[s3]'"
    )


def test_from_import_error_knows_only_optional_modules() -> None:
    found = from_import_error(ModuleNotFoundError("x", name="starlette.routing"), "serve")
    assert found is not None
    assert (found.extra, found.module) == ("server", "starlette")
    assert from_import_error(ModuleNotFoundError("x", name="amazon.ion"), "verify") is None
    assert from_import_error(ImportError("no name"), "verify") is None


def _one_line(result: Any, extra: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("ERROR: ")
    assert f"pip install 'qldb-auditor[{extra}]'" in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "hidden", "extra"),
    [
        (["verify", "export", "s3://bucket/prefix"], "boto3", "s3"),
        (["serve", "--ledger", "x.db"], "starlette", "server"),
        (["serve", "new-key", "--party", "p", "--role", "auditor"], "uvicorn", "server"),
    ],
)
def test_cli_commands_check_their_extra_first(
    args: list[str], hidden: str, extra: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _hide(monkeypatch, hidden)
    _one_line(CliRunner().invoke(main, args), extra)


def test_ledger_export_to_s3_checks_its_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    ledger = str(tmp_path / "m.db")
    init = ["ledger", "init", "--ledger", ledger, "--name", "m", "--table", "t"]
    assert runner.invoke(main, init).exit_code == 0
    _hide(monkeypatch, "boto3")
    _one_line(runner.invoke(main, ["ledger", "export", "--ledger", ledger, "s3://b/p"]), "s3")


def test_the_cli_turns_an_import_error_of_an_extra_into_one_line() -> None:
    @main.command("needs-dask-for-this-test")
    def needs() -> None:
        raise ModuleNotFoundError("No module named 'distributed'", name="distributed")

    @main.command("broken-for-this-test")
    def broken() -> None:
        raise ModuleNotFoundError("No module named 'nothing'", name="nothing")

    try:
        _one_line(CliRunner().invoke(main, ["needs-dask-for-this-test"]), "dask")
        result = CliRunner().invoke(main, ["broken-for-this-test"])
        assert isinstance(result.exception, ModuleNotFoundError)  # not ours: not hidden
    finally:
        for name in ("needs-dask-for-this-test", "broken-for-this-test"):
            main.commands.pop(name, None)
    assert isinstance(main, click.Group)
