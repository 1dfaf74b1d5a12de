"""What ``get``, ``history``, ``revision`` and receipts check before they hand a row out.

A revision row is served only if it agrees with the journal and with the rows it is indexed
by: its Ion decodes; its hash recomputes from its data (or ``dataHash``) and metadata; its
``blockAddress``, document id, version, txId and txTime are the row's; its data's ``_k`` is
the row's key; it is the hash at its position in its block, whose stored hashes recompute
(revisions root in ``entriesHashList``, ``blockHash = dot(entriesHash, previousBlockHash)``,
the digest tree's leaf); the neighbouring versions of the document name the same table and
key; and, for the latest version of a document, the ``documents`` index points to it (with
its deleted flag) or the document was deleted. Any single edited cell of the ledger's tables is
refused by these checks; ``ledger verify`` recomputes everything, and also catches several
cells edited to agree with each other.

A ledger migrated from QLDB holds QLDB's blocks up to its import boundary: there a deleted
revision's hash is QLDB's (its rule is unknown, docs/formats.md §2.3), so it is checked as the
hash at its position in its block (which the block hash and the digest tree cover), not
recomputed; and a document without a ``_k`` of its own is indexed by its document id.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from auditor.formats import KEY_FIELD
from auditor.ledger.codec import decode, time_column
from auditor.ledger.errors import IntegrityError, mismatch
from proofs import dot, ion_hash, merkle_root

REVISION_COLUMNS = (
    "table_name, key, doc_id, version, seq, rev_index, tx_id, tx_time, kind, hash, revision"
)


@dataclass(frozen=True, slots=True)
class Revision:
    """A committed revision as stored in the journal (``value`` is the Ion struct)."""

    table: str
    key: str
    document_id: str
    version: int
    sequence_no: int
    value: Any

    @property
    def hash(self) -> bytes:
        return bytes(self.value["hash"])

    @property
    def data(self) -> Any:
        return self.value.get("data")

    def ion_text(self) -> str:
        from auditor.ledger.codec import ion_text

        return ion_text(self.value)


@dataclass(frozen=True, slots=True)
class BlockRow:
    """A block's stored hashes, checked to recompute."""

    seq: int
    block_hash: bytes
    previous: bytes
    entries: list[bytes]
    revision_hashes: list[bytes]
    tx_id: str


class Verified:
    """Rows this process has checked and may serve again from memory: block rows and
    digest-tree nodes never change once committed (a redaction rewrites a revision row, never
    a block row or a node), so a row checked once stays what the journal says. Bounded; an
    edit made to the file later is served around (the checked value), and ``verify`` finds it.
    """

    LIMIT = 1 << 16

    def __init__(self) -> None:
        self.blocks: dict[int, BlockRow] = {}
        self.nodes: dict[tuple[int, int], bytes] = {}

    def keep(self, cache: dict[Any, Any], key: Any, value: Any) -> None:
        if len(cache) >= self.LIMIT:
            cache.clear()
        cache[key] = value


def split_hashes(blob: bytes) -> list[bytes]:
    return [bytes(blob[i : i + 32]) for i in range(0, len(blob), 32)]


def block_row(
    db: sqlite3.Connection, seq: int, path: str, verified: Verified | None = None
) -> BlockRow:
    """Block ``seq``'s row, its hashes checked: the revisions root is an entry, the block hash
    recomputes from the entries and the previous hash, and is the digest tree's leaf."""
    if verified is not None and seq in verified.blocks:
        return verified.blocks[seq]
    where = f"table blocks, row {seq}"
    row = db.execute(
        "SELECT b.block_hash, b.previous_hash, b.entries, b.revision_hashes, b.tx_id, n.hash "
        "FROM blocks b LEFT JOIN nodes n ON n.level = 0 AND n.idx = b.seq WHERE b.seq = ?",
        (seq,),
    ).fetchone()
    if row is None:
        raise IntegrityError("index", f"{path}: {where}: missing", where)
    block_hash, previous, entries_blob, hashes_blob, tx_id, leaf = row
    for name, blob in (("entries", entries_blob), ("revision_hashes", hashes_blob)):
        if not isinstance(blob, bytes) or len(blob) % 32:
            raise IntegrityError("index", f"{path}: {where}: {name} is not 32-byte hashes", where)
    entries, hashes = split_hashes(entries_blob), split_hashes(hashes_blob)
    if hashes and merkle_root(hashes) not in entries:
        raise mismatch(path, where, "revision_hashes (root)", merkle_root(hashes), "an entry")
    computed = dot(merkle_root(entries), bytes(previous)) if entries else b""
    if computed != bytes(block_hash):
        raise mismatch(path, where, "block_hash", block_hash, computed)
    if leaf is None or bytes(leaf) != computed:
        raise mismatch(path, f"table nodes, row (level 0, idx {seq})", "hash", leaf, computed)
    block = BlockRow(seq, computed, bytes(previous), entries, hashes, str(tx_id))
    if verified is not None:
        verified.keep(verified.blocks, seq, block)
    return block


