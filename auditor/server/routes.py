"""The route table's parts: one :class:`RouteSpec` per operation, declared next to its handler
in the resource modules (documents.py, receipts.py, digests.py, exports.py, events.py,
sample.py, verify_routes.py). Each spec carries what the OpenAPI document says about the
operation (parameters, body, answers, error codes): openapi.py only assembles them, so the
routes and their description cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from auditor.server.config import Party, ServerConfig

if TYPE_CHECKING:
    from auditor.server.app import Server

Handler = Callable[["Server", Request, "Party | None"], Awaitable[Response]]

ALL = frozenset({"manufacturer", "dealer", "auditor"})
WRITERS = frozenset({"manufacturer", "dealer"})
MANUFACTURER = frozenset({"manufacturer"})
AUDITOR = frozenset({"auditor"})
PUBLIC: frozenset[str] = frozenset()

S = "#/components/schemas/"
STRING: dict[str, Any] = {"type": "string"}
INT: dict[str, Any] = {"type": "integer"}
NON_NEGATIVE: dict[str, Any] = {"type": "string", "pattern": "^[0-9]{1,18}$"}


@dataclass(frozen=True, slots=True)
class RouteSpec:
    method: str
    path: str
    roles: frozenset[str]  # empty: public
    handler: Handler
    summary: str
    parameters: tuple[dict[str, Any], ...] = ()
    body: dict[str, Any] | Callable[[ServerConfig], dict[str, Any]] | None = None  # requestBody
    responses: dict[str, Any] = field(default_factory=dict)  # the 2xx answers
    errors: tuple[int, ...] = ()  # besides 401/403/429 (protected) and 400/408/413/415

    @property
    def name(self) -> str:
        return self.handler.__name__


def ref(name: str) -> dict[str, Any]:
    return {"$ref": S + name}


def ok(schema: dict[str, Any], description: str = "OK", **extra: Any) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema}},
        **extra,
    }


def text_ok() -> dict[str, Any]:
    return {"description": "OK", "content": {"text/plain": {"schema": STRING}}}


def json_body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def in_query(
    name: str, required: bool = False, schema: dict[str, Any] | None = None, description: str = ""
) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "schema": schema or STRING,
        "description": description,
    }


def in_path(name: str, schema: dict[str, Any] | None = None, example: str = "") -> dict[str, Any]:
    out = {"name": name, "in": "path", "required": True, "schema": schema or STRING}
    if example:
        out["example"] = example
    return out


def in_header(name: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": False, "schema": schema or STRING}


TABLE = in_path("table", {"type": "string", "pattern": "^[A-Za-z0-9_]{1,128}$"}, "invoices")
KEY = in_path("key", {"type": "string", "minLength": 1, "maxLength": 1024}, "INV01")
PAGE = (
    in_query("limit", schema=NON_NEGATIVE, description="at most this many items (a page)"),
    in_query("cursor", description="the `next` of the previous page"),
)
