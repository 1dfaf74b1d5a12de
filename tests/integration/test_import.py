"""`qldb-audit ledger import`: QLDB-shaped exports from the independent generator
(fixtures/qldb/generate_export.py, which shares nothing with the writer) imported and checked
end to end: every block kept value for value, the digest at every imported tip equal to the
generator's, the generator's receipts verified against the migrated ledger's digests,
consistency from every saved digest to the new checkpoint (and not from a fork's), key-value
operations and receipt bundles on imported documents, the export and its audit with the
boundary; and every refusal (tampered, partial, JSON, forked digests, bit flips, a kill) with
nothing created."""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from auditor.cli import main
from auditor.ledger import IntegrityError, Ledger, LedgerError, NotFoundError
from auditor.ledger.codec import decode, encode
from auditor.ledger.importer import ImportOptions, ImportRefusedError, import_export
from fixtures.qldb import generate_export as gen
from fixtures.qldb import mutate_export as mut
from proofs import ion_hash
from tests.conftest import FIXTURES, ROOT

GENERATED = FIXTURES / "qldb" / "exports" / "generated"
REAL_100 = FIXTURES / "qldb" / "exports" / "real-KmA3-block-100"
JOURNAL = gen.generate()
LAST = len(JOURNAL.blocks) - 1
DIGESTS = sorted((GENERATED / "digests").glob("digest-tip-*.json"))


