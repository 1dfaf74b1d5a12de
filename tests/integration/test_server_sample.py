"""The AWS QLDB REST sample's routes on a real server process: request and response shapes as
the sample documents them (its README's examples [Q7] and its end-to-end test's cases), minus
its small caps, with exact decimals and offline verification behind /verify-receipt."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditor.ledger import Ledger
from auditor.server.client import Client
from tests.conftest import ARTEFACTS
from tests.integration.server_support import ABC, ServerProcess, invoice, parties, write_config

# The README's example receipt (a real QLDB receipt; fixtures/qldb/artefacts, with its source).
README_RECEIPT = json.loads((ARTEFACTS / "receipt-1HqU-19-tip19.json").read_text())
README_HISTORY_ENTRY = json.loads((ARTEFACTS / "revision-G3Oi-v0.json").read_text())
README_HISTORY_EDITED = json.loads((ARTEFACTS / "revision-G3Oi-v0-EDITED.json").read_text())


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("sample")
    Ledger.create(str(root / "ledger.db"), "ledger1", tables=["invoices"]).close()
    who = parties()
    config = write_config(root / "server.toml", who, server="max_batch = 20\nmax_keys = 40\n")
    with ServerProcess(root / "ledger.db", config) as running:
        running.parties = who  # type: ignore[attr-defined]
        yield running


@pytest.fixture(scope="module")
def api(server: ServerProcess) -> Iterator[Client]:
    with server.client(server.parties["manufacturer"]) as client:  # type: ignore[attr-defined]
        yield client


def post(api: Client, path: str, body: Any) -> tuple[int, Any]:
    response = api.request("POST", path, body)
    return response.status, response.json()


def get(api: Client, path: str, **params: Any) -> tuple[int, Any]:
    response = api.request("GET", path, params=params)
    return response.status, response.json()


@pytest.fixture(scope="module")
def inv01(api: Client) -> dict[str, str]:
    status, body = post(api, "/", [{"key": "INV01", "value": invoice()}])
    assert status == 200
    return body  # type: ignore[no-any-return]


def _same_shape(ours: Any, theirs: Any, where: str = "") -> None:
    """Same keys at every level (values differ: other ledger, other hashes)."""
    assert type(ours) is type(theirs), where
    if isinstance(theirs, dict):
        assert set(ours) == set(theirs), where
        for key in theirs:
            _same_shape(ours[key], theirs[key], f"{where}.{key}")


# -- POST / ------------------------------------------------------------------------------------
def test_post_one_invoice_answers_document_id_and_tx_id(inv01: dict[str, str]) -> None:
    assert set(inv01) == {"documentId", "txId"}  # the README: {"documentId", "txId"}
    assert len(inv01["documentId"]) == 22
    assert len(inv01["txId"]) == 22


def test_post_two_invoices_answers_a_list_in_one_transaction(api: Client) -> None:
    status, body = post(
        api,
        "/",
        [{"key": "TEST10011", "value": invoice()}, {"key": "TEST10012", "value": invoice()}],
    )
    assert status == 200
    assert isinstance(body, list)
    assert len(body) == 2
    assert {r["txId"] for r in body} == {body[0]["txId"]}  # one transaction, like setValues


def test_post_caps_are_lifted_but_configurable(api: Client) -> None:
    eleven = [{"key": f"TEST1002{i}", "value": invoice()} for i in range(11)]
    assert post(api, "/", eleven)[0] == 200  # the sample refused more than 10
    status, body = post(api, "/", [{"key": f"CAP{i}", "value": invoice()} for i in range(21)])
    assert status == 400
    assert "Invalid request body" in body["message"]


@pytest.mark.parametrize(
    ("items", "message", "field"),
    [
        ([], "Invalid request body", ""),
        (
            [{"key": "TEST10031", "value": {k: v for k, v in invoice().items() if k != "billTo"}}],
            "Invalid request body",
            "[0].value.billTo",
        ),
        (
            [{"key": "B", "value": invoice(paymentStatus="PAID")}],
            "Invalid request body",
            "[0].value.paymentStatus",
        ),
        (
            [{"key": "B", "value": invoice(quantity="10")}],
            "Invalid request body",
            "[0].value.quantity",
        ),
        (
            [{"key": "TEST10041", "value": invoice()}, {"key": "TEST10041", "value": invoice()}],
            "Duplicate key",
            None,
        ),
        ({"key": "A", "value": invoice()}, "Invalid request body", ""),
    ],
)
def test_post_refuses_what_the_sample_refused(
    api: Client, items: Any, message: str, field: str | None
) -> None:
    status, body = post(api, "/", items)
    assert status == 400
    assert message in body["message"]
    if field is not None:
        assert body["field"] == field


def test_post_refuses_malformed_json(api: Client) -> None:
    response = api.request(
        "POST", "/", raw=b'[{"key": "A", "value": {', headers={"Content-Type": "application/json"}
    )
    assert response.status == 400
    assert "Invalid request body" in response.json()["message"]


# -- GET / -------------------------------------------------------------------------------------
def test_get_one_key_answers_the_value_with_exact_digits(api: Client, inv01: Any) -> None:
    response = api.request("GET", "/", params={"keys": "INV01"})
    assert response.status == 200
    assert response.json() == invoice()  # the value as written, without the _k field
    assert '"unitPrice":89000.50' in response.text  # not 89000.5


def test_get_several_keys_answers_a_list_in_key_order(api: Client, inv01: Any) -> None:
    status, body = get(api, "/", keys="TEST10012,INV01")
    assert status == 200
    assert [v["billTo"] for v in body] == [ABC, ABC]
    assert len(body) == 2


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"keys": "A,B"}, "Requested documents do not exist"),
        ({"keys": "INV01,NOPE"}, "Requested documents do not exist"),
        ({"key": "INV01"}, "Missing required request parameters: [keys]"),
        ({"keys": ",".join(f"K{i}" for i in range(41))}, "at most 40 keys"),
    ],
)
def test_get_refusals(api: Client, inv01: Any, params: dict[str, str], message: str) -> None:
    status, body = get(api, "/", **params)
    assert status == 400
    assert message in body["message"]


def test_get_33_keys_is_allowed(api: Client, inv01: Any) -> None:
    keys = ["INV01"] * 33  # the sample's cap was 32
    status, body = get(api, "/", keys=",".join(keys))
    assert status == 200
    assert len(body) == 33


# -- receipts ----------------------------------------------------------------------------------
def test_receipt_by_key_has_the_readme_receipt_shape(api: Client, inv01: Any) -> None:
    status, receipt = get(api, "/receipt-by-key", key="INV01")
    assert status == 200
    _same_shape(receipt, README_RECEIPT)
    assert receipt["LedgerName"] == "ledger1"
    assert receipt["TableName"] == "invoices"
    assert receipt["DocumentId"] == inv01["documentId"]
    assert len(base64.b64decode(receipt["RevisionHash"])) == 32


def test_receipt_by_doc_names_the_same_revision(api: Client, inv01: Any) -> None:
    status, by_doc = get(api, "/receipt-by-doc", documentId=inv01["documentId"], txId=inv01["txId"])
    assert status == 200
    _same_shape(by_doc, README_RECEIPT)
    _, by_key = get(api, "/receipt-by-key", key="INV01")
    assert by_doc["RevisionHash"] == by_key["RevisionHash"]


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        ("/receipt-by-key", {"key": "XYZ"}, "Could not get metadata"),
        ("/receipt-by-key", {"some_other_key": "INV01"}, "Missing required request parameters"),
        ("/receipt-by-doc", {"documentId": "ABC", "txId": "XYZ"}, "Could not get metadata"),
        ("/receipt-by-doc", {"some_other_key": "x"}, "Missing required request parameters"),
    ],
)
def test_receipt_refusals(api: Client, path: str, params: dict[str, str], message: str) -> None:
    status, body = get(api, path, **params)
    assert status == 400
    assert message in body["message"]


@pytest.fixture(scope="module")
def receipt(api: Client, inv01: Any) -> dict[str, Any]:
    return get(api, "/receipt-by-key", key="INV01")[1]  # type: ignore[no-any-return]


VALID_OURS = {"result": "valid", "attested": True, "digest": "this-ledger"}


def test_verify_receipt_answers_valid(api: Client, receipt: dict[str, Any]) -> None:
    assert post(api, "/verify-receipt", receipt) == (200, VALID_OURS)


def _tampered(receipt: dict[str, Any], path: str, value: str) -> dict[str, Any]:
    copy_ = copy.deepcopy(receipt)
    *parents, last = path.split(".")
    target = copy_
    for name in parents:
        target = target[name]
    target[last] = value
    return copy_


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [  # the sample e2e test's tampering cases, and more
        (
            "BlockAddress.IonText",
            '{strandId: "abcdefghijklmnopqstuvw", sequenceNo: 3}',
            "tip-strand",
        ),
        ("DocumentId", "abcdefghijklmnopqstuvw", "ledger-revision"),
        ("RevisionHash", "abcdefghijklmnopqstuvw", "not-base64"),
        ("RevisionHash", base64.b64encode(bytes(32)).decode(), "proof-digest"),
        ("LedgerDigest.Digest", "abcdefghijklmnopqstuvw", "not-base64"),
        ("LedgerDigest.Digest", base64.b64encode(bytes(32)).decode(), "digest-not-ours"),
        (
            "LedgerDigest.DigestTipAddress.IonText",  # another strand: its own digest, then
            '{strandId: "abcdefghijklmnopqstuvw", sequenceNo: 8}',
            "tip-strand",
        ),
        ("LedgerName", "another-ledger", "ledger-name"),
    ],
)
def test_verify_receipt_refuses_tampering(
    api: Client, receipt: dict[str, Any], path: str, value: str, reason: str
) -> None:
    status, body = post(api, "/verify-receipt", _tampered(receipt, path, value))
    assert status == 400
    assert "Could not verify the metadta" in body["message"]  # the sample's text, typo and all
    assert body["result"] == ("malformed" if reason == "not-base64" else "invalid")
    assert body["reason"] == reason
    assert len(json.dumps(body)) < 600  # concise, no echo of the receipt


def test_verify_receipt_refuses_a_proof_element_flipped(
    api: Client, receipt: dict[str, Any]
) -> None:
    text = receipt["Proof"]["IonText"]
    first = text.index("{{") + 2
    flipped = text[:first] + ("A" if text[first] != "A" else "B") + text[first + 1 :]
    status, body = post(api, "/verify-receipt", _tampered(receipt, "Proof.IonText", flipped))
    assert status == 400
    assert body["result"] == "invalid"


def test_verify_receipt_of_a_real_qldb_ledger_is_valid_but_not_attested(api: Client) -> None:
    status, body = post(api, "/verify-receipt", README_RECEIPT)  # a real QLDB ledger's
    assert status == 200
    assert (body["result"], body["attested"], body["digest"]) == ("valid", False, "embedded")


@pytest.mark.parametrize("body", [{}, {"DocumentId": "XYZ"}, "not an object", [1, 2]])
def test_verify_receipt_invalid_body(api: Client, receipt: dict[str, Any], body: Any) -> None:
    if body == {"DocumentId": "XYZ"}:
        body = {**receipt, "DocumentId": "XYZ"}  # not 22 characters
    status, answer = post(api, "/verify-receipt", body)
    assert status == 400
    assert "Invalid request body" in answer["message"]


# -- revisions ---------------------------------------------------------------------------------
def test_retrieve_doc_revision_answers_the_revision(
    api: Client, receipt: dict[str, Any], inv01: Any
) -> None:
    status, revision = post(api, "/retrieve-doc-revision", receipt)
    assert status == 200
    _same_shape(revision["metadata"], README_HISTORY_ENTRY["metadata"])
    assert set(revision) == {"blockAddress", "hash", "data", "metadata"}
    assert revision["hash"] == receipt["RevisionHash"]
    assert revision["metadata"]["id"] == inv01["documentId"]


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("BlockAddress.IonText", '{strandId: "abcdefghijklmnopqstuvw", sequenceNo: 3}'),
        ("DocumentId", "abcdefghijklmnopqstuvw"),
        (
            "LedgerDigest.DigestTipAddress.IonText",
            '{strandId: "abcdefghijklmnopqstuvw", sequenceNo: 8}',
        ),
        ("BlockAddress.IonText", "{{not ion"),
        ("LedgerDigest.DigestTipAddress.IonText", '{strandId: "x", sequenceNo: 99999}'),
    ],
)
def test_retrieve_doc_revision_refusals(
    api: Client, receipt: dict[str, Any], path: str, value: str
) -> None:
    status, body = post(api, "/retrieve-doc-revision", _tampered(receipt, path, value))
    assert status == 400
    assert "Could not get document revision" in body["message"]


def test_retrieve_doc_revision_invalid_body(api: Client) -> None:
    status, body = post(api, "/retrieve-doc-revision", {})
    assert status == 400
    assert "Invalid request body" in body["message"]


@pytest.fixture(scope="module")
def history_entry(api: Client, inv01: Any) -> dict[str, Any]:
    status, body = get(api, "/history", key="INV01")
    assert status == 200
    return body[0]  # type: ignore[no-any-return]


def test_history_has_the_readme_shape(history_entry: dict[str, Any]) -> None:
    assert set(history_entry) == set(README_HISTORY_ENTRY)
    _same_shape(history_entry["metadata"], README_HISTORY_ENTRY["metadata"])
    assert history_entry["data"]["_k"] == "INV01"  # the KVS library's key field


def test_history_keeps_exact_digits(api: Client, inv01: Any) -> None:
    response = api.request("GET", "/history", params={"key": "INV01"})
    assert '"unitPrice":89000.50' in response.text


@pytest.mark.parametrize(
    ("params", "status", "count"),
    [
        ({}, 200, 1),
        ({"from": "2020-01-01T00:00:00Z"}, 200, 1),
        ({"to": "2999-01-01T00:00:00Z"}, 200, 1),
        ({"from": "2020-01-01T00:00:00Z", "to": "2999-01-01T00:00:00Z"}, 200, 1),
        ({"to": "2020-06-01T00:00:00Z"}, 200, 0),
        ({"from": "A", "to": "B"}, 400, None),
        ({"from": "2021-06-20T07:09:00Z", "to": "2021-06-18T00:20:00Z"}, 400, None),
    ],
)
def test_history_windows(
    api: Client, inv01: Any, params: dict[str, str], status: int, count: int | None
) -> None:
    got, body = get(api, "/history", key="INV01", **params)
    assert got == status
    if count is None:
        assert "Could not get history" in body["message"]
    else:
        assert len(body) == count


def test_history_refusals(api: Client) -> None:
    status, body = get(api, "/history", key="A")
    assert status == 400
    assert "Could not get history" in body["message"]
    status, body = get(api, "/history", keys="INV01")
    assert status == 400
    assert "Missing required request parameters: [key]" in body["message"]


def test_verify_doc_revision_valid(api: Client, history_entry: dict[str, Any]) -> None:
    assert post(api, "/verify-doc-revision", history_entry) == (200, {"result": "valid"})


def test_verify_doc_revision_of_the_readme_history_example(api: Client) -> None:
    assert post(api, "/verify-doc-revision", README_HISTORY_ENTRY) == (200, {"result": "valid"})
    status, body = post(api, "/verify-doc-revision", README_HISTORY_EDITED)
    assert (status, body["result"]) == (200, "invalid")


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("data._k", "aaa"),
        ("metadata.id", "ABC"),
        ("data.carInfo.unitPrice", "89000.5"),
        ("metadata.txTime", "2099-01-01T00:00:00.000Z"),
    ],
)
def test_verify_doc_revision_invalid(
    api: Client, history_entry: dict[str, Any], path: str, value: Any
) -> None:
    tampered = _tampered(history_entry, path, value)
    if path == "data.carInfo.unitPrice":
        from decimal import Decimal

        tampered["data"]["carInfo"]["unitPrice"] = Decimal(value)  # 89000.5 is not 89000.50
    if path == "data._k":
        tampered["data"]["_v"] = "bbb"
    status, body = post(api, "/verify-doc-revision", tampered)
    assert (status, body["result"]) == (200, "invalid")


def test_verify_doc_revision_invalid_body(api: Client, history_entry: dict[str, Any]) -> None:
    status, body = post(api, "/verify-doc-revision", {})
    assert status == 400
    assert "Invalid request body" in body["message"]
    status, body = post(api, "/verify-doc-revision", _tampered(history_entry, "hash", "aaa"))
    assert (status, body["reason"], body["result"]) == (400, "not-base64", "malformed")


def test_the_story_of_the_sample(api: Client, server: ServerProcess) -> None:
    """The README's walk-through: issue, receipt, verify, dealer pays, history, confirm."""
    with server.client(server.parties["dealer"]) as dealer:  # type: ignore[attr-defined]
        _story(api, dealer)


