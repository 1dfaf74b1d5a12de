"""The project's own Ion 1.0 reader and writer: exact, bounded, interruptible, pure Python.

No byte of input reaches amazon.ion here. Values are :mod:`proofs.ionvalue`'s model (plain
Python types where exact; ``Symbol``, ``Clob``, ``SExp``, ``TypedNull``, ``Annotated``,
``Timestamp`` otherwise), which :func:`proofs.ion_hash` hashes.

Reading (every problem is an :class:`IonError`, a ``proofs.MalformedError``; limits and their
defaults: :mod:`auditor.ion.limits`):

- :func:`loads` — all top-level values of an input (bytes starting with the binary IVM are Ion
  binary; other bytes are UTF-8 Ion text; a ``str`` is Ion text);
- :func:`iter_values` — the same, lazily, with each value's span ``(start, end)``: byte offsets
  for bytes input (character offsets for a ``str``), so an audit can name a damaged value;
- :func:`stream` — the same over a binary file-like object, read in chunks: memory is bounded
  by the largest top-level value, not by the object (padding, comments and NOP pads are
  skipped as they are read);
- :func:`stream_items` — a stream that resynchronises: a damaged value is yielded as
  ``(None, start, end, IonError)`` and reading goes on at the next line (text) or the next
  top-level value (binary), so one damaged value does not hide the values after it.

:func:`utc_datetime` turns a :class:`Timestamp` into a UTC ``datetime`` for comparisons (its
fraction cut to microseconds: not for hashing or writing).

Writing: :func:`dumps_text` (one compact canonical text, no IVM) and :func:`dumps_binary`
(a stream: IVM, the local symbol table it needs, the values) — byte for byte what amazon.ion
0.15's C extension writes for every value it writes correctly (see :mod:`auditor.ion.writer`).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from auditor.ion.binary import IVM, iter_binary
from auditor.ion.limits import (
    DEFAULT_LIMITS,
    Budget,
    Fail,
    IonError,
    Limits,
    line_column,
    render_path,
)
from auditor.ion.stream import Item, Readable, ValueBytes, stream_binary, stream_text
from auditor.ion.text import iter_text
from auditor.ion.writer import BinaryEncoder, dumps_binary, dumps_text
from proofs.ionvalue import (
    Annotated,
    Clob,
    IonType,
    SExp,
    Symbol,
    Timestamp,
    TimestampPrecision,
    TypedNull,
    Value,
    same,
)

__all__ = [
    "DEFAULT_LIMITS",
    "IVM",
    "Annotated",
    "BinaryEncoder",
    "Clob",
    "IonError",
    "IonType",
    "Item",
    "Limits",
    "Readable",
    "SExp",
    "Symbol",
    "Timestamp",
    "TimestampPrecision",
    "TypedNull",
    "Value",
    "ValueBytes",
    "dumps_binary",
    "dumps_text",
    "iter_values",
    "loads",
    "same",
    "stream",
    "stream_items",
    "utc_datetime",
]


def utc_datetime(ts: Timestamp) -> datetime:
    """The instant of ``ts`` as an aware UTC ``datetime`` (fraction cut to microseconds; an
    unknown offset is taken as UTC; fields below the precision are their minimum)."""
    year, month, day, hour, minute = ts.utc()
    micros = 0 if ts.fraction is None else int(ts.fraction.scaleb(6))
    return datetime(year, month, day, hour, minute, ts.second, micros, tzinfo=UTC)


def loads(data: bytes | str, where: str, *, limits: Limits = DEFAULT_LIMITS) -> list[Value]:
    """Every top-level user value of ``data`` (Ion binary or text), in order.

    ``where`` names the input in error locators. ``limits.max_values`` counts all values held.
    Raises :class:`IonError` for malformed input or input beyond a limit.
    """
    return [v for v, _, _ in _iterate(data, where, limits, cumulative=True)]


def iter_values(
    data: bytes | str, where: str, *, limits: Limits = DEFAULT_LIMITS
) -> Iterator[tuple[Value, int, int]]:
    """``(value, start, end)`` for each top-level user value; a local symbol table or an IVM
    is not yielded. Raises :class:`IonError` when it reaches a problem (values before it have
    been yielded)."""
    return _iterate(data, where, limits, cumulative=False)


def stream(
    fp: Readable, where: str, *, limits: Limits = DEFAULT_LIMITS, chunk_size: int = 65536
) -> Iterator[tuple[Value, int, int]]:
    """Like :func:`iter_values` over a binary file-like object (byte spans), reading
    ``chunk_size`` bytes at a time. Raises :class:`IonError` at the first problem."""
    head = _read_at_least(fp, 4)
    read = stream_binary if head.startswith(IVM) else stream_text
    for value, start, end, _ in read(fp, head, where, limits, chunk_size):
        yield value, start, end


def stream_items(
    fp: Readable,
    where: str,
    *,
    limits: Limits = DEFAULT_LIMITS,
    chunk_size: int = 65536,
    binary: bool | None = None,
    on_value: ValueBytes | None = None,
) -> Iterator[Item]:
    """``(value, start, end, None)`` for each top-level user value and ``(None, start, end,
    error)`` for each damaged one, resynchronising after it: Ion text goes on at the next
    line (each line of the damaged stretch is read on its own; invalid UTF-8 is skipped to
    the next newline byte), Ion binary at the next top-level value (its header gives its
    length). Raises :class:`IonError` for what ends the input: the deadline and the total
    size (``Limits``), a value the input ends inside (``truncated``), a binary header that
    does not frame. ``binary``: read as Ion binary (True: the IVM is then required) or as
    Ion text (False) whatever the bytes; None: Ion binary exactly when the IVM starts them.
    ``on_value(data, texts)`` (Ion binary only) is called with each value's bytes and the
    symbol table they were read under, just before the value is yielded."""
    head = _read_at_least(fp, 4)
    if binary is None:
        binary = head.startswith(IVM)
    if binary:
        return stream_binary(fp, head, where, limits, chunk_size, resync=True, on_value=on_value)
    return stream_text(fp, head, where, limits, chunk_size, resync=True)


def _read_at_least(fp: Readable, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = fp.read(n - len(out))
        if not chunk:
            break
        out += chunk
    return out


def _iterate(
    data: bytes | str, where: str, limits: Limits, cumulative: bool
) -> Iterator[tuple[Value, int, int]]:
    if len(data) > limits.max_bytes:
        raise IonError(
            "limit", where, f"larger than {limits.max_bytes} bytes (Limits.max_bytes)", 0
        )
    budget = Budget(limits)
    if isinstance(data, str):
        return _text_values(data, None, where, limits, budget, cumulative)
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"Ion input must be bytes or str, not {type(data).__name__}")
    data = bytes(data)
    if data.startswith(IVM):
        return _binary_values(data, where, limits, budget, cumulative)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        prefix = data[: e.start].decode("utf-8")
        line, column = line_column(prefix, len(prefix))
        raise IonError(
            "not-utf8", where, "neither Ion binary nor UTF-8 text", e.start, line, column
        ) from None
    return _text_values(text, data, where, limits, budget, cumulative)


def _binary_values(
    data: bytes, where: str, limits: Limits, budget: Budget, cumulative: bool
) -> Iterator[tuple[Value, int, int]]:
    try:
        yield from iter_binary(data, limits, budget, cumulative)
    except Fail as f:
        raise IonError(f.reason, where, f.message, f.pos, path=render_path(f.path)) from None
    except RecursionError:  # pragma: no cover - max_depth is far below Python's limit
        raise IonError("too-deep", where, "nested too deeply", 0) from None


def _text_values(
    text: str,
    raw: bytes | None,
    where: str,
    limits: Limits,
    budget: Budget,
    cumulative: bool,
) -> Iterator[tuple[Value, int, int]]:
    if raw is None and not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as e:
            line, column = line_column(text, e.start)
            raise IonError(
                "not-utf8", where, "text with a lone surrogate", e.start, line, column
            ) from None
    ascii_text = text.isascii()
    char_mark = byte_mark = 0
    try:
        for value, start, end in iter_text(text, limits, budget, cumulative):
            if raw is None or ascii_text:
                yield value, start, end
                continue
            byte_mark += len(text[char_mark:start].encode("utf-8"))
            byte_start = byte_mark
            byte_mark += len(text[start:end].encode("utf-8"))
            char_mark = end
            yield value, byte_start, byte_mark
    except Fail as f:
        line, column = line_column(text, f.pos)
        offset = f.pos if raw is None or ascii_text else len(text[: f.pos].encode("utf-8"))
        raise IonError(
            f.reason, where, f.message, offset, line, column, render_path(f.path)
        ) from None
    except RecursionError:  # pragma: no cover - max_depth is far below Python's limit
        raise IonError("too-deep", where, "nested too deeply", 0) from None
