"""/v1 notifications: Server-Sent Events of the status changes the caller may see, and the
webhook delivery log (a party's own deliveries; an auditor's: all)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from auditor.server import web
from auditor.server.config import Party
from auditor.server.routes import (
    ALL,
    NON_NEGATIVE,
    STRING,
    RouteSpec,
    in_header,
    in_path,
    in_query,
    ok,
    ref,
)
from auditor.server.web import ApiError, json_response

if TYPE_CHECKING:
    from auditor.server.app import Server

SSE_POLL = 0.25
SSE_KEEPALIVE = 15.0


async def events(server: Server, request: Request, party: Party | None) -> Response:
    assert party is not None
    params = web.query(request)
    header = request.headers.get("last-event-id", "")
    since = web.integer(params.get("since"), "since")
    if since is None and header:
        since = web.integer(header, "Last-Event-ID")
    limit = web.integer(params.get("limit"), "limit")
    timeout = web.integer(params.get("timeout"), "timeout")
    start = since if since is not None else await server.read(party, server.outbox.last_event)
    return StreamingResponse(
        _stream(server, request, party, start, limit, timeout),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _stream(
    server: Server,
    request: Request,
    party: Party,
    after: int,
    limit: int | None,
    timeout: int | None,
) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    deadline = None if not timeout else loop.time() + timeout
    quiet_since = loop.time()
    sent = 0
    yield f"retry: 2000\n: events after {after}\n\n"
    while limit is None or sent < limit:
        rows = await server.read(party, server.outbox.events_after, after, 100)
        for event_id, kind, owner, body in rows:
            after = event_id
            if party.role == "dealer" and owner != party.bill_to:
                continue  # the event's revision was billed to another dealer
            yield f"id: {event_id}\nevent: {kind}\ndata: {body}\n\n"
            sent += 1
            quiet_since = loop.time()
            if limit is not None and sent >= limit:
                return
        now = loop.time()
        if deadline is not None and now >= deadline:
            return
        if now - quiet_since >= SSE_KEEPALIVE:
            yield ": keep-alive\n\n"
            quiet_since = now
        if await request.is_disconnected():
            return
        if not rows:
            await asyncio.sleep(SSE_POLL)


async def deliveries(server: Server, request: Request, party: Party | None) -> Response:
    assert party is not None
    params = web.query(request)
    state = params.get("state")
    if state not in (None, "pending", "delivered", "failed"):
        raise ApiError(400, "parameter", "state: expected pending, delivered or failed")
    limit = min(web.integer(params.get("limit"), "limit", 100) or 100, 1000)
    before = web.integer(params.get("before"), "before")
    who = None if party.role == "auditor" else party.name
    found = await server.read(party, server.outbox.deliveries, who, state, limit, before)
    more = len(found) == limit and found[-1]["id"] > 1
    return json_response({"deliveries": found, "next": str(found[-1]["id"]) if more else None})


async def delivery_attempts(server: Server, request: Request, party: Party | None) -> Response:
    assert party is not None
    delivery = web.integer(web.path_param(request, "id"), "id")
    assert delivery is not None
    found = await server.read(party, server.outbox.attempts, delivery)
    if found is None or (party.role != "auditor" and found[0] != party.name):
        raise ApiError(404, "not-found", f"delivery {delivery}: not found")
    return json_response({"id": delivery, "party": found[0], "attempts": found[1]})


_DELIVERIES = {
    "type": "object",
    "required": ["deliveries", "next"],
    "properties": {
        "deliveries": {"type": "array", "items": ref("Delivery")},
        "next": {"type": ["string", "null"], "description": "pass as ?before= for older ones"},
    },
}

ROUTES: tuple[RouteSpec, ...] = (
    RouteSpec(
        "GET", "/v1/events", ALL, events, "Server-Sent Events: status changes",
        parameters=(
            in_query("since", schema=NON_NEGATIVE),
            in_query("limit", schema=NON_NEGATIVE),
            in_query("timeout", schema=NON_NEGATIVE, description="seconds; 0: no limit"),
            in_header("Last-Event-ID"),
        ),
        responses={"200": {"description": "An event stream (text/event-stream)",
                           "content": {"text/event-stream": {"schema": STRING}}}},
    ),
    RouteSpec(
        "GET", "/v1/deliveries", ALL, deliveries, "Webhook deliveries (the log), newest first",
        parameters=(
            in_query("state", schema={"enum": ["pending", "delivered", "failed"]}),
            in_query("limit", schema=NON_NEGATIVE),
            in_query("before", schema=NON_NEGATIVE, description="the `next` of the last page"),
        ),
        responses={"200": ok(_DELIVERIES)},
    ),
    RouteSpec(
        "GET", "/v1/deliveries/{id}/attempts", ALL, delivery_attempts,
        "Every attempt of one delivery",
        parameters=(in_path("id", NON_NEGATIVE),),
        responses={"200": ok({"type": "object", "required": ["id", "party", "attempts"]})},
        errors=(404,),
    ),
)  # fmt: skip
