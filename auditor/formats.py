"""Parsers for the QLDB artefacts people hold: parse once, into frozen typed values.

Accepted inputs (detected from the content, never from the file name):

- Ion text or Ion binary: a revision ``{blockAddress?, hash, data|dataHash, metadata}``, a journal
  block, or a QLDB stream record (``REVISION_DETAILS`` / ``BLOCK_SUMMARY``) with or without its
  ``{qldbStreamArn, recordType, payload}`` envelope.
- JSON: AWS CLI/SDK outputs of ``GetRevision`` (``{"Revision": {"IonText"}, "Proof": …}``),
  ``GetBlock`` and ``GetDigest`` (``{"Digest": b64, "DigestTipAddress": {"IonText"}}``); the QLDB
  key-value store library's ``LedgerMetadata`` receipt; a revision as JSON (history output); this
  project's receipt bundles and consistency files.

Every byte is accounted for: a field no format defines, a field given twice (in JSON or inside
Ion), an Ion annotation outside a revision's ``data``, a holder ``{"IonText": …}`` with anything
else in it, a number where an integer is required (``1.0`` for ``1``), nesting deeper than
:data:`MAX_DEPTH`: each is malformed, so no decoy can sit beside the value that is checked.

JSON → Ion rule for a revision given as JSON (the history output of the KVS library and the REST
sample): objects → structs, arrays → lists, strings → strings, ``true``/``false`` → bools,
``null`` → null, numbers without fraction or exponent → ints, numbers with a fraction or an
exponent → decimals with exactly the digits written (``89000.50`` stays ``89000.50``; never a
float). Then the revision's own fields get their QLDB types back: ``hash`` and ``dataHash``
(base64) → blobs, ``metadata.txTime`` (ISO-8601) → an Ion timestamp with exactly the precision
and offset written, ``metadata.version`` and ``blockAddress.sequenceNo`` must be ints. Strings
inside ``data`` stay strings: JSON cannot say whether QLDB stored a timestamp or a symbol there.

Every problem raises :class:`proofs.MalformedError` whose locator names the file and the field.
"""

from __future__ import annotations

import decimal
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from auditor import budget, ion
from proofs import HASH_LENGTH, MAX_PROOF_LENGTH, BlockAddress, MalformedError, block_address
from proofs.errors import b64decode as strict_b64decode
from proofs.ionvalue import Annotated, SExp, Timestamp
from proofs.note import parse_checkpoint, split_note
from proofs.qldb import BLOCK_FIELDS, REVISION_FIELDS

MAX_INPUT_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 100  # containers inside containers, in any input
MAX_NUMBER_DIGITS = 4000  # digits of one JSON number (Python refuses longer int texts)
MAX_EXPONENT = 999_999_999  # |exponent| of a JSON decimal

__all__ = ["BlockAddress", "MalformedError"]


@dataclass(frozen=True, slots=True)
class Digest:
    """A ledger digest and the tip it covers (GetDigest output, or a receipt's LedgerDigest)."""

    digest: bytes
    tip: BlockAddress


@dataclass(frozen=True, slots=True)
class RevisionInput:
    """A committed revision as an Ion struct, and the proof that came with it (if any)."""

    kind: str  # ion-revision | json-revision | history-revision | get-revision | …
    revision: Any
    proof: tuple[bytes, ...] | None = None
    table: str | None = None  # where the file states it (our ledger's history output)


@dataclass(frozen=True, slots=True)
class BlockInput:
    kind: str  # journal-block | get-block | stream-block-summary
    block: Any
    proof: tuple[bytes, ...] | None = None


@dataclass(frozen=True, slots=True)
class Receipt:
    """What a proof-of-inclusion receipt states: a revision hash, its proof, maybe a digest."""

    kind: str  # kvs-ledger-metadata | get-revision
    block_address: BlockAddress | None
    revision_hash: bytes
    proof: tuple[bytes, ...]
    digest: Digest | None
    document_id: str | None = None
    revision: RevisionInput | None = None
    ledger_name: str | None = None
    table_name: str | None = None