def revision_hash(value: Any) -> bytes:
    """``dot(IonHash(data) | dataHash | empty, IonHash(metadata))`` (docs/ledger.md; the last:
    the writer's rule for a deleted revision)."""
    if "data" in value:
        data_hash = ion_hash(value["data"])
    elif "dataHash" in value:
        data_hash = bytes(value["dataHash"])
    else:
        data_hash = b""
    return dot(data_hash, ion_hash(value["metadata"]))


def _kind(value: Any) -> str:
    return "data" if "data" in value else "redacted" if "dataHash" in value else "deleted"


def served(
    db: sqlite3.Connection,
    row: tuple[Any, ...],
    strand_id: str,
    path: str,
    verified: Verified | None = None,
    boundary: int = -1,
) -> Revision:
    """The revision of a ``revisions`` row (``REVISION_COLUMNS``), checked (module doc).
    ``boundary``: the last block imported from QLDB (-1: none)."""
    table, key, doc_id, version, seq, rev_index, tx_id, tx_time, kind, row_hash, blob = row
    where = f"table revisions, row (document {doc_id}, version {version})"
    value = decode(blob, f"{path}: {where}: revision")
    try:
        metadata, address = value["metadata"], value["blockAddress"]
        found = {
            "blockAddress.strandId": (address["strandId"], strand_id),
            "blockAddress.sequenceNo": (address["sequenceNo"], seq),
            "metadata.id": (metadata["id"], doc_id),
            "metadata.version": (metadata["version"], version),
            "metadata.txId": (metadata["txId"], tx_id),
            "metadata.txTime": (time_column(metadata["txTime"]), tx_time),
        }
        stated = bytes(value["hash"])
    except (KeyError, TypeError) as e:
        raise IntegrityError("index", f"{path}: {where}: revision lacks {e}", where) from e
    for field, (journal, stored) in found.items():
        if not same_column(journal, stored):
            raise mismatch(path, where, _COLUMN[field], stored, journal)
    if _kind(value) != kind:
        raise mismatch(path, where, "kind", kind, _kind(value))
    imported = seq <= boundary
    # a deleted revision of QLDB's: its hash is bound by its position in the block (below)
    computed = stated if imported and kind == "deleted" else revision_hash(value)
    if computed != stated:
        raise mismatch(path, where, "revision (hash field)", stated, computed)
    if bytes(row_hash) != computed:
        raise mismatch(path, where, "hash", row_hash, computed)
    data = value.get("data")
    if data is not None and not key_of(data, key, doc_id, imported):
        journal_key = data.get(KEY_FIELD) if type(data) is dict else None
        raise mismatch(path, where, "key", key, journal_key)
    block = block_row(db, seq, path, verified)
    if block.tx_id != tx_id:
        raise mismatch(path, f"table blocks, row {seq}", "tx_id", block.tx_id, tx_id)
    if not 0 <= rev_index < len(block.revision_hashes) or (
        block.revision_hashes[rev_index] != computed
    ):
        raise mismatch(path, where, "rev_index", rev_index, _position(block, computed))
    _check_neighbours(db, table, key, doc_id, version, kind, path, where)
    return Revision(table, key, doc_id, version, seq, value)


def key_of(data: Any, key: str, doc_id: str, imported: bool) -> bool:
    """Whether ``data`` may be indexed under ``key``: its ``_k`` is the key, or (a document
    imported from QLDB without a ``_k`` of its own) the key is its document id."""
    if type(data) is dict and data.get(KEY_FIELD) == key:
        return True
    return imported and key == doc_id


