"""The verify routes: the sample's ``POST /verify-receipt`` and ``POST /verify-doc-revision``,
and ``POST /v1/verify/{receipt,bundle,revision,consistency}``. Each reads the body, checks the
sample's request model where there is one, and hands the bytes to the one adapter,
:func:`auditor.server.judge.judge`, whose outcome is the answer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from auditor.ion import IVM as ION_BINARY_MARKER
from auditor.server import judge as verdict
from auditor.server.config import Party
from auditor.server.routes import ALL, RouteSpec, json_body, ok, ref
from auditor.server.sample import sample_json
from auditor.server.schemas import VERIFY_RECEIPT_SCHEMA, VERIFY_REVISION_SCHEMA, Validator
from auditor.server.web import MAX_DEPTH, ApiError, error_response, json_response, nesting

if TYPE_CHECKING:
    from auditor.server.app import Server

_RECEIPT = Validator(VERIFY_RECEIPT_SCHEMA)
_REVISION = Validator(VERIFY_REVISION_SCHEMA)


def _answer(outcome: verdict.Outcome) -> Response:
    if isinstance(outcome.body, str):
        return Response(outcome.body, outcome.status, media_type="application/json")
    if outcome.status >= 400:
        return error_response(outcome.body, outcome.status)
    return json_response(outcome.body, outcome.status)


async def _judge(server: Server, party: Party | None, kind: str, body: bytes) -> Response:
    anchor = server.anchor(party)
    return _answer(await server.read(party, verdict.judge, kind, body, anchor))


async def sample_verify_receipt(server: Server, request: Request, party: Party | None) -> Response:
    body, _ = await sample_json(server, request, _RECEIPT)
    return await _judge(server, party, "sample-receipt", body)


async def sample_verify_revision(server: Server, request: Request, party: Party | None) -> Response:
    body, _ = await sample_json(server, request, _REVISION)
    return await _judge(server, party, "sample-revision", body)


async def _v1(server: Server, request: Request, party: Party | None, kind: str) -> Response:
    body = await server.body(request)
    if not body.startswith(ION_BINARY_MARKER) and nesting(body) > MAX_DEPTH:
        raise ApiError(400, "too-deep", f"request body: nested deeper than {MAX_DEPTH} levels")
    return await _judge(server, party, kind, body)


async def verify_receipt(server: Server, request: Request, party: Party | None) -> Response:
    return await _v1(server, request, party, "receipt")


async def verify_bundle(server: Server, request: Request, party: Party | None) -> Response:
    return await _v1(server, request, party, "bundle")


async def verify_revision(server: Server, request: Request, party: Party | None) -> Response:
    return await _v1(server, request, party, "revision")


async def verify_consistency(server: Server, request: Request, party: Party | None) -> Response:
    return await _v1(server, request, party, "consistency")


_VERDICT = {
    "type": "object",
    "required": ["result"],
    "properties": {
        "result": {"enum": ["valid", "invalid"]},
        "attested": {"type": "boolean"},
        "digest": {"enum": ["this-ledger", "embedded"]},
    },
}
_ARTEFACT = {
    "description": "The artefact: JSON, Ion text or Ion binary (as the CLI reads it)",
    "required": True,
    "content": {"application/json": {"schema": {}}, "application/octet-stream": {"schema": {}}},
}
_REPORT = ok(ref("Report"), "The verification report (a status per item)")


def _v1_spec(path: str, handler: object, summary: str) -> RouteSpec:
    return RouteSpec(
        "POST", path, ALL, handler,  # type: ignore[arg-type]
        summary, body=_ARTEFACT, responses={"200": _REPORT}, errors=(404, 422),
    )  # fmt: skip


ROUTES: tuple[RouteSpec, ...] = (
    RouteSpec(
        "POST", "/verify-receipt", ALL, sample_verify_receipt,
        "Verify a QLDB LedgerMetadata receipt offline (Proof optional)",
        body=json_body(VERIFY_RECEIPT_SCHEMA), responses={"200": ok(_VERDICT)},
        errors=(400, 422),
    ),
    RouteSpec(
        "POST", "/verify-doc-revision", ALL, sample_verify_revision,
        "Recompute a revision's hash",
        body=json_body(VERIFY_REVISION_SCHEMA), responses={"200": ok(_VERDICT)}, errors=(400,),
    ),
    _v1_spec("/v1/verify/receipt", verify_receipt, "Verify a receipt"),
    _v1_spec("/v1/verify/bundle", verify_bundle, "Verify a receipt bundle"),
    _v1_spec("/v1/verify/revision", verify_revision, "Verify a revision hash"),
    _v1_spec("/v1/verify/consistency", verify_consistency, "Verify a consistency file"),
)  # fmt: skip
