"""The writer (auditor.ledger) checked by the proof engine alone.

A generated 64-block ledger (single puts, string values, updates, deletes, re-creations, batches,
redactions) must pass ``proofs.verify_block`` block by block with the expected revision counts,
link into one chain, and give digests, revision/block inclusion proofs and consistency proofs that
verify for EVERY tip (and every pair of tips). Forks, tampered proofs and tampered checkpoints
must fail. Bad input raises ``LedgerError`` (conflicts ``ConflictError``) and writes nothing.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from amazon.ion import simpleion

import proofs
from auditor import ion
from auditor.ledger import ConflictError, Ledger, LedgerError, NotFoundError, Revision
from proofs import MalformedError, VerificationError
from proofs.note import parse_checkpoint, parse_vkey, split_note, verify_note

BLOCKS = 64  # the generated ledger has blocks 0..63
SEED = 20240501
EPOCH = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)
TAMPERED = (VerificationError, MalformedError)


def seeded(seed: int) -> tuple[Callable[[], datetime], Callable[[int], bytes]]:
    """A clock advancing 1.5 ms per call and a seeded byte source: the ledger is reproducible."""
    ticks = iter(range(1 << 62))
    rng = random.Random(seed)
    return (lambda: EPOCH + timedelta(microseconds=1500 * next(ticks))), rng.randbytes


def invoice(rng: random.Random, n: int) -> dict[str, Any]:
    return {
        "billTo": f"Dealer {rng.randrange(1000)}",
        "date": f"2024-05-{1 + n % 28:02d}",
        "paymentStatus": rng.choice(["PENDING", "PAID", "OVERDUE"]),
        "carInfo": {
            "make": rng.choice(["Acme", "Zephyr", "Nordic"]),
            "model": f"M{rng.randrange(10)}",
            "year": 2020 + rng.randrange(5),
            "unitPrice": Decimal(rng.randrange(1_000_000, 9_000_000)).scaleb(-2),
        },
        "quantity": rng.randrange(1, 9),
        "tags": ["fleet", n],
    }


@dataclass
class Generated:
    """The ledger plus what the generator expects of it."""

    ledger: Ledger
    # seq -> kind of each revision in the block, in order ("data", "redacted" or "deleted")
    kinds: dict[int, list[str]] = field(default_factory=dict)
    # every revision ever written: (document id, version) -> (table, key, transaction id)
    written: dict[tuple[str, int], tuple[str, str, str]] = field(default_factory=dict)
    current: dict[tuple[str, str], Any] = field(default_factory=dict)  # None once deleted
    ops: dict[str, int] = field(default_factory=dict)


def _record(g: Generated, revisions: list[Revision], deleted: bool = False) -> None:
    seq = revisions[0].sequence_no
    assert all(r.sequence_no == seq for r in revisions)
    g.kinds[seq] = ["deleted" if deleted else "data"] * len(revisions)
    for r in revisions:
        tx_id = str(r.value["metadata"]["txId"])
        g.written[(r.document_id, r.version)] = (r.table, r.key, tx_id)


def generate(path: Path) -> Generated:
    clock, rng_bytes = seeded(SEED)
    ledger = Ledger.create(
        str(path), "carmaker", tables=["Invoices", "Cars"], clock=clock, rng=rng_bytes
    )
    g = Generated(ledger)
    rng = random.Random(SEED)
    n = 0
    never_deleted: set[tuple[str, str]] = set()
    schedule = ["put", "batch", "update", "string", "delete", "redact", "batch", "recreate"]
    step = 0
    while ledger.tip() < BLOCKS - 1:
        op = schedule[step % len(schedule)]
        step += 1
        table = rng.choice(["Invoices", "Cars"])
        live = sorted(k for k, v in g.current.items() if v is not None)
        dead = sorted(k for k, v in g.current.items() if v is None)
        if step == 20:
            op = "table"
            ledger.create_table("Parts")
            g.kinds[ledger.tip()] = []
        elif op in ("put", "string"):
            key, n = f"INV-{n:04d}", n + 1
            value: Any = invoice(rng, n) if op == "put" else f"memo {n}: ünïcode ✓"
            _record(g, [ledger.put(table, key, value)])
            g.current[(table, key)] = value
            never_deleted.add((table, key))
        elif op == "update" and live:
            table, key = rng.choice(live)
            value = invoice(rng, n)
            version = ledger.revision(table, key).version
            _record(g, [ledger.put(table, key, value, expected_version=version)])
            g.current[(table, key)] = value
        elif op == "batch":
            size = rng.randrange(2, 9)
            items: list[tuple[str, Any]] = []
            for existing in rng.sample(live, min(2, len(live))):
                if existing[0] == table:
                    items.append((existing[1], invoice(rng, n)))
            while len(items) < size:
                key_name, n = f"INV-{n:04d}", n + 1
                items.append((key_name, invoice(rng, n)))
                never_deleted.add((table, key_name))
            _record(g, ledger.put_many(table, items))
            for key_name, value in items:
                g.current[(table, key_name)] = value
        elif op == "delete" and live:
            table, key = rng.choice(live)
            _record(g, [ledger.delete(table, key)], deleted=True)
            g.current[(table, key)] = None
            never_deleted.discard((table, key))
        elif op == "recreate" and dead:
            table, key = rng.choice(dead)
            value = invoice(rng, n)
            revision = ledger.put(table, key, value)
            assert revision.version == 0  # a deleted key comes back as a new document
            _record(g, [revision])
            g.current[(table, key)] = value
        elif op == "redact":
            candidates = sorted(
                (t, k, v)
                for (_, v), (t, k, _) in g.written.items()
                if (t, k) in never_deleted
                and v < ledger.revision(t, k).version
                and ledger.revision(t, k, v).data is not None
            )
            if not candidates:
                continue
            t, k, v = rng.choice(candidates)
            redacted = ledger.redact(t, k, v)
            assert redacted.data is None
            assert "dataHash" in redacted.value
            g.kinds[redacted.sequence_no][_rev_index(ledger, redacted)] = "redacted"
            g.kinds[ledger.tip()] = []
        else:
            continue
        g.ops[op] = g.ops.get(op, 0) + 1
    for seq in range(ledger.tip() + 1):
        g.kinds.setdefault(seq, [])  # genesis, CREATE TABLE
    return g


def _rev_index(ledger: Ledger, revision: Revision) -> int:
    hashes = [bytes(r["hash"]) for r in ledger.block(revision.sequence_no)["revisions"]]
    return hashes.index(revision.hash)


@pytest.fixture(scope="module")
def gen(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Generated]:
    g = generate(tmp_path_factory.mktemp("ledger") / "carmaker.db")
    yield g
    g.ledger.close()


@pytest.fixture(scope="module")
def block_hashes(gen: Generated) -> list[bytes]:
    return [bytes(gen.ledger.block(seq)["blockHash"]) for seq in range(gen.ledger.tip() + 1)]


@pytest.fixture(scope="module")
def digests(gen: Generated) -> list[bytes]:
    return [gen.ledger.digest(tip).digest for tip in range(gen.ledger.tip() + 1)]


def all_revisions(g: Generated) -> list[Revision]:
    """Every stored revision (redacted ones in their redacted form), by document and tx id."""
    return [g.ledger.revision_by_doc_and_tx(doc, tx) for (doc, _), (_, _, tx) in g.written.items()]


# -- the generated ledger --------------------------------------------------------------------
def test_generator_exercised_every_operation(gen: Generated) -> None:
    assert gen.ledger.tip() == BLOCKS - 1
    for op in ("put", "batch", "update", "string", "delete", "redact", "recreate"):
        assert gen.ops.get(op, 0) >= 2, f"{op} ran {gen.ops.get(op, 0)} times"
    assert gen.ledger.verify_journal() == BLOCKS


def test_every_block_verifies_with_the_expected_revision_counts(gen: Generated) -> None:
    totals = {"data": 0, "redacted": 0, "deleted": 0}
    previous = b""
    for seq in range(gen.ledger.tip() + 1):
        block = gen.ledger.block(seq)
        result = proofs.verify_block(block)
        kinds = gen.kinds[seq]
        counts = (kinds.count("data"), kinds.count("redacted"), kinds.count("deleted"))
        got = (result.revisions_verified, result.revisions_redacted, result.revisions_deleted)
        assert got == counts, f"block {seq}"
        assert result.revisions_system == 0
        assert (result.strand_id, result.sequence_no) == (gen.ledger.strand_id, seq)
        assert bytes(block["previousBlockHash"]) == previous, f"block {seq} does not link"
        previous = result.block_hash
        for kind in kinds:
            totals[kind] += 1
    assert min(totals.values()) >= 2, totals


def test_a_changed_field_in_a_stored_block_fails_verification(gen: Generated) -> None:
    changed = 0
    for seq in range(gen.ledger.tip() + 1):
        block = gen.ledger.block(seq)
        for revision in block["revisions"]:
            if "data" in revision and "quantity" in revision["data"]:
                revision["data"]["quantity"] += 1
                with pytest.raises(VerificationError, match="revision"):
                    proofs.verify_block(block)
                changed += 1
                break
    assert changed > 10


def test_stored_blocks_equal_the_exported_blob(gen: Generated) -> None:
    blobs = list(gen.ledger.blocks())
    assert len(blobs) == BLOCKS
    for seq, blob in enumerate(blobs):
        assert ion.same(ion.loads(blob, "blob"), [gen.ledger.block(seq)])
        assert simpleion.loads(blob) == simpleion.loads(ion.dumps_binary([gen.ledger.block(seq)]))


def test_current_values_read_back(gen: Generated) -> None:
    for (table, key), value in gen.current.items():
        got = gen.ledger.get(table, key)
        if value is None:
            assert got is None
        elif isinstance(value, str):
            assert got == {"_k": key, "_v": value}
        else:
            assert got == {**value, "_k": key}


def test_history_lists_every_version_in_order(gen: Generated) -> None:
    for table, key in gen.current:
        history = gen.ledger.history(table, key)
        assert [r.sequence_no for r in history] == sorted(r.sequence_no for r in history)
        assert len(history) == sum(
            1 for (t, k, _) in gen.written.values() if (t, k) == (table, key)
        )


def test_revision_hashes_recompute(gen: Generated) -> None:
    for revision in all_revisions(gen):
        if "data" in revision.value or "dataHash" in revision.value:
            assert proofs.revision_hash(revision.value) == revision.hash


def test_digest_is_the_merkle_root_of_block_hashes_for_every_tip(
    gen: Generated, block_hashes: list[bytes], digests: list[bytes]
) -> None:
    for tip in range(len(block_hashes)):
        signed = gen.ledger.digest(tip)
        assert (signed.tip, signed.strand_id) == (tip, gen.ledger.strand_id)
        assert signed.digest == proofs.merkle_root(block_hashes[: tip + 1]) == digests[tip]


def test_every_revision_proof_folds_to_every_later_digest(
    gen: Generated, digests: list[bytes]
) -> None:
    checked = 0
    for revision in all_revisions(gen):
        for tip in range(revision.sequence_no, len(digests)):
            proof = gen.ledger.revision_proof(revision, tip)
            proofs.verify_proof(revision.hash, proof, digests[tip])
            checked += 1
    assert checked > 1000


def test_every_block_proof_folds_to_every_later_digest(
    gen: Generated, block_hashes: list[bytes], digests: list[bytes]
) -> None:
    for seq, block_hash in enumerate(block_hashes):
        for tip in range(seq, len(digests)):
            proofs.verify_proof(block_hash, gen.ledger.block_proof(seq, tip), digests[tip])


def test_consistency_proofs_verify_for_every_pair_of_tips(
    gen: Generated, digests: list[bytes]
) -> None:
    for old in range(len(digests)):
        for new in range(old, len(digests)):
            proof = gen.ledger.consistency_proof(old, new)
            proofs.verify_consistency(digests[old], digests[new], proof, old_tip=old, new_tip=new)


def test_proofs_out_of_range_are_refused(gen: Generated) -> None:
    tip = gen.ledger.tip()
    with pytest.raises(NotFoundError):
        gen.ledger.digest(tip + 1)
    with pytest.raises(NotFoundError):
        gen.ledger.block_proof(5, 4)
    with pytest.raises(NotFoundError):
        gen.ledger.consistency_proof(6, 5)
    with pytest.raises(NotFoundError):
        gen.ledger.consistency_proof(0, tip + 1)
    with pytest.raises(NotFoundError):
        gen.ledger.block(tip + 1)


# -- mutation probes: every tampered proof element is caught --------------------------------------
def flips(proof: list[bytes]) -> Iterator[list[bytes]]:
    """Each element with one bit flipped; each element dropped, duplicated; neighbours swapped;
    a foreign hash inserted."""
    for i, element in enumerate(proof):
        for bit in (0, 7 * 8 + 3, 255):
            flipped = bytearray(element)
            flipped[bit // 8] ^= 1 << (bit % 8)
            yield [*proof[:i], bytes(flipped), *proof[i + 1 :]]
        yield proof[:i] + proof[i + 1 :]
        yield [*proof[:i], element, *proof[i:]]
        if i + 1 < len(proof) and proof[i] != proof[i + 1]:
            yield [*proof[:i], proof[i + 1], proof[i], *proof[i + 2 :]]
    yield [*proof, bytes(32)]
    yield [*proof, b"\x01" * 31]


def test_tampered_revision_and_block_proofs_fail(
    gen: Generated, block_hashes: list[bytes], digests: list[bytes]
) -> None:
    revisions = all_revisions(gen)
    tip = len(digests) - 1
    for revision in revisions[:: max(1, len(revisions) // 12)]:
        proof = gen.ledger.revision_proof(revision, tip)
        for bad in flips(proof):
            # dot is commutative, but a fold is not: every probe must change the result
            with pytest.raises(TAMPERED):
                proofs.verify_proof(revision.hash, bad, digests[tip])
    for seq in (0, 1, 17, 31, 32, tip):
        for bad in flips(gen.ledger.block_proof(seq, tip)):
            with pytest.raises(TAMPERED):
                proofs.verify_proof(block_hashes[seq], bad, digests[tip])


@pytest.mark.parametrize(("old", "new"), [(0, 63), (1, 2), (3, 40), (7, 8), (15, 63), (31, 33)])
def test_tampered_consistency_proofs_fail(
    gen: Generated, digests: list[bytes], old: int, new: int
) -> None:
    proof = gen.ledger.consistency_proof(old, new)
    assert proof
    for bad in flips(proof):
        with pytest.raises(TAMPERED):
            proofs.verify_consistency(digests[old], digests[new], bad, old_tip=old, new_tip=new)
    for wrong in ((old, new + 1), (old + 1, new)):
        if wrong[0] <= wrong[1] < len(digests):
            with pytest.raises(TAMPERED):
                proofs.verify_consistency(
                    digests[wrong[0]], digests[wrong[1]], proof, old_tip=old, new_tip=new
                )


# -- a fork: same seed, same first blocks, different data afterwards ------------------------------
def _forked_pair(tmp_path: Path) -> tuple[Ledger, Ledger, int]:
    """Two ledgers built from the same clock and rng seed, identical up to block ``fork - 1``."""
    ledgers = []
    for name in ("a", "b"):
        clock, rng_bytes = seeded(7)
        ledger = Ledger.create(
            str(tmp_path / f"{name}.db"), "forked", tables=["T"], clock=clock, rng=rng_bytes
        )
        for i in range(10):
            ledger.put("T", f"k{i}", {"n": i, "price": Decimal("10.05")})
        ledger.put_many("T", [(f"b{i}", {"n": i}) for i in range(3)])
        ledgers.append(ledger)
    a, b = ledgers
    fork = a.tip() + 1
    a.put("T", "k3", {"n": 3, "price": Decimal("10.05")})
    b.put("T", "k3", {"n": 3, "price": Decimal("99.99")})  # rewritten history
    for i in range(10, 17):
        a.put("T", f"k{i}", {"n": i})
        b.put("T", f"k{i}", {"n": i})
    return a, b, fork


def test_a_fork_fails_consistency(tmp_path: Path) -> None:
    a, b, fork = _forked_pair(tmp_path)
    tip = a.tip()
    assert tip == b.tip() == fork + 7
    for seq in range(fork):
        assert a.block(seq)["blockHash"] == b.block(seq)["blockHash"], "the prefix must match"
    assert a.block(fork)["blockHash"] != b.block(fork)["blockHash"]
    assert a.verify_journal() == b.verify_journal() == tip + 1
    da = [a.digest(t).digest for t in range(tip + 1)]
    db = [b.digest(t).digest for t in range(tip + 1)]
    for old in range(tip + 1):
        for new in range(max(old + 1, fork), tip + 1):
            # the auditor holds a's digest at `old`; b claims its digest at `new` extends it
            proof = b.consistency_proof(old, new)
            if old < fork:  # before the fork a and b agree: b honestly extends the prefix
                proofs.verify_consistency(da[old], db[new], proof, old_tip=old, new_tip=new)
            else:
                with pytest.raises(TAMPERED):
                    proofs.verify_consistency(da[old], db[new], proof, old_tip=old, new_tip=new)
            # a's own proof never carries a's digest to b's
            with pytest.raises(TAMPERED):
                proofs.verify_consistency(
                    da[old], db[new], a.consistency_proof(old, new), old_tip=old, new_tip=new
                )
    for seq in range(fork, tip + 1):  # b's blocks after the fork are not in a's digests
        for at in range(seq, tip + 1):
            with pytest.raises(VerificationError):
                proofs.verify_proof(
                    bytes(b.block(seq)["blockHash"]), b.block_proof(seq, at), da[at]
                )
    a.close()
    b.close()


# -- signed checkpoints ------------------------------------------------------------------------
def test_checkpoints_verify_and_parse_for_every_tip(gen: Generated, digests: list[bytes]) -> None:
    key = parse_vkey(gen.ledger.vkey)
    for tip, digest in enumerate(digests):
        signed = gen.ledger.digest(tip)
        result = verify_note(signed.checkpoint, [key])
        assert result.trusted_signers == ("carmaker",)
        checkpoint = parse_checkpoint(result.text)
        assert (checkpoint.tip, checkpoint.digest) == (tip, digest)
        assert (checkpoint.ledger, checkpoint.strand_id) == ("carmaker", gen.ledger.strand_id)
        assert signed.get_digest_json()["DigestTipAddress"]["IonText"].endswith(f":{tip}}}")


def _rejected(note: str, key: Any, digest: bytes, tip: int) -> bool:
    try:
        result = verify_note(note, [key])
        checkpoint = parse_checkpoint(result.text)
    except TAMPERED:
        return True
    # a renamed key is just an untrusted signer: nothing vouches for the note
    return not result.trusted_signers or (checkpoint.tip, checkpoint.digest) != (tip, digest)


def test_a_bit_flip_anywhere_in_the_checkpoint_is_rejected(gen: Generated) -> None:
    key = parse_vkey(gen.ledger.vkey)
    signed = gen.ledger.digest(40)
    raw = signed.checkpoint.encode()
    text, _ = split_note(signed.checkpoint)
    assert len(text) < len(raw)  # the flips below cover the text and the signature line
    tried = 0
    for i in range(len(raw)):
        for bit in range(8):
            mutated = bytearray(raw)
            mutated[i] ^= 1 << bit
            try:
                note = mutated.decode()
            except UnicodeDecodeError:
                continue  # not a string any more: the str API cannot even receive it
            tried += 1
            assert _rejected(note, key, signed.digest, 40), f"byte {i} bit {bit} accepted"
    assert tried > 6 * len(raw)


def test_a_checkpoint_from_another_key_is_not_trusted(gen: Generated, tmp_path: Path) -> None:
    other = Ledger.create(str(tmp_path / "other.db"), "carmaker")
    result = verify_note(gen.ledger.digest().checkpoint, [parse_vkey(other.vkey)])
    assert result.trusted_signers == ()
    other.close()


def test_key_file_is_private(gen: Generated) -> None:
    assert Path(gen.ledger.key_path).stat().st_mode & 0o777 == 0o600


# -- bad input writes nothing ------------------------------------------------------------------
@pytest.fixture
def small(tmp_path: Path) -> Iterator[Ledger]:
    """a: v0 (redacted), v1; gone: v0, v1 (deleted)."""
    ledger = Ledger.create(
        str(tmp_path / "small.db"), "small", tables=["T", "U"], max_document_bytes=512
    )
    ledger.put("T", "a", {"n": 1})
    ledger.put("T", "a", {"n": 2})
    ledger.redact("T", "a", 0)
    ledger.put("T", "gone", {"n": 1})
    ledger.delete("T", "gone")
    yield ledger
    ledger.close()


BAD_WRITES: list[tuple[str, str, Callable[[Ledger], Any]]] = [
    ("value", "list value", lambda lg: lg.put("T", "x", [1, 2])),
    ("value", "int value", lambda lg: lg.put("T", "x", 5)),
    ("value", "None value", lambda lg: lg.put("T", "x", None)),
    ("value", "bytes value", lambda lg: lg.put("T", "x", b"raw")),
    ("value", "bool value", lambda lg: lg.put("T", "x", True)),
    ("float", "float at the top", lambda lg: lg.put("T", "x", {"price": 1.5})),
    ("float", "float nested", lambda lg: lg.put("T", "x", {"car": {"unitPrice": 89000.5}})),
    ("float", "float in a list", lambda lg: lg.put("T", "x", {"prices": [Decimal(1), 2.0]})),
    ("float", "float on update", lambda lg: lg.put("T", "a", {"n": 0.5})),
    ("type", "a set", lambda lg: lg.put("T", "x", {"s": {1, 2}})),
    ("type", "a datetime", lambda lg: lg.put("T", "x", {"d": EPOCH})),
    ("field-name", "int field name", lambda lg: lg.put("T", "x", {1: "one"})),
    ("too-large", "over the cap", lambda lg: lg.put("T", "x", {"pad": "x" * 600})),
    ("too-large", "string over the cap", lambda lg: lg.put("T", "x", "y" * 600)),
    ("no-table", "unknown table", lambda lg: lg.put("Nope", "x", {"n": 1})),
    ("no-table", "unknown table in get", lambda lg: lg.get("Nope", "x")),
    ("key", "empty key", lambda lg: lg.put("T", "", {"n": 1})),
    ("key", "non-string key", lambda lg: lg.put("T", 7, {"n": 1})),  # type: ignore[arg-type]
    ("key", "key too long", lambda lg: lg.put("T", "k" * 1025, {"n": 1})),
    ("key-field", "_k disagrees", lambda lg: lg.put("T", "x", {"_k": "y"})),
    ("latest", "redact the latest", lambda lg: lg.redact("T", "a", 1)),
    ("not-redactable", "redact twice", lambda lg: lg.redact("T", "a", 0)),
    ("latest", "redact a deletion", lambda lg: lg.redact("T", "gone", 1)),
    ("no-revision", "redact a missing version", lambda lg: lg.redact("T", "a", 9)),
    ("no-key", "delete a missing key", lambda lg: lg.delete("T", "nobody")),
    ("no-key", "delete a deleted key", lambda lg: lg.delete("T", "gone")),
    ("empty", "empty batch", lambda lg: lg.put_many("T", [])),
    (
        "duplicate-key",
        "batch with a duplicate key",
        lambda lg: lg.put_many("T", [("x", {"n": 1}), ("y", {"n": 2}), ("x", {"n": 3})]),
    ),
    (
        "float",
        "batch with one float",
        lambda lg: lg.put_many("T", [("x", {"n": 1}), ("y", {"n": 2.5})]),
    ),
    (
        "too-large",
        "batch with one oversized document",
        lambda lg: lg.put_many("T", [("x", {"n": 1}), ("y", {"pad": "x" * 600})]),
    ),
    ("table-exists", "create an existing table", lambda lg: lg.create_table("T")),
    ("table-name", "bad table name", lambda lg: lg.create_table("a b")),
]


def _snapshot(ledger: Ledger) -> tuple[Any, ...]:
    return (
        ledger.tip(),
        ledger.digest().digest,
        ledger.get("T", "a"),
        ledger.get("T", "x"),
        ledger.get("T", "y"),
        sorted(ledger.tables()),
        [r.version for r in ledger.history("T", "a")],
    )


@pytest.mark.parametrize(("reason", "write"), [(b[0], b[2]) for b in BAD_WRITES],
                         ids=[b[1] for b in BAD_WRITES])  # fmt: skip
def test_bad_input_raises_ledger_error_and_writes_nothing(
    small: Ledger, reason: str, write: Callable[[Ledger], Any]
) -> None:
    before = _snapshot(small)
    with pytest.raises(LedgerError) as raised:
        write(small)
    assert raised.value.reason == reason
    assert not isinstance(raised.value, ConflictError)  # the CLI's exit 2, not 1
    assert not hasattr(raised.value, "exit_code")  # the CLI maps errors to exit codes
    assert _snapshot(small) == before
    small.verify_journal()
    small.put("T", "after", {"ok": True})  # the ledger is still writable
    assert small.tip() == before[0] + 1


CONFLICTS: list[tuple[str, Callable[[Ledger], Any]]] = [
    ("stale version", lambda lg: lg.put("T", "a", {"n": 3}, expected_version=0)),
    ("future version", lambda lg: lg.put("T", "a", {"n": 3}, expected_version=2)),
    ("missing key", lambda lg: lg.put("T", "x", {"n": 3}, expected_version=0)),
    ("deleted key", lambda lg: lg.put("T", "gone", {"n": 3}, expected_version=1)),
    ("delete stale", lambda lg: lg.delete("T", "a", expected_version=0)),
    (
        "one stale item in a batch",
        lambda lg: lg.put_many("T", [("x", {"n": 1}), ("a", {"n": 3}, 0), ("y", {"n": 1})]),
    ),
]


@pytest.mark.parametrize("write", [c[1] for c in CONFLICTS], ids=[c[0] for c in CONFLICTS])
def test_conflicts_raise_conflict_error_and_write_nothing(
    small: Ledger, write: Callable[[Ledger], Any]
) -> None:
    before = _snapshot(small)
    with pytest.raises(ConflictError) as raised:
        write(small)
    assert raised.value.reason == "version-conflict"
    assert _snapshot(small) == before


def test_matching_expected_versions_commit(small: Ledger) -> None:
    assert small.put("T", "a", {"n": 3}, expected_version=1).version == 2
    revisions = small.put_many("T", [("a", {"n": 4}, 2), ("x", {"n": 1})])
    assert [r.version for r in revisions] == [3, 0]
    assert small.delete("T", "a", expected_version=3).version == 4
    assert small.get("T", "a") is None


def test_create_refuses_existing_files(tmp_path: Path) -> None:
    Ledger.create(str(tmp_path / "l.db"), "l").close()
    with pytest.raises(LedgerError, match="already exists"):
        Ledger.create(str(tmp_path / "l.db"), "l")
    with pytest.raises(NotFoundError):
        Ledger.open(str(tmp_path / "missing.db"))


# -- JSON -> Ion: decimals are exact ------------------------------------------------------------
def test_decimals_are_stored_exactly(small: Ledger) -> None:
    car = {"make": "Acme", "model": "GT", "year": 2024, "unitPrice": Decimal("89000.50")}
    revision = small.put("U", "INV-1", {"billTo": "Dealer", "carInfo": car, "quantity": 2})
    price = small.get("U", "INV-1")["carInfo"]["unitPrice"]
    assert isinstance(price, Decimal)
    assert price.as_tuple() == Decimal("89000.50").as_tuple()  # the trailing zero survives
    assert str(price) == "89000.50"
    assert "unitPrice:89000.50" in revision.ion_text()
    assert "unitPrice:89000.50" in small.revision("U", "INV-1").ion_text()
    # 89000.5 is a different Ion decimal: a different data hash
    other = small.put(
        "U",
        "INV-2",
        {"billTo": "Dealer", "carInfo": {**car, "unitPrice": Decimal("89000.5")}, "quantity": 2},
    )
    assert proofs.ion_hash(revision.data["carInfo"]) != proofs.ion_hash(other.data["carInfo"])


# -- regressions: bugs these tests found (fixed in 3836a88) -------------------------------------
def test_verify_journal_with_a_concurrent_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """verify_journal used to hash the blocks up to the tip it read first, then compare with
    digest() at the *current* tip: a block appended meanwhile failed a healthy ledger."""
    ledger = Ledger.create(str(tmp_path / "l.db"), "l", tables=["T"])
    writer = Ledger.open(ledger.path)  # another connection, as another process would have
    real = proofs.verify_block
    appended: list[int] = []

    def verify_block_then_append(*args: Any, **kwargs: Any) -> proofs.BlockResult:
        if not appended:  # a concurrent writer commits while the journal is being read
            appended.append(writer.put("T", "k", "v").sequence_no)
        return real(*args, **kwargs)

    monkeypatch.setattr(proofs, "verify_block", verify_block_then_append)
    try:
        assert ledger.verify_journal() == 2  # the blocks it read: genesis, CREATE TABLE
        assert appended == [2]
        assert ledger.verify_journal() == 3
    finally:
        writer.close()
        ledger.close()


SURROGATES: list[tuple[str, Callable[[Ledger], Any]]] = [
    ("in a string value", lambda lg: lg.put("T", "x", "\udc80")),
    ("in a field value", lambda lg: lg.put("T", "x", {"name": "\ud800"})),
    ("in a nested list", lambda lg: lg.put("T", "x", {"tags": ["ok", "\ud800"]})),
    ("in a key", lambda lg: lg.put("T", "\udc80", "x")),
    ("in a batch", lambda lg: lg.put_many("T", [("y", {"n": 1}), ("x", "\udc80")])),
]


@pytest.mark.parametrize("write", [s[1] for s in SURROGATES], ids=[s[0] for s in SURROGATES])
def test_lone_surrogates_raise_ledger_error_and_write_nothing(
    small: Ledger, write: Callable[[Ledger], Any]
) -> None:
    """A lone surrogate is not encodable as UTF-8, so not an Ion string: it used to raise
    UnicodeEncodeError or SystemError from amazon.ion's C writer."""
    before = _snapshot(small)
    with pytest.raises(LedgerError):
        write(small)
    assert _snapshot(small) == before
    small.put("T", "after", {"ok": True})


