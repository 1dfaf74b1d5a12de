"""Mutation probes on every positive real QLDB vector (CONTRIBUTING.md, practice 9).

Source: ``fixtures/qldb/qldb-real-vectors.json`` (real ledger values, documented there). Each test
takes one happy path, first shows that it verifies unchanged, then applies one family of mutations
and requires every mutant to be rejected: with :class:`proofs.VerificationError` when the mutant
still has a valid shape, with :class:`proofs.MalformedError` when it does not. Re-encodings that
keep every Ion type and value (struct field order, Ion text <-> binary, JSON key order) must still
verify. Each family is one test id; the loop inside a test reports every surviving mutant at once.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from amazon.ion import simpleion

import proofs
from auditor import formats, ion, verify
from auditor.formats import BlockAddress, BlockInput, Digest, Receipt, RevisionInput
from auditor.verdict import Verdict, VerdictBuilder
from auditor.verify import Policy, trusted_digest
from proofs import MalformedError, ProofError, VerificationError
from proofs.ionvalue import Symbol, Timestamp

ROOT = Path(__file__).resolve().parents[2]
VECTORS: dict[str, dict[str, Any]] = {
    v["id"]: v for v in json.loads((ROOT / "fixtures/qldb/qldb-real-vectors.json").read_text())
}

# One bit in every byte, cycling through the bit positions, plus the very first and last bit.
BITS = sorted({0, 255} | {8 * i + i % 8 for i in range(32)})

Path_ = tuple[str | int, ...]


def _positive(vector: dict[str, Any]) -> bool:
    return all(check["expected"] for check in vector["checks"])


def _flip(value: bytes, bit: int) -> bytes:
    out = bytearray(value)
    out[bit // 8] ^= 0x80 >> (bit % 8)
    return bytes(out)


def _random_hash(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def _show(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _get(root: Any, path: Path_) -> Any:
    for part in path:
        root = root[part]
    return root


def _set(root: Any, path: Path_, value: Any) -> None:
    _get(root, path[:-1])[path[-1]] = value


def _walk(value: Any, path: Path_ = ()) -> Iterator[tuple[Path_, Any]]:
    """Every node below ``value`` (containers too), depth first, with its path."""
    if isinstance(value, Mapping):
        for key in list(value):
            yield (*path, key), value[key]
            yield from _walk(value[key], (*path, key))
    elif isinstance(value, list):
        for i, element in enumerate(value):
            yield (*path, i), element
            yield from _walk(element, (*path, i))


def _is_container(value: Any) -> bool:
    return isinstance(value, Mapping | list)


def _expect_rejected(
    check: Callable[[Any], object],
    mutants: Sequence[tuple[str, Any]],
    error: type[ProofError] = VerificationError,
) -> None:
    """Every mutant must make ``check`` raise ``error`` (another ProofError is a wrong family)."""
    assert mutants, "the family produced no mutant: the probe would be vacuous"
    accepted, wrong = [], []
    for label, mutant in mutants:
        try:
            check(mutant)
        except error:
            continue
        except ProofError as e:
            wrong.append(f"{label}: {type(e).__name__}: {e}")
        else:
            accepted.append(label)
    assert not accepted, f"{len(accepted)}/{len(mutants)} mutants accepted: {accepted[:10]}"
    assert not wrong, f"expected {error.__name__}, got: {wrong[:5]}"


def _status(check: Callable[[VerdictBuilder], None]) -> Verdict:
    """Run an ``auditor.verify.check_*`` function the way ``verify.check_bytes`` does."""
    v = VerdictBuilder("mutant", "mutant")
    try:
        check(v)
    except ProofError as e:
        return v.build(e)
    return v.build()


def _policy(trusted: Digest | None) -> Policy:
    return Policy(digest=None if trusted is None else trusted_digest(trusted, "digest.json"))


# -- proofs: every positive receipt, GetRevision and GetBlock -----------------------------------
@dataclass(frozen=True)
class ProofCase:
    id: str
    start: bytes  # RevisionHash, the revision's hash, or the block's blockHash
    proof: tuple[bytes, ...]
    digest: bytes  # the receipt's own digest, or the vector's derived digest
    artefact: Any
    trusted: Digest


def _json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, indent=2).encode()


def _derived_digest(vector: dict[str, Any]) -> Digest:
    (value,) = [v for k, v in vector["derived"].items() if k.startswith("digest_at_tip")]
    doc = {"Digest": value, "DigestTipAddress": vector["request"]["DigestTipAddress"]}
    (digest,) = formats.parse(_json_bytes(doc), f"{vector['id']}-digest.json")
    assert isinstance(digest, Digest)
    return digest


def _proof_cases() -> list[ProofCase]:
    cases = []
    for vid, vector in VECTORS.items():
        if vector["kind"] == "receipt" and _positive(vector):
            (receipt,) = formats.parse(_json_bytes(vector["receipt"]), f"{vid}.json")
            assert isinstance(receipt, Receipt)
            assert receipt.digest is not None
            digest = receipt.digest
            cases.append(
                ProofCase(vid, receipt.revision_hash, receipt.proof, digest.digest, receipt, digest)
            )
        elif vector["kind"] == "getrevision_output":
            (revision,) = formats.parse(_json_bytes(vector["response"]), f"{vid}.json")
            assert isinstance(revision, RevisionInput)
            assert revision.proof is not None
            trusted = _derived_digest(vector)
            start = bytes(revision.revision["hash"])
            cases.append(ProofCase(vid, start, revision.proof, trusted.digest, revision, trusted))
        elif vector["kind"] == "getblock_output":
            (block,) = formats.parse(_json_bytes(vector["response"]), f"{vid}.json")
            assert isinstance(block, BlockInput)
            assert block.proof is not None
            trusted = _derived_digest(vector)
            start = bytes(block.block["blockHash"])
            cases.append(ProofCase(vid, start, block.proof, trusted.digest, block, trusted))
    return cases


PROOF_CASES = _proof_cases()
RECEIPT_CASES = [c for c in PROOF_CASES if isinstance(c.artefact, Receipt)]


def test_every_positive_proof_vector_is_probed() -> None:
    receipts = [v for v in VECTORS.values() if v["kind"] == "receipt" and _positive(v)]
    assert len(RECEIPT_CASES) == len(receipts) >= 4
    assert {c.id for c in PROOF_CASES} >= {
        "awscli-getrevision-KmA3-100-tip123",
        "awscli-getblock-KmA3-100-tip123",
    }


@pytest.mark.parametrize("case", PROOF_CASES, ids=lambda c: c.id)
def test_unmutated_proof_verifies(case: ProofCase) -> None:
    check = proofs.verify_proof(case.start, case.proof, case.digest)
    assert check.expected == check.actual == case.digest


def _proof_targets() -> list[Any]:
    params = []
    for case in PROOF_CASES:
        targets = ["start", "digest", *(f"proof[{i}]" for i in range(len(case.proof)))]
        params += [pytest.param(case, t, id=f"{case.id}-{t}") for t in targets]
    return params


@pytest.mark.parametrize(("case", "target"), _proof_targets())
def test_proof_bit_flip(case: ProofCase, target: str) -> None:
    mutants: list[tuple[str, tuple[bytes, tuple[bytes, ...], bytes]]] = []
    for bit in BITS:
        start, proof, digest = case.start, list(case.proof), case.digest
        if target == "start":
            start = _flip(start, bit)
        elif target == "digest":
            digest = _flip(digest, bit)
        else:
            i = int(target[6:-1])
            proof[i] = _flip(proof[i], bit)
        mutants.append((f"bit {bit}", (start, tuple(proof), digest)))
    _expect_rejected(lambda m: proofs.verify_proof(*m), mutants)


Proof = tuple[Any, ...]
Mutants = list[tuple[str, Proof]]


def _put(p: Proof, i: int, element: Any) -> Proof:
    """``p`` with element ``i`` replaced."""
    return (*p[:i], element, *p[i + 1 :])


def _insert(p: Proof, i: int, element: Any) -> Proof:
    return (*p[:i], element, *p[i:])


def _drop(p: Proof) -> Mutants:
    return [(f"drop {i}", p[:i] + p[i + 1 :]) for i in range(len(p))]


def _insert_copy(p: Proof) -> Mutants:
    """A copy of each element (neighbours and the rest) inserted at every position."""
    return [
        (f"copy of {j} at {i}", _insert(p, i, p[j]))
        for i in range(len(p) + 1)
        for j in range(len(p))
    ]


def _insert_random(p: Proof) -> Mutants:
    return [(f"random at {i}", _insert(p, i, _random_hash(f"x{i}"))) for i in range(len(p) + 1)]


def _duplicate(p: Proof) -> Mutants:
    return [(f"duplicate {i}", _insert(p, i + 1, p[i])) for i in range(len(p))]


def _swap(p: Proof) -> Mutants:
    out = []
    for i in range(len(p)):
        for j in range(i + 1, len(p)):
            if p[i] != p[j]:  # equal elements (odd block numbers) swap to the same proof
                q = list(p)
                q[i], q[j] = q[j], q[i]
                out.append((f"swap {i},{j}", tuple(q)))
    return out


def _zero(p: Proof) -> Mutants:
    return [(f"zero {i}", _put(p, i, bytes(32))) for i in range(len(p))]


def _shorter(p: Proof) -> Mutants:
    return [("empty proof", ()), *((f"first {n}", p[:n]) for n in range(1, len(p)))]


def _reversed(p: Proof) -> Mutants:
    return [("reversed", p[::-1])] if p[::-1] != p else []


PROOF_FAMILIES: dict[str, Callable[[Proof], Mutants]] = {
    "drop": _drop,
    "insert-copy": _insert_copy,
    "insert-random": _insert_random,
    "duplicate": _duplicate,
    "swap-distinct": _swap,
    "zero-element": _zero,
    "prefix": _shorter,
    "reversed": _reversed,
}


def _case_family(cases: list[ProofCase], families: Mapping[str, Any]) -> list[Any]:
    return [pytest.param(case, name, id=f"{case.id}-{name}") for case in cases for name in families]


@pytest.mark.parametrize(("case", "family"), _case_family(PROOF_CASES, PROOF_FAMILIES))
def test_proof_structure_mutation(case: ProofCase, family: str) -> None:
    mutants = PROOF_FAMILIES[family](case.proof)
    _expect_rejected(lambda p: proofs.verify_proof(case.start, p, case.digest), mutants)


def test_equal_adjacent_elements_exist_in_odd_block_receipts() -> None:
    """Why swap-distinct skips equal pairs: odd blocks give two equal adjacent proof elements."""
    odd = [c for c in RECEIPT_CASES if c.artefact.block_address.sequence_no % 2]
    assert odd
    for case in odd:
        assert any(a == b for a, b in zip(case.proof, case.proof[1:], strict=False)), case.id


def _each(p: Proof, change: Callable[[bytes], Any]) -> Mutants:
    return [(f"element {i}", _put(p, i, change(p[i]))) for i in range(len(p))]


MALFORMED_PROOF_FAMILIES: dict[str, Callable[[Proof], Mutants]] = {
    "element-31-bytes": lambda p: _each(p, lambda e: e[:31]),
    "element-33-bytes": lambda p: _each(p, lambda e: e + b"\0"),
    "element-empty": lambda p: _each(p, lambda e: b""),
    "element-not-bytes": lambda p: _each(p, lambda e: base64.b64encode(e).decode()),
    "over-length-cap": lambda p: [
        ("cap+1", (*p, *[p[0]] * (proofs.MAX_PROOF_LENGTH + 1 - len(p))))
    ],
}


@pytest.mark.parametrize(("case", "family"), _case_family(PROOF_CASES, MALFORMED_PROOF_FAMILIES))
def test_proof_shape_mutation_is_malformed(case: ProofCase, family: str) -> None:
    mutants = MALFORMED_PROOF_FAMILIES[family](case.proof)
    _expect_rejected(
        lambda p: proofs.verify_proof(case.start, p, case.digest), mutants, MalformedError
    )


def _all_proof_mutants(case: ProofCase) -> list[tuple[str, tuple[bytes, ...]]]:
    mutants = [
        (f"{name}: {label}", p) for name, f in PROOF_FAMILIES.items() for label, p in f(case.proof)
    ]
    mutants += [(f"bit 0 of {label}", p) for label, p in _each(case.proof, lambda e: _flip(e, 0))]
    return mutants


@pytest.mark.parametrize("case", PROOF_CASES, ids=lambda c: c.id)
def test_proof_mutants_fail_through_the_auditor(case: ProofCase) -> None:
    """The orchestration layer turns each proof mutant into status "failed" (exit code 1)."""
    artefact = case.artefact

    def run(proof: tuple[bytes, ...] | None, trusted: Digest | None) -> Verdict:
        where = f"{case.id}.json"
        policy = _policy(trusted)
        if isinstance(artefact, Receipt):
            receipt = artefact if proof is None else replace(artefact, proof=proof)
            return _status(lambda i: verify.check_receipt(i, receipt, where, policy))
        if isinstance(artefact, RevisionInput):
            revision = artefact if proof is None else replace(artefact, proof=proof)
            return _status(lambda i: verify.check_receipt(i, revision, where, policy))
        block = artefact if proof is None else replace(artefact, proof=proof)
        return _status(lambda i: verify.check_block(i, block, where, policy))

    assert run(None, case.trusted).status == "verified"
    assert run(None, case.trusted).exit_code == 0
    outcomes = {label: run(p, case.trusted) for label, p in _all_proof_mutants(case)}
    if isinstance(artefact, Receipt):
        # the receipt's own digest is at a known tip: any other fold contradicts it
        not_refuted = {k: v.status for k, v in outcomes.items() if v.status != "refuted"}
        assert not not_refuted
        assert all(item.exit_code == 1 for item in outcomes.values())
        # checked against its own digest only: consistent, but not attested
        assert run(None, None).status == "not-proven"
        assert run(_drop(case.proof)[0][1], None).status == "refuted"
    else:
        # a GetRevision/GetBlock output does not say which tip its proof is for: a proof that
        # misses your digest may be a proof to another tip, so it is "not proven", never 0
        passed = {
            k: v.status for k, v in outcomes.items() if v.status not in ("refuted", "not-proven")
        }
        assert not passed
        assert all(item.exit_code in (1, 3) for item in outcomes.values())


def test_receipt_digest_bit_flip_through_the_auditor() -> None:
    for case in RECEIPT_CASES:
        receipt = case.artefact
        for bit in BITS:
            assert receipt.digest is not None
            bad = replace(
                receipt, digest=replace(receipt.digest, digest=_flip(receipt.digest.digest, bit))
            )
            item = _status(lambda i, r=bad: verify.check_receipt(i, r, "r.json", Policy()))
            assert item.status == "refuted", (case.id, bit)
            # The same flipped digest, trusted, differs from the receipt's at the same tip.
            item = _status(
                lambda i, r=receipt, d=bad.digest: verify.check_receipt(i, r, "r.json", _policy(d))
            )
            assert item.status == "refuted", (case.id, bit)
            assert [c.name for c in item.claims if c.status == "refuted"] == ["digest-mismatch"]


# -- blocks: GetBlock output and stream BLOCK_SUMMARY ------------------------------------------
@dataclass(frozen=True)
class Source:
    id: str
    data: bytes
    name: str

    def parse(self) -> Any:
        (artefact,) = formats.parse(self.data, self.name)
        return artefact


def _block_sources() -> list[Source]:
    out = []
    for vid, vector in VECTORS.items():
        if vector["kind"] == "getblock_output":
            out.append(Source(vid, _json_bytes(vector["response"]), f"{vid}.json"))
        elif vector["kind"] == "stream_block_summary" and _positive(vector):
            out.append(Source(vid, vector["ion_text"].encode(), f"{vid}.ion"))
    return out


BLOCKS = _block_sources()


def _block(source: Source) -> Any:
    artefact = source.parse()
    assert isinstance(artefact, BlockInput)
    return artefact.block


def _hash_paths(block: Any) -> list[Path_]:
    return [p for p, v in _walk(block) if isinstance(v, bytes) and len(v) == proofs.HASH_LENGTH]


def test_block_hash_fields_are_found() -> None:
    for source in BLOCKS:
        names = {_show(p).split("[")[0] for p in _hash_paths(_block(source))}
        assert {"blockHash", "entriesHash", "previousBlockHash", "entriesHashList"} <= names
        assert "transactionInfo.statements" in names  # statementDigest
        assert names & {"revisions", "revisionSummaries"}


@pytest.mark.parametrize("source", BLOCKS, ids=lambda s: s.id)
def test_unmutated_block_verifies(source: Source) -> None:
    result = proofs.verify_block(_block(source))
    names = [c.name for c in result.checks]
    assert {"revisions-root", "transaction-info", "entries-hash", "block-hash"} <= set(names)


def _block_hash_params() -> list[Any]:
    return [
        pytest.param(source, path, id=f"{source.id}-{_show(path)}")
        for source in BLOCKS
        for path in _hash_paths(_block(source))
    ]


@pytest.mark.parametrize(("source", "path"), _block_hash_params())
def test_block_hash_bit_flip(source: Source, path: Path_) -> None:
    original = bytes(_get(_block(source), path))
    mutants = []
    for bit in BITS:
        block = _block(source)
        _set(block, path, _flip(original, bit))
        mutants.append((f"bit {bit}", block))
    _expect_rejected(proofs.verify_block, mutants)


# -- leaf mutations: one Ion value changed, the hash must change --------------------------------
def _ion(text: str) -> Any:
    (value,) = ion.loads(text, "mutant")
    return value


def _ion_text(value: Any) -> str:
    return ion.dumps_text(value)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if value is None:
        return "null"
    if isinstance(value, Timestamp):
        return "timestamp"
    if isinstance(value, Decimal):
        return "decimal"
    if isinstance(value, float):
        return "float"
    if isinstance(value, int):
        return "int"
    if isinstance(value, Symbol):
        return "symbol"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bytes):
        return "blob"
    return "container" if _is_container(value) else type(value).__name__


_OFFSET = re.compile(r"(Z|[+-]\d\d:\d\d)$")


def _timestamp_precision(ts: Any) -> list[Any]:
    """Same instant, other precision: one fraction digit more and, if it ends in 0, one fewer."""
    text = _ion_text(ts)
    match = _OFFSET.search(text)
    if "T" not in text or match is None:  # a date: make it a minute-precision time
        return [_ion(text.rstrip("T") + "T00:00-00:00")]
    body, offset = text[: match.start()], match.group()
    out = [_ion(body + ("0" if "." in body else ".0") + offset)]
    if "." in body and body.endswith("0"):
        out.append(_ion(body[:-1].rstrip(".") + offset))  # .230Z -> .23Z
    return out


def _timestamp_instant(ts: Any) -> list[Any]:
    text = _ion_text(ts)
    match = _OFFSET.search(text)
    end = match.start() if match else len(text.rstrip("T"))
    i = max(k for k in range(end) if text[k].isdigit())
    for digit in (int(text[i]) + 1) % 10, (int(text[i]) - 1) % 10:
        try:
            return [_ion(text[:i] + str(digit) + text[i + 1 :])]
        except Exception:  # noqa: BLE001 - e.g. day 31 of a 30-day month: try the other way
            continue
    raise AssertionError(text)


def _timestamp_offset(ts: Any) -> list[Any]:
    text = _ion_text(ts)
    match = _OFFSET.search(text)
    if not match or match.group() not in ("Z", "+00:00"):
        return []
    return [_ion(text[: match.start()] + "-00:00"), _ion(text[: match.start()] + "+01:00")]


def _decimal_digits(d: Decimal) -> list[Any]:
    exponent = d.as_tuple().exponent
    assert isinstance(exponent, int)
    return [Decimal(d) + Decimal(1).scaleb(exponent), Decimal(d) - Decimal(1).scaleb(exponent)]


def _decimal_precision(d: Decimal) -> list[Any]:
    exponent = d.as_tuple().exponent
    assert isinstance(exponent, int)
    return [Decimal(d).quantize(Decimal(1).scaleb(exponent - 1))]  # 90.25 -> 90.250


def _string_content(s: str) -> list[Any]:
    text = str(s)
    out = [text + " ", text.upper() if text != text.upper() else text.lower()]
    if text:
        out.append(text[:-1] + chr(ord(text[-1]) ^ 1))
    return [x for x in out if x != text]


LEAF_FAMILIES: dict[str, tuple[frozenset[str], Callable[[Any], list[Any]]]] = {
    "string-content": (frozenset({"string"}), _string_content),
    "string-to-symbol": (frozenset({"string"}), lambda s: [Symbol(str(s))]),
    "symbol-to-string": (frozenset({"symbol"}), lambda s: [str(s.text)]),
    "int-plus-one": (frozenset({"int"}), lambda n: [int(n) + 1]),
    "int-to-decimal": (frozenset({"int"}), lambda n: [Decimal(int(n))]),  # 2021 -> 2021.
    "int-to-float": (frozenset({"int"}), lambda n: [float(n)]),
    "decimal-digits": (frozenset({"decimal"}), _decimal_digits),
    "decimal-precision": (frozenset({"decimal"}), _decimal_precision),
    "decimal-to-float": (frozenset({"decimal"}), lambda d: [float(d)]),
    "timestamp-precision": (frozenset({"timestamp"}), _timestamp_precision),
    "timestamp-instant": (frozenset({"timestamp"}), _timestamp_instant),
    "timestamp-offset": (frozenset({"timestamp"}), _timestamp_offset),
    "timestamp-to-string": (frozenset({"timestamp"}), lambda t: [_ion_text(t)]),
    "to-null": (frozenset({"string", "int", "decimal", "timestamp", "symbol"}), lambda v: [None]),
}


def _leaf_mutants(
    fresh: Callable[[], Any], roots: Sequence[Path_], family: str
) -> list[tuple[str, Any]]:
    """Mutants of the value ``fresh()`` returns: ``family`` applied to each leaf under ``roots``."""
    kinds, mutate = LEAF_FAMILIES[family]
    out = []
    template = fresh()
    for root in roots:
        for path, leaf in _walk(_get(template, root), root):
            if _kind(leaf) not in kinds:
                continue
            for n, new in enumerate(mutate(leaf)):
                value = fresh()
                _set(value, path, new)
                out.append((f"{_show(path)} #{n} -> {new!r}", value))
    return out


def _structure_mutants(
    fresh: Callable[[], Any], roots: Sequence[Path_]
) -> dict[str, list[tuple[str, Any]]]:
    """Field renamed, field removed, field added, list element removed/duplicated."""
    families: dict[str, list[tuple[str, Any]]] = {
        "field-renamed": [],
        "field-removed": [],
        "field-added": [],
        "list-changed": [],
    }
    template = fresh()
    containers = [(root, _get(template, root)) for root in roots]
    for root, node in list(containers):
        containers += [(p, v) for p, v in _walk(node, root) if _is_container(v)]
    for path, node in containers:
        if isinstance(node, Mapping):
            for key in list(node):
                value = fresh()
                struct = _get(value, path)
                moved = struct[key]
                del struct[key]
                struct[f"{key}_"] = moved
                families["field-renamed"].append((f"{_show((*path, key))} renamed", value))
                value = fresh()
                del _get(value, path)[key]
                families["field-removed"].append((f"{_show((*path, key))} removed", value))
            value = fresh()
            _get(value, path)["extraField"] = "x"
            families["field-added"].append((f"{_show(path)} + extraField", value))
        elif isinstance(node, list) and node:
            value = fresh()
            _get(value, path).pop()
            families["list-changed"].append((f"{_show(path)} last removed", value))
            value = fresh()
            lst = _get(value, path)
            lst.append(lst[0])
            families["list-changed"].append((f"{_show(path)} first appended", value))
    return families


STRUCTURE_FAMILIES = ("field-renamed", "field-removed", "field-added", "list-changed")


# -- revisions: JSON history, Ion (GetRevision), stream REVISION_DETAILS (corrected) -------------
def _revision_sources() -> list[Source]:
    out = []
    for vid, vector in VECTORS.items():
        if vector["kind"] == "revision" and _positive(vector):
            out.append(Source(vid, _json_bytes(vector["revision_json"]), f"{vid}.json"))
        elif vector["kind"] == "getrevision_output":
            out.append(Source(vid, _json_bytes(vector["response"]), f"{vid}.json"))
            ion = vector["response"]["Revision"]["IonText"].encode()
            out.append(Source(f"{vid}-ion", ion, f"{vid}.ion"))
        elif vector["kind"] == "stream_revision_details":
            ion = vector["ion_text_corrected"].encode()
            out.append(Source(f"{vid}-corrected", ion, f"{vid}.ion"))
    return out


REVISIONS = _revision_sources()
REVISION_ROOTS: tuple[Path_, ...] = (("data",), ("metadata",))


def _revision(source: Source) -> Any:
    artefact = source.parse()
    assert isinstance(artefact, RevisionInput)
    return artefact.revision


def test_every_positive_revision_vector_is_probed() -> None:
    kinds = {source.parse().kind for source in REVISIONS}
    assert kinds == {"json-revision", "get-revision", "ion-revision", "stream-revision-details"}
    json_revisions = [v for v in VECTORS.values() if v["kind"] == "revision" and _positive(v)]
    assert len(json_revisions) >= 3
    assert {s.id for s in REVISIONS} >= {v["id"] for v in json_revisions}


@pytest.mark.parametrize("source", REVISIONS, ids=lambda s: s.id)
def test_unmutated_revision_verifies(source: Source) -> None:
    revision = _revision(source)
    check = proofs.verify_revision(revision)
    assert check.expected == check.actual == bytes(revision["hash"])


def _applicable(fresh: Callable[[], Any], roots: Sequence[Path_], family: str) -> bool:
    kinds = LEAF_FAMILIES[family][0]
    template = fresh()
    return any(_kind(v) in kinds for root in roots for _, v in _walk(_get(template, root), root))


def _revision_leaf_params() -> list[Any]:
    return [
        pytest.param(source, family, id=f"{source.id}-{family}")
        for source in REVISIONS
        for family in LEAF_FAMILIES
        if _applicable(lambda s=source: _revision(s), REVISION_ROOTS, family)
    ]


@pytest.mark.parametrize(("source", "family"), _revision_leaf_params())
def test_revision_leaf_mutation(source: Source, family: str) -> None:
    mutants = _leaf_mutants(lambda: _revision(source), REVISION_ROOTS, family)
    _expect_rejected(proofs.verify_revision, mutants)


def test_revision_leaf_families_cover_the_brief() -> None:
    """Every leaf type named in the brief is met in at least one real revision."""
    families = {p.values[1] for p in _revision_leaf_params()}
    assert {
        "string-content",
        "int-plus-one",
        "int-to-decimal",
        "decimal-digits",
        "decimal-precision",
        "timestamp-precision",
        "timestamp-offset",
    } <= families


def _structure_params(
    sources: list[Source], fresh: Callable[[Source], Any], roots: Any
) -> list[Any]:
    params = []
    for source in sources:
        families = _structure_mutants(lambda s=source: fresh(s), roots(source))
        params += [
            pytest.param(source, f, id=f"{source.id}-{f}")
            for f in STRUCTURE_FAMILIES
            if families[f]
        ]
    return params


@pytest.mark.parametrize(
    ("source", "family"), _structure_params(REVISIONS, _revision, lambda s: REVISION_ROOTS)
)
def test_revision_structure_mutation(source: Source, family: str) -> None:
    mutants = _structure_mutants(lambda: _revision(source), REVISION_ROOTS)[family]
    _expect_rejected(proofs.verify_revision, mutants)


@pytest.mark.parametrize("source", REVISIONS, ids=lambda s: s.id)
def test_revision_named_fields_mutation(source: Source) -> None:
    """The brief's named probes: metadata.version, metadata.txId, metadata.txTime precision."""
    mutants = []
    for path, new in [
        (("metadata", "version"), lambda v: int(v) + 1),
        (("metadata", "version"), lambda v: Decimal(int(v))),
        (("metadata", "txId"), lambda v: str(v)[::-1]),
        (("metadata", "txTime"), lambda v: _timestamp_precision(v)[0]),
        (("metadata", "id"), lambda v: str(v) + "x"),
        (("hash",), lambda v: _flip(bytes(v), 0)),
    ]:
        revision = _revision(source)
        _set(revision, path, new(_get(revision, path)))
        mutants.append((_show(path), revision))
    _expect_rejected(proofs.verify_revision, mutants)


