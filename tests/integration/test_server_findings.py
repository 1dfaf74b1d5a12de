"""One test per finding of issue 10, each against a real server process (each failed on the
server before the fix): per-revision access after re-billing, a dealer stalling a worker,
writes committed behind a failure, the dealer undoing a confirmation, 500s from input, the
small leaks, and the sample's receipts, Proof and CORS."""

from __future__ import annotations

import base64
import copy
import json
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from auditor.ledger import Ledger
from auditor.server.client import Client, dumps
from tests.conftest import ARTEFACTS
from tests.integration.server_support import (
    ABC,
    XYZ,
    Party,
    ServerProcess,
    invoice,
    parties,
    write_config,
)

DOC = "/v1/tables/invoices/documents/"
IBAN = "SG-IBAN-0042-SECRET"
PAID = {"bank": "DBS", "reference": "TRF-1"}


@dataclass
class World:
    server: ServerProcess
    who: dict[str, Party]
    ledger: Path

    def client(self, role: str) -> Client:
        return self.server.client(self.who[role])

    def tip(self) -> int:
        ledger = Ledger.open(str(self.ledger))
        try:
            return ledger.tip()
        finally:
            ledger.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("findings")
    Ledger.create(str(root / "ledger.db"), "carmaker", tables=["invoices"]).close()
    who = parties()
    config = write_config(
        root / "server.toml", who
    )  # the defaults: 5 s body timeout, 1 MiB answers
    with ServerProcess(root / "ledger.db", config) as server:
        yield World(server, who, root / "ledger.db")


# -- 1. access per revision, not per key -------------------------------------------------------
def test_a_rebilled_invoice_shows_no_dealer_the_other_dealers_revisions(world: World) -> None:
    with (
        world.client("manufacturer") as maker,
        world.client("dealer") as a,
        world.client("other_dealer") as b,
    ):
        maker.put_document("invoices", "INV-RC1", invoice(XYZ))
        b.patch_document(
            "invoices", "INV-RC1",
            {"paymentStatus": "TRANSFERRED", "payment": {"bank": "DBS", "iban": IBAN}},
        )  # fmt: skip
        old_doc = maker.get_document("invoices", "INV-RC1")[0]
        maker.call("DELETE", DOC + "INV-RC1")
        maker.put_document("invoices", "INV-RC1", invoice(ABC))  # created again, billed to A
        answers = [
            a.request("GET", "/history", params={"key": "INV-RC1"}),
            a.request("GET", DOC + "INV-RC1/history"),
            a.request("GET", DOC + "INV-RC1/revisions/1"),  # version 1 exists in B's document
            a.request("GET", DOC + "INV-RC1/receipt", params={"version": 1}),
            a.request("GET", f"/v1/revisions/{old_doc['documentId']}/{old_doc['txId']}/receipt"),
            a.request("GET", "/receipt-by-doc",
                      params={"documentId": old_doc["documentId"], "txId": old_doc["txId"]}),
        ]  # fmt: skip
        assert all(IBAN not in r.text for r in answers)
        assert [r.status for r in answers] == [200, 200, 404, 404, 404, 400]
        assert [len(answers[0].json()), len(answers[1].json()["revisions"])] == [1, 1]
        assert answers[2].json()["reason"] == answers[5].json()["reason"] == "not-found"
        # B keeps the revisions that were billed to it (and the deletion), not the new one
        mine = b.call("GET", DOC + "INV-RC1/history")["revisions"]
        assert [(r["metadata"]["id"], r["metadata"]["version"]) for r in mine] == [
            (old_doc["documentId"], 0), (old_doc["documentId"], 1), (old_doc["documentId"], 2)
        ]  # fmt: skip
        assert b.request("GET", DOC + "INV-RC1").status == 404
        # re-billed in place (no deletion): A sees the document from the re-billing on
        maker.put_document("invoices", "INV-RC2", invoice(XYZ))
        b.patch_document("invoices", "INV-RC2", {"paymentStatus": "TRANSFERRED",
                                                  "payment": {"iban": IBAN}})  # fmt: skip
        maker.patch_document("invoices", "INV-RC2", {"billTo": ABC, "paymentStatus": "PENDING",
                                                      "payment": None})  # fmt: skip
        seen = a.call("GET", DOC + "INV-RC2/history")["revisions"]
        assert [r["metadata"]["version"] for r in seen] == [2]
        assert IBAN not in dumps(seen).decode()


