"""The JSON rules of an export: a JSON Lines block given its Ion types back, and its revisions.

:class:`JsonRules` parses one line (the JSON → Ion rule of :func:`auditor.formats.loads_json`;
strict, for the writer's exports, also on the exact decimal and timestamp texts) and turns the
known fields back into Ion types (hashes → blobs; ``blockTimestamp``,
``statements[].startTime``, ``metadata.txTime`` → timestamps). :func:`json_revisions` recomputes
each revision on its own: what JSON cannot carry makes a revision *not proven*
(:data:`JSON_TYPE_LOSS`), never failed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from auditor import ion
from auditor.audit.model import Counts
from auditor.audit.stream import DamageError
from auditor.formats import (
    b64decode,
    json_decimal,
    json_int,
    reject_duplicate_keys,
    reject_json_constant,
)
from auditor.jsonout import decimal_text as _decimal_text
from auditor.jsonout import timestamp_text as _timestamp_text
from proofs import MalformedError, ProofError
from proofs.ionvalue import Timestamp
from proofs.qldb import verify_revision

JSON_TYPE_LOSS = (
    "a JSON export loses Ion types (symbols, timestamps, blobs, floats, typed nulls inside data):"
    " a revision whose hash does not recompute from JSON is not proven either way"
)
_TIMESTAMP_LIMITS = ion.Limits(max_bytes=256, max_depth=1, max_values=1)


class JsonRules:
    """JSON → Ion for one export block, strict (writer) or lenient (QLDB)."""

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.timestamps: dict[str, Any] = {}

    def parse_float(self, text: str) -> Decimal:
        value = json_decimal(text)  # the one JSON -> Ion rule (auditor/formats.py)
        if self.strict and _decimal_text(value) != text:
            raise ValueError(f"{text} is not the writer's decimal text")
        return value

    def loads(self, line: bytes) -> Any:
        return json.loads(
            line,
            parse_float=self.parse_float,
            parse_int=json_int,
            object_pairs_hook=reject_duplicate_keys,
            parse_constant=reject_json_constant,
        )

    def blob(self, value: Any, where: str, empty_ok: bool = False) -> bytes:
        if not isinstance(value, str):
            raise MalformedError("hash-type", where, "expected a base64 string")
        if empty_ok and value == "":
            return b""
        return b64decode(value, where)

    def timestamp(self, value: Any, where: str) -> Any:
        if not isinstance(value, str):
            raise MalformedError("not-a-timestamp", where, "expected a timestamp string")
        cached = self.timestamps.get(value)
        if cached is not None:
            return cached
        try:
            values = ion.loads(value, where, limits=_TIMESTAMP_LIMITS)
        except ion.IonError as e:
            problem = f"not a timestamp: {value[:60]!r}"
            raise MalformedError("not-a-timestamp", where, problem) from e
        parsed = values[0] if len(values) == 1 else None
        if type(parsed) is not Timestamp:
            raise MalformedError("not-a-timestamp", where, f"not a timestamp: {value[:60]!r}")
        if self.strict and _timestamp_text(parsed) != value:
            raise MalformedError("not-a-timestamp", where, "not the writer's timestamp text")
        if len(self.timestamps) < 4096:
            self.timestamps[value] = parsed
        return parsed

    def block(self, obj: Any, where: str) -> dict[str, Any]:
        """Give a JSON block's known fields their Ion types back."""
        if not isinstance(obj, dict):
            raise DamageError("not-a-block", "a JSON value that is not an object")
        out = dict(obj)
        for key in ("blockHash", "entriesHash"):
            if key in out:
                out[key] = self.blob(out[key], f"{where}.{key}")
        if "previousBlockHash" in out:
            out["previousBlockHash"] = self.blob(
                out["previousBlockHash"], f"{where}.previousBlockHash", empty_ok=True
            )
        if "entriesHashList" in out:
            entries = out["entriesHashList"]
            if not isinstance(entries, list):
                raise MalformedError("not-a-list", f"{where}.entriesHashList", "expected a list")
            out["entriesHashList"] = [
                self.blob(h, f"{where}.entriesHashList[{i}]") for i, h in enumerate(entries)
            ]
        if "blockTimestamp" in out:
            out["blockTimestamp"] = self.timestamp(out["blockTimestamp"], f"{where}.blockTimestamp")
        info = out.get("transactionInfo")
        if isinstance(info, dict) and isinstance(info.get("statements"), list):
            info = dict(info)
            statements = []
            for i, statement in enumerate(info["statements"]):
                at = f"{where}.transactionInfo.statements[{i}]"
                if isinstance(statement, dict):
                    statement = dict(statement)
                    if "startTime" in statement:
                        statement["startTime"] = self.timestamp(
                            statement["startTime"], f"{at}.startTime"
                        )
                    if "statementDigest" in statement:
                        statement["statementDigest"] = self.blob(
                            statement["statementDigest"], f"{at}.statementDigest"
                        )
                statements.append(statement)
            info["statements"] = statements
            out["transactionInfo"] = info
        revisions = out.get("revisions")
        if isinstance(revisions, list):
            out["revisions"] = [
                self.revision(r, f"{where}.revisions[{i}]") for i, r in enumerate(revisions)
            ]
        return out

    def revision(self, obj: Any, where: str) -> Any:
        if not isinstance(obj, dict):
            return obj
        out = dict(obj)
        for key in ("hash", "dataHash"):
            if key in out:
                out[key] = self.blob(out[key], f"{where}.{key}")
        metadata = out.get("metadata")
        if isinstance(metadata, dict) and "txTime" in metadata:
            metadata = dict(metadata)
            metadata["txTime"] = self.timestamp(metadata["txTime"], f"{where}.metadata.txTime")
            out["metadata"] = metadata
        return out


def json_revisions(block: Any, where: str, counts: Counts, writer: bool) -> None:
    """JSON exports: recompute each revision on its own; a mismatch is *not proven* (JSON could
    not carry the Ion types back), never a failure: JSON cannot show that data was changed."""
    for i, revision in enumerate(block.get("revisions") or ()):
        if not isinstance(revision, Mapping) or "metadata" not in revision:
            continue
        deleted = "data" not in revision and "dataHash" not in revision
        if deleted and not writer:
            continue  # counted as deleted by verify_block
        try:
            verify_revision(revision, f"{where}.revisions[{i}]", hash_deleted=deleted)
        except ProofError:
            if not deleted:
                counts.unproven += 1
            continue
        if deleted:
            counts.deleted_recomputed += 1
            continue
        if "dataHash" in revision:
            counts.hash_only += 1
        else:
            counts.verified += 1
