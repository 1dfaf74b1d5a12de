"""The OpenAPI 3.1 document of the server (``GET /openapi.json``), built from the route table.

Written by hand rather than derived from a framework's models, because request bodies are
parsed by the JSON → Ion rule (exact decimals) and responses are written by auditor.jsonout:
what is described here is what goes over the wire. A test checks that every route of
:data:`auditor.server.app.ROUTES` is described and that no described one is missing, and
schemathesis checks the live server against this document.
"""

from __future__ import annotations

from typing import Any

from auditor import __version__
from auditor.server.config import ServerConfig
from auditor.server.schemas import (
    RETRIEVE_REVISION_SCHEMA,
    VERIFY_RECEIPT_SCHEMA,
    VERIFY_REVISION_SCHEMA,
)

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
    "Verdict": {
        "type": "object",
        "required": ["result"],
        "properties": {"result": {"enum": ["valid", "invalid"]}},
    },
}

_DESCRIPTIONS = {
    400: "Bad request (malformed JSON, missing parameter, bad value)",
    401: "No API key, or not a valid one",
    403: "The caller's role does not allow this",
    404: "No such table, document, revision or tip",
    409: "Version conflict (expectedVersion, or concurrent writers)",
    412: "If-Match / If-None-Match precondition failed",
    413: "Request body or batch over the configured cap",
    422: "The document breaks the table's JSON Schema (the field is named)",
    429: "Rate limit: retry after the Retry-After seconds",
}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": _S + name}


def _errors(*codes: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for code in codes:
        response = _json(_ref("Error"), _DESCRIPTIONS[code])
        if code == 429:
            response["headers"] = {"Retry-After": {"schema": _INT, "required": True}}
        out[str(code)] = response
    return out


def _query(
    name: str, required: bool = False, schema: dict[str, Any] | None = None, description: str = ""
) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "schema": schema or _STRING,
        "description": description,
    }


def _path(name: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema or _STRING}


_TABLE = {
    **_path("table", {"type": "string", "pattern": "^[A-Za-z0-9_]{1,128}$"}),
    "example": "invoices",
}
_KEY = {**_path("key", {"type": "string", "minLength": 1, "maxLength": 1024}), "example": "INV01"}
_DOC = [_TABLE, _KEY]
_ETAG = {"ETag": {"schema": _STRING, "description": '"<documentId>.<version>"'}}
_IF_MATCH = {"name": "If-Match", "in": "header", "required": False, "schema": _STRING}
_NON_NEGATIVE = {"type": "integer", "minimum": 0}
_ARTEFACT = {
    "description": "The artefact: JSON, Ion text or Ion binary (as the CLI reads it)",
    "required": True,
    "content": {"application/json": {"schema": {}}, "application/octet-stream": {"schema": {}}},
}


def _document_links() -> dict[str, Any]:
    """From a written document to what can be asked about it (schemathesis follows these)."""
    same = {"table": "$request.path.table", "key": "$request.path.key"}
    links: dict[str, Any] = {
        name: {"operationId": name, "parameters": same}
        for name in (
            "get_document",
            "patch_document",
            "delete_document",
            "document_history",
            "document_receipt",
        )
    }
    links["document_revision"] = {
        "operationId": "document_revision",
        "parameters": {**same, "version": "$response.body#/version"},
    }
    links["revision_receipt"] = {
        "operationId": "revision_receipt",
        "parameters": {"documentId": "$response.body#/documentId", "txId": "$response.body#/txId"},
    }
    return links


