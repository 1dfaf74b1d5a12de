"""JSON Schemas: the invoice table's (the AWS sample's), and the sample's request models.

Values are validated as the JSON → Ion rule reads them (``auditor.formats.loads_json``:
fractions are ``Decimal``, never floats), so ``"unitPrice": 89000.50`` is a number and
``"year": 2021.0`` is not an integer. A failure names the field (``carInfo.unitPrice``).

The invoice schema is the sample's ``SetValueModel.value`` [Q9] with one addition: an optional
``payment`` object for the payment details a dealer records with ``TRANSFERRED``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError as _JsonSchemaError
from jsonschema.exceptions import ValidationError

from proofs.ionvalue import Annotated, SExp, Symbol, TypedNull

PAYMENT_STATUSES = ["PENDING", "TRANSFERRED", "CONFIRMED"]

INVOICE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "invoice",
    "type": "object",
    "additionalProperties": False,
    "required": ["date", "billTo", "paymentStatus", "quantity", "carInfo"],
    "properties": {
        "date": {"type": "string"},
        "billTo": {"type": "string"},
        "paymentStatus": {"type": "string", "enum": PAYMENT_STATUSES},
        "quantity": {"type": "integer"},
        "carInfo": {
            "type": "object",
            "additionalProperties": False,
            "required": ["model", "make", "year", "unitPrice"],
            "properties": {
                "model": {"type": "string"},
                "make": {"type": "string"},
                "year": {"type": "integer"},
                "unitPrice": {"type": "number"},
            },
        },
        "payment": {
            "type": "object",
            "description": "payment details (bank, reference, ...), recorded by the dealer",
            "maxProperties": 32,
            "additionalProperties": {
                "type": ["string", "number", "integer", "boolean", "null"],
                "maxLength": 1024,
            },
        },
    },
}

BUILTIN_SCHEMAS: dict[str, Mapping[str, Any]] = {"invoice": INVOICE_SCHEMA}

_IONTEXT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["IonText"],
    "properties": {"IonText": {"type": "string"}},
}
_DIGEST = {
    "type": "object",
    "additionalProperties": False,
    "required": ["Digest", "DigestTipAddress"],
    "properties": {"Digest": {"type": "string"}, "DigestTipAddress": _IONTEXT},
}

# The sample's request models [Q8][Q9] (draft 4 there; the same constraints here).
VERIFY_RECEIPT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["BlockAddress", "DocumentId", "RevisionHash", "LedgerDigest"],
    "properties": {
        "LedgerName": {"type": "string"},
        "TableName": {"type": "string"},
        "BlockAddress": _IONTEXT,
        "DocumentId": {"type": "string", "minLength": 22, "maxLength": 22},
        "RevisionHash": {"type": "string"},
        "Proof": _IONTEXT,
        "LedgerDigest": _DIGEST,
    },
}
RETRIEVE_REVISION_SCHEMA: dict[str, Any] = {
    **VERIFY_RECEIPT_SCHEMA,
    "required": ["BlockAddress", "DocumentId", "LedgerDigest"],
    "properties": {
        **VERIFY_RECEIPT_SCHEMA["properties"],
        "LedgerDigest": {
            "type": "object",
            "additionalProperties": False,
            "required": ["DigestTipAddress"],
            "properties": {"Digest": {"type": "string"}, "DigestTipAddress": _IONTEXT},
        },
    },
}
# The revision's own fields; ``data`` is any object (the hash check does not depend on the
# table's schema, so a tampered document is answered "invalid", not "bad request").
VERIFY_REVISION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["hash", "data", "metadata"],
    "properties": {
        "blockAddress": {
            "type": "object",
            "additionalProperties": False,
            "required": ["strandId", "sequenceNo"],
            "properties": {"strandId": {"type": "string"}, "sequenceNo": {"type": "integer"}},
        },
        "hash": {"type": "string"},
        "data": {"type": "object"},
        "metadata": {
            "type": "object",
            "additionalProperties": False,
            "required": ["id", "version", "txTime", "txId"],
            "properties": {
                "id": {"type": "string"},
                "version": {"type": "integer"},
                "txTime": {"type": "string"},
                "txId": {"type": "string"},
            },
        },
    },
}


@dataclass(frozen=True, slots=True)
class Problem:
    field: str  # dotted path, "" for the value itself
    problem: str

    def __str__(self) -> str:
        return f"{self.field or 'value'}: {self.problem}"


class SchemaViolationError(Exception):
    """A value does not satisfy a schema; ``problems`` lists each field (first is the best)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(str(problems[0]))
        self.problems = problems

    @property
    def field(self) -> str:
        return self.problems[0].field


