"""proofs.ionvalue against independent references: the calendar against ``datetime.date``, a
timestamp's UTC fields against ``datetime`` arithmetic, every validation rule at its boundary
(accepted on one side, refused on the other), the text forms, and :func:`same` branch by branch.
"""

from __future__ import annotations

import calendar
import struct
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from amazon.ion.core import IonType as AmazonIonType
from amazon.ion.core import TimestampPrecision as AmazonPrecision

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
    same,
)

P = TimestampPrecision
EPOCH = date(1970, 1, 1).toordinal()


def test_type_and_precision_numbers_are_amazon_ions() -> None:
    assert [(t.name, t.value) for t in IonType] == [(t.name, t.value) for t in AmazonIonType]
    assert [(p.name, p.value) for p in P] == [(p.name, p.value) for p in AmazonPrecision]


@pytest.mark.parametrize("step", [1, 97])
def test_calendar_matches_datetime(step: int) -> None:
    # every day of one 400-year era (each day-of-era the algorithms divide up, once), and a
    # sample of every era from 0001-01-01 to 9999-12-31
    ranges = (
        [range(date(2000, 3, 1).toordinal(), date(2400, 3, 1).toordinal())]
        if step == 1
        else [range(1, date(9999, 12, 31).toordinal() + 1, step)]
    )  # fmt: skip
    for ordinals in ranges:
        for ordinal in ordinals:
            d = date.fromordinal(ordinal)
            assert days_from_civil(d.year, d.month, d.day) == ordinal - EPOCH, d
            assert civil_from_days(ordinal - EPOCH) == (d.year, d.month, d.day), d
    last = date(9999, 12, 31)
    assert civil_from_days(last.toordinal() - EPOCH) == (9999, 12, 31)
    assert days_from_civil(1, 1, 1) == 1 - EPOCH


def test_days_in_month_matches_calendar() -> None:
    for year in [*range(1, 30), 100, 200, 300, 400, 1600, 1700, 1900, 2000, 2100, 2400, 9999]:
        for month in range(1, 13):
            assert days_in_month(year, month) == calendar.monthrange(year, month)[1], (year, month)


@pytest.mark.parametrize("offset", [-1439, -754, -60, -1, 1, 59, 60, 330, 1439])
def test_utc_matches_datetime(offset: int) -> None:
    for local in (
        datetime(2001, 2, 3, 4, 5), datetime(2000, 2, 29, 23, 59), datetime(2000, 3, 1, 0, 0),
        datetime(1999, 12, 31, 23, 30), datetime(2001, 1, 1, 0, 10), datetime(2100, 2, 28, 22, 0),
        datetime(9999, 12, 30, 12, 0), datetime(2, 1, 1, 0, 0),
    ):  # fmt: skip
        ts = Timestamp(local.year, local.month, local.day, local.hour, local.minute, offset=offset,
                       precision=P.MINUTE)  # fmt: skip
        u = local - timedelta(minutes=offset)
        assert ts.utc() == (u.year, u.month, u.day, u.hour, u.minute), (local, offset)
    unknown = Timestamp(2001, 2, 3, 4, 5, offset=None, precision=P.MINUTE)
    assert unknown.utc() == (2001, 2, 3, 4, 5)


ACCEPTED: list[dict[str, Any]] = [
    {"year": 1}, {"year": 9999, "month": 12, "day": 31}, {"year": 2000, "month": 2, "day": 29},
    {"year": 2001, "month": 4, "day": 30}, {"year": 2001, "month": 1, "day": 31},
    {"year": 2001, "precision": P.YEAR}, {"year": 2001, "month": 12, "precision": P.MONTH},
    {"year": 2001, "hour": 23, "minute": 59, "offset": 0, "precision": P.MINUTE},
    {"year": 2001, "hour": 0, "minute": 0, "second": 59, "precision": P.SECOND},
    {"year": 2001, "second": 1, "fraction": Decimal("0.999"), "precision": P.SECOND},
    {"year": 2001, "fraction": Decimal("0.0"), "precision": P.SECOND},
    {"year": 2001, "fraction": Decimal("0E-20"), "precision": P.SECOND},
    {"year": 2001, "offset": 1439, "precision": P.MINUTE},
    {"year": 2001, "offset": -1439, "precision": P.MINUTE},
    {"year": 1, "offset": -60, "precision": P.MINUTE},  # UTC 01:00 on 0001-01-01
    {"year": 1, "offset": 0, "precision": P.MINUTE},
    {"year": 1, "hour": 1, "offset": 60, "precision": P.MINUTE},  # UTC midnight, year 1
    {"year": 9999, "month": 12, "day": 31, "hour": 23, "offset": 60, "precision": P.MINUTE},
    {"year": 9999, "month": 12, "day": 31, "hour": 23, "minute": 59, "offset": 0,
     "precision": P.MINUTE},
]  # fmt: skip


@pytest.mark.parametrize("kwargs", ACCEPTED)
def test_timestamp_accepts_each_boundary(kwargs: dict[str, Any]) -> None:
    ts = Timestamp(**kwargs)
    assert ts.year == kwargs["year"]