def cli(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert "Traceback" not in result.output
    return result.exit_code, result.stdout, result.stderr


def digest_args(digests: list[Path] = DIGESTS) -> list[str]:
    return [a for d in digests for a in ("--digest", str(d))]


def nothing_created(directory: Path, name: str = "l.db") -> None:
    left = sorted(p.name for p in directory.iterdir() if p.name.startswith(name))
    assert left == [], left


def imported(tmp_path: Path, source: Path = GENERATED / "ion-binary", *extra: str) -> Path:
    path = tmp_path / "l.db"
    code, _out, err = cli("ledger", "import", source, "--ledger", path, *digest_args(), *extra)
    assert code == 0, err
    return path


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed generated fixture (Ion binary, digests at every tip), imported once;
    tests that write copy it first (:func:`copy`)."""
    return imported(tmp_path_factory.mktemp("migrated"))


def copy(path: Path, to: Path) -> Path:
    for suffix in ("", ".key"):
        shutil.copy(str(path) + suffix, str(to / "l.db") + suffix)
    return to / "l.db"


# -- the import, kept value for value ------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["ion-binary", "ion-text"])
def test_an_export_imports_block_for_block(fmt: str, tmp_path: Path) -> None:
    path = tmp_path / "l.db"
    code, out, err = cli("ledger", "import", GENERATED / fmt, "--ledger", path, *digest_args())
    assert code == 0, err
    result = json.loads(out)
    assert result["name"] == JOURNAL.ledger_name
    assert result["strandId"] == JOURNAL.strand_id
    assert result["vkey"].startswith(JOURNAL.ledger_name + "+")
    summary = result["imported"]
    assert (summary["blocks"], summary["importBoundary"], summary["anchoredTip"]) == (40, 39, 39)
    assert len(summary["digestsMatched"]) == 40
    counts = summary["revisions"]
    users = list(JOURNAL.revisions)
    assert counts["deleted"] == sum(r.deleted for r in users)
    assert counts["redacted"] == sum(r.redacted_by is not None for r in users)
    assert counts["data"] + counts["redacted"] + counts["deleted"] == len(users)
    assert counts["system"] == sum(
        "metadata" not in r for b in JOURNAL.blocks for r in b.get("revisions", [])
    )
    assert set(summary["tables"]) == {"invoices", "VehicleRegistration"}
    assert summary["tables"]["VehicleRegistration"]["indexedByKey"] == 0  # no _k: by id
    assert summary["tables"]["invoices"]["indexedByKey"] >= 4
    assert summary["blocksWithoutTransactionInfo"]["blocks"] == [
        s for s, b in enumerate(JOURNAL.blocks) if "transactionInfo" not in b
    ]
    assert "deleted revision" in summary["notRecomputed"]
    ledger = Ledger.open(str(path))
    try:
        assert ledger.verify_journal() == 40
        assert (ledger.import_boundary, ledger.tables()) == (39, JOURNAL.tables)
        for seq, block in enumerate(JOURNAL.blocks):  # every block, value for value
            assert ion_hash(ledger.block(seq)) == ion_hash(block), seq
    finally:
        ledger.close()


def test_binary_and_text_exports_make_the_same_ledger_rows_byte_for_byte(tmp_path: Path) -> None:
    """The binary import stores rows re-based from the export's bytes, the text import encodes
    the values again: every journal row is the same, and each is the canonical encoding of what
    it holds."""
    rows = {}
    for fmt in ("ion-binary", "ion-text"):
        path = tmp_path / f"{fmt}.db"
        code, _, err = cli("ledger", "import", GENERATED / fmt, "--ledger", path, *digest_args())
        assert code == 0, err
        with contextlib.closing(sqlite3.connect(path)) as db:
            rows[fmt] = {
                table: db.execute(f"SELECT * FROM {table} ORDER BY seq, {order}").fetchall()
                for table, order in (("blocks", "seq"), ("revisions", "rev_index"),
                                     ("system_revisions", "rev_index"))
            }  # fmt: skip
    assert rows["ion-binary"] == rows["ion-text"]
    blobs = [r[1] for r in rows["ion-binary"]["blocks"]]
    blobs += [r[-1] for t in ("revisions", "system_revisions") for r in rows["ion-binary"][t]]
    assert len(blobs) > 100
    assert all(encode(decode(b, "row")) == b for b in blobs)


def _schema(path: Path) -> list[tuple[str, str, str]]:
    db = sqlite3.connect(path)
    try:
        return sorted(db.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
        ).fetchall())  # fmt: skip
    finally:
        db.close()


def test_a_migrated_ledger_has_the_schema_of_one_made_by_init(
    migrated: Path, tmp_path: Path
) -> None:  # (the import builds the index by transaction last: it must be there)
    fresh = tmp_path / "fresh.db"
    code, _out, err = cli("ledger", "init", "--ledger", fresh, "--name", "fresh")
    assert code == 0, err
    system = ("table", "system_revisions")
    ours = [row for row in _schema(migrated) if row[:2] != system]
    assert ours == _schema(fresh)
    assert ("index", "revisions_by_tx") in [row[:2] for row in ours]
    assert system in [row[:2] for row in _schema(migrated)]


def test_the_digest_at_every_imported_tip_is_the_generators(migrated: Path) -> None:
    for tip, path in enumerate(DIGESTS):
        code, out, _ = cli("ledger", "digest", "--ledger", migrated, "--tip", tip)
        assert code == 0
        ours, theirs = json.loads(out), json.loads(path.read_text())
        assert ours["Digest"] == theirs["Digest"] == gen.b64(gen.digest_at(JOURNAL, tip))
    assert cli("ledger", "digest", "--ledger", migrated, "--tip", LAST + 1)[0] == 2


def test_generator_receipts_verify_against_the_migrated_ledgers_digests(
    migrated: Path, tmp_path: Path
) -> None:
    manifest = json.loads((GENERATED / "manifest.json").read_text())
    checked = 0
    for check in manifest["checks"]:
        command = check["command"]
        if command[0] not in ("receipt", "block"):
            continue
        args: list[str | Path] = ["verify", command[0]]
        for i, arg in enumerate(command[1:], 1):
            if command[i - 1] == "--digest":
                tip = int(arg.rsplit("-", 1)[1].removesuffix(".json"))
                ours = tmp_path / f"ours-{tip}.json"
                assert (
                    cli("ledger", "digest", "--ledger", migrated, "--tip", tip, "-o", ours)[0] == 0
                )
                args.append(ours)  # the migrated ledger's digest at that tip, with its checkpoint
            elif arg.startswith(("receipts/", "digests/")):
                args.append(GENERATED / arg)
            else:
                args.append(arg)
        assert cli(*args)[0] == check["exit_code"], (check, args)
        checked += 1
    assert checked >= 20


# -- continuing the chain --------------------------------------------------------------------
def test_new_blocks_chain_onto_qldbs_last_block(migrated: Path, tmp_path: Path) -> None:
    path = copy(migrated, tmp_path)
    ledger = Ledger.open(str(path))
    try:
        revision = ledger.put("invoices", "INV9001", {"billTo": "Bay Motors LLC", "n": 1})
        block = ledger.block(LAST + 1)
        assert revision.sequence_no == LAST + 1
        assert bytes(block["previousBlockHash"]) == JOURNAL.block_hashes[LAST]
        assert block["blockAddress"]["strandId"] == JOURNAL.strand_id
        ledger.create_table("payments")
        assert ledger.verify_journal() == LAST + 3
        # the QLDB digests are still the digests at their tips
        assert ledger.digest(17).digest == gen.digest_at(JOURNAL, 17)
    finally:
        ledger.close()


def live_kvs() -> dict[str, gen.RevisionRef]:
    """Each KVS key's latest revision in the generated journal."""
    latest: dict[str, gen.RevisionRef] = {}
    for ref in JOURNAL.revisions:
        if ref.key is not None:
            latest[ref.key] = ref
    return latest


def test_key_value_operations_on_imported_documents(migrated: Path, tmp_path: Path) -> None:
    path = copy(migrated, tmp_path)
    ledger = Ledger.open(str(path))
    try:
        kvs = live_kvs()
        alive = sorted(k for k, r in kvs.items() if not r.deleted)
        key = alive[0]
        ref = kvs[key]
        assert ion_hash(ledger.get("invoices", key)) == ion_hash(ref.original["data"])
        current = ledger.current("invoices", key)
        assert (current.document_id, current.version) == (ref.doc_id, ref.version)
        # history by key spans every document the key named; by document id one document
        by_key = ledger.history("invoices", key)
        assert [r.version for r in by_key if r.document_id == ref.doc_id] == list(
            range(ref.version + 1)
        )
        by_doc = ledger.document_history("invoices", ref.doc_id)
        assert [r.version for r in by_doc] == list(range(ref.version + 1))
        # a plain QLDB table without _k: by document id
        plain = next(r for r in reversed(JOURNAL.revisions) if r.table == "VehicleRegistration"
                     and not r.deleted)  # fmt: skip
        got = ledger.get("VehicleRegistration", plain.doc_id)
        assert got is None or ion_hash(got) == ion_hash(plain.original["data"])
        # put with the expected version: conflict, then the write on top of QLDB's version
        from auditor.ledger import ConflictError

        with pytest.raises(ConflictError):
            ledger.put("invoices", key, {"billTo": "x"}, expected_version=ref.version - 1)
        new = ledger.put("invoices", key, {"billTo": "ABC Car Dealer Pte Ltd"}, ref.version)
        assert (new.document_id, new.version) == (ref.doc_id, ref.version + 1)
        # delete and redact (an imported, non-latest revision)
        ledger.delete("invoices", key, expected_version=ref.version + 1)
        with pytest.raises(NotFoundError):
            ledger.current("invoices", key)
        old = next(r for r in by_doc if r.data is not None)
        redacted = ledger.redact("invoices", key, old.version, ref.doc_id)
        assert "dataHash" in redacted.value
        assert redacted.hash == old.hash
        assert ledger.verify_journal() == LAST + 4
        # a plain document is written under its id, and gets that id as its _k
        if got is not None:
            written = ledger.put("VehicleRegistration", plain.doc_id, {"VIN": "X"}, plain.version)
            assert written.data["_k"] == plain.doc_id
            assert written.version == plain.version + 1
        assert ledger.verify_journal() >= LAST + 4
    finally:
        ledger.close()


def test_cli_history_by_document_id(migrated: Path) -> None:
    ref = next(r for r in JOURNAL.revisions if r.table == "invoices" and r.version >= 2)
    code, out, _ = cli("ledger", "history", "--ledger", migrated, "-t", "invoices",
                       "--document-id", ref.doc_id)  # fmt: skip
    assert code == 0
    assert [r["version"] for r in json.loads(out)][: ref.version + 1] == list(
        range(ref.version + 1)
    )
    assert cli("ledger", "history", "--ledger", migrated, "-t", "invoices", "--document-id",
               "nope")[0] == 2  # fmt: skip
    assert cli("ledger", "history", "--ledger", migrated, "-t", "invoices")[0] == 2


def test_receipt_bundles_for_imported_revisions(migrated: Path, tmp_path: Path) -> None:
    vkey = tmp_path / "l.vkey"
    code, out, _ = cli("ledger", "vkey", "--ledger", migrated)
    vkey.write_text(out)
    kvs = live_kvs()
    alive = sorted(k for k, r in kvs.items() if not r.deleted)
    for key in alive[:3]:
        bundle = tmp_path / f"{key}.json"
        assert cli("ledger", "receipt", "--ledger", migrated, "-t", "invoices", key,
                   "-o", bundle)[0] == 0  # fmt: skip
        assert cli("verify", "bundle", bundle, "--trust-key", vkey)[0] == 0
        tampered = json.loads(bundle.read_text())
        tampered["revision"]["IonText"] = tampered["revision"]["IonText"].replace("Ltd", "Ltc")
        if tampered["revision"]["IonText"] != json.loads(bundle.read_text())["revision"]["IonText"]:
            bundle.write_text(json.dumps(tampered))
            assert cli("verify", "bundle", bundle, "--trust-key", vkey)[0] == 1
    # a redacted imported revision (of an older document under a re-used key, too)
    from auditor.bundle import receipt_bundle_for

    ledger = Ledger.open(str(migrated))
    try:
        for ref in [r for r in JOURNAL.revisions if r.redacted_by is not None]:
            revision = ledger.document_history(ref.table, ref.doc_id)[ref.version]
            bundle = tmp_path / "redacted.json"
            bundle.write_text(json.dumps(receipt_bundle_for(ledger, revision)))
            code, out, _ = cli("verify", "bundle", bundle, "--trust-key", vkey)
            assert code == 0, out
            assert "redacted" in out, out
    finally:
        ledger.close()
    # a deletion imported from QLDB has no bundle: its hash rule is not known
    deleted = next(r for r in JOURNAL.revisions if r.deleted)
    ledger = Ledger.open(str(migrated))
    try:
        from auditor.bundle import receipt_bundle_for

        revision = ledger.document_history(deleted.table, deleted.doc_id)[deleted.version]
        with pytest.raises(LedgerError, match="deletion imported from QLDB"):
            receipt_bundle_for(ledger, revision)
    finally:
        ledger.close()


# -- consistency from QLDB's digests -----------------------------------------------------------
def test_consistency_from_every_saved_digest_to_the_new_checkpoint(
    migrated: Path, tmp_path: Path
) -> None:
    path = copy(migrated, tmp_path)
    ledger = Ledger.open(str(path))
    try:
        ledger.put("invoices", "INV9002", {"billTo": "Nordic Autos AB"})
        vkey = tmp_path / "l.vkey"
        vkey.write_text(ledger.vkey + "\n")
    finally:
        ledger.close()
    for digest in DIGESTS:
        proof = tmp_path / "c.json"
        code, _, err = cli("ledger", "consistency", "--ledger", path, "--from-digest", digest,
                           "-o", proof)  # fmt: skip
        assert code == 0, err
        code, out, _ = cli("verify", "consistency", proof, "--trust-key", vkey, "--digest", digest)
        assert code == 0, out
        # the old side is anchored only by the digest you supply: without it, not proven
        assert cli("verify", "consistency", proof, "--trust-key", vkey)[0] == 3
    # an edited proof (two of its hashes swapped) is refuted
    document = json.loads(proof.read_text())
    elements = document["proof"]["IonText"][1:-1].split(",")
    assert len(elements) >= 2
    elements[0], elements[1] = elements[1], elements[0]
    document["proof"]["IonText"] = "[" + ",".join(elements) + "]"
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(document))
    assert (
        cli("verify", "consistency", edited, "--trust-key", vkey, "--digest", DIGESTS[-1])[0] == 1
    )


