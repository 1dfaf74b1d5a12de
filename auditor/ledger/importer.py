"""Import a QLDB journal export into a new ledger: ``qldb-audit ledger import`` (docs/migration.md).

Verify first, publish only what verified. The export is audited with the fail-closed engine of
``verify export`` (QLDB's rules; blocks without ``transactionInfo`` and deleted revisions
accepted and reported, as QLDB really writes them; each ``--digest`` must be the Merkle root at
its tip), and while the engine reads each data object, every block it verified is written into
a temporary database beside the target (``PATH.importing``; an exclusive lock on the
directory keeps a second import out). Only when the verdict allows it are the database and a
new signing key published together, as ``init`` publishes them (``store.create_file``):

- refuted (a hash, the chain, a digest, a document's versions): :class:`ImportRefusedError`,
  ``status`` ``refuted``; nothing created;
- partial (not from block 0, blocks or objects missing): ``status`` ``partial``, naming the
  missing blocks; nothing created;
- unreadable, or a shape the ledger cannot index (a JSON Lines export, a user revision whose
  table no ``transactionInfo.documents`` names, ...): ``status`` ``malformed``;
- no digest you supplied covers the last block: ``status`` ``not-proven`` unless
  ``accept_unanchored``.

A process killed during an import leaves at most ``PATH.importing*`` files, never ``PATH``: the
next import into ``PATH`` removes them and starts clean (or, killed between publishing the key
and the database, finishes publishing the database it had completed).

What is kept: every block as exported (value for value: hashes, opaque ``entriesHashList``
entries, system and deleted revisions, redactions), the strand id, document ids and versions,
and the tables of ``transactionInfo.documents`` (renamed with ``table_map``). A document is
indexed by its ``_k`` (the QLDB key-value store library's layout) when every data revision of it
carries the same string ``_k`` and no live document of its table holds that key; otherwise by
its document id. ``meta`` records the import boundary (the last block imported), the source's
ledger name and export id. Blocks written afterwards follow the writer's rules and chain onto
QLDB's last block. Memory does not grow with the export: blocks are written as they are
verified, and what the key rule needs is looked up in the database being built.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from auditor.audit import AuditOptions, AuditReport, AuditUsageError, Progress, audit
from auditor.audit.block import RawBlock
from auditor.audit.engine import AuditRefutedError, SeqSet
from auditor.audit.layout import LayoutError, locate
from auditor.audit.model import FAILED
from auditor.audit.source import Source, SourceError
from auditor.formats import KEY_FIELD
from auditor.ledger import store
from auditor.ledger.codec import encode, split_block, time_column
from auditor.ledger.errors import LedgerError, StorageError
from auditor.ledger.keys import SignerKey, read_private
from auditor.ledger.tree import add_leaf
from auditor.verdict import Status
from proofs.ionvalue import Timestamp

DEFAULT_MAX_DOCUMENT_BYTES = 128 * 1024
COMMIT_EVERY = 20_000  # revisions per SQLite transaction while importing
_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")
_STRAND = re.compile(r"[0-9A-Za-z]{22}")
_MAX_KEY = 1024


class ImportRefusedError(LedgerError):
    """The export was not imported; nothing was created. ``status``: ``refuted`` (evidence of
    tampering or a mismatch), ``partial`` (blocks missing: ``missing`` names them),
    ``malformed`` (unreadable, or a shape the ledger cannot index), ``not-proven`` (no digest
    you supplied covers the last block). ``report`` is the audit's, when it ran."""

    def __init__(
        self, status: str, message: str, report: AuditReport | None = None,
        missing: list[tuple[int, int]] | None = None,
    ) -> None:  # fmt: skip
        super().__init__(status, message)
        self.status = status
        self.report = report
        self.missing = missing or []


@dataclass(frozen=True, slots=True)
class ImportOptions:
    source: str  # a directory or s3://bucket/prefix holding one QLDB export
    path: str  # the ledger to create
    name: str | None = None  # default: the started manifest's ledgerName
    digests: tuple[str, ...] = ()  # GetDigest outputs saved from QLDB (trusted: you give them)
    table_map: Mapping[str, str] = field(default_factory=dict)  # QLDB table -> ours
    accept_unanchored: bool = False  # import even if no digest covers the last block
    export_id: str | None = None
    strand_id: str | None = None
    max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES  # for writes after the import
    command_line: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ImportResult:
    path: str
    name: str
    strand_id: str
    key_path: str
    vkey: str
    report: AuditReport | None  # None: an interrupted import whose database was finished
    summary: dict[str, Any]  # what was imported (the JSON ``imported`` section)


