"""Which claims each artefact makes, how each is proven, and the trust policy.

One function per artefact kind builds its :class:`auditor.verdict.Verdict`; :func:`check_file`
and :func:`check_bytes` are the one parse-and-check loop (the CLI reads files, the server's
``/verify`` routes pass request bodies). The rules, in plain words:

- **Anchors come from you, never from the data.** A digest is trusted only when you supply it
  (``--digest``); a receipt's own embedded digest proves that its proof is consistent, not that
  it belongs to any ledger you know. A signed checkpoint is trusted only through a key you
  supply (``--trust-key``), and a signature counts for ledger L only when its key is named L
  (C2SP: the signature's key name is the log's). Other keys you supply with ``--witness-key``
  count as witness cosignatures, never as the log's. With ``--trust-key`` given, a checkpoint
  that no trusted key of its ledger signed (or fewer than ``--min-signatures``) is refuted.
- **Digests at other tips are not tampering.** A proof to tip 35 checked against your digest at
  tip 38 is *not proven* (exit 3, both tips named) unless a consistency proof between the two
  digests is supplied (``--consistency``); it is refuted only when the tips are equal and the
  digests differ.
- **Positions are not proven by QLDB's hashes.** A block's address is covered by no QLDB hash
  and a proof carries no left/right bits, so a receipt's or block's stated address is reported
  as not proven. The proof's length must still fit it (RFC 6962's audit-path length for that
  block at that tip): a proof too short for its stated position is refuted.
- **Nothing counts as checked that was not recomputed.** A revision without data or dataHash
  (deleted, or stripped) has no documented QLDB hash rule: its metadata is not proven. A block
  without ``transactionInfo`` cannot be told apart from one whose transaction was removed.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import proofs
from auditor import formats
from auditor.formats import (
    Artefact,
    BlockInput,
    Bundle,
    ConsistencyFile,
    Digest,
    Receipt,
    RevisionInput,
)
from auditor.verdict import Verdict, VerdictBuilder, malformed
from proofs import BlockAddress, MalformedError, ProofError, VerificationError
from proofs.errors import b64
from proofs.note import Checkpoint, VerifierKey, parse_checkpoint, verify_note

NOT_COVERED = (
    "blockTimestamp is covered by no QLDB hash, and blockAddress only as far as a proof's length"
    " fits it"
)


# -- trust inputs ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TrustedDigest:
    """A digest you supplied, and where it came from (named in every verdict it anchors)."""

    digest: Digest
    source: str
    sha256: str
    label: str  # how verdicts name this anchor


def trusted_digest(digest: Digest, source: str, sha256: str = "") -> TrustedDigest:
    """A digest supplied by the user in ``source``."""
    return TrustedDigest(digest, source, sha256, f"the digest you supplied in {source} (tip "
                         f"{digest.tip})")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Policy:
    """What you trust and what you require; the data under audit never chooses any of it."""

    digest: TrustedDigest | None = None
    consistency: ConsistencyFile | None = None  # links a proof's tip to the trusted digest's
    log_keys: tuple[VerifierKey, ...] = ()  # --trust-key: the ledgers' own keys
    witness_keys: tuple[VerifierKey, ...] = ()  # --witness-key
    min_signatures: int = 1
    min_witnesses: int = 0


def load_trusted_digest(path: str) -> TrustedDigest:
    """Read a digest file you supply; raises :class:`MalformedError` naming the file."""
    data = formats.read_bytes(path, 1024 * 1024)
    artefacts = formats.parse(data, path)
    if len(artefacts) != 1 or not isinstance(artefacts[0], Digest):
        raise MalformedError(
            "not-a-digest", path, 'expected a GetDigest output {"Digest", "DigestTipAddress"}'
        )
    return trusted_digest(artefacts[0], path, hashlib.sha256(data).hexdigest())


def load_consistency(path: str) -> ConsistencyFile:
    artefacts = formats.load(path)
    if len(artefacts) != 1 or not isinstance(artefacts[0], ConsistencyFile):
        raise MalformedError("not-a-consistency-proof", path, "expected a consistency file")
    return artefacts[0]


def check_trust_set(keys: list[VerifierKey], where: str) -> None:
    """A trust set names each key once (the same name and key id twice is an error)."""
    seen: set[tuple[str, bytes]] = set()
    for key in keys:
        if (key.name, key.key_id) in seen:
            raise MalformedError("duplicate-key", where, f"the key {key} is given twice")
        seen.add((key.name, key.key_id))


# -- the one parse-and-check loop -------------------------------------------------------------
Checker = Callable[[VerdictBuilder, Artefact, str, Policy], None]


class CheckAbortedError(Exception):
    """Raised by a checker to abandon the whole check; :func:`check_bytes` lets it through to
    its caller (the server uses it for a revision the caller may not see)."""


def check_file(
    path: str, command: str, policy: Policy, check: Checker | None = None
) -> list[Verdict]:
    """Every artefact in the file at ``path``, checked by ``command``'s rules (or ``check``);
    never raises for bad input (it becomes a malformed verdict naming the file and the field)."""
    try:
        data = formats.read_bytes(path)
    except MalformedError as e:
        return [malformed(path, command, e)]
    return check_bytes(data, path, command, policy, check)


def check_bytes(
    data: bytes, name: str, command: str, policy: Policy, check: Checker | None = None
) -> list[Verdict]:
    check = check or CHECKERS[command]
    try:
        artefacts = formats.parse(data, name)
    except ProofError as e:
        return [malformed(name, command, _as_malformed(e))]
    except Exception as e:  # noqa: BLE001 - a parser bug must still end as a clear error
        return [malformed(name, command, _unexpected(name, e))]
    verdicts = []
    for i, artefact in enumerate(artefacts):
        where = name if len(artefacts) == 1 else f"{name}#{i + 1}"
        v = VerdictBuilder(where, getattr(artefact, "kind", command))
        error: ProofError | None = None
        try:
            check(v, artefact, where, policy)
        except ProofError as e:
            error = e
        except CheckAbortedError:
            raise
        except Exception as e:  # noqa: BLE001
            error = _unexpected(where, e)
        verdicts.append(v.build(error))
    return verdicts


def _as_malformed(e: ProofError) -> MalformedError:
    return e if isinstance(e, MalformedError) else MalformedError(e.reason, e.locator, e.problem)


def _unexpected(where: str, e: Exception) -> MalformedError:
    if os.environ.get("QLDB_AUDIT_DEBUG"):
        raise e
    return MalformedError("unexpected-input", where, f"cannot be checked ({type(e).__name__})")


# -- revisions ---------------------------------------------------------------------------------
def _what(artefact: Artefact) -> str:
    if isinstance(artefact, Digest):
        return "digest"
    return artefact.kind.replace("-", " ")


def _document_id(revision: Any) -> str | None:
    metadata = revision.get("metadata") if isinstance(revision, Mapping) else None
    doc = metadata.get("id") if isinstance(metadata, Mapping) else None
    return str(doc) if isinstance(doc, str) else None


def _revision_facts(v: VerdictBuilder, revision: Any) -> None:
    metadata = revision.get("metadata") if isinstance(revision, Mapping) else None
    if isinstance(metadata, Mapping):
        v.fact("document id", _document_id(revision))
        v.fact("version", metadata.get("version"))
        tx_time = metadata.get("txTime")
        v.fact("committed at", None if tx_time is None else formats.canonical_ion(tx_time))
    data = revision.get("data") if isinstance(revision, Mapping) else None
    if isinstance(data, Mapping) and isinstance(data.get("_k"), str):
        v.fact("key", data["_k"])
    if isinstance(data, Mapping) and not v.document:
        v.document.extend(document_fields(data))


MAX_DOCUMENT_FIELDS = 40


def document_fields(data: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """A document's fields for people: ``carInfo.unitPrice: 89000.00`` (exact digits, Ion
    timestamps as written), nested structs flattened, the KVS key field left out."""
    from auditor.jsonout import to_json

    out: list[tuple[str, str]] = []
    for key in data:
        if key in ("_k",) and not prefix:
            continue
        value = data[key]
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and prefix.count(".") < 2:
            out.extend(document_fields(value, path + "."))
        else:
            text = value if isinstance(value, str) else to_json(value)
            out.append((path, text if len(text) <= 120 else text[:117] + "..."))
        if len(out) >= MAX_DOCUMENT_FIELDS:
            break
    return out[:MAX_DOCUMENT_FIELDS]


def _content(v: VerdictBuilder, revision: Any, where: str, *, writer_rule: bool = False) -> bytes:
    """The revision's hash, recomputed (claim ``content-hash``); returns the stated hash."""
    stated = proofs.check_hash(_field(revision, "hash", where), f"{where}.hash")
    if "data" not in revision and "dataHash" not in revision and not writer_rule:
        v.not_proven(
            "content-hash", f"{where}.hash",
            "deleted or stripped: the revision has metadata but no data and no dataHash, and "
            "QLDB's hash rule for a deleted revision is not known, so its metadata is not proven",
        )  # fmt: skip
        return stated
    check = proofs.verify_revision(revision, where, hash_deleted=writer_rule)
    if "dataHash" in revision:
        text = (
            "the revision's hash recomputes from its dataHash and metadata (redacted: the data "
            "itself was removed, dataHash stands for it)"
        )
        v.fact("redacted", "yes: the data was removed by a redaction")
    elif "data" not in revision:
        text = "the deleted revision's hash recomputes from its metadata (the writer's rule)"
    else:
        text = "the revision's hash recomputes from its data and metadata"
    v.proven("content-hash", check.locator, text, expected=stated, actual=check.actual)
    return stated


