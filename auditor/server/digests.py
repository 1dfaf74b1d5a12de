"""/v1 digests: the signed digest (GetDigest's shape), the checkpoint, the verifier key and
consistency proofs; and the service routes: health, whoami and the OpenAPI document."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from auditor import bundle
from auditor.ledger import NotFoundError
from auditor.server import web
from auditor.server.config import Party
from auditor.server.routes import ALL, NON_NEGATIVE, PUBLIC, RouteSpec, in_query, ok, ref, text_ok
from auditor.server.web import ApiError, json_response, text_json_response

if TYPE_CHECKING:
    from auditor.server.app import Server

_TEXT = "text/plain; charset=utf-8"


async def health(server: Server, request: Request, party: Party | None) -> Response:
    tip = await server.read(party, server.ledger.tip)
    return json_response({"status": "ok", "ledger": server.ledger.name, "tip": tip})


async def openapi(server: Server, request: Request, party: Party | None) -> Response:
    text = server.cache.get("openapi")
    if text is None:
        from auditor.server.openapi import document

        text = server.cache["openapi"] = json.dumps(document(server.config, server.routes))
    return Response(text, media_type="application/json")


async def whoami(server: Server, request: Request, party: Party | None) -> Response:
    assert party is not None
    return json_response({"party": party.name, "role": party.role, "billTo": party.bill_to})


async def digest(server: Server, request: Request, party: Party | None) -> Response:
    tip = web.integer(web.query(request).get("tip"), "tip")
    try:
        signed = await server.read(party, server.ledger.digest, tip)
    except NotFoundError as e:
        raise ApiError(404, "no-tip", f"no block {tip} yet") from e
    return text_json_response({**signed.get_digest_json(), "checkpoint": signed.checkpoint})


async def checkpoint(server: Server, request: Request, party: Party | None) -> Response:
    signed = await server.read(party, server.ledger.digest)
    return Response(signed.checkpoint, media_type=_TEXT)


async def vkey(server: Server, request: Request, party: Party | None) -> Response:
    return Response(server.ledger.vkey + "\n", media_type=_TEXT)


async def consistency(server: Server, request: Request, party: Party | None) -> Response:
    params = web.query(request)
    old = web.integer(params.get("from"), "from")
    if old is None:
        raise ApiError(400, "missing-parameter", "Missing required request parameters: [from]")
    new = web.integer(params.get("to"), "to")
    ledger = server.ledger

    def build() -> Any:
        last = ledger.tip() if new is None else new
        if old > last:
            raise ApiError(400, "window", "from is after to")
        try:
            return bundle.consistency_file(ledger, old, last)
        except NotFoundError as e:
            raise ApiError(404, "no-tip", "no such tip yet") from e

    return text_json_response(await server.read(party, build))


ROUTES: tuple[RouteSpec, ...] = (
    RouteSpec(
        "GET", "/v1/health", PUBLIC, health, "Liveness and the ledger tip",
        responses={"200": ok({"type": "object", "required": ["status", "ledger", "tip"]})},
    ),
    RouteSpec(
        "GET", "/openapi.json", PUBLIC, openapi, "This API's OpenAPI document",
        responses={"200": ok({"type": "object"})},
    ),
    RouteSpec(
        "GET", "/v1/whoami", ALL, whoami, "The caller's party and role",
        responses={"200": ok({"type": "object", "required": ["party", "role"]})},
    ),
    RouteSpec(
        "GET", "/v1/digest", ALL, digest, "The digest (GetDigest shape) and checkpoint",
        parameters=(in_query("tip", schema=NON_NEGATIVE),),
        responses={"200": ok(ref("SignedDigest"))}, errors=(404,),
    ),
    RouteSpec(
        "GET", "/v1/checkpoint", ALL, checkpoint, "The signed checkpoint (text)",
        responses={"200": text_ok()},
    ),
    RouteSpec(
        "GET", "/v1/vkey", ALL, vkey, "The ledger's verifier key (text)",
        responses={"200": text_ok()},
    ),
    RouteSpec(
        "GET", "/v1/consistency", ALL, consistency, "A consistency proof between two tips",
        parameters=(in_query("from", True, NON_NEGATIVE), in_query("to", schema=NON_NEGATIVE)),
        responses={"200": ok(ref("ConsistencyFile"))}, errors=(404,),
    ),
)  # fmt: skip