def check_schema(schema: Any) -> str | None:
    """None if ``schema`` is a valid JSON Schema (2020-12), else the problem."""
    try:
        Draft202012Validator.check_schema(schema)
    except _JsonSchemaError as e:
        return str(e.message)
    return None


def _path(parts: Any) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _problem(error: ValidationError, prefix: str) -> Problem:
    base = _path(error.absolute_path)
    name = base
    if error.validator == "required" and isinstance(error.instance, Mapping):
        required = error.validator_value if isinstance(error.validator_value, list) else []
        missing = [r for r in required if r not in error.instance]
        if missing:
            name = f"{base}.{missing[0]}" if base else str(missing[0])
            return Problem(_join(prefix, name), "required field is missing")
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        schema = error.schema if isinstance(error.schema, Mapping) else {}
        allowed = set(schema.get("properties", {}))
        extra = sorted(str(k) for k in error.instance if k not in allowed)
        if extra:
            name = f"{base}.{extra[0]}" if base else extra[0]
            return Problem(_join(prefix, name), "field is not allowed")
    return Problem(_join(prefix, name), _explain(error))


def _explain(error: ValidationError) -> str:
    """What the value breaks, from the schema alone: jsonschema's own message quotes the
    value (a 100-item batch would be echoed whole)."""
    rule, limit = error.validator, error.validator_value
    if rule == "type":
        kinds = limit if isinstance(limit, list) else [limit]
        return f"expected {' or '.join(map(str, kinds))}"
    if rule == "enum" and isinstance(limit, list):
        return f"expected one of {', '.join(map(str, limit))}"
    if rule == "const":
        return f"expected {limit!r}"
    wording = {
        "minItems": "at least {} items", "maxItems": "at most {} items",
        "minLength": "at least {} characters", "maxLength": "at most {} characters",
        "minProperties": "at least {} fields", "maxProperties": "at most {} fields",
        "minimum": "at least {}", "maximum": "at most {}", "pattern": "must match {}",
    }  # fmt: skip
    if rule in wording:
        return "expected " + wording[str(rule)].format(limit)
    return f"breaks the schema's {rule!s} rule"


def violation(error: SchemaViolationError) -> dict[str, Any]:
    """The 422 body of a value that breaks a table's schema, naming the field."""
    return {
        "message": f"invalid document: {error}",
        "reason": "schema",
        "field": error.field,
        "errors": [{"field": p.field, "problem": p.problem} for p in error.problems],
    }


def _join(prefix: str, name: str) -> str:
    if not prefix:
        return name
    if not name:
        return prefix
    return f"{prefix}{name}" if name.startswith("[") else f"{prefix}.{name}"


class Validator:
    """A compiled schema. :meth:`validate` raises :class:`SchemaViolationError`."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.schema = schema
        self._validator = Draft202012Validator(schema)

    def problems(self, value: Any, prefix: str = "") -> list[Problem]:
        errors = sorted(
            self._validator.iter_errors(plain(value)),
            key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))),
        )
        found = (_problem(e, prefix) for e in errors[:20])
        return [Problem(p.field[:200], p.problem[:200]) for p in found]

    def validate(self, value: Any, prefix: str = "") -> None:
        problems = self.problems(value, prefix)
        if problems:
            raise SchemaViolationError(problems)


def plain(value: Any) -> Any:
    """Ion values (:mod:`proofs.ionvalue`'s model) → plain Python for validation: structs →
    dicts, lists and sexps → lists, nulls (typed ones too) → None, symbols → their text,
    annotations dropped; other scalars keep their Python type (strings, ints, ``Decimal``,
    :class:`~proofs.ionvalue.Timestamp`, bytes, clobs). Nesting is bounded by the caller
    (``service.check_depth`` / the ledger's size cap)."""
    kind = type(value)
    if kind is Annotated:
        return plain(value.value)
    if kind is TypedNull:
        return None
    if kind is Symbol:
        return value.text
    if kind is dict:
        return {str(k): plain(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [plain(v) for v in value]
    if kind is SExp:
        return [plain(v) for v in value.items]
    return value
