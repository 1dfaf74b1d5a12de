"""Limits, the deadline and the error type of the Ion reader.

Every bound the reader enforces is one field of :class:`Limits` (frozen; pass another one to
``loads``/``iter_values``/``stream`` to change it). The defaults are generous for QLDB data
(documents of at most 128 KB, blocks of a few MB) and keep hostile input cheap:

================  ==========  ====================================================================
field             default     bounds
================  ==========  ====================================================================
max_bytes         64 MiB      the whole input (``loads``; the iterators and ``stream``)
max_value_bytes   16 MiB      one top-level value, from its first byte to its last
max_depth         100         container nesting (a list in a struct in a list is depth 3)
max_annotations   100         annotations on one value
max_symbols       1,000,000   symbol IDs a symbol table defines (system, imports' max_id, local)
max_digits        4,000       decimal digits of an int or of a decimal's coefficient
max_exponent      1,000,000   ``abs(exponent)`` of a decimal or a timestamp fraction
max_text          8 MiB       one string or symbol (UTF-8 bytes), clob or blob (bytes)
max_values        2,000,000   values held at once: in one top-level value (iterators, ``stream``),
                              in the whole input (``loads``)
deadline          None        ``time.monotonic()`` value after which reading stops
================  ==========  ====================================================================

Every value the limits admit is exactly representable: ints are Python ints, decimals are
``decimal.Decimal`` built without rounding (``max_digits`` + ``max_exponent`` stay far inside
Python's decimal range, which ``Limits`` checks), timestamps are :class:`proofs.ionvalue.
Timestamp`. Reading is linear in the input: every loop consumes input, so it cannot hang; the
deadline is checked at every top-level value and every 64 KiB inside large values.

Every problem is an :class:`IonError`, a :class:`proofs.MalformedError` whose ``locator`` names
the input (the ``where`` argument), the position (``byte N`` for binary, ``line L, column C``
for text) and, where known, the field path (``customer.lineItems[2].sku``).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, replace
from decimal import MAX_EMAX

from proofs import MalformedError

MiB = 1024 * 1024
PYTHON_INT_DIGITS = 4300  # CPython's default int <-> str conversion limit


@dataclass(frozen=True, slots=True)
class Limits:
    """The reader's bounds (see the module docstring for each field and its default)."""

    max_bytes: int = 64 * MiB
    max_value_bytes: int = 16 * MiB
    max_depth: int = 100
    max_annotations: int = 100
    max_symbols: int = 1_000_000
    max_digits: int = 4_000
    max_exponent: int = 1_000_000
    max_text: int = 8 * MiB
    max_values: int = 2_000_000
    deadline: float | None = None

    def __post_init__(self) -> None:
        for name in (
            "max_bytes", "max_value_bytes", "max_depth", "max_annotations", "max_symbols",
            "max_digits", "max_exponent", "max_text", "max_values",
        ):  # fmt: skip
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"Limits.{name} must be a positive int, got {value!r}")
        if self.max_digits > PYTHON_INT_DIGITS:
            raise ValueError(f"Limits.max_digits above {PYTHON_INT_DIGITS} is not supported")
        if self.max_exponent + self.max_digits >= MAX_EMAX:
            raise ValueError("Limits.max_exponent is beyond what Python's Decimal holds exactly")

    def within(self, seconds: float) -> Limits:
        """These limits with a deadline ``seconds`` from now."""
        return replace(self, deadline=time.monotonic() + seconds)


DEFAULT_LIMITS = Limits()


class IonError(MalformedError):
    """Malformed Ion (or input beyond a limit): ``reason`` is machine-readable (``budget``,
    ``duplicate-field``, ``too-deep``, ``not-ion`` …); ``where``, ``offset`` (byte offset in
    the input), ``line``/``column`` (text only, 1-based) and ``path`` say where."""

    def __init__(
        self,
        reason: str,
        where: str,
        message: str,
        offset: int,
        line: int | None = None,
        column: int | None = None,
        path: str = "",
    ) -> None:
        position = f"byte {offset}" if line is None else f"line {line}, column {column}"
        locator = f"{where} at {position}" + (f", field {path}" if path else "")
        super().__init__(reason, locator, message)
        self.where = where
        self.offset = offset
        self.line = line
        self.column = column
        self.path = path


class Fail(Exception):  # noqa: N818 - internal signal, converted to IonError at the API
    """Raised inside the readers; ``pos`` is an index into the data being read; ``path``
    collects field names / indexes innermost first while it propagates."""

    def __init__(self, reason: str, message: str, pos: int) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.pos = pos
        self.path: list[str | int | None] = []
        self.fatal = reason == "budget"  # nothing after it can be read (streams stop)


def render_path(path: list[str | int | None], keep: int = 16) -> str:
    """``a.b[2].c`` from innermost-first parts; only the innermost ``keep`` parts when deep."""
    out = "…" if len(path) > keep else ""
    for part in reversed(path[:keep]):
        if isinstance(part, int):
            out += f"[{part}]"
        elif part is None:
            out += ".$0" if out else "$0"
        else:
            out += f".{part}" if out else part
    return out


@functools.lru_cache(maxsize=8)
def digits_limit(max_digits: int) -> int:
    """``10**max_digits``: the smallest magnitude with too many digits."""
    return int(10**max_digits)


class Budget:
    """Counts values held and checks the deadline (one per read)."""

    __slots__ = ("deadline", "max_values", "values")

    def __init__(self, limits: Limits) -> None:
        self.deadline = limits.deadline
        self.max_values = limits.max_values
        self.values = 0

    def check(self, pos: int, held: int = 0) -> None:
        if self.values + held > self.max_values:
            raise Fail("budget", f"more than {self.max_values} values (Limits.max_values)", pos)
        deadline = self.deadline
        if deadline is not None and time.monotonic() > deadline:
            raise Fail("budget", "reading took longer than its deadline (Limits.deadline)", pos)


def line_column(text: str, pos: int) -> tuple[int, int]:
    """1-based line and column of character ``pos`` of ``text`` (lines end at LF)."""
    pos = min(pos, len(text))
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1
