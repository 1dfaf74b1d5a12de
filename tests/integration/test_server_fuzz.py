"""A property-based fuzz of every route of the route table against a real server process, with
Hypothesis strategies of our own for what schemathesis does not aim at: document keys (any
Unicode, control characters, raw percent-encoded bytes that are not UTF-8), numbers (huge
exponents, many digits, negative zero), nesting (thousands of levels) and encodings (UTF-16,
a BOM, Latin-1, truncated and binary bodies), for every role.

For every case: no 5xx; a JSON answer that the OpenAPI document describes for that status and
that conforms to its schema; and no write committed behind a non-2xx answer (the ledger's tip
is read after each case). A fixed seed (``derandomize``) and a bounded number of examples keep
the run short: about 20 s on the 2-core machine.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from auditor.ledger import Ledger
from auditor.server.app import ROUTES
from auditor.server.client import Client
from tests.integration.server_support import ServerProcess, invoice, parties, write_config

EXAMPLES = 150


@dataclass
class Target:
    server: ServerProcess
    ledger: Path
    clients: dict[str, Client]
    document: dict[str, Any]

    def tip(self) -> int:
        ledger = Ledger.open(str(self.ledger))
        try:
            return ledger.tip()
        finally:
            ledger.close()


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    root = tmp_path_factory.mktemp("fuzz")
    Ledger.create(str(root / "ledger.db"), "carmaker", tables=["invoices"]).close()
    who = parties()
    config = write_config(root / "server.toml", who)
    with ServerProcess(root / "ledger.db", config) as server:
        clients = {role: server.client(party) for role, party in who.items()}
        clients["anonymous"] = Client(server.url)
        clients["manufacturer"].put_values([{"key": "INV01", "value": invoice()}])
        document = clients["anonymous"].call("GET", "/openapi.json")
        yield Target(server, root / "ledger.db", clients, document)
        for client in clients.values():
            client.close()
        assert not [line for line in server.log if "Traceback" in line]


# -- strategies --------------------------------------------------------------------------------
_KEY_TEXT = st.text(
    st.characters(codec="utf-8", categories=["L", "N", "P", "S", "Z", "C", "M"]), max_size=40
)
keys = st.one_of(
    st.sampled_from(["INV01", "INV-€-1", "e\u0301", "x" * 1025, "A/B", ".", "..", "%", "a b"]),
    _KEY_TEXT,
).map(lambda k: urllib.parse.quote(k, safe=""))
raw_keys = st.binary(min_size=1, max_size=12).map(lambda b: "".join(f"%{x:02X}" for x in b))
numbers = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.tuples(st.integers(0, 10**6), st.integers(-(10**20), 10**20)).map(
        lambda t: f"{t[0]}e{t[1]}"
    ),
    st.sampled_from(["-0", "0.000", "1E+6112", "1e-6112", "1" + "0" * 1200, "1.5e99999999999999",
                     "89000.50", "2021.0", "-1", "1e6111"]),
)  # fmt: skip


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


@st.composite
def documents(draw: st.DrawFn) -> str:
    """Invoice-shaped JSON text with one field replaced by a number, a key, or deep nesting."""
    base = invoice(carInfo={"model": "m", "make": "k", "year": 2021, "unitPrice": 1})
    text = _json(base)
    choice = draw(st.sampled_from(["number", "field", "deep", "status", "payment", "plain"]))
    if choice == "number":
        text = text.replace('"unitPrice": 1', f'"unitPrice": {draw(numbers)}')
    elif choice == "field":
        text = text[:-1] + f", {_json(draw(_KEY_TEXT))}: {draw(numbers)}}}"
    elif choice == "deep":
        depth = draw(st.integers(1, 3000))
        text = "[" * depth + "1" + "]" * depth
    elif choice == "status":
        status = draw(st.sampled_from(["PENDING", "TRANSFERRED", "CONFIRMED", "PAID", ""]))
        text = text.replace('"PENDING"', _json(status))
    elif choice == "payment":
        payment = draw(st.dictionaries(_KEY_TEXT, st.text(max_size=20), max_size=4))
        text = text[:-1] + f', "payment": {_json(payment)}}}'
    return text


@st.composite
def bodies(draw: st.DrawFn, path: str) -> bytes:
    doc = draw(documents())
    shape = draw(st.sampled_from(["batch", "single", "keyed"]))
    if path in ("/", "/v1/tables/{table}/documents") or shape == "batch":
        text = f'[{{"key": {_json(urllib.parse.unquote(draw(keys)))}, "value": {doc}}}]'
    elif shape == "keyed":
        text = f'{{"BlockAddress": {{"IonText": {_json(draw(st.text(max_size=30)))}}}, "x": {doc}}}'
    else:
        text = doc
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8", "utf-16", "bom", "latin-1",
                                     "truncated", "binary"]))  # fmt: skip
    if encoding == "utf-16":
        return text.encode("utf-16")
    if encoding == "bom":
        return b"\xef\xbb\xbf" + text.encode()
    if encoding == "latin-1":
        return text.encode("latin-1", errors="replace")
    if encoding == "truncated":
        data = text.encode()
        return data[: draw(st.integers(0, max(0, len(data) - 1)))]
    if encoding == "binary":
        return draw(st.binary(max_size=64))
    return text.encode("utf-8", errors="surrogatepass")


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, str, bytes | None, dict[str, str]]:
    spec = draw(st.sampled_from([r for r in ROUTES if r.path != "/v1/events"]))
    role = draw(st.sampled_from(["manufacturer", "dealer", "other_dealer", "auditor", "anonymous"]))
    path = spec.path
    for name in ("table", "key", "version", "documentId", "txId", "exportId", "name:path", "id"):
        if "{" + name + "}" in path:
            if name == "table":
                value = draw(st.sampled_from(["invoices", "nope", "%FF"]))
            elif name in ("version", "id"):
                value = draw(st.one_of(numbers, st.sampled_from(["%C2%B2", "0", "%00"])))
            else:
                value = draw(st.one_of(keys, raw_keys))
            path = path.replace("{" + name + "}", value)
    params = []
    for parameter in spec.parameters:
        if parameter["in"] == "query" and draw(st.booleans()):
            value = draw(st.one_of(keys, raw_keys, numbers, st.sampled_from(["%C2%B2", ""])))
            params.append(f"{parameter['name']}={value}")
    if params:
        path += "?" + "&".join(params)
    headers = {}
    if draw(st.booleans()):
        headers["If-Match"] = draw(st.sampled_from(['"x.0"', "*", 'W/"a"', "\u00e9"]))
    body = draw(bodies(spec.path)) if spec.body is not None or draw(st.booleans()) else None
    return role, spec.method, path, body, headers


# -- the property ------------------------------------------------------------------------------
def _response_schema(document: dict[str, Any], method: str, path: str, status: int) -> Any:
    """The schema the document gives this answer (None: described without a JSON body)."""
    template = next(
        r.path.replace("{name:path}", "{name}")
        for r in ROUTES
        if r.method == method and _matches(r.path, path)
    )
    responses = document["paths"][template][method.lower()]["responses"]
    assert str(status) in responses, f"{method} {template}: {status} is not documented"
    content = responses[str(status)].get("content", {})
    schema = content.get("application/json", {}).get("schema")
    return None if schema is None else {**schema, "components": document["components"]}


def _matches(template: str, path: str) -> bool:
    want = template.split("/")
    have = path.split("?", 1)[0].split("/")
    if template.endswith("{name:path}"):
        have = [*have[: len(want) - 1], "/".join(have[len(want) - 1 :])]
    return len(want) == len(have) and all(
        w.startswith("{") or w == h for w, h in zip(want, have, strict=True)
    )


@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(case=requests())
def test_no_5xx_no_schema_violation_no_write_behind_a_refusal(
    target: Target, case: tuple[str, str, str, bytes | None, dict[str, str]]
) -> None:
    role, method, path, body, headers = case
    before = target.tip()
    response = target.clients[role].request(method, path, raw=body, headers=headers)
    label = f"{role} {method} {path[:120]} {(body or b'')[:80]!r}"
    assert response.status < 500, f"{label}: {response.status} {response.text[:300]}"
    if not 200 <= response.status < 300:
        assert target.tip() == before, f"{label}: {response.status} but the ledger moved"
    if response.headers.get("content-type", "").startswith("application/json"):
        value = json.loads(response.body)
        schema = _response_schema(target.document, method, path, response.status)
        if schema is not None:
            errors = sorted(Draft202012Validator(schema).iter_errors(value), key=str)
            assert not errors, f"{label}: {response.status}: {errors[0].message[:300]}"