def _reversed_fields(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _reversed_fields(v) for k, v in reversed(list(value.items()))}
    if isinstance(value, list):
        return [_reversed_fields(v) for v in value]
    return value


def _ion_roundtrip(value: Any, binary: bool) -> Any:
    """Re-encoded by another writer (amazon.ion's), read back by ours."""
    oracle = simpleion.loads(ion.dumps_text(value))
    data = simpleion.dumps(oracle, binary=binary)
    data = data if isinstance(data, bytes) else data.encode()
    if binary:
        assert data.startswith(ion.IVM)
    (artefact,) = formats.parse(data, "roundtrip")
    assert isinstance(artefact, RevisionInput)
    return artefact.revision


REENCODINGS: dict[str, Callable[[Any], Any]] = {
    "fields-reversed": _reversed_fields,
    "ion-text": lambda r: _ion_roundtrip(r, binary=False),
    "ion-binary": lambda r: _ion_roundtrip(r, binary=True),
    "fields-reversed-ion-binary": lambda r: _ion_roundtrip(_reversed_fields(r), binary=True),
    "ion-binary-then-text": lambda r: _ion_roundtrip(_ion_roundtrip(r, binary=True), binary=False),
}


@pytest.mark.parametrize(
    ("source", "family"),
    [pytest.param(s, f, id=f"{s.id}-{f}") for s in REVISIONS for f in REENCODINGS],
)
def test_revision_reencoding_still_verifies(source: Source, family: str) -> None:
    original = _revision(source)
    encoded = REENCODINGS[family](original)
    check = proofs.verify_revision(encoded)
    assert check.actual == bytes(original["hash"])
    assert proofs.revision_hash(encoded) == proofs.revision_hash(original)
    if family == "fields-reversed":
        assert list(encoded) != list(original)
        assert list(encoded["metadata"]) == list(original["metadata"])[::-1]


