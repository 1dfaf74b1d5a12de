"""The /v1 resources on a real server process: optimistic concurrency (ETag, If-Match: 409 and
412), the schema's 422 naming the field, size and batch caps, rate limits (429, Retry-After),
receipts, digests and consistency proofs that verify offline, and exports."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from auditor import verify
from auditor.ledger import Ledger
from auditor.server.client import ApiError, Client, dumps
from auditor.verify import Policy
from proofs.note import parse_vkey
from tests.integration.server_support import (
    ABC,
    ServerProcess,
    invoice,
    parties,
    write_config,
)

DOC = "/v1/tables/invoices/documents/"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("api")
    Ledger.create(str(root / "ledger.db"), "carmaker", tables=["invoices"]).close()
    who = parties()
    config = write_config(
        root / "server.toml", who, server="max_body_bytes = 65536\nmax_batch = 5\n"
    )
    with ServerProcess(root / "ledger.db", config) as running:
        running.parties = who  # type: ignore[attr-defined]
        yield running


@pytest.fixture(scope="module")
def maker(server: ServerProcess) -> Iterator[Client]:
    with server.client(server.parties["manufacturer"]) as client:  # type: ignore[attr-defined]
        yield client


@pytest.fixture(scope="module")
def dealer(server: ServerProcess) -> Iterator[Client]:
    with server.client(server.parties["dealer"]) as client:  # type: ignore[attr-defined]
        yield client


@pytest.fixture(scope="module")
def auditor(server: ServerProcess) -> Iterator[Client]:
    with server.client(server.parties["auditor"]) as client:  # type: ignore[attr-defined]
        yield client


def test_put_creates_then_replaces_with_etags(maker: Client) -> None:
    created = maker.request("PUT", DOC + "E-1", invoice())
    assert created.status == 201
    assert created.headers["location"] == "/v1/tables/invoices/documents/E-1"
    body = created.json()
    assert created.headers["etag"] == f'"{body["documentId"]}.0"'
    assert body["value"] == invoice()
    assert body["version"] == 0
    got = maker.request("GET", DOC + "E-1")
    assert got.headers["etag"] == created.headers["etag"]
    again = maker.request(
        "PUT", DOC + "E-1", invoice(quantity=11), headers={"If-Match": created.headers["etag"]}
    )
    assert again.status == 200
    assert again.json()["version"] == 1
    # the first ETag is stale now: 412, nothing written
    stale = maker.request(
        "PUT", DOC + "E-1", invoice(quantity=12), headers={"If-Match": created.headers["etag"]}
    )
    assert stale.status == 412
    assert stale.json()["etag"] == again.headers["etag"]
    assert maker.request("GET", DOC + "E-1").json()["value"]["quantity"] == 11
    tags = f'W/{again.headers["etag"]}, "x.1", {again.headers["etag"]}'  # a list: one matches
    assert maker.request("PUT", DOC + "E-1", invoice(), headers={"If-Match": tags}).status == 200
    assert maker.request("PUT", DOC + "E-1", invoice(), headers={"If-Match": "*"}).status == 200
    weak = f"W/{maker.request('GET', DOC + 'E-1').headers['etag']}"  # weak tags never match
    assert maker.request("PUT", DOC + "E-1", invoice(), headers={"If-Match": weak}).status == 412


def test_if_none_match_creates_only(maker: Client) -> None:
    assert (
        maker.request("PUT", DOC + "E-2", invoice(), headers={"If-None-Match": "*"}).status == 201
    )
    assert (
        maker.request("PUT", DOC + "E-2", invoice(), headers={"If-None-Match": "*"}).status == 412
    )
    assert maker.request("PUT", DOC + "E-404", invoice(), headers={"If-Match": "*"}).status == 412


def test_concurrent_updates_with_the_same_etag_one_wins(
    maker: Client, server: ServerProcess
) -> None:
    maker.put_document("invoices", "E-3", invoice())
    _, tag = maker.get_document("invoices", "E-3")
    results: list[int] = []

    def update(n: int) -> None:
        with server.client(server.parties["manufacturer"]) as client:  # type: ignore[attr-defined]
            response = client.request(
                "PATCH", DOC + "E-3", {"quantity": 100 + n}, headers={"If-Match": tag}
            )
            results.append(response.status)

    threads = [threading.Thread(target=update, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(results) == [200] + [412] * 5
    assert maker.get_document("invoices", "E-3")[0]["version"] == 1


def test_batch_is_one_transaction_and_expected_versions_give_409(maker: Client) -> None:
    written = maker.call(
        "POST",
        "/v1/tables/invoices/documents",
        [{"key": f"B-{i}", "value": invoice()} for i in range(3)],
    )["documents"]
    assert len({d["txId"] for d in written}) == 1
    conflict = maker.request(
        "POST",
        "/v1/tables/invoices/documents",
        [
            {"key": "B-0", "value": invoice(quantity=1), "expectedVersion": 0},
            {"key": "B-1", "value": invoice(quantity=1), "expectedVersion": 7},
        ],
    )
    assert conflict.status == 409
    assert "B-1" in conflict.json()["message"]
    assert maker.get_document("invoices", "B-0")[0]["version"] == 0  # nothing written
    ok = maker.call(
        "POST",
        "/v1/tables/invoices/documents",
        [{"key": "B-0", "value": invoice(quantity=1), "expectedVersion": 0}],
    )
    assert ok["documents"][0]["version"] == 1


@pytest.mark.parametrize(
    ("value", "field"),
    [
        (invoice(paymentStatus="PAID"), "value.paymentStatus"),
        ({k: v for k, v in invoice().items() if k != "billTo"}, "value.billTo"),
        (invoice(carInfo={"model": "Jazz", "make": "Honda", "year": "2021", "unitPrice": 1}),
         "value.carInfo.year"),
        (invoice(carInfo={"model": "Jazz", "make": "Honda", "year": 2021}),
         "value.carInfo.unitPrice"),
        (invoice(quantity=Decimal("10.0")), "value.quantity"),
        (invoice(colour="red"), "value.colour"),
        ("just a string", "value"),
    ],
)  # fmt: skip
def test_schema_violations_are_422_naming_the_field(maker: Client, value: Any, field: str) -> None:
    response = maker.request("PUT", DOC + "S-1", value)
    assert response.status == 422, response.text
    body = response.json()
    assert body["field"] == field
    assert body["reason"] == "schema"
    assert field in body["message"]


def test_batch_schema_violation_names_the_item(maker: Client) -> None:
    response = maker.request(
        "POST",
        "/v1/tables/invoices/documents",
        [{"key": "ok", "value": invoice()}, {"key": "bad", "value": invoice(quantity="x")}],
    )
    assert response.status == 422
    assert response.json()["field"] == "[1].value.quantity"


def test_patch_is_a_merge_patch(maker: Client) -> None:
    maker.put_document("invoices", "P-1", invoice(payment={"bank": "DBS"}))
    patched = maker.call(
        "PATCH",
        DOC + "P-1",
        {"carInfo": {"unitPrice": Decimal("90000.25")}, "payment": None},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert patched["value"]["carInfo"] == {
        "model": "Honda",
        "make": "Jazz",
        "year": 2021,
        "unitPrice": Decimal("90000.25"),
    }
    assert "payment" not in patched["value"]
    assert maker.request("PATCH", DOC + "P-1", [1]).status == 400
    assert maker.request("PATCH", DOC + "P-404", {"quantity": 1}).status == 404
    assert maker.request("PATCH", DOC + "P-1", {"quantity": "many"}).status == 422


def test_dealer_records_a_transfer(maker: Client, dealer: Client) -> None:
    maker.put_document("invoices", "D-1", invoice(ABC))
    _, tag = dealer.get_document("invoices", "D-1")
    dealer_paid = dealer.patch_document(
        "invoices",
        "D-1",
        {
            "paymentStatus": "TRANSFERRED",
            "payment": {"bank": "DBS", "amount": Decimal("890005.00")},
        },
        if_match=tag,
    )
    assert dealer_paid["value"]["payment"]["amount"] == Decimal("890005.00")
    with pytest.raises(ApiError) as refused:
        dealer.patch_document("invoices", "D-1", {"paymentStatus": "CONFIRMED"})
    assert (refused.value.status, refused.value.reason) == (403, "status")


def test_delete_then_write_again(maker: Client) -> None:
    first = maker.put_document("invoices", "X-1", invoice())
    deleted = maker.call("DELETE", DOC + "X-1", headers={"If-Match": f'"{first["documentId"]}.0"'})
    assert deleted["version"] == 1
    assert maker.request("GET", DOC + "X-1").status == 404
    assert maker.request("DELETE", DOC + "X-1").status == 404
    again = maker.put_document("invoices", "X-1", invoice())
    assert again["documentId"] != first["documentId"]
    assert again["version"] == 0
    history = maker.call("GET", DOC + "X-1/history")["revisions"]
    assert [h["metadata"]["version"] for h in history] == [0, 1, 0]
    old = maker.call("GET", f"/v1/revisions/{first['documentId']}/{first['txId']}/receipt")
    assert old["documentId"] == first["documentId"]


def test_size_caps(maker: Client) -> None:
    big = invoice(billTo="A" * 70000)
    response = maker.request("PUT", DOC + "BIG", big)
    assert (response.status, response.json()["reason"]) == (413, "too-large")
    many = [{"key": f"M-{i}", "value": invoice()} for i in range(6)]
    response = maker.request("POST", "/v1/tables/invoices/documents", many)
    assert (response.status, response.json()["reason"]) == (413, "batch-too-large")
    assert maker.request("POST", "/", many).status == 400  # the sample's route: 400
    deep: Any = "x"
    for _ in range(100):
        deep = {"d": deep}
    response = maker.request("PUT", DOC + "DEEP", deep)
    assert (response.status, response.json()["reason"]) == (400, "too-deep")


def test_unknown_table_and_bad_parameters(maker: Client) -> None:
    assert maker.request("GET", "/v1/tables/nope/documents/x").json()["reason"] == "no-table"
    assert maker.request("PUT", "/v1/tables/nope/documents/x", invoice()).status == 404
    assert maker.request("GET", DOC + "E-1/revisions/abc").status == 400
    assert maker.request("GET", DOC + "E-1/revisions/99").status == 404
    assert maker.request("GET", DOC + "E-1/receipt", params={"version": "-1"}).status == 400
    assert maker.request("GET", "/v1/digest", params={"tip": "99999"}).status == 404
    assert maker.request("GET", "/v1/consistency").status == 400
    assert maker.request("GET", "/v1/consistency", params={"from": 5, "to": 2}).status == 400
    assert maker.request("GET", "/v1/consistency", params={"from": 99999}).status == 400
    raw = maker.request(
        "PUT", DOC + "R", raw=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert (raw.status, raw.json()["reason"]) == (400, "not-json")
    nan = maker.request("PUT", DOC + "R", raw=b'{"a": NaN}')
    assert (nan.status, nan.json()["reason"]) == (400, "not-json")


def test_text_the_ledger_cannot_store_is_refused_cleanly(maker: Client) -> None:
    lone = b'{"\\ud800": 1}'  # a field name with a lone surrogate: no Ion string
    response = maker.request("PUT", "/v1/tables/notes/documents/n", raw=lone)
    assert response.status in (404, 422)
    surrogate_bill_to = (
        b'{"date":"2021-05-22","billTo":"\\ud800","paymentStatus":"PENDING",'
        b'"carInfo":{"model":"m","make":"k","year":1,"unitPrice":1.5},"quantity":1}'
    )
    response = maker.request("PUT", DOC + "LONE", raw=surrogate_bill_to)
    assert (response.status, response.json()["reason"]) == (422, "text")  # the ledger's word
    for raw in (lone, b'{"date": "\\udfff"}'):
        response = maker.request("PUT", DOC + "LONE", raw=raw)
        assert response.status == 422, response.text
    big = invoice(carInfo={"model": "m", "make": "k", "year": 1, "unitPrice": Decimal("1E+7000")})
    response = maker.request("PUT", DOC + "HUGE", big)
    assert (response.status, response.json()["reason"]) == (400, "number")  # read, refused


def test_exact_decimals_survive_the_round_trip(maker: Client) -> None:
    value = invoice(carInfo={"model": "m", "make": "k", "year": 2021,
                             "unitPrice": Decimal("1234567890.1234567890")})  # fmt: skip
    maker.put_document("invoices", "DEC", value)
    text = maker.request("GET", DOC + "DEC").text
    assert '"unitPrice":1234567890.1234567890' in text
    history = maker.call("GET", DOC + "DEC/history")["revisions"]
    assert maker.call("POST", "/verify-doc-revision", history[0]) == {"result": "valid"}


def _vkey(client: Client) -> Any:
    return parse_vkey(client.call("GET", "/v1/vkey").strip())


def test_receipt_bundle_verifies_offline(maker: Client, dealer: Client) -> None:
    maker.put_document("invoices", "V-1", invoice(ABC))
    bundle = dealer.receipt("invoices", "V-1")
    (item,) = verify.check_bytes(dumps(bundle), "bundle", "bundle",
                                 Policy(log_keys=(_vkey(dealer),)))  # fmt: skip
    assert item.status == "verified"
    # and the same with the server's own verify route (one engine)
    report = dealer.call("POST", "/v1/verify/bundle", bundle)
    assert report["summary"]["exit_code"] == 0
    tampered = json.loads(json.dumps(bundle))
    tampered["LedgerMetadata"]["RevisionHash"] = tampered["digest"]["Digest"]
    assert dealer.call("POST", "/v1/verify/bundle", tampered)["summary"]["exit_code"] == 1
    old = dealer.receipt("invoices", "V-1", version=0)
    assert old["documentId"] == bundle["documentId"]


def test_digest_checkpoint_and_consistency(maker: Client, auditor: Client) -> None:
    first = maker.digest()
    maker.put_document("invoices", "C-1", invoice())
    second = maker.digest()
    tip_of = lambda d: int(d["DigestTipAddress"]["IonText"].rsplit(":", 1)[1].rstrip("}"))  # noqa: E731
    old, new = tip_of(first), tip_of(second)
    assert new > old
    assert maker.digest(tip=old)["Digest"] == first["Digest"]
    proof = auditor.consistency(old, new)
    (item,) = verify.check_bytes(dumps(proof), "c", "consistency",
                                 Policy(log_keys=(_vkey(auditor),)))  # fmt: skip
    assert item.status == "verified"
    note = auditor.call("GET", "/v1/checkpoint")
    assert note.splitlines()[0].startswith("qldb-audit/v1/carmaker/")
    report = auditor.call("POST", "/v1/verify/consistency", proof)
    assert report["summary"]["exit_code"] == 0


def test_verify_routes_report_per_item(maker: Client) -> None:
    maker.put_document("invoices", "VR-1", invoice())
    receipt = maker.receipt_by_key("VR-1")
    report = maker.call("POST", "/v1/verify/receipt", receipt)
    assert report["items"][0]["status"] == "verified"
    names = {c["name"] for c in report["items"][0]["claims"] if c["status"] == "proven"}
    assert {"committed", "ledger-revision"} <= names
    revision = maker.call("GET", DOC + "VR-1/revisions/0")
    assert maker.call("POST", "/v1/verify/revision", revision)["summary"]["exit_code"] in (0, 3)
    revision["metadata"]["version"] = 5
    assert maker.call("POST", "/v1/verify/revision", revision)["summary"]["exit_code"] == 1
    garbage = maker.request("POST", "/v1/verify/receipt", raw=b"\x00\x01not ion")
    assert (garbage.status, garbage.json()["reason"]) == (400, "not-ion")
    bundle = maker.receipt("invoices", "VR-1")
    refused = maker.request("POST", "/v1/verify/receipt", bundle)  # a bundle is checked whole
    assert refused.status == 422
    assert "verify bundle" in refused.json()["message"]
    assert maker.call("POST", "/v1/verify/bundle", bundle)["summary"]["exit_code"] == 0


def test_export_and_download(auditor: Client, maker: Client) -> None:
    exported = auditor.call("POST", "/v1/exports", {"format": "json", "maxBlocksPerObject": 4})
    files = exported["files"]
    export_id = exported["exportId"]
    assert any(f.endswith(".completed.manifest") for f in files)
    assert any(f.startswith(export_id + "/") for f in files)
    assert auditor.call("GET", "/v1/exports")["exports"] == sorted(
        set(auditor.call("GET", "/v1/exports")["exports"])
    )
    assert export_id in auditor.call("GET", "/v1/exports")["exports"]
    assert auditor.call("GET", f"/v1/exports/{export_id}")["files"] == files
    digest_file = next(f for f in files if f.endswith(".digest.json"))
    digest = auditor.call("GET", f"/v1/exports/{export_id}/files/{digest_file}")
    assert digest["Digest"] == maker.digest(tip=exported["lastSequenceNo"])["Digest"]
    data = next(f for f in files if f.startswith(export_id + "/"))
    blocks = auditor.request("GET", f"/v1/exports/{export_id}/files/{data}").text.splitlines()
    assert json.loads(blocks[0])["blockAddress"]["sequenceNo"] == 0
    for bad in (f"/v1/exports/{export_id}/files/..%2F..%2Fetc%2Fpasswd",
                f"/v1/exports/{export_id}/files/nope", "/v1/exports/nope",
                "/v1/exports/..%2F..")  :  # fmt: skip
        assert auditor.request("GET", bad).status == 404
    assert auditor.request("POST", "/v1/exports", {"format": "xml"}).status == 400
    assert auditor.request("POST", "/v1/exports", {"colour": "red"}).status == 400
    assert auditor.request("POST", "/v1/exports", {"since": "2999-01-01"}).status == 400


def test_whoami_tables_and_schema(dealer: Client) -> None:
    assert dealer.call("GET", "/v1/whoami") == {
        "party": "abc-dealer",
        "role": "dealer",
        "billTo": ABC,
    }
    tables = dealer.call("GET", "/v1/tables")["tables"]
    assert tables[0]["name"] == "invoices"
    assert tables[0]["partyField"] == "billTo"
    schema = dealer.call("GET", "/v1/tables/invoices/schema")
    assert schema["properties"]["paymentStatus"]["enum"] == ["PENDING", "TRANSFERRED", "CONFIRMED"]


def test_rate_limit_429_with_retry_after(tmp_path: Path) -> None:
    Ledger.create(str(tmp_path / "ledger.db"), "carmaker", tables=["invoices"]).close()
    who = parties()
    config = tmp_path / "server.toml"
    config.write_text(
        "[server]\nrate = 2.0\nburst = 3\n\n" + "\n".join(p.toml() for p in who.values())
    )
    with ServerProcess(tmp_path / "ledger.db", config) as server:
        with server.client(who["auditor"]) as client, server.client(who["dealer"]) as other:
            statuses = [client.request("GET", "/v1/whoami").status for _ in range(4)]
            assert statuses == [200, 200, 200, 429]
            refused = client.request("GET", "/v1/whoami")
            assert refused.json()["reason"] == "rate-limit"
            wait = int(refused.headers["retry-after"])
            assert wait >= 1
            assert other.request("GET", "/v1/whoami").status == 200  # per key
            time.sleep(wait)
            assert client.request("GET", "/v1/whoami").status == 200
        with server.client(key="qak_wrong") as stranger:  # per address without a valid key
            codes = [stranger.request("GET", "/v1/whoami").status for _ in range(5)]
            assert codes[:3] == [401, 401, 401]
            assert 429 in codes