def test_consistency_fails_for_a_forked_continuation(migrated: Path, tmp_path: Path) -> None:
    k = 20
    fork = mut.fork(JOURNAL, k)
    assert gen.digest_at(fork, k) == gen.digest_at(JOURNAL, k)
    saved = tmp_path / "fork"
    saved.mkdir()
    vkey = tmp_path / "l.vkey"
    vkey.write_text(cli("ledger", "vkey", "--ledger", migrated)[1])
    for tip in (k, k + 1, LAST):
        digest = saved / f"{tip}.json"
        digest.write_text(json.dumps(gen.get_digest(fork, tip)))
        code, _, err = cli("ledger", "consistency", "--ledger", migrated, "--from-digest",
                           digest, "-o", tmp_path / "c.json")  # fmt: skip
        if tip <= k:  # the shared history
            assert code == 0, err
            continue
        assert code == 2, err
        assert "not this ledger's digest" in err, err
        # a proof from our own digest at that tip, checked against the fork's digest: refuted
        assert cli("ledger", "consistency", "--ledger", migrated, "--from-digest",
                   DIGESTS[tip], "-o", tmp_path / "c.json")[0] == 0  # fmt: skip
        code, out, _ = cli("verify", "consistency", tmp_path / "c.json", "--trust-key", vkey,
                           "--digest", digest)  # fmt: skip
        assert code == 1, out
        # a consistency file whose old side is the fork's digest: the proof does not verify
        document = json.loads((tmp_path / "c.json").read_text())
        document["old"]["Digest"] = gen.b64(gen.digest_at(fork, tip))
        (tmp_path / "forged.json").write_text(json.dumps(document))
        code, out, _ = cli("verify", "consistency", tmp_path / "forged.json", "--trust-key",
                           vkey, "--digest", digest)  # fmt: skip
        assert code == 1, out
    # importing the forked export with the original's digest after the fork: refuted
    export = tmp_path / "fork-export"
    gen.write(gen.render_export(fork, "ion_binary"), export)
    code, _, err = cli("ledger", "import", export, "--ledger", tmp_path / "l.db",
                       "--digest", DIGESTS[LAST])  # fmt: skip
    assert code == 1, err
    assert "digest" in err, err
    nothing_created(tmp_path)


def test_consistency_from_digest_is_refused_for_another_ledgers_digest(migrated: Path) -> None:
    other = FIXTURES / "qldb" / "artefacts" / "derived-digest-KmA3-tip123.json"
    code, _, err = cli("ledger", "consistency", "--ledger", migrated, "--from-digest", other)
    assert code == 2
    assert "strand" in err
    assert cli("ledger", "consistency", "--ledger", migrated)[0] == 2  # neither --from nor digest
    assert cli("ledger", "consistency", "--ledger", migrated, "--from", 1, "--from-digest",
               DIGESTS[1])[0] == 2  # fmt: skip


