"""Digests and proofs: the signed digest at a tip and the proofs folded to it.

Everything here is built from digest-tree nodes checked against the rows below them
(``tree.py``) and block rows checked against their hashes (``check.py``), through a
:class:`~auditor.ledger.reads.Reader`; a proof is folded (a consistency proof verified) against
the digest it is issued with before it is handed out, so a file whose rows disagree raises
:class:`IntegrityError` instead of handing out a proof that does not verify.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import proofs
from auditor.ledger.check import Revision, block_row
from auditor.ledger.errors import IntegrityError, NotFoundError
from auditor.ledger.keys import SignerKey, sign_note
from auditor.ledger.reads import Reader
from auditor.ledger.tree import subtree_reader
from proofs import inclusion_path, merkle_root
from proofs.merkle import consistency_path
from proofs.note import Checkpoint, checkpoint_text


@dataclass(frozen=True, slots=True)
class SignedDigest:
    strand_id: str
    tip: int
    digest: bytes
    checkpoint: str  # the signed note

    def get_digest_json(self) -> dict[str, Any]:
        """The AWS GetDigest output shape."""
        address = f'{{strandId:"{self.strand_id}",sequenceNo:{self.tip}}}'
        return {
            "Digest": base64.b64encode(self.digest).decode(),
            "DigestTipAddress": {"IonText": address},
        }


def _subtree(reader: Reader) -> Callable[[int, int], bytes]:
    return subtree_reader(reader.db, reader.path, reader.verified)


def root(reader: Reader, tip: int) -> bytes:
    """The digest at ``tip`` from checked digest-tree nodes."""
    return _subtree(reader)(0, tip + 1)


def digest_tip(reader: Reader, tip: int | None) -> int:
    """``tip`` (default: the current tip) if the ledger has it, else :class:`NotFoundError`."""
    current = reader.tip()
    tip = current if tip is None else tip
    if not 0 <= tip <= current:
        raise NotFoundError("no-tip", f"{reader.path}: no block {tip} (tip is {current})")
    return tip


def signed_digest(
    reader: Reader,
    tip: int,
    name: str,
    clock: Callable[[], datetime],
    signer: Callable[[], SignerKey],
) -> SignedDigest:
    """The digest at ``tip`` and its checkpoint, signed now by ``signer()``."""
    digest = root(reader, tip)
    moment = clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = checkpoint_text(Checkpoint(name, reader.strand_id, tip, digest, moment))
    return SignedDigest(reader.strand_id, tip, digest, sign_note(text, signer()))


def _folded(reader: Reader, leaf: bytes, path: list[bytes], tip: int, what: str) -> list[bytes]:
    """``path`` if it folds ``leaf`` to the digest at ``tip``, else IntegrityError."""
    try:
        proofs.verify_proof(leaf, path, root(reader, tip))
    except proofs.ProofError as e:
        raise IntegrityError(
            "proof", f"{reader.path}: the proof of {what} to tip {tip} does not fold to the "
            f"digest ({e.problem}); the file's rows disagree (run `ledger verify`)",
        ) from e  # fmt: skip
    return path


def block_proof(reader: Reader, seq: int, tip: int) -> list[bytes]:
    """``Ledger.block_proof``."""
    if not 0 <= seq <= tip <= reader.tip():
        raise NotFoundError("no-tip", f"{reader.path}: no proof from block {seq} to tip {tip}")
    leaf = block_row(reader.db, seq, reader.path, reader.verified).block_hash
    path = inclusion_path(seq, tip + 1, _subtree(reader))
    return _folded(reader, leaf, path, tip, f"block {seq}")


def revision_proof(reader: Reader, revision: Revision, tip: int) -> list[bytes]:
    """``Ledger.revision_proof``: revision hash → revisions root → entries root → block hash
    (with ``previousBlockHash``) → digest."""
    db, seq = reader.db, revision.sequence_no
    exists = db.execute("SELECT 1 FROM blocks WHERE seq=?", (seq,)).fetchone()
    row = None if exists is None else block_row(db, seq, reader.path, reader.verified)
    hashes = [] if row is None else row.revision_hashes
    if row is None or revision.hash not in hashes or not 0 <= seq <= tip <= reader.tip():
        raise NotFoundError(
            "no-revision", f"revision {revision.document_id} v{revision.version}: "
            f"not in block {seq} of this ledger, or past tip {tip}",
        )  # fmt: skip
    index = hashes.index(revision.hash)
    path = inclusion_path(index, len(hashes), lambda lo, hi: merkle_root(hashes[lo:hi]))
    root_index = row.entries.index(merkle_root(hashes))
    entries = row.entries
    path += inclusion_path(root_index, len(entries), lambda lo, hi: merkle_root(entries[lo:hi]))
    if row.previous:  # the genesis block has no previous block
        path.append(row.previous)
    path += inclusion_path(seq, tip + 1, _subtree(reader))
    what = f"revision {revision.document_id} v{revision.version}"
    return _folded(reader, revision.hash, path, tip, what)


def consistency_proof(reader: Reader, old_tip: int, new_tip: int) -> list[bytes]:
    """``Ledger.consistency_proof``, verified against both digests."""
    if not 0 <= old_tip <= new_tip <= reader.tip():
        raise NotFoundError(
            "no-tip", f"{reader.path}: no consistency proof from tip {old_tip} to {new_tip}"
        )
    path = consistency_path(old_tip + 1, new_tip + 1, _subtree(reader))
    try:
        proofs.verify_consistency(
            root(reader, old_tip), root(reader, new_tip), path, old_tip=old_tip, new_tip=new_tip
        )
    except proofs.ProofError as e:
        raise IntegrityError(
            "proof", f"{reader.path}: the consistency proof from tip {old_tip} to {new_tip} "
            f"does not verify ({e.problem}); run `ledger verify`",
        ) from e  # fmt: skip
    return path
