"""Parsers for the QLDB artefacts people hold: parse once, into frozen typed values.

Accepted inputs (detected from the content, never from the file name):

- Ion text or Ion binary: a revision ``{blockAddress?, hash, data|dataHash, metadata}``, a journal
  block, or a QLDB stream record (``REVISION_DETAILS`` / ``BLOCK_SUMMARY``) with or without its
  ``{qldbStreamArn, recordType, payload}`` envelope.
- JSON: AWS CLI/SDK outputs of ``GetRevision`` (``{"Revision": {"IonText"}, "Proof": …}``),
  ``GetBlock`` and ``GetDigest`` (``{"Digest": b64, "DigestTipAddress": {"IonText"}}``); the QLDB
  key-value store library's ``LedgerMetadata`` receipt; a revision as JSON (history output).

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

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from amazon.ion import simpleion

from auditor.ionframe import ION_BINARY_MARKER, check_framing
from proofs import HASH_LENGTH, MAX_PROOF_LENGTH, MalformedError

MAX_INPUT_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class BlockAddress:
    strand_id: str
    sequence_no: int

    def __str__(self) -> str:
        return f"{self.strand_id}/{self.sequence_no}"


@dataclass(frozen=True, slots=True)
class Digest:
    """A ledger digest and the tip it covers (GetDigest output, or a receipt's LedgerDigest)."""

    digest: bytes
    tip: BlockAddress


@dataclass(frozen=True, slots=True)
class RevisionInput:
    """A committed revision as an Ion struct, and the proof that came with it (if any)."""

    kind: str  # ion-revision | json-revision | get-revision | stream-revision-details
    revision: Any
    proof: tuple[bytes, ...] | None = None


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
    ledger_metadata_names: tuple[str, str]  # LedgerName, TableName of the KVS section
    kind: str = "receipt-bundle"


@dataclass(frozen=True, slots=True)
class ConsistencyFile:
    ledger_name: str
    strand_id: str
    old: str  # signed note
    new: str  # signed note
    proof: tuple[bytes, ...]
    kind: str = "consistency-proof"


Artefact = RevisionInput | BlockInput | Receipt | Digest | Bundle | ConsistencyFile


# -- reading -----------------------------------------------------------------------------------
def read_bytes(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_INPUT_BYTES + 1)
    except OSError as e:
        raise MalformedError("unreadable", path, f"cannot read ({e.strerror or e})") from e
    if len(data) > MAX_INPUT_BYTES:
        raise MalformedError("too-large", path, f"larger than {MAX_INPUT_BYTES} bytes")
    return data


class _JsonRejectedError(ValueError):
    """Valid JSON syntax that we refuse (ambiguous or not a number): never retried as Ion."""


def reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _JsonRejectedError(f"duplicate key {key!r}")
        out[key] = value
    return out


def reject_json_constant(name: str) -> Any:
    raise _JsonRejectedError(f"{name} is not a JSON number")


def loads_json(text: str) -> Any:
    """JSON → Ion values by the module's rule (Decimal for fractions/exponents, ints stay ints);
    raises ``ValueError`` (duplicate keys and NaN/Infinity included)."""
    return json.loads(
        text,
        parse_float=Decimal,
        object_pairs_hook=reject_duplicate_keys,
        parse_constant=reject_json_constant,
    )


def _loads_ion(data: bytes | str, where: str) -> list[Any]:
    try:
        return list(simpleion.loads(data, single_value=False))
    except Exception as e:  # amazon.ion raises many types (IonException, ValueError, ...)
        raise MalformedError("not-ion", where, f"not valid Ion ({_short(e)})") from e


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
    if data.startswith(ION_BINARY_MARKER):
        problem = check_framing(data)  # damaged binary can hang amazon.ion's C extension
        if problem is not None:
            raise MalformedError("not-ion", path, f"not valid Ion binary ({problem})")
        return [_from_ion(v, path) for v in _loads_ion(data, path)]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise MalformedError("not-utf8", path, "neither Ion binary nor UTF-8 text") from e
    try:
        document = loads_json(text)
    except _JsonRejectedError as e:
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


def _b64_hash(obj: Any, key: str, where: str) -> bytes:
    text = _string(obj, key, where)
    assert text is not None
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise MalformedError("not-base64", _at(where, key), "not valid base64") from e
    if base64.b64encode(raw).decode("ascii") != text:  # unused bits set: same bytes, other text
        raise MalformedError("not-base64", _at(where, key), "not canonical base64")
    if len(raw) != HASH_LENGTH:
        raise MalformedError(
            "hash-length", _at(where, key), f"a hash must be 32 bytes, got {len(raw)} bytes"
        )
    return raw


def _ion_text(
    obj: Any, key: str, where: str, required: bool = True, canonical: bool = False
) -> Any:
    holder = _field(obj, key, where, required)
    if holder is None:
        return None
    at = _at(_at(where, key), "IonText")
    text = _string(holder, "IonText", _at(where, key))
    assert text is not None
    values = _loads_ion(text, at)
    if len(values) != 1:
        raise MalformedError("not-one-value", at, f"expected one Ion value, got {len(values)}")
    if canonical and canonical_ion(values[0]) != text:
        raise MalformedError("not-canonical", at, "not in the canonical Ion text form")
    return values[0]


def canonical_ion(value: Any) -> str:
    """The one Ion text our bundles use (compact, no version marker)."""
    text: str = simpleion.dumps(value, binary=False, omit_version_marker=True)
    return text


def _address(value: Any, where: str) -> BlockAddress:
    if not isinstance(value, Mapping):
        raise MalformedError("block-address", where, "expected {strandId, sequenceNo}")
    strand = _field(value, "strandId", where)
    sequence = _field(value, "sequenceNo", where)
    if not isinstance(strand, str):
        raise MalformedError("not-a-string", _at(where, "strandId"), "expected a string")
    if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 0:
        raise MalformedError("not-an-int", _at(where, "sequenceNo"), "expected an integer >= 0")
    return BlockAddress(str(strand), int(sequence))


def _proof(value: Any, where: str) -> tuple[bytes, ...]:
    if not isinstance(value, list):
        raise MalformedError("not-a-list", where, "expected an Ion list of hashes")
    if len(value) > MAX_PROOF_LENGTH:
        raise MalformedError(
            "proof-length", where, f"at most {MAX_PROOF_LENGTH} elements, got {len(value)}"
        )
    out = []
    for i, element in enumerate(value):
        if not isinstance(element, bytes):
            raise MalformedError("hash-type", f"{where}[{i}]", "expected a blob")
        if len(element) != HASH_LENGTH:
            raise MalformedError(
                "hash-length", f"{where}[{i}]", f"a hash must be 32 bytes, got {len(element)} bytes"
            )
        out.append(bytes(element))
    return tuple(out)


def _digest(obj: Any, where: str, canonical: bool = False) -> Digest:
    digest = _b64_hash(obj, "Digest", where)
    if canonical:
        _exact_keys(obj, {"Digest", "DigestTipAddress"}, where)
    address = _ion_text(obj, "DigestTipAddress", where, canonical=canonical)
    tip = _address(address, _at(where, "DigestTipAddress.IonText"))
    return Digest(digest, tip)


# -- JSON documents ----------------------------------------------------------------------------
def _from_json(doc: Any, path: str) -> Artefact:
    if not isinstance(doc, Mapping):
        raise MalformedError("unknown-format", path, "expected a JSON object")
    if doc.get("format") in (BUNDLE_FORMAT, CONSISTENCY_FORMAT):
        return _ours(doc, path)
    if "LedgerDigest" in doc or "RevisionHash" in doc:
        return _kvs_receipt(doc, path)
    if "Revision" in doc:
        return _get_revision(doc, path)
    if "Block" in doc:
        block = _ion_text(doc, "Block", path)
        proof = _ion_text(doc, "Proof", path, required=False)
        at = f"{path}: Proof.IonText"
        return BlockInput("get-block", block, None if proof is None else _proof(proof, at))
    if "Digest" in doc:
        return _digest(doc, path)
    if "hash" in doc and ({"data", "dataHash", "metadata"} & set(doc)):
        if "metadata" not in doc:
            raise MalformedError(
                "missing-field", f"{path}: metadata", "a revision needs its metadata"
            )
        return RevisionInput("json-revision", _json_revision(doc, path))
    raise MalformedError(
        "unknown-format",
        path,
        "not a QLDB revision, block, receipt or digest (found keys: "
        + ", ".join(sorted(map(str, doc))[:8])
        + ")",
    )


BUNDLE_FORMAT = "qldb-audit-receipt-bundle"
CONSISTENCY_FORMAT = "qldb-audit-consistency-proof"
_BUNDLE_KEYS = {
    "format", "version", "ledgerName", "tableName", "key", "documentId", "blockAddress",
    "revision", "proof", "digest", "checkpoint", "LedgerMetadata",
}  # fmt: skip
_CONSISTENCY_KEYS = {"format", "version", "ledgerName", "strandId", "old", "new", "proof"}
_KVS_KEYS = {
    "LedgerName", "TableName", "BlockAddress", "DocumentId", "RevisionHash", "Proof",
    "LedgerDigest",
}  # fmt: skip


def _exact_keys(obj: Any, keys: set[str], where: str) -> None:
    if not isinstance(obj, Mapping):
        raise MalformedError("not-a-struct", where, "expected an object")
    extra, missing = set(obj) - keys, keys - set(obj)
    if extra:
        raise MalformedError("unknown-field", _at(where, sorted(extra)[0]), "unknown field")
    if missing:
        raise MalformedError("missing-field", _at(where, sorted(missing)[0]), "missing field")


def _ours(doc: Mapping[str, Any], path: str) -> Bundle | ConsistencyFile:
    where = path + ":"
    if doc.get("version") != 1 or isinstance(doc.get("version"), bool):
        raise MalformedError("version", _at(where, "version"), "only version 1 is supported")
    if doc["format"] == CONSISTENCY_FORMAT:
        _exact_keys(doc, _CONSISTENCY_KEYS, path)
        proof = _ion_text(doc, "proof", where, canonical=True)
        return ConsistencyFile(
            ledger_name=_string(doc, "ledgerName", where) or "",
            strand_id=_string(doc, "strandId", where) or "",
            old=_string(doc, "old", where) or "",
            new=_string(doc, "new", where) or "",
            proof=_proof(proof, f"{path}: proof.IonText"),
        )
    _exact_keys(doc, _BUNDLE_KEYS, path)
    kvs = _field(doc, "LedgerMetadata", where)
    _exact_keys(kvs, _KVS_KEYS, f"{path}: LedgerMetadata")
    receipt = _kvs_receipt(kvs, f"{path}: LedgerMetadata", canonical=True)
    revision = _ion_text(doc, "revision", where, canonical=True)
    _check_revision_shape(revision, f"{path}: revision.IonText")
    block = _ion_text(doc, "blockAddress", where, canonical=True)
    return Bundle(
        ledger_name=_string(doc, "ledgerName", where) or "",
        table_name=_string(doc, "tableName", where) or "",
        key=_string(doc, "key", where) or "",
        document_id=_string(doc, "documentId", where) or "",
        block_address=_address(block, f"{path}: blockAddress.IonText"),
        revision=revision,
        proof=_proof(_ion_text(doc, "proof", where, canonical=True), f"{path}: proof.IonText"),
        digest=_digest(_field(doc, "digest", where), f"{path}: digest", canonical=True),
        checkpoint=_string(doc, "checkpoint", where) or "",
        ledger_metadata=receipt,
        ledger_metadata_names=(
            _string(kvs, "LedgerName", f"{path}: LedgerMetadata") or "",
            _string(kvs, "TableName", f"{path}: LedgerMetadata") or "",
        ),
    )


def _kvs_receipt(doc: Any, path: str, canonical: bool = False) -> Receipt:
    where = path + ":" if not path.endswith("LedgerMetadata") else path
    block = _ion_text(doc, "BlockAddress", where, canonical=canonical)
    address = _address(block, _at(where, "BlockAddress.IonText"))
    proof = _ion_text(doc, "Proof", where, canonical=canonical)
    return Receipt(
        kind="kvs-ledger-metadata",
        block_address=address,
        revision_hash=_b64_hash(doc, "RevisionHash", where),
        proof=_proof(proof, _at(where, "Proof.IonText")),
        digest=_digest(
            _field(doc, "LedgerDigest", where), _at(where, "LedgerDigest"), canonical=canonical
        ),
        document_id=_string(doc, "DocumentId", where, required=False),
    )


def _get_revision(doc: Any, path: str) -> RevisionInput:
    revision = _ion_text(doc, "Revision", path + ":")
    proof = _ion_text(doc, "Proof", path + ":", required=False)
    _check_revision_shape(revision, f"{path}: Revision.IonText")
    return RevisionInput(
        "get-revision",
        revision,
        None if proof is None else _proof(proof, f"{path}: Proof.IonText"),
    )


def _json_revision(doc: Mapping[str, Any], path: str) -> dict[str, Any]:
    where = path + ":"
    revision: dict[str, Any] = {}
    for key, value in doc.items():
        if key in ("hash", "dataHash"):
            revision[key] = _b64_hash(doc, key, where)
        elif key == "blockAddress":
            address = _address(value, _at(where, "blockAddress"))
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
        try:
            parsed = simpleion.loads(text)
        except Exception as e:
            raise MalformedError(
                "not-a-timestamp", _at(where, "txTime"), f"not a timestamp: {text!r}"
            ) from e
        if type(parsed).__name__ != "IonPyTimestamp":
            raise MalformedError(
                "not-a-timestamp", _at(where, "txTime"), f"not a timestamp: {text!r}"
            )
        out["txTime"] = parsed
    if "version" in out and (
        isinstance(out["version"], bool) or not isinstance(out["version"], int)
    ):
        raise MalformedError("not-an-int", _at(where, "version"), "expected an integer")
    return out


# -- Ion documents -----------------------------------------------------------------------------
def _check_revision_shape(revision: Any, where: str) -> None:
    if not isinstance(revision, Mapping):
        raise MalformedError("not-a-struct", where, "expected a revision struct")
    for key in ("hash", "metadata"):
        if key not in revision:
            raise MalformedError("missing-field", _at(where, key), "missing field")


def _from_ion(value: Any, path: str) -> Artefact:
    where = f"{path}:"
    if not isinstance(value, Mapping):
        raise MalformedError("unknown-format", path, "expected an Ion struct")
    if "payload" in value and ("recordType" in value or "qldbStreamArn" in value):
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
        revision = value["revision"]
        _check_revision_shape(revision, _at(where, "revision"))
        return RevisionInput("stream-revision-details", revision)
    if "entriesHashList" in value:
        kind = "stream-block-summary" if "revisionSummaries" in value else "journal-block"
        return BlockInput(kind, value)
    if "metadata" in value and "hash" in value:
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
