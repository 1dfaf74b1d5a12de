"""Several threads and processes writing one ledger at the same time.

Threads use one SQLite connection each (two of them share a Ledger object, the others have their
own); two child processes write through their own Ledger. Together they must produce one valid
chain with every transaction in it exactly once. With ``expected_version``, concurrent updates of
one key are serialized: exactly one writer wins each version, every other attempt gets
``ConflictError``, and wins + conflicts == attempts with no lost update.
"""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import proofs
from auditor import ion
from auditor.ledger import ConflictError, Ledger

TRANSACTIONS = 24  # per writer
TIMEOUT = 30.0

WRITER = """
import json, sys, time
from auditor.ledger import ConflictError, Ledger

def writes(ledger, name, count):
    for i in range(count):
        if i % 3 == 2:
            items = [(f"{name}-{i}-{j}", {"by": name, "i": i, "j": j}) for j in range(3)]
            ledger.put_many("T", items)
        else:
            ledger.put("T", f"{name}-{i}", {"by": name, "i": i})
        time.sleep(0.002)  # let a waiting writer take the lock: interleave the transactions

def increments(ledger, name, count):
    wins, conflicts = [], 0
    for i in range(count):
        current = ledger.revision("T", "counter")
        try:
            revision = ledger.put(
                "T", "counter", {"n": current.data["n"] + 1, "by": name, "attempt": i},
                expected_version=current.version,
            )
        except ConflictError:
            conflicts += 1
        else:
            wins.append(revision.version)
    return {"wins": wins, "conflicts": conflicts, "attempts": count}

mode, path, name, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
ledger = Ledger.open(path)
print("ready", flush=True)
sys.stdin.readline()  # go
result = (writes if mode == "writes" else increments)(ledger, name, count)
print(json.dumps(result), flush=True)
"""


def _load_writer(script: Path) -> dict[str, Any]:
    """The child's functions, so threads run exactly the same code as the processes."""
    namespace: dict[str, Any] = {}
    source = script.read_text().split("mode, path, name, count =")[0]
    exec(compile(source, str(script), "exec"), namespace)  # our own script
    return namespace