# -- refusals: nothing created ----------------------------------------------------------------
def test_the_real_block_100_export_is_refused_as_partial(tmp_path: Path) -> None:
    code, out, err = cli("ledger", "import", REAL_100, "--ledger", tmp_path / "l.db")
    assert code == 2
    assert out == ""
    assert "partial export: blocks 0-99 missing" in err, err
    assert "nothing created" in err, err
    nothing_created(tmp_path)
    proofs_json = next(REAL_100.glob("*proofs.json"))
    code, _, err = cli("ledger", "import", REAL_100, "--ledger", tmp_path / "l.db",
                       "--digest", proofs_json)  # fmt: skip
    assert code == 2, err
    assert "blocks 0-99 missing" in err, err
    nothing_created(tmp_path)


def write_export(tmp_path: Path, objects: mut.Objects | None, fmt: str = "ion_binary",
                 journal: gen.Journal = JOURNAL) -> Path:  # fmt: skip
    out = tmp_path / "export"
    gen.write(gen.render_export(journal, fmt, objects), out)
    return out


def refused(tmp_path: Path, export: Path, *args: str | Path) -> tuple[int, str]:
    code, out, err = cli("ledger", "import", export, "--ledger", tmp_path / "l.db", *args)
    assert out == "", err
    assert code in (1, 2, 3), (code, err)
    assert "nothing created" in err, err
    nothing_created(tmp_path)
    return code, err


def test_a_missing_object_or_block_is_named(tmp_path: Path) -> None:
    objects = mut.objects_of(JOURNAL)
    first, last = (int(objects[2][i]["blockAddress"]["sequenceNo"]) for i in (0, -1))
    code, err = refused(tmp_path, write_export(tmp_path, mut.drop_object(objects, 2)),
                        *digest_args())  # fmt: skip
    span = f"block {first}" if first == last else f"blocks {first}-{last}"
    assert code == 2, err
    assert f"{span} missing" in err, err
    shutil.rmtree(tmp_path / "export")
    # the first object gone: the export starts late
    n = len(objects[0])
    code, err = refused(tmp_path, write_export(tmp_path, mut.drop_object(objects, 0)))
    assert code == 2
    assert (f"blocks 0-{n - 1} missing" if n > 1 else "block 0 missing") in err
    shutil.rmtree(tmp_path / "export")
    # the last object gone: the digest at the last tip is beyond the export
    code, err = refused(tmp_path, write_export(tmp_path, objects[:-1]), "--digest", DIGESTS[LAST])
    assert code == 2, err
    assert "missing from the export" in err, err
    shutil.rmtree(tmp_path / "export")
    # a block dropped inside an object whose name still covers it: refuted or partial, named
    code, err = refused(tmp_path, write_export(tmp_path, mut.drop_block(objects, 9)),
                        *digest_args())  # fmt: skip
    assert code in (1, 2)
    assert "9" in err


def test_a_removed_transaction_is_refused_by_the_documents_versions(tmp_path: Path) -> None:
    """QLDB's hashes cannot show a removed transaction (its entries collapse to the same root);
    a document's version gap can: verify export passes it, import refuses it."""
    later = {r.doc_id for r in JOURNAL.revisions if r.version > 0}
    seq = next(r.seq for r in JOURNAL.revisions if r.version == 0 and r.doc_id in later
               and len(JOURNAL.blocks[r.seq]["entriesHashList"]) % 2 == 0)  # fmt: skip
    export = write_export(tmp_path, mut.collapse_transaction(mut.objects_of(JOURNAL), seq))
    code, _out, _ = cli("verify", "export", export, "--accept-opaque-blocks", "all",
                       "--accept-deleted", *digest_args())  # fmt: skip
    assert code == 0  # the export audit cannot see it
    code, err = refused(tmp_path, export, *digest_args())
    assert code == 1, err
    assert "version" in err, err
    assert "missing" in err, err


@pytest.mark.parametrize("mutation", ["duplicate", "swap", "relabel", "strand"])
def test_rearranged_blocks_are_refuted(mutation: str, tmp_path: Path) -> None:
    objects = mut.objects_of(JOURNAL)
    changed = {
        "duplicate": lambda: mut.duplicate_block(objects, 10),
        "swap": lambda: mut.swap_blocks(objects, 10, 11),
        "relabel": lambda: mut.relabel_block(objects, 10, 11),
        "strand": lambda: mut.relabel_strand(objects, 10, "A" * 22),
    }[mutation]()
    code, _ = refused(tmp_path, write_export(tmp_path, changed), *digest_args())
    assert code == 1


def test_a_forked_export_against_the_saved_digests_is_refuted(tmp_path: Path) -> None:
    fork = mut.fork(JOURNAL, 25)
    code, err = refused(tmp_path, write_export(tmp_path, None, journal=fork), *digest_args())
    assert code == 1
    assert "digest" in err


def test_a_json_lines_export_is_refused(tmp_path: Path) -> None:
    code, err = refused(tmp_path, GENERATED / "json-lines", *digest_args())
    assert code == 2
    assert "JSON Lines export loses Ion types" in err
    assert "ION_BINARY" in err


def test_without_a_digest_for_the_last_block_nothing_is_created_unless_accepted(
    tmp_path: Path,
) -> None:
    code, err = refused(tmp_path, GENERATED / "ion-binary")
    assert code == 3
    assert "--accept-unanchored" in err
    code, err = refused(tmp_path, GENERATED / "ion-binary", "--digest", DIGESTS[20])
    assert code == 3, err
    assert "up to 20" in err, err
    code, out, err = cli(
        "ledger", "import", GENERATED / "ion-binary", "--ledger", tmp_path / "l.db",
        "--digest", DIGESTS[20], "--accept-unanchored",
    )  # fmt: skip
    assert code == 0, err
    summary = json.loads(out)["imported"]
    assert summary["anchoredTip"] == 20
    assert summary["digestsMatched"] == [{"digest": str(DIGESTS[20]), "tip": 20}]


def test_an_existing_ledger_or_key_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "l.db"
    for existing in ("l.db", "l.db.key", "l.db-wal"):
        (tmp_path / existing).write_text("mine\n")
        code, _, err = cli("ledger", "import", GENERATED / "ion-binary", "--ledger", path,
                           *digest_args())  # fmt: skip
        assert code == 2
        assert "already exists" in err
        assert (tmp_path / existing).read_text() == "mine\n"
        (tmp_path / existing).unlink()
    nothing_created(tmp_path)