_COLUMN = {
    "blockAddress.strandId": "blockAddress.strandId (meta strand_id)",
    "blockAddress.sequenceNo": "seq",
    "metadata.id": "doc_id",
    "metadata.version": "version",
    "metadata.txId": "tx_id",
    "metadata.txTime": "tx_time",
}


def same_column(journal: Any, stored: Any) -> bool:
    """A journal value equals a column's value: an int an int, a string a string (a bool,
    a symbol, a decimal never)."""
    if type(stored) is int:
        return type(journal) is int and journal == stored
    if type(stored) is str:
        return type(journal) is str and journal == stored
    return False


def _position(block: BlockRow, revision: bytes) -> Any:
    hashes = block.revision_hashes
    return hashes.index(revision) if revision in hashes else "no position in the block"


def _check_neighbours(
    db: sqlite3.Connection, table: str, key: str, doc_id: str, version: int, kind: str,
    path: str, where: str,
) -> None:  # fmt: skip
    """The document's previous and next versions name the same table and key; the latest
    version is what ``documents`` says, unless the document was deleted and its key reused."""
    rows = db.execute(
        "SELECT version, table_name, key FROM revisions WHERE doc_id = ? AND version IN (?, ?)",
        (doc_id, version - 1, version + 1),
    ).fetchall()
    latest = True
    for other, other_table, other_key in rows:
        if (other_table, other_key) != (table, key):
            raise mismatch(
                path, where, "table_name/key", f"{table}/{key}",
                f"{other_table}/{other_key} (version {other} of the same document)",
            )  # fmt: skip
        latest = latest and other != version + 1
    if version > 0 and not any(other == version - 1 for other, _, _ in rows):
        raise IntegrityError(
            "index", f"{path}: {where}: version {version - 1} of the document is missing", where
        )
    if not latest:
        return
    current = db.execute(
        "SELECT doc_id, version, deleted FROM documents WHERE table_name = ? AND key = ?",
        (table, key),
    ).fetchone()
    index = f"table documents, row ({table}, {key})"
    if current is None:
        raise IntegrityError("index", f"{path}: {index}: missing (the journal has it)", index)
    if current[0] == doc_id:
        if int(current[1]) != version:
            raise mismatch(path, index, "version", current[1], version)
        if bool(current[2]) != (kind == "deleted"):
            raise mismatch(path, index, "deleted", current[2], int(kind == "deleted"))
    elif kind != "deleted":
        raise mismatch(path, index, "doc_id", current[0], doc_id)


def indexed_current(
    db: sqlite3.Connection, table: str, key: str, path: str
) -> tuple[str, int, bool] | None:
    """The ``documents`` row a write builds on — (document id, version, deleted), None for a
    new key — checked against the ``revisions`` index: the version exists, is the document's
    latest, has this table and key, and is a deletion exactly when the row says so. A writer
    that trusted an edited index would extend the journal wrongly (a gap in the versions, a
    document under two keys); this refuses instead (one or two index lookups per key)."""
    row = db.execute(
        "SELECT doc_id, version, deleted FROM documents WHERE table_name=? AND key=?", (table, key)
    ).fetchone()
    where = f"table documents, row ({table}, {key})"
    if row is None:
        if db.execute(
            "SELECT 1 FROM revisions WHERE table_name=? AND key=? LIMIT 1", (table, key)
        ).fetchone():
            raise IntegrityError("index", f"{path}: {where}: missing (the journal has it)", where)
        return None
    doc_id, version, deleted = row
    found = db.execute(
        "SELECT version, kind, table_name, key FROM revisions WHERE doc_id=? AND version>=? "
        "ORDER BY version LIMIT 2",
        (doc_id, version),
    ).fetchall()
    if (
        len(found) != 1
        or found[0][0] != version
        or (found[0][2], found[0][3]) != (table, key)
        or (found[0][1] == "deleted") != bool(deleted)
    ):
        raise IntegrityError(
            "index", f"{path}: {where}: (document {doc_id}, version {version}, deleted "
            f"{deleted}) is not the latest revision the journal has; nothing written", where,
        )  # fmt: skip
    return str(doc_id), int(version), bool(deleted)
