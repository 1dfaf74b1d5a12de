"""Ion → JSON down-conversion for output (the CLI, the REST API, JSON exports).

The standard down-conversion, without loss of digits: structs → objects, lists and sexps →
arrays, strings and symbols → strings, ints → numbers, decimals → numbers written with exactly
their digits (never through a float), floats → numbers (nan/inf → null), timestamps → their Ion
text (ISO-8601 with the same precision and offset), blobs and clobs → base64 strings, nulls →
null; annotations are dropped. A struct with a repeated field name keeps its last value.
"""

from __future__ import annotations

import base64
import json
import math
from decimal import Decimal
from typing import Any

from amazon.ion.core import Timestamp


def dumps(value: Any, indent: int | None = None) -> str:
    """JSON text of an Ion (or plain) value."""
    return "".join(_encode(value, indent, 0))


def _encode(value: Any, indent: int | None, depth: int) -> list[str]:
    if value is None or (getattr(value, "ion_type", None) is not None and _is_null(value)):
        return ["null"]
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, int):
        return [str(int(value))]
    if isinstance(value, Decimal):
        if not value.is_finite():
            return ["null"]
        return [str(value).replace("E", "e")]  # plain or e-notation, every digit kept
    if isinstance(value, float):
        return [repr(float(value))] if math.isfinite(value) else ["null"]
    if isinstance(value, Timestamp):
        return [json.dumps(_timestamp_text(value))]
    if isinstance(value, str):
        return [json.dumps(str(value))]
    if isinstance(value, bytes | bytearray):
        return [json.dumps(base64.b64encode(bytes(value)).decode("ascii"))]
    if hasattr(value, "text") and hasattr(value, "sid"):  # a symbol
        return [json.dumps(value.text) if value.text is not None else "null"]
    pad = "" if indent is None else "\n" + " " * (indent * (depth + 1))
    end = "" if indent is None else "\n" + " " * (indent * depth)
    sep = ", " if indent is None else ","
    if hasattr(value, "items"):
        pairs = value.iteritems() if hasattr(value, "iteritems") else value.items()
        fields = {str(k): v for k, v in pairs}
        if not fields:
            return ["{}"]
        parts = [
            pad + json.dumps(k) + ": " + "".join(_encode(v, indent, depth + 1))
            for k, v in fields.items()
        ]
        return ["{", sep.join(parts), end, "}"]
    if isinstance(value, list | tuple):
        if not value:
            return ["[]"]
        parts = [pad + "".join(_encode(v, indent, depth + 1)) for v in value]
        return ["[", sep.join(parts), end, "]"]
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _is_null(value: Any) -> bool:
    return type(value).__name__ == "IonPyNull"


def _timestamp_text(value: Timestamp) -> str:
    from amazon.ion import simpleion

    text: str = simpleion.dumps(value, binary=False, omit_version_marker=True)
    return text
