"""The ledger's SQLite file: connections, the schema, ``meta``, SQLite's own page check, and
creation all at once (see docs/ledger.md, "Files" and "Damaged and read-only files").

A ledger migrated from QLDB (``ledger import``, docs/migration.md) records the import in
``meta`` (``import_boundary``: the last sequenceNo imported; ``import_ledger``,
``import_export``: the source's ledger name and export id; ``import_tables``: QLDB table names
renamed on import) and keeps QLDB's hash-only system revisions in ``system_revisions``.

Opening checks that the file exists, is SQLite, has the ledger's tables and columns and a
valid ``meta``, and runs SQLite's :func:`quick_check`, which reads every page (about 1.3 ms per
MB with the file in the page cache: 0.2 s for 100,000 1 KB invoices, 170 MB); a damaged file is
refused before anything is read, written or signed. A file whose file, directory or media is
not writable opens read-only: it can be read and verified.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

from auditor.atomic import fsync_directory, publish, temporary_path
from auditor.ledger.codec import decode
from auditor.ledger.errors import (
    DamagedError,
    IntegrityError,
    LedgerError,
    NotFoundError,
    StorageError,
    from_os,
    from_sqlite,
    mismatch,
)

FORMAT_VERSION = 2  # 2: blocks stored without their revisions (stored once, per row)
TABLES = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE tables (name TEXT PRIMARY KEY, table_id TEXT NOT NULL UNIQUE);
CREATE TABLE blocks (
    seq INTEGER PRIMARY KEY,
    block BLOB NOT NULL,            -- the journal block without `revisions`, Ion binary
    block_hash BLOB NOT NULL,
    previous_hash BLOB NOT NULL,
    entries BLOB NOT NULL,          -- entriesHashList, 32-byte hashes concatenated
    revision_hashes BLOB NOT NULL,  -- revisions[].hash, concatenated
    tx_id TEXT NOT NULL,
    block_time TEXT NOT NULL
);
CREATE TABLE nodes (               -- perfect subtrees of the digest tree over block hashes
    level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;
CREATE TABLE revisions (         -- a rowid table: its rows (~1 KB) are too big for WITHOUT ROWID
    doc_id TEXT NOT NULL, version INTEGER NOT NULL,
    table_name TEXT NOT NULL, key TEXT NOT NULL,
    seq INTEGER NOT NULL, rev_index INTEGER NOT NULL,
    tx_id TEXT NOT NULL, tx_time TEXT NOT NULL,
    kind TEXT NOT NULL,            -- data | deleted | redacted
    hash BLOB NOT NULL,
    revision BLOB NOT NULL,        -- the revision as in its block, Ion binary
    UNIQUE (doc_id, version)
);
CREATE INDEX revisions_by_key ON revisions (table_name, key, seq);
CREATE TABLE documents (
    table_name TEXT NOT NULL, key TEXT NOT NULL, doc_id TEXT NOT NULL,
    version INTEGER NOT NULL, deleted INTEGER NOT NULL,
    PRIMARY KEY (table_name, key)
) WITHOUT ROWID;
"""
# Not read while a ledger is imported: the importer builds it once its rows are in (one sort,
# not an insert at a random place of the index per revision).
TX_INDEX = "CREATE INDEX revisions_by_tx ON revisions (tx_id);\n"
SCHEMA = TABLES + TX_INDEX
SYSTEM_SCHEMA = """
CREATE TABLE system_revisions (  -- a migrated ledger: QLDB's hash-only system revisions
    seq INTEGER NOT NULL, rev_index INTEGER NOT NULL,
    hash BLOB NOT NULL,
    revision BLOB NOT NULL,        -- the revision as in its block, Ion binary
    PRIMARY KEY (seq, rev_index)
) WITHOUT ROWID;
"""
SYSTEM_COLUMNS = ("seq", "rev_index", "hash", "revision")
COLUMNS = {
    "meta": ("key", "value"),
    "tables": ("name", "table_id"),
    "blocks": ("seq", "block", "block_hash", "previous_hash", "entries", "revision_hashes",
               "tx_id", "block_time"),
    "nodes": ("level", "idx", "hash"),
    "revisions": ("doc_id", "version", "table_name", "key", "seq", "rev_index", "tx_id",
                  "tx_time", "kind", "hash", "revision"),
    "documents": ("table_name", "key", "doc_id", "version", "deleted"),
}  # fmt: skip
META_KEYS = ("format", "name", "strand_id", "max_document_bytes")
OPTIONAL_META_KEYS = (
    "vkey",  # the public key of the ledger's signer (ledgers since 0.1.1)
    "import_boundary", "import_ledger", "import_export", "import_tables",  # a migrated ledger
    "import_redactions",
)  # fmt: skip
_SEQUENCE_NO = re.compile(r"0|[1-9][0-9]{0,18}")
_TABLE = re.compile(r"[A-Za-z0-9_]{1,128}")
_BASE62_ID = re.compile(r"[0-9A-Za-z]{22}")
_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")


