"""The Ion Hash suite and the derived SHA-256 vectors, parsed by ``auditor.ion``: the 171
official expectations (each case's value as Ion binary, read by our reader; hashed equal to
amazon.ion's parse too) and the 9,167 derived vectors from their Ion binary and Ion text."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from amazon.ion import simpleion

import auditor.ion as ion
from proofs import ion_hash
from tests.conftest import FIXTURES

SUITE = FIXTURES / "ion-hash" / "ion_hash_tests.ion"
DERIVED = FIXTURES / "ion-hash" / "derived" / "ion_hash_sha256.jsonl"
IVM = b"\xe0\x01\x00\xea"
HASHERS = {"identity": lambda data: data, "md5": lambda data: hashlib.md5(data).digest()}


def _cases() -> list[Any]:
    # amazon.ion (pure Python, test time only) splits the suite into cases: the suite holds a
    # struct with a repeated field name, which our reader refuses by design, so the file as a
    # whole cannot be read by it.
    saved = simpleion.c_ext
    simpleion.c_ext = False
    try:
        return list(simpleion.loads(SUITE.read_text(), single_value=False))
    finally:
        simpleion.c_ext = saved


def _reencoded(value: Any) -> bytes:
    saved = simpleion.c_ext
    simpleion.c_ext = False
    try:
        return bytes(simpleion.dumps(value, binary=True))
    finally:
        simpleion.c_ext = saved


def _expectations() -> Iterator[Any]:
    for index, case in enumerate(_cases()):
        name = case.ion_annotations[0].text if case.ion_annotations else str(index)
        for algorithm, calls in case["expect"].items():
            finals = [c for c in calls if c.ion_annotations[0].text in ("digest", "final_digest")]
            source = _reencoded(case["ion"]) if "ion" in case else IVM + bytes(case["10n"])
            yield pytest.param(
                source, case, algorithm, bytes(finals[-1]), id=f"{index}-{name}-{algorithm}"
            )


EXPECTATIONS = list(_expectations())


def test_suite_has_171_expectations() -> None:
    assert len(EXPECTATIONS) == 171


@pytest.mark.parametrize(("source", "case", "algorithm", "expected"), EXPECTATIONS)
def test_official_expectation_from_our_parse(
    source: bytes, case: Any, algorithm: str, expected: bytes
) -> None:
    amazon_value = case.get("ion")
    try:
        (ours,) = ion.loads(source, "suite case")
    except ion.IonError as e:
        reason = e.reason
    else:
        reason = ""
    if reason:
        # only the struct with a repeated field name is refused, and only for that reason
        assert reason == "duplicate-field"
        assert amazon_value is not None
        assert len(list(amazon_value.iteritems())) > len(set(amazon_value.keys()))
        return
    assert ion_hash(ours, HASHERS[algorithm]) == expected
    if amazon_value is not None:
        assert ion_hash(ours) == ion_hash(amazon_value)


def test_all_derived_vectors_from_our_parse() -> None:
    """Every derived vector reads and hashes to its SHA-256, from binary and from text, except
    those holding a struct with a repeated field name: refused (duplicate-field) both ways."""
    with DERIVED.open(encoding="utf-8") as f:
        records = [json.loads(line) for line in f if line.strip()]
    assert len(records) == 9167
    wrong = []
    hashed = refused = 0
    for record in records:
        sources = (base64.b64decode(record["ion_binary_b64"]), record["ion_text"])
        outcomes = []
        for source in sources:
            try:
                (value,) = ion.loads(source, record["source"])
            except ion.IonError as e:
                outcomes.append(e.reason)
                continue
            outcomes.append("ok" if ion_hash(value).hex() == record["sha256"] else "wrong")
        if outcomes == ["ok", "ok"]:
            hashed += 1
        elif outcomes == ["duplicate-field", "duplicate-field"]:
            refused += 1
        else:
            wrong.append((record["source"], outcomes))
    assert wrong == []
    assert hashed > 9000
    print(f"derived vectors: {hashed} hash equal from binary and text, {refused} refused")
