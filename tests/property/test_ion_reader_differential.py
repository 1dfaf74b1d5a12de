"""``auditor.ion`` against amazon.ion's pure-Python implementation, on generated values.

For ≥ 10,000 distinct values (``ion_strategies``), as Ion text and as Ion binary (written by
amazon.ion's pure-Python writer): our reader and amazon.ion's pure-Python reader give values
with the same Ion Hash (the hash sees every type, digit, precision and annotation); our value
from binary is exactly our value from text; ``dumps_text``/``dumps_binary`` round-trip exactly;
and our writers produce byte for byte what amazon.ion's C extension writes, wherever that
writer is correct (the documented differences are excluded: NaN payloads, and the values
``ion_strategies.c_extension_miswrites`` names).

Values with a repeated field name are refused by our reader by design (``duplicate-field``);
they are counted separately and must be refused, never read.
"""

from __future__ import annotations

import math
import struct

import ion_strategies as ist
from amazon.ion import simpleion
from hypothesis import given, settings
from hypothesis import strategies as st

import auditor.ion as ion
import proofs
from auditor.ion import IonError

MIN_VALUES = 10_000
SETTINGS = ist.SETTINGS


def _has_nan(value: object) -> bool:
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, list):
        return any(_has_nan(x) for x in value)
    if isinstance(value, dict):
        return any(_has_nan(x) for x in value.values())
    if isinstance(value, ion.SExp):
        return any(_has_nan(x) for x in value.items)
    if isinstance(value, ion.Annotated):
        return _has_nan(value.value)
    return False


def _repeated_names(node: ist.Node) -> bool:
    for n in node.walk():
        if n.kind == "struct":
            texts = []
            for name, _ in n.payload:
                parsed = simpleion.loads("{" + name + ": null}")
                key = next(iter(parsed.keys())) if parsed else None
                texts.append(key)
            if len(set(texts)) < len(texts):
                return True
    return False


class Stats:
    def __init__(self) -> None:
        self.compared = 0
        self.refused_duplicates = 0
        self.text_writes = 0
        self.binary_writes = 0
        self.seen: set[str] = set()


def check_node(node: ist.Node, stats: Stats) -> None:
    text = ist.render(node)
    if text in stats.seen:
        return
    stats.seen.add(text)
    with ist.pure_python():
        reference = simpleion.loads(text, single_value=False)
    ours: list[object] | None
    try:
        ours = ion.loads(text, "generated")
    except IonError as e:
        reason = e.reason
        ours = None
    else:
        reason = ""
    if ours is None:
        assert reason == "duplicate-field", text
        assert _repeated_names(node), text
        stats.refused_duplicates += 1
        return
    assert [proofs.ion_hash(v) for v in ours] == [proofs.ion_hash(v) for v in reference], text
    binary = ist.reference_binary(text)
    from_binary = ion.loads(binary, "generated.10n")
    assert ion.same(from_binary, ours), (text, binary.hex())
    written = ion.dumps_text(ours[0])
    assert ion.same(ion.loads(written, "ours.ion"), ours), (text, written)
    encoded = ion.dumps_binary(ours)
    assert ion.same(ion.loads(encoded, "ours.10n"), ours), (text, encoded.hex())
    stats.compared += 1
    if ist.c_extension_misreads(node) or ist.c_extension_miswrites(node):
        return
    c_value = simpleion.loads(text)
    if not ist.pure_text_writer_misquotes(text):
        expected = simpleion.dumps(c_value, binary=False, omit_version_marker=True)
        assert written == expected, (text, written, expected)
        stats.text_writes += 1
    if not _has_nan(ours[0]):
        expected_binary = bytes(simpleion.dumps([c_value], binary=True, sequence_as_stream=True))
        assert encoded == expected_binary, (text, encoded.hex(), expected_binary.hex())
        stats.binary_writes += 1


def test_bulk_against_amazon_ion_pure_python() -> None:
    stats = Stats()

    @settings(SETTINGS, max_examples=290)
    @given(seed=st.integers(0, 2**64 - 1))
    def batch(seed: int) -> None:
        for node in ist.random_nodes(seed, 50):
            check_node(node, stats)

    batch()
    assert stats.compared >= MIN_VALUES, stats.compared
    assert stats.refused_duplicates > 100  # the generator makes them; each was refused
    assert stats.text_writes > MIN_VALUES // 2
    assert stats.binary_writes > MIN_VALUES // 2
    print(
        f"auditor.ion: {stats.compared} values agree with amazon.ion pure Python (text and "
        f"binary), {stats.text_writes} text and {stats.binary_writes} binary writes equal the "
        f"C extension's, {stats.refused_duplicates} repeated-field structs refused"
    )


@SETTINGS
@given(ist.ion_nodes())
def test_hypothesis_values(node: ist.Node) -> None:
    check_node(node, Stats())


def test_nan_is_written_canonically() -> None:
    assert ion.dumps_binary([float("nan")]) == b"\xe0\x01\x00\xea\x48\x7f\xf8" + bytes(6)
    (back,) = ion.loads(ion.dumps_binary([float("nan")]), "nan")
    assert math.isnan(back)
    assert struct.pack(">d", back) == b"\x7f\xf8" + bytes(6)
