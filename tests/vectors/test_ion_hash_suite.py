"""The official Ion Hash test suite (amazon-ion/ion-hash-test, 171 expectations: identity and
MD5) and the 9,167 derived SHA-256 vectors agreed by three implementations."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from amazon.ion import simpleion

from proofs import ion_hash
from tests.conftest import FIXTURES

SUITE = FIXTURES / "ion-hash" / "ion_hash_tests.ion"
DERIVED = FIXTURES / "ion-hash" / "derived" / "ion_hash_sha256.jsonl"
IVM = b"\xe0\x01\x00\xea"


def _load_suite() -> list[Any]:
    # The C extension's text reader rejects more than 10 annotations; the suite has 13 and 14.
    saved = simpleion.c_ext
    simpleion.c_ext = False
    try:
        return list(simpleion.loads(SUITE.read_text(), single_value=False))
    finally:
        simpleion.c_ext = saved


def _expectations() -> Iterator[Any]:
    for index, case in enumerate(_load_suite()):
        name = case.ion_annotations[0].text if case.ion_annotations else str(index)
        for algorithm, calls in case["expect"].items():
            finals = [c for c in calls if c.ion_annotations[0].text in ("digest", "final_digest")]
            yield pytest.param(case, algorithm, bytes(finals[-1]), id=f"{index}-{name}-{algorithm}")


HASHERS: dict[str, Callable[[bytes], bytes]] = {
    "identity": lambda data: data,
    "md5": lambda data: hashlib.md5(data).digest(),
}
EXPECTATIONS = list(_expectations())


def test_suite_has_171_expectations() -> None:
    assert len(EXPECTATIONS) == 171
    kinds = [p.values[1] for p in EXPECTATIONS]
    assert kinds.count("identity") == 166
    assert kinds.count("md5") == 5


@pytest.mark.parametrize(("case", "algorithm", "expected"), EXPECTATIONS)
def test_official_expectation(case: Any, algorithm: str, expected: bytes) -> None:
    value = case["ion"] if "ion" in case else simpleion.loads(IVM + bytes(case["10n"]))
    assert ion_hash(value, HASHERS[algorithm]) == expected


def _derived() -> list[dict[str, Any]]:
    with DERIVED.open(encoding="utf-8") as f:  # not splitlines(): the data holds U+2028
        return [json.loads(line) for line in f if line.strip()]


@pytest.mark.parametrize("c_ext", [True, False], ids=["c-extension", "pure-python"])
def test_all_derived_sha256_vectors(c_ext: bool) -> None:
    records = _derived()
    assert len(records) == 9167
    saved = simpleion.c_ext
    simpleion.c_ext = c_ext
    try:
        wrong = []
        for record in records:
            value = simpleion.loads(base64.b64decode(record["ion_binary_b64"]))
            if ion_hash(value).hex() != record["sha256"]:
                wrong.append(record["source"])
    finally:
        simpleion.c_ext = saved
    assert wrong == []


def test_derived_vectors_from_text_too() -> None:
    """Text input (where ion-c reads it) hashes like binary input."""
    checked = 0
    for record in _derived():
        try:
            value = simpleion.loads(record["ion_text"])
        except Exception:  # noqa: BLE001 - the C text reader refuses a few valid texts
            continue
        assert ion_hash(value).hex() == record["sha256"], record["source"]
        checked += 1
    assert checked > 9000


def test_rust_driver_string_vector(vectors: dict[str, Any]) -> None:
    fields = vectors["rust-driver-ionhash-string-vector"]["fields"]
    assert ion_hash(simpleion.loads(fields["ion"])).hex() == fields["sha256_ionhash_hex"]
