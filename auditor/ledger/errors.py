"""The ledger's typed errors. They carry a machine-readable ``reason`` and a one-line message
naming the file and the table, row or field; they carry no exit code (the CLI maps them, see
``auditor/cli_ledger.py``; the server maps them to HTTP statuses).

- :class:`ConflictError`: an expected version did not match (optimistic concurrency).
- :class:`NotFoundError`: no such ledger file, table, key, version, block or tip.
- :class:`StorageError`: the file system refused (disk full, read-only file or media, no
  permission, the key file missing, a lock held too long). Nothing was written.
- :class:`DamagedError`: the file cannot be used as a ledger: not SQLite, truncated, another
  schema, damaged pages (SQLite's ``quick_check``), bad ``meta``, a garbage key file, or a row
  that is not valid Ion.
- :class:`IntegrityError`: the file reads, but a stored row disagrees with the journal (an
  index edited, a hash that does not recompute, a proof that does not fold).
- :class:`LedgerError` itself: a write or read refused for its input (a bad value, a document
  over the size cap, a redaction of the latest revision, …). Nothing was written.
"""

from __future__ import annotations

import errno
import sqlite3
from typing import Any


class LedgerError(Exception):
    """A write or read the ledger refuses; nothing was written. ``reason`` is machine-readable."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class ConflictError(LedgerError):
    """An expected version did not match the stored one (optimistic concurrency)."""


class NotFoundError(LedgerError):
    """No such ledger, table, key, version, document, block or tip."""


class StorageError(LedgerError):
    """The file system refused a read or write (nothing was written)."""


class DamagedError(LedgerError):
    """The file is not a usable ledger (not SQLite, damaged pages, other schema, bad meta)."""


class IntegrityError(LedgerError):
    """A stored row disagrees with the journal; ``where`` names the table and row."""

    def __init__(self, reason: str, message: str, where: str = "") -> None:
        super().__init__(reason, message)
        self.where = where


def mismatch(path: str, where: str, field: str, stored: Any, journal: Any) -> IntegrityError:
    """``<path>: <where>: <field> is <stored>, the journal says <journal>``."""
    return IntegrityError(
        "index", f"{path}: {where}: {field} is {_show(stored)}, the journal says {_show(journal)}",
        where,
    )  # fmt: skip


def _show(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        import base64

        return base64.b64encode(bytes(value)).decode() or "(empty)"
    return repr(value)


_STORAGE_CODES = {
    sqlite3.SQLITE_FULL: ("disk-full", "the disk is full"),
    sqlite3.SQLITE_READONLY: ("read-only", "read-only (file, directory or media not writable)"),
    sqlite3.SQLITE_CANTOPEN: ("cannot-open", "cannot be opened"),
    sqlite3.SQLITE_PERM: ("permission", "permission denied"),
    sqlite3.SQLITE_BUSY: ("busy", "locked by another process for too long"),
    sqlite3.SQLITE_LOCKED: ("busy", "locked for too long"),
    sqlite3.SQLITE_IOERR: ("io", "an I/O error"),
    sqlite3.SQLITE_NOMEM: ("memory", "out of memory"),
}
_DAMAGE_CODES = {
    sqlite3.SQLITE_NOTADB: ("not-a-ledger", "not a SQLite database"),
    sqlite3.SQLITE_CORRUPT: ("damaged", "damaged SQLite pages (database disk image is malformed)"),
    sqlite3.SQLITE_SCHEMA: ("schema", "its schema changed underneath"),
    sqlite3.SQLITE_FORMAT: ("damaged", "an unknown SQLite format"),
}


def from_sqlite(error: sqlite3.Error, path: str) -> LedgerError:
    """The ledger error for a SQLite failure on ``path`` (by its primary result code)."""
    code = getattr(error, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    detail = str(error)
    if primary in _STORAGE_CODES:
        reason, text = _STORAGE_CODES[primary]
        return StorageError(reason, f"{path}: {text} ({detail})")
    if primary in _DAMAGE_CODES:
        reason, text = _DAMAGE_CODES[primary]
        return DamagedError(reason, f"{path}: {text}")
    if isinstance(error, sqlite3.IntegrityError):  # a UNIQUE index refused a row
        return IntegrityError("index", f"{path}: an index refused a row ({detail})")
    if "no such table" in detail or "no such column" in detail or "has no column" in detail:
        return DamagedError("schema", f"{path}: not a qldb-audit ledger ({detail})")
    return DamagedError("sqlite", f"{path}: SQLite error ({detail})")


def from_os(error: OSError, path: str) -> StorageError:
    """The ledger error for a file-system failure on ``path``."""
    reason = {errno.ENOSPC: "disk-full", errno.EDQUOT: "disk-full", errno.EFBIG: "disk-full",
              errno.EROFS: "read-only", errno.EACCES: "permission", errno.EPERM: "permission",
              errno.ENOENT: "missing"}.get(error.errno or 0, "io")  # fmt: skip
    where = error.filename if isinstance(error.filename, str) else path
    return StorageError(reason, f"{where}: {error.strerror or error}")