def test_not_yours_and_not_there_are_one_answer(world: World) -> None:
    with world.client("manufacturer") as maker, world.client("other_dealer") as b:
        maker.put_document("invoices", "ENUM-1", invoice(ABC))
        for path in ("", "/history", "/revisions/0", "/receipt"):
            theirs = b.request("GET", DOC + "ENUM-1" + path)
            absent = b.request("GET", DOC + "ENUM-404" + path)
            assert (theirs.status, theirs.json()["reason"]) == (404, "not-found"), path
            assert (absent.status, absent.json()["reason"]) == (404, "not-found"), path
        for value in (invoice(ABC, paymentStatus="TRANSFERRED", payment=PAID),):
            theirs = b.request("PUT", DOC + "ENUM-1", value, headers={"If-Match": '"x.0"'})
            absent = b.request("PUT", DOC + "ENUM-404", value, headers={"If-Match": '"x.0"'})
            assert theirs.status == absent.status == 404  # not 412 with the current ETag
            assert "etag" not in theirs.json()
        with Client(world.server.url) as anonymous:
            assert anonymous.request("GET", DOC + "ENUM-1").json()["reason"] == "no-api-key"


def test_verify_receipt_does_not_reveal_another_dealers_revision(world: World) -> None:
    with world.client("manufacturer") as maker, world.client("other_dealer") as b:
        maker.put_values([{"key": "VR-ABC", "value": invoice(ABC)}])
        receipt = maker.receipt_by_key("VR-ABC")
        forged = {**receipt, "DocumentId": "A" * 22}
        for path in ("/verify-receipt", "/v1/verify/receipt"):
            theirs, made_up = b.request("POST", path, receipt), b.request("POST", path, forged)
            assert theirs.status == made_up.status == (404 if path.startswith("/v1") else 400)
            assert theirs.json()["reason"] == made_up.json()["reason"] == "not-found"
            assert "VR-ABC" not in theirs.text
            assert receipt["RevisionHash"] not in theirs.text


# -- 2. one dealer cannot stall the others -----------------------------------------------------
def test_large_answers_are_bounded_and_do_not_stall_health(world: World) -> None:
    big = invoice(ABC, carInfo={"model": "M" * 120_000, "make": "k", "year": 1,
                                "unitPrice": Decimal("1.50")})  # fmt: skip
    with world.client("manufacturer") as maker, world.client("dealer") as a:
        maker.put_document("invoices", "BIG-1", big)
        refused = a.request("GET", "/", params={"keys": ",".join(["BIG-1"] * 100)})
        assert (refused.status, refused.json()["reason"]) == (413, "response-too-large")
        grown = a.request("PATCH", DOC + "BIG-1", {"paymentStatus": "TRANSFERRED",
                                                   "payment": {"note": "x" * 100_000}})  # fmt: skip
        assert grown.status == 422  # payment details are small (the schema says how small)
    stop = time.monotonic() + 3.0
    errors: list[str] = []

    def hammer() -> None:
        with world.client("dealer") as dealer:
            while time.monotonic() < stop:
                response = dealer.request("GET", "/", params={"keys": ",".join(["BIG-1"] * 6)})
                if response.status != 200:
                    errors.append(str(response.status))

    threads = [threading.Thread(target=hammer) for _ in range(6)]
    for thread in threads:
        thread.start()
    worst = 0.0
    with Client(world.server.url) as probe, world.client("other_dealer") as other:
        maker_key = world.who["manufacturer"].key
        with Client(world.server.url, maker_key) as m:
            m.put_document("invoices", "SMALL-XYZ", invoice(XYZ))
        while time.monotonic() < stop:
            for call in (lambda: probe.request("GET", "/v1/health"),
                         lambda: other.request("GET", DOC + "SMALL-XYZ")):  # fmt: skip
                started = time.monotonic()
                assert call().status == 200
                worst = max(worst, time.monotonic() - started)
            time.sleep(0.02)
    for thread in threads:
        thread.join(10)
    assert not errors
    assert worst < 1.0, f"health or another dealer's GET waited {worst:.2f} s"


