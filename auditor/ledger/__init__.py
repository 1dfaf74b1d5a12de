"""The writer: a QLDB-compatible verifiable ledger on SQLite.

``core`` (the Ledger), ``store`` (the SQLite file), ``tree`` (digest-tree nodes), ``check``
(rows checked before they are served), ``integrity`` (``verify``: every table against the
journal), ``codec`` (the one Ion encoder/decoder of stored bytes), ``values`` (what may be
stored), ``keys`` (the signing key), ``errors`` (typed errors; no exit codes).
"""

from auditor.ledger.core import Ledger, Revision, SignedDigest
from auditor.ledger.errors import (
    ConflictError,
    DamagedError,
    IntegrityError,
    LedgerError,
    NotFoundError,
    StorageError,
)
from auditor.ledger.values import value_of

__all__ = [
    "ConflictError",
    "DamagedError",
    "IntegrityError",
    "Ledger",
    "LedgerError",
    "NotFoundError",
    "Revision",
    "SignedDigest",
    "StorageError",
    "value_of",
]
