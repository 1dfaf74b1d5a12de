"""HTTP plumbing shared by every resource module: answers, errors, and strict input reading.

Input is read one canonical way, before anything is written:

- a path segment is percent-decoded from the raw path as UTF-8, strictly (``%FF`` or an encoded
  surrogate is a 400, never a replacement character), and so is the query string;
- a document key is 1..1024 characters of Unicode text in NFC, without control, surrogate,
  private-use or unassigned characters (:func:`check_key`);
- an integer parameter is ASCII digits only (``isdigit()`` accepts ``²``);
- a JSON body is read by the JSON → Ion rule with exact decimals, refusing numbers outside the
  ledger's range (:func:`parse_json`), nesting deeper than 64 levels, bodies over the size cap
  and bodies that do not arrive within the read timeout.

Error bodies are ``{"message", "reason", ...}``, ASCII, and never echo the request: a message is
built from field names and limits, and cut at :data:`MAX_MESSAGE` characters in any case.
"""

from __future__ import annotations

import asyncio
import json
import unicodedata
import urllib.parse
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from auditor import formats, jsonout

MAX_DEPTH = 64
MAX_KEY_LENGTH = 1024  # the ledger's
MAX_DECIMAL_EXPONENT = 6111  # the ledger's (amazon.ion's C extension mis-writes beyond it)
MAX_NUMBER_DIGITS = 1000
MAX_MESSAGE = 300
_REFUSED_CATEGORIES = {"Cc", "Cs", "Co", "Cn"}


class ApiError(Exception):
    """An HTTP error answer: ``status``, ``reason`` (machine-readable), message, extra fields."""

    def __init__(
        self,
        status: int,
        reason: str,
        message: str,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.headers = dict(headers or {})
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"message": self.message, "reason": self.reason, **self.extra}


def not_found(what: str) -> ApiError:
    """The one answer for "no such document or revision" and "not one you may read"."""
    return ApiError(404, "not-found", f"{what}: not found")