# -- writing blocks as the audit verifies them -------------------------------------------------
def _text(value: Any) -> str | None:
    return value if type(value) is str else None


def _int(value: Any) -> int | None:
    return value if type(value) is int else None


class _Refuse(Exception):  # noqa: N818 - internal: stops the audit at a block it cannot import
    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _Writer:
    """The ``on_block`` sink: writes each verified block into the database being built."""

    def __init__(self, db: sqlite3.Connection, path: str, table_map: Mapping[str, str]) -> None:
        self.db = db
        self.path = path
        self.table_map = dict(table_map)
        self.next_seq = 0
        self.first: int | None = None
        self.gaps: list[tuple[int, int]] = []
        self.disorder = False  # a block came after a later one (moved, repeated): refuted
        self.unplaced = ""  # a block without a blockAddress (which no QLDB hash covers)
        self.stopped = ""  # why blocks are no longer written (the audit then refuses)
        self.tables: dict[str, str] = {}  # our name -> tableId
        self.qldb_names: dict[str, str] = {}  # tableId -> QLDB's name
        self.pending = 0
        self.revisions = 0
        self.redactions: set[tuple[str, int]] = set()  # what QLDB's redactionInfo names
        self.last_time: tuple[Timestamp | None, str] = (None, "")
        self.keys = _Filter()  # every (table, key) a revision was written with (a key _key
        # gives an earlier revision by UPDATE is the one its new revision is written with)
        self.db.execute("BEGIN")

    def __call__(self, seq: int | None, block: Any, verified: bool, raw: RawBlock | None) -> None:
        if seq is None:  # no blockAddress: no QLDB hash covers it, the ledger cannot place it
            self.unplaced = self.unplaced or f"the block after block {self.next_seq - 1}"
            self.stopped = self.stopped or "a block without a blockAddress"
            self.next_seq += 1
            return
        if self.first is None:
            self.first = seq
            if seq != 0:
                self.gaps.append((0, seq - 1))
                self.stopped = self.stopped or f"the export starts at block {seq}"
        elif seq > self.next_seq:
            self.gaps.append((self.next_seq, seq - 1))
            self.stopped = self.stopped or f"blocks {self.next_seq}-{seq - 1} missing"
        elif seq < self.next_seq:
            self.disorder = True
            self.stopped = self.stopped or f"block {seq} out of order"
        self.next_seq = max(self.next_seq, seq + 1)
        if not verified:
            self.stopped = self.stopped or f"block {seq} did not verify"
        if self.stopped:
            return
        self._block(seq, block, raw)
        if self.pending >= COMMIT_EVERY:
            self.commit()

    def commit(self) -> None:
        self.db.execute("COMMIT")
        self.db.execute("BEGIN")
        self.pending = 0

    # one block
    def _block(self, seq: int, block: Any, raw: RawBlock | None) -> None:
        where = f"block {seq}"
        revisions = block.get("revisions")
        revisions = [] if revisions is None else list(revisions)
        # the block without its revisions (stored once, per row); an empty list stands for
        # the field, so that a block exported without one comes back without one. From the
        # export's bytes when they can be re-based (the same bytes as encoding the values)
        rows = split_block(*raw) if raw is not None else None
        if rows is not None and len(rows[1]) == len(revisions):
            frame_blob, blobs = rows
        else:
            frame = {k: (v if k != "revisions" else []) for k, v in block.items()}
            frame_blob, blobs = encode(frame), [encode(r) for r in revisions]
        tx_id, stamp = _text(block.get("transactionId")), block.get("blockTimestamp")
        if tx_id is None or type(stamp) is not Timestamp:
            raise _Refuse(
                "malformed", f"{where}: no transactionId or blockTimestamp: the ledger cannot "
                "index a block without them",
            )  # fmt: skip
        info = block.get("transactionInfo")
        documents = info.get("documents") if info is not None else None
        redaction = block.get("redactionInfo")
        for entry in (redaction.get("revisions") or []) if redaction is not None else []:
            try:
                self.redactions.add((str(entry["documentId"]), int(entry["version"])))
            except (KeyError, TypeError, ValueError):
                raise _Refuse(
                    "malformed", f"{where}: redactionInfo: an entry without documentId and "
                    "version",
                ) from None  # fmt: skip
        previous = block.get("previousBlockHash")
        previous = b"" if previous is None else bytes(previous)
        block_hash = bytes(block["blockHash"])
        hashes = [bytes(r["hash"]) for r in revisions]
        entries = b"".join(bytes(h) for h in block["entriesHashList"])
        self.db.execute(
            "INSERT INTO blocks VALUES (?,?,?,?,?,?,?,?)",
            (seq, frame_blob, block_hash, previous, entries, b"".join(hashes), tx_id,
             self._time(stamp)),
        )  # fmt: skip
        add_leaf(self.db, seq, block_hash)
        for index, revision in enumerate(revisions):
            if "metadata" not in revision:
                self.db.execute(
                    "INSERT INTO system_revisions VALUES (?,?,?,?)",
                    (seq, index, hashes[index], blobs[index]),
                )
            else:
                self._revision(seq, index, revision, blobs[index], documents, tx_id)
        self.pending += len(revisions) + 1

    def _time(self, stamp: Timestamp) -> str:
        """time_column of ``stamp``, once for a block's shared timestamp object."""
        if stamp is not self.last_time[0]:
            self.last_time = (stamp, time_column(stamp))
        return self.last_time[1]

    def _table(self, entry: Any, where: str) -> str:
        try:
            name, table_id = _text(entry["tableName"]), _text(entry["tableId"])
        except (KeyError, TypeError):
            name = table_id = None
        if name is None or table_id is None:
            raise _Refuse(
                "malformed", f"{where}: transactionInfo.documents names no tableName and tableId"
                " for it: its table is not known",
            )  # fmt: skip
        ours = self.table_map.get(name, name)
        known = self.tables.get(ours)
        if known == table_id:
            return ours
        if known is not None or self.qldb_names.get(table_id, name) != name:
            raise _Refuse(
                "malformed", f"{where}: table {name} (id {table_id}): another table has that name"
                " or id (QLDB tables dropped and created again are not supported; rename one "
                "with --table-map)",
            )  # fmt: skip
        if not ours.replace("_", "").isalnum() or len(ours) > 128:
            raise _Refuse(
                "malformed", f"{where}: table name {ours!r}: letters, digits and _ only (give "
                "it another name with --table-map)",
            )  # fmt: skip
        self.tables[ours] = table_id
        self.qldb_names[table_id] = name
        self.db.execute("INSERT INTO tables VALUES (?, ?)", (ours, table_id))
        return ours

    def _revision(
        self, seq: int, index: int, revision: Any, blob: bytes, documents: Any, tx_id: str
    ) -> None:  # fmt: skip
        where = f"block {seq}: revisions[{index}]"
        try:
            metadata = revision["metadata"]
            doc_id, version = _text(metadata["id"]), _int(metadata["version"])
            tx_time, tx = metadata["txTime"], _text(metadata["txId"])
            address = revision["blockAddress"]
        except (KeyError, TypeError):
            doc_id = version = tx = address = None
        if (
            doc_id is None or version is None or type(tx_time) is not Timestamp
            or tx != tx_id or type(address) is not dict
        ):  # fmt: skip
            raise _Refuse(
                "malformed", f"{where}: its metadata (id, version, txTime, txId) or blockAddress"
                " is missing or of another type: the ledger cannot index it",
            )  # fmt: skip
        try:
            entry = documents[doc_id]
        except (KeyError, TypeError):
            raise _Refuse(
                "malformed", f"{where}: document {doc_id}: no transactionInfo.documents entry "
                "names its table",
            ) from None  # fmt: skip
        table = self._table(entry, f"{where}: document {doc_id}")
        data = revision.get("data")  # None for a data field holding Ion null: still data
        kind = "data" if "data" in revision else "redacted" if "dataHash" in revision else (
            "deleted"
        )  # fmt: skip
        key = self._key(table, doc_id, version, kind, data, where)
        self.keys.add(table, key)
        self.db.execute(
            "INSERT INTO revisions VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (doc_id, version, table, key, seq, index, tx_id, self._time(tx_time), kind,
             bytes(revision["hash"]), blob),
        )  # fmt: skip
        self.revisions += 1

    # which key indexes a document (``documents`` is built from ``revisions`` at the end)
    def _key(
        self, table: str, doc_id: str, version: int, kind: str, data: Any, where: str
    ) -> str:  # fmt: skip
        wanted = _wanted_key(data) if kind == "data" else None
        if version == 0:  # a new document (another version 0 of it: the UNIQUE index refuses)
            if wanted is not None and self._free(table, wanted):
                return wanted
            return self._by_id(table, doc_id, where)
        last = self.db.execute(
            "SELECT table_name, key, version FROM revisions WHERE doc_id=? "
            "ORDER BY version DESC LIMIT 1",
            (doc_id,),
        ).fetchone()
        if last is None:
            raise _Refuse(
                "refuted", f"{where}: document {doc_id} starts at version {version}: the "
                f"transactions that wrote its versions 0-{version - 1} are missing",
            )  # fmt: skip
        old_table, old_key, old_version = last
        if old_table != table:
            raise _Refuse(
                "refuted", f"{where}: document {doc_id} was in table {old_table}, this revision "
                f"puts it in {table}",
            )  # fmt: skip
        if version != old_version + 1:
            raise _Refuse(
                "refuted", f"{where}: document {doc_id}: version {version} follows version "
                f"{old_version}" + ("" if version <= old_version else
                                    f": the transaction that wrote version {old_version + 1} is "
                                    "missing (QLDB's hashes cannot show a removed transaction; "
                                    "the document's versions can)"),
            )  # fmt: skip
        if kind != "data" or old_key == wanted:
            return str(old_key)
        if old_key != doc_id:  # keyed by _k, and this revision has another _k (or none)
            self._by_id(table, doc_id, where)
            self.db.execute("UPDATE revisions SET key=? WHERE doc_id=?", (doc_id, doc_id))
            return doc_id
        has_data = self.db.execute(
            "SELECT 1 FROM revisions WHERE doc_id=? AND kind='data' LIMIT 1", (doc_id,)
        ).fetchone()
        if has_data is None and wanted is not None and self._free(table, wanted):
            # its first data revision names its key
            self.db.execute("UPDATE revisions SET key=? WHERE doc_id=?", (wanted, doc_id))
            return wanted
        return doc_id

    def _by_id(self, table: str, doc_id: str, where: str) -> str:
        """``doc_id`` as the document's key, unless a live document of ``table`` already has
        it as its ``_k`` (two documents under one key: the ledger could not serve either).
        The same document again (a second version 0) is left to the UNIQUE index."""
        holder = self._latest(table, doc_id)
        if holder is not None and holder[0] != doc_id and holder[1] != "deleted":
            raise _Refuse(
                "malformed", f"{where}: document {doc_id} has no key of its own, and another "
                f"document of table {table} has its id as its {KEY_FIELD}: the ledger cannot "
                "index both",
            )  # fmt: skip
        return doc_id

    def _free(self, table: str, key: str) -> bool:
        """No live document of ``table`` is indexed by ``key`` (its latest revision, if any, is
        a deletion)."""
        row = self._latest(table, key)
        return row is None or row[1] == "deleted"

    def _latest(self, table: str, key: str) -> tuple[str, str] | None:
        """(doc_id, kind) of the latest revision of ``table`` indexed by ``key`` (by block,
        then position), if any. Most keys an import meets are new: an index probe answers
        those without the ordered query (half its cost), and the filter of keys written
        most of them without the probe."""
        db = self.db
        if not self.keys.may_hold(table, key) or (
            db.execute(
                "SELECT 1 FROM revisions WHERE table_name=? AND key=? LIMIT 1", (table, key)
            ).fetchone()
            is None
        ):
            return None
        row = db.execute(
            "SELECT doc_id, kind FROM revisions WHERE table_name=? AND key=? "
            "ORDER BY seq DESC, rev_index DESC LIMIT 1",
            (table, key),
        ).fetchone()
        return None if row is None else (str(row[0]), str(row[1]))

    def unmatched_redactions(self) -> dict[str, list[list[Any]]]:
        """Where QLDB's redactionInfo and the exported revisions disagree, as QLDB can leave
        them: ``pending`` (a redaction block names a revision the export still shows with its
        data: QLDB redacts asynchronously) and ``unrecorded`` (a revision exported with its
        dataHash whose redaction block the export does not hold). Recorded in ``meta`` so that
        ``ledger verify`` can tell them from an edited row."""
        redacted = {
            (str(d), int(v))
            for d, v in self.db.execute(
                "SELECT doc_id, version FROM revisions WHERE kind='redacted'"
            )
        }
        out = {
            "pending": sorted([d, v] for d, v in self.redactions - redacted),
            "unrecorded": sorted([d, v] for d, v in redacted - self.redactions),
        }
        return {k: v for k, v in out.items() if v}

    def documents(self) -> None:
        """``documents``: the latest revision of each key (by block, then position)."""
        self.db.execute(
            "INSERT INTO documents SELECT table_name, key, doc_id, version, deleted FROM ("
            "SELECT table_name, key, doc_id, version, kind = 'deleted' AS deleted, row_number() "
            "OVER (PARTITION BY table_name, key ORDER BY seq DESC, rev_index DESC) AS n "
            "FROM revisions) WHERE n = 1"
        )


