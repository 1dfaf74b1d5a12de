"""JSON text in pieces, byte for byte what ``json.dumps`` writes, with the per-object
summaries (:class:`auditor.audit.summaries.Summaries`) read as the text is written: a report or
a state file of a million objects is written without a million dicts in memory.

:func:`chunks` takes the arguments of ``json.dumps`` that the reports and the state file use
(``indent``, ``sort_keys``, ``separators``; ``ensure_ascii`` stays on); a value holding no
summaries is handed to ``json.dumps`` whole.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
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
    for n, v in enumerate(value):
        empty = False
        yield (item if n else "") + inner
        yield from _chunks(v, level + 1, options)
    yield "]" if empty else outer + "]"
