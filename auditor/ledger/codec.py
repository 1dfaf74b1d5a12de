"""Ion binary in and out of the ledger file: the one place the ledger encodes and decodes.

:func:`decode` is the only reader of stored bytes (revision rows, block frames): their framing
is walked first (damaged lengths can make amazon.ion's C extension loop forever), then
amazon.ion parses them. Swapping in another Ion reader is a change to this file alone.
"""

from __future__ import annotations

from typing import Any

from amazon.ion import simpleion
from amazon.ion.core import IonType
from amazon.ion.simple_types import IonPyList

from auditor.ionframe import ION_BINARY_MARKER, check_framing
from auditor.ledger.errors import DamagedError


def encode(value: Any) -> bytes:
    """Ion binary (with its version marker) of one value."""
    data: bytes = simpleion.dumps(value, binary=True)
    return data


def ion_text(value: Any) -> str:
    """Ion text of one value, without a version marker."""
    text: str = simpleion.dumps(value, binary=False, omit_version_marker=True)
    return text


def decode(blob: Any, where: str) -> Any:
    """The one Ion value stored in ``blob`` (a struct); :class:`DamagedError` naming ``where``
    (file, table and row) if it is not exactly that."""
    if not isinstance(blob, bytes):
        raise DamagedError("not-ion", f"{where}: not a blob ({type(blob).__name__})")
    if not blob.startswith(ION_BINARY_MARKER):
        raise DamagedError("not-ion", f"{where}: not Ion binary (no version marker)")
    problem = check_framing(blob)
    if problem is not None:
        raise DamagedError("not-ion", f"{where}: not valid Ion binary ({problem})")
    try:
        values = simpleion.loads(blob, single_value=False)
    except Exception as e:  # amazon.ion raises many types (IonException, ValueError, ...)
        raise DamagedError("not-ion", f"{where}: not valid Ion binary ({e})") from e
    if len(values) != 1 or not hasattr(values[0], "iteritems"):
        raise DamagedError("not-ion", f"{where}: expected one Ion struct")
    return values[0]


def attach_revisions(frame: Any, revisions: list[Any]) -> Any:
    """The block ``frame`` (decoded) with its ``revisions`` list put back, in place."""
    frame["revisions"] = IonPyList.from_value(IonType.LIST, revisions)
    return frame
