"""Every route × every role on a real server process: 401 without a valid key, 403 outside the
role, 404 for a dealer outside its own invoices (the same answer as for a missing one), and
the expected success inside it."""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from auditor.ledger import Ledger
from auditor.server.app import ROUTES
from auditor.server.client import Client
from tests.integration.server_support import (
    ABC,
    XYZ,
    Party,
    ServerProcess,
    invoice,
    parties,
    write_config,
)

ROLES = ("manufacturer", "dealer", "other_dealer", "auditor")


@dataclass
class World:
    server: ServerProcess
    who: dict[str, Party]
    clients: dict[str, Client]
    facts: dict[str, Any]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("access")
    Ledger.create(str(root / "ledger.db"), "carmaker", tables=["invoices", "notes"]).close()
    who = parties()
    config = write_config(root / "server.toml", who)
    with ServerProcess(root / "ledger.db", config) as server:
        clients = {role: server.client(party) for role, party in who.items()}
        maker = clients["manufacturer"]
        facts: dict[str, Any] = {}
        for key, bill_to in (("ABC-1", ABC), ("XYZ-1", XYZ)):
            facts[key] = maker.put_values([{"key": key, "value": invoice(bill_to)}])
            facts[key + ":receipt"] = maker.receipt_by_key(key)
            facts[key + ":history"] = maker.history(key)
            facts[key + ":bundle"] = maker.receipt("invoices", key)
        facts["export"] = clients["auditor"].call("POST", "/v1/exports", {"format": "json"})
        facts["consistency"] = maker.consistency(0)
        yield World(server, who, clients, facts)
        for client in clients.values():
            client.close()


@dataclass(frozen=True)
class Case:
    route: tuple[str, str]  # (method, path template) of ROUTES
    role: str
    expected: int
    request: Callable[[World], tuple[str, str, Any, dict[str, str]]]  # method, path, body, headers
    label: str = ""

    def __str__(self) -> str:
        label = f" {self.label}" if self.label else ""
        return f"{self.route[0]} {self.route[1]} as {self.role}{label}"


def _req(method: str, path: str, body: Any = None, **headers: str) -> Callable[[World], Any]:
    return lambda w: (method, path, body, headers)


def _doc(key: str, suffix: str = "") -> str:
    return f"/v1/tables/invoices/documents/{urllib.parse.quote(key)}{suffix}"


def _put(key: str, value: Any) -> Callable[[World], Any]:
    return _req("PUT", _doc(key), value)


def _patch(key: str, patch: Any) -> Callable[[World], Any]:
    return _req("PATCH", _doc(key), patch, **{"Content-Type": "application/merge-patch+json"})


