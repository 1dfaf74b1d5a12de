"""Fuzz the CLI entry points in-process (click's ``CliRunner``): each example writes one
mutated file (the input, or the trusted ``--digest``/``--trust-key``/``--state`` file, or one
file of an export) beside valid others, so what is fuzzed is what gets parsed, and runs
``qldb-audit verify <command>``.

Documented outcomes: exit 0, 1, 2 or 3; no traceback in the output and no exception out of
the command; no "cannot be checked (SomeError)" (a catch-all hiding a parser bug:
``QLDB_AUDIT_DEBUG=1`` makes those raise, so they count as tracebacks); an exit 2 names the
file; no refusal for the parse budget (an overrun).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from auditor.cli import main
from tests.fuzz.harness import (
    PARSE_BUDGET,
    ROOT,
    FuzzFailureError,
    fuzz_settings,
    inputs,
    is_overrun,
    run,
    seeds,
)

ENV = {"QLDB_AUDIT_DEBUG": "1", "QLDB_AUDIT_PARSE_BUDGET": PARSE_BUDGET}
EXPORT = ROOT / "fixtures" / "qldb" / "exports" / "generated" / "ion-text"
EXPORT_DIGEST = ROOT / "fixtures" / "qldb" / "exports" / "generated" / "digests"
UNFORESEEN = ("Traceback", "cannot be checked (", "cannot be audited (", "unexpected-input")


def pick(corpus: list[tuple[str, bytes]], *names: str) -> list[tuple[str, bytes]]:
    """The seeds whose names start with ``names``, in that order (the first is the valid
    file written beside a fuzzed one)."""
    out = [(n, d) for p in names for n, d in corpus if Path(n).name.startswith(p)]
    assert out, names
    return out


ALL = seeds("formats-json", "ion-text", "ion-binary")
KEYS = seeds("vkey")
KEY = pick(KEYS, "carmaker")


@dataclass
class Command:
    """``args`` with ``{role}`` placeholders; ``roles``: the seeds of each file; the example
    fuzzes one role's file and writes the others' first seed as they are."""

    args: list[str]
    roles: dict[str, list[tuple[str, bytes]]]


COMMANDS = {
    "cli-revision": Command(
        ["verify", "revision", "{input}", "--digest", "{digest}"],
        {
            "input": pick(ALL, "revision-", "getrevision-", "stream-revision-"),
            "digest": pick(ALL, "derived-digest-KmA3"),
        },
    ),
    "cli-block": Command(
        ["verify", "block", "{input}", "--digest", "{digest}"],
        {
            "input": pick(ALL, "getblock-", "journal-block-", "stream-block-summary-"),
            "digest": pick(ALL, "derived-digest-KmA3"),
        },
    ),
    "cli-receipt": Command(
        ["verify", "receipt", "{input}", "--digest", "{digest}"],
        {
            "input": pick(ALL, "receipt-1HqU", "getrevision-"),
            "digest": pick(ALL, "digest-1HqU-19-tip19"),
        },
    ),
    "cli-bundle": Command(
        ["verify", "bundle", "{input}", "--trust-key", "{key}"],
        {"input": pick(ALL, "receipt-TEST", "bundle-"), "key": KEY + KEYS},
    ),
    "cli-consistency": Command(
        ["verify", "consistency", "{input}", "--trust-key", "{key}"],
        {"input": pick(ALL, "consistency-"), "key": KEY + KEYS},
    ),
}


def roles_and_inputs(command: Command) -> st.SearchStrategy[tuple[str, str, bytes]]:
    return st.one_of(
        [inputs(corpus).map(lambda c, r=role: (r, *c)) for role, corpus in command.roles.items()]
    )


def outcome_of(args: list[str], fuzzed: Path, names: tuple[str, ...]) -> str:
    """Run the CLI, judge its outcome, return ``exit N``."""
    result = CliRunner().invoke(main, args, env=ENV)
    output = result.output + result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise FuzzFailureError(f"{' '.join(args[:2])}: {type(result.exception).__name__}: "
                          f"{result.exception}") from result.exception  # fmt: skip
    if result.exit_code not in (0, 1, 2, 3):
        raise FuzzFailureError(f"{' '.join(args[:2])}: exit {result.exit_code}: {output[-500:]}")
    unforeseen = [u for u in UNFORESEEN if u in output]
    if unforeseen:
        raise FuzzFailureError(f"{' '.join(args[:2])}: {unforeseen[0]!r} in: {output[-800:]}")
    if is_overrun(output):
        raise FuzzFailureError(f"{' '.join(args[:2])}: budget overrun: {output[-500:]}")
    if result.exit_code == 2 and not any(n in output for n in names):
        raise FuzzFailureError(f"{' '.join(args[:2])}: exit 2 without naming {fuzzed}: {output}")
    return f"exit {result.exit_code}"


def fuzz_command(target: str, scratch: Path, case: tuple[str, str, bytes]) -> None:
    command = COMMANDS[target]
    role, seed_name, data = case
    paths: dict[str, Path] = {}
    for r, corpus in command.roles.items():
        name = Path(seed_name if r == role else corpus[0][0]).name
        paths[r] = scratch / r / name
        paths[r].parent.mkdir(exist_ok=True)
        if r != role:
            paths[r].write_bytes(corpus[0][1])
    args = [a.format(**{r: str(p) for r, p in paths.items()}) for a in command.args]

    def check(fuzzed: bytes) -> str:
        paths[role].write_bytes(fuzzed)
        return outcome_of(args, paths[role], (str(paths[role]), paths[role].name))

    run(target, data, check)


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    return tmp_path


def _command_test(target: str, short: int) -> Callable[..., None]:
    @fuzz_settings(short)
    @given(case=roles_and_inputs(COMMANDS[target]))
    def test(scratch: Path, case: tuple[str, str, bytes]) -> None:
        fuzz_command(target, scratch, case)

    test.__name__ = f"test_fuzz_{target.replace('-', '_')}"
    return test


test_fuzz_cli_revision = _command_test("cli-revision", 150)
test_fuzz_cli_block = _command_test("cli-block", 120)
test_fuzz_cli_receipt = _command_test("cli-receipt", 150)
test_fuzz_cli_bundle = _command_test("cli-bundle", 150)
test_fuzz_cli_consistency = _command_test("cli-consistency", 120)


# -- verify export: one file of a real export directory is the fuzzed one ----------------------
def export_roles() -> dict[str, list[tuple[str, bytes]]]:
    return {
        "manifest": pick(seeds("manifest"), "HUYL"),
        "object": [(p.name, p.read_bytes()) for p in sorted(EXPORT.glob("*/*.4-5.ion"))],
        "digest": [(p.name, p.read_bytes()) for p in [EXPORT_DIGEST / "digest-tip-039.json"]],
        "state": seeds("state"),
    }


EXPORT_ROLES = export_roles()


@pytest.fixture
def export_copy(tmp_path: Path) -> Path:
    shutil.copytree(EXPORT, tmp_path / "export")
    return tmp_path


@fuzz_settings(120)
@given(
    case=st.one_of([inputs(c).map(lambda x, r=role: (r, *x)) for role, c in EXPORT_ROLES.items()])
)
def test_fuzz_cli_export(export_copy: Path, case: tuple[str, str, bytes]) -> None:
    role, seed_name, data = case
    export = export_copy / "export"
    digest = export_copy / EXPORT_ROLES["digest"][0][0]
    state = export_copy / "state.json"
    if role == "manifest":
        fuzzed = export / Path(seed_name).name
    elif role == "object":
        fuzzed = next(export.glob(f"*/{seed_name}"))
    else:
        fuzzed = digest if role == "digest" else state
    originals = {p: p.read_bytes() for p in (fuzzed,) if p.exists()}
    digest.write_bytes(EXPORT_ROLES["digest"][0][1])
    args = ["verify", "export", str(export), "--digest", str(digest)]
    if role == "state":
        args += ["--state", str(state)]

    def check(data: bytes) -> str:
        fuzzed.write_bytes(data)
        try:
            return outcome_of(args, fuzzed, (fuzzed.name, str(export)))
        finally:
            for path, content in originals.items():
                path.write_bytes(content)

    run("cli-export", data, check)
