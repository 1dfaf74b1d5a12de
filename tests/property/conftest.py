"""Fixtures for the property and differential tests.

``oracle``: one ``tests/oracle/oracle_server.py`` process per session, running under the oracle
interpreter (amazon.ion 0.9.3, ionhash 1.2.1, pyqldb 3.2.4). The interpreter is
``$QLDB_AUDIT_ORACLE_PYTHON`` or ``<repo>/.venv-oracle/bin/python``; if it is missing the tests
that need it FAIL (never skip) and say to run ``make oracle``.
"""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SERVER = REPO / "tests" / "oracle" / "oracle_server.py"
EXPECTED_VERSIONS = "amazon.ion=0.9.3 ionhash=1.2.1 pyqldb=3.2.4"
CHUNK = 200  # requests per round trip; keeps both pipes far below their 64 KiB buffers


class OracleError(RuntimeError):
    pass


class Oracle:
    """Client for the line protocol documented in ``oracle_server.py``."""

    def __init__(self, python: Path) -> None:
        self.python = python
        self.process = subprocess.Popen(
            [str(python), "-I", str(SERVER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            cwd=REPO,
        )

    def request(self, lines: Sequence[str]) -> list[str]:
        """Send request lines, return one response line each (``E ...`` for an oracle error)."""
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None
        assert stdout is not None
        responses: list[str] = []
        for start in range(0, len(lines), CHUNK):
            chunk = lines[start : start + CHUNK]
            try:
                stdin.write("".join(line + "\n" for line in chunk))
                stdin.flush()
            except OSError as error:
                raise OracleError(f"oracle process is gone ({error})") from error
            for _ in chunk:
                response = stdout.readline()
                if not response:
                    raise OracleError(f"oracle process exited (code {self.process.poll()})")
                responses.append(response.rstrip("\n"))
        return responses

    def ion_hashes(self, binaries: Sequence[bytes], mode: str = "H") -> list[str]:
        """Hex SHA-256 Ion Hash per Ion binary value; mode ``H`` = ``hash_value`` (what pyqldb
        uses), ``R`` = ionhash's streaming ``hash_reader``."""
        return self.request([f"{mode} {base64.b64encode(b).decode('ascii')}" for b in binaries])

    def text(self, binary: bytes) -> str:
        """The value as amazon.ion 0.9.3 reads it, as Ion text (for failure messages)."""
        return self.request([f"T {base64.b64encode(binary).decode('ascii')}"])[0]

    def dots(self, pairs: Sequence[tuple[bytes, bytes]]) -> list[str]:
        """Hex of pyqldb ``QldbHash(a).dot(QldbHash(b))`` per pair."""
        return self.request([f"D {a.hex() or '-'} {b.hex() or '-'}" for a, b in pairs])

    def close(self) -> None:
        process = self.process
        if process.stdin:
            process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - a hung oracle
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()


def oracle_python() -> Path:
    configured = os.environ.get("QLDB_AUDIT_ORACLE_PYTHON")
    candidate = Path(configured) if configured else REPO / ".venv-oracle" / "bin" / "python"
    if not candidate.is_absolute() and not candidate.exists():
        candidate = REPO / candidate
    # absolute(), not resolve(): resolving a venv's python symlink would escape the venv.
    return candidate.absolute()


@pytest.fixture(scope="session")
def oracle() -> Iterator[Oracle]:
    python = oracle_python()
    if not python.exists():
        pytest.fail(
            f"oracle interpreter {python} does not exist. Run `make oracle` (creates .venv-oracle "
            "with amazon.ion 0.9.3, ionhash 1.2.1 and pyqldb 3.2.4), or set "
            "QLDB_AUDIT_ORACLE_PYTHON to such an interpreter.",
            pytrace=False,
        )
    client = Oracle(python)
    try:
        try:
            versions = client.request(["V"])[0]
        except OracleError as error:
            versions = str(error)
        if versions != EXPECTED_VERSIONS:
            pytest.fail(
                f"oracle at {python} answered {versions!r} instead of {EXPECTED_VERSIONS!r}; "
                "rerun `make oracle` (or fix QLDB_AUDIT_ORACLE_PYTHON).",
                pytrace=False,
            )
        yield client
    finally:
        client.close()