@pytest.mark.parametrize(
    "source", [s for s in REVISIONS if s.name.endswith(".ion")], ids=lambda s: s.id
)
def test_ion_file_binary_reencoding_still_verifies(source: Source) -> None:
    """The whole file (revision or stream record with its envelope) as Ion binary."""
    values = simpleion.loads(source.data, single_value=False)
    data = simpleion.dumps(values, binary=True, sequence_as_stream=True)
    (artefact,) = formats.parse(data, "binary.10n")
    assert isinstance(artefact, RevisionInput)
    assert artefact.kind == source.parse().kind
    assert proofs.verify_revision(artefact.revision).actual == bytes(_revision(source)["hash"])


# JSON history revisions: the same probes on the JSON text, through the JSON -> Ion rule.
JSON_REVISIONS = [s for s in REVISIONS if s.parse().kind == "json-revision"]


def _json_doc(source: Source) -> dict[str, Any]:
    return json.loads(source.data, parse_float=Decimal)


def _json_text_mutants(source: Source, family: str) -> list[tuple[str, bytes]]:
    text = source.data.decode()
    doc = _json_doc(source)
    tx = doc["metadata"]["txTime"]
    out: list[tuple[str, str]] = []
    if family == "txTime-fraction-digits":
        body, offset = tx[:-1], tx[-1]
        assert offset == "Z"
        variants = [body + "0" + offset]
        if body.endswith("0"):
            variants.append(body[:-1] + offset)  # .230Z -> .23Z
        out = [(v, text.replace(f'"{tx}"', f'"{v}"')) for v in variants]
    elif family == "txTime-offset":
        out = [(o, text.replace(f'"{tx}"', f'"{tx[:-1]}{o}"')) for o in ("-00:00", "+01:00")]
    elif family == "txTime-instant":
        changed = tx[:-2] + str((int(tx[-2]) + 1) % 10) + tx[-1]
        out = [(changed, text.replace(f'"{tx}"', f'"{changed}"'))]
    elif family == "version-plus-one":
        v = doc["metadata"]["version"]
        out = [("version+1", text.replace(f'"version": {v}', f'"version": {v + 1}'))]
    elif family == "txId-changed":
        tx_id = doc["metadata"]["txId"]
        out = [("txId", text.replace(tx_id, tx_id[::-1]))]
    elif family == "data-string-changed":
        for key, value in doc["data"].items():
            if isinstance(value, str):
                changed = dict(doc, data=dict(doc["data"], **{key: value + " "}))
                out.append((key, json.dumps(changed, indent=2)))
    elif family == "data-inner-int-to-decimal":  # "year":2021 -> "year":2021.0 inside _val
        for key, value in doc["data"].items():
            if isinstance(value, str) and re.search(r'":\d+[,}]', value):
                new = re.sub(r'(":)(\d+)([,}])', r"\1\2.0\3", value, count=1)
                changed = dict(doc, data=dict(doc["data"], **{key: new}))
                out.append((f"{key}: {new[:40]}", json.dumps(changed, indent=2)))
    elif family == "data-key-renamed":
        for key in doc["data"]:
            renamed = {(k + "_" if k == key else k): v for k, v in doc["data"].items()}
            out.append((key, json.dumps(dict(doc, data=renamed), indent=2)))
    assert all(t != text for _, t in out)
    return [(label, t.encode()) for label, t in out]


