"""Attacks on the verdict (issue: fail-closed verification), each through the CLI and the API.

Every test here builds an input that the verifier of the previous release called *verified*
(exit 0) although it was tampered with, or *tampered* (exit 1) although it was genuine, and
checks the verdict the fail-closed model gives instead. The inputs come from real QLDB data
(fixtures/qldb/artefacts, fixtures/qldb/exports) and from ledgers of our writer built here.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from amazon.ion import simpleion
from click.testing import CliRunner, Result

import proofs
from auditor import bundle, verify
from auditor.cli import main
from auditor.ledger import Ledger
from auditor.ledger.keys import SignerKey, sign_note
from auditor.verify import Policy, trusted_digest
from proofs.note import split_note

ROOT = Path(__file__).resolve().parents[2]
ARTEFACTS = ROOT / "fixtures" / "qldb" / "artefacts"
EXPORTS = ROOT / "fixtures" / "qldb" / "exports"


def cli(*args: object) -> Result:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert "Traceback" not in result.stdout + result.stderr
    return result


def claims(result: Result) -> dict[str, str]:
    """{claim name: status} of the one item of a --json report."""
    (item,) = json.loads(result.stdout)["items"]
    return {c["name"]: c["status"] for c in item["claims"]}


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def ion(value: Any) -> str:
    text: str = simpleion.dumps(value, binary=False, omit_version_marker=True)
    return text


def getblock() -> tuple[Any, list[bytes]]:
    doc = json.loads((ARTEFACTS / "getblock-KmA3-100-tip123.json").read_text())
    block = simpleion.loads(doc["Block"]["IonText"])
    proof = [bytes(p) for p in simpleion.loads(doc["Proof"]["IonText"])]
    return block, proof


def write_getblock(path: Path, block: Any, proof: list[bytes]) -> Path:
    path.write_text(json.dumps({"Block": {"IonText": ion(block)},
                                "Proof": {"IonText": ion(proof)}}))  # fmt: skip
    return path


DIGEST = ARTEFACTS / "derived-digest-KmA3-tip123.json"


# -- positions: QLDB's hashes do not cover block addresses -------------------------------------
def test_a_block_relabelled_to_another_position_is_refuted_by_its_proof_length(
    tmp_path: Path,
) -> None:
    """Block 100's real transaction relabelled as block 120 (tip 123): every hash still checks,
    but a 7-element path cannot be the path of block 120 in a 124-block tree (6 elements)."""
    block, proof = getblock()
    assert proofs.inclusion_path_length(100, 124) == len(proof) == 7
    assert proofs.inclusion_path_length(120, 124) == 6
    block["blockAddress"]["sequenceNo"] = 120
    for revision in block["revisions"]:
        revision["blockAddress"]["sequenceNo"] = 120
    path = write_getblock(tmp_path / "relabelled.json", block, proof)
    result = cli("verify", "block", path, "--digest", DIGEST, "--json")
    assert result.exit_code == 1
    assert claims(result)["proof-shape"] == "refuted"
    genuine = cli("verify", "block", ARTEFACTS / "getblock-KmA3-100-tip123.json", "--digest",
                  DIGEST, "--json")  # fmt: skip
    assert genuine.exit_code == 0
    # the position is reported, never claimed: QLDB's proofs carry no positions
    (position,) = [c for c in json.loads(genuine.stdout)["items"][0]["claims"]
                   if c["name"] == "position"]  # fmt: skip
    assert (position["status"], position["required"]) == ("not-proven", False)


def test_an_inner_node_of_the_journal_tree_is_not_accepted_as_a_block(tmp_path: Path) -> None:
    """No leaf/node separation: a "block" whose single entry is blockHash_100 and whose
    previousBlockHash is the first proof element hashes to an inner node, and the rest of the
    proof folds it to the digest. It carries no transactionInfo, so its contents cannot be
    checked: never 0."""
    block, proof = getblock()
    inner = {
        "blockAddress": {"strandId": block["blockAddress"]["strandId"], "sequenceNo": 120},
        "transactionId": block["transactionId"],
        "blockTimestamp": block["blockTimestamp"],
        "blockHash": proofs.dot(bytes(block["blockHash"]), proof[0]),
        "entriesHash": bytes(block["blockHash"]),
        "previousBlockHash": proof[0],
        "entriesHashList": [bytes(block["blockHash"])],
    }
    path = write_getblock(tmp_path / "inner.json", inner, proof[1:])
    result = cli("verify", "block", path, "--digest", DIGEST, "--json")
    assert result.exit_code == 3
    assert claims(result)["transaction-info"] == "not-proven"
    assert claims(result)["committed"] == "proven"  # the hashes do fold: that is the point
    assert "cannot tell a system block" in cli("verify", "block", path, "--digest", DIGEST).stdout


def test_a_block_stripped_of_transaction_info_is_not_verified(tmp_path: Path) -> None:
    block, proof = getblock()
    for strip_revisions in (False, True):
        stripped = {k: v for k, v in block.items() if k != "transactionInfo"}
        if strip_revisions:
            stripped.pop("revisions")
        path = write_getblock(tmp_path / f"stripped-{strip_revisions}.json", stripped, proof)
        result = cli("verify", "block", path, "--digest", DIGEST, "--json")
        assert result.exit_code == 3, strip_revisions
        assert claims(result)["transaction-info"] == "not-proven"


def test_a_revision_stripped_of_its_data_leaves_its_metadata_unproven(tmp_path: Path) -> None:
    """Without data or dataHash a revision looks deleted, and QLDB's hash rule for deleted
    revisions is unknown: its metadata (version 3 -> 99, txTime 2019 -> 2030) is not proven."""
    block, proof = getblock()
    revision = block["revisions"][0]
    del revision["data"]
    revision["metadata"]["version"] = 99
    path = write_getblock(tmp_path / "stripped.json", block, proof)
    result = cli("verify", "block", path, "--digest", DIGEST, "--json")
    assert result.exit_code == 3
    assert claims(result)["deleted-revisions"] == "not-proven"


def test_the_collapsed_transaction_attack_on_exports(tmp_path: Path) -> None:
    """[a,b,c,d] -> [dot(a,b), dot(c,d)], transactionInfo and revisions deleted: every hash
    checks, the block is opaque, so the export is not verified (and the caller may accept it
    only by naming it)."""
    export = tmp_path / "real"
    shutil.copytree(EXPORTS / "real-KmA3-block-100", export)
    (obj,) = (export / "Exp0rtKmA3block100real").iterdir()
    block = simpleion.loads(obj.read_bytes())
    a, b, c, d = (bytes(h) for h in block["entriesHashList"])
    block["entriesHashList"] = [proofs.dot(a, b), proofs.dot(c, d)]
    del block["transactionInfo"], block["revisions"]
    obj.write_text(ion(block) + "\n")
    proofs_json = export / "proofs.json"
    result = cli("verify", "export", export, "--digest", proofs_json, "--json")
    assert result.exit_code == 3
    verdict = json.loads(result.stdout)["verdict"]
    unproven = {c["name"] for c in verdict["claims"] if c["status"] == "not-proven"}
    assert "opaque-blocks" in unproven
    assert json.loads(result.stdout)["opaque_blocks"]["blocks"] == [100]


# -- digests at other tips -----------------------------------------------------------------------
def test_a_genuine_receipt_against_a_later_genuine_digest_is_not_tampered() -> None:
    result = cli("verify", "receipt", ARTEFACTS / "receipt-1HqU-19-tip35.json", "--digest",
                 ARTEFACTS / "digest-1HqU-30-tip38.json", "--json")  # fmt: skip
    assert result.exit_code == 3
    (item,) = json.loads(result.stdout)["items"]
    (committed,) = [c for c in item["claims"] if c["name"] == "committed"]
    assert committed["status"] == "not-proven"
    assert "tip 1HqUNaR8u8s13eFiSzGZl9/35" in committed["text"]
    assert "tip 1HqUNaR8u8s13eFiSzGZl9/38" in committed["text"]


def test_a_consistency_proof_links_a_receipt_to_a_digest_at_another_tip(tmp_path: Path) -> None:
    """Receipts of our own ledger: a receipt for tip T checked against the digest at tip U > T
    is 3 alone and 0 with the consistency proof from T to U; a proof from another history is
    refuted."""
    ledger = Ledger.create(str(tmp_path / "l.db"), "carmaker", tables=["invoices"])
    ledger.put("invoices", "INV1", {"amount": 1})
    receipt = tmp_path / "receipt.json"
    receipt.write_text(json.dumps(bundle.receipt_bundle(ledger, "invoices", "INV1")
                                  ["LedgerMetadata"]))  # fmt: skip
    old_tip = ledger.tip()
    for n in range(5):
        ledger.put("invoices", f"INV{n + 2}", {"amount": n})
    later = tmp_path / "later.json"
    later.write_text(json.dumps(ledger.digest().get_digest_json()))
    consistency = tmp_path / "c.json"
    consistency.write_text(json.dumps(bundle.consistency_file(ledger, old_tip, ledger.tip())))
    assert cli("verify", "receipt", receipt, "--digest", later).exit_code == 3
    result = cli("verify", "receipt", receipt, "--digest", later, "--consistency", consistency)
    assert result.exit_code == 0, result.stdout
    assert "is a prefix of the digest you supplied" in result.stdout
    # the same receipt, its consistency proof tampered with
    doc = json.loads(consistency.read_text())
    nodes = simpleion.loads(doc["proof"]["IonText"])
    nodes[0] = bytes(32)
    doc["proof"]["IonText"] = ion([bytes(n) for n in nodes])
    consistency.write_text(json.dumps(doc))
    assert cli("verify", "receipt", receipt, "--digest", later, "--consistency",
               consistency).exit_code == 1  # fmt: skip


# -- keys are bound to ledgers -------------------------------------------------------------------
@pytest.fixture
def carmaker(tmp_path: Path) -> Iterator[Ledger]:
    ledger = Ledger.create(str(tmp_path / "carmaker.db"), "carmaker", tables=["invoices"])
    ledger.put("invoices", "TEST10011", {"billTo": "ABC Car Dealer Pte Ltd", "amount": 10})
    yield ledger
    ledger.close()


def _bundle_file(ledger: Ledger, path: Path, **changes: Any) -> Path:
    doc = bundle.receipt_bundle(ledger, "invoices", "TEST10011")
    doc.update(changes)
    path.write_text(json.dumps(doc))
    return path


def test_an_impostor_ledger_of_the_same_name_is_refuted(carmaker: Ledger, tmp_path: Path) -> None:
    impostor = Ledger.create(str(tmp_path / "impostor.db"), "carmaker", tables=["invoices"])
    impostor.put("invoices", "TEST10011", {"billTo": "ABC Car Dealer Pte Ltd", "amount": 1})
    fake = _bundle_file(impostor, tmp_path / "fake.json")
    result = cli("verify", "bundle", fake, "--trust-key", carmaker.vkey, "--json")
    assert result.exit_code == 1
    assert claims(result)["signature"] == "refuted"
    assert "signed by: carmaker+" in cli("verify", "bundle", fake, "--trust-key",
                                         carmaker.vkey).stdout  # fmt: skip
    # the genuine bundle with no key: not proven, and its signature is not listed as checked
    genuine = _bundle_file(carmaker, tmp_path / "genuine.json")
    result = cli("verify", "bundle", genuine, "--json")
    assert result.exit_code == 3
    assert claims(result)["signature"] == "not-proven"
    assert cli("verify", "bundle", genuine, "--trust-key", carmaker.vkey).exit_code == 0


def test_a_checkpoint_signed_by_another_trusted_ledger_is_not_the_ledger_s(
    carmaker: Ledger, tmp_path: Path
) -> None:
    """The auditor trusts carmaker's and dealer's keys; a carmaker checkpoint re-signed by
    dealer (carmaker's signature removed) is not carmaker's. dealer's key counts only as a
    witness, and only when given as one."""
    dealer = SignerKey.generate("dealer")
    doc = bundle.receipt_bundle(carmaker, "invoices", "TEST10011")
    text, _ = split_note(doc["checkpoint"])
    resigned = _bundle_file(carmaker, tmp_path / "resigned.json",
                            checkpoint=sign_note(text, dealer))  # fmt: skip
    dealer_vkey = str(dealer.verifier)
    result = cli("verify", "bundle", resigned, "--trust-key", carmaker.vkey, "--trust-key",
                 dealer_vkey, "--json")  # fmt: skip
    assert result.exit_code == 1
    assert claims(result)["signature"] == "refuted"
    # cosigned by the dealer as a witness: carmaker's signature proves, the witness's too
    cosigned = _bundle_file(carmaker, tmp_path / "cosigned.json",
                            checkpoint=doc["checkpoint"] + dealer.sign(text))  # fmt: skip
    result = cli("verify", "bundle", cosigned, "--trust-key", carmaker.vkey, "--witness-key",
                 dealer_vkey, "--min-witnesses", "1", "--json")  # fmt: skip
    assert result.exit_code == 0, result.stdout
    assert claims(result)["witnesses"] == "proven"
    # a witness required and missing is refuted
    assert cli("verify", "bundle", _bundle_file(carmaker, tmp_path / "plain.json"),
               "--trust-key", carmaker.vkey, "--witness-key", dealer_vkey,
               "--min-witnesses", "1").exit_code == 1  # fmt: skip
    # the same key given twice in a trust set is a usage error
    twice = cli("verify", "bundle", cosigned, "--trust-key", carmaker.vkey, "--witness-key",
                carmaker.vkey)  # fmt: skip
    assert twice.exit_code == 2
    assert "given twice" in twice.stderr


def test_an_export_checkpoint_with_a_bad_trusted_signature_is_refuted(
    carmaker: Ledger, tmp_path: Path
) -> None:
    from auditor.export import export

    export(carmaker, str(tmp_path / "x"), "ion_text")
    (checkpoint,) = (tmp_path / "x").glob("*.checkpoint")
    note = checkpoint.read_text()
    text, signatures = split_note(note)
    name, kid, sig = signatures[0]
    forged = text + "\n" + f"— {name} {b64(kid + bytes(len(sig)))}\n"
    checkpoint.write_text(forged)
    result = cli("verify", "export", tmp_path / "x", "--trust-key", carmaker.vkey, "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["first_break"]["check"] == "digest"


def test_rules_are_the_caller_s_never_the_export_s(carmaker: Ledger, tmp_path: Path) -> None:
    """Deleting the writer's .checkpoint once downgraded the audit to QLDB rules; now the rules
    come from --rules or the trust anchor (a trusted writer key means writer rules)."""
    from auditor.export import export

    export(carmaker, str(tmp_path / "x"), "ion_text")
    for beside in (tmp_path / "x").glob("*.checkpoint"):
        beside.unlink()
    (obj,) = list((tmp_path / "x").rglob("*.ion"))
    lines = obj.read_bytes().splitlines()
    block = simpleion.loads(lines[-1])  # the invoice's block: collapse its transaction
    entries = [bytes(h) for h in block["entriesHashList"]]
    assert len(entries) == 3
    block["entriesHashList"] = [proofs.dot(entries[0], entries[1]), entries[2]]
    del block["transactionInfo"], block["revisions"]
    lines[-1] = ion(block).encode()
    obj.write_bytes(b"\n".join(lines) + b"\n")
    result = cli("verify", "export", tmp_path / "x", "--trust-key", carmaker.vkey, "--json")
    assert result.exit_code == 1  # writer rules, implied by the key: the header entry is gone
    digest = tmp_path / "digest.json"
    digest.write_text(json.dumps(carmaker.digest().get_digest_json()))
    result = cli("verify", "export", tmp_path / "x", "--digest", digest, "--json")
    assert result.exit_code == 3  # QLDB rules: an opaque block, named
    assert json.loads(result.stdout)["opaque_blocks"]["total"] == 1
    assert cli("verify", "export", tmp_path / "x", "--digest", digest, "--rules",
               "writer").exit_code == 1  # fmt: skip


# -- every byte accounted for --------------------------------------------------------------------
def _kvs(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((ARTEFACTS / "receipt-1HqU-19-tip35.json").read_text())
    doc.update(changes)
    return doc


@pytest.mark.parametrize(
    ("name", "doc", "reason"),
    [
        ("decoy-sequence-no", _kvs(BlockAddress={
            "IonText": '{strandId:"1HqUNaR8u8s13eFiSzGZl9",sequenceNo:999,sequenceNo:19}'}),
         "duplicate field"),
        ("extra-key-in-holder", _kvs(Proof={**_kvs()["Proof"], "Note": "x"}), "unknown field"),
        ("annotated-proof-hash", _kvs(Proof={"IonText": "[x::" + _kvs()["Proof"]["IonText"][1:]}),
         "annotations"),
        ("unknown-field", _kvs(Extra=1), "unknown field"),
    ],
)  # fmt: skip
def test_other_spellings_of_a_receipt_are_malformed(
    name: str, doc: dict[str, Any], reason: str, tmp_path: Path
) -> None:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(doc))
    result = cli("verify", "receipt", path, "--digest", ARTEFACTS / "digest-1HqU-19-tip35.json")
    assert result.exit_code == 2, result.stdout
    assert reason in result.stdout
    assert str(path) in result.stdout


def test_other_spellings_of_a_bundle_are_malformed(carmaker: Ledger, tmp_path: Path) -> None:
    doc = bundle.receipt_bundle(carmaker, "invoices", "TEST10011")
    text = json.dumps(doc)
    variants = {
        "version-as-decimal": text.replace('"version": 1,', '"version": 1.0,'),
        "duplicate-json-key": text.replace('"version": 1,', '"version": 1, "version": 1,'),
        "decoy-in-digest-tip": text.replace(
            'sequenceNo:' + str(carmaker.tip()) + '}"',
            f'sequenceNo:999,sequenceNo:{carmaker.tip()}}}"', 1,
        ),
    }  # fmt: skip
    assert cli("verify", "bundle", _bundle_file(carmaker, tmp_path / "ok.json"), "--trust-key",
               carmaker.vkey).exit_code == 0  # fmt: skip
    for name, variant in variants.items():
        assert variant != text, name
        path = tmp_path / f"{name}.json"
        path.write_text(variant)
        result = cli("verify", "bundle", path, "--trust-key", carmaker.vkey)
        assert result.exit_code == 2, (name, result.stdout)


def test_verify_receipt_refuses_a_bundle_and_names_verify_bundle(
    carmaker: Ledger, tmp_path: Path
) -> None:
    path = _bundle_file(carmaker, tmp_path / "b.json")
    result = cli("verify", "receipt", path)
    assert result.exit_code == 2
    assert "verify bundle" in result.stdout


@pytest.mark.parametrize("previous", ["", "[]", "null", '"abc"', "{{}}"])
def test_previous_block_hash_is_only_empty_at_genesis(previous: str) -> None:
    block, _ = getblock()
    text = ion(block)
    start = text.index("previousBlockHash:")
    end = text.index(",", start)
    damaged = text[:start] + f"previousBlockHash:{previous or '{{}}'}" + text[end:]
    v = verify.check_bytes(damaged.encode(), "b.ion", "block", Policy())
    assert v[0].status == "malformed", previous


def test_nothing_defaults_to_proven() -> None:
    from auditor.verdict import Verdict, VerdictBuilder

    assert Verdict("x", "y").status == "not-proven"
    v = VerdictBuilder("x", "y")
    v.proven("content-hash", "x", "recomputes")
    assert v.build().status == "not-proven"  # proven, but no anchor you supplied
    v.proven("committed", "x", "folds", anchor="your digest")
    assert v.build().status == "verified"
    assert bool(v.build()) is True
    v.not_proven("position", "x", "not covered", required=False)
    assert v.build().status == "verified"
    v.not_proven("contents", "x", "opaque")
    assert v.build().status == "not-proven"
    assert bool(v.build()) is False


def test_the_api_and_the_cli_agree_on_real_artefacts() -> None:
    for name, digest, code in (
        ("receipt-1HqU-19-tip35.json", "digest-1HqU-19-tip35.json", 0),
        ("receipt-1HqU-19-tip35.json", "digest-1HqU-30-tip38.json", 3),
        ("receipt-KbW0-21-tip46.json", "digest-KbW0-21-tip46.json", 1),
    ):
        policy = Policy(digest=verify.load_trusted_digest(str(ARTEFACTS / digest)))
        (v,) = verify.check_file(str(ARTEFACTS / name), "receipt", policy)
        assert v.exit_code == code, name
        assert cli("verify", "receipt", ARTEFACTS / name, "--digest",
                   ARTEFACTS / digest).exit_code == code  # fmt: skip
        assert trusted_digest(policy.digest.digest, "x").label.startswith("the digest you")  # type: ignore[union-attr]


def test_option_files_that_are_not_usable_are_one_error_line(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 1000 + "]" * 1000)
    huge = tmp_path / "huge.json"
    huge.write_text('{"Digest": 1e99999999999999999999}')
    binary = tmp_path / "key.bin"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    receipt = ARTEFACTS / "receipt-1HqU-19-tip35.json"
    for args in (
        ["verify", "receipt", receipt, "--digest", deep],
        ["verify", "receipt", receipt, "--digest", huge],
        ["verify", "receipt", receipt, "--revision", deep],
        ["verify", "bundle", receipt, "--trust-key", binary],
    ):
        result = cli(*args)
        assert result.exit_code == 2, args
        (line,) = result.stderr.splitlines() or result.stdout.splitlines()
        assert line.startswith("ERROR: ")
        assert os.path.basename(str(args[-1])) in line