def _field(struct: Any, key: str, where: str) -> Any:
    if not isinstance(struct, Mapping) or key not in struct:
        raise MalformedError("missing-field", f"{where}.{key}", "missing field")
    return struct[key]


def _stated_address(revision: Any, where: str) -> BlockAddress | None:
    if not isinstance(revision, Mapping) or "blockAddress" not in revision:
        return None
    return proofs.block_address(revision["blockAddress"], f"{where}.blockAddress")


def check_revision(v: VerdictBuilder, artefact: Artefact, where: str, policy: Policy) -> None:
    if not isinstance(artefact, RevisionInput):
        raise MalformedError("not-a-revision", where, f"is a {_what(artefact)}, not a revision")
    revision = artefact.revision
    _revision_facts(v, revision)
    at = f"{where}: revision"
    stated = _content(v, revision, at)
    address = _stated_address(revision, at)
    _commitment(v, stated, artefact.proof, address, None, policy, where, "revision", exact=False)


def check_block(v: VerdictBuilder, artefact: Artefact, where: str, policy: Policy) -> None:
    if not isinstance(artefact, BlockInput):
        raise MalformedError("not-a-block", where, f"is a {_what(artefact)}, not a block")
    result = proofs.verify_block(artefact.block, f"{where}: block")
    at = f"{where}: block"
    if result.address is not None:
        v.fact("block address", f"{result.address} (stated)")
    v.proven(
        "block-contents", at,
        "the block's hashes recompute: each revision with data or dataHash, the revisions root"
        " and IonHash(transactionInfo) in entriesHashList, entriesHash = MerkleRoot("
        "entriesHashList), blockHash = dot(entriesHash, previousBlockHash)",
        expected=result.block_hash,
    )  # fmt: skip
    seq = "?" if result.sequence_no is None else result.sequence_no
    if not result.has_transaction_info:
        v.not_proven(
            "transaction-info", f"{at}.transactionInfo",
            f"block {seq} carries no transactionInfo: QLDB's hashes cannot tell a system block "
            "from one whose transaction was removed",
        )  # fmt: skip
    if result.revisions_deleted:
        v.not_proven(
            "deleted-revisions", f"{at}.revisions",
            f"{result.revisions_deleted} revision(s) with metadata but no data and no dataHash "
            f"(deleted, or stripped: documents {', '.join(result.deleted_documents)}): QLDB's hash"
            " rule for a deleted revision is not known, so their metadata is not proven",
        )  # fmt: skip
    if result.revisions_system:
        v.note(
            f"{result.revisions_system} hash-only system revision(s): QLDB internals, not "
            "recomputable; their hashes still enter the revisions root"
        )
    if artefact.kind == "stream-block-summary":
        v.note("a BLOCK_SUMMARY carries no revision bodies: only their hashes are checked")
    if not result.user_revisions:
        v.note("no user revision names this block's transaction: its transactionId is not proven")
    v.note(NOT_COVERED)
    _commitment(
        v, result.block_hash, artefact.proof, result.address, None, policy, where, "block",
        exact=True,
    )  # fmt: skip