# -- answers -----------------------------------------------------------------------------------
def json_response(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(jsonout.to_json(value), status, headers, media_type="application/json")


def text_json_response(
    value: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """For bodies that hold only strings and ints (receipt bundles, digests, proofs: their
    ledger data is already Ion text or base64), where the standard encoder loses nothing."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return Response(text, status, headers, media_type="application/json")


def error_response(
    body: dict[str, Any], status: int, headers: dict[str, str] | None = None
) -> Response:
    """An error body: ASCII JSON (text from a request, escaped, cannot break the response's
    UTF-8), its message cut at MAX_MESSAGE characters."""
    body = dict(body)
    message = str(body.get("message", ""))
    if len(message) > MAX_MESSAGE:
        body["message"] = message[: MAX_MESSAGE - 3] + "..."
    text = json.dumps(body, ensure_ascii=True, default=str, separators=(",", ":"))
    return Response(text, status, headers, media_type="application/json")


# -- paths, queries, keys ----------------------------------------------------------------------
def decode_component(raw: str, what: str) -> str:
    """Percent-decode one path segment or query value as strict UTF-8 (400 otherwise)."""
    try:
        return urllib.parse.unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError as e:
        raise ApiError(400, "encoding", f"{what}: not UTF-8 after percent-decoding") from e


def raw_segments(request: Request) -> list[str]:
    """The request path's segments, still percent-encoded (from the raw path)."""
    raw: bytes = request.scope.get("raw_path") or request.scope["path"].encode("utf-8")
    text = raw.decode("latin-1").split("?", 1)[0]
    return text.split("/")[1:]


def path_param(request: Request, name: str) -> str:
    """A ``{name}`` path parameter decoded from the raw path (one canonical decoding)."""
    template = request.scope["qldb_route"]
    segments = raw_segments(request)
    for index, part in enumerate(template.split("/")[1:]):
        if part in (f"{{{name}}}", f"{{{name}:path}}"):
            if part.endswith(":path}"):
                return "/".join(decode_component(s, name) for s in segments[index:])
            return decode_component(segments[index], name)
    raise AssertionError(f"{template} has no {{{name}}}")  # pragma: no cover


def query(request: Request) -> dict[str, str]:
    """The query string, strictly decoded; a name given twice is a 400."""
    raw = request.scope.get("query_string", b"").decode("latin-1")
    out: dict[str, str] = {}
    for part in raw.split("&") if raw else []:
        name, _, value = part.partition("=")
        name = decode_component(name.replace("+", " "), "query parameter name")
        if name in out:
            raise ApiError(400, "parameter", f"{name[:40]}: given more than once")
        out[name] = decode_component(value.replace("+", " "), name[:40])
    return out


def required(params: Mapping[str, str], *names: str) -> list[str]:
    missing = [n for n in names if not params.get(n)]
    if missing:
        raise ApiError(
            400,
            "missing-parameter",
            f"Missing required request parameters: [{', '.join(missing)}]",
        )
    return [params[n] for n in names]


def integer(text: str | None, name: str, default: int | None = None) -> int | None:
    """A non-negative integer of ASCII digits (at most 18), or ``default`` if absent."""
    if text is None or text == "":
        return default
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise ApiError(400, "parameter", f"{name}: expected an integer >= 0 (ASCII digits)")
    return int(text)


def check_key(key: Any, what: str = "key") -> str:
    """A document key as the API accepts it (see the module docstring); 400 otherwise."""
    if not isinstance(key, str) or not key:
        raise ApiError(400, "key", f"{what}: expected a non-empty string")
    if len(key) > MAX_KEY_LENGTH:
        raise ApiError(400, "key", f"{what}: longer than {MAX_KEY_LENGTH} characters")
    for char in key:
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            raise ApiError(
                400, "key", f"{what}: contains U+{ord(char):04X} (control or non-character)"
            )
    if not unicodedata.is_normalized("NFC", key):
        raise ApiError(400, "key", f"{what}: not in Unicode normal form C (NFC)")
    return key


def document_path(table: str, key: str) -> str:
    """The /v1 path of a document, percent-encoded (a key may hold any Unicode)."""
    return f"/v1/tables/{table}/documents/{urllib.parse.quote(key, safe='')}"


# -- bodies ------------------------------------------------------------------------------------
async def read_body(request: Request, cap: int, timeout: float) -> bytes:
    """The body, at most ``cap`` bytes (413), arriving within ``timeout`` seconds (408)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):
            raise ApiError(400, "content-length", "Content-Length: not a number")
        if int(declared) > cap:
            raise ApiError(413, "too-large", f"request body: over {cap} bytes")
    chunks: list[bytes] = []
    total = 0

    async def receive() -> None:
        nonlocal total
        async for chunk in request.stream():
            total += len(chunk)
            if total > cap:
                raise ApiError(413, "too-large", f"request body: over {cap} bytes")
            chunks.append(chunk)

    try:
        await asyncio.wait_for(receive(), timeout)
    except TimeoutError as e:
        raise ApiError(
            408, "body-timeout", f"request body: not received within {timeout:g} s",
            {"Connection": "close"},
        ) from e  # fmt: skip
    return b"".join(chunks)


def _number(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except (InvalidOperation, ValueError, ArithmeticError) as e:
        raise _NumberError("a number out of range") from e
    exponent = value.as_tuple().exponent
    digits = len(value.as_tuple().digits)
    if not isinstance(exponent, int) or abs(exponent) > MAX_DECIMAL_EXPONENT:
        raise _NumberError(f"a number with an exponent beyond ±{MAX_DECIMAL_EXPONENT}")
    if digits > MAX_NUMBER_DIGITS:
        raise _NumberError(f"a number with more than {MAX_NUMBER_DIGITS} digits")
    return value


class _NumberError(ValueError):
    pass


def nesting(data: bytes) -> int:
    """The deepest bracket nesting of JSON (or Ion) text, strings skipped: checked before any
    recursive parser sees the bytes."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in b"[{(":
            depth += 1
            deepest = max(deepest, depth)
        elif byte in b"]})":
            depth -= 1
    return deepest


def parse_json(body: bytes, what: str = "request body") -> Any:
    """The JSON → Ion rule (exact decimals, ints stay ints); 400 on anything else."""
    if not body.strip():
        raise ApiError(400, "empty", f"{what}: empty")
    if nesting(body) > MAX_DEPTH:
        raise ApiError(400, "too-deep", f"{what}: nested deeper than {MAX_DEPTH} levels")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ApiError(400, "not-utf8", f"{what}: not UTF-8") from e
    try:
        return json.loads(
            text,
            parse_float=_number,
            parse_int=_integer,
            object_pairs_hook=formats.reject_duplicate_keys,
            parse_constant=formats.reject_json_constant,
        )
    except _NumberError as e:
        raise ApiError(400, "number", f"{what}: {e}") from e
    except RecursionError as e:  # pragma: no cover - nesting() refused it first
        raise ApiError(400, "too-deep", f"{what}: nested too deeply") from e
    except ValueError as e:
        raise ApiError(400, "not-json", f"{what}: not valid JSON ({_json_problem(e)})") from e


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_NUMBER_DIGITS:
        raise _NumberError(f"an integer with more than {MAX_NUMBER_DIGITS} digits")
    return int(text)


def _json_problem(error: ValueError) -> str:
    """The parser's complaint without the input: its kind and position only."""
    if isinstance(error, json.JSONDecodeError):
        return f"{error.msg} at line {error.lineno} column {error.colno}"
    text = str(error)
    return "duplicate key" if text.startswith("duplicate key") else text[:60]
