"""/v1 documents: the tables, a table's schema, and per document GET / PUT / PATCH / DELETE
with ETags, history (paged) and single revisions; the batch write route."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from auditor import jsonout
from auditor.ledger import value_of
from auditor.server import web
from auditor.server.config import Party
from auditor.server.routes import (
    ALL,
    KEY,
    MANUFACTURER,
    NON_NEGATIVE,
    PAGE,
    STRING,
    TABLE,
    WRITERS,
    RouteSpec,
    in_header,
    in_path,
    in_query,
    json_body,
    ok,
    ref,
)
from auditor.server.service import (
    WriteItem,
    WriteJob,
    document_json,
    etag,
    summary_json,
)
from auditor.server.web import ApiError, json_response

if TYPE_CHECKING:
    from auditor.ledger import Revision
    from auditor.server.app import Server


def _doc(request: Request) -> tuple[str, str]:
    table = web.path_param(request, "table")
    return table, web.check_key(web.path_param(request, "key"))


async def list_tables(server: Server, request: Request, party: Party | None) -> Response:
    return json_response({"tables": await server.read(party, server.service.tables)})


async def table_schema(server: Server, request: Request, party: Party | None) -> Response:
    table = web.path_param(request, "table")
    policy = await server.read(party, server.service.policy, table)
    if policy.schema is None:
        raise ApiError(404, "no-schema", f"table {table}: has no JSON Schema")
    schema = dict(policy.schema)
    if policy.states is not None:
        schema["x-state-machine"] = {
            "field": policy.states.field,
            "transitions": policy.states.describe(),
        }
    return json_response(schema)


async def get_document(server: Server, request: Request, party: Party | None) -> Response:
    assert party is not None
    table, key = _doc(request)

    def render() -> Response:
        revision = server.service.document(party, table, key)
        return json_response(document_json(revision), headers={"ETag": etag(revision)})

    return await server.read(party, render)


async def _value(server: Server, request: Request, table: str) -> Any:
    value = web.parse_json(await server.body(request))
    await server.read(None, server.service.policy, table)
    server.service.validate(table, value)
    jsonout.to_json(value)  # the answer will hold it: it must render before anything is written
    return value


def written(revision: Revision, created: bool) -> Response:
    headers = {"ETag": etag(revision)}
    if created:
        headers["Location"] = web.document_path(revision.table, revision.key)
    return json_response(document_json(revision), 201 if created else 200, headers)


async def put_document(server: Server, request: Request, party: Party | None) -> Response:
    assert party is not None
    table, key = _doc(request)
    value = await _value(server, request, table)
    item = WriteItem(
        key,
        value,
        if_match=request.headers.get("if-match"),
        if_none_match=request.headers.get("if-none-match", "").strip() == "*",
    )
    done = (await server.submit(WriteJob.of(party, table, [item])))[0]
    return written(done.revision, created=done.created)


async def patch_document(server: Server, request: Request, party: Party | None) -> Response:
    assert party is not None
    table, key = _doc(request)
    patch = web.parse_json(await server.body(request))
    if not isinstance(patch, dict):
        raise ApiError(400, "patch", "a merge patch must be a JSON object")
    if_match = request.headers.get("if-match")
    service = server.service

    def merged() -> list[WriteItem]:  # on the writer thread, under the write lock
        current = service.document(party, table, key)
        value = merge(patch_target(current.data), patch)
        service.validate(table, value)
        jsonout.to_json(value)
        tag = if_match or etag(current)  # the server's own tag: re-merged on a conflict
        return [WriteItem(key, value, if_match=tag, server_tag=if_match is None)]

    job = WriteJob(party, table, frozenset([key]), merged)
    done = (await server.submit(job))[0]
    return written(done.revision, created=False)


async def delete_document(server: Server, request: Request, party: Party | None) -> Response:
    assert party is not None
    table, key = _doc(request)
    item = WriteItem(key, None, if_match=request.headers.get("if-match"))
    done = (await server.submit(WriteJob.of(party, table, [item])))[0]
    return json_response(summary_json(done.revision))


async def batch_put(server: Server, request: Request, party: Party | None) -> Response:
    assert party is not None
    table = web.path_param(request, "table")
    items = web.parse_json(await server.body(request))
    await server.read(None, server.service.policy, table)
    if not isinstance(items, list) or not items:
        raise ApiError(400, "batch", "expected a non-empty JSON array of {key, value}")
    if len(items) > server.config.max_batch:
        raise ApiError(
            413, "batch-too-large", f"at most {server.config.max_batch} documents per request"
        )
    writes = []
    for i, item in enumerate(items):
        if (
            not isinstance(item, dict)
            or set(item) - {"key", "value", "expectedVersion"}
            or not {"key", "value"} <= set(item)
        ):
            raise ApiError(400, "batch", f'[{i}]: expected {{"key", "value"[, "expectedVersion"]}}')
        key = web.check_key(item["key"], f"[{i}].key")
        expected = item.get("expectedVersion")
        if expected is not None and (
            isinstance(expected, bool) or not isinstance(expected, int) or expected < 0
        ):
            raise ApiError(400, "batch", f"[{i}].expectedVersion: expected an integer >= 0")
        server.service.validate(table, item["value"], f"[{i}].value")
        jsonout.to_json(item["value"])
        writes.append(WriteItem(key, item["value"], expected_version=expected))
    done = await server.submit(WriteJob.of(party, table, writes))
    return json_response({"documents": [summary_json(w.revision) for w in done]})


async def document_history(server: Server, request: Request, party: Party | None) -> Response:
    assert party is not None
    table, key = _doc(request)
    params = web.query(request)
    limit = web.integer(params.get("limit"), "limit")

    def render() -> Response:
        page = server.service.history(
            party, table, key, params.get("from"), params.get("to"), limit, params.get("cursor")
        )
        return json_response({"revisions": [r.value for r in page.revisions], "next": page.next})

    return await server.read(party, render)


async def document_revision(server: Server, request: Request, party: Party | None) -> Response:
    assert party is not None
    table, key = _doc(request)
    version = web.integer(web.path_param(request, "version"), "version")
    assert version is not None

    def render() -> Response:
        return json_response(server.service.revision(party, table, key, version).value)

    return await server.read(party, render)


def merge(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch (null removes a field)."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target.items()) if hasattr(target, "items") else {}
    for name, value in patch.items():
        if value is None:
            result.pop(name, None)
        elif isinstance(value, dict):
            result[name] = merge(result.get(name), value)
        else:
            result[name] = value
    return result


def patch_target(data: Any) -> Any:
    """A document's data as a plain dict to patch (``_k`` dropped; values stay Ion)."""
    value = value_of(data)
    if not isinstance(value, dict):
        raise ApiError(400, "patch", "a merge patch applies to an object document")
    return value


