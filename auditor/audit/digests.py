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

Trust policy (the one of every verify command, auditor/verify.py): a GetDigest or proofs.json
file is trusted because you supplied it with ``--digest``; a digest found beside an export is
checked but attests nothing; a signed checkpoint (supplied, or beside the export) attests only
through a key you trust for its ledger (``--trust-key``, the key's name being the ledger's), and
with ``--trust-key`` given, a checkpoint that such keys did not sign is refuted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from auditor import formats
from auditor.verdict import Status, VerdictBuilder
from auditor.verify import Policy, signed_checkpoint
from proofs import MAX_PROOF_LENGTH, MalformedError, ProofError, VerificationError, block_address
from proofs.errors import b64

MAX_DIGEST_BYTES = 1024 * 1024


@dataclass(slots=True)
class DigestInput:
    """One digest to check, as parsed; ``error`` holds why it could not be used."""

    source: str  # file name (or object name beside the export)
    kind: str  # get-digest | checkpoint | proofs-json
    supplied: bool  # given with --digest (else found beside the export)
    trusted: bool = False
    anchor: str = ""  # what made it trusted, in plain words
    sha256: str = ""  # of the file's bytes (reports name every trust input)
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
            "anchor": self.anchor,
            "sha256": self.sha256,
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
    return formats.b64decode(value, where)


_PROOFS_JSON_OPTIONAL = frozenset({"Ledger", "Export", "LastBlockTimestamp"})


def _proofs_json(doc: Mapping[str, Any], out: DigestInput) -> None:
    """The AWS migration sample's ``proofs.json`` (its DigestTipAddress and Proof either plain
    JSON or Ion text holders)."""
    where = f"{out.source}:"
    out.kind = "proofs-json"
    formats.check_fields(doc, where, {"Digest", "DigestTipAddress", "LastBlockNum", "Proof"},
                         _PROOFS_JSON_OPTIONAL)  # fmt: skip
    out.digest = _b64(doc["Digest"], f"{where} Digest")
    tip = doc["DigestTipAddress"]
    at = f"{where} DigestTipAddress"
    if isinstance(tip, Mapping) and "IonText" in tip:
        tip, at = formats.ion_holder(tip, at), f"{at}.IonText"
    address = block_address(tip, at)
    out.strand_id, out.tip = address.strand_id, address.sequence_no
    last = doc["LastBlockNum"]
    if type(last) is not int or last < 0:
        raise MalformedError("not-an-int", f"{where} LastBlockNum", "expected an integer >= 0")
    out.last_block = last
    proof = doc["Proof"]
    if isinstance(proof, Mapping):
        hashes = formats.proof_hashes(
            formats.ion_holder(proof, f"{where} Proof"), f"{where} Proof.IonText"
        )
    elif isinstance(proof, list) and len(proof) <= MAX_PROOF_LENGTH:
        hashes = tuple(_b64(p, f"{where} Proof[{i}]") for i, p in enumerate(proof))
    else:
        raise MalformedError(
            "not-a-list", f"{where} Proof", f"expected a list of at most {MAX_PROOF_LENGTH} hashes"
        )
    out.proof = hashes
    ledger = doc.get("Ledger")
    out.ledger = ledger if isinstance(ledger, str) else None
    if out.tip < out.last_block:
        raise MalformedError(
            "tip-behind-block", f"{where} DigestTipAddress.sequenceNo",
            f"the tip {out.tip} is behind LastBlockNum {out.last_block}",
        )  # fmt: skip


def parse_digest(data: bytes, source: str, *, supplied: bool, policy: Policy) -> DigestInput:
    """Parse one digest file; never raises: problems land in ``error`` (malformed) or, for a
    checkpoint the policy refutes (a trusted key's bad or missing signature), in ``status`` =
    failed with the :class:`VerificationError` in ``error``."""
    out = DigestInput(source=source, kind="unknown", supplied=supplied)
    out.sha256 = hashlib.sha256(data).hexdigest()
    try:
        if len(data) > MAX_DIGEST_BYTES:
            raise MalformedError("too-large", source, f"larger than {MAX_DIGEST_BYTES} bytes")
        text = data.decode("utf-8", errors="strict") if data[:1] != b"\xe0" else ""
        if text.startswith("qldb-audit/v1/"):
            out.kind = "checkpoint"
            _checkpoint(text, out, policy)
            return out
        doc = None
        try:
            doc = formats.loads_json(text) if text else None
        except ValueError:
            doc = None
        if isinstance(doc, Mapping) and "LastBlockNum" in doc:
            _proofs_json(doc, out)
            out.trusted = supplied
            out.anchor = f"the proofs.json you supplied in {source}" if supplied else ""
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
        out.anchor = f"the digest you supplied in {source} (tip {digest.tip})" if supplied else ""
    except UnicodeDecodeError:
        out.error = MalformedError("not-utf8", source, "not a digest file (not UTF-8 text)")
    except VerificationError as e:
        out.status, out.message = "failed", str(e)
        out.error = e
    except ProofError as e:
        out.error = e
    return out


def _checkpoint(text: str, out: DigestInput, policy: Policy) -> None:
    """A signed checkpoint: trusted only by the policy's keys for its ledger (raises
    :class:`VerificationError` when the policy refutes it)."""
    v = VerdictBuilder(out.source, "checkpoint")
    checkpoint = signed_checkpoint(v, text, out.source, policy)
    out.ledger, out.strand_id = checkpoint.ledger, checkpoint.strand_id
    out.tip, out.digest = checkpoint.tip, checkpoint.digest
    signature = next(c for c in v.claims if c.name == "signature")
    out.detail = f"{signature.text}; signed by {v.facts.get('signed by', 'nobody')}"
    out.trusted = signature.status is Status.PROVEN
    out.anchor = signature.anchor or ""
