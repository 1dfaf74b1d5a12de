"""The per-input parse budget: how long reading one input may take, for every command.

Every input a command reads (a ``--digest``, ``--revision`` or bundle file, a manifest, each
data object of an export, each row the ledger decodes) is read by :mod:`auditor.ion` within
one :class:`auditor.ion.Limits`: its sizes (the defaults of :mod:`auditor.ion.limits`) and a
deadline ``seconds()`` after the read starts. An input that takes longer is refused like any
malformed input (exit 2, naming the input and the position reached), never left to run.

One setting, in this order: ``qldb-audit --parse-budget SECONDS`` (sets it for the process and
the worker processes it starts), the environment variable ``QLDB_AUDIT_PARSE_BUDGET``, else
:data:`DEFAULT_SECONDS`. The reader is linear in its input (about 5-30 MB/s of Ion on one core
of the project's machine, bench/README.md), so the default leaves a wide margin for the largest
inputs the limits admit (a 512 MB export object) while a hostile one still ends.
"""

from __future__ import annotations

import os
from dataclasses import replace

from auditor.ion import DEFAULT_LIMITS, Limits

ENV = "QLDB_AUDIT_PARSE_BUDGET"
DEFAULT_SECONDS = 300.0
MAX_SECONDS = 7 * 24 * 3600.0


def parse_seconds(text: str, name: str = ENV) -> float:
    """A budget from text: a positive number of seconds. Raises ``ValueError`` naming ``name``."""
    try:
        seconds = float(text)
    except ValueError:
        raise ValueError(f"{name}: expected a number of seconds, got {text!r}") from None
    if not 0 < seconds <= MAX_SECONDS:
        raise ValueError(f"{name}: expected seconds in (0, {MAX_SECONDS:.0f}], got {text!r}")
    return seconds


def seconds() -> float:
    """The budget in force (``QLDB_AUDIT_PARSE_BUDGET``, else the default). Raises
    ``ValueError`` when the variable is set to something other than a positive number."""
    text = os.environ.get(ENV)
    if text is None or not text.strip():
        return DEFAULT_SECONDS
    return parse_seconds(text.strip())


def set_seconds(value: float) -> None:
    """Set the budget for this process and every process it starts (the environment)."""
    os.environ[ENV] = repr(parse_seconds(repr(value), "--parse-budget"))


def limits(base: Limits = DEFAULT_LIMITS, *, max_bytes: int | None = None) -> Limits:
    """``base`` with a deadline of :func:`seconds` from now (and ``max_bytes`` if given): the
    limits of one input read now."""
    if max_bytes is not None:
        base = replace(base, max_bytes=max_bytes)
    return base.within(seconds())