class _Filter:
    """A Bloom filter of (table, key) pairs, of fixed size (1 MiB: memory does not grow with
    the export). ``may_hold`` is False only for a pair never added; a pair it wrongly holds
    costs an index probe, nothing more."""

    BITS = 1 << 23

    def __init__(self) -> None:
        self.bits = bytearray(self.BITS >> 3)

    def _places(self, table: str, key: str) -> tuple[int, int]:
        h = hash((table, key)) & 0xFFFF_FFFF_FFFF  # two 23-bit places from one 64-bit hash
        return h & (self.BITS - 1), (h >> 23) & (self.BITS - 1)

    def add(self, table: str, key: str) -> None:
        for place in self._places(table, key):
            self.bits[place >> 3] |= 1 << (place & 7)

    def may_hold(self, table: str, key: str) -> bool:
        return all(self.bits[p >> 3] >> (p & 7) & 1 for p in self._places(table, key))


def _wanted_key(data: Any) -> str | None:
    """A data revision's ``_k``, if it can be a key (a non-empty string of at most 1024)."""
    try:
        key = data.get(KEY_FIELD)
    except AttributeError:  # not a struct
        return None
    if not isinstance(key, str) or not key or len(key) > _MAX_KEY:
        return None
    return str(key)


# -- the verdict --------------------------------------------------------------------------------
def _ranges(ranges: list[tuple[int, int]]) -> str:
    return ", ".join(f"block {a}" if a == b else f"blocks {a}-{b}" for a, b in ranges)