REFUSED: list[tuple[dict[str, Any], str]] = [
    ({"year": 2001, "precision": 2}, "precision must be"),
    ({"year": 0}, "year 0"),
    ({"year": 10000}, "year 10000"),
    ({"year": 2001, "month": 0}, "month 0"),
    ({"year": 2001, "month": 13}, "month 13"),
    ({"year": 2001, "month": 2, "precision": P.YEAR}, "month 2"),
    ({"year": 2001, "day": 0}, "day 0"),
    ({"year": 2001, "month": 4, "day": 31}, "day 31"),
    ({"year": 2001, "month": 2, "day": 29}, "day 29"),
    ({"year": 2001, "day": 2, "precision": P.MONTH}, "day 2"),
    ({"year": 2001, "minute": 1}, "no time of day"),
    ({"year": 2001, "second": 1}, "no time of day"),
    ({"year": 2001, "fraction": Decimal("0.5")}, "no time of day"),
    ({"year": 2001, "offset": -1}, "unknown offset"),
    ({"year": 2001, "hour": 24, "precision": P.MINUTE}, "out of range"),
    ({"year": 2001, "hour": -1, "precision": P.MINUTE}, "out of range"),
    ({"year": 2001, "minute": 60, "precision": P.MINUTE}, "out of range"),
    ({"year": 2001, "minute": -1, "precision": P.MINUTE}, "out of range"),
    ({"year": 2001, "second": 60, "precision": P.SECOND}, "out of range"),
    ({"year": 2001, "second": -1, "precision": P.SECOND}, "out of range"),
    ({"year": 2001, "second": 1, "precision": P.MINUTE}, "no seconds"),
    ({"year": 2001, "fraction": Decimal("0.5"), "precision": P.MINUTE}, "no seconds"),
    ({"year": 2001, "fraction": 0.5, "precision": P.SECOND}, "finite Decimal"),
    ({"year": 2001, "fraction": Decimal("Infinity"), "precision": P.SECOND}, "finite Decimal"),
    ({"year": 2001, "fraction": Decimal("1"), "precision": P.SECOND}, "not in"),
    ({"year": 2001, "fraction": Decimal("-0.1"), "precision": P.SECOND}, "not in"),
    ({"year": 2001, "fraction": Decimal("0E+1"), "precision": P.SECOND}, "at least one digit"),
    ({"year": 2001, "fraction": Decimal("0"), "precision": P.SECOND}, "at least one digit"),
    ({"year": 2001, "offset": 1440, "precision": P.MINUTE}, "offset 1440"),
    ({"year": 2001, "offset": -1440, "precision": P.MINUTE}, "offset -1440"),
    ({"year": 1, "offset": 1, "precision": P.MINUTE}, "outside years"),
    ({"year": 9999, "month": 12, "day": 31, "hour": 23, "minute": 59, "offset": -1,
      "precision": P.MINUTE}, "outside years"),
]  # fmt: skip


