"""A tiny client for the qldb-audit REST API, and a webhook receiver that checks signatures.

Standard library only (``http.client``, ``http.server``, ``hmac``), so a demo or a partner's
script can copy this one file. JSON is read with ``parse_float=Decimal``: amounts keep their
exact digits.

Webhook signatures (the recipe in docs/rest-api.md): every delivery carries

    X-Qldb-Audit-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>

A receiver recomputes the HMAC over the raw body bytes with its secret, compares in constant
time, refuses a timestamp more than 5 minutes away from its clock, and ignores an event id it
has already seen (deliveries are at least once). :func:`verify_signature` does exactly that.

Example::

    api = Client("http://127.0.0.1:8080", api_key)
    api.put_values([{"key": "INV01", "value": invoice}])       # the AWS sample's POST /
    doc, etag = api.get_document("invoices", "INV01")
    api.patch_document("invoices", "INV01", {"paymentStatus": "TRANSFERRED"}, if_match=etag)
    with WebhookReceiver(secret) as hooks:                      # hooks.url -> the config
        ...
        event = hooks.wait_for(1)[0]
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import threading
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SIGNATURE_HEADER = "X-Qldb-Audit-Signature"
EVENT_HEADER = "X-Qldb-Audit-Event"
TOLERANCE_SECONDS = 300


def loads(data: bytes | str) -> Any:
    """JSON with exact decimals (``89000.50`` → ``Decimal('89000.50')``)."""
    return json.loads(data, parse_float=Decimal)


def dumps(value: Any) -> bytes:
    """JSON bytes; ``Decimal`` values are written with their exact digits (never via float)."""
    return "".join(_encode(value)).encode("utf-8")


def _encode(value: Any) -> Iterator[str]:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value}: not a JSON number")
        yield str(value).replace("E", "e")
    elif isinstance(value, float):
        raise TypeError("a float would lose digits: use Decimal")
    elif isinstance(value, Mapping):
        yield "{"
        for i, (k, v) in enumerate(value.items()):
            yield ("," if i else "") + json.dumps(str(k), ensure_ascii=False) + ":"
            yield from _encode(v)
        yield "}"
    elif isinstance(value, list | tuple):
        yield "["
        for i, v in enumerate(value):
            if i:
                yield ","
            yield from _encode(v)
        yield "]"
    else:
        yield json.dumps(value, ensure_ascii=False)


# -- webhook signatures --------------------------------------------------------------------
class SignatureError(Exception):
    """A webhook delivery whose signature or timestamp does not check out."""


def sign(secret: str | bytes, timestamp: int, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp``."""
    key = secret.encode() if isinstance(secret, str) else secret
    mac = hmac.new(key, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(
    secret: str | bytes,
    header: str | None,
    body: bytes,
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> int:
    """Check a delivery's signature header against the raw ``body``; returns its timestamp.
    Raises :class:`SignatureError` (missing or malformed header, stale timestamp, bad MAC)."""
    if not header:
        raise SignatureError(f"{SIGNATURE_HEADER}: missing")
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        fields.setdefault(name, []).append(value)
    try:
        timestamp = int(fields["t"][0])
    except (KeyError, ValueError) as e:
        raise SignatureError(f"{SIGNATURE_HEADER}: no valid t=<unix seconds>") from e
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise SignatureError(
            f"{SIGNATURE_HEADER}: timestamp {timestamp} is more than {tolerance} s from now"
        )
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    if not any(hmac.compare_digest(expected, given) for given in fields.get("v1", [])):
        raise SignatureError(f"{SIGNATURE_HEADER}: the HMAC does not match the body")
    return timestamp


# -- the API client ------------------------------------------------------------------------
class ApiError(Exception):
    """A response outside 2xx: ``status``, the body's ``reason`` and ``message``."""

    def __init__(self, status: int, body: Any, headers: Mapping[str, str]) -> None:
        self.status = status
        self.body = body
        self.headers = dict(headers)
        self.reason = body.get("reason") if isinstance(body, dict) else None
        message = body.get("message") if isinstance(body, dict) else str(body)
        super().__init__(f"HTTP {status}: {message}")


class Response:
    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status = status
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.body = body

    def json(self) -> Any:
        return loads(self.body) if self.body else None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


class Client:
    """A blocking client with one keep-alive connection (not thread-safe: one per thread)."""

    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 10.0) -> None:
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{base_url}: expected http://host:port")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._conn = cls(self._host, self._port, timeout=self.timeout)
        return self._conn

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        raw: bytes | None = None,
    ) -> Response:
        """Send one request; returns the response whatever its status (see :meth:`call`)."""
        url = self._prefix + path
        if params:
            query = {k: v for k, v in params.items() if v is not None}
            url += "?" + urllib.parse.urlencode(query)
        sent = dict(headers or {})
        if self.api_key is not None:
            sent.setdefault("Authorization", f"Bearer {self.api_key}")
        data = raw
        if data is None and body is not None:
            data = dumps(body)
            sent.setdefault("Content-Type", "application/json")
        for attempt in (1, 2):  # a kept-alive connection the server closed: retry once
            conn = self._connection()
            try:
                conn.request(method, url, body=data, headers=sent)
                response = conn.getresponse()
                payload = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if attempt == 2:
                    raise
                continue
            if response.getheader("connection", "").lower() == "close":
                self.close()
            return Response(response.status, dict(response.getheaders()), payload)
        raise AssertionError("unreachable")  # pragma: no cover

    def call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        """:meth:`request`, then the JSON body; raises :class:`ApiError` outside 2xx."""
        response = self.request(method, path, body, **kwargs)
        if not 200 <= response.status < 300:
            try:
                detail = response.json()
            except ValueError:
                detail = response.text
            raise ApiError(response.status, detail, response.headers)
        content_type = response.headers.get("content-type", "")
        return response.json() if content_type.startswith("application/json") else response.text

    # -- the AWS sample's routes -----------------------------------------------------------
    def put_values(self, items: list[Mapping[str, Any]]) -> Any:
        """``POST /``: ``[{key, value}]`` in one transaction → ``{documentId, txId}`` (one
        item) or a list of them."""
        return self.call("POST", "/", items)

    def get_values(self, keys: list[str]) -> Any:
        return self.call("GET", "/", params={"keys": ",".join(keys)})

    def receipt_by_key(self, key: str) -> Any:
        return self.call("GET", "/receipt-by-key", params={"key": key})

    def receipt_by_doc(self, document_id: str, tx_id: str) -> Any:
        return self.call(
            "GET", "/receipt-by-doc", params={"documentId": document_id, "txId": tx_id}
        )

    def verify_receipt(self, receipt: Mapping[str, Any]) -> Any:
        return self.call("POST", "/verify-receipt", receipt)

    def retrieve_doc_revision(self, receipt: Mapping[str, Any]) -> Any:
        return self.call("POST", "/retrieve-doc-revision", receipt)

    def verify_doc_revision(self, revision: Mapping[str, Any]) -> Any:
        return self.call("POST", "/verify-doc-revision", revision)

    def history(self, key: str, since: str | None = None, until: str | None = None) -> Any:
        return self.call("GET", "/history", params={"key": key, "from": since, "to": until})

    # -- /v1 -------------------------------------------------------------------------------
    @staticmethod
    def _doc_path(table: str, key: str) -> str:
        return f"/v1/tables/{urllib.parse.quote(table, safe='')}/documents/" + urllib.parse.quote(
            key, safe=""
        )

    def get_document(self, table: str, key: str) -> tuple[Any, str]:
        """The document and its ETag (pass it back as ``if_match``)."""
        response = self.request("GET", self._doc_path(table, key))
        if response.status != 200:
            raise ApiError(response.status, response.json(), response.headers)
        return response.json(), response.headers["etag"]

    def put_document(self, table: str, key: str, value: Any, if_match: str | None = None) -> Any:
        headers = {"If-Match": if_match} if if_match else {}
        return self.call("PUT", self._doc_path(table, key), value, headers=headers)

    def patch_document(
        self, table: str, key: str, patch: Mapping[str, Any], if_match: str | None = None
    ) -> Any:
        headers = {"Content-Type": "application/merge-patch+json"}
        if if_match:
            headers["If-Match"] = if_match
        return self.call("PATCH", self._doc_path(table, key), patch, headers=headers)

    def receipt(self, table: str, key: str, version: int | None = None) -> Any:
        """The receipt bundle (verify offline with ``qldb-audit verify bundle``)."""
        return self.call(
            "GET", self._doc_path(table, key) + "/receipt", params={"version": version}
        )

    def digest(self, tip: int | None = None) -> Any:
        return self.call("GET", "/v1/digest", params={"tip": tip})

    def consistency(self, old_tip: int, new_tip: int | None = None) -> Any:
        return self.call("GET", "/v1/consistency", params={"from": old_tip, "to": new_tip})

    def events(
        self, since: int | None = None, limit: int | None = None, timeout: float | None = None
    ) -> Iterator[dict[str, Any]]:
        """Server-Sent Events from ``/v1/events``, each ``{id, event, data}`` (``data``
        parsed). The stream is open when this returns (events committed from then on are in
        it); iterate to read them. Uses its own connection; ends when the server closes it."""
        params = {"since": since, "limit": limit, "timeout": timeout}
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        conn = cls(self._host, self._port, timeout=(timeout or 60) + self.timeout)
        headers = {"Accept": "text/event-stream"}
        if self.api_key is not None:
            headers["Authorization"] = f"Bearer {self.api_key}"
        try:
            conn.request("GET", f"{self._prefix}/v1/events?{query}", headers=headers)
            response = conn.getresponse()
            if response.status != 200:
                raise ApiError(response.status, loads(response.read() or b"null"), {})
            first = response.readline()  # the server's greeting: the stream is live
        except BaseException:
            conn.close()
            raise
        return self._read_events(conn, response, first)

    @staticmethod
    def _read_events(
        conn: http.client.HTTPConnection, response: http.client.HTTPResponse, line: bytes
    ) -> Iterator[dict[str, Any]]:
        try:
            event: dict[str, Any] = {}
            while line:
                text = line.decode("utf-8").rstrip("\r\n")
                if not text:
                    if "data" in event:
                        event["data"] = loads(event["data"])
                        yield event
                    event = {}
                elif not text.startswith(":"):
                    name, _, value = text.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    event[name] = event.get(name, "") + ("\n" if name in event else "") + value
                line = response.readline()
        finally:
            conn.close()


