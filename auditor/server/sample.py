"""The AWS QLDB REST sample's routes, unchanged in shape (its verify routes are in
verify_routes.py): ``POST /``, ``GET /?keys=``, ``/receipt-by-key``, ``/receipt-by-doc``,
``/retrieve-doc-revision``, ``/history``. Client errors keep the sample's 400 and its message
texts; 401/403/408/409/413/429 are this server's own.
"""

from __future__ import annotations

import urllib.parse
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from auditor import jsonout
from auditor.server import web
from auditor.server.config import Party, ServerConfig
from auditor.server.judge import ion_address
from auditor.server.routes import ALL, WRITERS, RouteSpec, in_query, json_body, ok, ref
from auditor.server.schemas import (
    RETRIEVE_REVISION_SCHEMA,
    SchemaViolationError,
    Validator,
)
from auditor.server.service import WriteItem, WriteJob
from auditor.server.web import ApiError, json_response, text_json_response
from proofs import ProofError

if TYPE_CHECKING:
    from auditor.server.app import Server

HISTORY_FROM_DEFAULT = "2020-01-01T00:00:00Z"  # the sample's default
_KEEP = (401, 403, 408, 409, 413, 429)


def sample_error(error: ApiError, message: str) -> ApiError:
    """Client errors of the sample's routes keep the sample's 400 and message prefix."""
    if error.status in _KEEP:
        return error
    return ApiError(400, error.reason, f"{message} ({error.message})", error.headers)


def invalid_body(error: SchemaViolationError) -> ApiError:
    """The sample's answer to a body its model refuses (400), naming the field."""
    return ApiError(
        400,
        "schema",
        f"Invalid request body: {error}",
        field=error.field,
        errors=[{"field": p.field, "problem": p.problem} for p in error.problems],
    )


async def sample_json(server: Server, request: Request, validator: Validator) -> tuple[bytes, Any]:
    """The body, parsed and checked against one of the sample's request models."""
    body = await server.body(request)
    try:
        value = web.parse_json(body)
        validator.validate(value)
    except ApiError as e:
        raise sample_error(e, "Invalid request body") from e
    except SchemaViolationError as e:
        raise invalid_body(e) from e
    return body, value


def set_value_schema(config: ServerConfig) -> dict[str, Any]:
    """The sample's SetValueModel: 1..max_batch items of {key, value}."""
    policy = config.policy(config.sample_table)
    value = dict(policy.schema) if policy.schema else {"type": ["object", "string"]}
    value.pop("$schema", None)
    return {
        "type": "array",
        "minItems": 1,
        "maxItems": config.max_batch,
        "items": {
            "type": "object",
            "additionalProperties": False,
            "required": ["key", "value"],
            "properties": {
                "key": {"type": "string", "minLength": 1, "maxLength": web.MAX_KEY_LENGTH},
                "value": value,
            },
        },
    }


def _validator(server: Server, name: str, make: Any) -> Validator:
    found = server.cache.get(name)
    if found is None:
        found = server.cache[name] = Validator(make())
    return found


async def sample_put(server: Server, request: Request, party: Party | None) -> Response:
    assert party is not None
    validator = _validator(server, "set-value", lambda: set_value_schema(server.config))
    _, items = await sample_json(server, request, validator)
    try:
        keys = [web.check_key(item["key"], f"[{i}].key") for i, item in enumerate(items)]
    except ApiError as e:
        raise sample_error(e, "Invalid request body") from e
    table = server.config.sample_table
    writes = [WriteItem(k, item["value"]) for k, item in zip(keys, items, strict=True)]
    written = await server.submit(WriteJob.of(party, table, writes))
    out = [
        {"documentId": w.revision.document_id, "txId": w.revision.value["metadata"]["txId"]}
        for w in written
    ]
    return json_response(out[0] if len(out) == 1 else out)


async def sample_get(server: Server, request: Request, party: Party | None) -> Response:
    assert party is not None
    try:
        (text,) = web.required(web.query(request), "keys")
        keys = [web.check_key(k, "keys") for k in text.split(",")]
    except ApiError as e:
        raise sample_error(e, "Client Error: Requested documents do not exist") from e
    if len(keys) > server.config.max_keys:
        raise ApiError(400, "too-many-keys", f"at most {server.config.max_keys} keys per request")
    service = server.service
    text = await server.read(party, service.values_json, party, server.config.sample_table, keys)
    return Response(text, media_type="application/json")


async def sample_receipt_by_key(server: Server, request: Request, party: Party | None) -> Response:
    assert party is not None
    try:
        (key,) = web.required(web.query(request), "key")
        web.check_key(key)
        found = await server.read(
            party, server.service.receipt, party, server.config.sample_table, key, None
        )
    except ApiError as e:
        raise sample_error(e, "Client Error: Could not get metadata") from e
    return text_json_response(found["LedgerMetadata"])


