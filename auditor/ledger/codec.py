"""Ion binary in and out of the ledger file: the one place the ledger encodes and decodes.

:func:`decode` is the only reader of stored bytes (revision rows, block frames): the project's
own reader (:mod:`auditor.ion`: exact, bounded by the per-input budget, it cannot loop), so a
damaged row is a :class:`DamagedError` naming the file, table, row and byte. Values are
:mod:`proofs.ionvalue`'s model (``dict``, ``list``, ``str``, ``Decimal``, ``Timestamp`` …).
:func:`encode` is :func:`auditor.ion.dumps_binary`, byte for byte what amazon.ion's C
extension wrote for every value the ledger stores, so older ledger files read the same;
:func:`split_block` makes the same rows from an imported block's bytes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from auditor import budget, ion
from auditor.ion import rebase
from auditor.ledger.errors import DamagedError
from proofs.ionvalue import Timestamp, TimestampPrecision

_MILLIS = [Decimal(n).scaleb(-3) for n in range(1000)]  # 0.000 .. 0.999, exact


def encode(value: Any) -> bytes:
    """Ion binary (with its version marker) of one value."""
    return ion.dumps_binary((value,))


def split_block(data: bytes, texts: list[str | None]) -> tuple[bytes, list[bytes]] | None:
    """What :func:`encode` gives for a block's frame (its ``revisions`` an empty list) and for
    each of its revisions, made from the bytes the block was read from (and the symbol table
    they were read under) without encoding the values again: :func:`auditor.ion.rebase.split`,
    the same bytes for input written as amazon.ion writes it, the same values always. None
    when the block holds what is not re-based (then encode the values)."""
    return rebase.split(data, texts, "revisions")


def ion_text(value: Any) -> str:
    """Ion text of one value, without a version marker."""
    return ion.dumps_text(value)


def decode(blob: Any, where: str) -> Any:
    """The one Ion value stored in ``blob`` (a struct); :class:`DamagedError` naming ``where``
    (file, table and row) and the byte if it is not exactly that."""
    if not isinstance(blob, bytes):
        raise DamagedError("not-ion", f"{where}: not a blob ({type(blob).__name__})")
    if not blob.startswith(ion.IVM):
        raise DamagedError("not-ion", f"{where}: not Ion binary (no version marker)")
    try:
        values = ion.loads(blob, where, limits=budget.limits())
    except ion.IonError as e:
        raise DamagedError("not-ion", f"{e.locator}: not valid Ion binary ({e.problem})") from e
    if len(values) != 1 or type(values[0]) is not dict:
        raise DamagedError("not-ion", f"{where}: expected one Ion struct")
    return values[0]


def attach_revisions(frame: dict[str, Any], revisions: list[Any]) -> dict[str, Any]:
    """The block ``frame`` (decoded) with its ``revisions`` list put back, in place."""
    frame["revisions"] = revisions
    return frame


def timestamp(moment: datetime) -> Timestamp:
    """An Ion timestamp with millisecond precision in UTC, as QLDB writes txTime."""
    utc = moment.astimezone(UTC)
    return Timestamp(
        utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second,
        _MILLIS[utc.microsecond // 1000], 0, TimestampPrecision.SECOND,
    )  # fmt: skip


def time_column(value: Any) -> str:
    """The text the ledger's ``tx_time``/``block_time`` columns hold for a timestamp: Python's
    ``str(datetime)`` of it (``2024-05-01 10:00:00.123000+00:00``), the form every ledger file
    has used since the first one (amazon.ion's timestamps were datetimes). Anything else (a
    string holding such text included) gives a text no column holds, so a check comparing them
    fails."""
    if type(value) is not Timestamp:
        return f"<not an Ion timestamp: {type(value).__name__}>"
    micros = 0 if value.fraction is None else int(value.fraction.scaleb(6))
    offset = value.offset
    zone = None if offset is None else UTC if offset == 0 else timezone(timedelta(minutes=offset))
    moment = datetime(
        value.year, value.month, value.day, value.hour, value.minute, value.second, micros, zone
    )
    return str(moment)
