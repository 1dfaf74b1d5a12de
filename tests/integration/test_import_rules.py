"""The import's own rules on small QLDB-shaped journals built here block by block (with
``proofs``' hashes only): which key indexes a document, what a document's versions and table
must be, and which shapes the ledger cannot index. Each journal verifies as an export (so what
decides is the import's rule, not the audit), and each genuine one passes ``ledger verify``."""

from __future__ import annotations

import itertools
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from amazon.ion import simpleion
from amazon.ion.simple_types import IonPySymbol

from auditor.ledger import Ledger, NotFoundError
from auditor.ledger.importer import ImportOptions, ImportRefusedError, import_export
from proofs import dot, ion_hash, merkle_root

STRAND = "StRaNdStRaNdStRaNd0001"
TABLES = {"invoices": "TaBlEiNvOiCeS000000001", "cars": "TaBlEcArS0000000000002"}
_ids = itertools.count()


def doc_id(n: int) -> str:
    return f"Doc{n:019d}"


def _timestamp(seq: int) -> Any:
    return simpleion.loads(f"2024-01-01T00:{seq // 60:02d}:{seq % 60:02d}.000Z")


class Journal:
    """Blocks of QLDB's shape: one transaction each, revisions of the given documents."""

    def __init__(self) -> None:
        self.blocks: list[dict[str, Any]] = []
        self.genesis()

    def _commit(self, info: Any, revisions: list[dict[str, Any]] | None) -> dict[str, Any]:
        seq = len(self.blocks)
        entries = [bytes([seq % 256]) * 32]  # an opaque internal entry
        if revisions:
            entries.append(merkle_root([r["hash"] for r in revisions]))
        if info is not None:
            entries.append(ion_hash(info))
        previous = self.blocks[-1]["blockHash"] if self.blocks else b""
        block: dict[str, Any] = {
            "blockAddress": {"strandId": STRAND, "sequenceNo": seq},
            "transactionId": f"Tx{seq:020d}",
            "blockTimestamp": _timestamp(seq),
            "blockHash": dot(merkle_root(entries), previous),
            "entriesHash": merkle_root(entries),
            "previousBlockHash": previous,
            "entriesHashList": entries,
        }
        if info is not None:
            block["transactionInfo"] = info
        if revisions is not None:
            block["revisions"] = revisions
        self.blocks.append(block)
        return block

    def genesis(self) -> None:
        self._commit(None, [{"hash": b"\x07" * 32}])

    def tx(self, *writes: tuple[str, str, int, Any], redact: Any = None) -> None:
        """One transaction: (table, document id, version, data | None for a delete)."""
        seq = len(self.blocks)
        tx_id = f"Tx{seq:020d}"
        statements, documents, revisions = [], {}, []
        for i, (table, doc, version, data) in enumerate(writes):
            statements.append({"statement": f"UPDATE {table} ?", "startTime": _timestamp(seq),
                               "statementDigest": ion_hash(f"UPDATE {table} ?")})  # fmt: skip
            documents[doc] = {"tableName": table, "tableId": TABLES.get(table, "TaBlE" + "x" * 17),
                              "statements": [i]}  # fmt: skip
            metadata = {"id": doc, "version": version, "txTime": _timestamp(seq), "txId": tx_id}
            revision: dict[str, Any] = {"blockAddress": {"strandId": STRAND, "sequenceNo": seq}}
            if data is None:
                revision["hash"] = bytes([len(revisions) + 1]) * 32  # QLDB's rule: unknown
            else:
                revision["hash"] = dot(ion_hash(data), ion_hash(metadata))
                revision["data"] = data
            revision["metadata"] = metadata
            revisions.append(revision)
        info = {"statements": statements, "documents": documents}
        self._commit(info, revisions)

    def redact(self, seq: int, index: int) -> None:
        """Rewrite an earlier revision in place to its dataHash (as QLDB exports show it)."""
        revision = self.blocks[seq]["revisions"][index]
        revision["dataHash"] = ion_hash(revision.pop("data"))
        metadata = revision.pop("metadata")
        revision["metadata"] = metadata

    def write(self, directory: Path) -> Path:
        export_id = "ExPoRtRuLeS00000000001"
        (directory / export_id).mkdir(parents=True)
        name = f"{export_id}/{STRAND}.0-{len(self.blocks) - 1}.ion"
        text = "".join(simpleion.dumps(b, binary=False, omit_version_marker=True) + "\n"
                       for b in self.blocks)  # fmt: skip
        (directory / name).write_text(text)
        started = {"ledgerName": "rules", "exportId": export_id, "prefix": ""}
        (directory / f"{export_id}.started.manifest").write_text(
            simpleion.dumps(started, binary=False, omit_version_marker=True)
        )
        (directory / f"{export_id}.{STRAND}.completed.manifest").write_text(
            json.dumps({"keys": [name]})
        )
        return directory


