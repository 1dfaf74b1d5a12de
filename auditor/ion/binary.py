"""Ion 1.0 binary reader (the binary encoding specification of amazon-ion/ion-docs), pure Python.

Every value's length is read before its body, checked against its container (or the input) and
the limits, and then the body is decoded by slicing: no loop runs without consuming input, so a
damaged length cannot make it spin. Type descriptors the specification calls illegal are
refused, and so are:

- negative zero ints (``0x30``, ``0x31 0x00``), bools other than 0/1, floats of 1-3/5-7/9-13
  bytes, empty or sorted-but-empty structs, annotation wrappers that wrap nothing, a NOP pad or
  another wrapper, or whose annotations or value do not exactly fill them;
- timestamps with a field out of range, a day that does not exist, hour without minute, a
  local time outside years 1..9999, a known offset on a date-only timestamp (no writer makes
  one and Ion text cannot say it), a negative fraction (``-0`` included) or one of 1 or more;
- invalid UTF-8 in strings (surrogates and overlong forms included), symbol IDs outside the
  current table or with unknown text, duplicate field names in a struct;
- an IVM other than ``E0 01 00 EA`` (only Ion 1.0 is read).

A fraction whose coefficient is 0 and exponent >= 0 means "no fraction" (binary.md), so it reads
as SECOND precision without fraction. NOP pads are skipped at top level, in lists, sexps and
structs (a pad's field name is ignored). At top level, a struct whose first annotation is
``$ion_symbol_table`` is a local symbol table and an unannotated symbol ``$ion_1_0`` is a NOP
(symbols.md): neither is yielded.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from auditor.ion.limits import Budget, Fail, Limits, digits_limit
from auditor.ion.symbols import (
    ION_1_0,
    ION_SYMBOL_TABLE,
    apply_local_table,
    out_of_range,
    system_table,
    unknown_text,
)
from proofs.ionvalue import (
    Annotated,
    Clob,
    IonType,
    SExp,
    Symbol,
    Timestamp,
    TimestampPrecision,
    TypedNull,
    civil_from_days,
    days_from_civil,
    days_in_month,
)

IVM = b"\xe0\x01\x00\xea"
CHUNK = 65536  # bytes of a large container read between two budget checks

_VAR = -1  # length in a VarUInt after the descriptor
_NULL = -2
_BAD = -3


def _lengths() -> tuple[int, ...]:
    out = []
    for td in range(256):
        t, low = td >> 4, td & 15
        if low == 15:
            length = _NULL if t not in (14, 15) else _BAD
        elif low == 14:
            length = _VAR if t not in (1, 4) else _BAD
        else:
            length = low
        if (
            (t == 1 and low not in (0, 1, 15))
            or (t == 3 and low == 0)
            or (t == 4 and low not in (0, 4, 8, 15))
            or (t == 6 and low in (0, 1))
            or (t == 14 and low < 3)
            or t == 15
        ):
            length = _BAD
        if t == 1 and low in (0, 1):
            length = 0
        if t == 13 and low == 1:
            length = _VAR  # sorted struct: a VarUInt length follows
        out.append(length)
    return tuple(out)


LENGTHS = _lengths()
_NULL_TYPES = (None, IonType.BOOL, IonType.INT, IonType.INT, IonType.FLOAT, IonType.DECIMAL,
               IonType.TIMESTAMP, IonType.SYMBOL, IonType.STRING, IonType.CLOB, IonType.BLOB,
               IonType.LIST, IonType.SEXP, IonType.STRUCT)  # fmt: skip
NULLS: tuple[Any, ...] = tuple(None if t is None else TypedNull(t) for t in _NULL_TYPES)
_TYPE_NAMES = ("null", "bool", "int", "int", "float", "decimal", "timestamp", "symbol", "string",
               "clob", "blob", "list", "sexp", "struct", "annotation", "reserved")  # fmt: skip
_ZERO_DECIMAL = Decimal(0)
_SYMBOL_ZERO = Symbol(None)
_SECOND = TimestampPrecision.SECOND
_PRECISIONS = (
    None,
    TimestampPrecision.YEAR,
    TimestampPrecision.MONTH,
    TimestampPrecision.DAY,
    None,
    TimestampPrecision.MINUTE,
    _SECOND,
)  # by count of fields after the offset


def bad_descriptor(td: int, pos: int) -> Fail:
    return Fail("not-ion", f"illegal type descriptor 0x{td:02X} ({_TYPE_NAMES[td >> 4]})", pos)


def var_uint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """(value, position after it) of the VarUInt at ``pos``; it must end before ``end``."""
    value = 0
    while True:
        if pos >= end:
            raise Fail("truncated", "a VarUInt runs past the end of its value", pos)
        byte = data[pos]
        pos += 1
        value = (value << 7) | (byte & 0x7F)
        if byte & 0x80:
            return value, pos


def var_int(data: bytes, pos: int, end: int) -> tuple[int, bool, int]:
    """(magnitude, negative, position after it) of the VarInt at ``pos`` (``-0`` is (0, True))."""
    if pos >= end:
        raise Fail("truncated", "a VarInt runs past the end of its value", pos)
    byte = data[pos]
    negative = bool(byte & 0x40)
    value = byte & 0x3F
    pos += 1
    while not byte & 0x80:
        if pos >= end:
            raise Fail("truncated", "a VarInt runs past the end of its value", pos)
        byte = data[pos]
        pos += 1
        value = (value << 7) | (byte & 0x7F)
    return value, negative, pos


class Decoder:
    """Decodes values under one symbol table. ``value(pos, end, depth)`` reads the value whose
    type descriptor is at ``pos`` and must end at ``end``; ``header(pos, end)`` reads a
    descriptor and its length."""

    def __init__(self, data: bytes, texts: list[str | None], limits: Limits, budget: Budget):
        self.data = data
        self.texts = texts
        self.limits = limits
        self.budget = budget
        self.value: Callable[[int, int, int, int], Any]
        self.header: Callable[[int, int], tuple[int, int, int]]
        self._build()

    def _build(self) -> None:
        data = self.data
        texts = self.texts
        limits = self.limits
        budget = self.budget
        lengths = LENGTHS
        nulls = NULLS
        max_depth = limits.max_depth
        max_text = limits.max_text
        max_annotations = limits.max_annotations
        max_exponent = limits.max_exponent
        digits_bound = digits_limit(limits.max_digits)
        # magnitudes of this many bytes never reach 10**max_digits (256**k < 10**max_digits)
        safe_int_bytes = max(0, int(limits.max_digits / 2.408239965311849) - 1)
        symbols: dict[int, Symbol] = {0: _SYMBOL_ZERO}
        stamps: dict[bytes, Timestamp] = {}  # a timestamp's body bytes -> its (immutable) value
        from_bytes = int.from_bytes

        def text_of(sid: int, pos: int) -> str | None:
            try:
                text = texts[sid]
            except IndexError:
                raise out_of_range(sid, len(texts), pos) from None
            if text is None and sid:
                raise unknown_text(sid, pos)
            return text

        def header(pos: int, end: int) -> tuple[int, int, int]:
            """(descriptor, body start, body end) of the value at ``pos``."""
            td = data[pos]
            length = lengths[td]
            pos += 1
            if length < 0:
                if length == _VAR:
                    b = data[pos] if pos < end else 0
                    if b & 0x80:
                        length = b & 0x7F
                        pos += 1
                    else:
                        length, pos = var_uint(data, pos, end)
                elif length == _NULL:
                    return td, pos, pos
                else:
                    raise bad_descriptor(td, pos - 1)
            stop = pos + length
            if stop > end:
                raise Fail("truncated", "a value runs past the end of its container", pos - 1)
            return td, pos, stop

        def decimal(body: int, stop: int) -> Decimal:
            if body == stop:
                return _ZERO_DECIMAL
            b = data[body]
            if b & 0x80:  # one-byte exponent: the common case
                exponent = b & 0x3F
                negative_exponent = b & 0x40
                pos = body + 1
            else:
                exponent, negative, pos = var_int(data, body, stop)
                negative_exponent = 0x40 if negative else 0
            if exponent > max_exponent:
                raise Fail(
                    "limit", f"decimal exponent beyond ±{max_exponent} (Limits.max_exponent)", body
                )
            if negative_exponent:
                exponent = -exponent
            if pos == stop:
                return Decimal(f"0E{exponent}")
            first = data[pos]
            magnitude = from_bytes(data[pos:stop], "big")
            if first & 0x80:
                magnitude &= ~(0x80 << ((stop - pos - 1) * 8))
                if magnitude >= digits_bound:
                    raise too_many_digits(pos)
                return Decimal(f"-{magnitude}E{exponent}")
            if magnitude >= digits_bound:
                raise too_many_digits(pos)
            return Decimal(f"{magnitude}E{exponent}")

        def too_many_digits(pos: int) -> Fail:
            return Fail("limit", f"more than {limits.max_digits} digits (Limits.max_digits)", pos)

        def timestamp(body: int, stop: int) -> Timestamp:
            b = data[body]
            if b & 0x80:
                offset = b & 0x3F
                negative = bool(b & 0x40)
                pos = body + 1
            else:
                offset, negative, pos = var_int(data, body, stop)
            fields: list[int] = []
            while pos < stop and len(fields) < 6:
                b = data[pos]
                if b & 0x80:
                    fields.append(b & 0x7F)
                    pos += 1
                else:
                    value, pos = var_uint(data, pos, stop)
                    fields.append(value)
            count = len(fields)
            precision = _PRECISIONS[count]
            if precision is None:
                raise Fail("not-ion", "a timestamp with an hour but no minute", body)
            year = fields[0]
            month = fields[1] if count > 1 else 1
            day = fields[2] if count > 2 else 1
            hour = fields[3] if count > 3 else 0
            minute = fields[4] if count > 4 else 0
            second = fields[5] if count > 5 else 0
            fraction = None
            if pos < stop:  # fraction exponent and coefficient
                exponent, negative_exponent, pos = var_int(data, pos, stop)
                if exponent > max_exponent:
                    raise Fail(
                        "limit",
                        f"timestamp fraction exponent beyond ±{max_exponent} (Limits.max_exponent)",
                        body,
                    )
                coefficient = 0
                if pos < stop:
                    if data[pos] & 0x80:
                        raise Fail("not-ion", "a negative timestamp fraction", pos)
                    coefficient = from_bytes(data[pos:stop], "big")
                    if coefficient >= digits_bound:
                        raise too_many_digits(pos)
                if negative_exponent and exponent:
                    fraction = Decimal(f"{coefficient}E-{exponent}")
                    if fraction >= 1:
                        raise Fail("not-ion", "a timestamp fraction of 1 or more", body)
                elif coefficient:
                    raise Fail("not-ion", "a timestamp fraction of 1 or more", body)
            offset_value = None if offset == 0 and negative else (-offset if negative else offset)
            if precision < TimestampPrecision.MINUTE and offset_value is not None:
                raise Fail("not-ion", "a date-only timestamp with a known offset", body)
            try:
                return utc_timestamp(
                    year, month, day, hour, minute, second, fraction, offset_value, precision
                )
            except ValueError as e:
                raise Fail("not-ion", f"invalid timestamp ({e})", body) from None

        def text(body: int, stop: int) -> str:
            if stop - body > max_text:
                raise Fail("limit", f"a string over {max_text} bytes (Limits.max_text)", body)
            try:
                return data[body:stop].decode("utf-8")
            except UnicodeDecodeError as e:
                raise Fail("not-ion", f"invalid UTF-8 in a string ({e.reason})", body) from None

        def lob(body: int, stop: int) -> bytes:
            if stop - body > max_text:
                raise Fail("limit", f"a lob over {max_text} bytes (Limits.max_text)", body)
            return data[body:stop]

        def fill_sequence(out: list[Any], pos: int, limit: int, end: int, depth: int) -> int:
            append = out.append
            while pos < limit:
                td = data[pos]
                length = lengths[td]
                start = pos
                pos += 1
                if length < 0:
                    if length == _VAR:
                        b = data[pos] if pos < end else 0
                        if b & 0x80:
                            length = b & 0x7F
                            pos += 1
                        else:
                            length, pos = var_uint(data, pos, end)
                    elif length == _NULL:
                        append(nulls[td >> 4])
                        continue
                    else:
                        fail = bad_descriptor(td, start)
                        fail.path.append(len(out))
                        raise fail
                stop = pos + length
                if stop > end:
                    fail = Fail("truncated", "a value runs past the end of its container", start)
                    fail.path.append(len(out))
                    raise fail
                if td < 0x0F:  # NOP pad
                    pos = stop
                    continue
                try:
                    append(value(td, pos, stop, depth))
                except Fail as e:
                    e.path.append(len(out))
                    raise
                pos = stop
            return pos

        def fill_struct(out: dict[Any, Any], pos: int, limit: int, end: int, depth: int) -> int:
            while pos < limit:
                b = data[pos]
                if b & 0x80:
                    sid = b & 0x7F
                    pos += 1
                else:
                    sid, pos = var_uint(data, pos, end)
                if pos >= end:
                    raise Fail("truncated", "a struct field name without a value", pos)
                td = data[pos]
                length = lengths[td]
                start = pos
                pos += 1
                if length < 0:
                    if length == _VAR:
                        b = data[pos] if pos < end else 0
                        if b & 0x80:
                            length = b & 0x7F
                            pos += 1
                        else:
                            length, pos = var_uint(data, pos, end)
                    elif length == _NULL:
                        length = -1
                    else:
                        raise bad_descriptor(td, start)
                if length < 0:
                    stop = pos
                else:
                    stop = pos + length
                    if stop > end:
                        raise Fail("truncated", "a value runs past the end of its struct", start)
                    if td < 0x0F:  # NOP pad: its field name is ignored
                        pos = stop
                        continue
                try:
                    name = texts[sid]
                except IndexError:
                    raise out_of_range(sid, len(texts), start) from None
                if name is None and sid:
                    raise unknown_text(sid, start)
                if name in out:
                    raise Fail("duplicate-field", f"duplicate field name {name!r}", start)
                try:
                    if length < 0:
                        out[name] = nulls[td >> 4]
                    elif td >> 4 == 8 and stop - pos <= max_text:  # a string: most fields
                        try:
                            out[name] = data[pos:stop].decode("utf-8")
                        except UnicodeDecodeError:
                            out[name] = text(pos, stop)  # (raises the reader's error)
                    elif 0xB0 <= td < 0xE0:  # a list, s-expression or struct
                        out[name] = container(td, pos, stop, depth)
                    else:
                        out[name] = value(td, pos, stop, depth)
                except Fail as e:
                    e.path.append(name)
                    raise
                pos = stop
            return pos

        def container(td: int, pos: int, stop: int, depth: int) -> Any:
            if depth >= max_depth:
                raise Fail("too-deep", f"nested deeper than {max_depth} (Limits.max_depth)", pos)
            depth += 1
            is_struct = td >= 0xD0
            if is_struct and td == 0xD1 and pos == stop:
                raise Fail("not-ion", "a sorted struct with no fields", pos)
            out: Any = {} if is_struct else []
            fill = fill_struct if is_struct else fill_sequence
            if stop - pos <= CHUNK:
                fill(out, pos, stop, stop, depth)
            else:
                while pos < stop:
                    budget.check(pos, len(out))
                    pos = fill(out, pos, min(stop, pos + CHUNK), stop, depth)
            budget.values += len(out)
            if budget.values > budget.max_values:
                budget.check(stop)
            if td < 0xC0:
                return out
            return out if is_struct else SExp(tuple(out))

        def annotated(pos: int, stop: int, depth: int) -> Annotated:
            length, pos = var_uint(data, pos, stop)
            annotations_end = pos + length
            if length == 0 or annotations_end >= stop:
                raise Fail("not-ion", "an annotation wrapper without annotations or value", pos)
            names = []
            while pos < annotations_end:
                b = data[pos]
                if b & 0x80:
                    sid = b & 0x7F
                    pos += 1
                else:
                    sid, pos = var_uint(data, pos, annotations_end)
                names.append(text_of(sid, pos))
            if len(names) > max_annotations:
                raise Fail(
                    "limit",
                    f"more than {max_annotations} annotations (Limits.max_annotations)",
                    pos,
                )
            td, body, inner_stop = header(pos, stop)
            if inner_stop != stop:
                raise Fail("not-ion", "an annotation wrapper whose value does not fill it", pos)
            if td < 0x0F or td >= 0xE0:
                raise Fail("not-ion", "an annotation wrapper around a NOP pad or a wrapper", pos)
            if body == stop and lengths[td] == _NULL:
                return Annotated(tuple(names), nulls[td >> 4])
            return Annotated(tuple(names), value(td, body, stop, depth))

        def value(td: int, body: int, stop: int, depth: int) -> Any:
            t = td >> 4
            if t == 8:
                if stop - body <= max_text:
                    try:
                        return data[body:stop].decode("utf-8")
                    except UnicodeDecodeError:
                        pass
                return text(body, stop)  # (raises the reader's error)
            if t == 2:
                if stop - body <= safe_int_bytes:
                    return from_bytes(data[body:stop], "big")
                return big_int(body, stop, False)
            if t == 5:
                return decimal(body, stop)
            if t == 13 or t == 11 or t == 12:
                return container(td, body, stop, depth)
            if t == 7:
                sid = from_bytes(data[body:stop], "big")
                symbol = symbols.get(sid)
                if symbol is None:
                    symbol = Symbol(text_of(sid, body))
                    symbols[sid] = symbol
                return symbol
            if t == 6:  # a value's timestamps repeat (txTime, blockTimestamp): decoded once
                raw = data[body:stop]
                stamp = stamps.get(raw)
                if stamp is None:
                    stamp = stamps[raw] = timestamp(body, stop)
                return stamp
            if t == 1:
                return td == 0x11
            if t == 3:
                n = big_int(body, stop, True)
                if n == 0:
                    raise Fail("not-ion", "a negative zero int", body - 1)
                return n
            if t == 4:
                if td == 0x48:
                    return unpack_double(data, body)[0]
                if td == 0x44:
                    return unpack_float(data, body)[0]
                return 0.0
            if t == 10:
                return lob(body, stop)
            if t == 9:
                return Clob(lob(body, stop))
            if t == 14:
                return annotated(body, stop, depth)
            if t == 0:  # null.null is _NULL; a NOP pad where a value must be
                raise Fail("not-ion", "a NOP pad where a value must be", body - 1)
            raise bad_descriptor(td, body - 1)  # pragma: no cover - LENGTHS refuses these

        def big_int(body: int, stop: int, negative: bool) -> int:
            if body == stop:
                return 0
            n = from_bytes(data[body:stop], "big")
            if stop - body > safe_int_bytes and n >= digits_bound:
                raise too_many_digits(body)
            return -n if negative else n

        self.value = value
        self.header = header


unpack_double = struct.Struct(">d").unpack_from
unpack_float = struct.Struct(">f").unpack_from


def utc_timestamp(
    year: int,
    month: int,
    day: int,
    hour: int,
    minute: int,
    second: int,
    fraction: Decimal | None,
    offset: int | None,
    precision: TimestampPrecision,
) -> Timestamp:
    """A Timestamp from Ion binary's UTC fields (local time = UTC + offset)."""
    if not (1 <= year <= 9999 and 1 <= month <= 12 and 1 <= day <= days_in_month(year, month)):
        raise ValueError(f"no such UTC date {year:04d}-{month:02d}-{day:02d}")
    if offset:
        if not -1439 <= offset <= 1439 or hour > 23 or minute > 59:
            raise ValueError("offset or time of day out of range")
        minutes = hour * 60 + minute + offset
        days, minutes = divmod(minutes, 1440)
        if days:
            year, month, day = civil_from_days(days_from_civil(year, month, day) + days)
        hour, minute = divmod(minutes, 60)
    return Timestamp(year, month, day, hour, minute, second, fraction, offset, precision)