def _decide(report: AuditReport, writer: _Writer, options: ImportOptions) -> None:
    """Raise :class:`ImportRefusedError` unless the verdict allows publishing: partial (blocks
    missing, and nothing refuted but their absence), refuted, a digest beyond the export,
    malformed, a block the writer could not take, not proven (unless accepted)."""
    source = report.source
    if writer.unplaced:
        raise ImportRefusedError(
            "malformed", f"{source}: {writer.unplaced} has no blockAddress (no QLDB hash covers "
            "it, but the ledger cannot place a block without it); nothing created", report,
        )  # fmt: skip
    failed = [i for i in report.issues if i.kind == FAILED]
    listed = {o["key"]: (o["first"], o["last"]) for o in report.objects}
    gone = [i.object_key for i in failed if i.check == "missing-object" and i.object_key]
    lost = [listed[k] for k in gone if listed.get(k, (None, None))[0] is not None]
    only_gaps = all(i.check in ("sequence", "missing-object") for i in failed)
    if (
        (writer.first not in (0, None) or writer.gaps or lost)
        and only_gaps
        and not writer.disorder
        and report.issues_total == len(report.issues)
    ):
        ranges = _merged([*writer.gaps, *lost])
        raise ImportRefusedError(
            "partial", f"{source}: a partial export: {_ranges(ranges)} missing"
            + (f" ({', '.join(gone)}: listed, not found)" if gone else "") + ": import needs the "
            "whole journal from block 0 (export it again with an InclusiveStartTime before the "
            "ledger was created); nothing created", report, ranges,
        )  # fmt: skip
    brk = report.first_break
    if report.status == "refuted":
        where = "" if brk is None or brk.seq is None else f" at block {brk.seq}"
        refuted = report.verdict.by_status(Status.REFUTED)
        detail = brk.message if brk is not None else f"{refuted[0].subject}: {refuted[0].text}"
        raise ImportRefusedError(
            "refuted", f"{source}: refuted{where}: {detail}; nothing created", report
        )
    last = report.export.get("lastBlock")
    for d in report.digests:
        if (
            d.supplied and d.status == "malformed" and d.tip is not None and last is not None
            and d.tip > last
        ):  # fmt: skip
            raise ImportRefusedError(
                "partial", f"{source}: the export ends at block {last}, the digest {d.source} "
                f"is at tip {d.tip}: blocks {last + 1}-{d.tip} are missing from the export; "
                "nothing created", report, [(last + 1, d.tip)],
            )  # fmt: skip
    if report.status == "malformed":
        error = report.verdict.error
        message = brk.message if brk is not None else str(error) if error else "unreadable"
        raise ImportRefusedError("malformed", f"{source}: {message}; nothing created", report)
    if writer.stopped:  # the audit passed what the writer could not take: never publish it
        raise ImportRefusedError(
            "malformed", f"{source}: not imported ({writer.stopped}); nothing created", report
        )
    for claim in [c for c in report.verdict.by_status(Status.NOT_PROVEN) if c.required]:
        if claim.name != "anchor":  # (accepted opaque blocks and deletions are no claims)
            raise ImportRefusedError(
                "not-proven", f"{source}: not proven: {claim.text}; nothing created", report
            )
        if not options.accept_unanchored:
            raise ImportRefusedError(
                "not-proven", f"{source}: {claim.text}; nothing created (give the GetDigest you "
                "saved at the last block with --digest, or --accept-unanchored to import blocks"
                " no digest you trust covers)", report,
            )  # fmt: skip


