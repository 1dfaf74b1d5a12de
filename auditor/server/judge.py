"""The ONE adapter between the server's verify routes and the verification engine.

:func:`judge` takes the request's bytes and what this server can vouch for (its ledger, its
verifier key, who asks), runs the engine (``auditor.verify.check_bytes`` and its checkers, the
fail-closed verdict model of ``auditor.verdict``) with this ledger's digest and key as the trust
anchors, and turns the verdicts into an HTTP status and a body. Nothing else in the server
touches the engine's result types.

What is checked, per kind:

- ``sample-receipt`` (``POST /verify-receipt``, the AWS sample's route): a QLDB key-value store
  ``LedgerMetadata`` receipt, verified offline. If its digest is on this ledger's strand (ours,
  or a QLDB ledger migrated with its strand), the digest must be the one this ledger has at that
  tip, the proof must fold to it, and the receipt's ``RevisionHash`` must be the revision this
  ledger stores for ``DocumentId`` in that block (a proof alone does not show which document it
  is): ``valid``, attested. Any other receipt (a real QLDB ledger's) is checked against its own
  embedded digest: the proof must fold to it: ``valid``, not attested by this server. ``Proof``
  is optional, as in the sample: for this ledger's receipts the server supplies the proof (as
  the sample's ``verifyLedgerMetadata`` fetched it from QLDB); another ledger's receipt without
  a proof cannot be checked offline (422). Only a *verified* verdict is ``valid`` (attested);
  a foreign receipt is ``valid`` only when its proof provably folds to its own digest.
- ``sample-revision`` (``POST /verify-doc-revision``): ``dot(IonHash(data), IonHash(metadata))``.
- ``receipt``, ``bundle``, ``revision``, ``consistency`` (``/v1/verify/*``): the CLI's checks,
  with this ledger's digest and verifier key as the trust anchors; the CLI's versioned report.

A caller who may not see every revision (a dealer) learns nothing of a revision that is not
its own: a receipt naming one, or naming none, is answered "not found" (404; 400 on the
sample's route, as all its client errors). Malformed input is 400 (not JSON or Ion) or 422
(the wrong shape), never 500, and the message names the field without echoing the input.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import proofs
from auditor import formats, verify
from auditor.formats import BlockAddress, Digest
from auditor.ledger import Ledger, NotFoundError, Revision
from auditor.verdict import MALFORMED, Status, VerdictBuilder
from auditor.verdict import to_json as report_json
from auditor.verify import CheckAbortedError, Policy, TrustedDigest
from proofs import MalformedError, ProofError, VerificationError
from proofs.note import VerifierKey

log = logging.getLogger("qldb_audit.server")

SAMPLE_FAILURE = "Client Error: Could not verify the metadta"  # the sample's text, typo and all
_UNPARSABLE = {"empty", "not-json", "not-ion", "not-utf8", "too-large", "number"}
_ECHOING = {  # problems whose engine message quotes the input: said without it
    "unknown-format": "not a QLDB revision, block, receipt, digest or bundle",
    "not-a-timestamp": "not an ISO-8601 timestamp",
}


@dataclass(frozen=True, slots=True)
class Outcome:
    status: int
    body: Any  # JSON-able; a str is sent as it is (the report's JSON text)


@dataclass(frozen=True, slots=True)
class Anchor:
    """What the server vouches for, and who asks: ``readable(revision)`` says whether the
    caller may see one of this ledger's revisions."""

    ledger: Ledger
    vkey: VerifierKey
    sees_all: bool
    readable: Callable[[Revision], bool]


class _HiddenError(CheckAbortedError):
    """The receipt names a revision the caller may not see (or none)."""