JSON_TEXT_FAMILIES = (
    "txTime-fraction-digits",
    "txTime-offset",
    "txTime-instant",
    "version-plus-one",
    "txId-changed",
    "data-string-changed",
    "data-inner-int-to-decimal",
    "data-key-renamed",
)


def _verify_json(data: bytes) -> None:
    (artefact,) = formats.parse(data, "mutant.json")
    assert isinstance(artefact, RevisionInput)
    proofs.verify_revision(artefact.revision)


@pytest.mark.parametrize(
    ("source", "family"),
    [pytest.param(s, f, id=f"{s.id}-{f}") for s in JSON_REVISIONS for f in JSON_TEXT_FAMILIES],
)
def test_json_revision_text_mutation(source: Source, family: str) -> None:
    _expect_rejected(_verify_json, _json_text_mutants(source, family))


@pytest.mark.parametrize("source", JSON_REVISIONS, ids=lambda s: s.id)
def test_json_revision_version_as_decimal_is_malformed(source: Source) -> None:
    """0 -> 0.0 breaks the JSON -> Ion rule (version must be an int): malformed, naming it."""
    text = source.data.decode()
    v = _json_doc(source)["metadata"]["version"]
    mutant = text.replace(f'"version": {v}', f'"version": {v}.0').encode()
    with pytest.raises(MalformedError) as caught:
        _verify_json(mutant)
    assert "metadata.version" in str(caught.value)


