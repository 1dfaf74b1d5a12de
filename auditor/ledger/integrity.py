"""``ledger verify``: every table of the file checked against the journal, in one snapshot.

1. SQLite's ``quick_check`` (pages and B-trees), then ``meta``.
2. Every block, rebuilt from its frame and its revision rows (``rev_index`` 0…n-1), passes
   ``proofs.verify_block`` under the writer's rules and links to the previous block; its
   columns (hashes, tx id, time) are the frame's; block 0 is ``CREATE LEDGER <name>``.
3. Every revision row agrees with its block: the columns (document id, version, tx id and
   time, kind, hash) with the revision, table and key with the statement of the block's
   ``transactionInfo`` that wrote it (``UPSERT|DELETE <table> <key>``), the table's id with
   ``documents[id].tableId``; each document's versions run 0…n without gaps under one key (a
   writer that trusted an edited index could have broken that); no row lies outside a block;
   the ``redacted`` rows are exactly those of the blocks' ``redactionInfo``.
4. ``tables`` holds exactly the tables of the ``CREATE TABLE`` blocks, with the ids the blocks
   use; ``documents`` is exactly the latest revision of each key (document, version, deleted).
5. ``nodes`` is exactly the digest tree recomputed from the block hashes, level by level; the
   digest is the Merkle root of the block hashes.

A ledger migrated from QLDB (``meta`` import_boundary N): blocks 0..N are QLDB's and pass
``proofs.verify_block`` under QLDB's rules (their deleted revisions are QLDB's, not recomputed;
block 0 is QLDB's genesis); their revision rows agree with ``transactionInfo.documents`` (table,
through ``import_tables``, and table id) instead of our statements, a document without a ``_k``
of its own is indexed by its id, and QLDB's hash-only system revisions are the rows of
``system_revisions`` (only in those blocks). Blocks after N are the writer's, checked as above.

The first disagreement raises :class:`IntegrityError` naming the table and row. Memory stays
flat in the number of revisions and keys (the tree check streams one level at a time; block
hashes are kept, 32 bytes each).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from typing import Any

import proofs
from auditor.formats import KEY_FIELD
from auditor.ledger.check import REVISION_COLUMNS, key_of, same_column
from auditor.ledger.codec import attach_revisions, decode, time_column
from auditor.ledger.errors import IntegrityError, mismatch
from auditor.ledger.store import (
    import_boundary,
    quick_check,
    read_meta,
    table_map,
    unmatched_redactions,
)
from auditor.ledger.tree import subtree_reader
from proofs import dot, merkle_root


def verify(db: sqlite3.Connection, path: str) -> int:
    """Check the whole file (module doc); returns the number of blocks."""
    quick_check(db, path)
    meta = read_meta(db, path)
    walk = _Walk(db, path, meta["name"], meta["strand_id"])
    boundary = import_boundary(meta)
    walk.boundary = -1 if boundary is None else boundary
    walk.renamed = table_map(meta, path)
    walk.unmatched = unmatched_redactions(meta, path)
    count = walk.blocks()
    if count == 0:
        raise IntegrityError("index", f"{path}: table blocks: no genesis block", "table blocks")
    walk.orphans(count)
    walk.tables()
    _documents(db, path)
    _nodes(db, path, count)
    stored = _root(db, path, count)
    if merkle_root(walk.hashes) != stored:
        raise mismatch(path, "table nodes", "digest", stored, merkle_root(walk.hashes))
    return count


class _Walk:
    def __init__(self, db: sqlite3.Connection, path: str, name: str, strand_id: str) -> None:
        self.db, self.path, self.name, self.strand_id = db, path, name, strand_id
        self.hashes: list[bytes] = []
        self.created: set[str] = set()
        self.table_ids: dict[str, str] = {}
        self.redactions: set[tuple[str, int]] = set()
        self.redacted: set[tuple[str, int]] = set()
        self.boundary = -1  # the last block imported from QLDB
        self.renamed: dict[str, str] = {}  # QLDB table name -> ours, where renamed on import
        # QLDB's redactions the import found unmatched (pending, or without their block)
        self.unmatched: dict[str, set[tuple[str, int]]] = {"pending": set(), "unrecorded": set()}

    def _rows(
        self,
    ) -> Iterator[tuple[tuple[Any, ...], list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
        """(block row, its revision rows, its system revision rows), block by block, each in
        ``rev_index`` order."""
        revisions = self.db.execute(
            f"SELECT {REVISION_COLUMNS} FROM revisions ORDER BY seq, rev_index"  # noqa: S608
        )
        pending = next(revisions, None)
        system: Iterator[tuple[Any, ...]] = iter(())
        if self.boundary >= 0:
            system = self.db.execute(
                "SELECT seq, rev_index, hash, revision FROM system_revisions "
                "ORDER BY seq, rev_index"
            )
        waiting = next(system, None)
        blocks = self.db.execute(
            "SELECT seq, block, block_hash, previous_hash, entries, revision_hashes, tx_id, "
            "block_time FROM blocks ORDER BY seq"
        )
        for block in blocks:
            mine, theirs = [], []
            while pending is not None and pending[4] == block[0]:
                mine.append(pending)
                pending = next(revisions, None)
            while waiting is not None and waiting[0] == block[0]:
                theirs.append(waiting)
                waiting = next(system, None)
            yield block, mine, theirs

    def _values(
        self, seq: int, rows: list[tuple[Any, ...]], system: list[tuple[Any, ...]]
    ) -> list[Any]:
        """The block's revisions in order: rows and system rows at ``rev_index`` 0…n-1."""
        if system and seq > self.boundary:
            where = f"table system_revisions, row ({seq}, {system[0][1]})"
            raise IntegrityError(
                "index", f"{self.path}: {where}: a system revision in block {seq}, which is the "
                "writer's (only blocks imported from QLDB have them)", where,
            )  # fmt: skip
        placed: list[tuple[int, str, Any]] = []
        for row in rows:
            here = f"table revisions, row (document {row[2]}, version {row[3]})"
            placed.append((int(row[5]), here, row[10]))
        for row in system:
            here = f"table system_revisions, row ({seq}, {row[1]})"
            placed.append((int(row[1]), here, row[3]))
        placed.sort(key=lambda p: p[0])
        values = []
        for i, (index, here, blob) in enumerate(placed):
            if index != i:
                raise mismatch(self.path, here, "rev_index", index, i)
            values.append(decode(blob, f"{self.path}: {here}: revision"))
        for row in system:
            here = f"table system_revisions, row ({seq}, {row[1]})"
            value = values[int(row[1])]
            if "metadata" in value or bytes(value.get("hash", b"")) != bytes(row[2]):
                raise mismatch(self.path, here, "hash", row[2], value.get("hash"))
        return values

    def blocks(self) -> int:
        previous = b""
        count = 0
        for block_columns, rows, system in self._rows():
            seq, blob, block_hash, previous_hash, entries, hashes, tx_id, block_time = block_columns
            if seq != count:
                where = f"table blocks, row {count}"
                raise IntegrityError("index", f"{self.path}: {where}: missing", where)
            where = f"table blocks, row {seq}"
            frame = decode(blob, f"{self.path}: {where}: block")
            values = self._values(seq, rows, system)
            imported = seq <= self.boundary
            if imported and "revisions" not in frame and not values:
                block = frame  # a QLDB block without a revisions field (docs/ledger.md)
            else:
                block = attach_revisions(frame, values)
            try:
                result = proofs.verify_block(block, "block", writer_rules=not imported)
                if imported and seq == 0 and "previousBlockHash" not in frame:
                    stated_previous = b""  # QLDB's genesis block may have none
                else:
                    stated_previous = bytes(frame["previousBlockHash"])
                address = frame["blockAddress"]
            except proofs.ProofError as e:
                found = re.search(r"\.revisions\[(\d+)\]", e.locator)
                if found and int(found[1]) < len(rows):  # name the row of that revision
                    row = rows[int(found[1])]
                    where = f"table revisions, row (document {row[2]}, version {row[3]})"
                raise IntegrityError("journal", f"{self.path}: {where}: {e}", where) from e
            except (KeyError, TypeError) as e:
                raise IntegrityError("journal", f"{self.path}: {where}: lacks {e}", where) from e
            if result.sequence_no != seq or address["strandId"] != self.strand_id:
                raise mismatch(
                    self.path, where, "seq/strand", f"{self.strand_id} {seq}",
                    f"{address['strandId']} {result.sequence_no}",
                )  # fmt: skip
            if stated_previous != previous:
                raise IntegrityError(
                    "journal", f"{self.path}: {where}: does not link to the previous block "
                    f"(its previousBlockHash is not block {seq - 1}'s hash)", where,
                )  # fmt: skip
            columns = {
                "block_hash": (bytes(block_hash), result.block_hash),
                "previous_hash": (bytes(previous_hash), stated_previous),
                "entries": (bytes(entries), b"".join(bytes(h) for h in frame["entriesHashList"])),
                "revision_hashes": (bytes(hashes), b"".join(bytes(v["hash"]) for v in values)),
            }
            for field, (stored, journal) in columns.items():
                if stored != journal:
                    raise mismatch(self.path, where, field, stored, journal)
            for field, (stored, journal) in {
                "tx_id": (tx_id, frame["transactionId"]),
                "block_time": (block_time, time_column(frame["blockTimestamp"])),
            }.items():  # exactly: a string column against a string
                if not same_column(journal, stored):
                    raise mismatch(self.path, where, field, stored, journal)
            self._transaction(seq, frame, rows, values)
            previous = result.block_hash
            self.hashes.append(previous)
            count += 1
        return count

    def _transaction(
        self, seq: int, frame: Any, rows: list[tuple[Any, ...]], values: list[Any]
    ) -> None:
        where = f"table blocks, row {seq}"
        if seq <= self.boundary:
            self._imported(seq, frame, rows, [v for v in values if "metadata" in v])
            return
        info = frame["transactionInfo"]
        statements = [str(s["statement"]) for s in info["statements"]]
        if seq == 0 and (statements != [f"CREATE LEDGER {self.name}"] or rows):
            raise mismatch(self.path, where, "meta name", self.name, " ".join(statements))
        for statement in statements:
            verb, _, table = statement.partition(" ")
            if statement.startswith("CREATE TABLE "):
                self.created.add(statement.removeprefix("CREATE TABLE "))
            elif verb == "CREATE" and table.startswith("LEDGER ") and seq != 0:
                raise IntegrityError("journal", f"{self.path}: {where}: a second genesis", where)
        redaction = frame.get("redactionInfo")
        if redaction is not None:
            for entry in redaction["revisions"]:
                self.redactions.add((str(entry["documentId"]), int(entry["version"])))
        documents = info["documents"]
        for row, value in zip(rows, values, strict=True):
            self._revision(seq, row, value, documents, statements)

    def _revision(
        self, seq: int, row: tuple[Any, ...], value: Any, documents: Any, statements: list[str]
    ) -> None:
        table, key, doc_id, version, *_ = row
        kind = row[8]
        where = f"table revisions, row (document {doc_id}, version {version})"
        self._revision_columns([row], [value])
        entry = documents.get(doc_id) if hasattr(documents, "get") else None
        if entry is None:
            raise IntegrityError(
                "journal", f"{self.path}: block {seq}: transactionInfo.documents lacks {doc_id}",
                where,
            )  # fmt: skip
        known = self.table_ids.setdefault(table, str(entry["tableId"]))
        if known != str(entry["tableId"]):
            raise IntegrityError(
                "journal", f"{self.path}: block {seq}: table {table} has a second tableId", where
            )
        index = entry["statements"][0]
        statement = statements[index] if 0 <= index < len(statements) else ""
        _, _, rest = statement.partition(" ")  # UPSERT|DELETE <table> <key>
        journal_table, _, journal_key = rest.partition(" ")
        if table != journal_table:
            raise mismatch(self.path, where, "table_name", table, journal_table)
        if key != journal_key:
            raise mismatch(self.path, where, "key", key, journal_key)
        if kind == "redacted":
            self.redacted.add((doc_id, version))

    def _imported(
        self, seq: int, frame: Any, rows: list[tuple[Any, ...]], values: list[Any]
    ) -> None:
        """A block imported from QLDB: its rows agree with ``transactionInfo.documents``."""
        redaction = frame.get("redactionInfo")
        if redaction is not None:
            for entry in redaction["revisions"]:
                self.redactions.add((str(entry["documentId"]), int(entry["version"])))
        info = frame.get("transactionInfo")
        documents: Any = info.get("documents") if hasattr(info, "get") else None
        self._revision_columns(rows, values)
        for row, value in zip(rows, values, strict=True):
            table, key, doc_id, version, *_ = row
            where = f"table revisions, row (document {doc_id}, version {version})"
            found_entry: Any = documents.get(doc_id) if hasattr(documents, "get") else None
            if found_entry is None:
                raise IntegrityError(
                    "journal", f"{self.path}: block {seq}: transactionInfo.documents lacks "
                    f"{doc_id}", where,
                )  # fmt: skip
            qldb_name = str(found_entry["tableName"])
            journal_table = self.renamed.get(qldb_name, qldb_name)
            if table != journal_table:
                raise mismatch(self.path, where, "table_name", table, journal_table)
            known = self.table_ids.setdefault(table, str(found_entry["tableId"]))
            if known != str(found_entry["tableId"]):
                raise IntegrityError(
                    "journal", f"{self.path}: block {seq}: table {table} has a second tableId",
                    where,
                )  # fmt: skip
            self.created.add(table)
            data = value.get("data")
            if data is not None and not key_of(data, key, doc_id, imported=True):
                found = data.get(KEY_FIELD) if type(data) is dict else None
                raise mismatch(self.path, where, "key", key, found)
            if row[8] == "redacted":
                self.redacted.add((doc_id, version))

    def _revision_columns(self, rows: list[tuple[Any, ...]], values: list[Any]) -> None:
        for row, value in zip(rows, values, strict=True):
            _, _, doc_id, version, _, _, tx_id, tx_time, kind, row_hash, _ = row
            where = f"table revisions, row (document {doc_id}, version {version})"
            metadata = value["metadata"]
            kind_found = "data" if "data" in value else "redacted" if "dataHash" in value else (
                "deleted"
            )  # fmt: skip
            columns = {  # the journal's values exactly: an int an int, a string a string
                "doc_id": (doc_id, metadata["id"]),
                "version": (version, metadata["version"]),
                "tx_id": (tx_id, metadata["txId"]),
                "tx_time": (tx_time, time_column(metadata["txTime"])),
                "kind": (kind, kind_found),
            }
            for field, (stored, journal) in columns.items():
                if not same_column(journal, stored):
                    raise mismatch(self.path, where, field, stored, journal)
            if bytes(row_hash) != bytes(value["hash"]):
                raise mismatch(self.path, where, "hash", row_hash, value["hash"])

    def orphans(self, count: int) -> None:
        row = self.db.execute(
            "SELECT doc_id, version, seq FROM revisions WHERE seq >= ? OR seq < 0 LIMIT 1",
            (count,),
        ).fetchone()
        if row is not None:
            where = f"table revisions, row (document {row[0]}, version {row[1]})"
            raise IntegrityError(
                "index", f"{self.path}: {where}: in block {row[2]}, which does not exist", where
            )
        if self.boundary >= 0:
            row = self.db.execute(
                "SELECT seq, rev_index FROM system_revisions WHERE seq > ? OR seq < 0 LIMIT 1",
                (min(count - 1, self.boundary),),
            ).fetchone()
            if row is not None:
                where = f"table system_revisions, row ({row[0]}, {row[1]})"
                raise IntegrityError(
                    "index", f"{self.path}: {where}: not in a block imported from QLDB", where
                )
        unexplained = (self.redacted - self.redactions - self.unmatched["unrecorded"]) | (
            self.redactions - self.redacted - self.unmatched["pending"]
        )
        if unexplained:
            doc_id, version = sorted(unexplained)[0]
            where = f"table revisions, row (document {doc_id}, version {version})"
            found = "redacted" if (doc_id, version) in self.redacted else "not redacted"
            raise IntegrityError(
                "index", f"{self.path}: {where}: {found}, but the journal's redactionInfo "
                "says otherwise", where,
            )  # fmt: skip
        gap = self.db.execute(
            "SELECT doc_id, count(*), min(version), max(version) FROM revisions "
            "GROUP BY doc_id HAVING min(version) != 0 OR max(version) != count(*) - 1 LIMIT 1"
        ).fetchone()
        if gap is not None:
            where = f"table revisions, document {gap[0]}"
            raise IntegrityError(
                "index", f"{self.path}: {where}: versions {gap[2]}…{gap[3]} in {gap[1]} rows "
                "(not 0…n without gaps)", where,
            )  # fmt: skip
        split = self.db.execute(
            "SELECT doc_id FROM revisions GROUP BY doc_id "
            "HAVING count(DISTINCT table_name || char(0) || key) > 1 LIMIT 1"
        ).fetchone()
        if split is not None:
            where = f"table revisions, document {split[0]}"
            raise IntegrityError(
                "index", f"{self.path}: {where}: its revisions name several keys", where
            )

    def tables(self) -> None:
        stored = dict(self.db.execute("SELECT name, table_id FROM tables").fetchall())
        for name in sorted(set(stored) | self.created | set(self.table_ids)):
            where = f"table tables, row {name}"
            if name not in stored:
                raise IntegrityError("index", f"{self.path}: {where}: missing", where)
            if name not in self.created:
                raise IntegrityError(
                    "index", f"{self.path}: {where}: no CREATE TABLE block for it", where
                )
            used = self.table_ids.get(name)
            if used is not None and used != stored[name]:
                raise mismatch(self.path, where, "table_id", stored[name], used)


