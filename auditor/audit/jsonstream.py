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
    if isinstance(value, Summaries):
        yield from _summaries(value, level, options)
        return
    yield "["
    for n, v in enumerate(value):
        yield (item if n else "") + inner
        yield from _chunks(v, level + 1, options)
    yield outer + "]" if value else "]"


def _summaries(value: Summaries, level: int, options: dict[str, Any]) -> Iterator[str]:
    """The summaries as a list, a few hundred to a piece."""
    indent = options["indent"]
    item = options["separators"][0]
    if not len(value):
        yield "[]"
        return
    if indent is None:  # json's C encoder, a batch at a time: "[a,b]"[1:-1] is "a,b"
        encoder = json.JSONEncoder(**options)
        batch: list[Any] = []
        first = True
        for v in value:
            batch.append(v)
            if len(batch) == 512:
                yield ("[" if first else item) + encoder.encode(batch)[1:-1]
                batch, first = [], False
        if batch:
            yield ("[" if first else item) + encoder.encode(batch)[1:-1]
        yield "]"
        return
    inner = "\n" + " " * (indent * (level + 1))
    flat = _Flat(level + 1, options)
    pieces = ["["]
    for n, v in enumerate(value):
        pieces.append((item if n else "") + inner)
        text = flat(v)
        if text is None:
            pieces.extend(_chunks(v, level + 1, options))
        else:
            pieces.append(text)
        if len(pieces) >= 512:
            yield "".join(pieces)
            pieces = []
    pieces.append("\n" + " " * (indent * level) + "]")
    yield "".join(pieces)


class _Flat:
    """A summary (a dict of str, int, float, bool or None) as json.dumps writes it at
    ``level``, fast; None if it is not one (then the general path writes it)."""

    def __init__(self, level: int, options: dict[str, Any]) -> None:
        indent = options["indent"]
        self.item, self.key_sep = options["separators"]
        self.inner = "" if indent is None else "\n" + " " * (indent * (level + 1))
        self.outer = "" if indent is None else "\n" + " " * (indent * level)
        self.sort_keys = bool(options["sort_keys"])
        self.prefix: dict[str, str] = {}  # the key as written, with what comes before it

    def __call__(self, value: Any) -> str | None:
        if type(value) is not dict or not value:
            return None
        parts: list[str] = []
        for k in sorted(value) if self.sort_keys else value:
            prefix = self.prefix.get(k) if type(k) is str else None
            if prefix is None:
                if type(k) is not str:
                    return None
                prefix = self.prefix[k] = self.inner + encode_basestring_ascii(k) + self.key_sep
            v = value[k]
            kind = type(v)
            if kind is str:
                parts.append(prefix + encode_basestring_ascii(v))
            elif kind is int:
                parts.append(prefix + int.__repr__(v))
            elif v is None:
                parts.append(prefix + "null")
            elif kind is bool:
                parts.append(prefix + ("true" if v else "false"))
            elif kind is float:
                parts.append(prefix + _float(v))
            else:
                return None
        joined: str = self.item.join(parts)
        return "{" + joined + self.outer + "}"


def _float(value: float) -> str:
    """json.dumps of a float (NaN and the infinities as json writes them)."""
    if value != value:
        return "NaN"
    if value in (math.inf, -math.inf):
        return "Infinity" if value > 0 else "-Infinity"
    return float.__repr__(value)