def _cases() -> list[Case]:
    cases: list[Case] = []

    def each(
        route: tuple[str, str],
        expected: dict[str, int],
        request: Callable[[World], Any],
        label: str = "",
    ) -> None:
        for role, status in expected.items():
            cases.append(Case(route, role, status, request, label))

    read_abc = {"manufacturer": 200, "dealer": 200, "other_dealer": 404, "auditor": 200}
    sample_read_abc = {**read_abc, "other_dealer": 400}  # the sample's routes: 400 not found
    everyone = dict.fromkeys(ROLES, 200)
    auditor_only = {"manufacturer": 403, "dealer": 403, "other_dealer": 403, "auditor": 200}
    sample_write = {"manufacturer": 200, "dealer": 404, "other_dealer": 404, "auditor": 403}
    paid = invoice(paymentStatus="TRANSFERRED", payment={"bank": "DBS", "reference": "T-1"})

    # the sample's routes
    for role in ROLES:  # each role writes its own key: no interference
        cases.append(
            Case(
                ("POST", "/"),
                role,
                sample_write[role],
                _req("POST", "/", [{"key": f"NEW-{role}", "value": invoice()}]),
                "create",
            )
        )
    each(
        ("POST", "/"),
        {"dealer": 200, "other_dealer": 404, "auditor": 403},
        _req("POST", "/", [{"key": "ABC-1", "value": paid}]),
        "status and payment",
    )
    each(
        ("POST", "/"),
        {"dealer": 403},
        _req("POST", "/", [{"key": "ABC-1", "value": invoice(paymentStatus="TRANSFERRED")}]),
        "TRANSFERRED needs payment details",
    )
    each(
        ("POST", "/"),
        {"dealer": 403},
        _req("POST", "/", [{"key": "ABC-1", "value": invoice(quantity=99)}]),
        "other field",
    )
    each(("GET", "/"), sample_read_abc, _req("GET", "/?keys=ABC-1"))
    each(("GET", "/receipt-by-key"), sample_read_abc, _req("GET", "/receipt-by-key?key=ABC-1"))
    each(
        ("GET", "/receipt-by-doc"),
        sample_read_abc,
        lambda w: ("GET", "/receipt-by-doc?" + urllib.parse.urlencode(w.facts["ABC-1"]), None, {}),
    )
    each(
        ("POST", "/verify-receipt"),
        sample_read_abc,  # a receipt of another dealer's revision: not found, as a forged one
        lambda w: ("POST", "/verify-receipt", w.facts["ABC-1:receipt"], {}),
    )
    each(
        ("POST", "/retrieve-doc-revision"),
        sample_read_abc,
        lambda w: ("POST", "/retrieve-doc-revision", w.facts["ABC-1:receipt"], {}),
    )
    each(
        ("POST", "/verify-doc-revision"),
        everyone,
        lambda w: ("POST", "/verify-doc-revision", w.facts["ABC-1:history"][0], {}),
    )
    each(("GET", "/history"), sample_read_abc, _req("GET", "/history?key=ABC-1"))

    # /v1
    each(("GET", "/v1/whoami"), everyone, _req("GET", "/v1/whoami"))
    each(("GET", "/v1/tables"), everyone, _req("GET", "/v1/tables"))
    each(("GET", "/v1/tables/{table}/schema"), everyone, _req("GET", "/v1/tables/invoices/schema"))
    for role in ROLES:
        cases.append(
            Case(
                ("POST", "/v1/tables/{table}/documents"),
                role,
                sample_write[role],
                _req(
                    "POST",
                    "/v1/tables/invoices/documents",
                    [{"key": f"BATCH-{role}", "value": invoice()}],
                ),
                "create",
            )
        )
    each(
        ("POST", "/v1/tables/{table}/documents"),
        {"dealer": 200},
        _req(
            "POST",
            "/v1/tables/invoices/documents",
            [{"key": "ABC-1", "value": invoice(paymentStatus="PENDING")}],
        ),
        "back to PENDING, details withdrawn",
    )
    each(
        ("POST", "/v1/tables/{table}/documents"),
        {"manufacturer": 200, "dealer": 403},
        _req("POST", "/v1/tables/notes/documents", [{"key": "n1", "value": "a note"}]),
        "table without party field",
    )
    each(("GET", "/v1/tables/{table}/documents/{key}"), read_abc, _req("GET", _doc("ABC-1")))
    each(
        ("GET", "/v1/tables/{table}/documents/{key}"),
        {"dealer": 403},
        _req("GET", "/v1/tables/notes/documents/n1"),
        "table without party field",
    )
    for role in ROLES:
        cases.append(
            Case(
                ("PUT", "/v1/tables/{table}/documents/{key}"),
                role,
                {"manufacturer": 201, "auditor": 403}.get(role, 404),
                _put(f"PUT-{role}", invoice()),
                "create",
            )
        )
    each(
        ("PUT", "/v1/tables/{table}/documents/{key}"),
        {"dealer": 200, "other_dealer": 404},
        _put("ABC-1", paid),
        "status and payment",
    )
    each(
        ("PUT", "/v1/tables/{table}/documents/{key}"),
        {"dealer": 403, "manufacturer": 200},  # its own invoice: it may not re-bill it
        _put("PUT-manufacturer", invoice(XYZ)),
        "billTo",
    )
    each(
        ("PATCH", "/v1/tables/{table}/documents/{key}"),
        {"other_dealer": 403, "auditor": 403},
        _patch("XYZ-1", {"quantity": 12}),
        "quantity",
    )
    each(
        ("PATCH", "/v1/tables/{table}/documents/{key}"),
        {"other_dealer": 403},
        _patch("XYZ-1", {"payment": {"bank": "DBS"}}),
        "details without a transition",
    )
    each(
        ("PATCH", "/v1/tables/{table}/documents/{key}"),
        {"manufacturer": 200},
        _patch("XYZ-1", {"quantity": 11}),
        "quantity",
    )
    each(
        ("PATCH", "/v1/tables/{table}/documents/{key}"),
        {"other_dealer": 200},
        _patch(
            "XYZ-1",
            {"paymentStatus": "TRANSFERRED", "payment": {"bank": "DBS", "reference": "TRF-1"}},
        ),
        "status and payment",
    )
    each(
        ("PATCH", "/v1/tables/{table}/documents/{key}"),
        {"other_dealer": 403},
        _patch("XYZ-1", {"paymentStatus": "CONFIRMED"}),
        "CONFIRMED is the manufacturer's",
    )
    each(
        ("PATCH", "/v1/tables/{table}/documents/{key}"),
        {"dealer": 404},
        _patch("XYZ-1", {"paymentStatus": "TRANSFERRED"}),
        "another dealer's invoice",
    )
    for role in ROLES:
        cases.append(
            Case(
                ("DELETE", "/v1/tables/{table}/documents/{key}"),
                role,
                {"manufacturer": 200}.get(role, 403),
                _req("DELETE", _doc("NEW-manufacturer")),
            )
        )
    each(
        ("GET", "/v1/tables/{table}/documents/{key}/history"),
        read_abc,
        _req("GET", _doc("ABC-1", "/history")),
    )
    each(
        ("GET", "/v1/tables/{table}/documents/{key}/revisions/{version}"),
        read_abc,
        _req("GET", _doc("ABC-1", "/revisions/0")),
    )
    each(
        ("GET", "/v1/tables/{table}/documents/{key}/receipt"),
        read_abc,
        _req("GET", _doc("ABC-1", "/receipt")),
    )
    each(
        ("GET", "/v1/revisions/{documentId}/{txId}/receipt"),
        read_abc,
        lambda w: (
            "GET",
            f"/v1/revisions/{w.facts['ABC-1']['documentId']}/{w.facts['ABC-1']['txId']}/receipt",
            None,
            {},
        ),
    )
    each(("GET", "/v1/digest"), everyone, _req("GET", "/v1/digest"))
    each(("GET", "/v1/checkpoint"), everyone, _req("GET", "/v1/checkpoint"))
    each(("GET", "/v1/vkey"), everyone, _req("GET", "/v1/vkey"))
    each(("GET", "/v1/consistency"), everyone, _req("GET", "/v1/consistency?from=0&to=1"))
    each(
        ("POST", "/v1/verify/receipt"),
        read_abc,
        lambda w: ("POST", "/v1/verify/receipt", w.facts["ABC-1:receipt"], {}),
    )
    each(
        ("POST", "/v1/verify/bundle"),
        everyone,
        lambda w: ("POST", "/v1/verify/bundle", w.facts["ABC-1:bundle"], {}),
    )
    each(
        ("POST", "/v1/verify/revision"),
        everyone,
        lambda w: ("POST", "/v1/verify/revision", w.facts["ABC-1:history"][0], {}),
    )
    each(
        ("POST", "/v1/verify/consistency"),
        everyone,
        lambda w: ("POST", "/v1/verify/consistency", w.facts["consistency"], {}),
    )
    each(
        ("POST", "/v1/exports"),
        {**auditor_only, "auditor": 201},
        _req("POST", "/v1/exports", {"format": "ion_text"}),
    )
    each(("GET", "/v1/exports"), auditor_only, _req("GET", "/v1/exports"))
    each(
        ("GET", "/v1/exports/{exportId}"),
        auditor_only,
        lambda w: ("GET", f"/v1/exports/{w.facts['export']['exportId']}", None, {}),
    )
    each(
        ("GET", "/v1/exports/{exportId}/files/{name:path}"),
        auditor_only,
        lambda w: ("GET", w.facts["export"]["links"][0], None, {}),
    )
    each(("GET", "/v1/events"), everyone, _req("GET", "/v1/events?limit=0"))
    each(("GET", "/v1/deliveries"), everyone, _req("GET", "/v1/deliveries"))
    each(
        ("GET", "/v1/deliveries/{id}/attempts"),
        dict.fromkeys(ROLES, 404),
        _req("GET", "/v1/deliveries/999999/attempts"),
        "none of theirs",
    )
    return cases


