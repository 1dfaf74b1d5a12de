"""Crash safety of the writer with a real child process killed by SIGKILL.

The child opens the ledger and commits transactions in a loop; after each ``put_many`` returns
it prints the keys on stdout and flushes, so a line the parent reads is an acknowledged write.
Each transaction also updates the run's counter document, so the counter names the last
committed transaction and every batch is all-or-nothing checkable. The parent kills the child
after N acknowledgements (at slightly different moments), reopens the ledger and checks that
every acknowledged key is there with its data, the journal verifies, the tip block is complete,
no revision, document or tree node exists outside a committed block, and the new digest is
consistent with every digest taken before the crashes.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import proofs
from auditor.ledger import Ledger, NotFoundError

CHILD = """
import sys
from decimal import Decimal
from auditor.ledger import Ledger

def document(key, i):
    return {"key": key, "amount": Decimal(i).scaleb(-2) + Decimal("1000.10"), "pad": "p" * 300}

path, run, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
ledger = Ledger.open(path)
print("ready", flush=True)
i = 0
while True:
    keys = [f"{run}-{i}-{j}" for j in range(batch)]
    items = [(k, document(k, i)) for k in keys] + [(f"{run}-counter", {"i": i})]
    ledger.put_many("T", items)
    print(" ".join(keys), flush=True)
    i += 1
"""

TIMEOUT = 20.0  # a child that outlives this is killed and the test fails


def document(key: str, i: int) -> dict[str, Any]:
    """What the child writes for ``key`` in its ``i``-th transaction (the same formula)."""
    return {"key": key, "amount": Decimal(i).scaleb(-2) + Decimal("1000.10"), "pad": "p" * 300}


def run_and_kill(script: Path, path: str, run: str, batch: int, acks: int, delay: float) -> int:
    """Start a writer, read ``acks`` acknowledged transactions, wait ``delay`` s, SIGKILL it.
    Returns how many transactions the child acknowledged in all (the lines read before the kill
    plus the complete lines it printed meanwhile), checking each line's keys."""
    child = subprocess.Popen(
        [sys.executable, str(script), path, run, str(batch)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(TIMEOUT, child.kill)
    watchdog.start()
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "ready\n", child.stderr.read() if child.stderr else ""
        lines = [child.stdout.readline() for _ in range(acks)]
        if delay:
            time.sleep(delay)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=TIMEOUT)
        rest = child.stdout.read()  # through the same buffer as readline (not communicate)
    finally:
        watchdog.cancel()
        child.kill()
        child.communicate()
    assert child.returncode == -signal.SIGKILL
    lines += rest.splitlines(keepends=True)
    acknowledged = [line for line in lines if line.endswith("\n")]  # a cut-off line is not one
    for i, line in enumerate(acknowledged):
        assert line.split() == [f"{run}-{i}-{j}" for j in range(batch)], line
    assert len(acknowledged) >= acks
    return len(acknowledged)


def check_recovered(path: str, run: str, batch: int, acked: int) -> None:
    ledger = Ledger.open(path)
    try:
        tip = ledger.tip()
        assert ledger.verify_journal() == tip + 1
        # the tip block is whole: it verifies and each of its revisions is indexed
        block = ledger.block(tip)
        result = proofs.verify_block(block)
        assert result.sequence_no == tip
        for revision in block["revisions"]:
            metadata = revision["metadata"]
            stored = ledger.revision_by_doc_and_tx(str(metadata["id"]), str(metadata["txId"]))
            assert stored.hash == bytes(revision["hash"])
        # the counter names the last committed transaction: at least every acknowledged one
        counter = ledger.get("T", f"{run}-counter")
        committed = -1 if counter is None else int(counter["i"])
        assert committed >= acked - 1, f"acknowledged {acked} transactions, found {committed + 1}"
        assert committed <= acked, "more than one unacknowledged transaction committed"
        for i in range(committed + 1):  # all of each committed batch, with its data
            for j in range(batch):
                key = f"{run}-{i}-{j}"
                assert ledger.get("T", key) == {**document(key, i), "_k": key}, key
        for j in range(batch):  # nothing of the batch that was cut off
            with pytest.raises(NotFoundError):
                ledger.revision("T", f"{run}-{committed + 1}-{j}")
    finally:
        ledger.close()
    check_no_orphans(path)


def check_no_orphans(path: str) -> None:
    """Read the file directly: every revision, document and tree node belongs to a committed
    block, and each block's revision list is fully indexed."""
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        tip = db.execute("SELECT max(seq) FROM blocks").fetchone()[0]
        assert db.execute("SELECT count(*) FROM blocks").fetchone() == (tip + 1,)
        assert db.execute("SELECT count(*) FROM revisions WHERE seq > ?", (tip,)).fetchone() == (0,)
        in_blocks = sum(
            len(row[0]) // 32 for row in db.execute("SELECT revision_hashes FROM blocks")
        )
        assert db.execute("SELECT count(*) FROM revisions").fetchone() == (in_blocks,)
        dangling = db.execute(
            "SELECT count(*) FROM documents d LEFT JOIN revisions r "
            "ON r.doc_id = d.doc_id AND r.version = d.version WHERE r.doc_id IS NULL"
        ).fetchone()
        assert dangling == (0,)
        assert db.execute("SELECT count(*) FROM nodes WHERE level = 0").fetchone() == (tip + 1,)
        assert db.execute("SELECT max(idx) FROM nodes WHERE level = 0").fetchone() == (tip,)
    finally:
        db.close()


@pytest.mark.parametrize(
    ("batch", "rounds"),
    [
        # (acknowledgements to wait for, extra delay before the kill in seconds)
        (1, [(0, 0.0), (1, 0.0), (7, 0.0003), (40, 0.0011), (90, 0.0)]),
        (25, [(0, 0.002), (1, 0.0), (4, 0.0007), (12, 0.0)]),
        (5, [(3, delay / 10_000) for delay in (0, 2, 5, 10, 20, 40, 80)]),
    ],
    ids=["single-document transactions", "batches of 25", "batches of 5, spread kills"],
)
def test_sigkill_loses_no_acknowledged_write(
    tmp_path: Path, batch: int, rounds: list[tuple[int, float]]
) -> None:
    script = tmp_path / "writer.py"
    script.write_text(CHILD)
    path = str(tmp_path / "crash.db")
    Ledger.create(path, "crash", tables=["T"]).close()
    seen: list[tuple[int, bytes]] = []  # digests observed between crashes
    for number, (acks, delay) in enumerate(rounds):
        run = f"r{number}"
        acknowledged = run_and_kill(script, path, run, batch, acks, delay)
        check_recovered(path, run, batch, acknowledged)
        ledger = Ledger.open(path)
        try:
            # recovery never rewrote history: each earlier digest is a prefix of the new one
            now = ledger.digest()
            for tip, digest in seen:
                proof = ledger.consistency_proof(tip, now.tip)
                proofs.verify_consistency(digest, now.digest, proof, old_tip=tip, new_tip=now.tip)
            seen.append((now.tip, now.digest))
            ledger.put("T", f"{run}-after", {"ok": True})  # and it takes new writes
        finally:
            ledger.close()
