"""/v1 receipt bundles: of a document's latest (or ``?version=``) revision, and of a revision by
documentId and txId (``qldb-audit verify bundle`` reads them)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from auditor.server import web
from auditor.server.config import Party
from auditor.server.routes import (
    ALL,
    KEY,
    NON_NEGATIVE,
    TABLE,
    RouteSpec,
    in_path,
    in_query,
    ok,
    ref,
)
from auditor.server.web import text_json_response

if TYPE_CHECKING:
    from auditor.server.app import Server


async def document_receipt(server: Server, request: Request, party: Party | None) -> Response:
    assert party is not None
    table = web.path_param(request, "table")
    key = web.check_key(web.path_param(request, "key"))
    version = web.integer(web.query(request).get("version"), "version")

    def render() -> Response:
        return text_json_response(server.service.receipt(party, table, key, version))

    return await server.read(party, render)


async def revision_receipt(server: Server, request: Request, party: Party | None) -> Response:
    assert party is not None
    document_id = web.path_param(request, "documentId")
    tx_id = web.path_param(request, "txId")
    service = server.service

    def render() -> Response:
        found: Any = service.bundle(service.by_document(party, document_id, tx_id))
        return text_json_response(found)

    return await server.read(party, render)


ROUTES: tuple[RouteSpec, ...] = (
    RouteSpec(
        "GET", "/v1/tables/{table}/documents/{key}/receipt", ALL, document_receipt,
        "The receipt bundle of the latest (or ?version=) revision",
        parameters=(TABLE, KEY, in_query("version", schema=NON_NEGATIVE)),
        responses={"200": ok(ref("Bundle"))}, errors=(404,),
    ),
    RouteSpec(
        "GET", "/v1/revisions/{documentId}/{txId}/receipt", ALL, revision_receipt,
        "The receipt bundle of a revision by documentId and txId",
        parameters=(in_path("documentId"), in_path("txId")),
        responses={"200": ok(ref("Bundle"))}, errors=(404,),
    ),
)  # fmt: skip