def test_bad_input_is_one_line_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "l.db"
    for args, text in [
        ([tmp_path / "nope"], "not a directory"),
        ([tmp_path], "no completed manifest"),
        ([GENERATED / "ion-binary", "--name", "bad name!"], "ledger name"),
        ([GENERATED / "ion-binary", "--table-map", "invoices"], "QLDB_TABLE=OUR_TABLE"),
        ([GENERATED / "ion-binary", "--table-map", "nosuch=x", *digest_args()], "no table nosuch"),
        ([GENERATED / "ion-binary", "--table-map", "invoices=bad-name", *digest_args()],
         "letters, digits and _"),
        ([GENERATED / "ion-binary", "--table-map", "invoices=VehicleRegistration",
          *digest_args()], "another table has that name"),
        ([GENERATED / "ion-binary", "--digest", tmp_path / "missing.json"], "missing.json"),
    ]:  # fmt: skip
        code, _out, err = cli("ledger", "import", *args, "--ledger", path)
        assert code == 2, err
        assert text in err, (args, err)
        assert len(err.strip().splitlines()) == 1, err
    nothing_created(tmp_path)


def test_a_table_map_renames_qldb_tables(tmp_path: Path) -> None:
    path = imported(
        tmp_path, GENERATED / "ion-binary", "--table-map", "VehicleRegistration=vehicles"
    )
    ledger = Ledger.open(str(path))
    try:
        assert set(ledger.tables()) == {"invoices", "vehicles"}
        plain = next(r for r in JOURNAL.revisions if r.table == "VehicleRegistration")
        assert ledger.document_history("vehicles", plain.doc_id)[0].version == 0
        assert ledger.verify_journal() == 40
    finally:
        ledger.close()
    code, _out, _ = cli("ledger", "export", "--ledger", path, tmp_path / "ex")
    assert code == 0


# -- every single-bit flip ---------------------------------------------------------------------
SMALL = gen.generate(gen.Settings(seed=11, blocks=8, max_objects_blocks=3))
# QLDB_AUDIT_IMPORT_FLIPS: "all" flips every bit of every block of the small export (about
# 50,000 imports per format); "bytes" one bit of every byte; a number N (default 300) flips N
# bits chosen at random across all its blocks
IMPORT_FLIPS = os.environ.get("QLDB_AUDIT_IMPORT_FLIPS", "300")


def _small_flips(fmt: str) -> list[tuple[str, bytes, int]]:
    files = gen.render_export(SMALL, fmt)
    rng = random.Random(f"import-flips/{fmt}")
    out = []
    for name in sorted(n for n in files if n.count("/") == 1):
        data = files[name]
        for start, end in mut.block_spans(data, fmt):
            for byte in range(start, end):
                bits = range(8) if IMPORT_FLIPS == "all" else [rng.randrange(8)]
                out += [(name, data, byte * 8 + bit) for bit in bits]
    if IMPORT_FLIPS not in ("all", "bytes"):
        out = rng.sample(out, min(len(out), int(IMPORT_FLIPS)))
    return out


@pytest.mark.parametrize("fmt", ["ion_binary", "ion_text"])
def test_every_bit_flip_of_a_block_is_refused_with_nothing_created(
    fmt: str, tmp_path: Path
) -> None:
    """Refused (nothing created), unless the flip changed only what no QLDB hash or link
    covers (a blockTimestamp, the transactionId of a block without user revisions, a deleted
    revision's metadata) or nothing at all: then the ledger it makes has the same digest at
    every tip."""
    export = tmp_path / "export"
    gen.write(gen.render_export(SMALL, fmt), export)
    digests = []
    for tip in range(len(SMALL.blocks)):
        digests.append(str(tmp_path / f"{tip}.json"))
        Path(digests[-1]).write_text(json.dumps(gen.get_digest(SMALL, tip)))
    path = tmp_path / "l.db"
    refused_count = passed = 0
    for name, data, bit in _small_flips(fmt):
        flipped = mut.flip_bit(data, bit)
        (export / name).write_bytes(flipped)
        status = None
        try:
            import_export(ImportOptions(source=str(export), path=str(path), digests=tuple(digests)))
        except ImportRefusedError as e:
            status = e.status
        if status is not None:
            assert status in ("refuted", "partial", "malformed"), (name, bit, status)
            refused_count += 1
            nothing_created(tmp_path)
        else:
            kind = mut.classify_flip(data, flipped, fmt)
            ledger = Ledger.open(str(path))
            try:
                same = [ledger.digest(t).digest == gen.digest_at(SMALL, t)
                        for t in range(len(SMALL.blocks))]  # fmt: skip
            finally:
                ledger.close()
            assert all(same), (name, bit)
            assert kind in ("uncovered", "same-values"), (name, bit, kind)
            passed += 1
            for p in tmp_path.glob("l.db*"):
                p.unlink()
        (export / name).write_bytes(data)
    assert refused_count > 10 * max(1, passed)


