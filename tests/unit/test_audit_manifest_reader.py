"""The completed manifest's fast path (auditor/audit/manifest.py) against the Ion reader: when
it answers, the Ion reader reads the same input as one struct of exactly those keys; when it
does not, the caller asks the Ion reader. Every single-character change of a manifest, every
shape exporters write, and every chunk boundary."""

from __future__ import annotations

import io
import random
from typing import Any

import pytest

from auditor import ion
from auditor.audit import manifest as manifest_module
from auditor.audit.layout import _MANIFEST_LIMITS, MAX_KEYS
from auditor.audit.manifest import read_keys

SHAPES = [
    b'{keys:["X/S.0-0.ion","X/S.1-1.ion"]}\n',  # this project's exporter (Ion text)
    b'{"keys": ["X/S.0-0.ion", "X/S.1-1.ion"]}\n',  # JSON
    b'{\n  "keys" : [\n    "a",\n    "b",\n  ],\n}\n',  # trailing commas, indented
    b"\t\r\n {keys:[]}",  # no key at all
    '{keys:["é/ü.ion","\U0001d11e","tab\there"]}'.encode(),
]


def _ion(data: bytes) -> list[str] | None:
    """The keys as the Ion reader reads them when the input is one struct {keys: [strings]}
    and nothing else; None otherwise (an error, or another value)."""
    try:
        values = [v for v, _, _ in ion.stream(io.BytesIO(data), "m", limits=_MANIFEST_LIMITS)]
    except ion.IonError:
        return None
    if len(values) != 1 or type(values[0]) is not dict or set(values[0]) != {"keys"}:
        return None
    keys: Any = values[0]["keys"]
    if type(keys) is not list or not all(type(k) is str for k in keys):
        return None
    return list(keys)


def _fast(data: bytes) -> list[str] | None:
    keys = read_keys(io.BytesIO(data), _MANIFEST_LIMITS, MAX_KEYS)
    return None if keys is None else list(keys)


@pytest.mark.parametrize("data", SHAPES)
def test_the_shapes_exporters_write_take_the_fast_path(data: bytes) -> None:
    assert _fast(data) is not None
    assert _fast(data) == _ion(data)


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64])
def test_every_chunk_boundary(chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(manifest_module, "CHUNK", chunk)
    for data in SHAPES:
        assert _fast(data) == _ion(data)


NOT_FAST = [
    b'{keys:["a\\u0041"]}',  # an escape: the Ion reader decodes it
    b'{keys:["a"] /* c */}',  # a comment
    b'{keys:["a"], other:1}',  # another field
    b'{keys:["a"], keys:["b"]}',  # a duplicate field: the Ion reader refuses it
    b"{keys:[abc]}",  # a symbol (a key to the Ion reader)
    b'{keys:a::["x"]}',  # an annotation
    b'{keys::["x"]}',
    b'{keysX:["x"]}',
    b"{'keys':[\"x\"]}",
    b'{keys:["x"]} {}',  # two values
    b'{keys:["x"]} $ion_1_0',
    b'\xef\xbb\xbf{keys:["x"]}',  # a byte-order mark
    b'{keys:["x",,"y"]}',
    b'{keys:[,"x"]}',
    b'{keys:["x"],,}',
    b'{keys:["x" "y"]}',
    b'{keys:["x"]',  # truncated
    b'{keys:["x',
    b'{keys:["\xff"]}',  # not UTF-8
    b"\xe0\x01\x00\xea",  # Ion binary
    b'{keys:["a\nb"]}',  # a raw newline in a short string: malformed
    b'{keys:\v["x"]}',  # whitespace the Ion reader does not take everywhere
    b"{{}}",
    b"",
]


@pytest.mark.parametrize("data", NOT_FAST)
def test_what_is_not_the_simple_shape_goes_to_the_ion_reader(data: bytes) -> None:
    assert _fast(data) is None


@pytest.mark.parametrize("chunk", [3, 1 << 20])
@pytest.mark.parametrize(
    "base", ['{ keys : [ "X/S.0-0.ion" , "é" ,"b"], }\n', '{"keys":["a","b\tc"]}']
)
def test_every_single_character_change_agrees_with_the_ion_reader(
    base: str, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(manifest_module, "CHUNK", chunk)
    rng = random.Random(5)
    alphabet = " \t\n\v\"\\,:;[](){}/*'ak$é0-\x00\x0b\x7f"
    cases = set()
    for i in range(len(base) + 1):
        for c in alphabet:
            cases.add(base[:i] + c + base[i:])  # inserted
            cases.add(base[:i] + c + base[i + 1 :])  # replaced
        cases.add(base[:i] + base[i + 1 :])  # deleted
    for _ in range(300):
        chars = list(base)
        rng.shuffle(chars)
        cases.add("".join(chars))
    taken = 0
    for text in sorted(cases):
        data = text.encode("utf-8", "surrogatepass")
        fast = _fast(data)
        if fast is not None:
            taken += 1
            assert fast == _ion(data), text
    assert taken > 50  # the fast path is taken for the changes that keep the shape


def test_limits_send_it_to_the_ion_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    data = b'{keys:["a","b","c"]}'
    assert read_keys(io.BytesIO(data), _MANIFEST_LIMITS, 2) is None  # more keys than allowed
    assert read_keys(io.BytesIO(b'{keys:["a","b","c",]}'), _MANIFEST_LIMITS, 2) is None
    assert read_keys(io.BytesIO(b'{keys:["a","b",]}'), _MANIFEST_LIMITS, 2) is not None
    small = ion.Limits(max_bytes=10, max_value_bytes=10, max_text=8)
    assert read_keys(io.BytesIO(data), small, MAX_KEYS) is None
    short = ion.Limits(max_text=2)
    assert read_keys(io.BytesIO(b'{keys:["a","bc"]}'), short, MAX_KEYS) is None
    assert read_keys(io.BytesIO(b'{keys:["bc","a"]}'), short, MAX_KEYS) is None
    assert list(read_keys(io.BytesIO(b'{keys:["a","b"]}'), short, MAX_KEYS) or []) == ["a", "b"]
    late = _MANIFEST_LIMITS.within(-1.0)  # the deadline has passed
    assert read_keys(io.BytesIO(data), late, MAX_KEYS) is None
