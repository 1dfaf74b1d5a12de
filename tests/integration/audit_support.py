"""Helpers of the export-audit tests: a deterministic ledger (and a fork of it), exports, ways
to damage them, a CLI runner, and a real moto S3 server on loopback (the approach of
test_export.py, copied here so the audit tests stand alone)."""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from auditor.cli import main
from auditor.export import ExportResult, export
from auditor.ledger import Ledger
from auditor.ledger.keys import SignerKey

FORMATS = ["ion_text", "ion_binary", "json"]
SEED_KEY = SignerKey("audited", bytes(range(32)))


def clock(start: datetime = datetime(2024, 5, 1, tzinfo=UTC)) -> Callable[[], datetime]:
    calls = iter(range(10_000_000))
    return lambda: start + next(calls) * timedelta(milliseconds=1250)


def make_ledger(path: str, seed: int = 3, invoices: int = 12) -> Ledger:
    """Invoices with updates (single and batched), a delete and a redaction; JSON-safe data
    (strings, ints, exact decimals, nested objects), so every export format can verify."""
    rng = random.Random(seed)
    ledger = Ledger.create(
        path, "audited", tables=["invoices", "dealers"], clock=clock(), rng=rng.randbytes,
        signer=SEED_KEY,
    )  # fmt: skip
    for i in range(invoices // 2):
        ledger.put("invoices", f"INV{i}", {"amount": Decimal(f"{100 + i}.50"), "status": "NEW",
                                           "lines": [{"qty": i, "sku": f"S{i}"}]})  # fmt: skip
    ledger.put_many(
        "invoices",
        [(f"INV{i}", {"amount": Decimal(f"{i}e2"), "status": "NEW"})
         for i in range(invoices // 2, invoices)],
    )  # fmt: skip
    ledger.put("dealers", "d1", "Bay Motors LLC")
    ledger.put("invoices", "INV0", {"amount": Decimal("100.50"), "status": "PAID"})
    ledger.put_many(
        "invoices",
        [
            ("INV1", {"amount": 7, "status": "PAID"}),
            ("INV2", {"amount": Decimal("-0.00"), "status": "VOID"}),
        ],
    )
    ledger.delete("invoices", "INV3")
    ledger.redact("invoices", "INV0", 0)
    ledger.put("invoices", "INV4", {"amount": Decimal("1.000"), "status": "PAID", "note": "ok"})
    return ledger


def grow(ledger: Ledger, n: int, tag: str = "g") -> None:
    for i in range(n):
        ledger.put("invoices", f"{tag}{i}", {"amount": Decimal(f"{i}.25"), "status": "NEW"})


def export_to(ledger: Ledger, dest: Path, fmt: str = "ion_text", per_object: int = 4,
              export_id: str | None = None) -> ExportResult:  # fmt: skip
    return export(ledger, str(dest), fmt, max_blocks_per_object=per_object, export_id=export_id)


def object_path(result: ExportResult, index: int) -> Path:
    return Path(result.location(result.keys[index]))


def object_range(path: Path) -> tuple[int, int]:
    first, last = path.name.split(".")[1].split("-")
    return int(first), int(last)


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")[:-1]


def write_lines(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(line + b"\n" for line in lines))


def rewrite_manifest_keys(result: ExportResult, keys: list[str]) -> None:
    """Rewrite the completed manifest (Ion text or JSON, as the export wrote it)."""
    path = Path(result.location(result.completed_manifest))
    if result.output_format == "JSON":
        path.write_text(json.dumps({"keys": keys}) + "\n")
    else:
        path.write_text("{keys:[" + ",".join(json.dumps(k) for k in keys) + "]}\n")


def digest_file(ledger: Ledger, path: Path, tip: int | None = None) -> Path:
    path.write_text(json.dumps(ledger.digest(tip).get_digest_json()) + "\n")
    return path


# -- the CLI ----------------------------------------------------------------------------------
def run(*args: str | os.PathLike[str]) -> Result:
    result = CliRunner().invoke(main, ["verify", "export", *[str(a) for a in args]])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert "Traceback" not in result.stderr + result.stdout
    return result


def report_of(*args: str | os.PathLike[str]) -> tuple[int, dict[str, Any], str]:
    """(exit code, the --json report, the verdict lines a person reads) of one audit, run
    twice: with --json, and without (its lines on stdout, diagnostics on stderr)."""
    result = run(*args, "--json")
    if "--state" in map(str, args):  # a second run would see the state the first one saved
        return result.exit_code, json.loads(result.stdout), result.stderr
    human = run(*args)
    assert human.exit_code == result.exit_code
    return result.exit_code, json.loads(result.stdout), human.stdout + human.stderr


# -- S3 through a real moto server on loopback ------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def moto_server(log_dir: Path) -> Iterator[str]:
    port = free_port()
    log = (log_dir / "moto.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "NO_PROXY": "*", "no_proxy": "*"},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"moto server exited with {process.returncode}")
            try:
                with opener.open(url + "/moto-api/reset", data=b"", timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    pytest.fail("moto server did not answer within 60 s")
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


def s3_settings(endpoint: str, tmp: Path) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "no-aws-credentials"),
        "NO_PROXY": "*",
        "no_proxy": "*",
    }


def use_s3(monkeypatch: pytest.MonkeyPatch, endpoint: str, tmp: Path) -> Any:
    import boto3

    from auditor.audit import source

    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    for name, value in s3_settings(endpoint, tmp).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(source._clients, "s3", None, raising=False)  # a client per endpoint
    return boto3.client("s3")