@pytest.mark.parametrize(("kwargs", "message"), REFUSED)
def test_timestamp_refuses_each_boundary(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Timestamp(**kwargs)


@pytest.mark.parametrize(
    ("ts", "ion_text", "iso"),
    [
        (Timestamp(7, precision=P.YEAR), "0007T", "0007"),
        (Timestamp(2001, 3, precision=P.MONTH), "2001-03T", "2001-03"),
        (Timestamp(2001, 3, 4), "2001-03-04", "2001-03-04"),
        (Timestamp(2001, 3, 4, 5, 6, offset=0, precision=P.MINUTE), "2001-03-04T05:06Z",
         "2001-03-04T05:06Z"),
        (Timestamp(2001, 3, 4, 5, 6, offset=-480, precision=P.MINUTE), "2001-03-04T05:06-08:00",
         "2001-03-04T05:06-08:00"),
        (Timestamp(2001, 3, 4, 5, 6, offset=-30, precision=P.MINUTE), "2001-03-04T05:06-00:30",
         "2001-03-04T05:06-00:30"),
        (Timestamp(2001, 3, 4, 5, 6, offset=335, precision=P.MINUTE), "2001-03-04T05:06+05:35",
         "2001-03-04T05:06+05:35"),
        (Timestamp(2001, 3, 4, 5, 6, offset=-1, precision=P.MINUTE), "2001-03-04T05:06-00:01",
         "2001-03-04T05:06-00:01"),
        (Timestamp(2001, 3, 4, 5, 6, offset=1439, precision=P.MINUTE), "2001-03-04T05:06+23:59",
         "2001-03-04T05:06+23:59"),
        (Timestamp(2001, 3, 4, 5, 6, offset=-1439, precision=P.MINUTE),
         "2001-03-04T05:06-23:59", "2001-03-04T05:06-23:59"),
        (Timestamp(2001, 3, 4, 5, 6, 7, Decimal("0.0123"), 0, P.SECOND),
         "2001-03-04T05:06:07.0123Z", "2001-03-04T05:06:07.0123Z"),
        (Timestamp(2001, 3, 4, 5, 6, 7, offset=None, precision=P.SECOND),
         "2001-03-04T05:06:07-00:00", "2001-03-04T05:06:07-00:00"),
        (Timestamp(2001, 3, 4, 5, 6, 7, Decimal("0.005"), 1, P.SECOND),
         "2001-03-04T05:06:07.005+00:01", "2001-03-04T05:06:07.005+00:01"),
        (Timestamp(2001, 3, 4, 5, 6, 7, Decimal("0.0"), 0, P.SECOND), "2001-03-04T05:06:07.0Z",
         "2001-03-04T05:06:07.0Z"),
        (Timestamp(2001, 3, 4, 5, 6, 7, Decimal("0E-3"), 0, P.SECOND),
         "2001-03-04T05:06:07.000Z", "2001-03-04T05:06:07.000Z"),
    ],
)  # fmt: skip
def test_text_forms(ts: Timestamp, ion_text: str, iso: str) -> None:
    assert (ts.ion_text(), ts.iso(), str(ts)) == (ion_text, iso, ion_text)


def test_timestamp_equality_and_hash() -> None:
    base = {"year": 2001, "month": 3, "day": 4, "hour": 5, "minute": 6, "second": 7,
            "fraction": Decimal("0.5"), "offset": 60, "precision": P.SECOND}  # fmt: skip
    a = Timestamp(**base)
    assert a == Timestamp(**base)
    assert hash(a) == hash(Timestamp(**base))
    assert a != "2001-03-04T05:06:07.5+01:00"
    assert a.__eq__(1) is NotImplemented
    changes = [("day", 5), ("hour", 6), ("minute", 7), ("second", 8),
               ("fraction", Decimal("0.50")), ("offset", 0), ("offset", None)]  # fmt: skip
    for field, other in changes:
        assert a != Timestamp(**{**base, field: other}), field
    # the same instant at another precision or offset is another Ion value
    assert Timestamp(2001, 1, 1) != Timestamp(2001, 1, 1, 0, 0, offset=None, precision=P.MINUTE)
    assert Timestamp(2001, precision=P.YEAR) != Timestamp(2001, 1, precision=P.MONTH)


def test_wrappers_validate() -> None:
    assert TypedNull(IonType.STRING).ion_type is IonType.STRING
    with pytest.raises(ValueError, match="TypedNull"):
        TypedNull(7)  # type: ignore[arg-type]
    assert Annotated((None,), 1).annotations == (None,)
    with pytest.raises(ValueError, match="at least one annotation"):
        Annotated((), 1)
    with pytest.raises(ValueError, match="cannot wrap an Annotated"):
        Annotated(("a",), Annotated(("b",), 1))
    assert Annotated(("a", "b"), Symbol("c")).value == Symbol("c")


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (Decimal("1.5"), Decimal("1.5"), True),
        (Decimal("1.5"), Decimal("1.50"), False),
        (Decimal("-1.5"), Decimal("1.5"), False),
        (1.5, 1.5, True),
        (1.5, 2.5, False),
        (float("nan"), float("nan"), True),
        (float("nan"), struct.unpack(">d", b"\x7f\xf0\x00\x00\x00\x00\x00\x01")[0], True),
        (float("nan"), 1.0, False),
        (1.0, float("nan"), False),
        (float("inf"), float("inf"), True),
        ([1, 2], [1, 2], True),
        ([1, 2], [1, 3], False),
        ([1, 2], [1], False),
        ([1], [1, 2], False),
        ([Decimal("1.0")], [Decimal("1.00")], False),
        ({"a": 1}, {"b": 1}, False),
        ({"a": 1}, {"a": 1, "b": 2}, False),
        ({"a": Decimal("1.0")}, {"a": Decimal("1.00")}, False),
        ({None: 1}, {None: 1}, True),
        (SExp((1, 2)), SExp((1, 2)), True),
        (SExp((1, 2)), SExp((2, 1)), False),
        (SExp((Decimal("1.0"),)), SExp((Decimal("1.00"),)), False),
        (Annotated(("a",), 1), Annotated(("a",), 1), True),
        (Annotated(("a",), 1), Annotated(("b",), 1), False),
        (Annotated(("a", "b"), 1), Annotated(("b", "a"), 1), False),
        (Annotated(("a",), 1), Annotated(("a",), 2), False),
        (Annotated(("a",), Decimal("1.0")), Annotated(("a",), Decimal("1.00")), False),
        (Symbol("a"), Symbol("a"), True),
        (Symbol("a"), Symbol(None), False),
        (Clob(b"a"), Clob(b"a"), True),
        (Clob(b"a"), b"a", False),
        (Symbol("a"), "a", False),
        ("a", "a", True),
        ("a", "b", False),
        (True, True, True),
        (True, 1, False),
        (None, None, True),
        (None, TypedNull(IonType.INT), False),
        (TypedNull(IonType.INT), TypedNull(IonType.INT), True),
        (TypedNull(IonType.INT), TypedNull(IonType.FLOAT), False),
    ],
)
def test_same(a: Any, b: Any, expected: bool) -> None:
    assert same(a, b) is expected
    assert same(b, a) is expected
