"""The Python values of the Ion 1.0 data model, as the project's own reader produces them.

Plain Python types where they are exact and unambiguous:

==================  ============================================================================
Ion                 Python
==================  ============================================================================
``null.null``       ``None``
bool                ``bool``
int                 ``int``
float               ``float`` (64-bit; a 32-bit binary float is widened exactly)
decimal             ``decimal.Decimal`` (keeps ``-0``, every digit and the exponent; never NaN
                    or infinity)
string              ``str`` (valid Unicode: no lone surrogates)
blob                ``bytes``
list                ``list``
struct              ``dict``: field name → value, in the order read. A field whose name is
                    symbol zero (``$0``, unknown text) has the key ``None``. Duplicate names are
                    malformed input, so one dict key per field is exact.
==================  ============================================================================

Small wrappers for the rest, deliberately NOT subclasses of ``str``/``bytes``/``list``/``dict``,
so that an Ion symbol never passes an ``isinstance(x, str)`` check meant for a string, a clob
never passes for a blob hash, an sexp never for a list and an annotated value never for a
struct: :class:`Symbol`, :class:`Clob`, :class:`SExp`, :class:`TypedNull` (``null.string`` …),
:class:`Annotated` and :class:`Timestamp`. ``None`` means "unknown text" (``$0``) wherever a
symbol token can stand: ``Symbol(None)``, an annotation ``None``, a field name ``None``.

:class:`Timestamp` holds the local date and time as written in Ion text, the offset in minutes
(``None`` = unknown, ``-00:00``), the precision and the exact fraction; it uses no ``datetime``,
which cannot hold every Ion timestamp (offsets near years 1 and 9999, more than 6 fraction
digits). :func:`same` compares two values exactly (types, decimal digits and exponents,
timestamp precision, float bits): Python's ``==`` says ``Decimal("1.0") == 1`` and is not.

Pure data: this module imports nothing from ``auditor`` and does no I/O.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum
from typing import Any, Union


class IonType(IntEnum):
    """The Ion types, numbered as amazon.ion numbers them (``IonType`` there)."""

    NULL = 0
    BOOL = 1
    INT = 2
    FLOAT = 3
    DECIMAL = 4
    TIMESTAMP = 5
    SYMBOL = 6
    STRING = 7
    CLOB = 8
    BLOB = 9
    LIST = 10
    SEXP = 11
    STRUCT = 12


class TimestampPrecision(IntEnum):
    """The fields a timestamp states; SECOND timestamps may also carry a fraction."""

    YEAR = 0
    MONTH = 1
    DAY = 2
    MINUTE = 3
    SECOND = 4


@dataclass(frozen=True, slots=True)
class Symbol:
    """An Ion symbol value; ``text`` is ``None`` for symbol zero (``$0``)."""

    text: str | None


@dataclass(frozen=True, slots=True)
class Clob:
    """An Ion clob: raw octets (not a blob: a different type, hashed differently)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class SExp:
    """An Ion s-expression: an ordered tuple of values (not a list)."""

    items: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class TypedNull:
    """A typed null such as ``null.string``; ``null.null`` is ``None``, never a TypedNull."""

    ion_type: IonType

    def __post_init__(self) -> None:
        if not isinstance(self.ion_type, IonType) or self.ion_type is IonType.NULL:
            raise ValueError(f"TypedNull needs an IonType other than NULL, got {self.ion_type!r}")


@dataclass(frozen=True, slots=True)
class Annotated:
    """A value with one or more annotations (in order; ``None`` is ``$0``).

    ``value`` is never itself :class:`Annotated`: Ion has one annotation list per value.
    """

    annotations: tuple[str | None, ...]
    value: Value

    def __post_init__(self) -> None:
        if not self.annotations:
            raise ValueError("Annotated needs at least one annotation")
        if isinstance(self.value, Annotated):
            raise ValueError("Annotated cannot wrap an Annotated value")


# -- calendar arithmetic (proleptic Gregorian, days since 1970-01-01) ----------------------------


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days from 1970-01-01 to the given date (negative before it)."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def civil_from_days(days: int) -> tuple[int, int, int]:
    """The (year, month, day) that is ``days`` after 1970-01-01."""
    days += 719468
    era = days // 146097
    doe = days - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + (3 if mp < 10 else -9)
    return yoe + era * 400 + (month <= 2), month, day