def _reverse_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _reverse_keys(v) for k, v in reversed(list(value.items()))}
    return [_reverse_keys(v) for v in value] if isinstance(value, list) else value


def _escape_first_letters(text: str) -> str:
    """``"INV01"`` -> ``"\\u0049NV01"``: the same JSON string written differently."""
    return re.sub(r'(: ")([A-Za-z])', lambda m: m.group(1) + f"\\u{ord(m.group(2)):04x}", text)


JSON_REENCODINGS: dict[str, Callable[[Source], bytes]] = {
    "keys-reversed": lambda s: json.dumps(_reverse_keys(json.loads(s.data))).encode(),
    "compact": lambda s: json.dumps(json.loads(s.data), separators=(",", ":")).encode(),
    "unicode-escapes": lambda s: _escape_first_letters(s.data.decode()).encode(),
    "txTime-Z-as-+00:00": lambda s: s.data.replace(b'Z"', b'+00:00"'),
    "crlf-and-tabs": lambda s: s.data.replace(b"\n", b"\r\n").replace(b"  ", b"\t"),
}


@pytest.mark.parametrize(
    ("source", "family"),
    [pytest.param(s, f, id=f"{s.id}-{f}") for s in JSON_REVISIONS for f in JSON_REENCODINGS],
)
def test_json_revision_reencoding_still_verifies(source: Source, family: str) -> None:
    data = JSON_REENCODINGS[family](source)
    assert data != source.data
    (artefact,) = formats.parse(data, "reencoded.json")
    assert isinstance(artefact, RevisionInput)
    assert proofs.verify_revision(artefact.revision).actual == bytes(_revision(source)["hash"])