def connect(path: str, synchronous: str = "FULL") -> sqlite3.Connection:
    """A read-write connection to a ledger file: autocommit (explicit transactions), WAL, and
    the given durability (FULL: a returned commit is fsynced)."""
    if synchronous not in ("FULL", "NORMAL"):
        raise ValueError(f"synchronous={synchronous}")
    db = sqlite3.connect(path, isolation_level=None, timeout=60)
    _configure(db, synchronous)
    return db


def _configure(db: sqlite3.Connection, synchronous: str = "FULL") -> None:
    db.execute("PRAGMA journal_mode=WAL")  # a ledger is in WAL mode already: nothing written
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.execute("PRAGMA busy_timeout=60000")
    db.execute("PRAGMA cache_size=-65536")  # 64 MiB of page cache: B-tree inserts stay in memory


def writable(path: str) -> bool:
    """Whether a writer can use ``path``: the file and its directory (for the WAL and its
    index) are writable, on writable media."""
    directory = os.path.dirname(os.path.abspath(path))
    return os.access(path, os.W_OK) and os.access(directory, os.W_OK | os.X_OK)


def connect_read_only(path: str) -> sqlite3.Connection:
    """A read-only connection. On read-only media a WAL database opens only if its ``-wal``
    and ``-shm`` files exist; without a ``-wal`` the file alone is the whole ledger and opens
    as immutable. A ``-wal`` that cannot be read is refused (its commits would be missing)."""
    uri = "file:" + _uri_path(path)
    try:
        db = sqlite3.connect(uri + "?mode=ro", uri=True, isolation_level=None, timeout=60)
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError as e:
        wal = path + "-wal"
        if os.path.exists(wal) and os.path.getsize(wal) > 0:
            raise StorageError(
                "read-only", f"{path}: read-only, and its write-ahead log {wal} cannot be read "
                f"without its index ({e}); copy the ledger's files to writable storage",
            ) from e  # fmt: skip
        db = sqlite3.connect(uri + "?immutable=1", uri=True, isolation_level=None)
    db.execute("PRAGMA busy_timeout=60000")
    db.execute("PRAGMA cache_size=-65536")
    return db


def _uri_path(path: str) -> str:
    from urllib.parse import quote

    return quote(os.path.abspath(path))


def check_schema(db: sqlite3.Connection, path: str) -> None:
    """The ledger's tables with their columns (other tables, e.g. the server's, may exist)."""
    for table, columns in COLUMNS.items():
        found = tuple(row[1] for row in db.execute(f"PRAGMA table_info({table})"))
        if not found:
            raise DamagedError("schema", f"{path}: not a qldb-audit ledger (no table {table})")
        if found != columns:
            raise DamagedError(
                "schema", f"{path}: table {table}: columns {', '.join(found)}, expected "
                f"{', '.join(columns)} (another schema)",
            )  # fmt: skip


def read_meta(db: sqlite3.Connection, path: str) -> dict[str, str]:
    """``meta`` checked field by field."""
    rows = db.execute("SELECT key, value FROM meta").fetchall()
    meta = {}
    for key, value in rows:
        if not isinstance(key, str) or not isinstance(value, str):
            raise DamagedError("meta", f"{path}: table meta: row {key!r} is not text")
        meta[key] = value
    for key in META_KEYS:
        if key not in meta:
            raise DamagedError("meta", f"{path}: table meta: no {key} (not a qldb-audit ledger)")
    if meta["format"] != str(FORMAT_VERSION):
        raise DamagedError(
            "format", f"{path}: table meta: format {meta['format']!r}, this version reads format "
            f"{FORMAT_VERSION}",
        )  # fmt: skip
    if not _NAME.fullmatch(meta["name"]):
        raise DamagedError("meta", f"{path}: table meta: name {meta['name']!r} is not a name")
    if not _BASE62_ID.fullmatch(meta["strand_id"]):
        raise DamagedError("meta", f"{path}: table meta: strand_id is not a 22-character id")
    size = meta["max_document_bytes"]
    if not size.isascii() or not size.isdigit() or not 1 <= int(size) <= 1 << 30:
        raise DamagedError("meta", f"{path}: table meta: max_document_bytes {size!r}")
    extra = set(meta) - set(META_KEYS) - set(OPTIONAL_META_KEYS)
    if extra:
        raise DamagedError("meta", f"{path}: table meta: unknown key {sorted(extra)[0]!r}")
    _check_import_meta(meta, path)
    return meta