def _documents(db: sqlite3.Connection, path: str) -> None:
    """``documents`` equals the latest revision of each (table, key), compared in key order."""
    expected = db.execute(  # the latest: by block, then by position (a migrated ledger's
        # QLDB blocks may delete a key's document and write the key again in one transaction)
        "SELECT table_name, key, doc_id, version, deleted FROM (SELECT table_name, key, doc_id, "
        "version, kind = 'deleted' AS deleted, row_number() OVER (PARTITION BY table_name, key "
        "ORDER BY seq DESC, rev_index DESC) AS n FROM revisions) WHERE n = 1 "
        "ORDER BY table_name, key"
    )
    stored = db.execute(
        "SELECT table_name, key, doc_id, version, deleted FROM documents ORDER BY table_name, key"
    )
    want, have = next(expected, None), next(stored, None)
    while want is not None or have is not None:
        if have is None or (want is not None and (want[0], want[1]) < (have[0], have[1])):
            assert want is not None
            where = f"table documents, row ({want[0]}, {want[1]})"
            raise IntegrityError("index", f"{path}: {where}: missing (the journal has it)", where)
        if want is None or (have[0], have[1]) < (want[0], want[1]):
            where = f"table documents, row ({have[0]}, {have[1]})"
            raise IntegrityError("index", f"{path}: {where}: no such key in the journal", where)
        where = f"table documents, row ({have[0]}, {have[1]})"
        for field, stored_value, journal in zip(
            ("doc_id", "version", "deleted"), have[2:], want[2:], strict=True
        ):
            if stored_value != journal or type(stored_value) is not type(journal):
                raise mismatch(path, where, field, stored_value, journal)
        want, have = next(expected, None), next(stored, None)