def check_receipt(v: VerdictBuilder, artefact: Artefact, where: str, policy: Policy) -> None:
    if isinstance(artefact, Bundle):
        raise MalformedError(
            "not-a-receipt", where,
            "is a receipt bundle: verify it with `qldb-audit verify bundle` (it checks the "
            "revision, the proof, the digest and the signed checkpoint)",
        )  # fmt: skip
    if isinstance(artefact, RevisionInput) and artefact.proof is not None:
        _revision_facts(v, artefact.revision)
        at = f"{where}: Revision"
        stated = _content(v, artefact.revision, at)
        address = _stated_address(artefact.revision, at)
        _commitment(v, stated, artefact.proof, address, None, policy, where, "revision", False)
        return
    if not isinstance(artefact, Receipt):
        raise MalformedError(
            "not-a-receipt", where,
            f"is a {_what(artefact)}, not a receipt (LedgerMetadata or GetRevision with Proof)",
        )  # fmt: skip
    v.fact("ledger", artefact.ledger_name)
    v.fact("table", artefact.table_name)
    v.fact("document id", artefact.document_id)
    _commitment(
        v, artefact.revision_hash, artefact.proof, artefact.block_address, artefact.digest,
        policy, where, "revision", exact=False,
    )  # fmt: skip


def bind_revision(
    v: VerdictBuilder, receipt: Receipt, bound: RevisionInput, bound_where: str, where: str
) -> None:
    """``--revision``: the revision you hold must be the one the receipt speaks of."""
    computed_for = f"{bound_where}: revision"
    _revision_facts(v, bound.revision)
    stated = _content(v, bound.revision, computed_for)
    if "data" not in bound.revision and "dataHash" not in bound.revision:
        v.not_proven(
            "revision-binding", f"{where}: RevisionHash",
            f"the revision in {bound_where} has no data and no dataHash: its hash cannot be "
            "recomputed, so it is not proven to be the receipt's revision",
        )  # fmt: skip
        return
    if not hmac.compare_digest(stated, receipt.revision_hash):
        raise VerificationError(
            "revision-binding", f"{where}: RevisionHash", "is not the hash of the given revision",
            expected=receipt.revision_hash, actual=stated,
        )  # fmt: skip
    address = _stated_address(bound.revision, computed_for)
    if (
        address is not None
        and receipt.block_address is not None
        and address != receipt.block_address
    ):
        raise VerificationError(
            "revision-binding-address", f"{where}: BlockAddress",
            "is not the block address of the given revision",
            expected=str(receipt.block_address), actual=str(address),
        )  # fmt: skip
    doc = _document_id(bound.revision)
    if doc is not None and receipt.document_id is not None and doc != receipt.document_id:
        raise VerificationError(
            "revision-binding-document", f"{where}: DocumentId",
            "is not the document id of the given revision",
            expected=receipt.document_id, actual=doc,
        )  # fmt: skip
    v.proven(
        "revision-binding", f"{where}: RevisionHash",
        f"the receipt is for the revision in {bound_where} (its recomputed hash is the receipt's"
        " RevisionHash)", expected=receipt.revision_hash, actual=stated,
    )  # fmt: skip