def run_together(
    script: Path,
    mode: str,
    path: str,
    count: int,
    threads: dict[str, Ledger],
    processes: list[str],
) -> dict[str, Any]:
    """Start the processes, let them and the threads loose at once, return each one's result."""
    work: Callable[[Ledger, str, int], Any] = _load_writer(script)[mode]
    children = {
        name: subprocess.Popen(
            [sys.executable, str(script), mode, path, name, str(count)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in processes
    }
    results: dict[str, Any] = {}
    errors: list[BaseException] = []
    go = threading.Event()

    def thread_main(name: str, ledger: Ledger) -> None:
        try:
            go.wait(TIMEOUT)
            results[name] = work(ledger, name, count)
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            errors.append(e)
        finally:
            ledger.close()  # this thread's connection

    workers = [threading.Thread(target=thread_main, args=item) for item in threads.items()]
    try:
        for child in children.values():
            assert child.stdout is not None
            assert child.stdout.readline() == "ready\n"
        for worker in workers:
            worker.start()
        for child in children.values():
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        go.set()
        for name, child in children.items():
            out, err = child.communicate(timeout=TIMEOUT)
            assert child.returncode == 0, err
            results[name] = json.loads(out.splitlines()[-1])
    finally:
        go.set()
        for worker in workers:
            worker.join(TIMEOUT)
        for child in children.values():
            child.kill()
            child.communicate()
    assert not errors, errors
    assert all(not worker.is_alive() for worker in workers)
    return results


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "writer.py"
    path.write_text(WRITER)
    return path


def test_threads_and_processes_make_one_chain(tmp_path: Path, script: Path) -> None:
    path = str(tmp_path / "shared.db")
    ledger = Ledger.create(path, "shared", tables=["T"])
    start = ledger.tip()
    shared = Ledger.open(path)
    threads = {
        "t-shared-1": shared,
        "t-shared-2": shared,
        "t-own-1": Ledger.open(path),
        "t-own-2": Ledger.open(path),
    }
    processes = ["p-1", "p-2"]
    run_together(script, "writes", path, TRANSACTIONS, threads, processes)

    writers = [*threads, *processes]
    assert ledger.tip() == start + TRANSACTIONS * len(writers)
    assert ledger.verify_journal() == ledger.tip() + 1
    order: dict[str, list[int]] = {name: [] for name in writers}
    sequence = []  # the writer of each block, in chain order
    transaction_ids = set()
    previous = bytes(ledger.block(start)["blockHash"])
    for blob in ledger.blocks(start + 1):
        (block,) = ion.loads(blob, "block")
        assert proofs.verify_block(block).revisions_verified == len(block["revisions"])
        assert bytes(block["previousBlockHash"]) == previous
        previous = bytes(block["blockHash"])
        transaction_ids.add(str(block["transactionId"]))
        writer = {str(r["data"]["by"]) for r in block["revisions"]}
        assert len(writer) == 1, "a block mixes two transactions"
        sequence.append(writer.pop())
        order[sequence[-1]].append(int(block["revisions"][0]["data"]["i"]))
    assert len(transaction_ids) == TRANSACTIONS * len(writers)
    switches = sum(a != b for a, b in itertools.pairwise(sequence))
    assert switches >= len(writers), f"the writers hardly overlapped: {''.join(sequence)}"
    for name in writers:  # every writer's transactions, each once, in its own order
        assert order[name] == list(range(TRANSACTIONS)), name
        for i in range(TRANSACTIONS):
            keys = [f"{name}-{i}-{j}" for j in range(3)] if i % 3 == 2 else [f"{name}-{i}"]
            for key in keys:
                data = ledger.get("T", key)
                assert data is not None, key
                assert (data["by"], data["i"]) == (name, i)
    ledger.close()
    shared.close()


def test_one_winner_per_version_in_lockstep(tmp_path: Path) -> None:
    """Every round, all threads read the same version, then all try to write it."""
    path = str(tmp_path / "hot.db")
    ledger = Ledger.create(path, "hot", tables=["T"])
    ledger.put("T", "hot", {"round": -1})
    writers, rounds = 4, 12
    barrier = threading.Barrier(writers, timeout=TIMEOUT)
    outcomes: list[tuple[int, str, str]] = []  # (round, writer, "win" | "conflict")
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        own = Ledger.open(path)
        try:
            for r in range(rounds):
                barrier.wait()  # the previous round is over
                version = own.revision("T", "hot").version
                barrier.wait()  # everybody has read the same version
                try:
                    own.put("T", "hot", {"round": r, "by": name}, expected_version=version)
                    outcomes.append((r, name, "win"))
                except ConflictError:
                    outcomes.append((r, name, "conflict"))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)
            barrier.abort()
        finally:
            own.close()

    threads = [threading.Thread(target=writer, args=(f"w{i}",)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert not errors, errors
    assert len(outcomes) == writers * rounds
    wins = Counter(r for r, _, outcome in outcomes if outcome == "win")
    assert wins == dict.fromkeys(range(rounds), 1), wins  # exactly one winner per round
    history = ledger.history("T", "hot")
    assert [r.version for r in history] == list(range(rounds + 1))
    winners = {(r, name) for r, name, outcome in outcomes if outcome == "win"}
    assert {(int(h.data["round"]), str(h.data["by"])) for h in history[1:]} == winners
    ledger.verify_journal()
    ledger.close()


def test_optimistic_increments_from_threads_and_processes(tmp_path: Path, script: Path) -> None:
    """Free-running read-modify-write of one counter: no lost update, nothing unaccounted."""
    path = str(tmp_path / "counter.db")
    ledger = Ledger.create(path, "counter", tables=["T"])
    ledger.put("T", "counter", {"n": 0})
    start = ledger.tip()
    threads = {"t-1": Ledger.open(path), "t-2": Ledger.open(path)}
    results = run_together(script, "increments", path, 30, threads, ["p-1", "p-2"])

    won = [version for result in results.values() for version in result["wins"]]
    conflicts = sum(result["conflicts"] for result in results.values())
    attempts = sum(result["attempts"] for result in results.values())
    for name, result in results.items():
        assert len(result["wins"]) + result["conflicts"] == result["attempts"], name
    assert len(won) + conflicts == attempts == 30 * len(results)
    assert sorted(won) == list(range(1, len(won) + 1)), "a version was won twice or skipped"
    final = ledger.revision("T", "counter")
    assert final.version == len(won)
    assert final.data["n"] == len(won), "an increment was lost"
    assert ledger.tip() == start + len(won)  # a conflict writes nothing
    assert ledger.verify_journal() == ledger.tip() + 1
    ledger.close()


@pytest.mark.parametrize("read", ["revision", "current", "get", "history"])
def test_a_write_committed_inside_a_read_does_not_tear_it(tmp_path: Path, read: str) -> None:
    """A writer commits between any two steps of a read (a progress handler on the reader's
    connection lets another connection write at its k-th step, for every k until the read
    ends first): the read sees one snapshot, so it returns the state before or after the
    write, never an integrity error."""
    template = tmp_path / "template.db"
    ledger = Ledger.create(str(template), "torn", tables=["T"])
    ledger.put("T", "counter", {"n": 0})
    ledger.put("T", "counter", {"n": 1})
    ledger.close()
    k, calls = 0, 1
    while calls >= k:  # the last round's write came after the read's last step
        k += 1
        path = tmp_path / f"torn-{k}.db"
        shutil.copy(template, path)
        writer, reader = Ledger.open(str(path)), Ledger.open(str(path))
        reader.tip()  # its connection exists
        calls = 0

        def step(k: int = k, writer: Ledger = writer) -> int:
            nonlocal calls
            calls += 1
            if calls == k:
                writer.put("T", "counter", {"n": 2})  # another connection commits
            return 0

        reader._db().set_progress_handler(step, 1)
        try:
            result = getattr(reader, read)("T", "counter")
        finally:
            reader._db().set_progress_handler(None, 1)
            reader.close()
            writer.close()
        if read == "history":
            assert [r.version for r in result] in ([0, 1], [0, 1, 2])
        elif read == "get":
            assert result["n"] in (1, 2)
        else:
            assert result.version in (1, 2)
    assert k > 10, "the read took too few steps to interleave a write"