# -- 3. validate before writing ----------------------------------------------------------------
def test_keys_are_checked_before_anything_is_written(world: World) -> None:
    with world.client("manufacturer") as maker:
        created = maker.request("PUT", DOC + urllib.parse.quote("INV-€-1"), invoice())
        assert created.status == 201
        location = created.headers["location"]
        assert location == "/v1/tables/invoices/documents/INV-%E2%82%AC-1"
        assert maker.request("GET", location).json()["key"] == "INV-€-1"
        before = world.tip()
        for raw in ("INV-%00-1", "INV-%FF-1", "INV-%ED%A0%80-1", "e%CC%81", "%0A", "a%7F"):
            response = maker.request("PUT", DOC + raw, invoice())
            assert (response.status, response.json()["reason"]) in (
                (400, "key"),
                (400, "encoding"),
            ), raw
        for key in ("A\x00", "B\ud800", ""):
            value = invoice(carInfo={"model": "m", "make": "k", "year": 1, "unitPrice": 1})
            response = maker.request("POST", "/", raw=json.dumps([{"key": key, "value": value}]))
            assert response.status == 400, key
            assert "key" in response.json()["message"]
        assert world.tip() == before  # nothing committed behind the refusals


def test_huge_numbers_and_deep_nesting_are_400_on_every_body(world: World) -> None:
    huge = b'{"a": 1e99999999999999999999}'
    bodies = {
        ("POST", "/"): b'[{"key": "N", "value": 1e99999999999999999999}]',
        ("POST", "/v1/tables/invoices/documents"): b'[{"key": "N", "value": {"a": 1e9999999999}}]',
        ("PUT", DOC + "N"): huge, ("PATCH", DOC + "N"): huge,
        ("POST", "/verify-receipt"): huge, ("POST", "/verify-doc-revision"): huge,
        ("POST", "/retrieve-doc-revision"): huge,
    }  # fmt: skip
    for path in ("receipt", "bundle", "revision", "consistency"):
        bodies[("POST", f"/v1/verify/{path}")] = huge
    before = world.tip()
    with world.client("manufacturer") as maker, world.client("auditor") as auditor:
        for (method, path), body in bodies.items():
            response = maker.request(method, path, raw=body)
            assert response.status in (400, 422), (path, response.status, response.text)
            deep = b'{"a":' * 5000 + b"1" + b"}" * 5000
            response = maker.request(method, path, raw=deep)
            assert (response.status, response.json()["reason"]) == (400, "too-deep"), path
        response = auditor.request("POST", "/v1/exports", raw=huge)
        assert response.status == 400
    assert world.tip() == before


@pytest.mark.parametrize(
    "path",
    [
        "/v1/digest?tip=%C2%B2",
        "/v1/consistency?from=%C2%B2",
        "/v1/consistency?from=0&to=%C2%B2",
        DOC + "X/receipt?version=%C2%B2",
        DOC + "X/revisions/%C2%B2",
        "/v1/events?since=%C2%B2",
        "/v1/events?limit=%C2%B2",
        "/v1/events?timeout=%C2%B2",
        "/v1/deliveries?limit=%C2%B2",
        "/v1/deliveries/%C2%B2/attempts",
        DOC + "X/history?limit=%C2%B2",
    ],
)
def test_superscript_digits_are_400_not_500(world: World, path: str) -> None:
    with world.client("auditor") as auditor:
        response = auditor.request("GET", path)
    assert (response.status, response.json()["reason"]) == (400, "parameter"), response.text