def _nodes(db: sqlite3.Connection, path: str, count: int) -> None:
    """``nodes`` equals the perfect subtrees recomputed from the block hashes."""
    extra = db.execute(
        "SELECT level, idx FROM nodes WHERE level < 0 OR idx < 0 OR level >= 63 "
        "OR idx >= (? >> level) LIMIT 1",
        (count,),
    ).fetchone()
    if extra is not None:
        where = f"table nodes, row (level {extra[0]}, idx {extra[1]})"
        raise IntegrityError("index", f"{path}: {where}: not a node of the digest tree", where)
    below: Iterator[bytes] = (
        bytes(h) for (h,) in db.execute("SELECT block_hash FROM blocks ORDER BY seq")
    )
    level = 0
    while count >> level:
        rows = db.execute("SELECT idx, hash FROM nodes WHERE level = ? ORDER BY idx", (level,))
        for i in range(count >> level):
            expected = next(below) if level == 0 else dot(next(below), next(below))
            row = next(rows, None)
            where = f"table nodes, row (level {level}, idx {i})"
            if row is None or row[0] != i:
                raise IntegrityError("index", f"{path}: {where}: missing", where)
            if bytes(row[1]) != expected:
                raise mismatch(path, where, "hash", row[1], expected)
        below = (
            bytes(h)
            for (h,) in db.execute("SELECT hash FROM nodes WHERE level = ? ORDER BY idx", (level,))
        )
        level += 1


def _root(db: sqlite3.Connection, path: str, count: int) -> bytes:
    return subtree_reader(db, path)(0, count) if count else b""