def _merged(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for first, last in sorted(set(ranges)):
        if out and first <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], last))
        else:
            out.append((first, last))
    return out


# -- the import -------------------------------------------------------------------------------
def _probe(options: ImportOptions) -> tuple[str, str]:
    """(ledger name, strand id) from the manifests, or a refusal."""
    try:
        source = Source.parse(options.source)
        export = locate(source, options.export_id, False, options.strand_id)
    except (SourceError, LayoutError) as e:
        raise ImportRefusedError("malformed", f"{e}; nothing created") from e
    started = export.started_name or "the started manifest"
    if export.output_format == "JSON":
        raise ImportRefusedError(
            "malformed", f"{options.source}: {started}: outputFormat JSON: a JSON Lines export "
            "loses Ion types (symbols, timestamps, blobs, the difference between ints, decimals "
            "and floats), so its revisions cannot be kept exactly; export the journal again as "
            "ION_BINARY (or ION_TEXT); nothing created",
        )  # fmt: skip
    if export.import_boundary is not None:
        raise ImportRefusedError(
            "malformed", f"{options.source}: {started}: this is an export of a ledger already "
            f"migrated from QLDB (importBoundary {export.import_boundary}): it is a qldb-audit "
            "ledger; copy its file instead of importing its export; nothing created",
        )  # fmt: skip
    name = options.name or export.ledger_name
    if name is None:
        raise ImportRefusedError(
            "malformed", f"{options.source}: no ledgerName in a started manifest: give --name; "
            "nothing created",
        )  # fmt: skip
    if not _NAME.fullmatch(name):
        raise ImportRefusedError(
            "malformed", f"ledger name {name!r}: 1-32 letters, digits, - or _ (give another with "
            "--name); nothing created",
        )  # fmt: skip
    if not _STRAND.fullmatch(export.strand_id):
        raise ImportRefusedError(
            "malformed", f"{options.source}: strand {export.strand_id!r} is not a 22-character "
            "QLDB strand id; nothing created",
        )  # fmt: skip
    return name, export.strand_id