_ETAG = {"ETag": {"schema": STRING, "description": '"<documentId>.<version>"'}}
_ANY_VALUE = {"type": ["object", "string"]}
_LINKS = {
    name: {"operationId": name, "parameters": {"table": "$request.path.table",
                                               "key": "$request.path.key"}}
    for name in ("get_document", "document_history", "document_receipt")
}  # fmt: skip
_PAGE_OF_REVISIONS = {
    "type": "object",
    "required": ["revisions", "next"],
    "properties": {
        "revisions": {"type": "array", "items": ref("Revision")},
        "next": {"type": ["string", "null"]},
    },
}
_BATCH = {
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "required": ["key", "value"],
        "properties": {
            "key": {"type": "string", "minLength": 1},
            "value": _ANY_VALUE,
            "expectedVersion": {"type": "integer", "minimum": 0},
        },
    },
}
_WRITTEN_LIST = {
    "type": "object",
    "required": ["documents"],
    "properties": {"documents": {"type": "array", "items": ref("Written")}},
}

ROUTES: tuple[RouteSpec, ...] = (
    RouteSpec(
        "GET", "/v1/tables", ALL, list_tables, "The ledger's tables",
        responses={"200": ok({"type": "object", "required": ["tables"]})},
    ),
    RouteSpec(
        "GET", "/v1/tables/{table}/schema", ALL, table_schema,
        "A table's JSON Schema (and its state machine, x-state-machine)",
        parameters=(TABLE,), responses={"200": ok({"type": "object"})}, errors=(404,),
    ),
    RouteSpec(
        "POST", "/v1/tables/{table}/documents", WRITERS, batch_put,
        "Write documents in one transaction (per-item expectedVersion)",
        parameters=(TABLE,), body=json_body(_BATCH), responses={"200": ok(_WRITTEN_LIST)},
        errors=(404, 409, 412, 422),
    ),
    RouteSpec(
        "GET", "/v1/tables/{table}/documents/{key}", ALL, get_document,
        "The current document (ETag)",
        parameters=(TABLE, KEY), responses={"200": ok(ref("Document"), headers=_ETAG)},
        errors=(404,),
    ),
    RouteSpec(
        "PUT", "/v1/tables/{table}/documents/{key}", WRITERS, put_document,
        "Create or replace a document (If-Match / If-None-Match)",
        parameters=(TABLE, KEY, in_header("If-Match"),
                    in_header("If-None-Match", {"const": "*"})),
        body=json_body(_ANY_VALUE),
        responses={
            "200": ok(ref("Document"), "Replaced", headers=_ETAG, links=_LINKS),
            "201": ok(ref("Document"), "Created", headers=_ETAG, links=_LINKS),
        },
        errors=(404, 409, 412, 422),
    ),
    RouteSpec(
        "PATCH", "/v1/tables/{table}/documents/{key}", WRITERS, patch_document,
        "Merge-patch a document (RFC 7396; If-Match)",
        parameters=(TABLE, KEY, in_header("If-Match")),
        body={"required": True, "content": {
            "application/merge-patch+json": {"schema": {"type": "object"}},
            "application/json": {"schema": {"type": "object"}}}},
        responses={"200": ok(ref("Document"), headers=_ETAG)},
        errors=(404, 409, 412, 422),
    ),
    RouteSpec(
        "DELETE", "/v1/tables/{table}/documents/{key}", MANUFACTURER, delete_document,
        "Delete a document (If-Match)",
        parameters=(TABLE, KEY, in_header("If-Match")),
        responses={"200": ok(ref("Written"))}, errors=(404, 409, 412),
    ),
    RouteSpec(
        "GET", "/v1/tables/{table}/documents/{key}/history", ALL, document_history,
        "The revisions the caller may see, a page at a time",
        parameters=(TABLE, KEY, in_query("from"), in_query("to"), *PAGE),
        responses={"200": ok(_PAGE_OF_REVISIONS)}, errors=(404,),
    ),
    RouteSpec(
        "GET", "/v1/tables/{table}/documents/{key}/revisions/{version}", ALL, document_revision,
        "One revision",
        parameters=(TABLE, KEY, in_path("version", NON_NEGATIVE)),
        responses={"200": ok(ref("Revision"))}, errors=(404,),
    ),
)  # fmt: skip