def judge(kind: str, body: bytes, anchor: Anchor) -> Outcome:
    """Verify ``body`` as ``kind`` against ``anchor``; the HTTP answer (see the docstring)."""
    sample = kind.startswith("sample-")
    try:
        if kind == "sample-receipt":
            return _sample_receipt(body, anchor)
        if kind == "sample-revision":
            return _sample_revision(body)
        return _report(kind, body, anchor)
    except _HiddenError:
        status = 400 if sample else 404
        return Outcome(
            status, {"message": "the receipt's revision: not found", "reason": "not-found"}
        )
    except RecursionError:
        return Outcome(400, {"message": "request body: nested too deeply", "reason": "too-deep"})
    except ProofError as e:
        return _malformed(e, sample)
    except ArithmeticError:  # a number the parser cannot hold (1e99999999999999999999)
        error = MalformedError("number", "request body", "a number out of range")
        return _malformed(error, sample)
    except Exception as e:  # noqa: BLE001 - an engine surprise is the input's problem, not a 500
        log.warning("verify %s: unexpected %s: %s", kind, type(e).__name__, str(e)[:200])
        error = MalformedError("unexpected-input", "request body", "cannot be checked")
        return _malformed(error, sample)


def _message(error: ProofError) -> str:
    problem = _ECHOING.get(error.reason, error.problem)
    return f"{error.locator[:120]}: {problem[:160]}" if error.locator else problem[:160]


def _malformed(error: ProofError, sample: bool) -> Outcome:
    if isinstance(error, VerificationError):  # pragma: no cover - caught where they arise
        return _invalid(error)
    body: dict[str, Any] = {
        "message": _message(error),
        "reason": error.reason,
        "locator": error.locator[:120],
    }
    if sample:
        body.update(message=f"{SAMPLE_FAILURE}: {body['message']}", result="malformed")
        return Outcome(400, body)
    return Outcome(400 if error.reason in _UNPARSABLE else 422, body)


def _invalid(error: VerificationError) -> Outcome:
    return Outcome(
        400,
        {
            "message": f"{SAMPLE_FAILURE}: {_message(error)}",
            "reason": error.reason,
            "result": "invalid",
            "locator": error.locator[:120],
        },
    )


# -- the sample's routes -----------------------------------------------------------------------
def _sample_receipt(body: bytes, anchor: Anchor) -> Outcome:
    value = json.loads(body.decode("utf-8"))  # the route has checked it against the model
    ours = anchor.ledger.strand_id
    if "Proof" not in value:
        value = _with_our_proof(value, anchor)
        body = json.dumps(value).encode()
    receipt = formats.parse(body, "receipt")[0]
    if not isinstance(receipt, formats.Receipt) or receipt.digest is None:
        raise MalformedError("not-a-receipt", "receipt", "not a LedgerMetadata receipt")
    v = VerdictBuilder("receipt", "kvs-ledger-metadata")
    try:
        if receipt.digest.tip.strand_id == ours:
            stored = _check_ours(v, receipt, "receipt", anchor)
            for field, expected in (
                ("LedgerName", anchor.ledger.name),
                ("TableName", stored.table),
            ):
                if field in value and value[field] != expected:
                    raise VerificationError(
                        field.lower().replace("name", "-name"), f"receipt: {field}",
                        "is not this ledger's", expected=expected, actual=None,
                    )  # fmt: skip
        else:
            verify.check_receipt(v, receipt, "receipt", Policy())
    except VerificationError as e:
        return _invalid(e)
    verdict = v.build()
    if verdict:
        return Outcome(200, {"result": "valid", "attested": True, "digest": "this-ledger"})
    folds = [c for c in verdict.claims if c.name == "committed" and c.status is Status.PROVEN]
    if receipt.digest.tip.strand_id != ours and folds:
        return Outcome(
            200,
            {
                "result": "valid",
                "attested": False,
                "digest": "embedded",
                "message": "the proof folds to the receipt's own digest; this server does not "
                "attest that digest (it is not this ledger's): compare it with a digest you "
                "trust",
            },
        )
    unproven = "; ".join(c.text for c in verdict.claims if c.status is not Status.PROVEN)
    return Outcome(
        400,
        {"message": f"{SAMPLE_FAILURE}: not proven: {unproven[:240]}", "reason": "not-proven",
         "result": "invalid"},
    )  # fmt: skip