# -- proofs, digests and tips ------------------------------------------------------------------
def _commitment(
    v: VerdictBuilder,
    start: bytes,
    proof: tuple[bytes, ...] | None,
    stated: BlockAddress | None,
    embedded: Digest | None,
    policy: Policy,
    where: str,
    what: str,
    exact: bool,
) -> None:
    """Claims ``committed`` (the proof folds ``start`` to a digest) and ``anchor`` (that digest
    is one you trust), plus the stated position's fit (see the module docstring)."""
    trusted = policy.digest
    if proof is None:
        v.not_proven(
            "committed", where,
            f"the file carries no proof: nothing shows that this {what} is in any ledger"
            + (" (a hash that matches its own content proves nothing about where it came from)"
               if what == "revision" else ""),
        )  # fmt: skip
        _no_anchor(v, where, trusted)
        return
    root = proofs.fold(start, proof, f"{where}: Proof")
    tip = None
    if embedded is not None:
        if not hmac.compare_digest(root, embedded.digest):
            raise VerificationError(
                "proof-digest", f"{where}: Proof",
                "folding the proof does not give the digest in the same file",
                expected=embedded.digest, actual=root,
            )  # fmt: skip
        tip = embedded.tip
        v.fact("digest tip", f"{tip} (stated in the file)")
    elif trusted is not None and hmac.compare_digest(root, trusted.digest.digest):
        tip = trusted.digest.tip  # the proof leads to the trusted digest, so it is for its tip
    if tip is not None:
        _fits(v, proof, stated, tip, where, exact)
    elif stated is not None:
        v.fact("block address", f"{stated} (stated)")
        v.not_proven(
            "position", where,
            f"the block address {stated} is covered by no QLDB hash and a proof carries no "
            "positions: not proven", required=False,
        )  # fmt: skip
    if trusted is None:
        if embedded is not None:
            v.proven(
                "committed", f"{where}: Proof",
                f"the {what} is committed to the digest in the file (tip {tip}): its proof "
                f"folds to it ({len(proof)} proof elements)", expected=embedded.digest,
                actual=root,
            )  # fmt: skip
        else:
            v.not_proven(
                "committed", f"{where}: Proof",
                f"the proof folds to {b64(root)}, and no digest was supplied to compare it with",
            )  # fmt: skip
        _no_anchor(v, where, trusted)
        return
    anchor = trusted.digest
    if hmac.compare_digest(root, anchor.digest):
        if tip is not None and tip != anchor.tip:
            raise VerificationError(
                "digest-tip", f"{where}: LedgerDigest.DigestTipAddress",
                "the same digest as yours under another tip address",
                expected=str(anchor.tip), actual=str(tip),
            )  # fmt: skip
        v.proven(
            "committed", f"{where}: Proof",
            f"the {what} is committed to the digest you supplied (tip {anchor.tip}): its proof "
            f"folds to it ({len(proof)} proof elements)", expected=anchor.digest, actual=root,
            anchor=trusted.label,
        )  # fmt: skip
        return
    if tip is not None and tip.strand_id != anchor.tip.strand_id:
        raise VerificationError(
            "digest-strand", f"{where}: LedgerDigest.DigestTipAddress.strandId",
            "is not the strand of the digest you supplied (another ledger)",
            expected=anchor.tip.strand_id, actual=tip.strand_id,
        )  # fmt: skip
    if tip is not None and tip == anchor.tip:
        raise VerificationError(
            "digest-mismatch", f"{where}: LedgerDigest",
            f"differs from the digest you supplied for the same tip {tip} (another history)",
            expected=anchor.digest, actual=root,
        )  # fmt: skip
    if policy.consistency is not None and tip is not None:
        _via_consistency(v, root, tip, policy.consistency, trusted, where, what)
        return
    if tip is not None:
        reason = (
            f"the proof leads to the digest at tip {tip}; your digest ({trusted.source}) is at "
            f"tip {anchor.tip}: without a consistency proof between them (--consistency) the "
            f"two cannot be compared"
        )
    else:
        reason = (
            f"the proof does not lead to your digest ({trusted.source}, tip {anchor.tip}): the "
            "file does not say which tip its proof is for, so it may be a proof to another tip"
        )
        if stated is not None and stated.sequence_no > anchor.tip.sequence_no:
            reason += f" (your digest is older than block {stated.sequence_no})"
    v.not_proven("committed", f"{where}: Proof", reason)


