"""The writer: a QLDB-compatible verifiable ledger on SQLite."""

from auditor.ledger.core import (
    ConflictError,
    Ledger,
    LedgerError,
    NotFoundError,
    Revision,
    SignedDigest,
)

__all__ = ["ConflictError", "Ledger", "LedgerError", "NotFoundError", "Revision", "SignedDigest"]