# -- a webhook receiver --------------------------------------------------------------------
class WebhookReceiver:
    """An HTTP server on 127.0.0.1 that accepts signed deliveries (a context manager).

    Each delivery's signature is checked with ``secret`` (a bad one is answered 401 and kept
    in ``rejected``); good ones are answered 204 and kept in ``events`` once per event id
    (``deliveries`` counts every accepted POST, duplicates included). ``fail_next`` makes the
    next N deliveries fail with 503, to exercise the server's retries.
    """

    def __init__(self, secret: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.secret = secret
        self.events: list[dict[str, Any]] = []
        self.rejected: list[str] = []
        self.deliveries = 0
        self.fail_next = 0
        self._seen: set[str] = set()
        self._lock = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                status = receiver._receive(self.headers.get(SIGNATURE_HEADER), body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/hooks"

    def _receive(self, header: str | None, body: bytes) -> int:
        with self._lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                return 503
            try:
                verify_signature(self.secret, header, body)
                event = loads(body)
            except (SignatureError, ValueError) as e:
                self.rejected.append(str(e))
                return 401
            self.deliveries += 1
            if event.get("id") not in self._seen:
                self._seen.add(event.get("id"))
                self.events.append(event)
            self._lock.notify_all()
            return 204

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until ``count`` distinct events arrived (or ``timeout`` passed); returns them."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.events) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._lock.wait(left)
            return list(self.events)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
