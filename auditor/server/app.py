"""The ASGI application (Starlette): the route table, authentication, limits, and the plumbing
every resource module uses.

Request flow: CORS (only if configured) → the caller identified by its API key → the shared
token bucket of the key, or of the client address (429) → the role (401/403) → the handler of
the resource module (documents.py, receipts.py, digests.py, exports.py, events.py, sample.py,
verify_routes.py): input read strictly (auditor/server/web.py), every ledger read in a worker
thread (at most ``party_concurrency`` per party at once, so one client cannot take the
threads), writes on the one writer thread → JSON written by ``auditor.jsonout`` (no digit
lost). Every error is ``{"message", "reason", ...}``.

The route table is :data:`ROUTES`, assembled from the resource modules; the OpenAPI document
(``GET /openapi.json``, auditor/server/openapi.py) is generated from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from auditor.ledger import Ledger, LedgerError
from auditor.server import (
    digests,
    documents,
    events,
    exports,
    receipts,
    sample,
    verify_routes,
)
from auditor.server.access import ForbiddenError
from auditor.server.config import Party, ServerConfig, hash_key
from auditor.server.judge import Anchor
from auditor.server.limits import ClientAddress, RateLimiter
from auditor.server.outbox import Outbox
from auditor.server.routes import RouteSpec
from auditor.server.schemas import SchemaViolationError, violation
from auditor.server.service import GroupWriter, Service, WriteJob, Written, forbidden, ledger_error
from auditor.server.web import ApiError, error_response, read_body
from proofs.note import parse_vkey

log = logging.getLogger("qldb_audit.server")
T = TypeVar("T")

CHECKPOINT_INTERVAL = 1.0  # seconds between background WAL checkpoints
CORS_HEADERS = ["Authorization", "Content-Type", "X-API-Key", "If-Match", "If-None-Match",
                "Last-Event-ID"]  # fmt: skip
CORS_EXPOSED = ["ETag", "Location", "Retry-After", "Link", "WWW-Authenticate"]

ROUTES: tuple[RouteSpec, ...] = (
    *sample.ROUTES,
    *documents.ROUTES,
    *receipts.ROUTES,
    *digests.ROUTES,
    *verify_routes.ROUTES,
    *exports.ROUTES,
    *events.ROUTES,
)


class Server:
    """One process's state: the ledger, the config, the outbox and the limits."""

    def __init__(self, ledger_path: str, config: ServerConfig) -> None:
        self.ledger = Ledger.open(ledger_path)
        self.config = config
        self._create_tables()
        self.outbox = Outbox(self.ledger, config)
        self.service = Service(self.ledger, config, self.outbox)
        self.limiter = RateLimiter(config.rate, config.burst, ledger_path + ".serve-limits")
        self.address = ClientAddress(config.trusted_proxies)
        self.keys = config.key_index()
        self.vkey = parse_vkey(self.ledger.vkey)
        self.export_dir = config.export_dir or ledger_path + ".exports"
        self.writer = GroupWriter(self.service)
        self._background = anyio.CapacityLimiter(8)
        self._readers = ThreadPoolExecutor(16, thread_name_prefix="reader")
        self._per_party: dict[str, asyncio.Semaphore] = {}
        self._wake: asyncio.Event | None = None
        self.cache: dict[str, Any] = {}  # per-process memo (the OpenAPI document)
        self.routes = ROUTES

    def _create_tables(self) -> None:
        """The configured tables that the ledger lacks are created (like the KVS library)."""
        existing = self.ledger.tables()
        for name in self.config.tables:
            if name not in existing:
                with contextlib.suppress(LedgerError):  # another worker was quicker
                    self.ledger.create_table(name)

    # -- the application ---------------------------------------------------------------------
    def app(self) -> Starlette:
        routes = [
            Route(spec.path, self._endpoint(spec), methods=[spec.method], name=spec.name)
            for spec in ROUTES
        ]
        middleware = []
        if self.config.cors_origins:
            middleware.append(
                Middleware(
                    CORSMiddleware,
                    allow_origins=list(self.config.cors_origins),
                    allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                    allow_headers=CORS_HEADERS,
                    expose_headers=CORS_EXPOSED,
                    max_age=600,
                )
            )
        app = Starlette(
            routes=routes,
            middleware=middleware,
            lifespan=self._lifespan,
            exception_handlers={HTTPException: self._http_exception},  # type: ignore[dict-item]
        )
        app.router.redirect_slashes = False  # a redirect would echo the Host header
        return app

    async def _http_exception(self, request: Request, exc: HTTPException) -> Response:
        reason = {404: "no-route", 405: "method"}.get(exc.status_code, "http")
        message = {404: "no such route", 405: "method not allowed on this route"}.get(
            exc.status_code, "refused"
        )
        return error_response({"message": message, "reason": reason}, exc.status_code,
                              dict(exc.headers or {}))  # fmt: skip

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
            self._readers.shutdown(wait=False, cancel_futures=True)
            self.limiter.close()

    def _endpoint(self, spec: RouteSpec) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            request.scope["qldb_route"] = spec.path
            try:
                party = self._admit(request, spec)
                return await spec.handler(self, request, party)
            except ApiError as e:
                return error_response(e.body(), e.status, e.headers)
            except SchemaViolationError as e:
                return error_response(violation(e), 422)
            except ForbiddenError as e:
                error = forbidden(e)
                return error_response(error.body(), error.status)
            except LedgerError as e:
                error = ledger_error(e)
                return error_response(error.body(), error.status)
            except Exception:
                log.exception("%s %s failed", request.method, spec.path)
                body = {"message": "internal error (see the server log)", "reason": "internal"}
                return error_response(body, 500)

        return endpoint

    def _admit(self, request: Request, spec: RouteSpec) -> Party | None:
        """Rate-limit (429), authenticate (401) and check the role (403). Public routes are
        rate-limited by client address."""
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        key = token.strip() if scheme.lower() == "bearer" else ""
        key = key or request.headers.get("x-api-key", "").strip()
        party = self.keys.get(hash_key(key)) if key and spec.roles else None
        peer = request.client.host if request.client else None
        client = self.address.of(peer, request.headers.get("x-forwarded-for"))
        wait = self.limiter.take(f"party:{party.name}" if party else f"ip:{client}")
        if wait > 0:
            raise ApiError(
                429,
                "rate-limit",
                f"rate limit: {self.config.rate:g} requests/s, burst {self.config.burst}",
                {"Retry-After": RateLimiter.retry_after(wait)},
            )
        if not spec.roles:
            return None
        if party is None:
            raise ApiError(
                401,
                "no-api-key" if not key else "bad-api-key",
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

    # -- what handlers use -------------------------------------------------------------------
    async def body(self, request: Request) -> bytes:
        return await read_body(request, self.config.max_body_bytes, self.config.body_timeout)

    async def read(self, party: Party | None, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking read (and its rendering) in a worker thread, at most
        ``party_concurrency`` at once for one party: one client's large answers wait for each
        other, not for everyone's."""
        name = party.name if party else "(public)"
        gate = self._per_party.get(name)
        if gate is None:
            gate = self._per_party[name] = asyncio.Semaphore(self.config.party_concurrency)
        async with gate:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._readers, partial(fn, *args))

    async def submit(self, job: WriteJob) -> list[Written]:
        """Hand a write to this process's writer thread (group commit) and wait for it."""
        return await asyncio.wrap_future(self.writer.submit(job))

    def anchor(self, party: Party | None) -> Anchor:
        """What the verify routes vouch for, for this caller."""
        assert party is not None
        service = self.service

        def readable(revision: Any) -> bool:
            policy = service.policy(revision.table)
            try:
                return service.readable(party, policy, revision)
            except ApiError:
                return False

        return Anchor(self.ledger, self.vkey, party.role != "dealer", readable)

    async def _notifier(self, stop: asyncio.Event) -> None:
        """Scan the journal into the outbox and deliver what is due, until ``stop``."""
        interval = self.config.webhooks.scan_interval
        assert self._wake is not None
        loop = asyncio.get_running_loop()
        checkpointed = loop.time()
        run = partial(anyio.to_thread.run_sync, limiter=self._background)
        while not stop.is_set():
            due = []
            try:
                if loop.time() - checkpointed >= CHECKPOINT_INTERVAL:
                    checkpointed = loop.time()
                    await run(self.outbox.checkpoint)
                await run(self.outbox.scan)
                due = await run(self.outbox.claim)
                if due:
                    await asyncio.gather(*(run(self.outbox.attempt, d) for d in due))
            except Exception:
                log.exception("notifications: scan or delivery failed; retrying")
            if not due:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=interval)


def create_app(ledger_path: str, config: ServerConfig) -> Starlette:
    """The ASGI app over the ledger at ``ledger_path``. Raises ``LedgerError`` if the ledger
    cannot be opened."""
    return Server(ledger_path, config).app()