# -- blocks: leaf and structure mutations of the hashed parts ------------------------------------
def _block_roots(source: Source) -> tuple[Path_, ...]:
    """The parts of a block that some hash covers: transactionInfo, each revision's data and
    metadata. (blockTimestamp, blockAddress and summaries' documentId are in no hash.)"""
    block = _block(source)
    roots: list[Path_] = [("transactionInfo",)]
    for i, revision in enumerate(block.get("revisions") or []):
        roots += [("revisions", i, key) for key in ("data", "metadata") if key in revision]
    return tuple(roots)


def _block_leaf_params() -> list[Any]:
    return [
        pytest.param(source, family, id=f"{source.id}-{family}")
        for source in BLOCKS
        for family in LEAF_FAMILIES
        if _applicable(lambda s=source: _block(s), _block_roots(source), family)
    ]


@pytest.mark.parametrize(("source", "family"), _block_leaf_params())
def test_block_leaf_mutation(source: Source, family: str) -> None:
    mutants = _leaf_mutants(lambda: _block(source), _block_roots(source), family)
    _expect_rejected(proofs.verify_block, mutants)


@pytest.mark.parametrize(("source", "family"), _structure_params(BLOCKS, _block, _block_roots))
def test_block_structure_mutation(source: Source, family: str) -> None:
    mutants = _structure_mutants(lambda: _block(source), _block_roots(source))[family]
    _expect_rejected(proofs.verify_block, mutants)