def days_in_month(year: int, month: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


_MAX_OFFSET = 24 * 60 - 1  # Ion offsets are -23:59 .. +23:59


@dataclass(frozen=True, slots=True, eq=False)
class Timestamp:
    """An Ion timestamp, exactly: local fields as Ion text writes them, the offset in minutes
    (``None`` = unknown, ``-00:00``; always ``None`` below MINUTE precision), the precision,
    and for SECOND precision an optional fraction of a second: a ``Decimal`` in [0, 1) with a
    negative exponent (``Decimal("0.500")`` is three digits; a fraction of zero digits is
    ``None``). Fields below the precision are 1 (month, day) or 0 (hour, minute, second).

    Raises ``ValueError`` for a field out of range, a date that does not exist, or a local time
    whose UTC instant falls outside years 1..9999.
    """

    year: int
    month: int = 1
    day: int = 1
    hour: int = 0
    minute: int = 0
    second: int = 0
    fraction: Decimal | None = None
    offset: int | None = None
    precision: TimestampPrecision = TimestampPrecision.DAY

    def __post_init__(self) -> None:
        p = self.precision
        if not isinstance(p, TimestampPrecision):
            raise ValueError(f"timestamp precision must be a TimestampPrecision, got {p!r}")
        if not 1 <= self.year <= 9999:
            raise ValueError(f"timestamp year {self.year} is outside 1..9999")
        if not 1 <= self.month <= 12 or (p < TimestampPrecision.MONTH and self.month != 1):
            raise ValueError(f"timestamp month {self.month} is invalid")
        last = days_in_month(self.year, self.month)
        if not 1 <= self.day <= last or (p < TimestampPrecision.DAY and self.day != 1):
            raise ValueError(f"timestamp day {self.day} is invalid")
        if p < TimestampPrecision.MINUTE:
            if self.hour or self.minute or self.second or self.fraction is not None:
                raise ValueError("a date-only timestamp has no time of day")
            if self.offset is not None:
                raise ValueError("a date-only timestamp has an unknown offset")
            return
        if not (0 <= self.hour <= 23 and 0 <= self.minute <= 59 and 0 <= self.second <= 59):
            raise ValueError("timestamp time of day out of range")
        if p < TimestampPrecision.SECOND and (self.second or self.fraction is not None):
            raise ValueError("a minute-precision timestamp has no seconds")
        fraction = self.fraction
        if fraction is not None:
            if not isinstance(fraction, Decimal) or not fraction.is_finite():
                raise ValueError("timestamp fraction must be a finite Decimal")
            exponent = fraction.as_tuple().exponent
            if fraction.is_signed() or not fraction < 1 or not isinstance(exponent, int):
                raise ValueError(f"timestamp fraction {fraction} is not in [0, 1)")
            if exponent >= 0:
                raise ValueError("a timestamp fraction needs at least one digit (use None)")
        offset = self.offset
        if offset is not None:
            if not -_MAX_OFFSET <= offset <= _MAX_OFFSET:
                raise ValueError(f"timestamp offset {offset} minutes is out of range")
            if offset and not 1 <= self.utc()[0] <= 9999:
                raise ValueError("timestamp falls outside years 1..9999 in UTC")

    def utc(self) -> tuple[int, int, int, int, int]:
        """(year, month, day, hour, minute) in UTC: local time minus the offset."""
        offset = self.offset
        if not offset:
            return self.year, self.month, self.day, self.hour, self.minute
        minutes = self.hour * 60 + self.minute - offset
        days, minutes = divmod(minutes, 1440)
        year, month, day = self.year, self.month, self.day
        if days:
            year, month, day = civil_from_days(days_from_civil(year, month, day) + days)
        return year, month, day, minutes // 60, minutes % 60

    def _key(self) -> tuple[Any, ...]:
        fraction = self.fraction
        return (
            self.year, self.month, self.day, self.hour, self.minute, self.second,
            None if fraction is None else fraction.as_tuple(), self.offset, int(self.precision),
        )  # fmt: skip

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Timestamp):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def _offset_text(self) -> str:
        offset = self.offset
        if offset is None:
            return "-00:00"
        if offset == 0:
            return "Z"
        sign = "-" if offset < 0 else "+"
        return f"{sign}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"

    def _fraction_digits(self) -> str:
        fraction = self.fraction
        if fraction is None:
            return ""
        _, digits, exponent = fraction.as_tuple()
        assert isinstance(exponent, int)
        return "." + "".join(map(str, digits)).rjust(-exponent, "0")

    def ion_text(self) -> str:
        """The timestamp exactly as Ion text (``2001T``, ``2001-02T``, ``2001-02-03``,
        ``2001-02-03T04:05Z``, ``2001-02-03T04:05:06.789-08:00``)."""
        p = self.precision
        if p == TimestampPrecision.YEAR:
            return f"{self.year:04d}T"
        if p == TimestampPrecision.MONTH:
            return f"{self.year:04d}-{self.month:02d}T"
        date = f"{self.year:04d}-{self.month:02d}-{self.day:02d}"
        if p == TimestampPrecision.DAY:
            return date
        text = f"{date}T{self.hour:02d}:{self.minute:02d}"
        if p == TimestampPrecision.SECOND:
            text += f":{self.second:02d}" + self._fraction_digits()
        return text + self._offset_text()

    def iso(self) -> str:
        """ISO 8601 / RFC 3339 text: ``2001``, ``2001-02``, ``2001-02-03``,
        ``2001-02-03T04:05:06.789-08:00`` (an unknown offset is RFC 3339's ``-00:00``)."""
        p = self.precision
        if p == TimestampPrecision.YEAR:
            return f"{self.year:04d}"
        if p == TimestampPrecision.MONTH:
            return f"{self.year:04d}-{self.month:02d}"
        return self.ion_text()

    def __str__(self) -> str:
        return self.ion_text()


Value = Union[  # noqa: UP007 - a runtime alias, used in isinstance-free annotations only
    None, bool, int, float, Decimal, str, bytes, list["Value"], dict["str | None", "Value"],
    Symbol, Clob, SExp, TypedNull, Annotated, Timestamp,
]  # fmt: skip

_DOUBLE = struct.Struct(">d")


def same(a: Any, b: Any) -> bool:
    """True when ``a`` and ``b`` are the same Ion value: same types (bool is not int, a list is
    not an sexp), decimals with the same sign, digits and exponent, floats with the same bits
    (any NaN equals any NaN), struct fields equal by name in any order, annotations in order."""
    ta, tb = type(a), type(b)
    if ta is not tb:
        return False
    if ta is Decimal:
        return bool(a.as_tuple() == b.as_tuple())
    if ta is float:
        if math.isnan(a) and math.isnan(b):
            return True
        return _DOUBLE.pack(a) == _DOUBLE.pack(b)
    if ta is list:
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if ta is dict:
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if ta is SExp:
        return same(list(a.items), list(b.items))
    if ta is Annotated:
        return bool(a.annotations == b.annotations) and same(a.value, b.value)
    return bool(a == b)