CASES = _cases()


def test_every_route_has_role_cases() -> None:
    covered = {case.route for case in CASES}
    protected = {(r.method, r.path) for r in ROUTES if r.roles}
    assert protected - covered == set()
    for route in protected:  # each route is tried with every role
        assert {c.role for c in CASES if c.route == route} == set(ROLES), route


@pytest.mark.parametrize("case", CASES, ids=str)
def test_role(world: World, case: Case) -> None:
    method, path, body, headers = case.request(world)
    response = world.clients[case.role].request(method, path, body, headers=headers)
    detail = response.text[:300]
    assert response.status == case.expected, f"{case}: {response.status} {detail}"
    if response.status == 403:
        assert response.json()["reason"] in {"role", "field", "status", "state", "table", "delete"}
    if response.status == 404 or (response.status == 400 and case.role == "other_dealer"):
        assert response.json()["reason"] == "not-found"


def _concrete(path: str) -> str:
    return (
        path.replace("{table}", "invoices")
        .replace("{key}", "ABC-1")
        .replace("{version}", "0")
        .replace("{documentId}", "d")
        .replace("{txId}", "t")
        .replace("{exportId}", "e")
        .replace("{name:path}", "f")
        .replace("{id}", "1")
    )


PROTECTED = [r for r in ROUTES if r.roles]