@pytest.mark.parametrize("source", BLOCKS, ids=lambda s: s.id)
def test_block_statement_text_changed(source: Source) -> None:
    edits: list[Callable[[str], str]] = [
        lambda s: s + " ",
        lambda s: s.replace("'", '"', 1),
        lambda s: s.upper(),
        lambda s: s.replace("\n", "\\n"),  # the escaping mistake the stream fixture once had
    ]
    mutants = []
    for edit in edits:
        block = _block(source)
        statement = block["transactionInfo"]["statements"][0]
        statement["statement"] = edit(str(statement["statement"]))
        mutants.append((str(statement["statement"])[:30], block))
    _expect_rejected(proofs.verify_block, mutants)


@pytest.mark.parametrize("source", BLOCKS, ids=lambda s: s.id)
def test_block_binary_reencoding_still_verifies(source: Source) -> None:
    original = proofs.verify_block(_block(source))
    for block in (_block(source), _reversed_fields(_block(source))):
        data = simpleion.dumps(simpleion.loads(ion.dumps_text(block)), binary=True)
        (artefact,) = formats.parse(data, "block.10n")
        assert isinstance(artefact, BlockInput)
        result = proofs.verify_block(artefact.block)
        assert result.block_hash == original.block_hash
        assert [c.name for c in result.checks] == [c.name for c in original.checks]


