"""Differential tests: ``proofs.ion_hash`` and ``proofs.dot`` against ionhash 1.2.1 / pyqldb 3.2.4.

Each Ion value is built as Ion text (``ion_strategies``). proofs hashes it as parsed by
amazon.ion 0.15 with the C extension, as the auditor would. The oracle process gets Ion binary
made from the same text by amazon.ion 0.15's pure-Python reader and writer, reads it with
amazon.ion 0.9.3 and hashes it with ionhash. So each value goes through two independent reader
chains to two independent hashers.

- ``test_ion_hash_bulk``: at least 10,000 distinct values; hypothesis draws a seed per batch of
  50 and a seeded ``random.Random`` builds the values (fast and free of duplicates).
- ``test_ion_hash_hypothesis``: hypothesis-native values, which shrink when they fail.
- ``test_ion_hash_corner_cases``: hand-written values, including >9-digit fractions.
- ``test_dot_*``: 1,000+ hash pairs against ``pyqldb``'s ``QldbHash.dot``, both orders.
- two documented divergences from the oracle that are not bugs in proofs (NaN payloads, a
  ``dot`` with an empty side).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable
from typing import TYPE_CHECKING

import ion_strategies as ist
import pytest
from amazon.ion import simpleion
from hypothesis import given, settings
from hypothesis import strategies as st

import proofs

if TYPE_CHECKING:  # the fixture's class; conftest is not imported at run time
    from conftest import Oracle

pytestmark = pytest.mark.oracle

BULK_EXAMPLES = 280
BULK_BATCH = 50
MIN_DISTINCT_VALUES = 10_000
STREAM_EVERY = 10  # also check every 10th value against ionhash's streaming hasher
MIN_DOT_PAIRS = 1_000

SETTINGS = ist.SETTINGS

REQUIRED_FEATURES = {
    # every Ion type, and every typed null
    "null", "bool", "int", "float", "decimal", "timestamp", "symbol", "string", "clob", "blob",
    "list", "sexp", "struct",
    *(f"null.{t}" for t in ("plain", *ist.NULL_TYPES)),
    "bool:True", "bool:False",
    "int:0", "int:-0", "int:negative", "int:huge", "int:hex", "int:bin", "int:underscore",
    "float:0", "float:-0", "float:nan", "float:+inf", "float:-inf", "float:subnormal",
    "float:normal",
    "decimal:-0", "decimal:0", "decimal:huge coefficient", "decimal:exponent<0",
    "decimal:exponent>=0", "decimal:dotted", "decimal:negzero_exp",
    *(f"timestamp:precision {p}" for p in range(6)),
    "timestamp:offset -00:00", "timestamp:offset Z", "timestamp:offset +", "timestamp:offset -",
    *(f"timestamp:fraction digits {n}" for n in range(1, 11)),
    "timestamp:zero fraction",
    "symbol:$0", "symbol:sid", "symbol:identifier", "symbol:quoted", "symbol:operator",
    "string:framing bytes", "string:astral", "string:long",
    "clob:framing bytes", "clob:empty", "blob:framing bytes", "blob:empty",
    "list:empty", "sexp:empty", "struct:empty", "sexp:operator",
    "struct:duplicate field names", "struct:$0 field name",
    *(f"annotations:{n}" for n in range(1, 6)),
    "annotation:$0",
    *(f"depth:{d}" for d in range(1, ist.MAX_DEPTH + 1)),
}  # fmt: skip


class Comparison:
    """Hashes values with proofs and with the oracle and collects disagreements."""

    def __init__(self, oracle: Oracle) -> None:
        self.oracle = oracle
        self.seen: set[str] = set()
        self.compared = 0
        self.streamed = 0
        self.features: set[str] = set()
        self.failures: list[str] = []

    def run(self, nodes: Iterable[ist.Node]) -> None:
        batch: list[tuple[str, object, bytes]] = []
        for node in nodes:
            text = ist.render(node)
            if text in self.seen:
                continue
            self.seen.add(text)
            self.features |= ist.features(node)
            value = ist.load(node)
            batch.append((text, value, ist.reference_binary(text)))
        if not batch:
            return
        expected = self.oracle.ion_hashes([binary for _, _, binary in batch])
        stream_at = [i for i in range(len(batch)) if (self.compared + i) % STREAM_EVERY == 0]
        streamed = self.oracle.ion_hashes([batch[i][2] for i in stream_at], mode="R")
        by_stream = dict(zip(stream_at, streamed, strict=True))
        for i, ((text, value, binary), want) in enumerate(zip(batch, expected, strict=True)):
            got = proofs.ion_hash(value).hex()
            if got != want:
                self.failures.append(self.describe(text, binary, got, want, "hash_value"))
            if i in by_stream and got != by_stream[i]:
                self.failures.append(self.describe(text, binary, got, by_stream[i], "hash_reader"))
        self.compared += len(batch)
        self.streamed += len(stream_at)

    def describe(self, text: str, binary: bytes, got: str, want: str, path: str) -> str:
        return (
            f"\n  Ion text:      {text}\n  Ion binary:    {binary.hex()}\n"
            f"  proofs:        {got}\n  ionhash {path}: {want}\n"
            f"  oracle reads:  {self.oracle.text(binary)}"
        )

    def check(self) -> None:
        assert not self.failures, f"{len(self.failures)} disagreements:" + "".join(
            self.failures[:10]
        )


def test_ion_hash_bulk(oracle: Oracle) -> None:
    comparison = Comparison(oracle)

    @settings(SETTINGS, max_examples=BULK_EXAMPLES)
    @given(seed=st.integers(0, 2**64 - 1))
    def batch(seed: int) -> None:
        comparison.run(ist.random_nodes(seed, BULK_BATCH))
        comparison.check()

    batch()
    assert comparison.compared >= MIN_DISTINCT_VALUES, (
        f"only {comparison.compared} distinct values compared"
    )
    missing = REQUIRED_FEATURES - comparison.features
    assert not missing, f"generated values never exercised: {sorted(missing)}"
    print(  # shown with -s / -rP
        f"ion_hash: {comparison.compared} distinct values agree with ionhash hash_value, "
        f"{comparison.streamed} also with hash_reader"
    )


def test_ion_hash_hypothesis(oracle: Oracle) -> None:
    comparison = Comparison(oracle)

    @settings(SETTINGS, max_examples=200)
    @given(st.lists(ist.ion_nodes(), min_size=1, max_size=8))
    def batch(nodes: list[ist.Node]) -> None:
        comparison.run(nodes)
        comparison.check()

    batch()
    assert comparison.compared >= 100


CORNER_CASES = [
    "null", "null.null", "null.struct", "false", "0", "-0", "0x0b0c0e", "-18446744073709551616",
    "0e0", "-0e0", "nan", "+inf", "-inf", "5e-324", "-2.2250738585072014e-308", "1.5e300",
    "0d0", "-0d0", "0d-0", "-0d-3", "0.000", "1.000", "12d5", "-1234.500", "11d11", "12d-12",
    "1d99999", "1d-100000", "123456789012345678901234567890123456789012345d-7",
    "2017T", "2017-02T", "2017-02-03", "2017-02-03T", "2017-02-03T04:05-00:00",
    "2017-02-03T04:05Z", "2017-02-03T04:05+00:00", "2001-02-03T04:05:06-12:34",
    "2001-02-03T04:05:06.123456789-12:34", "2001-02-03T04:05:06.0Z", "2001-02-03T04:05:06.00Z",
    "2001-02-03T04:05:06.000000000-00:00", "0001-01-01T00:00:00.1234567890123Z",
    "2001-02-03T04:05:06.5000000000+01:00", "9999-12-31T23:59:59.9999999999Z",
    "$0", "'$0'", "$4", "name", "''", "'\\x0b\\x0c\\x0e'", "\"\\x0b\\x0c\\x0e\"", '""',
    "\"\\U0001F600\\u00e9\\x00\"", "{{}}", "{{ CwwO }}", "{{\"\\x0b\\x0c\\x0e\"}}",
    "[]", "()", "{}", "[1, [2, [3, [4]]]]", "(+ - '$0' $0)", "{a: 1, a: 1}", "{$0: $0, $0: $0}",
    "{a: 1, b: {c: [d::e::f]}}", "$0::1", "a::b::c::d::e::null", "'$0'::$0::{}",
    "a::{a: a::a}", "{'': '', \"\": \"\"}",
]  # fmt: skip


# Corner cases that amazon.ion's C extension misreads (see ion_strategies); parsed pure-Python.
C_EXT_MISREADS = {
    "0001-01-01T00:00:00.1234567890123Z", "2001-02-03T04:05:06.5000000000+01:00",
    "9999-12-31T23:59:59.9999999999Z", "0d99999", "-0d-100000",
}  # fmt: skip


def test_ion_hash_corner_cases(oracle: Oracle) -> None:
    comparison = Comparison(oracle)
    for text in [*CORNER_CASES, *C_EXT_MISREADS]:
        if text in C_EXT_MISREADS:
            with ist.pure_python():
                value = simpleion.loads(text)
        else:
            value = simpleion.loads(text)
        binary = ist.reference_binary(text)
        (want,) = oracle.ion_hashes([binary])
        got = proofs.ion_hash(value).hex()
        if got != want:
            comparison.failures.append(comparison.describe(text, binary, got, want, "hash_value"))
    comparison.check()


def test_nan_payloads_hash_as_canonical_nan_unlike_ionhash(oracle: Oracle) -> None:
    """A documented divergence, not a bug in proofs: Ion Hash represents nan as 7FF8000000000000
    (the spec and the official vector ``ion: nan``), and proofs hashes every NaN that way.
    ionhash packs the Python float as it is, so a NaN with another payload in Ion binary hashes
    differently there. (amazon.ion 0.15's C extension reads text ``nan`` as the
    NaN 7FFEFEFEFEFEFEFE, so ``dumps(loads("nan"), binary=True)`` produces exactly that.)"""
    canonical = bytes.fromhex("e00100ea487ff8000000000000")
    payloads = [
        bytes.fromhex(h) for h in ("e00100ea487ffefefefefefefe", "e00100ea48fff8000000000001")
    ]
    (want,) = oracle.ion_hashes([canonical])
    assert proofs.ion_hash(simpleion.loads("nan")).hex() == want
    for binary in payloads:
        assert proofs.ion_hash(simpleion.loads(binary)).hex() == want
        assert oracle.ion_hashes([binary]) != [want]


# ------------------------------------------------------------------------------------ dot


def _pair(a: bytearray, how: int, index: int, value: int) -> tuple[bytes, bytes]:
    """Second hash for ``a``: unrelated (0), equal (1), one byte changed at ``index`` (2), or
    ``a[index]``/``b[index]`` straddling the sign bit (3), which orders differently as signed
    and as unsigned bytes."""
    b = bytearray(a)
    if how == 0:
        b = bytearray(hashlib.sha256(bytes(a)).digest())
    elif how == 2:
        b[index] = value if value != a[index] else value ^ 0x80
    elif how == 3:
        a = bytearray(a)
        a[index], b[index] = ((0x7F, 0x80), (0x00, 0xFF), (0x80, 0x81), (0x01, 0xFF))[value % 4]
    return bytes(a), bytes(b)


@st.composite
def hash_pairs(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """Pairs of 32-byte hashes aimed at QLDB's signed, last-byte-first comparison."""
    a = bytearray(draw(st.binary(min_size=32, max_size=32)))
    index = draw(st.sampled_from([31, 0, 30, 1]) | st.integers(0, 31))
    return _pair(a, draw(st.integers(0, 3)), index, draw(st.integers(0, 255)))