@pytest.mark.parametrize("route", PROTECTED, ids=lambda r: f"{r.method} {r.path}")
@pytest.mark.parametrize("key", [None, "", "qak_not-a-valid-key", "Basic dXNlcjpwYXNz"])
def test_401_without_a_valid_key(world: World, route: Any, key: str | None) -> None:
    headers = {}
    if key is not None:
        headers["Authorization"] = key if key.startswith("Basic") else f"Bearer {key}"
    with Client(world.server.url) as anonymous:
        response = anonymous.request(route.method, _concrete(route.path), headers=headers)
    assert response.status == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["reason"] in {"no-api-key", "bad-api-key"}


def test_x_api_key_header_works_too(world: World) -> None:
    with Client(world.server.url) as anonymous:
        response = anonymous.request(
            "GET", "/v1/whoami", headers={"X-API-Key": world.who["auditor"].key}
        )
    assert response.json() == {"party": "the-auditor", "role": "auditor", "billTo": None}


def test_public_routes_need_no_key(world: World) -> None:
    with Client(world.server.url) as anonymous:
        assert anonymous.request("GET", "/v1/health").status == 200
        assert anonymous.request("GET", "/openapi.json").json()["openapi"] == "3.1.0"


def test_dealer_sees_only_its_own_rows_in_lists(world: World) -> None:
    dealer = world.clients["dealer"]
    response = dealer.request("GET", "/", params={"keys": "ABC-1,XYZ-1"})
    missing = dealer.request("GET", "/", params={"keys": "ABC-1,NO-SUCH-1"})
    assert (response.status, response.json()) == (missing.status, missing.json())
    assert (response.status, response.json()["reason"]) == (400, "not-found")


def test_unknown_routes_and_methods_answer_json(world: World) -> None:
    client = world.clients["manufacturer"]
    missing = client.request("GET", "/nope")
    assert missing.status == 404
    assert missing.json()["reason"] == "no-route"
    wrong = client.request("DELETE", "/history")
    assert wrong.status == 405
    assert wrong.json()["reason"] == "method"


def test_server_log_is_quiet(world: World) -> None:
    assert not [line for line in world.server.log if "Traceback" in line or "ERROR" in line]