HANG_SCRIPT = """
import sys
from decimal import Decimal
from auditor.ledger import Ledger, LedgerError
values = {
    "NaN": {"price": Decimal("NaN")},
    "-Infinity": {"price": Decimal("-Infinity")},
    "sNaN in a list": {"prices": [Decimal("1.00"), Decimal("sNaN")]},
    "surrogate field name": {"\\ud800": "v"},
}
ledger = Ledger.open(sys.argv[1])
try:
    ledger.put("T", "x", values[sys.argv[2]])
    print("accepted")
except LedgerError as e:
    print("refused", e.reason)
"""


def test_unencodable_values_are_refused_promptly(small: Ledger, tmp_path: Path) -> None:
    """put() used to never return for these: amazon.ion's C writer spins at 100% CPU inside
    simpleion.dumps (one bad request hung a writer thread for good). Run in child processes,
    in parallel, so that a regression fails this test instead of hanging the suite."""
    script = tmp_path / "hang.py"
    script.write_text(HANG_SCRIPT)
    cases = ["NaN", "-Infinity", "sNaN in a list", "surrogate field name"]
    children = {
        case: subprocess.Popen(
            [sys.executable, str(script), small.path, case],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for case in cases
    }
    deadline = time.monotonic() + 10
    outcome = {}
    for case, child in children.items():
        try:
            out, err = child.communicate(timeout=max(0.1, deadline - time.monotonic()))
            outcome[case] = out.strip() or err.strip()[-300:]
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()
            outcome[case] = "hung"
    assert all(o.startswith("refused") for o in outcome.values()), outcome
    assert small.get("T", "x") is None


@pytest.mark.parametrize("where", ["past the tip", "hash not in its block"])
def test_revision_proof_of_a_foreign_revision_is_not_found(
    small: Ledger, gen: Generated, where: str
) -> None:
    """It used to raise TypeError (no such block) or StopIteration (hash not in the block)."""
    foreign = all_revisions(gen)[-1]
    if where == "hash not in its block":
        foreign = replace(foreign, sequence_no=small.revision("T", "a").sequence_no)
    with pytest.raises(NotFoundError):
        small.revision_proof(foreign, small.tip())


def test_a_float_in_a_read_modify_write_is_refused(small: Ledger) -> None:
    """A float inside a struct get() returned, updated in place (amazon.ion's IonPyDict once
    skipped the float check and stored an Ion float): refused."""
    value = small.get("T", "a")
    assert type(value) is dict  # get() returns the Ion value model's struct
    value["n"] = 2.5
    before = _snapshot(small)
    with pytest.raises(LedgerError) as raised:
        small.put("T", "a", value)
    assert raised.value.reason == "float"
    assert _snapshot(small) == before
    value["n"] = Decimal("2.5")
    assert small.put("T", "a", value).data["n"] == Decimal("2.5")


def test_an_earlier_incarnation_of_a_key_can_be_read_and_redacted(small: Ledger) -> None:
    """A key deleted and written again is a new document; (table, key, version) used to reach
    only the newest one, so the deleted document's data could never be redacted."""
    small.put("T", "k", {"secret": "old-0"})
    small.put("T", "k", {"secret": "old-1"})
    small.delete("T", "k")
    small.put("T", "k", {"secret": "new-0"})
    small.put("T", "k", {"secret": "new-1"})
    history = small.history("T", "k")
    old, new = history[0].document_id, history[-1].document_id
    assert old != new
    assert small.revision("T", "k", 1).data["secret"] == "new-1"  # the newest document
    assert small.revision("T", "k", 1, document_id=old).data["secret"] == "old-1"
    with pytest.raises(LedgerError) as raised:
        small.redact("T", "k", 2, document_id=old)  # the deletion is the old one's latest
    assert raised.value.reason == "latest"
    redacted = small.redact("T", "k", 1, document_id=old)
    assert (redacted.document_id, redacted.version, redacted.data) == (old, 1, None)
    assert small.revision("T", "k", 1).data["secret"] == "new-1"
    assert small.get("T", "k") == {"secret": "new-1", "_k": "k"}
    counts = proofs.verify_block(small.block(redacted.sequence_no))
    assert counts.revisions_redacted == 1
    assert small.verify_journal() == small.tip() + 1
