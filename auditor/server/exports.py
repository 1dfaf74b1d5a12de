"""/v1 exports: an auditor exports the journal (QLDB's layout) into the server's export
directory, lists completed exports and downloads their files. Manifests are served with the
server's own directory taken out of them (keys relative to the export, ``prefix`` empty), so no
server path leaves the server; ``qldb-audit verify export`` reads them as they are."""

from __future__ import annotations

import json
import os
import re
from functools import partial
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import FileResponse, Response

from auditor.export import ExportError, export
from auditor.server import web
from auditor.server.config import Party
from auditor.server.routes import AUDITOR, STRING, RouteSpec, in_path, json_body, ok, ref
from auditor.server.web import ApiError, json_response

if TYPE_CHECKING:
    from auditor.server.app import Server

_EXPORT_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_OPTIONS = {"format", "since", "until", "maxBlocksPerObject"}


async def create_export(server: Server, request: Request, party: Party | None) -> Response:
    raw = await server.body(request)
    options = web.parse_json(raw) if raw.strip() else {}
    if not isinstance(options, dict) or set(options) - _OPTIONS:
        raise ApiError(
            400, "export", 'expected {"format"?, "since"?, "until"?, "maxBlocksPerObject"?}'
        )
    fmt = options.get("format", "ion_text")
    per_object = options.get("maxBlocksPerObject", 1000)
    for name in ("since", "until"):
        if options.get(name) is not None and not isinstance(options[name], str):
            raise ApiError(400, "export", f"{name}: expected an ISO-8601 string")
    if fmt not in ("ion_text", "ion_binary", "json"):
        raise ApiError(400, "export", "format: expected ion_text, ion_binary or json")
    if isinstance(per_object, bool) or not isinstance(per_object, int) or per_object < 1:
        raise ApiError(400, "export", "maxBlocksPerObject: expected an integer >= 1")
    os.makedirs(server.export_dir, exist_ok=True)
    try:
        result = await server.read(
            party,
            partial(export, max_blocks_per_object=per_object),
            server.ledger,
            server.export_dir,
            fmt,
            options.get("since"),
            options.get("until"),
        )
    except ExportError as e:
        raise ApiError(400, e.reason, _export_problem(e, server.export_dir)) from e
    summary = await server.read(party, _summary, server.export_dir, result.export_id)
    summary.update(
        {
            "format": result.output_format,
            "firstSequenceNo": result.first_seq,
            "lastSequenceNo": result.last_seq,
            "blocks": result.block_count,
        }
    )
    return json_response(summary, 201, {"Location": f"/v1/exports/{result.export_id}"})


def _export_problem(error: ExportError, directory: str) -> str:
    """The export's complaint without the server's paths in it."""
    return str(error).replace(os.path.abspath(directory), "<exports>").replace(directory, "")


def _files(root: str, export_id: str) -> list[str]:
    if not _EXPORT_ID.fullmatch(export_id):
        raise ApiError(404, "no-export", "no such export")
    names = []
    try:
        for name in os.listdir(root):
            if name.startswith(export_id + "."):
                names.append(name)
        for name in os.listdir(os.path.join(root, export_id)):
            names.append(f"{export_id}/{name}")
    except FileNotFoundError:
        pass
    if not any(n.endswith(".completed.manifest") for n in names):
        raise ApiError(404, "no-export", f"export {export_id}: no completed export")
    return sorted(n for n in names if not n.rsplit("/", 1)[-1].startswith(".") and ".tmp" not in n)


def _summary(root: str, export_id: str) -> dict[str, Any]:
    files = _files(root, export_id)
    return {
        "exportId": export_id,
        "files": files,
        "links": [f"/v1/exports/{export_id}/files/{name}" for name in files],
    }


async def list_exports(server: Server, request: Request, party: Party | None) -> Response:
    root = server.export_dir

    def find() -> list[str]:
        try:
            names = os.listdir(root)
        except FileNotFoundError:
            return []
        return sorted({n.split(".", 1)[0] for n in names if n.endswith(".completed.manifest")})

    return json_response({"exports": await server.read(party, find)})


async def get_export(server: Server, request: Request, party: Party | None) -> Response:
    export_id = web.path_param(request, "exportId")
    return json_response(await server.read(party, _summary, server.export_dir, export_id))


async def export_file(server: Server, request: Request, party: Party | None) -> Response:
    export_id, name = web.path_param(request, "exportId"), web.path_param(request, "name")
    files = await server.read(party, _files, server.export_dir, export_id)
    if name not in files:
        raise ApiError(404, "no-file", f"export {export_id}: no such file")
    path = os.path.join(server.export_dir, name)
    media = "application/json" if name.endswith(".json") else "application/octet-stream"
    if name.endswith(".manifest"):
        return Response(await server.read(party, _relative_manifest, server.export_dir, path),
                        media_type=media)  # fmt: skip
    return FileResponse(path, media_type=media)


def _relative_manifest(root: str, path: str) -> bytes:
    """A manifest with this server's export directory taken out (see the module docstring)."""
    with open(path, "rb") as f:
        data = f.read()
    prefix = os.path.abspath(root).rstrip(os.sep) + os.sep
    for form in (prefix, json.dumps(prefix)[1:-1]):
        data = data.replace(form.encode("utf-8"), b"")
    return data


_EXPORT = {
    "type": "object",
    "required": ["exportId", "files", "links"],
    "properties": {
        "exportId": STRING,
        "files": {"type": "array", "items": STRING},
        "links": {"type": "array", "items": STRING},
        "format": STRING,
        "firstSequenceNo": {"type": "integer"},
        "lastSequenceNo": {"type": "integer"},
        "blocks": {"type": "integer"},
    },
}
_OPTIONS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "format": {"enum": ["ion_text", "ion_binary", "json"]},
        "since": STRING,
        "until": STRING,
        "maxBlocksPerObject": {"type": "integer", "minimum": 1},
    },
}
_FILE = {
    "description": "The file",
    "content": {"application/json": {"schema": {}}, "application/octet-stream": {"schema": {}}},
}

ROUTES: tuple[RouteSpec, ...] = (
    RouteSpec(
        "POST", "/v1/exports", AUDITOR, create_export, "Export the journal",
        body=json_body(_OPTIONS_SCHEMA, required=False),
        responses={"201": ok(_EXPORT, "Exported")}, errors=(400,),
    ),
    RouteSpec(
        "GET", "/v1/exports", AUDITOR, list_exports, "Completed exports",
        responses={"200": ok({"type": "object", "required": ["exports"]})},
    ),
    RouteSpec(
        "GET", "/v1/exports/{exportId}", AUDITOR, get_export, "One export's files",
        parameters=(in_path("exportId"),), responses={"200": ok(ref("Export"))}, errors=(404,),
    ),
    RouteSpec(
        "GET", "/v1/exports/{exportId}/files/{name:path}", AUDITOR, export_file,
        "One file of an export",
        parameters=(in_path("exportId"), in_path("name")), responses={"200": _FILE},
        errors=(404,),
    ),
)  # fmt: skip
EXPORT_SCHEMA = _EXPORT
