"""The dealer's fixture files (fixtures/ledger/dealer/) regenerate byte for byte and verify.

The wheel check runs the same commands from a wheel installed without extras
(tests/packaging/test_wheel.py); this test keeps the committed files true to their generator.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from auditor.cli import main
from fixtures.ledger import make_dealer_fixtures
from tests.conftest import FIXTURES

DEALER = FIXTURES / "ledger" / "dealer"


def test_the_dealer_fixtures_regenerate_identically() -> None:
    files = make_dealer_fixtures.files()
    assert sorted(files) == sorted(p.name for p in DEALER.iterdir() if p.name != "README.md")
    for name, text in files.items():
        assert (DEALER / name).read_text() == text, name


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["bundle", "receipt-TEST10011.json", "--trust-key", "carmaker.vkey"], 0),
        (["bundle", "receipt-TEST10011.json"], 3),
        (["consistency", "consistency-20-52.json", "--trust-key", "carmaker.vkey"], 0),
    ],
)
def test_the_dealer_fixtures_verify(
    args: list[str], code: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(DEALER)
    result = CliRunner().invoke(main, ["verify", *args])
    assert result.exit_code == code, result.output


def test_a_changed_amount_in_the_dealer_bundle_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = json.loads((DEALER / "receipt-TEST10011.json").read_text())
    bundle["revision"]["IonText"] = bundle["revision"]["IonText"].replace(
        "unitPrice:89000.00", "unitPrice:89000.0"
    )
    (tmp_path / "b.json").write_text(json.dumps(bundle))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        main, ["verify", "bundle", "b.json", "--trust-key", str(DEALER / "carmaker.vkey")]
    )
    assert result.exit_code == 1, result.output