def imported(journal: Journal, tmp_path: Path) -> Ledger:
    export = journal.write(tmp_path / "export")
    import_export(ImportOptions(source=str(export), path=str(tmp_path / "l.db"),
                                accept_unanchored=True))  # fmt: skip
    ledger = Ledger.open(str(tmp_path / "l.db"))
    assert ledger.verify_journal() == len(journal.blocks)
    return ledger


def refused(journal: Journal, tmp_path: Path) -> ImportRefusedError:
    export = journal.write(tmp_path / "export")
    with pytest.raises(ImportRefusedError) as caught:
        import_export(ImportOptions(source=str(export), path=str(tmp_path / "l.db"),
                                    accept_unanchored=True))  # fmt: skip
    assert not (tmp_path / "l.db").exists()
    assert not (tmp_path / "l.db.key").exists()
    return caught.value


def keys(ledger: Ledger, table: str = "invoices") -> dict[str, str]:
    """document id -> the key that indexes it."""
    db = ledger._db()
    return dict(db.execute("SELECT DISTINCT doc_id, key FROM revisions WHERE table_name = ?",
                           (table,)).fetchall())  # fmt: skip


def test_keys_come_from_k_when_they_can(tmp_path: Path) -> None:
    j = Journal()
    long_key = "K" * 1025
    j.tx(("invoices", doc_id(1), 0, {"_k": "INV1", "n": 1}),
         ("invoices", doc_id(2), 0, {"_k": "", "n": 2}),
         ("invoices", doc_id(3), 0, {"_k": long_key, "n": 3}),
         ("invoices", doc_id(4), 0, {"_k": IonPySymbol.from_value(
             simpleion.IonType.SYMBOL, "INV4"), "n": 4}),
         ("invoices", doc_id(5), 0, {"_k": 5}),
         ("invoices", doc_id(6), 0, {"_k": "K" * 1024}),
         ("cars", doc_id(7), 0, {"VIN": "1"}),
         ("cars", doc_id(8), 0, "a string document"))  # fmt: skip
    ledger = imported(j, tmp_path)
    try:
        assert keys(ledger) == {doc_id(1): "INV1", doc_id(2): doc_id(2), doc_id(3): doc_id(3),
                                doc_id(4): doc_id(4), doc_id(5): doc_id(5),
                                doc_id(6): "K" * 1024}  # fmt: skip
        assert keys(ledger, "cars") == {doc_id(7): doc_id(7), doc_id(8): doc_id(8)}
        assert ledger.get("invoices", "INV1")["n"] == 1
        assert ledger.get("cars", doc_id(7))["VIN"] == "1"
        assert ledger.get("cars", doc_id(8)) == "a string document"
    finally:
        ledger.close()


def test_a_key_held_by_a_live_document_is_not_taken_twice(tmp_path: Path) -> None:
    j = Journal()
    j.tx(("invoices", doc_id(1), 0, {"_k": "INV1", "n": 1}))
    j.tx(("invoices", doc_id(2), 0, {"_k": "INV1", "n": 2}))  # a second live INV1: by its id
    j.tx(("invoices", doc_id(1), 1, None))  # the first is deleted ...
    j.tx(("invoices", doc_id(3), 0, {"_k": "INV1", "n": 3}))  # ... so a third may take INV1
    ledger = imported(j, tmp_path)
    try:
        assert keys(ledger) == {doc_id(1): "INV1", doc_id(2): doc_id(2), doc_id(3): "INV1"}
        assert ledger.get("invoices", "INV1")["n"] == 3
        assert [r.document_id for r in ledger.history("invoices", "INV1")] == [
            doc_id(1), doc_id(1), doc_id(3)]  # fmt: skip
    finally:
        ledger.close()


