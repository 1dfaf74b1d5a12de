"""`qldb-audit ledger …`: every command, and bad input → a clear error, exit 2, nothing written."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from auditor.cli import main
from auditor.ledger import Ledger

INVOICE = (
    '{"date":"2021-05-22","billTo":"ABC Car Dealer Pte Ltd","paymentStatus":"PENDING",'
    '"carInfo":{"model":"Jazz","make":"Honda","year":2021,"unitPrice":89000.50},"quantity":10}'
)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"QLDB_AUDIT_LEDGER": str(tmp_path / "inv.db")}


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


def ok(env: dict[str, str], *args: str) -> Any:
    result = run(env, *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout) if result.stdout.strip().startswith(("{", "[")) else result


def test_the_whole_command_set(env: dict[str, str], tmp_path: Path) -> None:
    created = ok(env, "ledger", "init", "--name", "carmaker", "--table", "invoices")
    key_file = Path(created["keyFile"])
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert created["vkey"].startswith("carmaker+")
    first = ok(env, "ledger", "put", "-t", "invoices", "TEST10011", INVOICE)
    assert (first["version"], first["data"]["carInfo"]["unitPrice"]) == (0, 89000.50)
    assert (
        '"unitPrice": 89000.50' in run(env, "ledger", "get", "-t", "invoices", "TEST10011").stdout
    )
    lines = tmp_path / "batch.jsonl"
    lines.write_text(
        "".join(json.dumps({"key": f"B{i}", "value": {"n": i}}) + "\n" for i in range(5))
        + json.dumps({"key": "S", "value": "a string value"})
        + "\n"
    )
    batch = ok(env, "ledger", "put-many", "-t", "invoices", str(lines))
    assert {r["blockAddress"]["sequenceNo"] for r in batch} == {3}  # one transaction
    # a string comes back as the string, an object as it was put (the KVS library's getValue)
    assert json.loads(ok(env, "ledger", "get", "-t", "invoices", "S").stdout) == "a string value"
    assert ok(env, "ledger", "get", "-t", "invoices", "B1") == {"n": 1}
    paid = INVOICE.replace("PENDING", "TRANSFERRED")
    ok(env, "ledger", "put", "-t", "invoices", "TEST10011", paid, "--expected-version", "0")
    history = ok(env, "ledger", "history", "-t", "invoices", "TEST10011")
    assert [h["version"] for h in history] == [0, 1]
    assert ok(env, "ledger", "history", "-t", "invoices", "TEST10011", "--to", "2000-01-01") == []
    ok(env, "ledger", "redact", "-t", "invoices", "TEST10011", "--version", "0")
    redacted = ok(env, "ledger", "history", "-t", "invoices", "TEST10011")[0]
    assert redacted["data"] is None
    assert redacted["dataHash"]
    ok(env, "ledger", "delete", "-t", "invoices", "B0")
    gone = run(env, "ledger", "get", "-t", "invoices", "B0")
    assert (gone.exit_code, gone.stdout) == (2, "")
    assert "invoices/B0: deleted (version 1" in gone.stderr
    ok(env, "ledger", "create-table", "dealers")
    for key in ("TEST10011", "B0"):  # the latest revision, and a deleted one
        out = tmp_path / f"{key}.json"
        ok(env, "ledger", "receipt", "-t", "invoices", key, "-o", str(out))
        vkey = run(env, "ledger", "vkey").stdout.strip()
        assert run(env, "verify", "bundle", str(out), "--trust-key", vkey).exit_code == 0
    digest = tmp_path / "digest.json"
    ok(env, "ledger", "digest", "-o", str(digest))
    # a receipt bundle is checked whole by `verify bundle`; `verify receipt` refuses it
    bundle = str(tmp_path / "TEST10011.json")
    refused = run(env, "verify", "receipt", bundle, "--digest", str(digest))
    assert refused.exit_code == 2
    assert "verify bundle" in refused.stdout
    cons = tmp_path / "c.json"
    ok(env, "ledger", "consistency", "--from", "1", "-o", str(cons))
    assert run(env, "verify", "consistency", str(cons), "--trust-key", vkey).exit_code == 0
    assert "blocks verified" in run(env, "ledger", "verify").stderr
    exported = ok(env, "ledger", "export", str(tmp_path / "export"), "--format", "ion_binary")
    assert exported["firstSequenceNo"] == 0
    assert exported["lastSequenceNo"] == Ledger.open(env["QLDB_AUDIT_LEDGER"]).tip()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["put", "-t", "invoices", "K", "not json"], 2, "K: VALUE: not JSON"),
        (["put", "-t", "invoices", "K", "[1, 2]"], 2, "a JSON object or a string"),
        (["put", "-t", "invoices", "K", '{"a": 1, "a": 2}'], 2, "duplicate key"),
        (["put", "-t", "invoices", "K", '{"big": "' + "x" * 5000 + '"}'], 2, "over 4096"),
        (["put", "-t", "nope", "K", "{}"], 2, "unknown table 'nope'"),
        (["put", "-t", "invoices", "K", "@/nonexistent/file.json"], 2, "cannot read"),
        (["put", "-t", "invoices", "A", "{}", "--expected-version", "3"], 1, "expected version 3"),
        (["redact", "-t", "invoices", "A", "--version", "0"], 2, "is the latest"),
        (["delete", "-t", "invoices", "missing"], 2, "no such document"),
        (["receipt", "-t", "invoices", "missing"], 2, "not found"),
        (["consistency", "--from", "99"], 2, "no consistency proof"),
        (["export", "/tmp/x", "--since", "not-a-time"], 2, "since"),
    ],
)
def test_bad_input_is_one_line_exit_code_and_nothing_written(
    env: dict[str, str], args: list[str], code: int, message: str
) -> None:
    ok(
        env,
        "ledger",
        "init",
        "--name",
        "carmaker",
        "--table",
        "invoices",
        "--max-document-bytes",
        "4096",
    )
    ok(env, "ledger", "put", "-t", "invoices", "A", "{}")
    tip = Ledger.open(env["QLDB_AUDIT_LEDGER"]).tip()
    result = run(env, "ledger", *args)
    assert result.exit_code == code, result.output
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output
    assert Ledger.open(env["QLDB_AUDIT_LEDGER"]).tip() == tip


def test_init_refuses_an_existing_ledger_and_open_needs_one(env: dict[str, str]) -> None:
    assert run(env, "ledger", "get", "-t", "invoices", "A").exit_code == 2
    ok(env, "ledger", "init", "--name", "carmaker")
    again = run(env, "ledger", "init", "--name", "carmaker")
    assert again.exit_code == 2
    assert "already exists" in again.stderr
    assert (
        run(env, "ledger", "init", "--name", "bad name!", "--ledger", "/tmp/other.db").exit_code
        == 2
    )


@pytest.mark.parametrize(
    "value",
    ['{"x": -465e99999}', '{"x": 7e-99999}'],  # amazon.ion's C writer cannot store these exactly
)
def test_values_ion_cannot_store_exactly_are_refused_before_writing(
    env: dict[str, str], value: str
) -> None:
    ok(env, "ledger", "init", "--name", "carmaker", "--table", "invoices")
    tip = Ledger.open(env["QLDB_AUDIT_LEDGER"]).tip()
    result = run(env, "ledger", "put", "-t", "invoices", "K", value)
    assert result.exit_code == 2
    assert "cannot be stored exactly" in result.stderr or "survive Ion encoding" in result.stderr
    assert Ledger.open(env["QLDB_AUDIT_LEDGER"]).tip() == tip
    assert "blocks verified" in run(env, "ledger", "verify").stderr