def _story(api: Client, dealer: Client) -> None:
    issued = dealer.request("POST", "/", [{"key": "STORY1", "value": invoice()}])
    assert issued.status == 404  # a dealer cannot issue invoices (nor learn that none exists)
    issued = api.put_values([{"key": "STORY1", "value": invoice()}])
    receipt = api.receipt_by_doc(issued["documentId"], issued["txId"])
    assert dealer.verify_receipt(receipt) == VALID_OURS
    transfer = {"bank": "DBS", "reference": "TRF-20210601"}
    paid = dealer.put_values(
        [{"key": "STORY1", "value": invoice(paymentStatus="TRANSFERRED", payment=transfer)}]
    )
    assert paid["documentId"] == issued["documentId"]
    assert paid["txId"] != issued["txId"]
    history = api.history("STORY1")
    assert [h["metadata"]["version"] for h in history] == [0, 1]
    assert history[1]["metadata"]["txId"] == paid["txId"]
    confirmed = api.put_values(
        [{"key": "STORY1", "value": invoice(paymentStatus="CONFIRMED", payment=transfer)}]
    )
    final = api.receipt_by_doc(confirmed["documentId"], confirmed["txId"])
    assert dealer.verify_receipt(final) == VALID_OURS
    assert all(
        dealer.verify_doc_revision(h) == {"result": "valid"} for h in dealer.history("STORY1")
    )


def test_server_log_is_quiet(server: ServerProcess) -> None:
    assert not [line for line in server.log if "Traceback" in line or "ERROR" in line]


def test_readme_receipt_fixture_is_the_sample_readme_example() -> None:
    # guards the shape comparisons above against a changed fixture
    assert README_RECEIPT["DocumentId"] == "G3Oi84WQpSA3ppyitpjObh"
    assert Path(ARTEFACTS / "receipt-1HqU-19-tip19.json").exists()