def random_pairs(seed: int, count: int) -> list[tuple[bytes, bytes]]:
    rnd = random.Random(seed)
    pairs = []
    for _ in range(count):
        a = bytearray(rnd.randbytes(32))
        if rnd.random() < 0.3:  # many bytes with the sign bit set
            a = bytearray(x | 0x80 for x in a)
        index = rnd.choice([31, 0, rnd.randrange(32)])
        pairs.append(_pair(a, rnd.randrange(4), index, rnd.randrange(256)))
    return pairs


class DotComparison:
    def __init__(self, oracle: Oracle) -> None:
        self.oracle = oracle
        self.seen: set[tuple[bytes, bytes]] = set()

    def run(self, pairs: Iterable[tuple[bytes, bytes]]) -> None:
        fresh = [p for p in dict.fromkeys(pairs) if p not in self.seen]
        self.seen.update(fresh)
        both_ways = [*fresh, *((b, a) for a, b in fresh)]
        failures = [
            f"dot({a.hex()}, {b.hex()}): proofs {proofs.dot(a, b).hex()}, pyqldb {want}"
            for (a, b), want in zip(both_ways, self.oracle.dots(both_ways), strict=True)
            if proofs.dot(a, b).hex() != want
        ]
        assert not failures, "\n".join(failures[:10])