# -- 4. the state machine ----------------------------------------------------------------------
def test_confirmed_is_final_for_the_dealer(world: World) -> None:
    with world.client("manufacturer") as maker, world.client("dealer") as a:
        maker.put_document("invoices", "SM-1", invoice(ABC))
        refused = a.request("PATCH", DOC + "SM-1", {"paymentStatus": "TRANSFERRED"})
        assert (refused.status, refused.json()["reason"]) == (403, "state")  # needs details
        a.patch_document("invoices", "SM-1", {"paymentStatus": "TRANSFERRED", "payment": PAID})
        a.patch_document("invoices", "SM-1", {"paymentStatus": "PENDING"})  # withdrawn
        a.patch_document("invoices", "SM-1", {"paymentStatus": "TRANSFERRED", "payment": PAID})
        maker.patch_document("invoices", "SM-1", {"paymentStatus": "CONFIRMED"})
        before = world.tip()
        confirmed = invoice(ABC, paymentStatus="CONFIRMED", payment=PAID)
        for method, path, body in [
            ("PATCH", DOC + "SM-1", {"paymentStatus": "PENDING"}),
            ("PATCH", DOC + "SM-1", {"paymentStatus": "TRANSFERRED"}),
            ("PATCH", DOC + "SM-1", {"payment": {"bank": "UOB"}}),
            ("PUT", DOC + "SM-1", invoice(ABC, paymentStatus="PENDING", payment=PAID)),
            ("POST", "/", [{"key": "SM-1", "value": {**confirmed, "payment": {"bank": "X"}}}]),
        ]:
            response = a.request(method, path, body)
            assert (response.status, response.json()["reason"]) == (403, "state"), body
        assert world.tip() == before
        assert a.put_values([{"key": "SM-1", "value": confirmed}])  # an unchanged re-post
        rules = a.call("GET", "/v1/tables/invoices/schema")["x-state-machine"]
        assert {"from": "TRANSFERRED", "to": "CONFIRMED", "roles": ["manufacturer"],
                "dealerMustGive": []} in rules["transitions"]  # fmt: skip


# -- 6. small leaks ----------------------------------------------------------------------------
def test_error_bodies_do_not_echo_the_request(world: World) -> None:
    items = [{"key": f"E{i}", "value": invoice(billTo="Z" * 300)} for i in range(101)]
    with world.client("manufacturer") as maker:
        response = maker.request("POST", "/", items)
        assert response.status == 400
        assert len(response.text) < 2000
        assert "ZZZZZZZZ" not in response.text
        long_tip = maker.request("GET", "/v1/digest", params={"tip": "9" * 5000})
        assert long_tip.status == 400
        assert len(long_tip.text) < 400


def test_the_trailing_slash_is_no_redirect_echoing_the_host(world: World) -> None:
    with world.client("manufacturer") as maker:
        response = maker.request("GET", "/v1/health/", headers={"Host": "evil.example"})
    assert response.status == 404
    assert "evil" not in response.text
    assert "location" not in response.headers


def test_a_body_that_never_arrives_is_408_in_time(world: World) -> None:
    host, port = world.server.url.removeprefix("http://").split(":")
    key = world.who["manufacturer"].key
    with socket.create_connection((host, int(port)), timeout=15) as sock:
        sock.sendall(
            f"PUT {DOC}SLOW HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
            "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{".encode()
        )
        started = time.monotonic()
        answer = sock.recv(4096).decode()
    assert answer.startswith("HTTP/1.1 408"), answer[:100]
    assert time.monotonic() - started < 8  # the default body_timeout is 5 s


def test_export_manifests_carry_no_server_paths(world: World) -> None:
    with world.client("auditor") as auditor:
        exported = auditor.call("POST", "/v1/exports", {"format": "json"})
        export_dir = str(world.ledger) + ".exports"
        assert export_dir not in json.dumps(exported)
        for name in exported["files"]:
            if name.endswith(".manifest"):
                text = auditor.request(
                    "GET", f"/v1/exports/{exported['exportId']}/files/{name}"
                ).text
                assert export_dir not in text, name
                assert str(world.ledger.parent) not in text, name


def test_rotating_forwarded_for_does_not_escape_the_address_limit(tmp_path: Path) -> None:
    Ledger.create(str(tmp_path / "ledger.db"), "carmaker", tables=["invoices"]).close()
    config = tmp_path / "server.toml"
    config.write_text("[server]\nrate = 0.5\nburst = 3\n")
    with ServerProcess(tmp_path / "ledger.db", config) as server, Client(server.url) as anonymous:
        codes = [
            anonymous.request(
                "GET", "/v1/whoami", headers={"X-Forwarded-For": f"10.9.0.{i}"}
            ).status
            for i in range(8)
        ]
    assert codes.count(429) >= 4, codes


