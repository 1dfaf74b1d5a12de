"""Digests an export is checked against, and which of them attest it.

Three shapes, detected from the content:

- a ``GetDigest`` output ``{"Digest": b64, "DigestTipAddress": {"IonText": …}}`` (also what
  this project's exporter writes beside an export as ``<exportId>.<strandId>.digest.json``):
  must equal the Merkle root of block hashes ``0..tip``;
- a signed checkpoint of this project's writer (a C2SP signed note, docs/ledger.md): the same
  check; it attests only when ``--trust-key`` keys signed it (``--min-signatures``);
- the AWS migration sample's ``proofs.json`` ``{Ledger, Digest, DigestTipAddress: {strandId,
  sequenceNo}, LastBlockNum, Proof: [b64…]}``: ``fold(blockHash of LastBlockNum, Proof)``
  must equal ``Digest`` (so an export that does not start at block 0 can still be attested).

Trust policy (the one of ``verify receipt --digest``): a GetDigest or proofs.json file is trusted
because the user supplied it with ``--digest``; the digest and checkpoint found beside an
export are checked but attest nothing unless the checkpoint carries trusted signatures.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from auditor import formats
from proofs import MAX_PROOF_LENGTH, MalformedError, ProofError, VerificationError, check_hash
from proofs.errors import b64
from proofs.note import VerifierKey, parse_checkpoint, verify_note

MAX_DIGEST_BYTES = 1024 * 1024


@dataclass(slots=True)
class DigestInput:
    """One digest to check, as parsed; ``error`` holds why it could not be used."""

    source: str  # file name (or object name beside the export)
    kind: str  # get-digest | checkpoint | proofs-json
    supplied: bool  # given with --digest (else found beside the export)
    trusted: bool = False
    strand_id: str | None = None
    tip: int | None = None
    digest: bytes | None = None
    proof: tuple[bytes, ...] | None = None  # proofs-json: from blockHash(last_block) to digest
    last_block: int | None = None
    ledger: str | None = None
    detail: str = ""
    error: ProofError | None = None
    # the outcome, filled in by the audit
    status: str = "pending"  # verified | failed | malformed | not-checked
    computed: bytes | None = None
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "kind": self.kind,
            "supplied": self.supplied,
            "trusted": self.trusted,
            "strandId": self.strand_id,
            "tip": self.tip,
            "lastBlock": self.last_block,
            "digest": None if self.digest is None else b64(self.digest),
            "computed": None if self.computed is None else b64(self.computed),
            "status": self.status,
            "message": self.message,
            "detail": self.detail,
        }

    @property
    def covers(self) -> int | None:
        """The last block this digest attests, when verified."""
        return self.last_block if self.kind == "proofs-json" else self.tip


def _b64(value: Any, where: str) -> bytes:
    if not isinstance(value, str):
        raise MalformedError("not-base64", where, "expected a base64 string")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as e:
        raise MalformedError("not-base64", where, "not valid base64") from e
    return check_hash(raw, where)


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MalformedError("not-an-int", where, "expected an integer >= 0")
    return value


def _proofs_json(doc: Mapping[str, Any], out: DigestInput) -> None:
    where = f"{out.source}:"
    out.kind = "proofs-json"
    out.digest = _b64(doc.get("Digest"), f"{where} Digest")
    tip = doc.get("DigestTipAddress")
    if isinstance(tip, Mapping) and "IonText" in tip:
        parsed = formats.parse(json.dumps({"Digest": doc["Digest"], "DigestTipAddress": tip})
                               .encode(), out.source)[0]  # fmt: skip
        assert isinstance(parsed, formats.Digest)
        out.strand_id, out.tip = parsed.tip.strand_id, parsed.tip.sequence_no
    elif isinstance(tip, Mapping):
        strand = tip.get("strandId")
        if not isinstance(strand, str):
            raise MalformedError("not-a-string", f"{where} DigestTipAddress.strandId", "expected")
        out.strand_id = strand
        out.tip = _int(tip.get("sequenceNo"), f"{where} DigestTipAddress.sequenceNo")
    else:
        raise MalformedError("missing-field", f"{where} DigestTipAddress", "missing field")
    out.last_block = _int(doc.get("LastBlockNum"), f"{where} LastBlockNum")
    proof = doc.get("Proof")
    if isinstance(proof, Mapping) and isinstance(proof.get("IonText"), str):
        from amazon.ion import simpleion

        try:
            proof = list(simpleion.loads(proof["IonText"]))
        except Exception as e:
            raise MalformedError("not-ion", f"{where} Proof.IonText", "not Ion") from e
        hashes = [check_hash(bytes(p), f"{where} Proof[{i}]") for i, p in enumerate(proof)]
    elif isinstance(proof, list):
        hashes = [_b64(p, f"{where} Proof[{i}]") for i, p in enumerate(proof)]
    else:
        raise MalformedError("missing-field", f"{where} Proof", "expected a list of hashes")
    if len(hashes) > MAX_PROOF_LENGTH:
        raise MalformedError("proof-length", f"{where} Proof", f"over {MAX_PROOF_LENGTH}")
    out.proof = tuple(hashes)
    ledger = doc.get("Ledger")
    out.ledger = ledger if isinstance(ledger, str) else None
    if out.tip < out.last_block:
        raise MalformedError(
            "tip-behind-block", f"{where} DigestTipAddress.sequenceNo",
            f"the tip {out.tip} is behind LastBlockNum {out.last_block}",
        )  # fmt: skip


def parse_digest(
    data: bytes, source: str, *, supplied: bool, trusted_keys: list[VerifierKey], quorum: int
) -> DigestInput:
    """Parse one digest file; never raises: problems land in ``error`` (malformed) or, for a
    checkpoint signature by a trusted key that does not verify, in ``status`` = failed."""
    out = DigestInput(source=source, kind="unknown", supplied=supplied)
    try:
        if len(data) > MAX_DIGEST_BYTES:
            raise MalformedError("too-large", source, f"larger than {MAX_DIGEST_BYTES} bytes")
        text = data.decode("utf-8", errors="strict") if data[:1] != b"\xe0" else ""
        if text.startswith("qldb-audit/v1/"):
            out.kind = "checkpoint"
            _checkpoint(text, out, trusted_keys, quorum)
            return out
        doc = None
        try:
            doc = json.loads(text) if text else None
        except ValueError:
            doc = None
        if isinstance(doc, Mapping) and "LastBlockNum" in doc:
            _proofs_json(doc, out)
            out.trusted = supplied
            return out
        artefacts = formats.parse(data, source)
        if len(artefacts) != 1 or not isinstance(artefacts[0], formats.Digest):
            raise MalformedError(
                "not-a-digest", source,
                "expected a GetDigest output, a signed checkpoint or a proofs.json",
            )  # fmt: skip
        digest = artefacts[0]
        out.kind = "get-digest"
        out.digest, out.strand_id = digest.digest, digest.tip.strand_id
        out.tip = digest.tip.sequence_no
        out.trusted = supplied
    except UnicodeDecodeError:
        out.error = MalformedError("not-utf8", source, "not a digest file (not UTF-8 text)")
    except VerificationError as e:
        out.status, out.message = "failed", str(e)
        out.error = e
    except ProofError as e:
        out.error = e
    return out


def _checkpoint(text: str, out: DigestInput, keys: list[VerifierKey], quorum: int) -> None:
    result = verify_note(text, keys)  # a bad signature by a trusted key raises
    checkpoint = parse_checkpoint(result.text)
    out.ledger, out.strand_id = checkpoint.ledger, checkpoint.strand_id
    out.tip, out.digest = checkpoint.tip, checkpoint.digest
    signers = ", ".join(result.trusted_signers) or "none"
    out.detail = f"trusted signatures: {signers}"
    if result.untrusted_signers:
        out.detail += f"; untrusted: {', '.join(result.untrusted_signers)}"
    out.trusted = len(result.trusted_signers) >= quorum and bool(keys)