async def sample_receipt_by_doc(server: Server, request: Request, party: Party | None) -> Response:
    assert party is not None
    service = server.service

    def find(document_id: str, tx_id: str) -> Any:
        return service.bundle(service.by_document(party, document_id, tx_id))

    try:
        document_id, tx_id = web.required(web.query(request), "documentId", "txId")
        found = await server.read(party, find, document_id, tx_id)
    except ApiError as e:
        raise sample_error(e, "Client Error: Could not get metadata") from e
    return text_json_response(found["LedgerMetadata"])


async def sample_retrieve_revision(
    server: Server, request: Request, party: Party | None
) -> Response:
    assert party is not None
    validator = _validator(server, "retrieve", lambda: RETRIEVE_REVISION_SCHEMA)
    _, value = await sample_json(server, request, validator)
    ledger, service = server.ledger, server.service

    def find() -> str:
        block = ion_address(value["BlockAddress"]["IonText"], "BlockAddress.IonText")
        tip = ion_address(
            value["LedgerDigest"]["DigestTipAddress"]["IonText"],
            "LedgerDigest.DigestTipAddress.IonText",
        )
        strand = ledger.strand_id
        if block.strand_id != strand or tip.strand_id != strand:
            raise web.not_found("the receipt's revision (another ledger's strand)")
        if not block.sequence_no <= tip.sequence_no <= ledger.tip():
            raise web.not_found("the receipt's revision (the tip does not cover the block)")
        try:
            tx_id = str(ledger.block(block.sequence_no)["transactionId"])
        except LookupError as e:  # pragma: no cover - covered by the tip check
            raise web.not_found("the receipt's block") from e
        revision = service.by_document(party, value["DocumentId"], tx_id)
        return jsonout.to_json(revision.value)

    try:
        text = await server.read(party, find)
    except (ApiError, ProofError) as e:
        if isinstance(e, ApiError) and e.status in _KEEP:
            raise
        raise ApiError(
            400, e.reason, "Client Error: Could not get document revision (not found)"
        ) from e
    return Response(text, media_type="application/json")


async def sample_history(server: Server, request: Request, party: Party | None) -> Response:
    assert party is not None
    try:
        params = web.query(request)
        (key,) = web.required(params, "key")
        web.check_key(key)
        since = params.get("from") or HISTORY_FROM_DEFAULT
        until = params.get("to") or None
        page = await server.read(
            party,
            server.service.history,
            party,
            server.config.sample_table,
            key,
            since,
            until,
            None,
            params.get("cursor"),
        )
    except ApiError as e:
        raise sample_error(e, "Client Error: Could not get history") from e
    headers = {}
    if page.next is not None:
        query = {**params, "cursor": page.next}
        link = "/history?" + "&".join(
            f"{urllib.parse.quote(k)}={urllib.parse.quote(v, safe='')}" for k, v in query.items()
        )
        headers["Link"] = f'<{link}>; rel="next"'
    return json_response([r.value for r in page.revisions], headers=headers)


_TX_REF = {
    "type": "object",
    "required": ["documentId", "txId"],
    "properties": {"documentId": {"type": "string"}, "txId": {"type": "string"}},
}
_REVISIONS = {"type": "array", "items": ref("Revision")}

ROUTES: tuple[RouteSpec, ...] = (
    RouteSpec(
        "POST", "/", WRITERS, sample_put, "Write 1..N documents in one transaction",
        body=lambda config: json_body(set_value_schema(config)),
        responses={"200": ok({"oneOf": [_TX_REF, {"type": "array", "items": _TX_REF}]})},
        errors=(400, 404, 409),
    ),
    RouteSpec(
        "GET", "/", ALL, sample_get, "Values of ?keys=k1,k2",
        parameters=(in_query("keys", True, description="k1,k2,..."),),
        responses={"200": ok({"type": ["object", "string", "array"]})},
        errors=(400,),
    ),
    RouteSpec(
        "GET", "/receipt-by-key", ALL, sample_receipt_by_key, "KVS receipt by key",
        parameters=(in_query("key", True),),
        responses={"200": ok(ref("LedgerMetadata"))}, errors=(400,),
    ),
    RouteSpec(
        "GET", "/receipt-by-doc", ALL, sample_receipt_by_doc, "KVS receipt by documentId and txId",
        parameters=(in_query("documentId", True), in_query("txId", True)),
        responses={"200": ok(ref("LedgerMetadata"))}, errors=(400,),
    ),
    RouteSpec(
        "POST", "/retrieve-doc-revision", ALL, sample_retrieve_revision,
        "The revision a receipt names",
        body=json_body(RETRIEVE_REVISION_SCHEMA),
        responses={"200": ok(ref("Revision"))}, errors=(400,),
    ),
    RouteSpec(
        "GET", "/history", ALL, sample_history, "Revisions of ?key= in [from, to]",
        parameters=(
            in_query("key", True),
            in_query("from", description="ISO-8601, default 2020-01-01T00:00:00Z"),
            in_query("to", description="ISO-8601"),
            in_query("cursor", description="from the Link: rel=next header of the last page"),
        ),
        responses={"200": ok(_REVISIONS, headers={"Link": {"schema": {"type": "string"}}})},
        errors=(400,),
    ),
)  # fmt: skip