def _check_import_meta(meta: dict[str, str], path: str) -> None:
    keys = [k for k in OPTIONAL_META_KEYS if k.startswith("import_") and k in meta]
    if not keys:
        return
    if "import_boundary" not in meta:
        raise DamagedError("meta", f"{path}: table meta: {keys[0]} without import_boundary")
    if not _SEQUENCE_NO.fullmatch(meta["import_boundary"]):
        raise DamagedError(
            "meta", f"{path}: table meta: import_boundary {meta['import_boundary']!r} is not a "
            "sequenceNo",
        )  # fmt: skip
    table_map(meta, path)
    unmatched_redactions(meta, path)


def unmatched_redactions(meta: dict[str, str], path: str = "") -> dict[str, set[tuple[str, int]]]:
    """QLDB's redactions as the import found them unmatched: ``pending`` (named by a
    redactionInfo, the revision still with its data) and ``unrecorded`` (a revision exported
    redacted whose redaction block the export lacks); see auditor/ledger/importer.py."""
    text = meta.get("import_redactions")
    out: dict[str, set[tuple[str, int]]] = {"pending": set(), "unrecorded": set()}
    if text is None:
        return out
    try:
        value = json.loads(text)
        if not isinstance(value, dict) or set(value) - set(out):
            raise ValueError(text)
        for kind, entries in value.items():
            for doc_id, version in entries:
                if not isinstance(doc_id, str) or type(version) is not int:
                    raise ValueError(text)
                out[kind].add((doc_id, version))
    except (ValueError, TypeError) as e:
        raise DamagedError("meta", f"{path}: table meta: import_redactions is not a list of "
                           "redactions") from e  # fmt: skip
    return out


def import_boundary(meta: dict[str, str]) -> int | None:
    """The last block imported from QLDB (``read_meta`` checked it), or None."""
    value = meta.get("import_boundary")
    return None if value is None else int(value)


def table_map(meta: dict[str, str], path: str = "") -> dict[str, str]:
    """QLDB table name -> this ledger's, for the tables renamed on import (others: the same)."""
    text = meta.get("import_tables")
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except ValueError as e:
        raise DamagedError("meta", f"{path}: table meta: import_tables is not JSON") from e
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and _TABLE.fullmatch(k) and _TABLE.fullmatch(v)
        for k, v in value.items()
    ) or len(set(value.values())) != len(value):  # fmt: skip
        raise DamagedError("meta", f"{path}: table meta: import_tables is not a table map")
    return dict(value)


def revision_rows(
    db: sqlite3.Connection, first: int, last: int, boundary: int = -1
) -> Iterator[tuple[int, int, Any, Any, bytes]]:
    """(seq, rev_index, doc_id, version, revision) of blocks ``first..last`` in journal order;
    QLDB's system revisions (blocks up to ``boundary``) with doc_id and version None."""
    query = (
        "SELECT seq, rev_index, doc_id, version, revision FROM revisions WHERE seq BETWEEN ? AND ?"
    )
    args: tuple[int, ...] = (first, last)
    if first <= boundary:
        query += (
            " UNION ALL SELECT seq, rev_index, NULL, NULL, revision FROM system_revisions "
            "WHERE seq BETWEEN ? AND ?"
        )
        args += (first, min(last, boundary))
    yield from db.execute(query + " ORDER BY seq, rev_index", args)


def check_system_schema(db: sqlite3.Connection, path: str) -> None:
    """A migrated ledger has ``system_revisions`` with its columns."""
    found = tuple(row[1] for row in db.execute("PRAGMA table_info(system_revisions)"))
    if found != SYSTEM_COLUMNS:
        raise DamagedError(
            "schema", f"{path}: a ledger migrated from QLDB (meta import_boundary) without its "
            "table system_revisions (or with other columns)",
        )  # fmt: skip


def quick_check(db: sqlite3.Connection, path: str) -> None:
    """SQLite's ``quick_check``: every page and B-tree readable and well formed (not the
    contents of indexes: the ledger checks those against the journal itself)."""
    try:
        problems = [str(row[0]) for row in db.execute("PRAGMA quick_check(5)")]
    except sqlite3.DatabaseError as e:  # a page so damaged that the check itself stops
        if getattr(e, "sqlite_errorcode", 0) & 0xFF != sqlite3.SQLITE_CORRUPT:
            raise
        problems = [str(e)]
    if problems != ["ok"]:
        raise DamagedError(
            "damaged", f"{path}: damaged SQLite file (quick_check: {'; '.join(problems)[:300]}); "
            "nothing is read, written or signed",
        )  # fmt: skip


