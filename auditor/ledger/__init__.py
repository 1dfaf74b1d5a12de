"""The writer: a QLDB-compatible verifiable ledger on SQLite.

``core`` (the Ledger: its lifecycle and the one public face of the modules below),
``writes`` (the transaction writer: blocks, revisions, redactions), ``reads`` (the checked
reads), ``proving`` (digests and proofs), ``store`` (the SQLite file), ``tree`` (digest-tree
nodes), ``check`` (rows checked before they are served), ``integrity`` (``verify``: every table
against the journal), ``codec`` (the one Ion encoder/decoder of stored bytes), ``values`` (what
may be stored), ``keys`` (the signing key), ``errors`` (typed errors; no exit codes),
``importer`` (a QLDB export into a new ledger).
"""

from auditor.ledger.check import Revision
from auditor.ledger.core import Ledger
from auditor.ledger.errors import (
    ConflictError,
    DamagedError,
    IntegrityError,
    LedgerError,
    NotFoundError,
    StorageError,
)
from auditor.ledger.proving import SignedDigest
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
