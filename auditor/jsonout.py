"""Ion → JSON down-conversion for output (JSON exports, the CLI, the REST API).

:func:`to_json` is the one conversion (see its docstring for the rules); :func:`dumps` writes
the same JSON, indented for people.
"""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

from proofs.ionvalue import Annotated, Clob, SExp, Symbol, Timestamp, TypedNull


class _Raw(str):
    """Already-encoded JSON text waiting on the encoder's stack."""

    __slots__ = ()


def timestamp_text(value: Timestamp) -> str:
    """The timestamp as Ion text writes it (its own precision and offset)."""
    return value.ion_text()


def decimal_text(value: Decimal) -> str:
    """Exact digits as a JSON number; always with ``.`` or an exponent, so that a reader can
    tell a decimal from an int (``5.`` → ``5e0``, ``0d5`` → ``0e+5``)."""
    text = str(value).replace("E", "e")
    return text if "." in text or "e" in text else text + "e0"


def _text(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


_SCALARS: dict[type, Any] = {
    type(None): lambda v: "null",
    bool: lambda v: "true" if v else "false",
    int: str,
    float: lambda v: repr(v) if v - v == 0 else "null",  # nan and ±inf have no JSON
    Decimal: decimal_text,
    str: _text,
    bytes: lambda v: json.dumps(base64.b64encode(v).decode()),
    bytearray: lambda v: json.dumps(base64.b64encode(bytes(v)).decode()),
    Timestamp: lambda v: _text(v.ion_text()),
    Symbol: lambda v: "null" if v.text is None else _text(v.text),
    Clob: lambda v: _text(v.data.decode("latin-1")),  # byte n -> code point n
    TypedNull: lambda v: "null",
}


def _scalar(value: Any) -> str | None:
    """JSON text for a scalar, or None for a container (annotations are dropped)."""
    if type(value) is Annotated:
        value = value.value
    write = _SCALARS.get(type(value))
    return None if write is None else str(write(value))


def _container(value: Any) -> tuple[bool, Any]:
    """(is a struct, its items) of a container; TypeError for a value with no Ion image."""
    if type(value) is Annotated:
        value = value.value
    if isinstance(value, dict):
        return True, value.items()
    if isinstance(value, list | tuple):
        return False, value
    if type(value) is SExp:
        return False, value.items
    raise TypeError(f"{type(value).__name__}: not an Ion value")


def to_json(value: Any) -> str:
    """Down-convert an Ion value (:mod:`proofs.ionvalue`'s model, or plain Python) to one line
    of JSON.

    The standard Ion → JSON down-conversion: blobs → base64 strings; clobs → strings (byte n →
    code point n); timestamps → strings exactly as Ion text writes them (precision and offset
    kept, ``Z`` for UTC); decimals → numbers with their exact digits (never via float; always
    with ``.`` or an exponent); ints → numbers; floats → numbers, nan/±inf → null; symbols →
    strings; sexps → arrays; every null → null; annotations dropped. Struct fields keep their
    order. Iterative, so deep nesting cannot overflow the stack. Raises ``TypeError`` for a
    Python value with no Ion image.
    """
    out: list[str] = []
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, _Raw):
            out.append(item)
            continue
        text = _scalar(item)
        if text is not None:
            out.append(text)
            continue
        is_struct, items = _container(item)
        pending: list[Any] = []
        if is_struct:
            out.append("{")
            for i, (name, field) in enumerate(items):
                prefix = "," if i else ""
                pending += [_Raw(prefix + json.dumps(str(name), ensure_ascii=False) + ":"), field]
            pending.append(_Raw("}"))
        else:  # list or sexp
            out.append("[")
            for i, element in enumerate(items):
                pending += [_Raw(","), element] if i else [element]
            pending.append(_Raw("]"))
        stack.extend(reversed(pending))
    return "".join(out)


def dumps(value: Any, indent: int | None = None) -> str:
    """JSON text of an Ion (or plain) value: :func:`to_json`, indented when ``indent`` is set."""
    if indent is None:
        return to_json(value)
    return "".join(_pretty(value, indent, 0))


def _pretty(value: Any, indent: int, depth: int) -> list[str]:
    text = _scalar(value)
    if text is not None:
        return [text]
    is_struct, children = _container(value)
    inner = "\n" + " " * (indent * (depth + 1))
    outer = "\n" + " " * (indent * depth)
    if is_struct:
        fields = [
            inner
            + json.dumps(str(k), ensure_ascii=False)
            + ": "
            + "".join(_pretty(v, indent, depth + 1))
            for k, v in children
        ]
        return ["{", ",".join(fields), outer, "}"] if fields else ["{}"]
    items = [inner + "".join(_pretty(v, indent, depth + 1)) for v in children]
    return ["[", ",".join(items), outer, "]"] if items else ["[]"]
