"""What the ledger stores: values with an exact Ion image, in the QLDB key-value store
library's document layout (a JSON object gets its key in ``_k``; a string is ``{_k, _v}``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from auditor.formats import KEY_FIELD, VALUE_FIELD, kvs_value
from auditor.ledger.errors import LedgerError
from proofs.ionvalue import Annotated, Clob, SExp, Symbol, Timestamp, TypedNull

MAX_DECIMAL_EXPONENT = 6111  # what the ledger has always stored (amazon.ion's writer's range)
MAX_FRACTION_DIGITS = 9  # ... and timestamp fractions of at most 9 digits
MAX_DEPTH = 64  # nesting of containers in one document

_SCALARS = (int, bytes, type(None), Clob, TypedNull)  # bool is an int


def check_text(text: str, where: str) -> None:
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:  # a lone surrogate: not an Ion string
        raise LedgerError("text", f"{where}: not valid Unicode text ({e.reason})") from e


def check_value(value: Any, where: str, depth: int = 0) -> None:
    """Refuse values the ledger does not store: Python floats (invoices need decimals),
    non-finite decimals and exponents beyond ±``MAX_DECIMAL_EXPONENT``, timestamps with more
    than ``MAX_FRACTION_DIGITS`` fraction digits, text that is not Unicode, nesting deeper
    than ``MAX_DEPTH``, and types outside JSON's and :mod:`proofs.ionvalue`'s model."""
    kind = type(value)
    if kind is str:
        check_text(value, where)
    elif kind in _SCALARS or kind is bool:
        return
    elif kind is Decimal:
        exponent = value.as_tuple().exponent
        if not isinstance(exponent, int) or abs(exponent) > MAX_DECIMAL_EXPONENT:
            raise LedgerError(
                "decimal", f"{where}: {value} cannot be stored exactly (finite decimals with "
                f"exponents within ±{MAX_DECIMAL_EXPONENT} only)",
            )  # fmt: skip
    elif kind is float:
        raise LedgerError("float", f"{where}: a float is not allowed; use a decimal (exact digits)")
    elif kind is Timestamp:
        fraction = value.fraction
        if fraction is not None and -int(fraction.as_tuple().exponent) > MAX_FRACTION_DIGITS:
            raise LedgerError(
                "timestamp", f"{where}: more than {MAX_FRACTION_DIGITS} fraction digits"
            )
    elif kind is Symbol:
        if value.text is not None:
            check_text(value.text, where)
    elif kind is Annotated:
        for annotation in value.annotations:
            if annotation is not None:
                check_text(annotation, where)
        check_value(value.value, where, depth)
    elif kind is dict or kind is list or kind is SExp:
        if depth >= MAX_DEPTH:
            raise LedgerError("depth", f"{where}: nested deeper than {MAX_DEPTH} levels")
        _check_container(value, where, depth + 1)
    else:
        raise LedgerError("type", f"{where}: {kind.__name__} is not a JSON or Ion value")


def _check_container(value: Any, where: str, depth: int) -> None:
    if type(value) is dict:
        for k, v in value.items():
            if type(k) is not str:
                raise LedgerError("field-name", f"{where}: field names must be strings")
            check_text(k, where)
            check_value(v, f"{where}.{k}", depth)
        return
    for i, v in enumerate(value.items if type(value) is SExp else value):
        check_value(v, f"{where}[{i}]", depth)


def document(key: Any, value: Any) -> Any:
    """The stored document for ``key = value`` (checked); :class:`LedgerError` if refused."""
    if not isinstance(key, str) or not key or len(key) > 1024:
        raise LedgerError("key", f"key {key!r}: a non-empty string of at most 1024 characters")
    check_text(key, "key")
    check_value(value, key)
    if type(value) is str:
        return {KEY_FIELD: key, VALUE_FIELD: value}
    if type(value) is dict:
        if KEY_FIELD in value and value[KEY_FIELD] != key:
            raise LedgerError("key-field", f"{key}: _k is {value[KEY_FIELD]!r}, not the key")
        return {**value, KEY_FIELD: key}
    raise LedgerError("value", f"{key}: a value must be a JSON object or a string")


value_of = kvs_value  # the value as it was put: the inverse of :func:`document`