@contextlib.contextmanager
def _locked(path: str) -> Iterator[None]:
    """Hold an exclusive lock on the target's directory: one import there at a time (a lock on
    the directory leaves no lock file behind, and a killed process drops it)."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError as e:
        raise StorageError("lock", f"{directory}: cannot open ({e.strerror or e})") from e
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            raise StorageError("busy", f"{path}: another import into {directory} is running") from e
        yield
    finally:
        os.close(fd)


def _leftovers(path: str) -> list[str]:
    base = path + ".importing"
    return [base, base + "-wal", base + "-shm", base + "-journal", base + ".key"]


def _finish_interrupted(path: str) -> bool:
    """A previous import was killed after publishing the key and before the database: publish
    that database now if it is complete and the key is its own. Returns whether it did."""
    temporary, key_path = path + ".importing", path + ".key"
    if os.path.lexists(path) or not os.path.exists(key_path) or not os.path.exists(temporary):
        return False
    wal = temporary + "-wal"
    if os.path.exists(wal) and os.path.getsize(wal) > 0:
        return False  # its log was never checkpointed: not a finished database
    try:
        db = sqlite3.connect(f"file:{temporary}?immutable=1", uri=True)
        try:
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        finally:
            db.close()
        key = read_private(key_path)
    except (sqlite3.Error, OSError, ValueError, LedgerError):
        return False
    except Exception:  # noqa: BLE001 - a garbage key file: not ours to finish
        return False
    if meta.get("import_boundary") is None or meta.get("vkey") != str(key.verifier):
        return False
    from auditor.atomic import publish

    publish(temporary, path)
    for name in _leftovers(path):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
    return True


def import_export(
    options: ImportOptions, on_progress: Callable[[Progress], None] | None = None
) -> ImportResult:
    """Verify the export, then create the ledger (module doc). Raises
    :class:`ImportRefusedError` (nothing created) or another :class:`LedgerError`."""
    from auditor.ledger.core import Ledger

    path = options.path
    with _locked(path):
        if _finish_interrupted(path):
            ledger = Ledger.open(path)
            try:
                return _result(ledger, None, {"resumed": True})
            finally:
                ledger.close()
        store.refuse_existing(path)
        for name in _leftovers(path):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)
        name, strand_id = _probe(options)
        if not 1024 <= options.max_document_bytes <= 1 << 30:
            raise LedgerError("argument", "max_document_bytes: 1024 to 2**30")
        key = SignerKey.generate(name)
        meta = {
            "format": str(store.FORMAT_VERSION),
            "name": name,
            "strand_id": strand_id,
            "max_document_bytes": str(options.max_document_bytes),
            "vkey": str(key.verifier),
        }
        outcome: dict[str, Any] = {}

        def fill(temporary: str) -> None:
            outcome.update(_fill(temporary, options, on_progress))

        started = time.perf_counter()
        store.create_file(
            path, meta, str(key), fill, temporary=path + ".importing",
            schema=store.TABLES + store.SYSTEM_SCHEMA,  # (TX_INDEX: built by _fill)
        )  # fmt: skip
        outcome["summary"]["seconds"] = round(time.perf_counter() - started, 3)
    ledger = Ledger.open(path)
    try:
        return _result(ledger, outcome["report"], outcome["summary"])
    finally:
        ledger.close()


def _fill(
    temporary: str, options: ImportOptions, on_progress: Callable[[Progress], None] | None
) -> dict[str, Any]:
    db = sqlite3.connect(temporary, isolation_level=None)
    try:
        db.execute("PRAGMA synchronous=OFF")  # a temporary file: fsynced once, when published
        db.execute("PRAGMA cache_size=-65536")
        writer = _Writer(db, temporary, options.table_map)
        audit_options = AuditOptions(
            source=options.source, digests=list(options.digests), rules="qldb",
            accept_opaque=SeqSet("all"), accept_deleted=True, export_id=options.export_id,
            strand_id=options.strand_id, on_block=writer,
            command_line=list(options.command_line),
        )  # fmt: skip
        try:
            report = audit(audit_options, on_progress)
        except _Refuse as e:
            raise ImportRefusedError(
                e.status, f"{options.source}: {e.message}; nothing created"
            ) from e
        except (AuditUsageError, AuditRefutedError) as e:
            raise ImportRefusedError("malformed", f"{e}; nothing created") from e
        except sqlite3.IntegrityError as e:  # a document version twice, a block twice
            raise ImportRefusedError(
                "refuted", f"{options.source}: a block or document version appears twice ({e}); "
                "nothing created",
            ) from e  # fmt: skip
        _decide(report, writer, options)
        unused = sorted(set(options.table_map) - set(writer.qldb_names.values()))
        if unused:
            raise ImportRefusedError(
                "malformed", f"--table-map {unused[0]}=…: the export has no table {unused[0]} "
                "with documents; nothing created",
            )  # fmt: skip
        export = report.export
        boundary = writer.next_seq - 1
        renamed = {q: o for q, o in options.table_map.items() if q != o}
        rows = [("import_boundary", str(boundary)), ("import_export", str(export["exportId"]))]
        if export.get("ledgerName"):
            rows.append(("import_ledger", str(export["ledgerName"])))
        if renamed:
            rows.append(("import_tables", json.dumps(renamed, sort_keys=True)))
        unmatched = writer.unmatched_redactions()
        if unmatched:
            rows.append(("import_redactions", json.dumps(unmatched, sort_keys=True)))
        db.executemany("INSERT INTO meta VALUES (?, ?)", rows)
        db.execute(store.TX_INDEX)
        writer.documents()
        db.execute("COMMIT")
        summary = _summary(db, report, writer, boundary)
        summary["unmatchedRedactions"] = unmatched
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        if db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
        db.close()
    return {"report": report, "summary": summary}


def _summary(
    db: sqlite3.Connection, report: AuditReport, writer: _Writer, boundary: int
) -> dict[str, Any]:
    c = report.counts
    tables = {}
    for table, revisions, documents, by_key in db.execute(
        "SELECT table_name, count(*), count(DISTINCT doc_id), "
        "count(DISTINCT CASE WHEN key != doc_id THEN doc_id END) FROM revisions "
        "GROUP BY table_name ORDER BY table_name"
    ):
        table_id = writer.tables[table]
        tables[table] = {
            "tableId": table_id, "qldbName": writer.qldb_names[table_id],
            "revisions": revisions, "documents": documents, "indexedByKey": by_key,
            "indexedByDocumentId": documents - by_key,
        }  # fmt: skip
    matched = [
        {"digest": d.source, "tip": d.tip} for d in report.digests
        if d.supplied and d.status == "verified"
    ]  # fmt: skip
    anchored = [d for d in report.digests if d.supplied and d.trusted and d.status == "verified"]
    return {
        "source": report.source,
        "exportId": report.export.get("exportId"),
        "sourceLedger": report.export.get("ledgerName"),
        "format": report.export.get("outputFormat"),
        "strandId": report.export.get("strandId"),
        "blocks": c.blocks,
        "firstBlock": 0,
        "lastBlock": boundary,
        "importBoundary": boundary,
        "revisions": {
            "total": c.revisions,
            "data": c.verified,
            "redacted": c.hash_only,
            "deleted": c.deleted,
            "system": c.system,
        },
        "tables": tables,
        "digestsMatched": matched,
        "anchoredTip": max((d.covers for d in anchored if d.covers is not None), default=None),
        "blocksWithoutTransactionInfo": report.opaque,
        "redactedAndDeleted": report.notable,
        "notRecomputed": (
            f"{c.deleted} deleted revision(s): QLDB's hash rule for them is not known; kept with "
            "QLDB's hashes, which the block hashes and the digests cover"
        )
        if c.deleted
        else "",
        "verdict": report.verdict.to_json(),
    }


def _result(ledger: Any, report: AuditReport | None, summary: dict[str, Any]) -> ImportResult:
    return ImportResult(
        path=ledger.path, name=ledger.name, strand_id=ledger.strand_id, key_path=ledger.key_path,
        vkey=ledger.vkey, report=report, summary=summary,
    )  # fmt: skip