def _no_anchor(v: VerdictBuilder, where: str, trusted: TrustedDigest | None) -> None:
    if trusted is None:
        v.not_proven(
            "anchor", where,
            "no digest you trust was supplied (--digest): a digest carried by the file itself "
            "proves consistency, not authenticity",
        )  # fmt: skip


def _fits(
    v: VerdictBuilder,
    proof: tuple[bytes, ...],
    stated: BlockAddress | None,
    tip: BlockAddress,
    where: str,
    exact: bool,
) -> None:
    """The stated block address must be on the tip's strand, not after it, and the proof long
    enough (exactly as long, for a block proof) for that block at that tip."""
    if stated is None:
        return
    v.fact("block address", f"{stated} (stated)")
    if stated.strand_id != tip.strand_id:
        raise VerificationError(
            "tip-strand", f"{where}: DigestTipAddress.strandId", "is not the block's strand",
            expected=stated.strand_id, actual=tip.strand_id,
        )  # fmt: skip
    if stated.sequence_no > tip.sequence_no:
        raise VerificationError(
            "tip-behind-block", f"{where}: DigestTipAddress.sequenceNo",
            "the digest tip is behind the block (a digest cannot cover a later block)",
            expected=f">= {stated.sequence_no}", actual=tip.sequence_no,
        )  # fmt: skip
    need = proofs.inclusion_path_length(stated.sequence_no, tip.sequence_no + 1)
    if len(proof) < need or (exact and len(proof) != need):
        raise VerificationError(
            "proof-shape", f"{where}: Proof",
            f"has the wrong length for block {stated.sequence_no} at tip {tip.sequence_no}",
            expected=f"{need} elements" if exact else f">= {need} elements",
            actual=f"{len(proof)} elements",
        )  # fmt: skip
    v.not_proven(
        "position", where,
        f"the block address {stated} is covered by no QLDB hash and the proof carries no "
        f"positions; its length fits block {stated.sequence_no} at tip {tip.sequence_no}, which"
        " is necessary, not sufficient",
        required=False,
    )  # fmt: skip


def _side_digest(side: str | Digest, where: str) -> tuple[Digest, Checkpoint | None]:
    if isinstance(side, Digest):
        return side, None
    checkpoint = parse_checkpoint(proofs.note.split_note(side)[0])
    return Digest(checkpoint.digest, BlockAddress(checkpoint.strand_id, checkpoint.tip)), checkpoint


def _via_consistency(
    v: VerdictBuilder,
    root: bytes,
    tip: BlockAddress,
    c: ConsistencyFile,
    trusted: TrustedDigest,
    where: str,
    what: str,
) -> None:
    """The proof's digest (tip ``tip``) is a prefix of the trusted digest, by ``c``."""
    old, _ = _side_digest(c.old, "consistency old")
    new, _ = _side_digest(c.new, "consistency new")
    anchor = trusted.digest
    if (old.digest, old.tip) != (root, tip) or (new.digest, new.tip) != (anchor.digest, anchor.tip):
        v.not_proven(
            "committed", f"{where}: Proof",
            f"the consistency proof is from tip {old.tip} to tip {new.tip}, not from this proof's"
            f" digest (tip {tip}) to yours (tip {anchor.tip})",
        )  # fmt: skip
        return
    proofs.verify_consistency(
        old.digest, new.digest, c.proof, old_tip=old.tip.sequence_no, new_tip=new.tip.sequence_no
    )
    v.proven(
        "committed", f"{where}: Proof",
        f"the {what} is committed to the digest at tip {tip}, and the consistency proof shows it "
        f"is a prefix of the digest you supplied (tip {anchor.tip})", expected=anchor.digest,
        actual=new.digest, anchor=trusted.label,
    )  # fmt: skip


