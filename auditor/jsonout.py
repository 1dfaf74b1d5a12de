"""Ion → JSON down-conversion for output (JSON exports, the CLI, the REST API).

:func:`to_json` is the one conversion (see its docstring for the rules); :func:`dumps` writes
the same JSON, indented for people.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from amazon.ion.core import IonType
from amazon.ion.simple_types import IonPyNull, IonPyTimestamp

from auditor.formats import canonical_ion as _ion_text


class _Raw(str):
    """Already-encoded JSON text waiting on the encoder's stack."""

    __slots__ = ()


def timestamp_text(value: datetime) -> str:
    """The timestamp as Ion text writes it (its own precision and offset), annotations dropped."""
    plain = IonPyTimestamp.from_value(IonType.TIMESTAMP, value, ())
    return _ion_text(plain)


def decimal_text(value: Decimal) -> str:
    """Exact digits as a JSON number; always with ``.`` or an exponent, so that a reader can
    tell a decimal from an int (``5.`` → ``5e0``, ``0d5`` → ``0e+5``)."""
    text = str(value).replace("E", "e")
    return text if "." in text or "e" in text else text + "e0"


def _scalar(value: Any) -> str | None:
    """JSON text for a scalar, or None for a container."""
    ion_type = getattr(value, "ion_type", None)
    if value is None or isinstance(value, IonPyNull) or ion_type == IonType.NULL:
        return "null"
    if ion_type is None:  # a plain Python value (manifests)
        ion_type = _python_type(value)
    if ion_type == IonType.BOOL:
        return "true" if value else "false"
    if ion_type == IonType.INT:
        return str(int(value))
    if ion_type == IonType.FLOAT:
        number = float(value)
        return repr(number) if number - number == 0 else "null"  # nan and ±inf have no JSON
    if ion_type == IonType.DECIMAL:
        return decimal_text(Decimal(value))
    if ion_type == IonType.TIMESTAMP:
        return json.dumps(timestamp_text(value), ensure_ascii=False)
    if ion_type == IonType.SYMBOL:
        text = getattr(value, "text", value)
        return "null" if text is None else json.dumps(str(text), ensure_ascii=False)
    if ion_type == IonType.STRING:
        return json.dumps(str(value), ensure_ascii=False)
    if ion_type == IonType.BLOB:
        return json.dumps(base64.b64encode(bytes(value)).decode())
    if ion_type == IonType.CLOB:  # each byte becomes the code point of the same number
        return json.dumps(bytes(value).decode("latin-1"), ensure_ascii=False)
    return None


def _python_type(value: Any) -> IonType:
    if isinstance(value, bool):
        return IonType.BOOL
    if isinstance(value, int):
        return IonType.INT
    if isinstance(value, float):
        return IonType.FLOAT
    if isinstance(value, Decimal):
        return IonType.DECIMAL
    if isinstance(value, datetime):
        return IonType.TIMESTAMP
    if isinstance(value, str):
        return IonType.STRING
    if isinstance(value, bytes | bytearray):
        return IonType.BLOB
    if isinstance(value, dict):
        return IonType.STRUCT
    if isinstance(value, list | tuple):
        return IonType.LIST
    raise TypeError(f"{type(value).__name__}: not an Ion value")


def to_json(value: Any) -> str:
    """Down-convert an Ion value (as ``simpleion.loads`` returns it) to one line of JSON.

    The standard Ion → JSON down-conversion: blobs → base64 strings; clobs → strings (byte n →
    code point n); timestamps → strings exactly as Ion text writes them (precision and offset
    kept, ``Z`` for UTC); decimals → numbers with their exact digits (never via float; always
    with ``.`` or an exponent); ints → numbers; floats → numbers, nan/±inf → null; symbols →
    strings; sexps → arrays; every null → null; annotations dropped. Struct fields keep their
    order (repeated names are written repeatedly). Iterative, so deep nesting cannot overflow
    the stack. Raises ``TypeError`` for a Python value with no Ion image.
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
        ion_type = getattr(item, "ion_type", None)
        if ion_type is None:
            ion_type = _python_type(item)
        pending: list[Any] = []
        if ion_type == IonType.STRUCT:
            out.append("{")
            for i, (name, field) in enumerate(item.items()):
                prefix = "," if i else ""
                pending += [_Raw(prefix + json.dumps(str(name), ensure_ascii=False) + ":"), field]
            pending.append(_Raw("}"))
        else:  # list or sexp
            out.append("[")
            for i, element in enumerate(item):
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
    ion_type = getattr(value, "ion_type", None) or _python_type(value)
    inner = "\n" + " " * (indent * (depth + 1))
    outer = "\n" + " " * (indent * depth)
    if ion_type == IonType.STRUCT:
        fields = [
            inner
            + json.dumps(str(k), ensure_ascii=False)
            + ": "
            + "".join(_pretty(v, indent, depth + 1))
            for k, v in value.items()
        ]
        return ["{", ",".join(fields), outer, "}"] if fields else ["{}"]
    items = [inner + "".join(_pretty(v, indent, depth + 1)) for v in value]
    return ["[", ",".join(items), outer, "]"] if items else ["[]"]
