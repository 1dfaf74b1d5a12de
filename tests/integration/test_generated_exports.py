"""The independent QLDB-shaped export generator (fixtures/qldb/generate_export.py) against
today's verifier: the committed fixture regenerates byte for byte; every export, receipt and
GetBlock output it wrote verifies with the exit code its manifest gives; the generator is a
second implementation (it imports nothing of the writer or the verifier); and each attack of
fixtures/qldb/mutate_export.py is refused — except the ones QLDB's hashes cannot show, which
are listed as known gaps (strict xfail: they start failing when the verifier learns them)."""

from __future__ import annotations

import ast
import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from auditor.cli import main
from fixtures.qldb import generate_export as gen
from fixtures.qldb import mutate_export as mut
from proofs import fold, merkle_root
from tests.conftest import FIXTURES, ROOT

GENERATED = FIXTURES / "qldb" / "exports" / "generated"
JOURNAL = gen.generate()
LAST = len(JOURNAL.blocks) - 1


def cli(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    return result.exit_code, output


def system_blocks(journal: gen.Journal) -> str:
    """The blocks the auditor knows carry no transactionInfo (QLDB's system blocks): accepted
    by name, as an auditor of a real export would (--accept-opaque-blocks)."""
    return ",".join(str(s) for s, b in enumerate(journal.blocks) if "transactionInfo" not in b)


def verify_export(
    path: Path, *digests: Path, journal: gen.Journal = JOURNAL
) -> tuple[int, dict[str, Any]]:
    """Under QLDB's rules, the journal's own system blocks and deleted revisions accepted: what
    stays unaccepted is what an attack adds."""
    args: list[str | Path] = ["verify", "export", path, "--json", "--accept-deleted",
                              "--accept-opaque-blocks", system_blocks(journal)]  # fmt: skip
    for digest in digests:
        args += ["--digest", digest]
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    return result.exit_code, json.loads(result.stdout)


@pytest.fixture
def digests(tmp_path: Path) -> Path:
    out = tmp_path / "digests"
    out.mkdir()
    for tip in range(len(JOURNAL.blocks)):
        (out / f"{tip}.json").write_text(json.dumps(gen.get_digest(JOURNAL, tip)))
    return out


def write_export(tmp_path: Path, name: str, objects: mut.Objects | None, fmt: str,
                 journal: gen.Journal = JOURNAL, pretty: bool = False) -> Path:  # fmt: skip
    out = tmp_path / name
    gen.write(gen.render_export(journal, fmt, objects, pretty), out)
    return out


# -- the committed fixture ---------------------------------------------------------------------
def test_the_committed_fixture_regenerates() -> None:
    files = gen.build()
    on_disk = {p.relative_to(GENERATED).as_posix() for p in GENERATED.rglob("*") if p.is_file()}
    assert on_disk == set(files), "stale or missing files in exports/generated/"
    for name, data in files.items():
        assert (GENERATED / name).read_bytes() == data, name


def _manifest_checks(known: bool) -> Iterator[Any]:
    manifest = json.loads((GENERATED / "manifest.json").read_text())
    for check in manifest["checks"]:
        if ("known_issue" in check) == known:
            yield pytest.param(check, id=" ".join(check["command"][:2])[:60])


@pytest.mark.parametrize("check", list(_manifest_checks(known=False)))
def test_every_generated_artefact_verifies(
    check: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(GENERATED)
    code, output = cli("verify", *check["command"])
    assert code == check["exit_code"], (check["what"], output)


@pytest.mark.xfail(strict=True, reason="known verifier issue (see the check's known_issue)")
@pytest.mark.parametrize("check", list(_manifest_checks(known=True)))
def test_known_verifier_issues(check: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(GENERATED)
    code, output = cli("verify", *check["command"])
    assert code == check["exit_code"], (check["known_issue"], output)


def test_the_fixture_has_every_shape_it_claims() -> None:
    """The generator's own claims (README), so that a change cannot quietly drop a shape."""
    kinds = set(JOURNAL.kinds)
    assert {"genesis", "system", "ddl", "kvs-batch", "kvs-update", "plain-insert",
            "plain-update", "mixed", "delete", "redaction", "readonly"} <= kinds  # fmt: skip
    blocks = JOURNAL.blocks
    assert blocks[0]["previousBlockHash"] == b""
    assert "transactionInfo" not in blocks[0]
    lengths = {len(b["entriesHashList"]) for b in blocks}
    assert {2, 3, 4, 5} <= lengths, lengths  # powers of two and not
    real_layout = [b for b in blocks if len(b["entriesHashList"]) == 4 and "transactionInfo" in b
                   and b["entriesHashList"][3] == gen.ion_hash(b["transactionInfo"])]  # fmt: skip
    assert len(real_layout) >= 5
    assert any("transactionInfo" not in b and "revisions" not in b for b in blocks)
    assert any(r.keys() == {"hash"} for b in blocks for r in b.get("revisions") or [])
    refs = JOURNAL.revisions
    assert max(r.version for r in refs) >= 2
    assert any(r.deleted for r in refs)
    assert any(r.redacted_by is not None for r in refs)
    redacted = [r for b in blocks for r in b.get("revisions") or [] if "dataHash" in r]
    assert redacted
    assert all("data" not in r for r in redacted)
    assert any(len({r.table for r in refs if r.seq == s}) == 2 for s in range(len(blocks)))
    kvs = [r.original["data"] for r in refs if r.table == gen.KVS_TABLE and not r.deleted]
    assert all("_k" in d for d in kvs)
    assert any(set(d) == {"_k", "_v"} for d in kvs)
    plain = [r.original["data"] for r in refs if r.table == gen.PLAIN_TABLE and not r.deleted]
    assert plain
    assert not any("_k" in d for d in plain)
    keys = [r.key for r in refs if r.key and not r.deleted]
    docs_per_key = {k: {r.doc_id for r in refs if r.key == k} for k in keys}
    assert any(len(d) > 1 for d in docs_per_key.values()), "a deleted key comes back"
    assert len(JOURNAL.object_sizes) >= 5
    params = [s for b in blocks for s in (b.get("transactionInfo") or {}).get("statements", [])]
    assert any("\n" in s["statement"] for s in params)


def test_the_generator_imports_no_writer_or_verifier() -> None:
    allowed = {"amazon.ion", "proofs", "fixtures.qldb.generate_export"}
    for module in ("generate_export.py", "mutate_export.py"):
        tree = ast.parse((FIXTURES / "qldb" / module).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                name = node.module
                if name == "proofs":
                    assert {a.name for a in node.names} <= {"dot", "ion_hash"}, module
            elif isinstance(node, ast.Import):
                name = node.names[0].name
            else:
                continue
            top = name.split(".")[0]
            assert name in allowed or top in sys.stdlib_module_names, (module, name)
    done = subprocess.run(
        [sys.executable, "-c", "import sys, fixtures.qldb.mutate_export; "
         "print(sorted(m for m in sys.modules if m.startswith('auditor')))"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("n", range(1, 70))
def test_the_generators_tree_is_the_engines(n: int) -> None:
    rng = random.Random(n)
    leaves = [rng.randbytes(32) for _ in range(n)]
    root = gen.tree_root(leaves)
    assert root == merkle_root(leaves)
    for i in range(n):
        assert fold(leaves[i], gen.tree_path(leaves, i)) == root


# -- more journals ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "settings",
    [
        gen.Settings(seed=1, blocks=60, max_objects_blocks=20),
        gen.Settings(seed=2, blocks=25, max_objects_blocks=1),
        gen.Settings(seed=3, blocks=90, genesis_previous="absent"),
    ],
    ids=["seed1", "one-block-objects", "genesis-without-previous"],
)
@pytest.mark.parametrize("fmt", ["ion_text", "ion_binary", "pretty"])
def test_other_journals_verify(settings: gen.Settings, fmt: str, tmp_path: Path) -> None:
    journal = gen.generate(settings)
    pretty, fmt = fmt == "pretty", "ion_text" if fmt == "pretty" else fmt
    files = gen.render_export(journal, fmt, pretty=pretty)
    gen.check_rendered(journal, files, fmt)
    export = write_export(tmp_path, "x", None, fmt, journal, pretty)
    last = len(journal.blocks) - 1
    digest = tmp_path / "d.json"
    digest.write_text(json.dumps(gen.get_digest(journal, last)))
    code, report = verify_export(export, digest, journal=journal)
    assert code == 0, (report.get("first_break"), report["verdict"]["claims"])
    assert report["export"]["lastBlock"] == last


@pytest.mark.parametrize("fmt", ["ion_text", "ion_binary"])
def test_values_the_c_extension_misreads(fmt: str, tmp_path: Path) -> None:
    """Timestamps with more than 9 fraction digits, decimal exponents beyond ±6111, many
    annotations: amazon.ion's C extension misread them and the verifier called the genuine
    export tampered (exit 1); the project's reader reads them exactly."""
    journal = gen.generate(replace(gen.Settings(), hard_values=True))
    export = write_export(tmp_path, "x", None, fmt, journal)
    digest = tmp_path / "d.json"
    digest.write_text(json.dumps(gen.get_digest(journal, LAST)))
    assert verify_export(export, digest, journal=journal)[0] == 0


def test_a_redaction_that_names_its_document(tmp_path: Path) -> None:
    """A redaction transaction writes no revision of the document it redacts; its
    redactionInfo names it, and that accounts for it in transactionInfo.documents."""
    journal = gen.generate(replace(gen.Settings(), redaction_lists_document=True))
    export = write_export(tmp_path, "x", None, "ion_text", journal)
    digest = tmp_path / "d.json"
    digest.write_text(json.dumps(gen.get_digest(journal, LAST)))
    assert verify_export(export, digest, journal=journal)[0] == 0


# -- attacks ------------------------------------------------------------------------------------
BASE = mut.objects_of(JOURNAL)
USER_BLOCKS = [s for s, k in enumerate(JOURNAL.kinds) if k not in ("genesis", "system")]
ATTACKS = {
    "drop-block": (mut.drop_block(BASE, 10), {1}),
    "duplicate-block": (mut.duplicate_block(BASE, 10), {1}),
    "swap-blocks": (mut.swap_blocks(BASE, 10, 11), {1}),
    "relabel-block": (mut.relabel_block(BASE, 10, 50), {1}),
    "relabel-block-not-its-revisions": (mut.relabel_block(BASE, 10, 11, revisions=False), {1}),
    "drop-object": (mut.drop_object(BASE, 2), {1}),
    "swap-objects": (mut.swap_objects(BASE, 1, 2), {1}),
    "drop-last-block": (mut.drop_block(BASE, LAST), {1, 2}),  # the digest's tip is not there
    "drop-genesis": (mut.drop_block(BASE, 0), {2, 3}),  # partial: the digest cannot be rebuilt
}


@pytest.mark.parametrize("fmt", ["ion_text", "ion_binary"])
@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_attacks_are_refused(attack: str, fmt: str, tmp_path: Path, digests: Path) -> None:
    objects, codes = ATTACKS[attack]
    export = write_export(tmp_path, attack, objects, fmt)
    code, report = verify_export(export, digests / f"{LAST}.json")
    assert code in codes, (attack, report.get("first_break"))


def test_the_collapse_keeps_every_hash() -> None:
    for seq in USER_BLOCKS:
        collapsed = mut.collapse_transaction(BASE, seq)
        block = next(b for c in collapsed for b in c if b["blockAddress"]["sequenceNo"] == seq)
        original = JOURNAL.blocks[seq]
        assert merkle_root(list(block["entriesHashList"])) == original["entriesHash"]
        assert block["blockHash"] == original["blockHash"]
        assert "transactionInfo" not in block
        assert "revisions" not in block
        assert len(block["entriesHashList"]) < len(original["entriesHashList"])


def _detectable_collapses() -> list[int]:
    """Collapsed user transactions that leave evidence outside their block: a later revision
    of a document the transaction wrote (its version then has a gap), or a redacted revision
    whose redaction disappears."""
    out = []
    for seq in USER_BLOCKS:
        wrote = {r.doc_id for r in JOURNAL.revisions if r.seq == seq}
        later = any(r.doc_id in wrote and r.seq > seq for r in JOURNAL.revisions)
        if later or JOURNAL.kinds[seq] == "redaction":
            out.append(seq)
    return out


@pytest.mark.parametrize("seq", USER_BLOCKS[:3] + _detectable_collapses()[:3])
def test_a_collapsed_transaction_is_never_verified(seq: int, tmp_path: Path, digests: Path) -> None:
    """QLDB's hashes cannot tell a collapsed transaction from a system block: the block is
    named as one without transactionInfo, and only an auditor who accepts it by name (it is
    not one of the journal's system blocks) could get 0."""
    export = write_export(tmp_path, "x", mut.collapse_transaction(BASE, seq), "ion_text")
    code, report = verify_export(export, digests / f"{LAST}.json")
    assert code == 3
    assert seq in report["opaque_blocks"]["blocks"]


def test_a_fork(tmp_path: Path) -> None:
    after = 20
    forked = mut.fork(JOURNAL, after)
    assert forked.block_hashes[: after + 1] == JOURNAL.block_hashes[: after + 1]
    assert forked.block_hashes[after + 1] != JOURNAL.block_hashes[after + 1]
    for tip in range(after + 1):
        assert gen.get_digest(forked, tip) == gen.get_digest(JOURNAL, tip)
    theirs = tmp_path / "theirs.json"
    theirs.write_text(json.dumps(gen.get_digest(forked, LAST)))
    ours = write_export(tmp_path, "ours", None, "ion_binary")
    assert verify_export(ours, theirs)[0] == 1
    shared = tmp_path / "shared.json"
    shared.write_text(json.dumps(gen.get_digest(forked, after)))
    code, report = verify_export(ours, shared)
    assert code == 3  # the shared prefix is attested, the rest by nothing
    assert report["digests"][0]["status"] == "verified"
    fork_export = write_export(tmp_path, "fork", None, "ion_text", forked)
    assert verify_export(fork_export, theirs, journal=forked)[0] == 0


# -- one changed field name or strand ------------------------------------------------------------
RED_SEQ, RED_INDEX = next(
    (s, i)
    for s, b in enumerate(JOURNAL.blocks)
    for i, r in enumerate(b.get("revisions") or [])
    if "dataHash" in r
)
USER_SEQ = JOURNAL.kinds.index("mixed")
REDACTION_SEQ = JOURNAL.kinds.index("redaction")
DATA_INDEX = next(i for i, r in enumerate(JOURNAL.blocks[USER_SEQ]["revisions"]) if "data" in r)
STRAND = JOURNAL.strand_id[:-1] + chr(ord(JOURNAL.strand_id[-1]) ^ 1)  # one bit
# Each a one-bit change (a letter of a field name or of the strand id) that the verifier once
# passed with exit 0 (an unknown field was ignored and the known one then "absent"): now an
# unknown field is malformed and a block of another strand is refuted.
FIELD_GAPS = {
    "transactionInfo": (USER_SEQ, "transactionInfo", "transactionInfn", None),
    "redactionInfo": (REDACTION_SEQ, "redactionInfo", "redactionInfn", None),
    "revisions of a block without user revisions": (REDACTION_SEQ, "revisions", "revisionr", None),
    "blockAddress": (USER_SEQ, "blockAddress", "blockAddresr", None),
    "transactionId": (USER_SEQ, "transactionId", "transactionIe", None),
    "revision data (becomes a delete)": (USER_SEQ, "data", "date", DATA_INDEX),
    "revision blockAddress": (USER_SEQ, "blockAddress", "blockAddresr", DATA_INDEX),
    "revision dataHash (becomes a delete)": (RED_SEQ, "dataHash", "dataHasi", RED_INDEX),
}


@pytest.mark.parametrize("field", sorted(FIELD_GAPS))
def test_a_renamed_field_is_refused(field: str, tmp_path: Path, digests: Path) -> None:
    seq, old, new, revision = FIELD_GAPS[field]
    objects = mut.rename_field(BASE, seq, old, new, revision)
    export = write_export(tmp_path, "x", objects, "ion_binary")
    assert verify_export(export, digests / f"{LAST}.json")[0] in (1, 2)


@pytest.mark.parametrize("seq", [USER_SEQ, JOURNAL.kinds.index("system", 2)])
def test_a_block_of_another_strand_is_refused(seq: int, tmp_path: Path, digests: Path) -> None:
    export = write_export(tmp_path, "x", mut.relabel_strand(BASE, seq, STRAND), "ion_text")
    assert verify_export(export, digests / f"{LAST}.json")[0] in (1, 2)


@pytest.mark.parametrize(
    ("old", "new", "revision"),
    [("revisions", "revisionr", None), ("entriesHash", "entriesHasi", None),
     ("metadata", "metadatq", DATA_INDEX)],
)  # fmt: skip
def test_renamed_fields_it_refuses(
    old: str, new: str, revision: int | None, tmp_path: Path, digests: Path
) -> None:
    export = write_export(tmp_path, "x", mut.rename_field(BASE, USER_SEQ, old, new, revision),
                          "ion_text")  # fmt: skip
    assert verify_export(export, digests / f"{LAST}.json")[0] == 2


# -- single-bit flips ---------------------------------------------------------------------------
# A flip that changes only what no QLDB hash or link covers (blockTimestamp, the transactionId
# of a block without user revisions, a deleted revision's metadata), or that reads as the same
# values, may pass: the verifier can only report such fields as not proven. Every other flip
# must be refused (the verifier reads with the project's strict reader: Ion that amazon.ion's
# C extension normalized, such as an invalid timestamp, is refused now).
FLIPS_PER_FORMAT = int(os.environ.get("QLDB_AUDIT_FLIPS", "40"))  # more: a longer sweep
KNOWN_GAPS: tuple[str, ...] = ()


def _flips(fmt: str) -> list[tuple[str, bytes, bytes, str]]:
    files = gen.render_export(JOURNAL, fmt)
    names = sorted(n for n in files if n.count("/") == 1)
    rng = random.Random(f"flips/{fmt}")
    out = []
    for _ in range(FLIPS_PER_FORMAT):
        name = rng.choice(names)
        data = files[name]
        start, end = rng.choice(mut.block_spans(data, fmt))
        flipped = mut.flip_bit(data, rng.randrange(start * 8, end * 8))
        out.append((name, data, flipped, mut.classify_flip(data, flipped, fmt)))
    return out


@pytest.mark.parametrize("fmt", ["ion_text", "ion_binary"])
def test_single_bit_flips(fmt: str, tmp_path: Path, digests: Path) -> None:
    export = write_export(tmp_path, "x", None, fmt)
    passed_covered, refused = [], 0
    for name, data, flipped, kind in _flips(fmt):
        (export / name).write_bytes(flipped)
        code, _ = verify_export(export, digests / f"{LAST}.json")
        (export / name).write_bytes(data)
        assert code in (0, 1, 2, 3)
        refused += code != 0
        if kind == "covered" and code == 0:
            passed_covered.append(_first_difference(data, flipped))
    unknown = [p for p in passed_covered if not any(g in p for g in KNOWN_GAPS)]
    assert not unknown, unknown
    assert refused > FLIPS_PER_FORMAT // 2


def _first_difference(old: bytes, new: bytes) -> str:
    try:
        values = mut.ion_values(new)
    except Exception:  # noqa: BLE001
        return "unreadable by the pure-Python reader"
    for x, y in zip(mut.ion_values(old), values, strict=True):
        sub = _difference(x, y)
        if sub:
            return sub
    return "?"


def _difference(x: Any, y: Any, path: str = "") -> str:
    if hasattr(x, "keys") and hasattr(y, "keys"):
        if sorted(x) != sorted(y):
            return f"{path} renamed {sorted(set(x) - set(y))} -> {sorted(set(y) - set(x))}"
        for key in x:
            sub = _difference(x[key], y[key], f"{path}.{key}")
            if sub:
                return sub
        return ""
    if isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
        for i, (p, q) in enumerate(zip(x, y, strict=True)):
            sub = _difference(p, q, f"{path}[{i}]")
            if sub:
                return sub
        return ""
    return "" if gen.ion_hash(x) == gen.ion_hash(y) else f"{path} value"


# -- receipts: wrong data is refused --------------------------------------------------------------
def test_a_tampered_receipt_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(GENERATED)
    receipt = sorted((GENERATED / "receipts").glob("kvs-*.json"))[0]
    tip = int(receipt.stem.rsplit("tip", 1)[1])
    digest = f"digests/digest-tip-{tip:03d}.json"
    assert cli("verify", "receipt", receipt, "--digest", digest)[0] == 0
    doc = json.loads(receipt.read_text())
    raw = bytearray(gen.base64.b64decode(doc["RevisionHash"]))
    raw[5] ^= 1
    doc["RevisionHash"] = gen.b64(bytes(raw))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    assert cli("verify", "receipt", bad, "--digest", digest)[0] == 1
    other = f"digests/digest-tip-{LAST if tip != LAST else LAST - 1:03d}.json"
    assert cli("verify", "receipt", receipt, "--digest", other)[0] == 3  # another tip
    checks = json.loads((GENERATED / "manifest.json").read_text())["checks"]
    name = next(
        c["command"][1] for c in checks if c["what"] == "GetRevision output (data revision)"
    )
    revision = json.loads((GENERATED / name).read_text())
    text = revision["Revision"]["IonText"]
    revision["Revision"]["IonText"] = text.replace("version:", "version:1", 1)
    bad.write_text(json.dumps(revision))
    assert cli("verify", "revision", bad)[0] == 1
