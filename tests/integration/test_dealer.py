"""The dealer's journey: one command, a verdict in plain words on stdout, and the invoice file
the dealer holds compared with the bundle's revision (a number's spelling explained)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from auditor import bundle, formats, jsonout
from auditor.cli import main
from auditor.ledger import Ledger

INVOICE = {
    "date": "2021-05-22", "billTo": "ABC Car Dealer Pte Ltd", "paymentStatus": "PENDING",
    "carInfo": {"model": "Jazz", "make": "Honda", "year": 2021, "unitPrice": Decimal("51990.50")},
    "quantity": 10,
}  # fmt: skip


def cli(*args: object) -> Result:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    return result


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    ledger = Ledger.create(str(tmp_path / "carmaker.db"), "carmaker", tables=["invoices"])
    ledger.put("invoices", "TEST10011", INVOICE)
    out = {"bundle": tmp_path / "receipt.json", "vkey": tmp_path / "carmaker.vkey"}
    out["bundle"].write_text(json.dumps(bundle.receipt_bundle(ledger, "invoices", "TEST10011")))
    out["vkey"].write_text(ledger.vkey + "\n")
    ledger.close()
    return out


def _invoice_file(path: Path, unit_price: str) -> Path:
    text = json.dumps({**INVOICE, "carInfo": {**INVOICE["carInfo"], "unitPrice": "PRICE"}})
    path.write_text(text.replace('"PRICE"', unit_price))
    return path


def test_the_verdict_says_what_was_verified_on_stdout(files: dict[str, Path]) -> None:
    result = cli("verify", "bundle", files["bundle"], "--trust-key", files["vkey"])
    assert result.exit_code == 0
    assert result.stderr == ""
    out = result.stdout
    assert out.startswith(f"OK: {files['bundle']}: verified (exit 0)")
    for text in ("ledger: carmaker", "table: invoices", "key: TEST10011", "version: 0",
                 "signed by: carmaker+", "checkpoint: tip", "billTo: ABC Car Dealer Pte Ltd",
                 "carInfo.unitPrice: 51990.50", "quantity: 10", "paymentStatus: PENDING",
                 "anchor:      the key carmaker+"):  # fmt: skip
        assert text in out, text
    assert "not proven:  the block address" in out  # and what was not proven, in plain words


def test_the_document_the_dealer_holds(files: dict[str, Path], tmp_path: Path) -> None:
    args = ("verify", "bundle", files["bundle"], "--trust-key", files["vkey"], "--document")
    same = cli(*args, _invoice_file(tmp_path / "same.json", "51990.50"))
    assert same.exit_code == 0
    assert "is this revision's, value for value" in same.stdout
    respelled = cli(*args, _invoice_file(tmp_path / "respelled.json", "51990.5"))
    assert respelled.exit_code == 3  # the same amount, written differently: never "tampered"
    assert "the ledger holds 51990.50, your file says 51990.5" in respelled.stdout
    assert "compare the amounts" in respelled.stdout
    other = cli(*args, _invoice_file(tmp_path / "other.json", "41990.50"))
    assert other.exit_code == 1
    assert "carInfo.unitPrice" in other.stdout
    assert "expected 51990.50, got 41990.50" in other.stdout
    ion = tmp_path / "invoice.ion"
    ion.write_text('{date:"2021-05-22",billTo:"ABC Car Dealer Pte Ltd",paymentStatus:"PENDING",'
                   'carInfo:{model:"Jazz",make:"Honda",year:2021,unitPrice:51990.50},'
                   "quantity:10}")  # fmt: skip
    assert cli(*args, ion).exit_code == 0
    missing = cli(*args, tmp_path / "nope.json")
    assert missing.exit_code == 2
    assert "nope.json" in missing.stderr


def test_a_verdict_can_be_saved_to_a_file(files: dict[str, Path], tmp_path: Path) -> None:
    """`qldb-audit verify bundle b.json > result.txt` captures the verdict."""
    result = cli("verify", "bundle", files["bundle"])
    assert result.exit_code == 3
    assert result.stdout.startswith("NOT PROVEN:")
    assert "no key you trust was supplied" in result.stdout


def test_a_json_revision_whose_numbers_were_rewritten_says_why(tmp_path: Path) -> None:
    ledger = Ledger.create(str(tmp_path / "l.db"), "carmaker", tables=["invoices"])
    ledger.put("invoices", "TEST10011", INVOICE)
    ledger.close()
    history = cli("ledger", "history", "--ledger", tmp_path / "l.db", "--table", "invoices",
                  "TEST10011")  # fmt: skip
    revision = formats.loads_json(history.stdout)[0]  # exact decimals, as the ledger wrote them
    genuine = tmp_path / "revision.json"
    genuine.write_text(jsonout.to_json(revision))
    assert cli("verify", "revision", genuine).exit_code == 3
    rewritten = tmp_path / "rewritten.json"
    rewritten.write_text(genuine.read_text().replace("51990.50", "51990.5"))
    result = cli("verify", "revision", rewritten)
    assert result.exit_code == 1
    assert "51990.50 as 51990.5" in result.stdout


def test_our_history_entries_verify_and_their_extra_fields_must_agree(tmp_path: Path) -> None:
    ledger = Ledger.create(str(tmp_path / "l.db"), "carmaker", tables=["invoices"])
    ledger.put("invoices", "TEST10011", INVOICE)
    ledger.close()
    history = cli("ledger", "history", "--ledger", tmp_path / "l.db", "--table", "invoices",
                  "TEST10011")  # fmt: skip
    entry = formats.loads_json(history.stdout)[0]
    path = tmp_path / "entry.json"
    path.write_text(jsonout.to_json(entry))
    result = cli("verify", "revision", path)
    assert result.exit_code == 3
    assert "table: invoices" in result.stdout
    for field, value in (("version", 7), ("documentId", "x"), ("key", "TEST99")):
        path.write_text(jsonout.to_json({**entry, field: value}))
        result = cli("verify", "revision", path)
        assert result.exit_code == 2, field
        assert "disagrees with itself" in result.stdout