# -- signed checkpoints ------------------------------------------------------------------------
def signed_checkpoint(v: VerdictBuilder, note: str, where: str, policy: Policy) -> Checkpoint:
    """Parse and verify a signed checkpoint against the policy's keys (claims ``signature`` and
    ``witnesses``); returns the checkpoint. A trusted key's bad signature is refuted (raises)."""
    keys = [*policy.log_keys, *policy.witness_keys]
    result = verify_note(note, keys)  # a trusted key's bad signature raises (refuted)
    checkpoint = parse_checkpoint(result.text)
    everyone = ", ".join(f"{s.name}+{s.key_id.hex()}" for s in result.signatures)
    v.fact("ledger", checkpoint.ledger)
    v.fact("checkpoint", f"tip {checkpoint.strand_id}/{checkpoint.tip}, {checkpoint.time}")
    v.fact("signed by", everyone)
    verified = {(k.name, k.key_id) for k in result.verified_keys()}
    log_ids = {(k.name, k.key_id) for k in policy.log_keys if k.name == checkpoint.ledger}
    by_log = sorted(f"{name}+{kid.hex()}" for name, kid in verified & log_ids)
    own_keys = sorted(f"{name}+{kid.hex()}" for name, kid in log_ids)
    if not policy.log_keys:
        v.not_proven(
            "signature", f"{where}",
            f"no key you trust was supplied (--trust-key): the checkpoint of ledger "
            f"{checkpoint.ledger} is signed by {everyone}, and none of it is checked",
        )  # fmt: skip
    elif len(by_log) < policy.min_signatures:
        raise VerificationError(
            "signature", where,
            f"is not signed by {policy.min_signatures} key(s) you trust for ledger "
            f"{checkpoint.ledger} (your keys for it: {', '.join(own_keys) or 'none'}; signed by: "
            f"{everyone})",
            expected=f"{policy.min_signatures} signature(s)", actual=f"{len(by_log)}",
        )  # fmt: skip
    else:
        v.proven(
            "signature", where,
            f"signed by {', '.join(by_log)}, a key you trust for ledger {checkpoint.ledger}",
            anchor=f"the key {', '.join(by_log)} you supplied (--trust-key)",
        )  # fmt: skip
    witness_ids = {(k.name, k.key_id) for k in policy.witness_keys}
    witnesses = sorted(f"{name}+{kid.hex()}" for name, kid in verified & witness_ids)
    if policy.min_witnesses and len(witnesses) < policy.min_witnesses:
        raise VerificationError(
            "witnesses", where,
            f"has {len(witnesses)} cosignature(s) by witnesses you trust, "
            f"{policy.min_witnesses} required (signed by: {everyone})",
            expected=str(policy.min_witnesses), actual=str(len(witnesses)),
        )  # fmt: skip
    if witnesses:
        v.proven("witnesses", where, f"cosigned by the witness(es) {', '.join(witnesses)}")
    return checkpoint


def _same(name: str, where: str, expected: object, actual: object) -> None:
    """A cross-check between two places of one file that must agree."""
    if expected != actual:
        raise VerificationError(
            name, where, "disagrees with the rest of the file",
            expected=_shown(expected), actual=_shown(actual),
        )  # fmt: skip


def _shown(value: object) -> bytes | str | int | None:
    return value if isinstance(value, bytes | str | int) or value is None else str(value)


def check_bundle(v: VerdictBuilder, artefact: Artefact, where: str, policy: Policy) -> None:
    """content -> revision hash -> proof -> digest -> signed checkpoint, and every cross-check."""
    if not isinstance(artefact, Bundle):
        raise MalformedError("not-a-bundle", where, f"is a {_what(artefact)}, not a receipt bundle")
    b = artefact
    v.fact("ledger", b.ledger_name)
    v.fact("table", b.table_name)
    v.fact("key", b.key)
    _revision_facts(v, b.revision)
    # our writer's bundles: a deleted revision's hash is IonHash(metadata) (docs/ledger.md)
    revision_hash = _content(v, b.revision, f"{where}: revision", writer_rule=True)
    address = _stated_address(b.revision, f"{where}: revision")
    _same("block-address", f"{where}: revision.blockAddress", b.block_address, address)
    _same("document-id", f"{where}: revision.metadata.id", b.document_id, _document_id(b.revision))
    data = b.revision.get("data")
    if isinstance(data, Mapping):
        _same("key", f"{where}: revision.data._k", b.key, data.get("_k"))
    kvs = b.ledger_metadata
    section = f"{where}: LedgerMetadata"
    _same("ledger-metadata", f"{section}.LedgerName", b.ledger_name, kvs.ledger_name)
    _same("ledger-metadata", f"{section}.TableName", b.table_name, kvs.table_name)
    _same("ledger-metadata", f"{section}.BlockAddress", b.block_address, kvs.block_address)
    _same("ledger-metadata", f"{section}.DocumentId", b.document_id, kvs.document_id)
    _same("ledger-metadata", f"{section}.RevisionHash", revision_hash, kvs.revision_hash)
    _same("ledger-metadata", f"{section}.Proof", b.proof, kvs.proof)
    _same("ledger-metadata", f"{section}.LedgerDigest", b.digest, kvs.digest)
    v.proven(
        "cross-checks", where, "the bundle's fields, its revision and its LedgerMetadata agree"
    )
    root = proofs.fold(revision_hash, b.proof, f"{where}: proof")
    if not hmac.compare_digest(root, b.digest.digest):
        raise VerificationError(
            "proof-digest", f"{where}: proof", "does not fold to the bundle's digest",
            expected=b.digest.digest, actual=root,
        )  # fmt: skip
    _fits(v, b.proof, b.block_address, b.digest.tip, where, exact=False)
    v.proven(
        "committed", f"{where}: proof",
        f"the revision is committed to the bundle's digest (tip {b.digest.tip}): its proof folds"
        f" to it ({len(b.proof)} proof elements)", expected=b.digest.digest, actual=root,
    )  # fmt: skip
    checkpoint = signed_checkpoint(v, b.checkpoint, f"{where}: checkpoint", policy)
    _same("checkpoint", f"{where}: checkpoint ledger", b.ledger_name, checkpoint.ledger)
    _same("checkpoint", f"{where}: checkpoint strand", b.digest.tip.strand_id, checkpoint.strand_id)
    _same("checkpoint", f"{where}: checkpoint tip", b.digest.tip.sequence_no, checkpoint.tip)
    _same("checkpoint", f"{where}: checkpoint digest", b.digest.digest, checkpoint.digest)
    v.proven(
        "checkpoint-digest", f"{where}: checkpoint",
        "the signed checkpoint states the bundle's digest and tip", expected=checkpoint.digest,
        actual=b.digest.digest,
    )  # fmt: skip