@dataclass(frozen=True, slots=True)
class Bundle:
    """A receipt bundle of our writer (see auditor/bundle.py for the format)."""

    ledger_name: str
    table_name: str
    key: str
    document_id: str
    block_address: BlockAddress
    revision: Any
    proof: tuple[bytes, ...]
    digest: Digest
    checkpoint: str
    ledger_metadata: Receipt
    kind: str = "receipt-bundle"


@dataclass(frozen=True, slots=True)
class ConsistencyFile:
    """Proof that the digest at an old tip is a prefix of the digest at a new tip.

    Each side is a signed checkpoint (a C2SP signed note) or a plain digest (a GetDigest
    output, e.g. one saved from QLDB before a migration)."""

    ledger_name: str
    strand_id: str
    old: str | Digest
    new: str | Digest
    proof: tuple[bytes, ...]
    kind: str = "consistency-proof"


Artefact = RevisionInput | BlockInput | Receipt | Digest | Bundle | ConsistencyFile


# -- reading -----------------------------------------------------------------------------------
def read_bytes(path: str, limit: int | None = None) -> bytes:
    limit = MAX_INPUT_BYTES if limit is None else limit
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        raise MalformedError("unreadable", path, f"cannot read ({e.strerror or e})") from e
    if len(data) > limit:
        raise MalformedError("too-large", path, f"larger than {limit} bytes")
    return data


class JsonRefusedError(ValueError):
    """Valid JSON syntax that we refuse (ambiguous, inexact or too deep): never retried as Ion.
    ``reason`` is ``duplicate-key``, ``not-a-number``, ``number`` or ``too-deep``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise JsonRefusedError("duplicate-key", f"duplicate key {key!r}")
        out[key] = value
    return out


def reject_json_constant(name: str) -> Any:
    raise JsonRefusedError("not-a-number", f"{name} is not a JSON number")


def json_decimal(text: str) -> Decimal:
    """A JSON number with a fraction or exponent → the Decimal with exactly those digits."""
    if len(text) > MAX_NUMBER_DIGITS:
        raise JsonRefusedError("number", f"a number of {len(text)} characters (at most "
                               f"{MAX_NUMBER_DIGITS})")  # fmt: skip
    try:
        value = Decimal(text)
    except decimal.DecimalException as e:
        raise JsonRefusedError(
            "number", f"the number {text[:40]} cannot be represented exactly"
        ) from e
    exponent = value.as_tuple().exponent
    if not isinstance(exponent, int) or abs(exponent) > MAX_EXPONENT:
        raise JsonRefusedError(
            "number", f"the number {text[:40]} has an exponent beyond ±{MAX_EXPONENT}"
        )
    return value


def json_int(text: str) -> int:
    if len(text) > MAX_NUMBER_DIGITS:
        raise JsonRefusedError(
            "number", f"a number of {len(text)} digits (at most {MAX_NUMBER_DIGITS})"
        )
    return int(text)


def loads_json(text: str | bytes) -> Any:
    """JSON → Ion values by the module's rule (Decimal for fractions/exponents, ints stay ints).

    Raises ``ValueError`` for text that is not JSON, and its subclass for JSON we refuse
    (duplicate keys, NaN/Infinity, numbers that cannot be exact, nesting deeper than
    :data:`MAX_DEPTH`)."""
    _json_depth(text if isinstance(text, str) else text.decode("utf-8", "replace"))
    try:
        value = json.loads(
            text,
            parse_float=json_decimal,
            parse_int=json_int,
            object_pairs_hook=reject_duplicate_keys,
            parse_constant=reject_json_constant,
        )
    except RecursionError as e:
        raise JsonRefusedError("too-deep", f"nested deeper than {MAX_DEPTH} levels") from e
    return value


_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{}]')


def _json_depth(text: str) -> None:
    """Refuse JSON text nested deeper than :data:`MAX_DEPTH` before parsing it, naming the
    line and column where it gets too deep (one linear scan; strings are skipped)."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return
    depth = 0
    for m in _JSON_TOKEN.finditer(text):
        c = m.group()[0]
        if c in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                at = m.start()
                line = text.count("\n", 0, at) + 1
                column = at - (text.rfind("\n", 0, at) + 1) + 1
                raise JsonRefusedError(
                    "too-deep", f"nested deeper than {MAX_DEPTH} levels at line {line}, "
                    f"column {column}",
                )  # fmt: skip
        elif c in "]}":
            depth -= 1