@pytest.mark.parametrize("source", BLOCKS, ids=lambda s: s.id)
def test_block_uncovered_fields_are_reported_not_checked(source: Source) -> None:
    """blockTimestamp is in no QLDB hash: changing it cannot be detected, and the report says so."""
    block = _block(source)
    block["blockTimestamp"] = _timestamp_instant(block["blockTimestamp"])[0]
    proofs.verify_block(block)  # must not raise: nothing covers it
    artefact = BlockInput(source.parse().kind, block)
    item = _status(lambda i: verify.check_block(i, artefact, "b", Policy()))
    assert item.status == "not-proven"  # no digest, and nothing covers blockTimestamp
    assert verify.NOT_COVERED in item.notes


@pytest.mark.parametrize("source", BLOCKS, ids=lambda s: s.id)
def test_block_hash_flip_fails_through_the_auditor(source: Source) -> None:
    for path in _hash_paths(_block(source)):
        block = _block(source)
        _set(block, path, _flip(bytes(_get(block, path)), 0))
        artefact = BlockInput(source.parse().kind, block)
        item = _status(lambda i, a=artefact: verify.check_block(i, a, "b", Policy()))
        assert item.status == "refuted", _show(path)
        failed = item.to_json()["claims"][-1]
        assert failed["status"] == "refuted"
        assert failed["expected"] != failed["actual"]


def _get_block_source() -> Source:
    (source,) = [s for s in BLOCKS if s.parse().kind == "get-block"]
    return source


def _summary_source() -> Source:
    (source,) = [s for s in BLOCKS if s.parse().kind == "stream-block-summary"]
    return source


@pytest.mark.parametrize(
    ("field", "reason"),
    [
        (("transactionId",), "transaction-id"),
        (("revisions", 0, "blockAddress", "strandId"), "block-address"),
        # metadata is hashed, and the hash is checked first: refuted as the hash
        (("revisions", 0, "metadata", "txId"), "revision-hash"),
    ],
    ids=_show,
)
def test_block_links_are_checked(field: Path_, reason: str) -> None:
    """In a GetBlock block each revision names the block's address and transaction."""
    block = _block(_get_block_source())
    _set(block, field, str(_get(block, field))[::-1])
    with pytest.raises(VerificationError) as caught:
        proofs.verify_block(block)
    assert caught.value.reason == reason


def test_block_revision_sequence_number_is_checked() -> None:
    block = _block(_get_block_source())
    address = block["revisions"][0]["blockAddress"]
    address["sequenceNo"] = int(address["sequenceNo"]) + 1
    with pytest.raises(VerificationError) as caught:
        proofs.verify_block(block)
    assert caught.value.reason == "block-address"


def test_block_summary_document_id_is_checked() -> None:
    block = _block(_summary_source())
    summary = block["revisionSummaries"][0]
    summary["documentId"] = str(summary["documentId"])[::-1]
    with pytest.raises(VerificationError) as caught:
        proofs.verify_block(block)
    assert caught.value.reason == "transaction-documents"


@pytest.mark.parametrize(
    "path",
    [("revisions", 0, "hash"), ("revisionSummaries", 0, "hash"), ("entriesHash",), ("blockHash",)],
    ids=_show,
)
def test_block_without_a_hash_field_is_malformed(path: Path_) -> None:
    source = _get_block_source() if path[0] != "revisionSummaries" else _summary_source()
    block = _block(source)
    del _get(block, path[:-1])[path[-1]]
    with pytest.raises(MalformedError) as caught:
        proofs.verify_block(block)
    assert str(path[-1]) in caught.value.locator


def test_block_revision_without_data_is_counted_as_deleted() -> None:
    """Documented limit: a deleted revision's hash rule is unknown: counted, not checked."""
    block = _block(_get_block_source())
    del block["revisions"][0]["data"]
    result = proofs.verify_block(block)
    assert (result.revisions_deleted, result.revisions_verified) == (1, 0)


def test_block_revision_with_data_but_no_metadata_is_rejected() -> None:
    block = _block(_get_block_source())
    revision = block["revisions"][0]
    revision["data"]["City"] = "Tampered"
    del revision["metadata"]
    with pytest.raises(ProofError):
        proofs.verify_block(block)


@pytest.mark.parametrize("field", ["revisions", "revisionSummaries"])
def test_block_with_its_revisions_removed_is_rejected(field: str) -> None:
    source = _get_block_source() if field == "revisions" else _summary_source()
    block = _block(source)
    block[field] = []
    with pytest.raises(ProofError):
        proofs.verify_block(block)


def test_proof_to_a_tip_behind_the_block_fails() -> None:
    (case,) = [c for c in PROOF_CASES if isinstance(c.artefact, BlockInput)]
    tip = case.trusted.tip
    behind = Digest(case.trusted.digest, BlockAddress(tip.strand_id, tip.sequence_no - 24))
    item = _status(lambda i: verify.check_block(i, case.artefact, "b", _policy(behind)))
    assert item.status == "refuted"
    assert [c.name for c in item.claims if c.status == "refuted"] == ["tip-behind-block"]
