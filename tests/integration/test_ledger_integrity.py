"""The ledger does not trust its own indexes: edit one cell of any table and `ledger verify`
fails naming the table and row, and `get`, `history` and `receipt` refuse to serve what the
edit touches (exit 4, or 2 where the file is unusable: a row that is not Ion, bad meta).

The ledger: table ``invoices`` with A (updated), B (deleted), C (3 versions, v0 redacted), S
(a string), D0-D7 (one batch, one block), and table ``other`` with its own A. Each case is
one SQL edit made directly on the SQLite file, as damage or a tamperer would.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from amazon.ion import simpleion
from click.testing import CliRunner, Result

from auditor.cli import main
from auditor.ledger import IntegrityError, Ledger, writes
from proofs import dot


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "l.db"
    ledger = Ledger.create(str(path), "carmaker", tables=["invoices", "other"])
    ledger.put("invoices", "A", {"n": 1})
    ledger.put("invoices", "A", {"n": 2})
    ledger.put("invoices", "B", {"n": 1})
    ledger.delete("invoices", "B")
    for n in range(3):
        ledger.put("invoices", "C", {"n": n})
    ledger.redact("invoices", "C", 0)
    ledger.put("invoices", "S", "a string")
    ledger.put_many("invoices", [(f"D{i}", {"i": i}) for i in range(8)])
    ledger.put("other", "A", {"other": True})
    assert ledger.tip() == 13
    ledger.close()
    return path


@pytest.fixture
def path(template: Path, tmp_path: Path) -> Path:
    for name in ("l.db", "l.db.key"):
        shutil.copy(template.parent / name, tmp_path / name)
    return tmp_path / "l.db"


def cli(path: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["ledger", *args, "--ledger", str(path)])


def revision_blob(path: Path, key: str, version: int, edit: Callable[[Any], None]) -> bytes:
    """The stored revision of ``key`` ``version`` with ``edit`` applied to it."""
    db = sqlite3.connect(path)
    (blob,) = db.execute(
        "SELECT revision FROM revisions WHERE table_name='invoices' AND key=? AND version=?",
        (key, version),
    ).fetchone()
    db.close()
    value = simpleion.loads(blob)
    edit(value)
    data: bytes = simpleion.dumps(value, binary=True)
    return data


def set_data(value: Any) -> None:
    value["data"]["n"] = 3


def zero_hash(value: Any) -> None:
    value["hash"] = bytes(32)


def unredact(value: Any) -> None:  # C v0 was {"n": 0}: its data put back in place of dataHash
    del value["dataHash"]
    value["data"] = {"n": 0, "_k": "C"}


def frame_with(path: Path, seq: int, old: str, new: str) -> bytes:
    db = sqlite3.connect(path)
    (blob,) = db.execute("SELECT block FROM blocks WHERE seq=?", (seq,)).fetchone()
    db.close()
    text = simpleion.dumps(simpleion.loads(blob), binary=False)
    assert old in text
    data: bytes = simpleion.dumps(simpleion.loads(text.replace(old, new)), binary=True)
    return data


DOC = "(SELECT doc_id FROM revisions WHERE table_name='invoices' AND key='{}' LIMIT 1)"
SEQ = "(SELECT seq FROM revisions WHERE table_name='invoices' AND key='{}' AND version={})"


@dataclass(frozen=True)
class Edit:
    name: str
    sql: str
    where: str  # what `verify` must name
    refused: list[list[str]] = field(default_factory=list)  # commands that must refuse
    code: int = 4
    blob: tuple[str, int, Callable[[Any], None]] | None = None  # a revision edited
    more: tuple[str, ...] = ()  # further statements of the same edit


def receipt(key: str, table: str = "invoices") -> list[str]:
    return ["receipt", "-t", table, key]


def get(key: str, table: str = "invoices") -> list[str]:
    return ["get", "-t", table, key]


def history(key: str) -> list[str]:
    return ["history", "-t", "invoices", key]


# fmt: off
EDITS = [
    # documents: the current-version index
    Edit("documents.doc_id points to another document",
         f"UPDATE documents SET doc_id={DOC.format('D1')} WHERE key='A' AND table_name='invoices'",
         "table documents, row (invoices, A)", [get("A"), receipt("A"), history("A")]),
    Edit("documents.version set back",
         "UPDATE documents SET version=0 WHERE key='A' AND table_name='invoices'",
         "table documents, row (invoices, A)", [get("A"), receipt("A")]),
    Edit("documents.deleted set", "UPDATE documents SET deleted=1 WHERE key='D3'",
         "table documents, row (invoices, D3)", [get("D3"), receipt("D3"), history("D3")]),
    Edit("documents.deleted cleared", "UPDATE documents SET deleted=0 WHERE key='B'",
         "table documents, row (invoices, B)", [get("B"), receipt("B"), history("B")]),
    Edit("documents row removed", "DELETE FROM documents WHERE key='S'",
         "table documents, row (invoices, S)", [get("S"), receipt("S"), history("S")]),
    Edit("documents row renamed", "UPDATE documents SET key='Z' WHERE key='S'",
         "table documents, row (invoices, S)", [get("S"), history("S"), get("Z")]),
    # revisions: the per-revision index
    Edit("revisions.key of another key's row",
         "UPDATE revisions SET key='A' WHERE key='D1'",
         "table revisions, row (document", [get("D1"), receipt("D1"), get("A"), history("A")]),
    Edit("revisions.table_name", "UPDATE revisions SET table_name='other' WHERE key='D2'",
         "table revisions, row (document", [get("D2"), receipt("D2"), history("D2")]),
    Edit("revisions.doc_id", "UPDATE revisions SET doc_id='x' || substr(doc_id, 2) WHERE key='D4'",
         "table revisions, row (document x", [get("D4"), receipt("D4")]),
    Edit("revisions.version", "UPDATE revisions SET version=7 WHERE key='D5'",
         "table revisions, row (document", [get("D5"), receipt("D5"), history("D5")]),
    Edit("revisions.seq", "UPDATE revisions SET seq=seq-1 WHERE key='A' AND version=1",
         "table revisions, row (document", [get("A"), receipt("A"), history("A")]),
    Edit("revisions.rev_index", "UPDATE revisions SET rev_index=7 WHERE key='D6'",
         "table revisions, row (document", [get("D6"), receipt("D6")]),
    Edit("revisions.kind", "UPDATE revisions SET kind='deleted' WHERE key='D7'",
         "table revisions, row (document", [get("D7"), receipt("D7"), history("D7")]),
    Edit("revisions.hash", "UPDATE revisions SET hash=zeroblob(32) WHERE key='S'",
         "table revisions, row (document", [get("S"), receipt("S"), history("S")]),
    Edit("revisions.tx_id", "UPDATE revisions SET tx_id='T' || substr(tx_id, 2) WHERE key='S'",
         "table revisions, row (document", [get("S"), receipt("S")]),
    Edit("revisions.tx_time", "UPDATE revisions SET tx_time='2030-01-01 00:00:00+00:00' "
         "WHERE key='S'", "table revisions, row (document", [get("S"), history("S")]),
    Edit("revisions row removed", "DELETE FROM revisions WHERE key='A' AND version=1",
         "table blocks, row 4", [get("A"), receipt("A"), history("A")]),  # names the block
    Edit("revisions: a revision's data edited",
         "UPDATE revisions SET revision=? WHERE key='A' AND version=1",
         "table revisions, row (document", [get("A"), receipt("A"), history("A")],
         blob=("A", 1, set_data)),
    Edit("revisions: the hash field inside a revision",
         "UPDATE revisions SET revision=? WHERE key='S' AND version=0",
         "table revisions, row (document", [get("S"), receipt("S"), history("S")],
         blob=("S", 0, zero_hash)),
    Edit("revisions: a redaction undone (the data put back, kind too)",
         "UPDATE revisions SET revision=? WHERE key='C' AND version=0",
         "not redacted, but the journal's redactionInfo says otherwise",
         # reads serve the genuine data (its hash recomputes); only verify sees the redaction
         blob=("C", 0, unredact), more=("UPDATE revisions SET kind='data' WHERE key='C' "
                                        "AND version=0",)),
    Edit("revisions.kind of an old version",
         "UPDATE revisions SET kind='redacted' WHERE key='C' AND version=1",
         "table revisions, row (document", [history("C")]),
    Edit("revisions.key of a deletion", "UPDATE revisions SET key='Q' WHERE key='B' AND version=1",
         "table revisions, row (document", [history("Q"), history("B"), get("Q")]),
    Edit("revisions: an old version's row removed",
         "DELETE FROM revisions WHERE key='C' AND version=0",
         "table blocks, row 7", [history("C")]),
    Edit("revisions: a document moved to another key in every index",
         "UPDATE revisions SET key='Q' WHERE key='D1'",
         "table revisions, row (document", [get("Q"), history("Q"), receipt("Q")],
         more=("UPDATE documents SET key='Q' WHERE key='D1'",)),
    Edit("revisions: a row outside every block",
         "INSERT INTO revisions SELECT 'orphan', 0, table_name, key, 99, 0, tx_id, tx_time, kind,"
         " hash, revision FROM revisions WHERE key='S'",
         "in block 99, which does not exist", [history("S")]),
    Edit("revisions: a revision that is not Ion",
         "UPDATE revisions SET revision=CAST(substr(revision, 1, 20) || x'ee' || "
         "substr(revision, 22) AS BLOB) WHERE key='D0'", "table revisions, row (document",
         [get("D0"), receipt("D0")], code=2),
    # blocks: the journal's stored hashes
    Edit("blocks.block_hash",
         f"UPDATE blocks SET block_hash=zeroblob(32) WHERE seq={SEQ.format('S', 0)}",
         "table blocks, row 11", [get("S"), receipt("S")]),
    Edit("blocks.entries", "UPDATE blocks SET entries=zeroblob(96) WHERE seq=11",
         "table blocks, row 11", [get("S"), receipt("S")]),
    Edit("blocks.revision_hashes",
         "UPDATE blocks SET revision_hashes=CAST(substr(revision_hashes, 33, 32) || "
         "substr(revision_hashes, 1, 32) || substr(revision_hashes, 65) AS BLOB) WHERE seq=12",
         "table blocks, row 12", [get("D0"), receipt("D1")]),
    Edit("blocks.revision_hashes: another revision's hash",
         "UPDATE blocks SET revision_hashes=CAST(substr(revision_hashes, 1, 32) || zeroblob(32) "
         "|| substr(revision_hashes, 65) AS BLOB) WHERE seq=12",
         "table blocks, row 12", [get("D0")]),
    Edit("blocks.previous_hash", "UPDATE blocks SET previous_hash=zeroblob(32) WHERE seq=11",
         "table blocks, row 11", [get("S"), receipt("S")]),
    Edit("blocks.tx_id", "UPDATE blocks SET tx_id='x' WHERE seq=11",
         "table blocks, row 11", [get("S"), receipt("S")]),
    Edit("blocks.block: a statement of the frame", "UPDATE blocks SET block=? WHERE seq=12",
         "table blocks, row 12: block 12.transactionInfo"),  # only verify reads statements
    Edit("blocks.block_time", "UPDATE blocks SET block_time='2030' WHERE seq=12",
         "table blocks, row 12"),
    Edit("blocks row removed", "DELETE FROM blocks WHERE seq=11",
         "table blocks, row 11", [get("S"), receipt("S")]),
    # nodes: the digest tree
    Edit("nodes: the leaf of a served block", "UPDATE nodes SET hash=zeroblob(32) "
         "WHERE level=0 AND idx=4", "table nodes, row (level 0, idx 4)",
         [get("A"), receipt("A")]),
    Edit("nodes: a subtree root in every digest", "UPDATE nodes SET hash=zeroblob(32) "
         "WHERE level=3 AND idx=0", "table nodes, row (level 3, idx 0)",
         [receipt("S"), receipt("A"), ["digest"], ["consistency", "--from", "10"]]),
    Edit("nodes: a sibling on the proof path", "UPDATE nodes SET hash=zeroblob(32) "
         "WHERE level=2 AND idx=0", "table nodes, row (level 2, idx 0)", [receipt("A")]),
    Edit("nodes: a node removed", "DELETE FROM nodes WHERE level=1 AND idx=6",
         "table nodes, row (level 1, idx 6)", [receipt("A"), ["digest"]]),
    Edit("nodes: a node added", "INSERT INTO nodes VALUES (0, 99, zeroblob(32))",
         "table nodes, row (level 0, idx 99)"),
    # meta and tables
    Edit("meta.name", "UPDATE meta SET value='dealer' WHERE key='name'",
         "table meta: name is 'dealer', the journal says 'CREATE LEDGER carmaker'",
         [get("A"), receipt("A"), ["digest"]]),
    Edit("meta.strand_id", "UPDATE meta SET value='0000000000000000000000' WHERE key='strand_id'",
         "table meta: strand_id", [get("A"), receipt("A"), ["digest"]]),
    Edit("meta.format", "UPDATE meta SET value='3' WHERE key='format'", "table meta: format",
         [get("A"), receipt("A")], code=2),
    Edit("meta.vkey", "UPDATE meta SET value='carmaker+00000000+AQ==' WHERE key='vkey'",
         "l.db.key: not this ledger's signing key", [receipt("A"), ["digest"], ["vkey"]],
         code=2),
    Edit("meta: an unknown key", "INSERT INTO meta VALUES ('owner', 'me')",
         "table meta: unknown key 'owner'", [get("A")], code=2),
    Edit("tables.table_id", "UPDATE tables SET table_id='x' WHERE name='invoices'",
         "table tables, row invoices"),
    Edit("tables row removed", "DELETE FROM tables WHERE name='other'",
         "table tables, row other"),
    Edit("tables: a table without a CREATE TABLE block",
         "INSERT INTO tables VALUES ('ghost', 'G000000000000000000000')",
         "table tables, row ghost: no CREATE TABLE block for it"),
]
# fmt: on


def apply(path: Path, edit: Edit) -> None:
    args: tuple[object, ...] = ()
    if edit.blob is not None:
        args = (revision_blob(path, *edit.blob),)
    elif "block=?" in edit.sql:
        args = (frame_with(path, 12, "UPSERT invoices D1", "UPSERT invoices D9"),)
    db = sqlite3.connect(path)
    with db:
        assert db.execute(edit.sql, args).rowcount == 1, edit.name
        for sql in edit.more:
            assert db.execute(sql).rowcount >= 1, sql
    db.close()


def test_the_genuine_ledger_verifies_and_serves(path: Path, tmp_path: Path) -> None:
    """The control for every case below: nothing edited, everything passes."""
    assert "every table agrees" in cli(path, "verify").stderr
    for args in {tuple(a) for e in EDITS for a in e.refused if not {"Z", "Q"} & set(a)}:
        result = cli(path, *args)
        if args == ("get", "-t", "invoices", "B"):  # deleted: exit 2, not the 4 of an edit
            assert result.exit_code == 2
            assert "invoices/B: deleted" in result.stderr
            continue
        assert result.exit_code == 0, (args, result.output)
    out = tmp_path / "r.json"
    assert cli(path, "receipt", "-t", "invoices", "A", "-o", str(out)).exit_code == 0
    vkey = cli(path, "vkey").stdout.strip()
    checked = CliRunner().invoke(main, ["verify", "bundle", str(out), "--trust-key", vkey])
    assert checked.exit_code == 0, checked.output
    assert json.loads(cli(path, "get", "-t", "invoices", "A").stdout) == {"n": 2}


@pytest.mark.parametrize("edit", EDITS, ids=[e.name for e in EDITS])
def test_one_edited_cell_is_named_by_verify_and_refused_by_reads(
    path: Path, edit: Edit, tmp_path: Path
) -> None:
    apply(path, edit)
    verified = cli(path, "verify")
    assert verified.exit_code == edit.code, verified.output
    assert verified.stderr.startswith("FAIL: " if edit.code == 4 else "ERROR: ")
    assert edit.where in verified.stderr, verified.stderr
    assert str(path) in verified.stderr or "l.db.key" in verified.stderr
    assert len(verified.stderr.strip().splitlines()) == 1
    out = tmp_path / "out.json"
    for args in edit.refused:
        result = cli(path, *args, *(["-o", str(out)] if args[0] == "receipt" else []))
        assert isinstance(result.exception, SystemExit), (args, repr(result.exception))
        assert result.exit_code == edit.code, (args, result.output)
        assert result.stdout == "", args
        assert not out.exists(), args


def test_the_python_api_names_the_row(path: Path) -> None:
    db = sqlite3.connect(path)
    with db:
        db.execute("UPDATE revisions SET key='A' WHERE key='D1'")
    db.close()
    ledger = Ledger.open(str(path))
    with pytest.raises(IntegrityError) as raised:
        ledger.get("invoices", "D1")
    assert raised.value.where == "table documents, row (invoices, D1)"
    assert raised.value.reason == "index"
    expected = r"table revisions, row \(document .*: key is 'A', the journal says 'D1'"
    with pytest.raises(IntegrityError, match=expected):
        ledger.verify_journal()
    assert ledger.get("invoices", "D2") == {"i": 2, "_k": "D2"}  # untouched rows still serve


def test_a_leaf_read_straight_into_the_digest_is_checked(path: Path) -> None:
    """With 15 blocks the digest takes leaf 14 as it is: a proof for block 4 passes through
    the same leaf, so an edited leaf would fold to the edited digest; the leaf's own check
    (against its block's hash) is what refuses it."""
    ledger = Ledger.open(str(path))
    ledger.put("invoices", "E", {"n": 1})
    assert ledger.tip() == 14
    ledger.close()
    db = sqlite3.connect(path)
    with db:
        db.execute("UPDATE nodes SET hash=zeroblob(32) WHERE level=0 AND idx=14")
    db.close()
    for args in (receipt("A"), ["digest"]):
        result = cli(path, *args)
        assert result.exit_code == 4, result.output
        assert "table nodes, row (level 0, idx 14)" in result.stderr
    assert "table nodes, row (level 0, idx 14)" in cli(path, "verify").stderr


def test_a_forged_tip_block_whose_rows_all_agree_is_found_by_verify(path: Path) -> None:
    """The tip block re-made with another previousBlockHash, its block hash recomputed and its
    rows and digest-tree nodes made to agree: every read-time check passes (it is a
    consistent file), the chain check of `verify` does not."""
    db = sqlite3.connect(path)
    (blob,) = db.execute("SELECT block FROM blocks WHERE seq=13").fetchone()
    frame = simpleion.loads(blob)
    frame["previousBlockHash"] = bytes(32)
    forged = dot(bytes(frame["entriesHash"]), bytes(32))
    frame["blockHash"] = forged
    (leaf12,) = db.execute("SELECT hash FROM nodes WHERE level=0 AND idx=12").fetchone()
    with db:
        db.execute(
            "UPDATE blocks SET block=?, block_hash=?, previous_hash=? WHERE seq=13",
            (simpleion.dumps(frame, binary=True), forged, bytes(32)),
        )
        db.execute("UPDATE nodes SET hash=? WHERE level=0 AND idx=13", (forged,))
        db.execute("UPDATE nodes SET hash=? WHERE level=1 AND idx=6", (dot(leaf12, forged),))
    db.close()
    assert cli(path, "receipt", "-t", "invoices", "A").exit_code == 0  # consistent, if forged
    verified = cli(path, "verify")
    assert verified.exit_code == 4
    assert "table blocks, row 13" in verified.stderr
    assert "does not link to the previous block" in verified.stderr


@pytest.mark.parametrize("kind", ["version gap", "one document under two keys"])
def test_a_journal_written_over_an_edited_index(
    path: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Today's writer refuses to build on an edited documents index; a writer that trusted
    it (as before) extended the journal consistently but wrongly, which `verify` names."""
    edit = {
        "version gap": "UPDATE documents SET version=5 WHERE key='D0'",
        "one document under two keys": f"UPDATE documents SET doc_id={DOC.format('D1')} "
        "WHERE key='D2'",
    }[kind]
    db = sqlite3.connect(path)
    with db:
        db.execute(edit)
    db.close()
    ledger = Ledger.open(str(path))
    key = "D0" if kind == "version gap" else "D2"
    with pytest.raises(IntegrityError, match=f"table documents, row \\(invoices, {key}\\)"):
        ledger.put("invoices", key, {"again": True})
    assert ledger.tip() == 13  # nothing written
    trusting = lambda db, table, k, path: _trusting(db, table, k)  # noqa: E731
    monkeypatch.setattr(writes, "indexed_current", trusting)
    ledger.put("invoices", key, {"again": True})
    expected = "versions 0…6 in 2 rows" if kind == "version gap" else "name several keys"
    with pytest.raises(IntegrityError, match=expected):
        ledger.verify_journal()
    ledger.close()


def _trusting(db: sqlite3.Connection, table: str, key: str) -> tuple[str, int, bool] | None:
    row = db.execute(
        "SELECT doc_id, version, deleted FROM documents WHERE table_name=? AND key=?", (table, key)
    ).fetchone()
    return None if row is None else (str(row[0]), int(row[1]), bool(row[2]))


@pytest.mark.parametrize(
    ("sql", "key"),
    [
        ("UPDATE documents SET version=5 WHERE key='D0'", "D0"),
        ("UPDATE documents SET version=-5 WHERE key='D0'", "D0"),
        ("UPDATE documents SET deleted=1 WHERE key='D3'", "D3"),
        ("UPDATE documents SET deleted=0 WHERE key='B'", "B"),
        (f"UPDATE documents SET doc_id={DOC.format('D1')} WHERE key='D2'", "D2"),
        ("DELETE FROM documents WHERE key='D4'", "D4"),
    ],
    ids=[
        "version ahead",
        "version behind",
        "deleted set",
        "deleted cleared",
        "another doc",
        "row removed",
    ],
)
def test_the_writer_does_not_build_on_an_edited_documents_row(
    path: Path, sql: str, key: str
) -> None:
    db = sqlite3.connect(path)
    with db:
        db.execute(sql)
    db.close()
    ledger = Ledger.open(str(path))
    for write in (
        lambda: ledger.put("invoices", key, {"again": True}),
        lambda: ledger.put_many("invoices", [("fresh", {"n": 1}), (key, {"again": True})]),
    ):
        with pytest.raises(IntegrityError, match=f"table documents, row \\(invoices, {key}\\)"):
            write()
    assert ledger.tip() == 13  # nothing written
    ledger.put("invoices", "fresh", {"n": 1})  # other keys still take writes
    ledger.close()