def _operations(config: ServerConfig) -> dict[str, dict[str, Any]]:
    """Per handler: parameters, request body and responses (errors added by the caller)."""
    sample = config.policy(config.sample_table)
    value_schema = dict(sample.schema) if sample.schema else {"type": ["object", "string"]}
    value_schema.pop("$schema", None)
    set_value = {
        "type": "array",
        "minItems": 1,
        "maxItems": config.max_batch,
        "items": {
            "type": "object",
            "additionalProperties": False,
            "required": ["key", "value"],
            "properties": {"key": {"type": "string", "minLength": 1}, "value": value_schema},
        },
    }
    any_value = {"type": ["object", "string"]}
    write_body = {"required": True, "content": {"application/json": {"schema": any_value}}}
    report = _json(_ref("Report"), "The verification report (status per item)")
    text = {"description": "OK", "content": {"text/plain": {"schema": _STRING}}}
    return {
        "sample_put": {
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": set_value}},
            },
            "responses": {
                "200": _json({"oneOf": [_ref("TxRef"), {"type": "array", "items": _ref("TxRef")}]})
            },
            "errors": (400, 409, 413),
        },
        "sample_get": {
            "parameters": [_query("keys", True, description="k1,k2,...")],
            "responses": {"200": _json({"type": ["object", "string", "array"]})},
            "errors": (400,),
        },
        "sample_receipt_by_key": {
            "parameters": [_query("key", True)],
            "responses": {"200": _json(_ref("LedgerMetadata"))},
            "errors": (400,),
        },
        "sample_receipt_by_doc": {
            "parameters": [_query("documentId", True), _query("txId", True)],
            "responses": {"200": _json(_ref("LedgerMetadata"))},
            "errors": (400,),
        },
        "sample_verify_receipt": {
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": VERIFY_RECEIPT_SCHEMA}},
            },
            "responses": {"200": _json(_ref("Verdict"))},
            "errors": (400, 413),
        },
        "sample_retrieve_revision": {
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": RETRIEVE_REVISION_SCHEMA}},
            },
            "responses": {"200": _json(_ref("Revision"))},
            "errors": (400, 413),
        },
        "sample_verify_revision": {
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": VERIFY_REVISION_SCHEMA}},
            },
            "responses": {"200": _json(_ref("Verdict"))},
            "errors": (400, 413),
        },
        "sample_history": {
            "parameters": [
                _query("key", True),
                _query("from", description="ISO-8601, default 2020-01-01T00:00:00Z"),
                _query("to", description="ISO-8601"),
            ],
            "responses": {"200": _json({"type": "array", "items": _ref("Revision")})},
            "errors": (400,),
        },
        "health": {
            "responses": {"200": _json({"type": "object", "required": ["status", "ledger", "tip"]})}
        },
        "openapi": {"responses": {"200": _json({"type": "object"})}},
        "whoami": {"responses": {"200": _json({"type": "object", "required": ["party", "role"]})}},
        "list_tables": {"responses": {"200": _json({"type": "object", "required": ["tables"]})}},
        "table_schema": {
            "parameters": [_TABLE],
            "responses": {"200": _json({"type": "object"})},
            "errors": (404,),
        },
        "batch_put": {
            "parameters": [_TABLE],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "array",
                            "minItems": 1,
                            "items": {
                                "type": "object",
                                "required": ["key", "value"],
                                "properties": {
                                    "key": {"type": "string", "minLength": 1},
                                    "value": any_value,
                                    "expectedVersion": _NON_NEGATIVE,
                                },
                            },
                        }
                    }
                },
            },
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["documents"],
                        "properties": {"documents": {"type": "array", "items": _ref("Written")}},
                    }
                )
            },
            "errors": (400, 404, 409, 413, 422),
        },
        "get_document": {
            "parameters": _DOC,
            "responses": {"200": {**_json(_ref("Document")), "headers": _ETAG}},
            "errors": (400, 404),
        },
        "put_document": {
            "parameters": [
                *_DOC,
                _IF_MATCH,
                {
                    "name": "If-None-Match",
                    "in": "header",
                    "required": False,
                    "schema": {"const": "*"},
                },
            ],
            "requestBody": write_body,
            "responses": {
                "200": {
                    **_json(_ref("Document"), "Replaced"),
                    "headers": _ETAG,
                    "links": _document_links(),
                },
                "201": {
                    **_json(_ref("Document"), "Created"),
                    "headers": _ETAG,
                    "links": _document_links(),
                },
            },
            "errors": (400, 404, 409, 412, 413, 422),
        },
        "patch_document": {
            "parameters": [*_DOC, _IF_MATCH],
            "requestBody": {
                "required": True,
                "content": {
                    "application/merge-patch+json": {"schema": {"type": "object"}},
                    "application/json": {"schema": {"type": "object"}},
                },
            },
            "responses": {"200": {**_json(_ref("Document")), "headers": _ETAG}},
            "errors": (400, 404, 409, 412, 413, 422),
        },
        "delete_document": {
            "parameters": [*_DOC, _IF_MATCH],
            "responses": {"200": _json(_ref("Written"))},
            "errors": (400, 404, 409, 412),
        },
        "document_history": {
            "parameters": [*_DOC, _query("from"), _query("to")],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["revisions"],
                        "properties": {"revisions": {"type": "array", "items": _ref("Revision")}},
                    }
                )
            },
            "errors": (400, 404),
        },
        "document_revision": {
            "parameters": [*_DOC, _path("version", {"type": "string", "pattern": "^[0-9]{1,18}$"})],
            "responses": {"200": _json(_ref("Revision"))},
            "errors": (400, 404),
        },
        "document_receipt": {
            "parameters": [*_DOC, _query("version", schema=_NON_NEGATIVE)],
            "responses": {"200": _json(_ref("Bundle"))},
            "errors": (400, 404),
        },
        "revision_receipt": {
            "parameters": [_path("documentId"), _path("txId")],
            "responses": {"200": _json(_ref("Bundle"))},
            "errors": (404,),
        },
        "digest": {
            "parameters": [_query("tip", schema=_NON_NEGATIVE)],
            "responses": {"200": _json(_ref("SignedDigest"))},
            "errors": (400, 404),
        },
        "checkpoint": {"responses": {"200": text}},
        "vkey": {"responses": {"200": text}},
        "consistency": {
            "parameters": [_query("from", True, _NON_NEGATIVE), _query("to", schema=_NON_NEGATIVE)],
            "responses": {"200": _json(_ref("ConsistencyFile"))},
            "errors": (400, 404),
        },
        "verify_receipt": {
            "requestBody": _ARTEFACT,
            "responses": {"200": report},
            "errors": (413,),
        },
        "verify_bundle": {"requestBody": _ARTEFACT, "responses": {"200": report}, "errors": (413,)},
        "verify_revision": {
            "requestBody": _ARTEFACT,
            "responses": {"200": report},
            "errors": (413,),
        },
        "verify_consistency": {
            "requestBody": _ARTEFACT,
            "responses": {"200": report},
            "errors": (413,),
        },
        "create_export": {
            "requestBody": {
                "required": False,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "format": {"enum": ["ion_text", "ion_binary", "json"]},
                                "since": _STRING,
                                "until": _STRING,
                                "maxBlocksPerObject": {"type": "integer", "minimum": 1},
                            },
                        }
                    }
                },
            },
            "responses": {"201": _json(_ref("Export"), "Exported")},
            "errors": (400, 413),
        },
        "list_exports": {"responses": {"200": _json({"type": "object", "required": ["exports"]})}},
        "get_export": {
            "parameters": [_path("exportId")],
            "responses": {"200": _json(_ref("Export"))},
            "errors": (404,),
        },
        "export_file": {
            "parameters": [_path("exportId"), _path("name")],
            "responses": {
                "200": {
                    "description": "The file",
                    "content": {
                        "application/json": {"schema": {}},
                        "application/octet-stream": {"schema": {}},
                    },
                }
            },
            "errors": (404,),
        },
        "events": {
            "parameters": [
                _query("since", schema=_NON_NEGATIVE),
                _query("limit", schema=_NON_NEGATIVE),
                _query("timeout", schema=_NON_NEGATIVE, description="seconds; 0: no limit"),
                {"name": "Last-Event-ID", "in": "header", "required": False, "schema": _STRING},
            ],
            "responses": {
                "200": {
                    "description": "An event stream (text/event-stream)",
                    "content": {"text/event-stream": {"schema": _STRING}},
                }
            },
            "errors": (400,),
        },
        "deliveries": {
            "parameters": [
                _query("state", schema={"enum": ["pending", "delivered", "failed"]}),
                _query("limit", schema=_NON_NEGATIVE),
            ],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["deliveries"],
                        "properties": {"deliveries": {"type": "array", "items": _ref("Delivery")}},
                    }
                )
            },
            "errors": (400,),
        },
        "delivery_attempts": {
            "parameters": [_path("id", {"type": "string", "pattern": "^[0-9]{1,18}$"})],
            "responses": {
                "200": _json({"type": "object", "required": ["id", "party", "attempts"]})
            },
            "errors": (400, 404),
        },
    }


def document(config: ServerConfig) -> dict[str, Any]:
    """The OpenAPI 3.1 document for a server with ``config``."""
    from auditor.server.app import ROUTES

    operations = _operations(config)
    paths: dict[str, Any] = {}
    for spec in ROUTES:
        detail = dict(operations[spec.handler])
        errors = tuple(detail.pop("errors", ()))
        if spec.roles:
            errors = (*errors, 401, 403, 429)
        responses = {**detail.pop("responses"), **_errors(*sorted(set(errors)))}
        path = spec.path.replace("{name:path}", "{name}")
        operation: dict[str, Any] = {
            "operationId": spec.handler,
            "summary": spec.summary,
            "description": f"Roles: {', '.join(sorted(spec.roles)) or 'public (no key)'}",
            "tags": ["sample" if not path.startswith("/v1") and path != "/openapi.json" else "v1"],
            **detail,
            "responses": responses,
        }
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
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
        "security": [{"bearer": []}, {"apiKey": []}],
    }