def check_consistency(v: VerdictBuilder, artefact: Artefact, where: str, policy: Policy) -> None:
    """The new digest extends the old one; each side is anchored by a key or your digest."""
    if not isinstance(artefact, ConsistencyFile):
        raise MalformedError("not-a-consistency-proof", where, f"is a {_what(artefact)}")
    v.fact("ledger", artefact.ledger_name)
    sides = []
    for label, side in (("old", artefact.old), ("new", artefact.new)):
        at = f"{where}: {label}"
        if isinstance(side, Digest):
            digest = side
            trusted = policy.digest
            if trusted is None:
                v.not_proven(
                    f"{label}-anchor", at,
                    f"the {label} side is a plain digest (tip {digest.tip}); no digest you trust "
                    "was supplied (--digest) to anchor it",
                )  # fmt: skip
            elif (trusted.digest.digest, trusted.digest.tip) == (digest.digest, digest.tip):
                v.proven(
                    f"{label}-anchor", at, f"the {label} side is {trusted.label}",
                    anchor=trusted.label,
                )  # fmt: skip
            elif trusted.digest.tip == digest.tip:
                raise VerificationError(
                    f"{label}-anchor", at,
                    f"differs from the digest you supplied for the same tip {digest.tip}",
                    expected=trusted.digest.digest, actual=digest.digest,
                )  # fmt: skip
            else:
                v.not_proven(
                    f"{label}-anchor", at,
                    f"the {label} side is at tip {digest.tip}; your digest is at tip "
                    f"{trusted.digest.tip}",
                )  # fmt: skip
        else:
            checkpoint = signed_checkpoint(v, side, at, policy)
            _same("checkpoint", f"{at} ledger", artefact.ledger_name, checkpoint.ledger)
            digest = Digest(checkpoint.digest, BlockAddress(checkpoint.strand_id, checkpoint.tip))
        _same("checkpoint", f"{at} strand", artefact.strand_id, digest.tip.strand_id)
        sides.append(digest)
    old, new = sides
    if old.tip.sequence_no > new.tip.sequence_no:
        raise VerificationError(
            "consistency-order", f"{where}: old", "is newer than the new checkpoint",
            expected=f"<= {new.tip.sequence_no}", actual=old.tip.sequence_no,
        )  # fmt: skip
    check = proofs.verify_consistency(
        old.digest, new.digest, artefact.proof,
        old_tip=old.tip.sequence_no, new_tip=new.tip.sequence_no,
    )  # fmt: skip
    v.proven(
        "consistency", f"{where}: proof",
        f"the digest at tip {new.tip} extends the digest at tip {old.tip}: no block up to "
        f"{old.tip.sequence_no} was changed ({check.detail})", expected=new.digest,
        actual=check.actual,
    )  # fmt: skip