def check_genesis(db: sqlite3.Connection, path: str, meta: dict[str, str]) -> None:
    """``meta``'s name and strand id are the genesis block's (``CREATE LEDGER <name>``). A
    file without blocks is a ledger being created."""
    row = db.execute("SELECT block FROM blocks WHERE seq = 0").fetchone()
    if row is None:
        return
    where = "table meta"
    genesis = decode(row[0], f"{path}: table blocks, row 0: block")
    imported = import_boundary(meta) is not None  # QLDB's genesis: its shape is not known
    try:
        strand = str(genesis["blockAddress"]["strandId"])
        statement = (
            "" if imported else str(genesis["transactionInfo"]["statements"][0]["statement"])
        )
    except (KeyError, IndexError, TypeError) as e:
        raise IntegrityError("journal", f"{path}: block 0: not a genesis block ({e})") from e
    if strand != meta["strand_id"]:
        raise mismatch(path, where, "strand_id", meta["strand_id"], strand)
    if not imported and statement != f"CREATE LEDGER {meta['name']}":
        raise mismatch(path, where, "name", meta["name"], statement)


def open_file(path: str) -> tuple[sqlite3.Connection, bool]:
    """A checked connection to the ledger at ``path`` (module doc) and whether it is
    read-only."""
    if not os.path.exists(path):
        raise NotFoundError("no-ledger", f"{path}: no ledger here (run `qldb-audit ledger init`)")
    if not os.path.isfile(path):
        raise DamagedError("not-a-ledger", f"{path}: not a file")
    read_only = not writable(path)
    try:
        if read_only:
            db = connect_read_only(path)
        else:  # nothing is written (not even the journal mode) before the file is known
            db = sqlite3.connect(path, isolation_level=None, timeout=60)
            db.execute("PRAGMA busy_timeout=60000")
    except sqlite3.Error as e:
        raise from_sqlite(e, path) from e
    try:
        check_schema(db, path)
        meta = read_meta(db, path)
        if import_boundary(meta) is not None:
            check_system_schema(db, path)
        if not read_only:
            _configure(db)
        quick_check(db, path)
        check_genesis(db, path, meta)
    except sqlite3.Error as e:
        db.close()
        raise from_sqlite(e, path) from e
    except LedgerError:
        db.close()
        raise
    return db, read_only


@contextlib.contextmanager
def translated(path: str) -> Iterator[None]:
    """SQLite and file-system failures as ledger errors naming ``path``."""
    try:
        yield
    except sqlite3.Error as e:
        raise from_sqlite(e, path) from e
    except OSError as e:
        raise from_os(e, path) from e


def refuse_existing(path: str) -> None:
    """:class:`LedgerError` if the ledger, its key file or a stale WAL is already there."""
    for existing in (path, path + ".key", path + "-wal", path + "-shm"):
        if os.path.lexists(existing):
            raise LedgerError("exists", f"{existing}: already exists")


def create_file(
    path: str, meta: dict[str, str], key_text: str, fill: Callable[[str], Any],
    *, temporary: str | None = None, schema: str = SCHEMA,
) -> None:  # fmt: skip
    """Create the ledger ``path`` and its key file ``path.key`` (mode 0600) together: both, or
    neither. The database is built under a temporary name (``fill(temporary)`` writes the
    genesis block and tables; ``temporary``: a name the caller chose and holds, which must not
    exist, nor ``temporary.key``), fsynced, then published with the key; on any failure (a full
    disk, a name taken meanwhile) everything written is removed."""
    key_path = path + ".key"
    refuse_existing(path)
    directory = os.path.dirname(os.path.abspath(path))
    made: list[str] = []
    published: list[str] = []
    try:
        with translated(path):
            if temporary is None:
                database = temporary_path(path, ".creating")
            else:
                database = temporary
                with open(database, "xb"):
                    pass
            made += [database, database + "-wal", database + "-shm", database + "-journal"]
            db = sqlite3.connect(database, isolation_level=None)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript("BEGIN;" + schema)  # one commit: the file is new
                db.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
                db.execute("COMMIT")
            finally:
                db.close()
            fill(database)
            _fsync_file(database)
            if temporary is None:
                key = temporary_path(key_path)
                made.append(key)
                fd = os.open(key, os.O_WRONLY | os.O_TRUNC)
            else:
                key = temporary + ".key"
                fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                made.append(key)
            with os.fdopen(fd, "w") as f:
                f.write(key_text + "\n")
                f.flush()
                os.fsync(f.fileno())
            for finished, final in ((key, key_path), (database, path)):
                try:
                    publish(finished, final)
                except FileExistsError as e:
                    raise LedgerError("exists", f"{final}: already exists") from e
                published.append(final)
    except BaseException:
        for name in published + made:
            with contextlib.suppress(OSError):
                os.unlink(name)
        with contextlib.suppress(OSError):
            fsync_directory(directory)
        raise


def _fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