def test_a_key_deleted_and_written_again_in_one_transaction(tmp_path: Path) -> None:
    j = Journal()
    j.tx(("invoices", doc_id(1), 0, {"_k": "INV1", "n": 1}))
    j.tx(("invoices", doc_id(1), 1, None), ("invoices", doc_id(2), 0, {"_k": "INV1", "n": 2}))
    ledger = imported(j, tmp_path)
    try:
        assert keys(ledger) == {doc_id(1): "INV1", doc_id(2): "INV1"}
        current = ledger.current("invoices", "INV1")
        assert (current.document_id, current.data["n"]) == (doc_id(2), 2)
        assert [r.version for r in ledger.history("invoices", "INV1")] == [0, 1, 0]
        ledger.put("invoices", "INV1", {"n": 3}, expected_version=0)
        assert ledger.verify_journal() == len(j.blocks) + 1
    finally:
        ledger.close()


def test_a_k_that_changes_puts_the_document_under_its_id(tmp_path: Path) -> None:
    j = Journal()
    j.tx(("invoices", doc_id(1), 0, {"_k": "INV1", "n": 1}))
    j.tx(("invoices", doc_id(1), 1, {"_k": "INV1", "n": 2}))
    j.tx(("invoices", doc_id(1), 2, {"_k": "OTHER", "n": 3}))
    j.tx(("invoices", doc_id(2), 0, {"_k": "INV2"}))
    j.tx(("invoices", doc_id(2), 1, {"no": "key"}))
    ledger = imported(j, tmp_path)
    try:
        assert keys(ledger) == {doc_id(1): doc_id(1), doc_id(2): doc_id(2)}
        with pytest.raises(NotFoundError):
            ledger.current("invoices", "INV1")
        assert ledger.current("invoices", doc_id(1)).version == 2
        assert [r.version for r in ledger.history("invoices", doc_id(1))] == [0, 1, 2]
    finally:
        ledger.close()


def test_a_documents_first_data_revision_names_its_key(tmp_path: Path) -> None:
    """v0 redacted (its _k is gone) and then deleted-less data: keyed by the first _k seen."""
    j = Journal()
    j.tx(("invoices", doc_id(1), 0, {"_k": "INV1", "n": 1}))
    j.tx(("invoices", doc_id(1), 1, {"_k": "INV1", "n": 2}))
    j.tx(("invoices", doc_id(2), 0, {"_k": "INV2", "n": 1}))
    j.tx(("invoices", doc_id(2), 1, None))
    j.redact(1, 0)
    j.redact(3, 0)
    ledger = imported(j, tmp_path)
    try:
        assert keys(ledger) == {doc_id(1): "INV1", doc_id(2): doc_id(2)}  # INV2: never seen
        assert ledger.get("invoices", "INV1")["n"] == 2
        assert "dataHash" in ledger.history("invoices", "INV1")[0].value
    finally:
        ledger.close()


@pytest.mark.parametrize(
    ("writes", "text"),
    [
        ([("invoices", doc_id(1), 1, {"n": 1})], "starts at version 1"),
        ([("invoices", doc_id(1), 0, {"n": 1}), ("invoices", doc_id(1), 2, {"n": 2})],
         "version 2 follows version 0: the transaction that wrote version 1 is missing"),
        ([("invoices", doc_id(1), 0, {"n": 1}), ("invoices", doc_id(1), 0, {"n": 2})],
         "twice"),
        ([("invoices", doc_id(1), 0, {"n": 1}), ("invoices", doc_id(1), 1, {"n": 2}),
          ("invoices", doc_id(1), 1, {"n": 3})], "version 1 follows version 1"),
        ([("invoices", doc_id(1), 0, {"n": 1}), ("cars", doc_id(1), 1, {"n": 2})],
         "was in table invoices, this revision puts it in cars"),
    ],
)  # fmt: skip
def test_a_documents_versions_and_table_are_checked(
    writes: list[tuple[str, str, int, Any]], text: str, tmp_path: Path
) -> None:
    j = Journal()
    for write in writes:
        j.tx(write)
    error = refused(j, tmp_path)
    assert error.status == "refuted"
    assert text in str(error)