# -- the document a dealer holds ---------------------------------------------------------------
def load_document(path: str) -> Any:
    """An invoice file as the dealer holds it: JSON (by the JSON -> Ion rule) or Ion."""
    data = formats.read_bytes(path, 1024 * 1024)
    try:
        return formats.loads_json(data.decode("utf-8"))
    except formats.JsonRefusedError as e:
        raise MalformedError("not-json", path, f"refused JSON ({e})") from e
    except (UnicodeDecodeError, ValueError):
        values = formats.parse_ion(data, path)
        if len(values) != 1:
            raise MalformedError("not-one-value", path, "expected one document") from None
        return values[0]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _differences(ours: Any, theirs: Any, path: str = "") -> list[tuple[str, str, Any, Any]]:
    """Where two documents differ: (path, kind, ours, theirs); kind ``spelling`` when both are
    the same number written differently (``51990.50`` and ``51990.5``, or ``1`` and ``1.0``)."""
    if proofs.ion_hash(ours) == proofs.ion_hash(theirs):
        return []
    if isinstance(ours, Mapping) and isinstance(theirs, Mapping):
        out = []
        for key in ours:
            at = f"{path}.{key}" if path else str(key)
            if key not in theirs:
                out.append((at, "missing", ours[key], None))
            else:
                out.extend(_differences(ours[key], theirs[key], at))
        out += [(f"{path}.{k}" if path else str(k), "extra", None, theirs[k])
                for k in theirs if k not in ours]  # fmt: skip
        return out
    if isinstance(ours, list) and isinstance(theirs, list) and len(ours) == len(theirs):
        return [d for i, (a, b) in enumerate(zip(ours, theirs, strict=True))
                for d in _differences(a, b, f"{path}[{i}]")]  # fmt: skip
    if _is_number(ours) and _is_number(theirs) and Decimal(ours) == Decimal(theirs):
        return [(path, "spelling", ours, theirs)]
    return [(path, "value", ours, theirs)]


def bind_document(v: VerdictBuilder, data: Any, document: Any, doc_path: str, where: str) -> None:
    """``--document``: the invoice the dealer holds must be this revision's document (the data
    without the KVS key field; a stored string is the ``_v`` field)."""
    from auditor.jsonout import to_json

    expected = formats.kvs_value(data)
    found = _differences(expected, document)
    if not found:
        v.proven(
            "document-binding", doc_path,
            f"the document in {doc_path} is this revision's, value for value (same Ion hash)",
            expected=proofs.ion_hash(expected), actual=proofs.ion_hash(document),
        )  # fmt: skip
        return
    real = [d for d in found if d[1] != "spelling"]
    if real:
        at, kind, ours, theirs = real[0]
        shown = {"missing": "missing in your file", "extra": "not in the ledger's revision"}
        raise VerificationError(
            "document-binding", f"{doc_path}: {at}",
            shown.get(kind, "differs from the ledger's revision")
            + (f" ({len(real)} difference(s) in all)" if len(real) > 1 else ""),
            expected=None if ours is None else to_json(ours),
            actual=None if theirs is None else to_json(theirs),
        )  # fmt: skip
    spelled = "; ".join(
        f"{at}: the ledger holds {to_json(ours)}, your file says {to_json(theirs)}"
        for at, _, ours, theirs in found[:5]
    )
    v.not_proven(
        "document-binding", doc_path,
        f"the document in {doc_path} has the same values, but some numbers are written "
        f"differently ({spelled}): the same amount, yet a different Ion value and so a different"
        " hash (a tool rewrote the file); compare the amounts, not the file",
    )  # fmt: skip


CHECKERS: dict[str, Checker] = {
    "revision": check_revision,
    "block": check_block,
    "receipt": check_receipt,
    "bundle": check_bundle,
    "consistency": check_consistency,
}


def bundles(paths: list[str], policy: Policy, document_path: str | None = None) -> list[Verdict]:
    """``verify bundle`` with ``--document``: each bundle's revision must be that document."""
    if document_path is None:
        return [v for path in paths for v in check_file(path, "bundle", policy)]
    document = load_document(document_path)

    def check(v: VerdictBuilder, artefact: Artefact, where: str, p: Policy) -> None:
        check_bundle(v, artefact, where, p)
        assert isinstance(artefact, Bundle)
        data = artefact.revision.get("data")
        if data is None:
            v.not_proven(
                "document-binding", document_path,
                "the bundle's revision carries no data (redacted or deleted): the document "
                f"in {document_path} cannot be compared with it",
            )  # fmt: skip
            return
        bind_document(v, data, document, document_path, where)

    return [v for path in paths for v in check_file(path, "bundle", policy, check)]


def receipts(paths: list[str], policy: Policy, revision_path: str | None = None) -> list[Verdict]:
    """``verify receipt`` with ``--revision``: each receipt is also bound to that revision."""
    if revision_path is None:
        return [v for path in paths for v in check_file(path, "receipt", policy)]
    artefacts = formats.load(revision_path)
    if len(artefacts) != 1 or not isinstance(artefacts[0], RevisionInput):
        raise MalformedError("not-a-revision", revision_path, "expected one revision")
    bound = artefacts[0]

    def check(v: VerdictBuilder, artefact: Artefact, where: str, p: Policy) -> None:
        check_receipt(v, artefact, where, p)
        receipt = artefact if isinstance(artefact, Receipt) else None
        if receipt is None and isinstance(artefact, RevisionInput):
            receipt = Receipt(
                "get-revision", _stated_address(artefact.revision, f"{where}: Revision"),
                proofs.check_hash(artefact.revision["hash"], f"{where}: Revision.hash"),
                artefact.proof or (), None, _document_id(artefact.revision),
            )  # fmt: skip
        if receipt is not None:
            bind_revision(v, receipt, bound, revision_path, where)

    return [v for path in paths for v in check_file(path, "receipt", policy, check)]
