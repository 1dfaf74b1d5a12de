"""The OpenAPI 3.1 document of the server (``GET /openapi.json``), generated from the route
table (:data:`auditor.server.app.ROUTES`): each :class:`~auditor.server.routes.RouteSpec` carries
its parameters, body, answers and error codes next to its handler; this module adds the shared
component schemas and the error answers every route has, and assembles the document.

No framework model library is used: request bodies are read by the JSON → Ion rule (exact
decimals) and answers are written by auditor.jsonout, so the schemas here are the wire format
(pydantic-based generators such as spectree would describe Python types instead, and
Starlette's own SchemaGenerator reads YAML out of docstrings, a second table by another name).
schemathesis and the Hypothesis fuzz check the live server against this document.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from auditor import __version__
from auditor.server.config import ServerConfig
from auditor.server.routes import RouteSpec

_S = "#/components/schemas/"
_STRING = {"type": "string"}
_INT = {"type": "integer"}
_ION_TEXT = {"type": "object", "required": ["IonText"], "properties": {"IonText": _STRING}}
_ADDRESS = {
    "type": "object",
    "required": ["strandId", "sequenceNo"],
    "properties": {"strandId": _STRING, "sequenceNo": _INT},
}
_DIGEST = {
    "type": "object",
    "required": ["Digest", "DigestTipAddress"],
    "properties": {"Digest": _STRING, "DigestTipAddress": _ION_TEXT},
}
_NULLABLE_STRING = {"type": ["string", "null"]}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["message", "reason"],
        "properties": {"message": _STRING, "reason": _STRING},
    },
    "LedgerMetadata": {
        "type": "object",
        "required": [
            "LedgerName",
            "TableName",
            "BlockAddress",
            "DocumentId",
            "RevisionHash",
            "Proof",
            "LedgerDigest",
        ],
        "properties": {
            "LedgerName": _STRING,
            "TableName": _STRING,
            "BlockAddress": _ION_TEXT,
            "DocumentId": _STRING,
            "RevisionHash": _STRING,
            "Proof": _ION_TEXT,
            "LedgerDigest": _DIGEST,
        },
    },
    "Revision": {
        "type": "object",
        "description": "A committed revision as QLDB shows it (blobs in base64)",
        "required": ["blockAddress", "hash", "metadata"],
        "properties": {
            "blockAddress": _ADDRESS,
            "hash": _STRING,
            "data": {},
            "dataHash": _STRING,
            "metadata": {
                "type": "object",
                "required": ["id", "version", "txTime", "txId"],
                "properties": {"id": _STRING, "version": _INT, "txTime": _STRING, "txId": _STRING},
            },
        },
    },
    "Document": {
        "type": "object",
        "required": [
            "table",
            "key",
            "documentId",
            "version",
            "txId",
            "txTime",
            "blockAddress",
            "hash",
            "value",
        ],
        "properties": {
            "table": _STRING,
            "key": _STRING,
            "documentId": _STRING,
            "version": _INT,
            "txId": _STRING,
            "txTime": _STRING,
            "blockAddress": _ADDRESS,
            "hash": _STRING,
            "value": {"type": ["object", "string"]},
        },
    },
    "Written": {
        "type": "object",
        "required": ["documentId", "txId", "key", "version", "blockAddress"],
        "properties": {
            "documentId": _STRING,
            "txId": _STRING,
            "key": _STRING,
            "version": _INT,
            "blockAddress": _ADDRESS,
        },
    },
    "TxRef": {
        "type": "object",
        "required": ["documentId", "txId"],
        "properties": {"documentId": _STRING, "txId": _STRING},
    },
    "Bundle": {
        "type": "object",
        "required": [
            "format",
            "version",
            "ledgerName",
            "tableName",
            "key",
            "documentId",
            "blockAddress",
            "revision",
            "proof",
            "digest",
            "checkpoint",
            "LedgerMetadata",
        ],
        "properties": {
            "format": {"const": "qldb-audit-receipt-bundle"},
            "version": {"const": 1},
            "ledgerName": _STRING,
            "tableName": _STRING,
            "key": _STRING,
            "documentId": _STRING,
            "blockAddress": _ION_TEXT,
            "revision": _ION_TEXT,
            "proof": _ION_TEXT,
            "digest": _DIGEST,
            "checkpoint": _STRING,
            "LedgerMetadata": {"$ref": _S + "LedgerMetadata"},
        },
    },
    "SignedDigest": {
        "type": "object",
        "required": ["Digest", "DigestTipAddress", "checkpoint"],
        "properties": {"Digest": _STRING, "DigestTipAddress": _ION_TEXT, "checkpoint": _STRING},
    },
    "ConsistencyFile": {
        "type": "object",
        "required": ["format", "version", "ledgerName", "strandId", "old", "new", "proof"],
        "properties": {
            "format": {"const": "qldb-audit-consistency-proof"},
            "version": {"const": 1},
            "ledgerName": _STRING,
            "strandId": _STRING,
            "old": _STRING,
            "new": _STRING,
            "proof": _ION_TEXT,
        },
    },
    "Report": {
        "type": "object",
        "description": "The versioned verification report (the CLI's --json report)",
        "required": ["format", "version", "command", "items", "summary"],
        "properties": {
            "format": {"const": "qldb-audit-report"},
            "version": {"const": 2},
            "command": _STRING,
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": [
                        "file",
                        "kind",
                        "status",
                        "exit_code",
                        "claims",
                        "facts",
                        "document",
                        "anchors",
                        "notes",
                        "error",
                    ],
                    "properties": {
                        "status": {"enum": ["verified", "refuted", "malformed", "not-proven"]},
                        "exit_code": _INT,
                        "claims": {"type": "array"},
                        "facts": {"type": "object"},
                        "document": {"type": "object"},
                        "anchors": {"type": "array", "items": _STRING},
                        "notes": {"type": "array", "items": _STRING},
                        "error": {"type": ["object", "null"]},
                    },
                },
            },
            "summary": {"type": "object"},
        },
    },
    "Export": {
        "type": "object",
        "required": ["exportId", "files", "links"],
        "properties": {
            "exportId": _STRING,
            "files": {"type": "array", "items": _STRING},
            "links": {"type": "array", "items": _STRING},
            "format": _STRING,
            "firstSequenceNo": _INT,
            "lastSequenceNo": _INT,
            "blocks": _INT,
        },
    },
    "Delivery": {
        "type": "object",
        "required": ["id", "eventId", "party", "url", "state", "attempts"],
        "properties": {
            "id": _INT,
            "eventId": _STRING,
            "party": _STRING,
            "url": _STRING,
            "state": {"enum": ["pending", "delivered", "failed"]},
            "attempts": _INT,
            "nextAttemptAt": _NULLABLE_STRING,
            "lastStatus": {"type": ["integer", "null"]},
            "lastError": _NULLABLE_STRING,
            "deliveredAt": _NULLABLE_STRING,
            "createdAt": _NULLABLE_STRING,
        },
    },
}

_DESCRIPTIONS = {
    400: "Bad request (malformed JSON, missing parameter, bad value)",
    401: "No API key, or not a valid one",
    403: "The caller's role does not allow this",
    404: "No such table, document or revision, or not one the caller may see",
    408: "The request body did not arrive in time",
    409: "Version conflict (expectedVersion, or concurrent writers)",
    412: "If-Match / If-None-Match precondition failed",
    413: "Request body, batch or answer over the configured cap",
    422: "The document breaks the table's JSON Schema or state machine (the field is named)",
    429: "Rate limit: retry after the Retry-After seconds",
}
_COMMON = (400, 429)  # any route: a bad query string; the rate limit
_PROTECTED = (401, 403)
_WITH_BODY = (408, 413)


def _errors(codes: set[int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for code in sorted(codes):
        response: dict[str, Any] = {
            "description": _DESCRIPTIONS[code],
            "content": {"application/json": {"schema": {"$ref": _S + "Error"}}},
        }
        if code == 429:
            response["headers"] = {"Retry-After": {"schema": _INT, "required": True}}
        out[str(code)] = response
    return out


def document(config: ServerConfig, routes: Sequence[RouteSpec]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes`` (the server's route table) with ``config``."""
    paths: dict[str, Any] = {}
    for spec in routes:
        codes = {*spec.errors, *_COMMON}
        if spec.roles:
            codes |= set(_PROTECTED)
        if spec.body is not None:
            codes |= set(_WITH_BODY)
        path = spec.path.replace("{name:path}", "{name}")
        operation: dict[str, Any] = {
            "operationId": spec.name,
            "summary": spec.summary,
            "description": f"Roles: {', '.join(sorted(spec.roles)) or 'public (no key)'}",
            "tags": ["v1" if path.startswith("/v1") or path == "/openapi.json" else "sample"],
            "responses": {**spec.responses, **_errors(codes)},
        }
        if spec.parameters:
            operation["parameters"] = list(spec.parameters)
        if spec.body is not None:
            operation["requestBody"] = spec.body(config) if callable(spec.body) else spec.body
        if not spec.roles:
            operation["security"] = []
        paths.setdefault(path, {})[spec.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "qldb-audit REST API",
            "version": __version__,
            "description": "A verifiable ledger over HTTP: the AWS QLDB REST sample's routes, "
            "and /v1 resources (documents, receipts, digests, proofs, exports, notifications). "
            "See docs/rest-api.md.",
        },
        "paths": paths,
        "components": {
            "schemas": _schemas(config),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
        "security": [{"bearer": []}, {"apiKey": []}],
    }


def _schemas(config: ServerConfig) -> dict[str, Any]:
    out = dict(SCHEMAS)
    out["Error"] = {
        "type": "object",
        "required": ["message", "reason"],
        "properties": {"message": {"type": "string", "maxLength": 300}, "reason": _STRING},
    }
    return out