def test_shapes_the_ledger_cannot_index(tmp_path: Path) -> None:
    cases = []
    j = Journal()  # a user revision in a block without transactionInfo
    j.tx(("invoices", doc_id(1), 0, {"n": 1}))
    del j.blocks[1]["transactionInfo"]
    block = j.blocks[1]
    block["entriesHashList"] = [e for e in block["entriesHashList"] if len(e) == 32][:2]
    block["entriesHash"] = merkle_root(block["entriesHashList"])
    block["blockHash"] = dot(block["entriesHash"], block["previousBlockHash"])
    cases.append((j, "no transactionInfo.documents entry names its table"))
    j = Journal()  # a table name the ledger cannot have
    j.tx(("bad-name", doc_id(1), 0, {"n": 1}))
    cases.append((j, "--table-map"))
    j = Journal()  # one table name, two table ids
    j.tx(("invoices", doc_id(1), 0, {"n": 1}))
    j.tx(("invoices", doc_id(2), 0, {"n": 2}))
    second = j.blocks[2]
    second["transactionInfo"]["documents"][doc_id(2)]["tableId"] = "TaBlEoThEr000000000003"
    rebuilt = Journal()
    rebuilt.blocks = j.blocks[:2]
    rebuilt._commit(second["transactionInfo"], second["revisions"])
    cases.append((rebuilt, "another table has that name or id"))
    for n, (journal, text) in enumerate(cases):
        where = tmp_path / str(n)
        where.mkdir()
        error = refused(journal, where)
        assert error.status == "malformed", error
        assert text in str(error)


def test_redactions_qldb_left_unmatched_are_kept_and_checked(tmp_path: Path) -> None:
    """QLDB redacts asynchronously: an export may show a redaction block whose revision still
    has its data (pending), or a redacted revision whose block is not in the export. Both are
    imported, reported and recorded, so that ledger verify still finds an edited row."""
    j = Journal()
    j.tx(("invoices", doc_id(1), 0, {"_k": "INV1", "n": 1}))
    j.tx(("invoices", doc_id(1), 1, {"_k": "INV1", "n": 2}))
    j.tx(("invoices", doc_id(2), 0, {"_k": "INV2", "n": 1}))
    j.tx(("invoices", doc_id(2), 1, {"_k": "INV2", "n": 2}))
    j.redact(3, 0)  # INV2 v0: redacted, no redaction block (unrecorded)
    info = {
        "statements": [
            {
                "statement": "EXEC redact_revision ?, ?, ?",
                "startTime": _timestamp(5),
                "statementDigest": ion_hash("EXEC redact_revision ?, ?, ?"),
            }
        ]
    }
    redaction = {"revisions": [{"blockAddress": {"strandId": STRAND, "sequenceNo": 1},
                                "tableId": TABLES["invoices"], "documentId": doc_id(1),
                                "version": 0}]}  # fmt: skip
    block = j._commit(info, None)  # INV1 v0: named by a redaction, still with data (pending)
    block["redactionInfo"] = redaction
    entries = [*block["entriesHashList"], ion_hash(redaction)]
    block["entriesHashList"], block["entriesHash"] = entries, merkle_root(entries)
    block["blockHash"] = dot(block["entriesHash"], block["previousBlockHash"])
    export = j.write(tmp_path / "export")
    result = import_export(ImportOptions(source=str(export), path=str(tmp_path / "l.db"),
                                         accept_unanchored=True))  # fmt: skip
    assert result.summary["unmatchedRedactions"] == {
        "pending": [[doc_id(1), 0]], "unrecorded": [[doc_id(2), 0]]}  # fmt: skip
    ledger = Ledger.open(str(tmp_path / "l.db"))
    try:
        assert ledger.verify_journal() == len(j.blocks)
        ledger.redact("invoices", "INV1", 0)  # the owner finishes QLDB's redaction
        assert ledger.verify_journal() == len(j.blocks) + 1
    finally:
        ledger.close()
    import sqlite3

    from auditor.ledger import IntegrityError

    db = sqlite3.connect(str(tmp_path / "l.db"))
    row = db.execute("SELECT revision FROM revisions WHERE doc_id=? AND version=1",
                     (doc_id(2),)).fetchone()  # fmt: skip
    value = simpleion.loads(row[0])
    value["dataHash"] = ion_hash(value.pop("data"))
    metadata = value.pop("metadata")
    value["metadata"] = metadata
    db.execute("UPDATE revisions SET kind='redacted', revision=? WHERE doc_id=? AND version=1",
               (simpleion.dumps(value, binary=True), doc_id(2)))  # fmt: skip
    db.commit()
    db.close()
    ledger = Ledger.open(str(tmp_path / "l.db"))
    try:
        with pytest.raises(IntegrityError, match="redactionInfo"):
            ledger.verify_journal()
    finally:
        ledger.close()