def parse_ion(data: bytes | str, where: str) -> list[Any]:
    """Ion text or binary → its top-level values, checked like every input (see below)."""
    return _loads_ion(data, where)


def _loads_ion(data: bytes | str, where: str) -> list[Any]:
    """Parse Ion text or binary with the project's reader (:mod:`auditor.ion`: exact, bounded
    by the per-input budget of :mod:`auditor.budget`; duplicate fields, nesting and sizes are
    its checks), then check the values' shape (:func:`_check_ion`). Raises
    :class:`MalformedError` naming ``where`` and the position (and field) of the problem."""
    values = ion.loads(data, where, limits=budget.limits())
    for i, value in enumerate(values):
        _check_ion(value, where if len(values) == 1 else f"{where}#{i + 1}")
    return values


def _check_ion(value: Any, where: str) -> None:
    """No annotation outside a ``data`` field (the reader refuses duplicates and bounds the
    nesting). Iterative, so no input can exhaust the stack."""
    stack: list[tuple[Any, str]] = [(value, where)]
    while stack:
        item, at = stack.pop()
        kind = type(item)
        if kind is Annotated:
            raise MalformedError("annotation", at, "Ion annotations are only allowed inside data")
        if kind is dict:
            for key, child in item.items():
                if key != "data":
                    stack.append((child, _at(at, str(key))))
        elif kind is list:
            stack.extend((x, f"{at}[{i}]") for i, x in enumerate(item))
        elif kind is SExp:
            stack.extend((x, f"{at}[{i}]") for i, x in enumerate(item.items))