def test_dot_bulk(oracle: Oracle) -> None:
    comparison = DotComparison(oracle)

    @settings(SETTINGS, max_examples=50)
    @given(seed=st.integers(0, 2**64 - 1))
    def batch(seed: int) -> None:
        comparison.run(random_pairs(seed, 25))

    batch()
    assert len(comparison.seen) >= MIN_DOT_PAIRS, f"only {len(comparison.seen)} pairs compared"


def test_dot_hypothesis(oracle: Oracle) -> None:
    comparison = DotComparison(oracle)

    @settings(SETTINGS, max_examples=100)
    @given(st.lists(hash_pairs(), min_size=1, max_size=10))
    def batch(pairs: list[tuple[bytes, bytes]]) -> None:
        comparison.run(pairs)

    batch()


def test_dot_empty_side_differs_from_pyqldb(oracle: Oracle) -> None:
    """A documented divergence, not a bug in proofs: pyqldb 3.2.4's ``dot`` re-hashes the
    non-empty side (``SHA256(h)``), while proofs follows QLDB's Java ``Verifier.dot`` and returns
    it unchanged. Real proofs never contain empty hashes."""
    h = hashlib.sha256(b"leaf").digest()
    assert oracle.dots([(b"", h), (h, b"")]) == [hashlib.sha256(h).hexdigest()] * 2
    assert proofs.dot(b"", h) == h
    assert proofs.dot(h, b"") == h