def test_a_revision_whose_data_is_ion_null_is_data(tmp_path: Path) -> None:
    """``data: null`` is a data revision (its hash covers IonHash(null)), not a deletion: the
    imported ledger verifies and serves it."""
    journal = Journal()
    journal.tx(("invoices", doc_id(1), 0, {"_k": "a", "n": 1}))
    seq = len(journal.blocks)
    metadata = {"id": doc_id(1), "version": 1, "txTime": _timestamp(seq), "txId": f"Tx{seq:020d}"}
    revision = {"blockAddress": {"strandId": STRAND, "sequenceNo": seq},
                "hash": dot(ion_hash(None), ion_hash(metadata)), "data": None,
                "metadata": metadata}  # fmt: skip
    info = {"statements": [{"statement": "UPDATE invoices ?", "startTime": _timestamp(seq),
                            "statementDigest": ion_hash("UPDATE invoices ?")}],
            "documents": {doc_id(1): {"tableName": "invoices", "tableId": TABLES["invoices"],
                                      "statements": [0]}}}  # fmt: skip
    journal._commit(info, [revision])
    ledger = imported(journal, tmp_path)  # verify_journal passes
    try:
        history = ledger.document_history("invoices", doc_id(1))
        assert [(r.version, r.data) for r in history][1] == (1, None)
        kinds = ledger._db().execute("SELECT kind FROM revisions ORDER BY version").fetchall()
        assert kinds == [("data",), ("data",)]
    finally:
        ledger.close()


def test_a_document_id_that_is_another_documents_key_is_refused(tmp_path: Path) -> None:
    """Document 2 has no _k, so it would be indexed by its id, which document 1 holds as its
    _k: two live documents under one key cannot both be served, so nothing is created."""
    journal = Journal()
    journal.tx(("invoices", doc_id(1), 0, {"_k": doc_id(2), "n": 1}))
    journal.tx(("invoices", doc_id(2), 0, {"n": 2}))
    error = refused(journal, tmp_path)
    assert error.status == "malformed"
    assert f"document {doc_id(2)} has no key of its own" in str(error)


def _edited_deletion(tmp_path: Path, field: str, value: Any) -> str:
    """Import a document and its QLDB deletion, set the deletion row's ``metadata.<field>`` to
    ``value`` (a callable gets the row's ``tx_time`` column), and return what ``ledger verify``
    says (it must refuse)."""
    import sqlite3

    from auditor.ledger import IntegrityError
    from auditor.ledger.codec import decode, encode

    journal = Journal()
    journal.tx(("invoices", doc_id(1), 0, {"_k": "a", "n": 1}))
    journal.tx(("invoices", doc_id(1), 1, None))  # a QLDB deletion
    imported(journal, tmp_path).close()
    db = sqlite3.connect(tmp_path / "l.db")
    blob, column = db.execute("SELECT revision, tx_time FROM revisions WHERE version=1").fetchone()
    row = decode(blob, "row")
    row["metadata"][field] = value(column) if callable(value) else value
    db.execute("UPDATE revisions SET revision=? WHERE version=1", (encode(row),))
    db.commit()
    db.close()
    ledger = Ledger.open(str(tmp_path / "l.db"))
    try:
        with pytest.raises(IntegrityError) as caught:
            ledger.verify_journal()
        return str(caught.value)
    finally:
        ledger.close()


@pytest.mark.parametrize("version", [Decimal(1), True, "1", 1.0, "x", [1]])
def test_ledger_verify_compares_a_deletions_metadata_exactly(tmp_path: Path, version: Any) -> None:
    """A QLDB deletion's hash is not recomputable, so its row's columns are what guards its
    metadata: a version of another Ion type is an edit, named, never coerced or a crash."""
    assert "version is 1, the journal says" in _edited_deletion(tmp_path, "version", version)


def test_ledger_verify_refuses_a_txtime_that_is_a_string(tmp_path: Path) -> None:
    """An imported deletion's txTime replaced by a string holding its column's text."""
    assert "tx_time" in _edited_deletion(tmp_path, "txTime", lambda column: column)
