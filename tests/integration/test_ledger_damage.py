"""Damaged, foreign, read-only and full files under `qldb-audit ledger …`.

Every command on a file that is not a usable ledger (garbage, truncated, another schema,
damaged pages), with a missing or garbage key file, on a full disk, or writing to a read-only
ledger ends with exit 2 and one line naming the file — never a traceback, never exit 1 (the
conflict code) — and leaves no partial output file behind. ``init`` creates the ledger and its
key together or neither. A read-only ledger can be verified and read.

Full disks are real small tmpfs mounts when the tests run as root (skipped otherwise), and
``RLIMIT_FSIZE`` in a child process (any user): writes past the limit fail with EFBIG.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from auditor.cli import main
from auditor.ledger import Ledger, LedgerError
from auditor.ledger.keys import SignerKey
from tests.conftest import FIXTURES, ROOT

DAMAGED = FIXTURES / "ledger" / "damaged"
TRIGGERS = ["garbage.db", "truncated.db", "other-schema.db", "page-corrupted.db"]


def run(*args: str) -> Result:
    return CliRunner().invoke(main, ["ledger", *args])


def assert_one_line_error(result: Result, code: int, *names: str) -> str:
    """Exit ``code`` (a SystemExit, not an exception), one ``ERROR:``/``FAIL:`` line naming
    every one of ``names``, nothing on stdout."""
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(("ERROR: ", "FAIL: ")), lines
    for name in names:
        assert name in lines[0], (name, lines[0])
    assert "Traceback" not in result.output
    assert result.stdout == ""
    return lines[0]


def commands(out: Path, tmp: Path) -> list[list[str]]:
    lines = tmp / "batch.jsonl"
    lines.write_text('{"key": "N1", "value": {"n": 1}}\n')
    return [
        ["vkey"],
        ["create-table", "more"],
        ["put", "-t", "invoices", "NEW", '{"n": 1}'],
        ["put-many", "-t", "invoices", str(lines)],
        ["get", "-t", "invoices", "INV0000"],
        ["history", "-t", "invoices", "INV0000"],
        ["delete", "-t", "invoices", "INV0003"],
        ["redact", "-t", "invoices", "INV0001", "--version", "0"],
        ["receipt", "-t", "invoices", "INV0000", "-o", str(out)],
        ["digest", "-o", str(out)],
        ["consistency", "--from", "0", "-o", str(out)],
        ["verify"],
        ["export", str(tmp / "export")],
    ]


def key_for(path: Path) -> None:
    """A signing key beside ``path`` (made at test time; the fixtures carry none)."""
    (path.parent / (path.name + ".key")).write_text(str(SignerKey.generate("carmaker")) + "\n")


@pytest.mark.parametrize("trigger", TRIGGERS)
def test_every_command_on_a_damaged_file_is_exit_2_naming_it(trigger: str, tmp_path: Path) -> None:
    path = tmp_path / trigger
    shutil.copy(DAMAGED / trigger, path)
    key_for(path)
    out = tmp_path / "out.json"
    for args in commands(out, tmp_path):
        result = run(*args, "--ledger", str(path))
        assert_one_line_error(result, 2, str(path))
        assert not out.exists(), args
        assert not (tmp_path / "export").exists(), args
    again = run("init", "--name", "carmaker", "--ledger", str(path))
    assert_one_line_error(again, 2, str(path), "already exists")
    assert (DAMAGED / trigger).read_bytes() == path.read_bytes()  # nothing was written to it


def test_every_command_on_a_directory_or_an_empty_file_is_exit_2(tmp_path: Path) -> None:
    directory, empty = tmp_path / "dir.db", tmp_path / "empty.db"
    directory.mkdir()
    empty.write_bytes(b"")
    out = tmp_path / "out.json"
    for path, problem in ((directory, "not a file"), (empty, "no table meta")):
        for args in commands(out, tmp_path):
            assert_one_line_error(run(*args, "--ledger", str(path)), 2, str(path), problem)
            assert not out.exists()
    assert empty.read_bytes() == b""


def test_page_corruption_is_refused_even_where_a_read_would_not_touch_it(tmp_path: Path) -> None:
    """The damaged page holds late blocks only: SQLite reads INV0000 without error, so only
    the quick_check at open refuses it."""
    path = tmp_path / "page-corrupted.db"
    shutil.copy(DAMAGED / "page-corrupted.db", path)
    line = assert_one_line_error(run("get", "-t", "invoices", "INV0000", "--ledger", str(path)), 2)
    assert "damaged SQLite file (quick_check: database disk image is malformed)" in line


def test_a_genuine_copy_of_the_fixture_ledger_works(tmp_path: Path) -> None:
    """The control: the same commands on a genuine ledger succeed (so the checks above are
    about the damage, not the commands)."""
    path = tmp_path / "genuine.db"
    sys.path.insert(0, str(DAMAGED))
    try:
        import make_damaged  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(DAMAGED))
    make_damaged.build(path)
    key = SignerKey("carmaker", __import__("hashlib").sha256(b"damaged-fixtures").digest())
    (tmp_path / "genuine.db.key").write_text(str(key) + "\n")
    out = tmp_path / "out.json"
    for args in commands(out, tmp_path):
        result = run(*args, "--ledger", str(path))
        assert result.exit_code == 0, (args, result.output)
        out.unlink(missing_ok=True)


# -- key files -------------------------------------------------------------------------------
@pytest.fixture
def ledger_path(tmp_path: Path) -> Path:
    path = tmp_path / "inv.db"
    ledger = Ledger.create(str(path), "carmaker", tables=["invoices"])
    ledger.put("invoices", "A", {"n": 1})
    ledger.close()
    return path


KEY_FILES: dict[str, bytes | None] = {
    "missing": None,
    "empty (a failed init of old)": b"",
    "garbage": bytes(range(256)) * 4,
    "not UTF-8": b"PRIVATE+KEY+carmaker+00000000+\xff\xfe\n",
    "truncated": b"PRIVATE+KEY+carmaker+",
    "another ledger's key": (str(SignerKey.generate("carmaker")) + "\n").encode(),
}


@pytest.mark.parametrize("content", list(KEY_FILES.values()), ids=list(KEY_FILES))
def test_a_bad_key_file_is_exit_2_naming_it(
    ledger_path: Path, tmp_path: Path, content: bytes | None
) -> None:
    key = Path(str(ledger_path) + ".key")
    if content is None:
        key.unlink()
    else:
        key.write_bytes(content)
    out = tmp_path / "out.json"
    for args in (
        ["vkey"],
        ["digest", "-o", str(out)],
        ["receipt", "-t", "invoices", "A", "-o", str(out)],
        ["consistency", "--from", "0", "-o", str(out)],
        ["export", str(tmp_path / "export")],
    ):
        assert_one_line_error(run(*args, "--ledger", str(ledger_path)), 2, str(key))
        assert not out.exists()
    # what needs no signature still works; verify checks a key file that is there
    assert run("get", "-t", "invoices", "A", "--ledger", str(ledger_path)).exit_code == 0
    verified = run("verify", "--ledger", str(ledger_path))
    if content is None:  # a copy without its private key (an auditor's) verifies
        assert verified.exit_code == 0, verified.output
    else:
        assert_one_line_error(verified, 2, str(key))


# -- CLI slips ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xff", "not UTF-8 text"),
        (b"[" * 100_000 + b"]" * 100_000, "nested deeper than 100 levels"),
        (b'{"x": 1e99999999999999999999}', "not JSON"),
        (b"", "not JSON"),
    ],
    ids=["binary file", "deep nesting", "huge exponent", "empty file"],
)
def test_put_of_a_bad_value_file_is_exit_2_naming_it(
    ledger_path: Path, tmp_path: Path, content: bytes, message: str
) -> None:
    value = tmp_path / "value.bin"
    value.write_bytes(content)
    before = Ledger.open(str(ledger_path)).tip()
    for args in (
        ["put", "-t", "invoices", "K", f"@{value}"],
        ["put-many", "-t", "invoices", str(value)],
    ):
        result = run(*args, "--ledger", str(ledger_path))
        if content == b"" and args[0] == "put-many":
            assert_one_line_error(result, 2, "nothing to write")
            continue
        assert_one_line_error(result, 2, str(value), message)
    assert Ledger.open(str(ledger_path)).tip() == before


def test_get_and_history_of_a_missing_key_are_exit_2(ledger_path: Path) -> None:
    for command in ("get", "history"):
        result = run(command, "-t", "invoices", "nope", "--ledger", str(ledger_path))
        assert_one_line_error(result, 2, str(ledger_path), "invoices/nope: no such key")
    args = ["history", "-t", "invoices", "A", "--to", "2000-01-01", "--ledger", str(ledger_path)]
    result = run(*args)
    assert (result.exit_code, json.loads(result.stdout)) == (0, [])  # it exists, none in range


def test_a_deep_value_is_refused_by_the_ledger_itself(ledger_path: Path) -> None:
    deep: Any = {"n": 1}
    for _ in range(70):
        deep = {"d": deep}
    ledger = Ledger.open(str(ledger_path))
    with pytest.raises(Exception, match="nested deeper than 64") as raised:
        ledger.put("invoices", "deep", deep)
    assert type(raised.value).__name__ == "LedgerError"


# -- init: both files or neither ------------------------------------------------------------
def test_init_refuses_a_stale_write_ahead_log(tmp_path: Path) -> None:
    path = tmp_path / "l.db"
    (tmp_path / "l.db-wal").write_bytes(b"old")
    result = run("init", "--name", "carmaker", "--ledger", str(path))
    assert_one_line_error(result, 2, "l.db-wal", "already exists")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["l.db-wal"]


def test_concurrent_inits_give_one_ledger_with_its_own_key(tmp_path: Path) -> None:
    path = tmp_path / "race.db"
    outcomes: list[str] = []

    def init() -> None:
        try:
            Ledger.create(str(path), "carmaker").close()
            outcomes.append("created")
        except LedgerError as e:
            outcomes.append(f"{type(e).__name__}: {e}")

    threads = [threading.Thread(target=init) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("created") == 1, outcomes
    assert all("already exists" in o for o in outcomes if o != "created"), outcomes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["race.db", "race.db.key"]
    ledger = Ledger.open(str(path))
    assert ledger.vkey == str(ledger.signer.verifier)  # the key file is this ledger's (meta)
    ledger.digest()
    assert ledger.verify_journal() == 1


# -- full disks --------------------------------------------------------------------------------
def _can_mount() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None


@contextlib.contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    where.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(directory: Path) -> None:
    """Fill the file system of ``directory`` to the last byte."""
    fd = os.open(directory / "filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        for chunk in (b"\0" * 65536, b"\0" * 512, b"\0"):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, chunk)
    finally:
        os.close(fd)


def cli(*args: str, fsize: int | None = None) -> subprocess.CompletedProcess[str]:
    """``qldb-audit ledger …`` in a child process, its file sizes capped at ``fsize``."""

    def limit() -> None:
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    return subprocess.run(
        [sys.executable, "-m", "auditor", "ledger", *args],
        capture_output=True, text=True, preexec_fn=limit, cwd=ROOT, timeout=120,
    )  # fmt: skip


def assert_exit_2(done: subprocess.CompletedProcess[str], *names: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("ERROR: "), done.stderr
    for name in names:
        assert name in lines[0], (name, lines[0])


@pytest.mark.skipif(not _can_mount(), reason="a real full disk needs root (mount tmpfs)")
def test_full_disk_tmpfs(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "small", "1m") as disk:
        # init on a full disk leaves nothing, and a later init (with room) works
        fill(disk)
        path = disk / "l.db"
        assert_exit_2(cli("init", "--name", "carmaker", "--ledger", str(path)), "l.db")
        assert sorted(p.name for p in disk.iterdir()) == ["filler"]
        (disk / "filler").unlink()
        init = cli("init", "--name", "carmaker", "--table", "T", "--ledger", str(path))
        assert init.returncode == 0, init.stderr
        assert cli("put", "-t", "T", "A", '{"n": 1}', "--ledger", str(path)).returncode == 0
        # a write on a full disk: exit 2, nothing written, the ledger still verifies
        fill(disk)
        big = json.dumps({"pad": "x" * 100_000})
        assert_exit_2(cli("put", "-t", "T", "B", big, "--ledger", str(path)), str(path))
        # even reading needs room (SQLite's shared-memory index): exit 2 naming the ledger
        assert_exit_2(cli("get", "-t", "T", "A", "--ledger", str(path)), str(path))
        (disk / "filler").unlink()
        # outputs onto another, full disk: exit 2 naming the file, no file (or temporary) left
        with tmpfs(tmp_path / "full", "256k") as full:
            fill(full)
            for args in (["receipt", "-t", "T", "A"], ["digest"], ["consistency", "--from", "0"]):
                out = full / "out.json"
                assert_exit_2(cli(*args, "-o", str(out), "--ledger", str(path)), str(out))
                assert sorted(p.name for p in full.iterdir()) == ["filler"]
        assert "blocks verified" in cli("verify", "--ledger", str(path)).stderr
        got = cli("get", "-t", "T", "A", "--ledger", str(path))
        assert (got.returncode, json.loads(got.stdout)) == (0, {"n": 1})
        assert cli("get", "-t", "T", "B", "--ledger", str(path)).returncode == 2


def test_full_disk_rlimit(tmp_path: Path) -> None:
    """The same with RLIMIT_FSIZE (no root needed): every file write past the cap fails."""
    path = tmp_path / "l.db"
    assert_exit_2(cli("init", "--name", "carmaker", "--ledger", str(path), fsize=8192), "l.db")
    assert list(tmp_path.iterdir()) == []  # neither the ledger nor its key, nor a temporary
    assert cli("init", "--name", "carmaker", "--table", "T", "--ledger", str(path)).returncode == 0
    big = {"pad": "x" * 100_000}
    cap = ["--max-document-bytes", "200000"]
    shutil.rmtree(tmp_path)
    tmp_path.mkdir()
    init = cli("init", "--name", "carmaker", "--table", "T", *cap, "--ledger", str(path))
    assert init.returncode == 0, init.stderr
    assert cli("put", "-t", "T", "A", json.dumps(big), "--ledger", str(path)).returncode == 0
    # the write-ahead log of a 100 KB put outgrows 64 KB (SQLite's 32 KB index fits)
    done = cli("put", "-t", "T", "B", json.dumps(big), "--ledger", str(path), fsize=65536)
    assert_exit_2(done, str(path))
    out = tmp_path / "receipt.json"  # a receipt of a 100 KB document is over 100 KB
    done = cli("receipt", "-t", "T", "A", "-o", str(out), "--ledger", str(path), fsize=65536)
    assert_exit_2(done, str(out))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["l.db", "l.db.key"]
    assert "blocks verified" in cli("verify", "--ledger", str(path)).stderr
    assert cli("get", "-t", "T", "B", "--ledger", str(path)).returncode == 2
    assert cli("receipt", "-t", "T", "A", "-o", str(out), "--ledger", str(path)).returncode == 0


# -- read-only ledgers -----------------------------------------------------------------------
def _read_only_commands(path: Path, tmp: Path) -> None:
    """A read-only ledger reads and verifies; writes are exit 2 naming it; nothing changes."""
    before = {p.name: p.read_bytes() for p in path.parent.iterdir()}
    ok = [
        ["verify"],
        ["get", "-t", "T", "A"],
        ["history", "-t", "T", "A"],
        ["vkey"],
        ["receipt", "-t", "T", "A", "-o", str(tmp / "r.json")],
        ["digest", "-o", str(tmp / "d.json")],
        ["consistency", "--from", "1", "-o", str(tmp / "c.json")],
        ["export", str(tmp / "export")],
    ]
    for args in ok:
        done = cli(*args, "--ledger", str(path))
        assert done.returncode == 0, (args, done.stderr)
    for args in (
        ["put", "-t", "T", "B", "{}"],
        ["delete", "-t", "T", "A"],
        ["create-table", "U"],
        ["redact", "-t", "T", "A", "--version", "0"],
    ):
        assert_exit_2(cli(*args, "--ledger", str(path)), str(path), "read-only")
    assert {p.name: p.read_bytes() for p in path.parent.iterdir()} == before
    receipt = json.loads((tmp / "r.json").read_text())
    vkey = cli("vkey", "--ledger", str(path)).stdout.strip()
    checked = subprocess.run(
        [sys.executable, "-m", "auditor", "verify", "bundle", str(tmp / "r.json"),
         "--trust-key", vkey], capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    assert receipt["key"] == "A"


def _genuine(directory: Path, crashed: bool = False) -> Path:
    path = directory / "l.db"
    ledger = Ledger.create(str(path), "carmaker", tables=["T"])
    ledger.put("T", "A", {"n": 1})
    ledger.put("T", "A", {"n": 2})
    ledger.close()
    if crashed:  # commits left in the write-ahead log, as after kill -9
        subprocess.run(
            [sys.executable, "-c", "import os, sys; from auditor.ledger import Ledger; "
             "l = Ledger.open(sys.argv[1]); l.put('T', 'C', {'n': 3}); os._exit(0)", str(path)],
            check=True, cwd=ROOT,
        )  # fmt: skip
        assert Path(str(path) + "-wal").stat().st_size > 0
    return path


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes read-only files; see the mount test")
def test_read_only_files(tmp_path: Path) -> None:
    directory = tmp_path / "ro"
    directory.mkdir()
    path = _genuine(directory)
    for p in directory.iterdir():
        p.chmod(0o400)
    directory.chmod(0o500)
    try:
        _read_only_commands(path, tmp_path)
    finally:
        directory.chmod(0o700)


@pytest.mark.skipif(not _can_mount(), reason="read-only media needs root (mount tmpfs ro)")
@pytest.mark.parametrize("crashed", [False, True], ids=["closed cleanly", "after a crash"])
def test_read_only_media(tmp_path: Path, crashed: bool) -> None:
    with tmpfs(tmp_path / "media", "4m") as media:
        path = _genuine(media, crashed)
        subprocess.run(["mount", "-o", "remount,ro", str(media)], check=True)
        _read_only_commands(path, tmp_path)
        if crashed:  # the commit in the write-ahead log is read, not lost
            done = cli("get", "-t", "T", "C", "--ledger", str(path))
            assert (done.returncode, json.loads(done.stdout)) == (0, {"n": 3})
