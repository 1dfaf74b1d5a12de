"""Truncation and bit-flip fuzzing of ``auditor.ion``: every damaged input either reads or is
refused with ``IonError`` (a ``proofs.MalformedError``), never another exception, and every
input is done within a time bound (checked per input, and a SIGALRM guard stops a hang)."""

from __future__ import annotations

import contextlib
import io
import random
import time

import ion_strategies as ist
import pytest

import auditor.ion as ion
from auditor.ion import IonError
from tests.fuzz.harness import alarm

PER_INPUT_SECONDS = 2.0


def read_all_ways(data: bytes) -> None:
    started = time.monotonic()
    with alarm(PER_INPUT_SECONDS * 3):
        for reader in (
            lambda: ion.loads(data, "fuzz"),
            lambda: list(ion.stream(io.BytesIO(data), "fuzz", chunk_size=5)),
        ):
            with contextlib.suppress(IonError):
                reader()
    assert time.monotonic() - started < PER_INPUT_SECONDS * 2, data[:200]


def corpus() -> list[bytes]:
    values = [ist.load(node) for node in ist.random_nodes(7, 80)]
    out: list[bytes] = []
    for node in ist.random_nodes(11, 60):
        text = ist.render(node)
        out.append(text.encode("utf-8"))
        out.append(ist.reference_binary(text))
    del values
    out.append(ion.dumps_binary([{"a": [1, 2.5, "x"], "b": ion.Symbol("s")}]))
    return out


@pytest.mark.parametrize("kind", ["truncate", "bitflip", "byte"])
def test_damaged_inputs_raise_only_ion_errors(kind: str) -> None:
    rnd = random.Random(20260901)
    checked = 0
    for data in corpus():
        if not data:
            continue
        for _ in range(12):
            if kind == "truncate":
                damaged = data[: rnd.randrange(len(data))]
            elif kind == "bitflip":
                i = rnd.randrange(len(data))
                damaged = data[:i] + bytes([data[i] ^ (1 << rnd.randrange(8))]) + data[i + 1 :]
            else:
                i = rnd.randrange(len(data))
                damaged = data[:i] + bytes([rnd.randrange(256)]) + data[i + 1 :]
            read_all_ways(damaged)
            checked += 1
    assert checked > 1000