def test_rate_limits_are_shared_by_the_worker_processes(tmp_path: Path) -> None:
    Ledger.create(str(tmp_path / "ledger.db"), "carmaker", tables=["invoices"]).close()
    who = {"auditor": Party("the-auditor", "auditor")}
    config = tmp_path / "server.toml"
    config.write_text("[server]\nrate = 1.0\nburst = 10\n\n" + who["auditor"].toml())
    with ServerProcess(tmp_path / "ledger.db", config, workers=2) as server:
        started = time.monotonic()
        codes = []
        for _ in range(40):  # a new connection each time: the kernel spreads them over workers
            with server.client(who["auditor"]) as client:
                codes.append(client.request("GET", "/v1/whoami").status)
        elapsed = time.monotonic() - started
    assert codes.count(200) <= 10 + elapsed * 1.0 + 1, (codes, elapsed)
    assert 429 in codes


# -- 7. the sample's receipts, Proof and CORS --------------------------------------------------
REAL = sorted(ARTEFACTS.glob("receipt-*.json"))


@pytest.mark.parametrize("path", REAL, ids=lambda p: p.name)
def test_real_qldb_receipts_verify_offline_on_the_sample_route(world: World, path: Path) -> None:
    receipt = json.loads(path.read_text())
    expected_ok = "KbW0" not in path.name  # the real vectors' one failing receipt
    with world.client("dealer") as a:
        status, body = _post(a, "/verify-receipt", receipt)
        if expected_ok:
            assert (status, body["result"], body["attested"]) == (200, "valid", False)
            tampered = copy.deepcopy(receipt)
            tampered["RevisionHash"] = base64.b64encode(bytes(32)).decode()
            status, body = _post(a, "/verify-receipt", tampered)
            assert (status, body["result"]) == (400, "invalid")
        else:
            assert (status, body["result"]) == (400, "invalid")
        without = {k: v for k, v in receipt.items() if k != "Proof"}
        status, body = _post(a, "/verify-receipt", without)
        assert (status, body["reason"]) == (400, "missing-proof")


def test_proof_is_optional_for_this_ledgers_receipts(world: World) -> None:
    with world.client("manufacturer") as maker:
        maker.put_values([{"key": "NOPROOF", "value": invoice()}])
        receipt = maker.receipt_by_key("NOPROOF")
        without = {k: v for k, v in receipt.items() if k != "Proof"}
        assert _post(maker, "/verify-receipt", without) == (
            200, {"result": "valid", "attested": True, "digest": "this-ledger"}
        )  # fmt: skip
        other = {**without, "RevisionHash": base64.b64encode(bytes(32)).decode()}
        assert _post(maker, "/verify-receipt", other)[1]["result"] == "invalid"


def _post(client: Client, path: str, body: Any) -> tuple[int, Any]:
    response = client.request("POST", path, body)
    return response.status, response.json()


def test_cors_is_off_by_default(world: World) -> None:
    with world.client("dealer") as a:
        response = a.request("GET", "/v1/whoami", headers={"Origin": "https://app.example"})
        assert "access-control-allow-origin" not in response.headers
        assert a.request("OPTIONS", "/v1/whoami").status == 405


def test_cors_star_behaves_like_the_sample(tmp_path: Path) -> None:
    Ledger.create(str(tmp_path / "ledger.db"), "carmaker", tables=["invoices"]).close()
    who = parties()
    config = write_config(tmp_path / "server.toml", who, server='cors_origins = ["*"]\n')
    with ServerProcess(tmp_path / "ledger.db", config) as server, Client(server.url) as anonymous:
        preflight = anonymous.request(
            "OPTIONS", "/verify-receipt",
            headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "authorization,content-type"},
        )  # fmt: skip
        assert preflight.status == 200
        assert preflight.headers["access-control-allow-origin"] == "*"
        assert "POST" in preflight.headers["access-control-allow-methods"]
        with server.client(who["dealer"]) as a:
            response = a.request("GET", "/v1/whoami", headers={"Origin": "https://app.example"})
        assert response.headers["access-control-allow-origin"] == "*"
        assert "ETag" in response.headers["access-control-expose-headers"]


def test_server_log_is_quiet(world: World) -> None:
    noisy = [line for line in world.server.log if "Traceback" in line or "ERROR" in line]
    assert not noisy, "\n".join(world.server.log[-60:])
