"""`qldb-audit serve` on a ledger migrated from QLDB (the generated fixture, imported): the
imported invoices on the REST sample's routes and under /v1, with the per-revision rules of
the dealers (their billTo), receipts of imported revisions that verify offline, writes that
build on QLDB's versions, and the journal export."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from auditor.cli import main
from auditor.server.client import Client
from fixtures.qldb import generate_export as gen
from tests.conftest import FIXTURES
from tests.integration.server_support import Party, ServerProcess, parties, write_config

GENERATED = FIXTURES / "qldb" / "exports" / "generated"
JOURNAL = gen.generate()


def latest_invoices() -> dict[str, gen.RevisionRef]:
    """Each KVS key's latest revision, for those whose document is alive and holds an invoice
    (the generator also writes string values, {_k, _v})."""
    latest: dict[str, gen.RevisionRef] = {}
    for ref in JOURNAL.revisions:
        if ref.key is not None:
            latest[ref.key] = ref
    return {
        k: r for k, r in latest.items()
        if not r.deleted and "billTo" in r.original["data"]
    }  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("migrated-server")
    digests = sorted((GENERATED / "digests").glob("*.json"))
    args = ["ledger", "import", str(GENERATED / "ion-binary"), "--ledger", str(root / "l.db")]
    args += [a for d in digests for a in ("--digest", str(d))]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    who = parties()
    billed = {r.original["data"]["billTo"] for r in latest_invoices().values()}
    for i, bill_to in enumerate(sorted(billed)):
        who[f"dealer{i}"] = Party(f"dealer-{i}", "dealer", bill_to=str(bill_to))
    config = write_config(root / "server.toml", who)
    with ServerProcess(root / "l.db", config) as running:
        running.parties = who  # type: ignore[attr-defined]
        running.root = root  # type: ignore[attr-defined]
        yield running


def client(server: ServerProcess, role: str) -> Client:
    return server.client(server.parties[role])  # type: ignore[attr-defined]


def get(api: Client, path: str, **params: Any) -> tuple[int, Any]:
    response = api.request("GET", path, params=params)
    return response.status, response.json()


def test_the_sample_routes_serve_imported_invoices(server: ServerProcess) -> None:
    invoices = latest_invoices()
    assert invoices
    with client(server, "manufacturer") as api:
        for key, ref in invoices.items():
            status, body = get(api, "/", keys=key)
            assert status == 200, body
            assert body["billTo"] == ref.original["data"]["billTo"]
            status, receipt = get(api, "/receipt-by-key", key=key)
            assert status == 200, receipt
            assert receipt["DocumentId"] == ref.doc_id
            status, history = get(api, "/history", key=key)
            assert status == 200, history
            assert history[-1]["metadata"]["version"] == ref.version
            response = api.request("POST", "/verify-receipt", receipt)
            assert response.status == 200, response.json()
            assert response.json()["result"] == "valid"


def test_v1_documents_history_and_receipts(server: ServerProcess, tmp_path: Path) -> None:
    invoices = latest_invoices()
    key, _ = sorted(invoices.items())[0]
    with client(server, "manufacturer") as api:
        status, document = get(api, f"/v1/tables/invoices/documents/{key}")
        assert status == 200, document
        status, page = get(api, f"/v1/tables/invoices/documents/{key}/history")
        assert status == 200, page
        response = api.request("GET", f"/v1/tables/invoices/documents/{key}/receipt")
        assert response.status == 200
        bundle = tmp_path / "bundle.json"
        bundle.write_text(json.dumps(response.json()))
    vkey = tmp_path / "l.vkey"
    ledger = server.root / "l.db"  # type: ignore[attr-defined]
    vkey.write_text(CliRunner().invoke(main, ["ledger", "vkey", "--ledger", str(ledger)]).stdout)
    result = CliRunner().invoke(main, ["verify", "bundle", str(bundle), "--trust-key", str(vkey)])
    assert result.exit_code == 0, result.output


def test_dealers_see_only_what_is_billed_to_them(server: ServerProcess) -> None:
    invoices = latest_invoices()
    who = server.parties  # type: ignore[attr-defined]
    dealers = {p.bill_to: name for name, p in who.items() if name.startswith("dealer") and
               name[6:].isdigit()}  # fmt: skip
    for key, ref in invoices.items():
        mine = dealers[ref.original["data"]["billTo"]]
        others = [n for b, n in dealers.items() if b != ref.original["data"]["billTo"]]
        with client(server, mine) as api:
            assert get(api, f"/v1/tables/invoices/documents/{key}")[0] == 200
        for other in others:
            with client(server, other) as api:
                assert get(api, f"/v1/tables/invoices/documents/{key}")[0] == 404


def test_a_write_builds_on_the_imported_version(server: ServerProcess) -> None:
    key, ref = sorted(latest_invoices().items())[-1]
    with client(server, "manufacturer") as api:
        response = api.request("GET", f"/v1/tables/invoices/documents/{key}")
        etag = response.headers["etag"]
        value = dict(response.json()["value"])
        value["paymentStatus"] = "PENDING"
        response = api.request("PUT", f"/v1/tables/invoices/documents/{key}", value,
                               headers={"If-Match": etag})  # fmt: skip
        assert response.status == 200, response.json()
        assert response.json()["version"] == ref.version + 1


def test_a_qldb_deletion_has_no_receipt_and_no_server_error(server: ServerProcess) -> None:
    deleted = next(r for r in reversed(JOURNAL.revisions) if r.deleted and r.table == "invoices")
    latest = [r for r in JOURNAL.revisions if r.doc_id == deleted.doc_id][-1]
    assert latest is deleted  # the document's last revision is the deletion
    with client(server, "manufacturer") as api:
        history = get(api, "/history", key=deleted.key or deleted.doc_id)
        if deleted.key is not None and history[0] == 200:
            assert history[1][-1]["metadata"]["version"] >= 0
        response = api.request(
            "GET", f"/v1/revisions/{deleted.doc_id}/{deleted.original['metadata']['txId']}/receipt"
        )
        assert 400 <= response.status < 500, response.json()
        assert "deletion imported from QLDB" in json.dumps(response.json())
