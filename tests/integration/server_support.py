"""Helpers for the REST server tests: parties and keys, config files, a real server process.

The server runs as ``python -m auditor serve`` in a subprocess on 127.0.0.1 (port 0: the
server prints the one it got). When the test run measures coverage, the subprocess runs under
``coverage run --parallel-mode`` and is stopped with SIGINT, so that its data is saved and
combined with the test process's by pytest-cov.
"""

from __future__ import annotations

import copy
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from auditor.server.client import Client
from auditor.server.config import hash_key, new_key

ROOT = Path(__file__).resolve().parents[2]
ABC = "ABC Car Dealer Pte Ltd"
XYZ = "XYZ Car Dealer Pte Ltd"

# The invoice of the AWS sample's README [Q7] (its `INV01`), with an amount that needs exact
# decimal digits.
INVOICE: dict[str, Any] = {
    "date": "2021-05-22",
    "billTo": ABC,
    "paymentStatus": "PENDING",
    "carInfo": {"model": "Honda", "make": "Jazz", "year": 2021, "unitPrice": Decimal("89000.50")},
    "quantity": 10,
}


def invoice(bill_to: str = ABC, **changes: Any) -> dict[str, Any]:
    value = copy.deepcopy(INVOICE)
    value["billTo"] = bill_to
    value.update(changes)
    return value


@dataclass
class Party:
    name: str
    role: str
    key: str = field(default_factory=new_key)
    bill_to: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None

    def toml(self) -> str:
        lines = [
            "[[parties]]",
            f'name = "{self.name}"',
            f'role = "{self.role}"',
            f'key_sha256 = ["{hash_key(self.key)}"]',
        ]
        if self.bill_to:
            lines.append(f'bill_to = "{self.bill_to}"')
        if self.webhook_url:
            lines.append(f'webhook_url = "{self.webhook_url}"')
            lines.append(f'webhook_secret = "{self.webhook_secret}"')
        return "\n".join(lines) + "\n"


def parties() -> dict[str, Party]:
    return {
        "manufacturer": Party("carmaker", "manufacturer"),
        "dealer": Party("abc-dealer", "dealer", bill_to=ABC),
        "other_dealer": Party("xyz-dealer", "dealer", bill_to=XYZ),
        "auditor": Party("the-auditor", "auditor"),
    }


def write_config(
    path: Path, who: dict[str, Party], server: str = "", webhooks: str = "", extra: str = ""
) -> Path:
    text = "[server]\nrate = 100000.0\nburst = 100000\n" + server + "\n"
    if webhooks:
        text += "[webhooks]\n" + webhooks + "\n"
    text += extra + "\n" + "\n".join(p.toml() for p in who.values())
    path.write_text(text)
    path.chmod(0o600)
    return path


def _coverage_active() -> bool:
    try:
        import coverage
    except ImportError:  # pragma: no cover
        return False
    return coverage.Coverage.current() is not None


class ServerProcess:
    """``python -m auditor serve`` on 127.0.0.1 in a subprocess (a context manager)."""

    def __init__(
        self, ledger: Path, config: Path, *, workers: int = 1, args: tuple[str, ...] = ()
    ) -> None:
        self.ledger = ledger
        self.config = config
        self.workers = workers
        self.args = args
        self.url = ""
        self.log: list[str] = []
        self._process: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 30.0) -> ServerProcess:
        command = [sys.executable]
        if _coverage_active():
            command += [
                "-m",
                "coverage",
                "run",
                "--parallel-mode",
                f"--rcfile={ROOT / 'pyproject.toml'}",
            ]
        command += [
            "-m",
            "auditor",
            "serve",
            "--ledger",
            str(self.ledger),
            "--config",
            str(self.config),
            "--port",
            "0",
            "--workers",
            str(self.workers),
            *self.args,
        ]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        ready = threading.Event()

        def drain() -> None:
            assert self._process is not None
            assert self._process.stderr is not None
            for line in self._process.stderr:
                self.log.append(line.rstrip("\n"))
                found = re.search(r"on (http://127\.0\.0\.1:\d+)", line)
                if found and not self.url:
                    self.url = found.group(1)
                    ready.set()
            ready.set()

        self._drain = threading.Thread(target=drain, daemon=True)
        self._drain.start()
        if not ready.wait(timeout) or not self.url:
            self.kill()
            raise RuntimeError("the server did not start:\n" + "\n".join(self.log))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with Client(self.url) as probe:
                    if probe.request("GET", "/v1/health").status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError("the server does not answer:\n" + "\n".join(self.log))

    def client(self, party: Party | None = None, key: str | None = None) -> Client:
        return Client(self.url, key if key is not None else (party.key if party else None))

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def stop(self) -> int:
        """SIGINT (a graceful shutdown; coverage data is saved); returns the exit code."""
        if self._process is None:
            return 0
        if self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGINT)
            try:
                self._process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        code = self._process.returncode
        self._close()
        return code

    def _close(self) -> None:
        assert self._process is not None
        self._drain.join(10)
        if self._process.stderr is not None:
            self._process.stderr.close()
        self._process = None

    def kill(self) -> None:
        """SIGKILL the server and its workers: nothing gets a chance to clean up."""
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait(10)
        if self._process is not None:
            self._close()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_until(predicate: Any, timeout: float = 15.0, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns a true value (returned) or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {predicate}")
        time.sleep(interval)
