"""What the ledger stores: values with an exact Ion image, in the QLDB key-value store
library's document layout (a JSON object gets its key in ``_k``; a string is ``{_k, _v}``).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from auditor.formats import KEY_FIELD, VALUE_FIELD, kvs_value
from auditor.ledger.errors import LedgerError

MAX_DECIMAL_EXPONENT = 6111  # amazon.ion's C extension mis-writes decimals beyond this
MAX_FRACTION_DIGITS = 9  # ... and cuts timestamp fractions to 9 digits
MAX_DEPTH = 64  # nesting of containers in one document

_SCALARS = (int, bytes, type(None))  # bool is an int


def check_text(text: str, where: str) -> None:
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:  # a lone surrogate: not an Ion string
        raise LedgerError("text", f"{where}: not valid Unicode text ({e.reason})") from e


def check_value(value: Any, where: str, depth: int = 0) -> None:
    """Refuse values with no exact Ion image, before amazon.ion sees them: Python floats
    (invoices need decimals; Ion floats read from Ion text are kept), non-finite decimals and
    extreme exponents (the C writer loops on the first and mis-writes the second), timestamps
    with more than 9 fraction digits, text that is not Unicode, nesting deeper than
    ``MAX_DEPTH``, and unknown types. Walks plain and amazon.ion containers alike."""
    if isinstance(value, str):
        check_text(value, where)
    elif isinstance(value, _SCALARS):
        return
    elif isinstance(value, Decimal):
        exponent = value.as_tuple().exponent
        if not isinstance(exponent, int) or abs(exponent) > MAX_DECIMAL_EXPONENT:
            raise LedgerError(
                "decimal", f"{where}: {value} cannot be stored exactly (finite decimals with "
                f"exponents within ±{MAX_DECIMAL_EXPONENT} only)",
            )  # fmt: skip
    elif type(value) is float:
        raise LedgerError("float", f"{where}: a float is not allowed; use a decimal (exact digits)")
    elif isinstance(value, dict | list | tuple) or hasattr(value, "ion_type"):
        if depth >= MAX_DEPTH:
            raise LedgerError("depth", f"{where}: nested deeper than {MAX_DEPTH} levels")
        _check_container(value, where, depth + 1)
    else:
        raise LedgerError("type", f"{where}: {type(value).__name__} is not a JSON or Ion value")


def _check_container(value: Any, where: str, depth: int) -> None:
    if isinstance(value, datetime):
        fraction = getattr(value, "fractional_seconds", None)
        if fraction is not None and -fraction.as_tuple().exponent > MAX_FRACTION_DIGITS:
            raise LedgerError(
                "timestamp", f"{where}: more than {MAX_FRACTION_DIGITS} fraction digits"
            )
    elif isinstance(value, dict) or hasattr(value, "iteritems"):
        pairs = value.iteritems() if hasattr(value, "iteritems") else value.items()
        for k, v in pairs:
            if not isinstance(k, str):
                raise LedgerError("field-name", f"{where}: field names must be strings")
            check_text(k, where)
            check_value(v, f"{where}.{k}", depth)
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            check_value(v, f"{where}[{i}]", depth)


def document(key: Any, value: Any) -> Any:
    """The stored document for ``key = value`` (checked); :class:`LedgerError` if refused."""
    if not isinstance(key, str) or not key or len(key) > 1024:
        raise LedgerError("key", f"key {key!r}: a non-empty string of at most 1024 characters")
    check_text(key, "key")
    check_value(value, key)
    if isinstance(value, str):
        return {KEY_FIELD: key, VALUE_FIELD: value}
    if hasattr(value, "ion_type") and int(value.ion_type) == 12:  # an Ion struct
        if KEY_FIELD in value and value[KEY_FIELD] != key:
            raise LedgerError("key-field", f"{key}: _k is {value[KEY_FIELD]!r}, not the key")
        value[KEY_FIELD] = key
        return value
    if isinstance(value, dict):
        if KEY_FIELD in value and value[KEY_FIELD] != key:
            raise LedgerError("key-field", f"{key}: _k is {value[KEY_FIELD]!r}, not the key")
        return {**value, KEY_FIELD: key}
    raise LedgerError("value", f"{key}: a value must be a JSON object or a string")


value_of = kvs_value  # the value as it was put: the inverse of :func:`document`
