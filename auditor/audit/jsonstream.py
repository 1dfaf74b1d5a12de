"""JSON text in pieces, byte for byte what ``json.dumps`` writes, with the per-object
summaries (:class:`auditor.audit.summaries.Summaries`) read as the text is written: a report or
a state file of a million objects is written without a million dicts in memory.

:func:`chunks` takes the arguments of ``json.dumps`` that the reports and the state file use
(``indent``, ``sort_keys``, ``separators``; ``ensure_ascii`` stays on); a value holding no
summaries is handed to ``json.dumps`` whole.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from json.encoder import encode_basestring_ascii
from typing import Any

from auditor.audit.summaries import Summaries


def _holds_summaries(value: Any) -> bool:
    if isinstance(value, Summaries):
        return True
    if isinstance(value, dict):
        return any(_holds_summaries(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_holds_summaries(v) for v in value)
    return False


def chunks(
    value: Any, *, indent: int | None = None, sort_keys: bool = False,
    separators: tuple[str, str] | None = None,
) -> Iterator[str]:  # fmt: skip
    """The pieces of ``json.dumps(value, indent=..., sort_keys=..., separators=...)``, with
    every :class:`Summaries` in ``value`` written as the list of its summaries."""
    if separators is None:
        separators = (", ", ": ") if indent is None else (",", ": ")  # json.dumps's defaults
    options: dict[str, Any] = {"indent": indent, "sort_keys": sort_keys, "separators": separators}
    yield from _chunks(value, 0, options)


def _chunks(value: Any, level: int, options: dict[str, Any]) -> Iterator[str]:
    indent = options["indent"]
    item, key_sep = options["separators"]
    if not _holds_summaries(value):
        text = json.dumps(value, **options)
        yield text.replace("\n", "\n" + " " * (indent * level)) if indent and level else text
        return
    inner = "" if indent is None else "\n" + " " * (indent * (level + 1))
    outer = "" if indent is None else "\n" + " " * (indent * level)
    if isinstance(value, dict):
        items = sorted(value.items()) if options["sort_keys"] else list(value.items())
        yield "{"
        for n, (k, v) in enumerate(items):
            if not isinstance(k, str):
                raise TypeError(f"keys must be str, not {type(k).__name__}")
            yield (item if n else "") + inner + json.dumps(k) + key_sep
            yield from _chunks(v, level + 1, options)
        yield outer + "}"
        return
    empty = True
    yield "["
    flat = isinstance(value, Summaries)
    for n, v in enumerate(value):
        empty = False
        yield (item if n else "") + inner
        fast = _flat(v, level + 1, options) if flat else None
        if fast is None:
            yield from _chunks(v, level + 1, options)
        else:
            yield fast
    yield "]" if empty else outer + "]"


def _scalar(value: Any) -> str | None:
    """``json.dumps(value)`` of a str, int, float, bool or None (None for anything else)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    kind = type(value)
    if kind is str:
        return str(encode_basestring_ascii(value))
    if kind is int:
        return int.__repr__(value)
    if kind is float:
        if value != value:
            return "NaN"
        if value in (math.inf, -math.inf):
            return "Infinity" if value > 0 else "-Infinity"
        return float.__repr__(value)
    return None


def _flat(value: Any, level: int, options: dict[str, Any]) -> str | None:
    """A summary (a dict of scalars) as json.dumps writes it at ``level``, fast; None if it
    is not one (then the general path writes it)."""
    if type(value) is not dict or not value:
        return None
    indent = options["indent"]
    item, key_sep = options["separators"]
    inner = "" if indent is None else "\n" + " " * (indent * (level + 1))
    outer = "" if indent is None else "\n" + " " * (indent * level)
    keys = sorted(value) if options["sort_keys"] else value
    parts: list[str] = []
    for k in keys:
        text = _scalar(value[k])
        if text is None or type(k) is not str:
            return None
        parts.append(f"{inner}{encode_basestring_ascii(k)}{key_sep}{text}")
    joined: str = item.join(parts)
    return "{" + joined + outer + "}"