def _short(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text[:200]


def load(path: str) -> list[Artefact]:
    """Read a file and return the artefacts in it (one, or several top-level Ion values)."""
    data = read_bytes(path)
    return parse(data, path)


def parse(data: bytes, path: str) -> list[Artefact]:
    if not data.strip():
        raise MalformedError("empty", path, "the file is empty")
    if data.startswith(ion.IVM):
        values = _loads_ion(data, path)
        if not values:  # a version marker alone (or with only symbol tables and pads)
            raise MalformedError("empty", path, "no Ion value in the file")
        return [_from_ion(v, path) for v in values]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise MalformedError("not-utf8", path, "neither Ion binary nor UTF-8 text") from e
    try:
        document = loads_json(text)
    except JsonRefusedError as e:
        raise MalformedError("not-json", path, f"refused JSON ({e})") from e
    except ValueError as json_error:
        try:
            values = _loads_ion(text, path)
        except MalformedError as ion_error:
            if text.lstrip().startswith(('{"', "[", "{\n")):
                # It looks like JSON, so the JSON error is the clearer message.
                problem = f"not valid JSON ({_short(json_error)})"
                raise MalformedError("not-json", path, problem) from ion_error
            raise
        if not values:
            raise MalformedError("empty", path, "no Ion value in the file") from json_error
        return [_from_ion(v, path) for v in values]
    return [_from_json(document, path)]


# -- field helpers -----------------------------------------------------------------------------
def _at(where: str, key: str) -> str:
    """``file.json:`` + ``Proof`` → ``file.json: Proof``; ``file.json: Proof`` + ``IonText`` →
    ``file.json: Proof.IonText``."""
    return f"{where} {key}" if where.endswith(":") else f"{where}.{key}"


def check_fields(
    obj: Any, where: str, required: set[str], optional: frozenset[str] = frozenset()
) -> None:
    """``obj`` is an object with every ``required`` field, and no field outside both sets."""
    if not isinstance(obj, Mapping):
        raise MalformedError("not-a-struct", where, "expected an object")
    for key in obj:
        if key not in required and key not in optional:
            raise MalformedError("unknown-field", _at(where, str(key)), "unknown field")
    for key in sorted(required):
        if key not in obj:
            raise MalformedError("missing-field", _at(where, key), "missing field")


def _field(obj: Any, key: str, where: str, required: bool = True) -> Any:
    if not isinstance(obj, Mapping):
        raise MalformedError("not-a-struct", where, "expected an object")
    if key not in obj or (required and obj[key] is None):
        if required:
            raise MalformedError("missing-field", _at(where, key), "missing field")
        return None
    return obj[key]


def _string(obj: Any, key: str, where: str, required: bool = True) -> str | None:
    value = _field(obj, key, where, required)
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedError("not-a-string", _at(where, key), "expected a string")
    return str(value)


def _int(obj: Any, key: str, where: str) -> int:
    value = _field(obj, key, where)
    if type(value) is not int:  # not a bool, not 1.0
        raise MalformedError("not-an-int", _at(where, key), "expected an integer")
    return value


def b64decode(text: Any, where: str, length: int | None = HASH_LENGTH) -> bytes:
    """The one strict, canonical base64 (:func:`proofs.errors.b64decode`: no other text decodes
    to the same bytes) of a ``length``-byte value (any length for ``None``). Raises
    :class:`MalformedError` naming ``where``."""
    raw = strict_b64decode(text, where)
    if length is not None and len(raw) != length:
        raise MalformedError(
            "hash-length", where, f"a hash must be {length} bytes, got {len(raw)} bytes"
        )
    return raw


def _b64_hash(obj: Any, key: str, where: str) -> bytes:
    return b64decode(_string(obj, key, where), _at(where, key))


def _ion_text(
    obj: Any, key: str, where: str, required: bool = True, canonical: bool = False
) -> Any:
    """The one Ion value of ``obj[key]``, a holder ``{"IonText": "…"}`` and nothing else."""
    holder = _field(obj, key, where, required)
    if holder is None:
        return None
    return ion_holder(holder, _at(where, key), canonical)


def ion_holder(holder: Any, where: str, canonical: bool = False) -> Any:
    """The one Ion value of a holder ``{"IonText": "…"}`` that holds nothing else."""
    check_fields(holder, where, {"IonText"})
    at = _at(where, "IonText")
    text = _string(holder, "IonText", where)
    assert text is not None
    values = _loads_ion(text, at)
    if len(values) != 1:
        raise MalformedError("not-one-value", at, f"expected one Ion value, got {len(values)}")
    if canonical and canonical_ion(values[0]) != text:
        raise MalformedError("not-canonical", at, "not in the canonical Ion text form")
    return values[0]


def canonical_ion(value: Any) -> str:
    """The one Ion text our bundles use (compact, no version marker; :func:`auditor.ion.
    dumps_text`, byte for byte what amazon.ion writes for the values it writes correctly)."""
    return ion.dumps_text(value)


def proof_hashes(value: Any, where: str) -> tuple[bytes, ...]:
    if not isinstance(value, list):
        raise MalformedError("not-a-list", where, "expected an Ion list of hashes")
    if len(value) > MAX_PROOF_LENGTH:
        raise MalformedError(
            "proof-length", where, f"at most {MAX_PROOF_LENGTH} elements, got {len(value)}"
        )
    out = []
    for i, element in enumerate(value):
        if type(element) is not bytes:  # not a clob, a string, an annotated blob
            raise MalformedError("hash-type", f"{where}[{i}]", "expected a blob")
        if len(element) != HASH_LENGTH:
            raise MalformedError(
                "hash-length", f"{where}[{i}]", f"a hash must be 32 bytes, got {len(element)} bytes"
            )
        out.append(element)
    return tuple(out)


def _digest(obj: Any, where: str, canonical: bool = False) -> Digest:
    """A GetDigest output; our ledger's ``digest`` command adds its signed ``checkpoint``,
    which must state the same digest and tip (its signatures are not what makes a digest you
    supply trusted, so they are not checked here)."""
    check_fields(obj, where, {"Digest", "DigestTipAddress"},
                 frozenset() if canonical else frozenset({"checkpoint"}))  # fmt: skip
    digest = _b64_hash(obj, "Digest", where)
    address = _ion_text(obj, "DigestTipAddress", where, canonical=canonical)
    out = Digest(digest, block_address(address, _at(where, "DigestTipAddress.IonText")))
    if "checkpoint" in obj:
        note = _string(obj, "checkpoint", where)
        assert note is not None
        checkpoint = parse_checkpoint(split_note(note)[0])
        stated = (checkpoint.digest, checkpoint.strand_id, checkpoint.tip)
        if stated != (out.digest, out.tip.strand_id, out.tip.sequence_no):
            raise MalformedError(
                "digest-checkpoint", _at(where, "checkpoint"),
                "does not state the file's Digest and DigestTipAddress",
            )  # fmt: skip
    return out


# -- JSON documents ----------------------------------------------------------------------------
_KVS_FIELDS = {"BlockAddress", "RevisionHash", "Proof", "LedgerDigest"}
_KVS_OPTIONAL = frozenset({"LedgerName", "TableName", "DocumentId"})
_REVISION_FIELDS = REVISION_FIELDS


def _from_json(doc: Any, path: str) -> Artefact:
    if not isinstance(doc, Mapping):
        raise MalformedError("unknown-format", path, "expected a JSON object")
    if doc.get("format") in (BUNDLE_FORMAT, CONSISTENCY_FORMAT):
        return _ours(doc, path)
    if "LedgerDigest" in doc or "RevisionHash" in doc:
        return _kvs_receipt(doc, path + ":")
    if "Revision" in doc:
        return _get_revision(doc, path)
    if "Block" in doc:
        check_fields(doc, path, {"Block"}, frozenset({"Proof"}))
        block = _ion_text(doc, "Block", path + ":")
        proof = _ion_text(doc, "Proof", path + ":", required=False)
        at = f"{path}: Proof.IonText"
        return BlockInput("get-block", block, None if proof is None else proof_hashes(proof, at))
    if "Digest" in doc:
        return _digest(doc, path + ":")
    if "hash" in doc and ({"data", "dataHash", "metadata"} & set(doc)):
        if "metadata" not in doc:
            raise MalformedError(
                "missing-field", f"{path}: metadata", "a revision needs its metadata"
            )
        check_fields(doc, path + ":", {"hash", "metadata"}, _REVISION_FIELDS | _HISTORY_FIELDS)
        if _HISTORY_FIELDS & set(doc):
            return _history_revision(doc, path)
        return RevisionInput("json-revision", _json_revision(doc, path))
    raise MalformedError(
        "unknown-format",
        path,
        "not a QLDB revision, block, receipt or digest (found keys: "
        + ", ".join(sorted(map(str, doc))[:8])
        + ")",
    )


KEY_FIELD = "_k"  # the QLDB key-value store library's layout: {_k: key, ...} or {_k, _v}
VALUE_FIELD = "_v"


def kvs_value(data: Any) -> Any:
    """A document's value as the key-value store library gives it back: the string of a
    ``{_k, _v}`` document, else the object without ``_k``; anything else as it is."""
    if isinstance(data, Mapping):
        if set(data) == {KEY_FIELD, VALUE_FIELD} and isinstance(data[VALUE_FIELD], str):
            return data[VALUE_FIELD]
        return {k: v for k, v in data.items() if k != KEY_FIELD}
    return data


BUNDLE_FORMAT = "qldb-audit-receipt-bundle"
CONSISTENCY_FORMAT = "qldb-audit-consistency-proof"
_BUNDLE_KEYS = {
    "format", "version", "ledgerName", "tableName", "key", "documentId", "blockAddress",
    "revision", "proof", "digest", "checkpoint", "LedgerMetadata",
}  # fmt: skip
_CONSISTENCY_KEYS = {"format", "version", "ledgerName", "strandId", "old", "new", "proof"}


def _ours(doc: Mapping[str, Any], path: str) -> Bundle | ConsistencyFile:
    where = path + ":"
    if _int(doc, "version", where) != 1:
        raise MalformedError("version", _at(where, "version"), "only version 1 is supported")
    if doc["format"] == CONSISTENCY_FORMAT:
        check_fields(doc, path, _CONSISTENCY_KEYS)
        proof = _ion_text(doc, "proof", where, canonical=True)
        return ConsistencyFile(
            ledger_name=_string(doc, "ledgerName", where) or "",
            strand_id=_string(doc, "strandId", where) or "",
            old=_side(doc, "old", where),
            new=_side(doc, "new", where),
            proof=proof_hashes(proof, f"{path}: proof.IonText"),
        )
    check_fields(doc, path, _BUNDLE_KEYS)
    kvs = _field(doc, "LedgerMetadata", where)
    check_fields(kvs, f"{path}: LedgerMetadata", _KVS_FIELDS | _KVS_OPTIONAL)
    receipt = _kvs_receipt(kvs, f"{path}: LedgerMetadata", canonical=True)
    revision = _ion_text(doc, "revision", where, canonical=True)
    _check_revision_shape(revision, f"{path}: revision.IonText")
    block = _ion_text(doc, "blockAddress", where, canonical=True)
    return Bundle(
        ledger_name=_string(doc, "ledgerName", where) or "",
        table_name=_string(doc, "tableName", where) or "",
        key=_string(doc, "key", where) or "",
        document_id=_string(doc, "documentId", where) or "",
        block_address=block_address(block, f"{path}: blockAddress.IonText"),
        revision=revision,
        proof=proof_hashes(
            _ion_text(doc, "proof", where, canonical=True), f"{path}: proof.IonText"
        ),
        digest=_digest(_field(doc, "digest", where), f"{path}: digest", canonical=True),
        checkpoint=_string(doc, "checkpoint", where) or "",
        ledger_metadata=receipt,
    )


def _side(doc: Mapping[str, Any], key: str, where: str) -> str | Digest:
    """One side of a consistency file: a signed note (string) or a GetDigest object."""
    value = _field(doc, key, where)
    if isinstance(value, str):
        return value
    return _digest(value, _at(where, key), canonical=True)


def _kvs_receipt(doc: Any, where: str, canonical: bool = False) -> Receipt:
    check_fields(doc, where, _KVS_FIELDS, _KVS_OPTIONAL)
    block = _ion_text(doc, "BlockAddress", where, canonical=canonical)
    address = block_address(block, _at(where, "BlockAddress.IonText"))
    proof = _ion_text(doc, "Proof", where, canonical=canonical)
    return Receipt(
        kind="kvs-ledger-metadata",
        block_address=address,
        revision_hash=_b64_hash(doc, "RevisionHash", where),
        proof=proof_hashes(proof, _at(where, "Proof.IonText")),
        digest=_digest(
            _field(doc, "LedgerDigest", where), _at(where, "LedgerDigest"), canonical=canonical
        ),
        document_id=_string(doc, "DocumentId", where, required=False),
        ledger_name=_string(doc, "LedgerName", where, required=False),
        table_name=_string(doc, "TableName", where, required=False),
    )


def _get_revision(doc: Any, path: str) -> RevisionInput:
    check_fields(doc, path, {"Revision"}, frozenset({"Proof"}))
    revision = _ion_text(doc, "Revision", path + ":")
    proof = _ion_text(doc, "Proof", path + ":", required=False)
    _check_revision_shape(revision, f"{path}: Revision.IonText")
    return RevisionInput(
        "get-revision",
        revision,
        None if proof is None else proof_hashes(proof, f"{path}: Proof.IonText"),
    )


_HISTORY_FIELDS = frozenset({"table", "key", "documentId", "version"})


def _history_revision(doc: Mapping[str, Any], path: str) -> RevisionInput:
    """One revision of our ledger's ``history`` output: the QLDB revision plus ``table``,
    ``key``, ``documentId`` and ``version`` (and ``dataHash: null`` when there is none). The
    extra fields are not covered by the hash, so each must agree with the revision's own."""
    where = path + ":"
    qldb = {k: v for k, v in doc.items() if k not in _HISTORY_FIELDS}
    if qldb.get("dataHash", "absent") is None:
        del qldb["dataHash"]
    if qldb.get("data", "absent") is None and "dataHash" in qldb:
        del qldb["data"]  # a redacted revision: data null, dataHash set
    revision = _json_revision(qldb, path)
    metadata = revision["metadata"]
    data = revision.get("data")
    for field, own in (
        ("documentId", metadata.get("id")),
        ("version", metadata.get("version")),
        ("key", data.get(KEY_FIELD) if isinstance(data, Mapping) else doc.get("key")),
    ):
        if field in doc and (doc[field] != own or type(doc[field]) is not type(own)):
            raise MalformedError(
                "history-field", _at(where, field),
                f"is not the revision's own ({own!r}): the history entry disagrees with itself",
            )  # fmt: skip
    table = _string(doc, "table", where, required=False)
    return RevisionInput("history-revision", revision, table=table)


def _json_revision(doc: Mapping[str, Any], path: str) -> dict[str, Any]:
    where = path + ":"
    revision: dict[str, Any] = {}
    for key, value in doc.items():
        if key in ("hash", "dataHash"):
            revision[key] = _b64_hash(doc, key, where)
        elif key == "blockAddress":
            address = block_address(value, _at(where, "blockAddress"))
            revision[key] = {"strandId": address.strand_id, "sequenceNo": address.sequence_no}
        elif key == "metadata":
            revision[key] = _json_metadata(value, _at(where, "metadata"))
        else:
            revision[key] = value  # loads_json already applied the JSON → Ion rule
    return revision


def _json_metadata(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise MalformedError("not-a-struct", where, "expected an object")
    out: dict[str, Any] = dict(value)
    if "txTime" in out:
        text = out["txTime"]
        if not isinstance(text, str):
            raise MalformedError(
                "not-a-timestamp", _at(where, "txTime"), "expected an ISO-8601 string"
            )
        parsed = None
        try:
            values = _loads_ion(text, _at(where, "txTime"))
            parsed = values[0] if len(values) == 1 else None
        except MalformedError:
            parsed = None
        if type(parsed) is not Timestamp:  # not annotated, not another type
            raise MalformedError(
                "not-a-timestamp", _at(where, "txTime"), f"not a timestamp: {text[:60]!r}"
            )
        out["txTime"] = parsed
    if "version" in out and type(out["version"]) is not int:
        raise MalformedError("not-an-int", _at(where, "version"), "expected an integer")
    return out


# -- Ion documents -----------------------------------------------------------------------------
def _check_revision_shape(revision: Any, where: str) -> None:
    if not isinstance(revision, Mapping):
        raise MalformedError("not-a-struct", where, "expected a revision struct")
    for key in ("hash", "metadata"):
        if key not in revision:
            raise MalformedError("missing-field", _at(where, key), "missing field")
    for key in revision:
        if key not in _REVISION_FIELDS:
            raise MalformedError("unknown-field", _at(where, str(key)), "unknown field")


_BLOCK_FIELDS = BLOCK_FIELDS
_STREAM_FIELDS = frozenset({"qldbStreamArn", "recordType", "payload"})


def _from_ion(value: Any, path: str) -> Artefact:
    where = f"{path}:"
    if not isinstance(value, Mapping):
        raise MalformedError("unknown-format", path, "expected an Ion struct")
    if "payload" in value and ("recordType" in value or "qldbStreamArn" in value):
        check_fields(value, where, {"payload"}, _STREAM_FIELDS)
        record_type = value.get("recordType")
        payload = value["payload"]
        if record_type not in (None, "REVISION_DETAILS", "BLOCK_SUMMARY"):
            raise MalformedError(
                "stream-record-type",
                _at(where, "recordType"),
                f"{record_type} records carry nothing to verify",
            )
        return _from_ion(payload, path)
    if "revision" in value and "tableInfo" in value:
        check_fields(value, where, {"revision", "tableInfo"})
        revision = value["revision"]
        _check_revision_shape(revision, _at(where, "revision"))
        return RevisionInput("stream-revision-details", revision)
    if "entriesHashList" in value:
        check_fields(value, where, {"entriesHashList"}, _BLOCK_FIELDS)
        kind = "stream-block-summary" if "revisionSummaries" in value else "journal-block"
        return BlockInput(kind, value)
    if "metadata" in value and "hash" in value:
        _check_revision_shape(value, path)
        return RevisionInput("ion-revision", value)
    if "hash" in value and ("data" in value or "dataHash" in value):
        raise MalformedError(
            "missing-field", _at(where, "metadata"), "a revision needs its metadata"
        )
    raise MalformedError(
        "unknown-format",
        path,
        "not a QLDB revision, block or stream record (found fields: "
        + ", ".join(sorted(str(k) for k in value)[:8])
        + ")",
    )


def load_digest(path: str) -> Digest:
    """A digest the user trusts: a GetDigest output (JSON), or its LedgerDigest-shaped twin."""
    artefacts = load(path)
    if len(artefacts) != 1 or not isinstance(artefacts[0], Digest):
        raise MalformedError(
            "not-a-digest", path, 'expected a GetDigest output {"Digest", "DigestTipAddress"}'
        )
    return artefacts[0]
