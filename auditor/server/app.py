"""The ASGI application (Starlette): the AWS sample's routes, the /v1 resources, auth, caps.

Request flow: caller identified by its API key → token bucket (429) → role (403) → body read
with the size cap (413) → JSON parsed by the JSON → Ion rule (exact decimals) → the service
function (bounded reads on the event loop, other reads in worker threads, writes on the one
writer thread) → JSON written by ``auditor.jsonout`` (no digit lost). Every error is
``{"message", "reason", ...}``.

The route table, with the roles allowed on each, is :data:`ROUTES`; docs/rest-api.md and the
OpenAPI document (``GET /openapi.json``, auditor/server/openapi.py) describe the same routes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse
from starlette.routing import Route

from auditor import bundle, formats, jsonout
from auditor.export import ExportError, export
from auditor.ledger import Ledger, LedgerError, NotFoundError
from auditor.server.access import RateLimiter
from auditor.server.config import Party, ServerConfig, hash_key
from auditor.server.outbox import Outbox
from auditor.server.schemas import (
    RETRIEVE_REVISION_SCHEMA,
    VERIFY_RECEIPT_SCHEMA,
    VERIFY_REVISION_SCHEMA,
    SchemaViolationError,
    Validator,
)
from auditor.server.service import (
    ApiError,
    GroupWriter,
    Service,
    WriteItem,
    WriteJob,
    Written,
    document_json,
    etag,
    ion_address,
    ledger_error,
    parse_json,
    summary_json,
    value_of,
)
from auditor.verdict import VerdictBuilder
from auditor.verdict import to_json as report_json
from proofs import MalformedError, ProofError, VerificationError

log = logging.getLogger("qldb_audit.server")
T = TypeVar("T")

ALL = frozenset({"manufacturer", "dealer", "auditor"})
WRITERS = frozenset({"manufacturer", "dealer"})
MANUFACTURER = frozenset({"manufacturer"})
AUDITOR = frozenset({"auditor"})
PUBLIC: frozenset[str] = frozenset()

HISTORY_FROM_DEFAULT = "2020-01-01T00:00:00Z"  # the sample's default
SSE_POLL = 0.25
SSE_KEEPALIVE = 15.0
CHECKPOINT_INTERVAL = 1.0  # seconds between background WAL checkpoints
_EXPORT_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


@dataclass(frozen=True, slots=True)
class RouteSpec:
    method: str
    path: str
    roles: frozenset[str]  # empty: public
    handler: str  # Server method name
    summary: str


ROUTES: tuple[RouteSpec, ...] = (
    # the AWS sample's routes, unchanged in shape
    RouteSpec("POST", "/", WRITERS, "sample_put", "Write 1..N documents in one transaction"),
    RouteSpec("GET", "/", ALL, "sample_get", "Values of ?keys=k1,k2"),
    RouteSpec("GET", "/receipt-by-key", ALL, "sample_receipt_by_key", "KVS receipt by key"),
    RouteSpec(
        "GET", "/receipt-by-doc", ALL, "sample_receipt_by_doc", "KVS receipt by documentId and txId"
    ),
    RouteSpec(
        "POST", "/verify-receipt", ALL, "sample_verify_receipt", "Verify a KVS receipt offline"
    ),
    RouteSpec(
        "POST",
        "/retrieve-doc-revision",
        ALL,
        "sample_retrieve_revision",
        "The revision a receipt names",
    ),
    RouteSpec(
        "POST", "/verify-doc-revision", ALL, "sample_verify_revision", "Recompute a revision's hash"
    ),
    RouteSpec("GET", "/history", ALL, "sample_history", "Revisions of ?key= in [from, to]"),
    # our resources
    RouteSpec("GET", "/v1/health", PUBLIC, "health", "Liveness and the ledger tip"),
    RouteSpec("GET", "/openapi.json", PUBLIC, "openapi", "This API's OpenAPI document"),
    RouteSpec("GET", "/v1/whoami", ALL, "whoami", "The caller's party and role"),
    RouteSpec("GET", "/v1/tables", ALL, "list_tables", "The ledger's tables"),
    RouteSpec("GET", "/v1/tables/{table}/schema", ALL, "table_schema", "A table's JSON Schema"),
    RouteSpec(
        "POST",
        "/v1/tables/{table}/documents",
        WRITERS,
        "batch_put",
        "Write documents in one transaction (per-item expectedVersion)",
    ),
    RouteSpec(
        "GET",
        "/v1/tables/{table}/documents/{key}",
        ALL,
        "get_document",
        "The current document (ETag)",
    ),
    RouteSpec(
        "PUT",
        "/v1/tables/{table}/documents/{key}",
        WRITERS,
        "put_document",
        "Create or replace a document (If-Match / If-None-Match)",
    ),
    RouteSpec(
        "PATCH",
        "/v1/tables/{table}/documents/{key}",
        WRITERS,
        "patch_document",
        "Merge-patch a document (RFC 7396; If-Match)",
    ),
    RouteSpec(
        "DELETE",
        "/v1/tables/{table}/documents/{key}",
        MANUFACTURER,
        "delete_document",
        "Delete a document (If-Match)",
    ),
    RouteSpec(
        "GET",
        "/v1/tables/{table}/documents/{key}/history",
        ALL,
        "document_history",
        "Every revision",
    ),
    RouteSpec(
        "GET",
        "/v1/tables/{table}/documents/{key}/revisions/{version}",
        ALL,
        "document_revision",
        "One revision",
    ),
    RouteSpec(
        "GET",
        "/v1/tables/{table}/documents/{key}/receipt",
        ALL,
        "document_receipt",
        "The receipt bundle of the latest (or ?version=) revision",
    ),
    RouteSpec(
        "GET",
        "/v1/revisions/{documentId}/{txId}/receipt",
        ALL,
        "revision_receipt",
        "The receipt bundle of a revision by documentId and txId",
    ),
    RouteSpec("GET", "/v1/digest", ALL, "digest", "The digest (GetDigest shape) and checkpoint"),
    RouteSpec("GET", "/v1/checkpoint", ALL, "checkpoint", "The signed checkpoint (text)"),
    RouteSpec("GET", "/v1/vkey", ALL, "vkey", "The ledger's verifier key (text)"),
    RouteSpec("GET", "/v1/consistency", ALL, "consistency", "A consistency proof between two tips"),
    RouteSpec("POST", "/v1/verify/receipt", ALL, "verify_receipt", "Verify a receipt"),
    RouteSpec("POST", "/v1/verify/bundle", ALL, "verify_bundle", "Verify a receipt bundle"),
    RouteSpec("POST", "/v1/verify/revision", ALL, "verify_revision", "Verify a revision hash"),
    RouteSpec(
        "POST", "/v1/verify/consistency", ALL, "verify_consistency", "Verify a consistency file"
    ),
    RouteSpec("POST", "/v1/exports", AUDITOR, "create_export", "Export the journal"),
    RouteSpec("GET", "/v1/exports", AUDITOR, "list_exports", "Completed exports"),
    RouteSpec("GET", "/v1/exports/{exportId}", AUDITOR, "get_export", "One export's files"),
    RouteSpec(
        "GET",
        "/v1/exports/{exportId}/files/{name:path}",
        AUDITOR,
        "export_file",
        "One file of an export",
    ),
    RouteSpec("GET", "/v1/events", ALL, "events", "Server-Sent Events: status changes"),
    RouteSpec("GET", "/v1/deliveries", ALL, "deliveries", "Webhook deliveries (the log)"),
    RouteSpec(
        "GET",
        "/v1/deliveries/{id}/attempts",
        ALL,
        "delivery_attempts",
        "Every attempt of one delivery",
    ),
)


def json_response(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(jsonout.to_json(value), status, headers, media_type="application/json")


def error_response(
    body: dict[str, Any], status: int, headers: dict[str, str] | None = None
) -> Response:
    """An error body: ASCII JSON, so that text echoed from a request (a lone surrogate in a
    field name, say) is escaped rather than breaking the response's UTF-8."""
    text = json.dumps(body, ensure_ascii=True, default=str, separators=(",", ":"))
    return Response(text, status, headers, media_type="application/json")