def _with_our_proof(value: dict[str, Any], anchor: Anchor) -> dict[str, Any]:
    """A receipt without ``Proof``: this ledger's proof, if the receipt is this ledger's."""
    ledger = anchor.ledger
    block = _address(value["BlockAddress"]["IonText"], "receipt: BlockAddress.IonText")
    tip = _address(
        value["LedgerDigest"]["DigestTipAddress"]["IonText"],
        "receipt: LedgerDigest.DigestTipAddress.IonText",
    )
    if block.strand_id != ledger.strand_id or tip.strand_id != ledger.strand_id:
        raise MalformedError(
            "missing-proof",
            "receipt: Proof",
            "missing: a receipt of another ledger can be checked offline only with its proof",
        )
    stored = _stored(block, value["DocumentId"], "receipt", anchor)
    try:
        proof = ledger.revision_proof(stored, tip.sequence_no)
    except NotFoundError:
        proof = []  # a tip this ledger has not reached, or behind the block: the checks say so
    return {**value, "Proof": {"IonText": formats.canonical_ion(proof)}}


def _sample_revision(body: bytes) -> Outcome:
    artefact = formats.parse(body, "revision")[0]
    if not isinstance(artefact, formats.RevisionInput):
        raise MalformedError("not-a-revision", "revision", "not a revision")
    try:
        proofs.verify_revision(artefact.revision, "revision")
    except VerificationError as e:
        return Outcome(200, {"result": "invalid", "reason": e.reason, "message": _message(e)[:300]})
    return Outcome(200, {"result": "valid"})


# -- /v1/verify/* ------------------------------------------------------------------------------
def _report(kind: str, body: bytes, anchor: Anchor) -> Outcome:
    """The CLI's checks with this ledger's key and digest as anchors, the CLI's report; input
    that is not one artefact of the kind at all is 400/422 (like any malformed request)."""
    policy = Policy(log_keys=(anchor.vkey,))
    verdicts = verify.check_bytes(body, "request body", kind, policy, _checker(kind, anchor))
    if len(verdicts) == 1 and verdicts[0].status == MALFORMED and verdicts[0].error is not None:
        return _malformed(verdicts[0].error, False)
    return Outcome(200, report_json(f"verify {kind}", verdicts))


def _checker(kind: str, anchor: Anchor) -> verify.Checker:
    ledger = anchor.ledger

    def check(v: VerdictBuilder, artefact: Any, where: str, policy: Policy) -> None:
        if kind == "receipt" and isinstance(artefact, formats.Receipt) and artefact.digest:
            if artefact.digest.tip.strand_id == ledger.strand_id:
                _check_ours(v, artefact, where, anchor)
            else:
                verify.check_receipt(v, artefact, where, Policy())
        elif kind == "receipt" and isinstance(artefact, formats.RevisionInput):
            # a GetRevision output with its proof: no digest in it, fold to ours
            address = _revision_address(artefact.revision)
            trusted = None
            if address is not None and address.strand_id == ledger.strand_id:
                signed = ledger.digest()
                trusted = _ours(Digest(signed.digest, BlockAddress(signed.strand_id, signed.tip)))
            verify.check_receipt(v, artefact, where, Policy(digest=trusted))
        elif kind == "bundle":
            verify.check_bundle(v, artefact, where, policy)
            assert isinstance(artefact, formats.Bundle)
            _attest(artefact.digest, f"{where}: digest", ledger)
            v.proven("digest-attested", f"{where}: digest", "the digest is this ledger's")
        else:
            verify.CHECKERS[kind](v, artefact, where, policy)

    return check


# -- this ledger as the trust anchor -----------------------------------------------------------
def _ours(digest: Digest) -> TrustedDigest:
    return TrustedDigest(digest, "this ledger", "", f"this ledger's digest at tip {digest.tip}")