def iter_binary(
    data: bytes, limits: Limits, budget: Budget, cumulative: bool
) -> Iterator[tuple[Any, int, int]]:
    """(value, start, end) for each top-level user value of the Ion binary ``data``, which must
    start with the IVM. Raises :class:`Fail` (``pos`` = byte offset in ``data``)."""
    if not data.startswith(IVM):
        raise Fail("not-ion", "Ion binary must start with the version marker E0 01 00 EA", 0)
    texts = system_table()
    decoder = Decoder(data, texts, limits, budget)
    size = len(data)
    pos = 4
    max_value_bytes = limits.max_value_bytes
    while pos < size:
        budget.check(pos)
        if not cumulative:
            budget.values = 0
        td = data[pos]
        if td == 0xE0:
            if data[pos : pos + 4] != IVM:
                raise Fail("not-ion", "an Ion version marker other than Ion 1.0's", pos)
            pos += 4
            texts = system_table()
            decoder = Decoder(data, texts, limits, budget)
            continue
        start = pos
        td, body, stop = decoder.header(pos, size)
        pos = stop
        if stop - start > max_value_bytes:
            raise Fail(
                "limit", f"a top-level value over {max_value_bytes} bytes (Limits.max_value_bytes)",
                start,
            )  # fmt: skip
        if td < 0x0F:
            continue  # NOP pad
        if body == stop and LENGTHS[td] == _NULL:
            value: Any = NULLS[td >> 4]
        else:
            value = decoder.value(td, body, stop, 0)
        if type(value) is Annotated and value.annotations[0] == ION_SYMBOL_TABLE:
            inner = value.value
            if type(inner) is dict or inner == TypedNull(IonType.STRUCT):
                new = apply_local_table(
                    texts, inner if type(inner) is dict else None, limits, start
                )
                if new is not texts:
                    texts = new
                    decoder = Decoder(data, texts, limits, budget)
                else:
                    decoder = Decoder(data, texts, limits, budget)  # new symbols, fresh cache
                continue
        if type(value) is Symbol and value.text == ION_1_0:
            continue  # a top-level $ion_1_0 that is not the IVM is a NOP
        budget.values += 1
        if budget.values > budget.max_values:
            budget.check(start)
        yield value, start, stop