def text_json_response(value: Any, status: int = 200) -> Response:
    """For bodies that hold only strings and ints (receipt bundles, digests, proofs: their
    ledger data is already Ion text or base64), where the standard encoder loses nothing."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return Response(text, status, media_type="application/json")


def _sample_error(error: ApiError, message: str) -> ApiError:
    """Client errors of the sample's routes keep the sample's 400 and message prefix."""
    if error.status in (401, 403, 409, 413, 429):
        return error
    return ApiError(400, error.reason, f"{message} ({error.message})", error.headers)


class Server:
    """One process's state: the ledger, the config, the outbox and the limits."""

    def __init__(self, ledger_path: str, config: ServerConfig) -> None:
        self.ledger = Ledger.open(ledger_path)
        self.config = config
        self._create_tables()
        self.outbox = Outbox(self.ledger, config)
        self.service = Service(self.ledger, config, self.outbox)
        self.limiter = RateLimiter(config.rate, config.burst)
        self.keys = config.key_index()
        self.export_dir = config.export_dir or ledger_path + ".exports"
        self.writer = GroupWriter(self.service)
        self._background = anyio.CapacityLimiter(8)
        self._wake: asyncio.Event | None = None
        self._set_value = Validator(self._set_value_schema())
        self._verify_receipt = Validator(VERIFY_RECEIPT_SCHEMA)
        self._retrieve = Validator(RETRIEVE_REVISION_SCHEMA)
        self._verify_revision = Validator(VERIFY_REVISION_SCHEMA)
        self._openapi: str | None = None

    def _create_tables(self) -> None:
        """The configured tables that the ledger lacks are created (like the KVS library)."""
        existing = self.ledger.tables()
        for name in self.config.tables:
            if name not in existing:
                with contextlib.suppress(LedgerError):  # another worker was quicker
                    self.ledger.create_table(name)

    def _set_value_schema(self) -> dict[str, Any]:
        policy = self.config.policy(self.config.sample_table)
        value = dict(policy.schema) if policy.schema else {"type": ["object", "string"]}
        return {
            "type": "array",
            "minItems": 1,
            "maxItems": self.config.max_batch,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["key", "value"],
                "properties": {"key": {"type": "string", "minLength": 1}, "value": value},
            },
        }

    # -- plumbing ----------------------------------------------------------------------------
    def app(self) -> Starlette:
        routes = [
            Route(spec.path, self._endpoint(spec), methods=[spec.method], name=spec.handler)
            for spec in ROUTES
        ]
        return Starlette(
            routes=routes,
            lifespan=self._lifespan,
            exception_handlers={HTTPException: self._http_exception},  # type: ignore[dict-item]
        )

    async def _http_exception(self, request: Request, exc: HTTPException) -> Response:
        reason = {404: "no-route", 405: "method"}.get(exc.status_code, "http")
        return error_response(
            {"message": f"{request.method} {request.url.path}: {exc.detail}", "reason": reason},
            exc.status_code,
            dict(exc.headers or {}),
        )

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        stop = asyncio.Event()
        wake = self._wake = asyncio.Event()
        loop = asyncio.get_running_loop()

        def status_changed() -> None:  # called on the writer thread
            loop.call_soon_threadsafe(wake.set)

        self.service.on_status_change = status_changed
        task = asyncio.create_task(self._notifier(stop))
        try:
            yield
        finally:
            stop.set()
            self._wake.set()
            try:
                await asyncio.wait_for(task, timeout=self.config.webhooks.timeout + 5)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()
            await anyio.to_thread.run_sync(self.writer.close)

    def _endpoint(self, spec: RouteSpec) -> Callable[[Request], Awaitable[Response]]:
        handler: Callable[[Request, Party | None], Awaitable[Response]] = getattr(
            self, spec.handler
        )

        async def endpoint(request: Request) -> Response:
            try:
                party = self._admit(request, spec) if spec.roles else None
                return await handler(request, party)
            except ApiError as e:
                return error_response(e.body(), e.status, e.headers)
            except SchemaViolationError as e:
                return error_response(_violation(e), 422)
            except LedgerError as e:
                error = ledger_error(e)
                return error_response(error.body(), error.status)
            except Exception:
                log.exception("%s %s failed", request.method, request.url.path)
                body = {"message": "internal error (see the server log)", "reason": "internal"}
                return error_response(body, 500)

        return endpoint

    def _admit(self, request: Request, spec: RouteSpec) -> Party:
        """Authenticate (401), rate-limit (429) and check the role (403)."""
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        key = token.strip() if scheme.lower() == "bearer" else ""
        key = key or request.headers.get("x-api-key", "").strip()
        party = self.keys.get(hash_key(key)) if key else None
        client = request.client.host if request.client else "unknown"
        wait = self.limiter.take(party.name if party else f"ip:{client}")
        if wait > 0:
            raise ApiError(
                429,
                "rate-limit",
                f"rate limit: {self.config.rate:g} requests/s, burst {self.config.burst}",
                {"Retry-After": RateLimiter.retry_after(wait)},
            )
        if party is None:
            raise ApiError(
                401,
                "no-key" if not key else "bad-key",
                "an API key is required (Authorization: Bearer <key>, or X-API-Key)"
                if not key
                else "the API key is not valid",
                {"WWW-Authenticate": 'Bearer realm="qldb-audit"'},
            )
        if party.role not in spec.roles:
            raise ApiError(
                403, "role", f"{spec.method} {spec.path}: not allowed for the {party.role} role"
            )
        return party

    async def _body(self, request: Request) -> bytes:
        cap = self.config.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError as e:
                raise ApiError(400, "content-length", "Content-Length: not a number") from e
            if size > cap:
                raise ApiError(413, "too-large", f"request body: {size} bytes, over {cap}")
        chunks = []
        total = 0
        async for chunk in request.stream():
            total += len(chunk)
            if total > cap:
                raise ApiError(413, "too-large", f"request body: over {cap} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        return await anyio.to_thread.run_sync(partial(fn, *args))

    async def _quick(self, fn: Callable[..., T], *args: Any) -> T:
        """A bounded read (one document, one receipt: a few indexed SQLite look-ups, well under
        a millisecond) runs on the event loop itself: the hop to a worker thread would cost
        about as much as the read, and a worker process gains no parallelism from threads."""
        return fn(*args)

    async def _submit(self, job: WriteJob) -> list[Written]:
        """Hand a write to this process's writer thread (group commit) and wait for it."""
        return await asyncio.wrap_future(self.writer.submit(job))

    async def _notifier(self, stop: asyncio.Event) -> None:
        """Scan the journal into the outbox and deliver what is due, until ``stop``."""
        interval = self.config.webhooks.scan_interval
        assert self._wake is not None
        loop = asyncio.get_running_loop()
        checkpointed = loop.time()
        while not stop.is_set():
            due = []
            try:
                if loop.time() - checkpointed >= CHECKPOINT_INTERVAL:
                    checkpointed = loop.time()
                    await anyio.to_thread.run_sync(self.outbox.checkpoint, limiter=self._background)
                await anyio.to_thread.run_sync(self.outbox.scan, limiter=self._background)
                due = await anyio.to_thread.run_sync(self.outbox.claim, limiter=self._background)
                if due:
                    await asyncio.gather(
                        *(
                            anyio.to_thread.run_sync(
                                self.outbox.attempt, d, limiter=self._background
                            )
                            for d in due
                        )
                    )
            except Exception:
                log.exception("notifications: scan or delivery failed; retrying")
            if not due:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=interval)

    @staticmethod
    def _query(request: Request, *names: str) -> list[str]:
        missing = [n for n in names if not request.query_params.get(n)]
        if missing:
            raise ApiError(
                400,
                "missing-parameter",
                f"Missing required request parameters: [{', '.join(missing)}]",
            )
        return [request.query_params[n] for n in names]

    @staticmethod
    def _int(request: Request, name: str, default: int | None = None) -> int | None:
        text = request.query_params.get(name)
        if text is None or text == "":
            return default
        if not text.isdigit() or len(text) > 18:
            raise ApiError(400, "parameter", f"{name}: expected an integer >= 0 (got {text!r})")
        return int(text)

    # -- the AWS sample's routes ----------------------------------------------------------
    async def sample_put(self, request: Request, party: Party | None) -> Response:
        assert party is not None
        try:
            items = parse_json(await self._body(request))
            self._set_value.validate(items)
        except ApiError as e:
            raise _sample_error(e, "Invalid request body") from e
        except SchemaViolationError as e:
            raise _invalid_body(e) from e
        table = self.config.sample_table
        writes = [WriteItem(item["key"], item["value"]) for item in items]
        written = await self._submit(WriteJob.of(party, table, writes))
        out = [
            {"documentId": w.revision.document_id, "txId": w.revision.value["metadata"]["txId"]}
            for w in written
        ]
        return json_response(out[0] if len(out) == 1 else out)

    async def sample_get(self, request: Request, party: Party | None) -> Response:
        assert party is not None
        (text,) = self._query(request, "keys")
        keys = text.split(",")
        if len(keys) > self.config.max_keys:
            raise ApiError(400, "too-many-keys", f"at most {self.config.max_keys} keys per request")
        try:
            values = await self._quick(self.service.values, party, self.config.sample_table, keys)
        except ApiError as e:
            raise _sample_error(e, "Client Error: Requested documents do not exist") from e
        if values is None:
            raise ApiError(400, "no-key", "Client Error: Requested documents do not exist")
        return json_response(values[0] if len(values) == 1 else values)

    async def sample_receipt_by_key(self, request: Request, party: Party | None) -> Response:
        assert party is not None
        (key,) = self._query(request, "key")
        try:
            found = await self._read(
                self.service.receipt, party, self.config.sample_table, key, None
            )
        except ApiError as e:
            raise _sample_error(e, "Client Error: Could not get metadata") from e
        return text_json_response(found["LedgerMetadata"])

    async def sample_receipt_by_doc(self, request: Request, party: Party | None) -> Response:
        assert party is not None
        document_id, tx_id = self._query(request, "documentId", "txId")
        try:
            revision = await self._read(self.service.by_document, party, document_id, tx_id)
            found = await self._read(self.service.bundle, revision)
        except ApiError as e:
            raise _sample_error(e, "Client Error: Could not get metadata") from e
        return text_json_response(found["LedgerMetadata"])

    async def _sample_json(self, request: Request, validator: Validator) -> tuple[bytes, Any]:
        body = await self._body(request)
        try:
            value = parse_json(body)
            validator.validate(value)
        except ApiError as e:
            raise _sample_error(e, "Invalid request body") from e
        except SchemaViolationError as e:
            raise _invalid_body(e) from e
        return body, value

    async def sample_verify_receipt(self, request: Request, party: Party | None) -> Response:
        body, value = await self._sample_json(request, self._verify_receipt)

        def check() -> None:
            item = VerdictBuilder("receipt", "kvs-ledger-metadata")
            receipt = formats.parse(body, "receipt")[0]
            if not isinstance(receipt, formats.Receipt):  # pragma: no cover - schema forbids
                raise MalformedError("not-a-receipt", "receipt", "not a LedgerMetadata receipt")
            stored = self.service.check_receipt(item, receipt, "receipt")
            for name, expected, field in (
                ("ledger-name", self.ledger.name, "LedgerName"),
                ("table-name", stored.table, "TableName"),
            ):
                if field in value and value[field] != expected:
                    raise VerificationError(
                        name,
                        f"receipt: {field}",
                        "is not this ledger's",
                        expected=expected,
                        actual=str(value[field]),
                    )
            verdict = item.build()
            if not verdict:  # fail closed: anything short of verified is not "valid"
                unproven = [c.text for c in verdict.claims if c.status != "proven"]
                raise VerificationError(
                    "not-proven", "receipt", "; ".join(unproven) or "not proven", None, None
                )

        try:
            await self._read(check)
        except ProofError as e:
            kind = "invalid" if isinstance(e, VerificationError) else "malformed"
            # the sample's message, typo included: its clients match on it
            raise ApiError(
                400,
                e.reason,
                f"Client Error: Could not verify the metadta: {e}",
                result="invalid",
                problem=kind,
                locator=e.locator,
            ) from e
        return json_response({"result": "valid"})

    async def sample_retrieve_revision(self, request: Request, party: Party | None) -> Response:
        assert party is not None
        _, value = await self._sample_json(request, self._retrieve)

        def find() -> Any:
            block = ion_address(value["BlockAddress"]["IonText"], "BlockAddress.IonText")
            tip = ion_address(
                value["LedgerDigest"]["DigestTipAddress"]["IonText"],
                "LedgerDigest.DigestTipAddress.IonText",
            )
            strand = self.ledger.strand_id
            if block.strand_id != strand or tip.strand_id != strand:
                raise ApiError(404, "strand", f"not this ledger's strand ({strand})")
            if not block.sequence_no <= tip.sequence_no <= self.ledger.tip():
                raise ApiError(404, "no-tip", f"block {block} is not covered by tip {tip}")
            tx_id = str(self.ledger.block(block.sequence_no)["transactionId"])
            revision = self.service.by_document(party, value["DocumentId"], tx_id)
            return revision.value

        try:
            revision = await self._read(find)
        except (ApiError, ProofError, NotFoundError) as e:
            if isinstance(e, ApiError) and e.status in (403, 429):
                raise
            reason = e.reason
            raise ApiError(
                400, reason, f"Client Error: Could not get document revision ({e})"
            ) from e
        return json_response(revision)

    async def sample_verify_revision(self, request: Request, party: Party | None) -> Response:
        body, _ = await self._sample_json(request, self._verify_revision)

        def check() -> None:
            artefact = formats.parse(body, "revision")[0]
            if not isinstance(artefact, formats.RevisionInput):  # pragma: no cover
                raise MalformedError("not-a-revision", "revision", "not a revision")
            import proofs

            proofs.verify_revision(artefact.revision, "revision")

        try:
            await self._read(check)
        except ProofError as e:
            return json_response({"result": "invalid", "reason": e.reason, "message": str(e)})
        return json_response({"result": "valid"})

    async def sample_history(self, request: Request, party: Party | None) -> Response:
        assert party is not None
        (key,) = self._query(request, "key")
        since = request.query_params.get("from") or HISTORY_FROM_DEFAULT
        until = request.query_params.get("to") or None
        try:
            revisions = await self._read(
                self.service.history, party, self.config.sample_table, key, since, until
            )
        except ApiError as e:
            raise _sample_error(e, "Client Error: Could not get history") from e
        return json_response([r.value for r in revisions])

    # -- /v1 -----------------------------------------------------------------------------
    async def health(self, request: Request, party: Party | None) -> Response:
        tip = await self._read(self.ledger.tip)
        return json_response({"status": "ok", "ledger": self.ledger.name, "tip": tip})

    async def openapi(self, request: Request, party: Party | None) -> Response:
        if self._openapi is None:
            from auditor.server.openapi import document

            self._openapi = json.dumps(document(self.config))
        return Response(self._openapi, media_type="application/json")

    async def whoami(self, request: Request, party: Party | None) -> Response:
        assert party is not None
        return json_response({"party": party.name, "role": party.role, "billTo": party.bill_to})

    async def list_tables(self, request: Request, party: Party | None) -> Response:
        return json_response({"tables": await self._read(self.service.tables)})

    async def table_schema(self, request: Request, party: Party | None) -> Response:
        table = request.path_params["table"]
        policy = await self._read(self.service.policy, table)
        if policy.schema is None:
            raise ApiError(404, "no-schema", f"table {table}: has no JSON Schema")
        return json_response(dict(policy.schema))

    async def get_document(self, request: Request, party: Party | None) -> Response:
        assert party is not None
        table, key = request.path_params["table"], request.path_params["key"]
        revision = await self._quick(self.service.document, party, table, key)
        return json_response(document_json(revision), headers={"ETag": etag(revision)})

    async def _value(self, request: Request, table: str) -> Any:
        value = parse_json(await self._body(request))
        await self._read(self.service.policy, table)
        self.service.validate(table, value)
        return value

    async def put_document(self, request: Request, party: Party | None) -> Response:
        assert party is not None
        table, key = request.path_params["table"], request.path_params["key"]
        value = await self._value(request, table)
        item = WriteItem(
            key,
            value,
            if_match=request.headers.get("if-match"),
            if_none_match=request.headers.get("if-none-match", "").strip() == "*",
        )
        written = (await self._submit(WriteJob.of(party, table, [item])))[0]
        return self._written(written.revision, created=written.created)

    def _written(self, revision: Any, created: bool) -> Response:
        headers = {"ETag": etag(revision)}
        if created:
            headers["Location"] = f"/v1/tables/{revision.table}/documents/{revision.key}"
        return json_response(document_json(revision), 201 if created else 200, headers)

    async def patch_document(self, request: Request, party: Party | None) -> Response:
        assert party is not None
        table, key = request.path_params["table"], request.path_params["key"]
        patch = parse_json(await self._body(request))
        if not isinstance(patch, dict):
            raise ApiError(400, "patch", "a merge patch must be a JSON object")
        if_match = request.headers.get("if-match")
        service = self.service

        def merged() -> list[WriteItem]:  # on the writer thread, under the write lock
            current = service.document(party, table, key)
            value = _merge(service_value(current.data), patch)
            service.validate(table, value)
            tag = if_match or etag(current)  # the server's own tag: re-merged on a conflict
            return [WriteItem(key, value, if_match=tag, server_tag=if_match is None)]

        job = WriteJob(party, table, frozenset([key]), merged)
        written = (await self._submit(job))[0]
        return self._written(written.revision, created=False)

    async def delete_document(self, request: Request, party: Party | None) -> Response:
        assert party is not None
        table, key = request.path_params["table"], request.path_params["key"]
        item = WriteItem(key, None, if_match=request.headers.get("if-match"))
        written = (await self._submit(WriteJob.of(party, table, [item])))[0]
        return json_response(summary_json(written.revision))

    async def batch_put(self, request: Request, party: Party | None) -> Response:
        assert party is not None
        table = request.path_params["table"]
        items = parse_json(await self._body(request))
        await self._read(self.service.policy, table)
        if not isinstance(items, list) or not items:
            raise ApiError(400, "batch", "expected a non-empty JSON array of {key, value}")
        if len(items) > self.config.max_batch:
            raise ApiError(
                413, "batch-too-large", f"at most {self.config.max_batch} documents per request"
            )
        writes = []
        for i, item in enumerate(items):
            if (
                not isinstance(item, dict)
                or set(item) - {"key", "value", "expectedVersion"}
                or not {"key", "value"} <= set(item)
            ):
                raise ApiError(
                    400, "batch", f'[{i}]: expected {{"key", "value"[, "expectedVersion"]}}'
                )
            key, expected = item["key"], item.get("expectedVersion")
            if not isinstance(key, str) or not key:
                raise ApiError(400, "batch", f"[{i}].key: expected a non-empty string")
            if expected is not None and (
                isinstance(expected, bool) or not isinstance(expected, int)
            ):
                raise ApiError(400, "batch", f"[{i}].expectedVersion: expected an integer")
            self.service.validate(table, item["value"], f"[{i}].value")
            writes.append(WriteItem(key, item["value"], expected_version=expected))
        written = await self._submit(WriteJob.of(party, table, writes))
        return json_response({"documents": [summary_json(w.revision) for w in written]})

    async def document_history(self, request: Request, party: Party | None) -> Response:
        assert party is not None
        table, key = request.path_params["table"], request.path_params["key"]
        revisions = await self._read(
            self.service.history,
            party,
            table,
            key,
            request.query_params.get("from"),
            request.query_params.get("to"),
        )
        return json_response({"revisions": [r.value for r in revisions]})

    async def document_revision(self, request: Request, party: Party | None) -> Response:
        assert party is not None
        table, key = request.path_params["table"], request.path_params["key"]
        text = request.path_params["version"]
        if not text.isdigit() or len(text) > 18:
            raise ApiError(400, "parameter", f"version: expected an integer >= 0 (got {text!r})")
        revision = await self._read(self.service.revision, party, table, key, int(text))
        return json_response(revision.value)

    async def document_receipt(self, request: Request, party: Party | None) -> Response:
        assert party is not None
        table, key = request.path_params["table"], request.path_params["key"]
        version = self._int(request, "version")
        found = await self._quick(self.service.receipt, party, table, key, version)
        return text_json_response(found)

    async def revision_receipt(self, request: Request, party: Party | None) -> Response:
        assert party is not None
        revision = await self._read(
            self.service.by_document,
            party,
            request.path_params["documentId"],
            request.path_params["txId"],
        )
        return text_json_response(await self._read(self.service.bundle, revision))

    async def digest(self, request: Request, party: Party | None) -> Response:
        tip = self._int(request, "tip")
        try:
            signed = await self._read(self.ledger.digest, tip)
        except NotFoundError as e:
            raise ApiError(404, e.reason, str(e)) from e
        return text_json_response({**signed.get_digest_json(), "checkpoint": signed.checkpoint})

    async def checkpoint(self, request: Request, party: Party | None) -> Response:
        signed = await self._read(self.ledger.digest)
        return Response(signed.checkpoint, media_type="text/plain; charset=utf-8")

    async def vkey(self, request: Request, party: Party | None) -> Response:
        return Response(self.ledger.vkey + "\n", media_type="text/plain; charset=utf-8")

    async def consistency(self, request: Request, party: Party | None) -> Response:
        old = self._int(request, "from")
        if old is None:
            raise ApiError(400, "missing-parameter", "Missing required request parameters: [from]")
        new = self._int(request, "to")

        def build() -> Any:
            last = self.ledger.tip() if new is None else new
            if old > last:
                raise ApiError(400, "window", f"from {old} is after to {last}")
            try:
                return bundle.consistency_file(self.ledger, old, last)
            except NotFoundError as e:
                raise ApiError(404, e.reason, str(e)) from e

        return text_json_response(await self._read(build))

    async def _verify(self, request: Request, kind: str) -> Response:
        body = await self._body(request)
        items = await self._read(self.service.verify_report, kind, body)
        return Response(report_json(f"verify {kind}", items), media_type="application/json")

    async def verify_receipt(self, request: Request, party: Party | None) -> Response:
        return await self._verify(request, "receipt")

    async def verify_bundle(self, request: Request, party: Party | None) -> Response:
        return await self._verify(request, "bundle")

    async def verify_revision(self, request: Request, party: Party | None) -> Response:
        return await self._verify(request, "revision")

    async def verify_consistency(self, request: Request, party: Party | None) -> Response:
        return await self._verify(request, "consistency")

    # -- exports ---------------------------------------------------------------------------
    async def create_export(self, request: Request, party: Party | None) -> Response:
        raw = await self._body(request)
        options = parse_json(raw) if raw.strip() else {}
        if not isinstance(options, dict) or set(options) - {
            "format",
            "since",
            "until",
            "maxBlocksPerObject",
        }:
            raise ApiError(
                400, "export", 'expected {"format"?, "since"?, "until"?, "maxBlocksPerObject"?}'
            )
        fmt = options.get("format", "ion_text")
        per_object = options.get("maxBlocksPerObject", 1000)
        for name, value in (("since", options.get("since")), ("until", options.get("until"))):
            if value is not None and not isinstance(value, str):
                raise ApiError(400, "export", f"{name}: expected an ISO-8601 string")
        if not isinstance(fmt, str):
            raise ApiError(400, "export", "format: expected a string")
        if isinstance(per_object, bool) or not isinstance(per_object, int):
            raise ApiError(400, "export", "maxBlocksPerObject: expected an integer")
        os.makedirs(self.export_dir, exist_ok=True)
        try:
            result = await self._read(
                partial(export, max_blocks_per_object=per_object),
                self.ledger,
                self.export_dir,
                fmt,
                options.get("since"),
                options.get("until"),
            )
        except ExportError as e:
            raise ApiError(400, e.reason, str(e)) from e
        summary = await self._read(self._export_summary, result.export_id)
        summary.update(
            {
                "format": result.output_format,
                "firstSequenceNo": result.first_seq,
                "lastSequenceNo": result.last_seq,
                "blocks": result.block_count,
            }
        )
        return json_response(summary, 201, {"Location": f"/v1/exports/{result.export_id}"})

    def _export_files(self, export_id: str) -> list[str]:
        if not _EXPORT_ID.fullmatch(export_id):
            raise ApiError(404, "no-export", f"export {export_id!r}: no such export")
        names = []
        root = self.export_dir
        with contextlib.suppress(FileNotFoundError):
            for name in os.listdir(root):
                if name.startswith(export_id + "."):
                    names.append(name)
            for name in os.listdir(os.path.join(root, export_id)):
                names.append(f"{export_id}/{name}")
        if not any(n.endswith(".completed.manifest") for n in names):
            raise ApiError(404, "no-export", f"export {export_id}: no completed export")
        return sorted(n for n in names if not n.startswith(".") and ".tmp" not in n)

    def _export_summary(self, export_id: str) -> dict[str, Any]:
        files = self._export_files(export_id)
        return {
            "exportId": export_id,
            "files": files,
            "links": [f"/v1/exports/{export_id}/files/{name}" for name in files],
        }

    async def list_exports(self, request: Request, party: Party | None) -> Response:
        def find() -> list[str]:
            try:
                names = os.listdir(self.export_dir)
            except FileNotFoundError:
                return []
            return sorted({n.split(".", 1)[0] for n in names if n.endswith(".completed.manifest")})

        return json_response({"exports": await self._read(find)})

    async def get_export(self, request: Request, party: Party | None) -> Response:
        summary = await self._read(self._export_summary, request.path_params["exportId"])
        return json_response(summary)

    async def export_file(self, request: Request, party: Party | None) -> Response:
        export_id, name = request.path_params["exportId"], request.path_params["name"]
        files = await self._read(self._export_files, export_id)
        if name not in files:
            raise ApiError(404, "no-file", f"export {export_id}: no file {name!r}")
        media = "application/json" if name.endswith(".json") else "application/octet-stream"
        return FileResponse(os.path.join(self.export_dir, name), media_type=media)

    # -- notifications ---------------------------------------------------------------------
    async def events(self, request: Request, party: Party | None) -> Response:
        assert party is not None
        header = request.headers.get("last-event-id", "")
        since = self._int(request, "since")
        if since is None and header.isdigit():
            since = int(header)
        limit = self._int(request, "limit")
        timeout = self._int(request, "timeout")
        start = since if since is not None else await self._read(self.outbox.last_event)
        return StreamingResponse(
            self._stream(request, party, start, limit, timeout),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def _stream(
        self, request: Request, party: Party, after: int, limit: int | None, timeout: int | None
    ) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        deadline = None if not timeout else loop.time() + timeout
        quiet_since = loop.time()
        sent = 0
        yield f"retry: 2000\n: events after {after}\n\n"
        while limit is None or sent < limit:
            rows = await self._read(self.outbox.events_after, after, 100)
            for event_id, kind, owner, body in rows:
                after = event_id
                if party.role == "dealer" and owner != party.bill_to:
                    continue
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

    async def deliveries(self, request: Request, party: Party | None) -> Response:
        assert party is not None
        state = request.query_params.get("state")
        if state not in (None, "pending", "delivered", "failed"):
            raise ApiError(400, "parameter", "state: expected pending, delivered or failed")
        limit = min(self._int(request, "limit", 100) or 100, 1000)
        who = None if party.role == "auditor" else party.name
        found = await self._read(self.outbox.deliveries, who, state, limit)
        return json_response({"deliveries": found})

    async def delivery_attempts(self, request: Request, party: Party | None) -> Response:
        assert party is not None
        text = request.path_params["id"]
        if not text.isdigit() or len(text) > 18:
            raise ApiError(400, "parameter", f"id: expected an integer (got {text!r})")
        found = await self._read(self.outbox.attempts, int(text))
        if found is None or (party.role != "auditor" and found[0] != party.name):
            raise ApiError(404, "no-delivery", f"delivery {text}: not found")
        return json_response({"id": int(text), "party": found[0], "attempts": found[1]})


def service_value(data: Any) -> Any:
    """A document's data as a plain dict to patch (``_k`` dropped; values stay Ion)."""
    value = value_of(data)
    if not isinstance(value, dict):
        raise ApiError(400, "patch", "a merge patch applies to an object document")
    return value


def _merge(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch (null removes a field). Iterative over nested objects."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target.items()) if hasattr(target, "items") else {}
    for name, value in patch.items():
        if value is None:
            result.pop(name, None)
        elif isinstance(value, dict):
            result[name] = _merge(result.get(name), value)
        else:
            result[name] = value
    return result


def _invalid_body(error: SchemaViolationError) -> ApiError:
    """The sample's answer to a body its model refuses (400), naming the field."""
    detail = _violation(error)
    return ApiError(
        400,
        "schema",
        f"Invalid request body: {error}",
        field=detail["field"],
        errors=detail["errors"],
    )


def _violation(error: SchemaViolationError) -> dict[str, Any]:
    return {
        "message": f"invalid document: {error}",
        "reason": "schema",
        "field": error.field,
        "errors": [{"field": p.field, "problem": p.problem} for p in error.problems],
    }


def create_app(ledger_path: str, config: ServerConfig) -> Starlette:
    """The ASGI app over the ledger at ``ledger_path``. Raises ``LedgerError`` if the ledger
    cannot be opened."""
    return Server(ledger_path, config).app()
