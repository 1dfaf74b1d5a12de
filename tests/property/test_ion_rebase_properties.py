"""auditor.ion.rebase against the encoder: for any value read from any Ion binary stream, the
re-based bytes are exactly ``dumps_binary`` of the value (input written by our writer, under a
symbol table shifted by other values' symbols), or read back as the same value (input written
by amazon.ion's pure-Python writer), and None exactly for values holding symbols, s-expressions
or annotations."""

from __future__ import annotations

import io
from typing import Any

import ion_strategies as ist
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import auditor.ion as ion
from auditor.ion import Annotated, SExp, Symbol, rebase

SETTINGS = settings(ist.SETTINGS, max_examples=300)


def symbolic(value: Any) -> bool:
    """True when ``value`` holds a symbol, an s-expression or an annotation anywhere."""
    if isinstance(value, Symbol | SExp | Annotated):
        return True
    if isinstance(value, dict):
        return any(symbolic(v) for v in value.values())
    if isinstance(value, list):
        return any(symbolic(v) for v in value)
    return False


def value_of(node: ist.Node) -> Any:
    """The value ``node`` renders, as our reader reads it (a struct with a field name twice is
    refused by it: not a value)."""
    try:
        (value,) = ion.loads(ist.render(node), "t")
    except ion.IonError:
        assume(False)
    return value


def read_with_bytes(data: bytes) -> list[tuple[Any, bytes, list[str | None]]]:
    """Each top-level value of ``data`` with the bytes and symbol table it was read from."""
    seen: list[tuple[bytes, list[str | None]]] = []
    items = ion.stream_items(io.BytesIO(data), "t", on_value=lambda d, t: seen.append((d, t)))
    values = [value for value, _, _, error in items if error is None]
    assert len(values) == len(seen)
    return [(v, d, t) for v, (d, t) in zip(values, seen, strict=True)]


@SETTINGS
@given(ist.ion_nodes(), st.lists(st.text(min_size=1, max_size=5), max_size=12))
def test_rebased_bytes_are_the_encoders(node: ist.Node, others: list[str]) -> None:
    value = value_of(node)
    # the names of ``before`` take the first symbol ids: the value's field names come after
    # them, past 127 (two-byte ids) when there are more than 118 of them
    before = {name: index for index, name in enumerate(others)}
    if len(others) % 2:
        before.update({f"pad{i}": i for i in range(130)})
    data = ion.dumps_binary([before, value])
    (_, (got, raw, texts)) = read_with_bytes(data)
    assert ion.same(got, value)
    out = rebase.rebase(raw, texts)
    if symbolic(value):
        assert out is None
    else:
        assert out == ion.dumps_binary([value])


@SETTINGS
@given(ist.ion_nodes())
def test_rebased_bytes_of_another_writers_stream_read_as_the_same_value(node: ist.Node) -> None:
    value_of(node)
    data = ist.reference_binary(ist.render(node))
    (got, raw, texts), *_ = read_with_bytes(data) or [(None, b"", [])]
    if got is None:
        return  # a value that is itself a symbol table or an IVM symbol: nothing is read
    out = rebase.rebase(raw, texts)
    if symbolic(got):
        assert out is None
        return
    assert out is not None
    (back,) = ion.loads(out, "rebased")
    assert ion.same(back, got)


@SETTINGS
@given(st.lists(ist.ion_nodes(), max_size=4), st.lists(st.text(max_size=4), max_size=6))
def test_split_is_the_encoding_of_the_frame_and_of_each_element(
    nodes: list[ist.Node], names: list[str]
) -> None:
    elements = [value_of(n) for n in nodes]
    if elements and isinstance(elements[0], dict):  # the same shape again, in another order
        fields = list(elements[0].items())
        elements += [dict(fields[1:]), dict(fields[::-1]), dict(fields), dict(fields[:-1])]
    block = {name: index for index, name in enumerate(names) if name != "revisions"}
    block["revisions"] = elements
    block["after"] = {"x": elements[:1]}
    data = ion.dumps_binary([{"shift": [n + "!" for n in names]}, block])
    (_, (_, raw, texts)) = read_with_bytes(data)
    out = rebase.split(raw, texts, "revisions")
    if symbolic(block):
        assert out is None
        return
    assert out is not None
    frame, rows = out
    assert frame == ion.dumps_binary(
        [{k: (v if k != "revisions" else []) for k, v in block.items()}]
    )
    assert rows == [ion.dumps_binary([e]) for e in elements]