# -- killed mid-import -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def big_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A QLDB-layout export of 8,000 revisions (written by our writer, imported under QLDB's
    rules like any QLDB export): long enough to be killed in the middle."""
    from auditor.export import export

    where = tmp_path_factory.mktemp("big")
    ledger = Ledger.create(str(where / "src.db"), "bigsource", tables=["invoices"])
    try:
        for block in range(80):
            ledger.put_many("invoices", [
                (f"K{block}-{i}", {"billTo": "ABC Car Dealer Pte Ltd", "n": i, "pad": "x" * 200})
                for i in range(100)
            ])  # fmt: skip
        export(ledger, str(where / "export"), "ion_binary", max_blocks_per_object=8)
    finally:
        ledger.close()
    return where / "export"


def _import_process(source: Path, path: Path, output: bool = False) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "auditor", "ledger", "import", str(source), "--ledger",
               str(path), "--accept-unanchored"]  # fmt: skip
    pipe = subprocess.PIPE if output else subprocess.DEVNULL
    return subprocess.Popen(command, cwd=ROOT, stdout=pipe, stderr=pipe)


def test_a_sigkill_during_import_leaves_no_ledger_and_a_rerun_starts_clean(
    big_export: Path, tmp_path: Path
) -> None:
    path = tmp_path / "l.db"
    rng = random.Random(7)
    killed = 0
    for _ in range(3):
        process = _import_process(big_export, path)
        deadline = time.monotonic() + 60
        while not (tmp_path / "l.db.importing").exists() and process.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        time.sleep(rng.uniform(0.05, 0.5))
        process.kill()
        process.wait()
        if path.exists():  # it finished first: a whole ledger (not a kill mid-import)
            Ledger.open(str(path)).verify_journal()
            for p in tmp_path.glob("l.db*"):
                p.unlink()
            continue
        killed += 1
        assert not (tmp_path / "l.db.key").exists()
        # nothing that claims to be a ledger: only the temporary files, which are not one
        assert sorted(p.name for p in tmp_path.iterdir()) <= sorted(
            ["l.db.importing", "l.db.importing-wal", "l.db.importing-shm", "l.db.importing.key"]
        )
        code, _, err = cli("ledger", "verify", "--ledger", path)
        assert code == 2
    assert killed >= 1
    process = _import_process(big_export, path, output=True)  # a rerun starts clean
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert json.loads(out)["imported"]["revisions"]["total"] == 8000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["l.db", "l.db.key"]
    ledger = Ledger.open(str(path))
    try:
        assert ledger.verify_journal() == 82
    finally:
        ledger.close()


def test_killed_between_publishing_the_key_and_the_ledger_a_rerun_finishes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "l.db"
    script = (
        "import os, sys\n"
        "from auditor.ledger import store\n"
        "real = store.publish\n"
        "def publish(temporary, final):\n"
        "    real(temporary, final)\n"
        "    if final.endswith('.key'):\n"
        "        os._exit(9)\n"
        "store.publish = publish\n"
        "from auditor.cli import main\n"
        "main(sys.argv[1:])\n"
    )  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", script, "ledger", "import", str(GENERATED / "ion-binary"),
         "--ledger", str(path), *digest_args()],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 9
    assert (tmp_path / "l.db.key").exists()
    assert not path.exists()
    assert (tmp_path / "l.db.importing").exists()
    code, out, err = cli("ledger", "import", GENERATED / "ion-binary", "--ledger", path,
                         *digest_args())  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["imported"] == {"resumed": True}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["l.db", "l.db.key"]
    ledger = Ledger.open(str(path))
    try:
        assert ledger.verify_journal() == 40
        assert ledger.digest().digest == gen.digest_at(JOURNAL, LAST)
        ledger.put("invoices", "INV7000", {"n": 1})  # its key is its own
        assert "— generated-vehicle-ledger " in ledger.digest().checkpoint
    finally:
        ledger.close()


def test_a_second_import_into_the_same_directory_waits_for_none(
    big_export: Path, tmp_path: Path
) -> None:
    first = _import_process(big_export, tmp_path / "a.db")
    deadline = time.monotonic() + 60
    while not (tmp_path / "a.db.importing").exists():
        assert time.monotonic() < deadline
        time.sleep(0.005)
    code, _, err = cli("ledger", "import", GENERATED / "ion-binary", "--ledger",
                       tmp_path / "b.db", *digest_args())  # fmt: skip
    first.communicate(timeout=120)
    assert first.returncode == 0
    if code != 0:  # it ran while the first held the directory's lock
        assert code == 2
        assert "another import" in err
        assert not (tmp_path / "b.db").exists()


# -- the migrated ledger's own export and its audit ---------------------------------------------
def test_the_export_of_a_migrated_ledger_verifies_with_the_boundary(
    migrated: Path, tmp_path: Path
) -> None:
    path = copy(migrated, tmp_path)
    ledger = Ledger.open(str(path))
    try:
        ledger.put("invoices", "INV9100", {"billTo": "Bay Motors LLC"})
        ledger.delete("invoices", "INV9100")  # a deletion of the writer's: recomputed
        vkey = tmp_path / "l.vkey"
        vkey.write_text(ledger.vkey + "\n")
    finally:
        ledger.close()
    accept = ["--accept-opaque-blocks", "all", "--accept-deleted"]
    for fmt in ("ion_binary", "ion_text"):
        export = tmp_path / f"export-{fmt}"
        assert cli("ledger", "export", "--ledger", path, export, "--format", fmt)[0] == 0
        from auditor.audit.layout import locate
        from auditor.audit.source import Source

        assert locate(Source.parse(str(export))).import_boundary == LAST  # the manifest says
        base = ["verify", "export", export, "--trust-key", vkey]
        code, out, err = cli(*base, "--qldb-until", LAST, *accept, "--json")
        assert code == 0, out
        report = json.loads(out)
        assert report["export"]["rules"] == f"qldb-until-{LAST}"
        assert report["export"]["qldbUntil"] == LAST
        assert report["export"]["importBoundaryDeclared"] == LAST
        assert report["counts"]["revisions"]["deleted_recomputed"] == 1  # the writer's
        # QLDB's system blocks and deletions are as unprovable as in QLDB's own export
        code, out, _ = cli(*base, "--qldb-until", LAST)
        assert code == 3
        assert "transactionInfo" in out
        assert "deleted revision" in out
        # a forgotten --qldb-until: refused (never genuine data called tampered)
        code, _, err = cli(*base, *accept)
        assert code == 2
        assert f"--qldb-until {LAST}" in err
        # a boundary too early judges a QLDB block by the writer's rules: refuted, as it must
        assert cli(*base, "--qldb-until", LAST - 1, *accept)[0] == 1
        # with the saved QLDB digests too
        code, out, _ = cli(*base, "--qldb-until", LAST, *accept, *digest_args(DIGESTS[::7]))
        assert code == 0, out
        assert cli(*base, "--qldb-until", LAST, "--rules", "qldb")[0] == 2
        # QLDB's rules throughout, chosen explicitly: no refusal, nothing called tampered
        assert cli("verify", "export", export, "--rules", "qldb", *accept)[0] in (0, 3)


def test_nightly_state_with_the_boundary(migrated: Path, tmp_path: Path) -> None:
    path = copy(migrated, tmp_path)
    vkey = tmp_path / "l.vkey"
    vkey.write_text(cli("ledger", "vkey", "--ledger", path)[1])
    export = tmp_path / "export"
    assert cli("ledger", "export", "--ledger", path, export)[0] == 0
    args = ["verify", "export", export, "--trust-key", vkey, "--qldb-until", LAST,
            "--accept-opaque-blocks", "all", "--accept-deleted", "--state", tmp_path / "s.json",
            "--state-key", tmp_path / "s.key"]  # fmt: skip
    assert cli(*args)[0] == 0
    state = json.loads((tmp_path / "s.json").read_text())
    assert state["verified"]["rules"] == f"qldb-until-{LAST}"
    assert cli(*args)[0] == 0
    other = [a if a != LAST else LAST - 1 for a in args]
    code, _, err = cli(*other)
    assert code == 2
    assert "rules" in err


# -- the ledger checks what it imported ---------------------------------------------------------
def _edit(path: Path, sql: str, *args: Any) -> None:
    db = sqlite3.connect(str(path))
    try:
        db.execute(sql, args)
        db.commit()
    finally:
        db.close()


@pytest.mark.parametrize(
    ("sql", "what"),
    [
        ("UPDATE system_revisions SET hash = zeroblob(32) WHERE (seq, rev_index) IN "
         "(SELECT seq, rev_index FROM system_revisions LIMIT 1)", "system_revisions"),
        ("INSERT INTO system_revisions SELECT 45, 0, hash, revision FROM system_revisions "
         "LIMIT 1", "system_revisions"),
        ("UPDATE revisions SET hash = zeroblob(32) WHERE kind = 'deleted' AND rowid IN "
         "(SELECT rowid FROM revisions WHERE kind = 'deleted' LIMIT 1)", "revisions"),
        ("UPDATE revisions SET key = 'INV0099' WHERE key = doc_id AND rowid IN "
         "(SELECT rowid FROM revisions WHERE key = doc_id AND kind = 'data' LIMIT 1)",
         "revisions"),
        ("UPDATE revisions SET table_name = 'invoices' WHERE table_name = 'VehicleRegistration'",
         "revisions"),
        ("UPDATE meta SET value = '38' WHERE key = 'import_boundary'", "block 39"),
        ("DELETE FROM meta WHERE key = 'import_boundary'", ""),
        ("UPDATE meta SET value = 'x' WHERE key = 'import_boundary'", "import_boundary"),
        ("INSERT INTO meta VALUES ('import_tables', 'nope')", "import_tables"),
        ("INSERT INTO meta VALUES ('import_tables', '{\"invoices\": \"VehicleRegistration\"}')",
         "table_name"),
        ("DROP TABLE system_revisions", "system_revisions"),
        ("UPDATE tables SET table_id = 'AAAAAAAAAAAAAAAAAAAAAA' WHERE name = 'invoices'",
         "tables"),
    ],
)  # fmt: skip
def test_an_edited_import_is_found_by_verify(
    sql: str, what: str, migrated: Path, tmp_path: Path
) -> None:
    path = copy(migrated, tmp_path)
    _edit(path, sql)
    code, _, err = cli("ledger", "verify", "--ledger", path)
    assert code in (2, 4), err
    assert what in err, err


def test_an_edited_imported_deletion_is_not_served(migrated: Path, tmp_path: Path) -> None:
    path = copy(migrated, tmp_path)
    deleted = next(r for r in JOURNAL.revisions if r.deleted)
    _edit(path, "UPDATE revisions SET hash = zeroblob(32) WHERE doc_id = ? AND version = ?",
          deleted.doc_id, deleted.version)  # fmt: skip
    ledger = Ledger.open(str(path))
    try:
        with pytest.raises(IntegrityError):
            ledger.document_history(deleted.table, deleted.doc_id)
    finally:
        ledger.close()


# -- other journals of the generator (the held-out export is one more) ------------------------
@pytest.mark.parametrize(
    ("settings", "fmt"),
    [
        (gen.Settings(seed=1, blocks=150), "ion_binary"),
        (gen.Settings(seed=2, blocks=120, genesis_previous="absent"), "ion_binary"),
        (gen.Settings(seed=3, blocks=100, redaction_lists_document=True, max_objects_blocks=2),
         "ion_text"),
        (gen.Settings(seed=4, blocks=200, max_objects_blocks=60), "ion_binary"),
        (gen.Settings(seed=9, blocks=60), "pretty"),
    ],
    ids=["seed1", "no-genesis-previous", "redaction-lists-document", "big-objects",
         "indented-ion-text"],
)  # fmt: skip
def test_other_generated_journals_import_exactly(
    settings: gen.Settings, fmt: str, tmp_path: Path
) -> None:
    journal = gen.generate(settings)
    export = tmp_path / "export"
    pretty = fmt == "pretty"
    gen.write(gen.render_export(journal, "ion_text" if pretty else fmt, None, pretty), export)
    digests = []
    for tip in range(len(journal.blocks)):
        digests.append(str(tmp_path / f"d{tip}.json"))
        Path(digests[-1]).write_text(json.dumps(gen.get_digest(journal, tip)))
    result = import_export(ImportOptions(source=str(export), path=str(tmp_path / "l.db"),
                                         digests=tuple(digests)))  # fmt: skip
    assert result.summary["anchoredTip"] == len(journal.blocks) - 1
    ledger = Ledger.open(str(tmp_path / "l.db"))
    try:
        assert ledger.verify_journal() == len(journal.blocks)
        for seq, block in enumerate(journal.blocks):
            assert ion_hash(ledger.block(seq)) == ion_hash(block), seq
            assert ledger.digest(seq).digest == gen.digest_at(journal, seq)
        for ref in journal.revisions:  # every document and version, by its id
            revision = ledger.document_history(ref.table, ref.doc_id)[ref.version]
            assert revision.hash == bytes(ref.original["hash"])
        latest: dict[str, gen.RevisionRef] = {}
        for ref in journal.revisions:
            if ref.key is not None:
                latest[ref.key] = ref
        for key, ref in latest.items():  # every live KVS key, by its key
            if not ref.deleted and ledger.current("invoices", key).document_id != ref.doc_id:
                raise AssertionError(key)
        ledger.put("invoices", "NEW-1", {"n": 1})
        assert ledger.verify_journal() == len(journal.blocks) + 1
    finally:
        ledger.close()


def test_values_the_c_extension_misreads(tmp_path: Path) -> None:
    """Timestamps with more than 9 fraction digits, decimal exponents beyond +-6111, many
    annotations: read exactly (auditor/ion/), stored, and every hash recomputes from the rows."""
    journal = gen.generate(gen.Settings(seed=5, blocks=40, hard_values=True))
    export = write_export(tmp_path, None, "ion_binary", journal)
    import_export(ImportOptions(source=str(export), path=str(tmp_path / "l.db"),
                                accept_unanchored=True))  # fmt: skip
    ledger = Ledger.open(str(tmp_path / "l.db"))
    try:
        tip = len(journal.blocks) - 1
        assert ledger.digest(tip).digest == gen.digest_at(journal, tip)
        assert ledger.verify_journal() == len(journal.blocks)  # recomputes every stored hash
    finally:
        ledger.close()


# -- from S3 (a real moto server) ----------------------------------------------------------------
def test_an_export_on_s3_imports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.integration.audit_support import moto_server, use_s3

    server = moto_server(tmp_path)
    endpoint = next(server)
    try:
        s3 = use_s3(monkeypatch, endpoint, tmp_path)
        s3.create_bucket(Bucket="qldb-migration")
        prefix = gen.PREFIX  # where QLDB wrote it: the manifests name this prefix
        for name, data in gen.render_export(JOURNAL, "ion_binary").items():
            s3.put_object(Bucket="qldb-migration", Key=prefix + name, Body=data)
        path = tmp_path / "l.db"
        code, out, err = cli("ledger", "import", f"s3://qldb-migration/{prefix}", "--ledger",
                             path, "--digest", DIGESTS[LAST])  # fmt: skip
        assert code == 0, err
        assert json.loads(out)["imported"]["source"] == f"s3://qldb-migration/{prefix}"
        ledger = Ledger.open(str(path))
        try:
            assert ledger.digest(LAST).digest == gen.digest_at(JOURNAL, LAST)
        finally:
            ledger.close()
        keys = [k for k in gen.render_export(JOURNAL, "ion_binary") if k.count("/") == 1]
        s3.delete_object(Bucket="qldb-migration", Key=prefix + sorted(keys)[1])
        code, _, err = cli("ledger", "import", f"s3://qldb-migration/{prefix}", "--ledger",
                           tmp_path / "m.db", "--digest", DIGESTS[LAST])  # fmt: skip
        assert code == 2, err
        assert "not found" in err
        assert not (tmp_path / "m.db").exists()
    finally:
        server.close()


def test_a_declared_boundary_that_is_not_a_sequence_number_is_refused(
    migrated: Path, tmp_path: Path
) -> None:
    export = tmp_path / "export"
    assert cli("ledger", "export", "--ledger", migrated, export)[0] == 0
    started = next(export.glob("*.started.manifest"))
    text = started.read_text()
    assert f"importBoundary:{LAST}" in text
    started.write_text(text.replace(f"importBoundary:{LAST}", f'importBoundary:"{LAST}"'))
    code, _, err = cli("verify", "export", export, "--qldb-until", LAST)
    assert code == 2
    assert "importBoundary: expected a sequenceNo" in err
    # an export of a migrated ledger is not imported again: the ledger file is the ledger
    started.write_text(text)
    code, _, err = cli("ledger", "import", export, "--ledger", tmp_path / "l.db",
                       "--accept-unanchored")  # fmt: skip
    assert code == 2
    assert "already migrated" in err


# -- what each refusal says ---------------------------------------------------------------------
def test_each_refusal_names_what_is_wrong(tmp_path: Path) -> None:
    objects = mut.objects_of(JOURNAL)
    # a listed object deleted from the directory: partial, naming its blocks and the object
    export = write_export(tmp_path, None)
    first, last = (int(objects[-1][i]["blockAddress"]["sequenceNo"]) for i in (0, -1))
    name = f"{JOURNAL.export_ids['ion_binary']}/{JOURNAL.strand_id}.{first}-{last}.ion"
    (export / name).unlink()
    code, err = refused(tmp_path, export, "--digest", DIGESTS[0])
    span = f"block {first}" if first == last else f"blocks {first}-{last}"
    assert code == 2
    assert f"a partial export: {span} missing ({name}: listed, not found)" in err
    shutil.rmtree(export)
    # a gap and an unreadable object: still partial (the gap is what is wrong)
    export = write_export(tmp_path, mut.drop_object(objects, 2))
    broken = export / name
    broken.write_bytes(broken.read_bytes()[:-5])
    code, err = refused(tmp_path, export, *digest_args())
    assert code == 2
    assert "a partial export" in err
    shutil.rmtree(export)
    # only the truncated object: malformed, naming it
    export = write_export(tmp_path, None)
    broken = export / name
    broken.write_bytes(broken.read_bytes()[:-5])
    code, err = refused(tmp_path, export, *digest_args())
    assert code == 2
    assert "truncated" in err
    assert broken.name in err
    shutil.rmtree(export)
    # a tampered revision: refuted at its block, with the check
    ref = next(r for r in JOURNAL.revisions if r.table == "invoices" and not r.deleted
               and r.redacted_by is None)  # fmt: skip
    changed = [list(c) for c in objects]
    i, j = mut._find(changed, ref.seq)
    block = mut.clone(changed[i][j])
    block["revisions"][ref.index]["data"]["quantity"] = 999
    changed[i][j] = block
    code, err = refused(tmp_path, write_export(tmp_path, changed), *digest_args())
    assert code == 1
    assert f"refuted at block {ref.seq}: " in err
    assert "does not match the hash of data and metadata" in err
    shutil.rmtree(tmp_path / "export")
    # the last objects gone and a digest beyond: the exact blocks the export lacks
    kept = objects[:-2]
    end = int(kept[-1][-1]["blockAddress"]["sequenceNo"])
    code, err = refused(tmp_path, write_export(tmp_path, kept), "--digest", DIGESTS[LAST])
    assert code == 2
    assert f"the export ends at block {end}" in err
    assert f"blocks {end + 1}-{LAST} are missing from the export" in err


def test_a_block_without_its_address_is_not_imported(tmp_path: Path) -> None:
    """No QLDB hash covers blockAddress: an export audit may pass a block without one, but
    the ledger cannot place it."""
    objects = [list(c) for c in mut.objects_of(JOURNAL)]
    i, j = mut._find(objects, 12)
    block = mut.clone(objects[i][j])
    del block["blockAddress"]
    objects[i][j] = block
    code, err = refused(tmp_path, write_export(tmp_path, objects), *digest_args())
    assert code == 2
    assert "the block after block 11 has no blockAddress" in err