def _check_ours(
    v: VerdictBuilder, receipt: formats.Receipt, where: str, anchor: Anchor
) -> Revision:
    """The digest attested by this ledger, the proof folded to it, and the receipt bound to
    the revision this ledger stores. Raises ProofError or _HiddenError."""
    assert receipt.digest is not None
    trusted = _attest(receipt.digest, f"{where}: LedgerDigest", anchor.ledger)
    verify.check_receipt(v, receipt, where, Policy(digest=_ours(trusted)))
    if receipt.block_address is None or receipt.document_id is None:
        raise MalformedError("missing-field", where, "needs BlockAddress and DocumentId")
    stored = _stored(receipt.block_address, receipt.document_id, where, anchor)
    if stored.hash != receipt.revision_hash:
        raise VerificationError(
            "ledger-revision", f"{where}: RevisionHash",
            "is not the hash of the revision this ledger stores",
            expected=stored.hash, actual=receipt.revision_hash,
        )  # fmt: skip
    v.proven(
        "ledger-revision", f"{where}: RevisionHash",
        f"this ledger stores the revision ({stored.table}/{stored.key} v{stored.version})",
        expected=stored.hash, actual=receipt.revision_hash,
    )  # fmt: skip
    return stored


def _stored(address: BlockAddress, document_id: str, where: str, anchor: Anchor) -> Revision:
    """This ledger's revision of ``document_id`` in the block at ``address``; one the caller
    may not see is as absent as one that does not exist."""
    ledger = anchor.ledger
    if address.strand_id != ledger.strand_id:
        raise VerificationError(
            "ledger-revision", f"{where}: BlockAddress.strandId", "is not this ledger's strand",
            expected=ledger.strand_id, actual=address.strand_id,
        )  # fmt: skip
    try:
        tx_id = str(ledger.block(address.sequence_no)["transactionId"])
        stored = ledger.revision_by_doc_and_tx(document_id, tx_id)
    except NotFoundError as e:
        if not anchor.sees_all:
            raise _HiddenError from e
        raise VerificationError(
            "ledger-revision", f"{where}: DocumentId",
            f"this ledger has no revision of it in block {address}",
            expected=None, actual=document_id,
        ) from e  # fmt: skip
    if not anchor.readable(stored):
        raise _HiddenError
    return stored


def _attest(digest: Digest, where: str, ledger: Ledger) -> Digest:
    """``digest`` if it is the one this ledger has at its tip, else VerificationError."""
    tip = digest.tip
    if tip.strand_id != ledger.strand_id:
        raise VerificationError(
            "digest-ledger", f"{where}.DigestTipAddress.strandId", "is not this ledger's strand",
            expected=ledger.strand_id, actual=tip.strand_id,
        )  # fmt: skip
    current = ledger.tip()
    if tip.sequence_no > current:
        raise VerificationError(
            "digest-tip", f"{where}.DigestTipAddress.sequenceNo", "is beyond this ledger's tip",
            expected=f"<= {current}", actual=tip.sequence_no,
        )  # fmt: skip
    ours = ledger.digest(tip.sequence_no).digest
    if ours != digest.digest:
        raise VerificationError(
            "digest-not-ours", f"{where}.Digest",
            f"is not this ledger's digest at tip {tip.sequence_no}",
            expected=ours, actual=digest.digest,
        )  # fmt: skip
    return Digest(ours, tip)


def _revision_address(revision: Any) -> BlockAddress | None:
    value = revision.get("blockAddress") if isinstance(revision, Mapping) else None
    try:
        return None if value is None else proofs.block_address(value, "revision.blockAddress")
    except MalformedError:
        return None


def _address(text: str, where: str) -> BlockAddress:
    """``{strandId, sequenceNo}`` from Ion text (a receipt's ``…Address.IonText``), by the one
    parser of Ion and of block addresses."""
    values = formats.parse_ion(text, where)
    if len(values) != 1:
        raise MalformedError("block-address", where, "expected one {strandId, sequenceNo}")
    return proofs.block_address(values[0], where)


def ion_address(text: str, where: str) -> BlockAddress:
    """The same, for the sample's /retrieve-doc-revision (it reads receipts too)."""
    return _address(text, where)
