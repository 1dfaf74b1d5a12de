"""Fuzz every parser: mutated seeds of ``fixtures/fuzz/`` either parse or are refused with the
parser's documented error type, in time (see harness.py).

Targets and their documented refusals:

- ``ion-text``, ``ion-binary``: :func:`auditor.ion.loads`, :func:`~auditor.ion.stream`,
  :func:`~auditor.ion.stream_items` → ``IonError`` (a ``proofs.MalformedError``);
- ``formats``: :func:`auditor.formats.parse` (digests, GetRevision/GetBlock outputs, receipts,
  revisions as Ion and JSON, bundles, consistency files, stream records) → ``MalformedError``;
- ``json``: :func:`auditor.formats.loads_json` (the JSON → Ion rule) → ``ValueError``;
- ``note``: :func:`proofs.note.check_note` and :func:`~proofs.note.parse_checkpoint` →
  ``MalformedError``; ``vkey``: :func:`proofs.note.parse_vkey` → ``MalformedError``;
- ``codec``: :func:`auditor.ledger.codec.decode` (ledger rows) → ``DamagedError``;
- ``state``: :meth:`auditor.audit.state.State.load` → ``MalformedError`` (with a key, a MAC
  that does not verify: ``VerificationError``);
- ``manifest``: :func:`auditor.audit.layout.locate` over an export directory whose manifest
  is the input → ``LayoutError``;
- ``object``: :func:`auditor.audit.objects.verify_object` never raises: every problem is an
  issue of its result, and none may be an ``unexpected-shape`` (an exception no check foresaw).
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from hypothesis import given

import auditor.ion as ion
from auditor import formats
from auditor.audit.layout import LayoutError, locate
from auditor.audit.model import ObjectSpec
from auditor.audit.objects import verify_object
from auditor.audit.source import Source
from auditor.audit.state import State
from auditor.ledger import codec
from auditor.ledger.errors import DamagedError
from proofs import MalformedError, VerificationError
from proofs.note import check_note, parse_checkpoint, parse_vkey
from tests.fuzz.harness import (
    PARSE_BUDGET,
    FuzzFailureError,
    fuzz_settings,
    inputs,
    refused,
    run,
    seeds,
)

KEY = parse_vkey(seeds("vkey")[0][1].decode().strip())  # carmaker.vkey


@pytest.fixture(autouse=True)
def _budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QLDB_AUDIT_PARSE_BUDGET", PARSE_BUDGET)


# -- checks: bytes -> outcome label ------------------------------------------------------------
def check_ion(data: bytes) -> str:
    outcome = "ok"
    try:
        ion.loads(data, "fuzz")
    except ion.IonError as e:
        outcome = refused("ion", e)
    try:
        list(ion.stream(io.BytesIO(data), "fuzz", chunk_size=7))
    except ion.IonError as e:
        refused("ion", e)
    try:
        for _, _, _, error in ion.stream_items(io.BytesIO(data), "fuzz", chunk_size=5):
            if error is not None and not isinstance(error, ion.IonError):
                raise FuzzFailureError(f"stream_items yielded {error!r}")
    except ion.IonError as e:
        refused("ion", e)
    return outcome


def check_formats(data: bytes) -> str:
    try:
        formats.parse(data, "fuzz.json")
    except MalformedError as e:
        return refused("formats", e)
    return "ok"


def check_json(data: bytes) -> str:
    try:
        formats.loads_json(data)
    except ValueError as e:
        return type(e).__name__
    return "ok"


def check_note_(data: bytes) -> str:
    try:
        result = check_note(data, [KEY])
    except MalformedError as e:
        return refused("note", e)
    try:
        parse_checkpoint(result.text)
    except MalformedError as e:
        return refused("checkpoint", e)
    return "ok"


def check_vkey(data: bytes) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "not-utf8"  # the CLI's key-file reader refuses it before parse_vkey
    try:
        parse_vkey(text)
    except MalformedError as e:
        return refused("vkey", e)
    return "ok"


def check_codec(data: bytes) -> str:
    try:
        codec.decode(data, "ledger.db: revisions row 1")
    except DamagedError as e:
        return refused("codec", e)
    return "ok"


# -- targets -----------------------------------------------------------------------------------
ION_TEXT = seeds("ion-text")
ION_BINARY = seeds("ion-binary")
FORMATS = seeds("formats-json", "ion-text", "ion-binary")
NOTES = seeds("note")
VKEYS = seeds("vkey")
ROWS = seeds("codec")
STATES = seeds("state")
MANIFESTS = seeds("manifest")
OBJECTS = seeds("object")


@fuzz_settings(400)
@given(inputs(ION_TEXT))
def test_fuzz_ion_text(case: tuple[str, bytes]) -> None:
    run("ion-text", case[1], check_ion)


@fuzz_settings(400)
@given(inputs(ION_BINARY))
def test_fuzz_ion_binary(case: tuple[str, bytes]) -> None:
    run("ion-binary", case[1], check_ion)


@fuzz_settings(500)
@given(inputs(FORMATS))
def test_fuzz_formats(case: tuple[str, bytes]) -> None:
    run("formats", case[1], check_formats)


@fuzz_settings(300)
@given(inputs(seeds("formats-json", "state")))
def test_fuzz_json(case: tuple[str, bytes]) -> None:
    run("json", case[1], check_json)


@fuzz_settings(300)
@given(inputs(NOTES))
def test_fuzz_note(case: tuple[str, bytes]) -> None:
    run("note", case[1], check_note_)


@fuzz_settings(300)
@given(inputs(VKEYS))
def test_fuzz_vkey(case: tuple[str, bytes]) -> None:
    run("vkey", case[1], check_vkey)


@fuzz_settings(300)
@given(inputs(ROWS))
def test_fuzz_codec(case: tuple[str, bytes]) -> None:
    run("codec", case[1], check_codec)


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    return tmp_path


@fuzz_settings(300)
@given(case=inputs(STATES))
def test_fuzz_state(scratch: Path, case: tuple[str, bytes]) -> None:
    path = scratch / "state.json"

    def check(data: bytes) -> str:
        path.write_bytes(data)
        outcome = "ok"
        for key in (None, b"k" * 32):
            try:
                State.load(str(path), key)
            except (MalformedError, VerificationError) as e:
                outcome = refused("state", e)
        return outcome

    run("state", case[1], check)


@pytest.fixture
def export_dir(tmp_path: Path) -> Path:
    root = Path(__file__).resolve().parents[2] / "fixtures" / "qldb" / "exports"
    for name in ("generated/ion-text", "real-KmA3-block-100", "real-KmA3-block-100-json"):
        shutil.copytree(root / name, tmp_path / Path(name).name)
    return tmp_path


@fuzz_settings(300)
@given(case=inputs(MANIFESTS))
def test_fuzz_manifest(export_dir: Path, case: tuple[str, bytes]) -> None:
    name = Path(case[0]).name
    owner = {"HUYL": "ion-text", "Exp0rtKmA3block100real": "real-KmA3-block-100"}
    directory = next(
        (export_dir / d for prefix, d in owner.items() if name.startswith(prefix)),
        export_dir / "real-KmA3-block-100-json",
    )
    path = directory / name
    original = path.read_bytes()

    def check(data: bytes) -> str:
        path.write_bytes(data)
        try:
            locate(Source.parse(str(directory)))
        except LayoutError as e:
            return refused("manifest", e)
        finally:
            path.write_bytes(original)
        return "ok"

    run("manifest", case[1], check)


def object_spec(name: str) -> ObjectSpec:
    fmt = {".10n": "ion_binary", ".json": "json"}.get(Path(name).suffix, "ion_text")
    strand, first_last = Path(name).stem.split(".")
    first, last = (int(x) for x in first_last.split("-"))
    return ObjectSpec(0, name, name, fmt, None, strand, first, last)


@fuzz_settings(300)
@given(inputs(OBJECTS))
def test_fuzz_object(case: tuple[str, bytes]) -> None:
    spec = object_spec(case[0])

    def check(data: bytes) -> str:
        result = verify_object(data, spec)
        unforeseen = [i for i in result.issues if i.check == "unexpected-shape"]
        if unforeseen:
            raise FuzzFailureError(f"object: {unforeseen[0].message}")
        overrun = [i for i in result.issues if i.check == "budget"]
        if overrun:
            raise FuzzFailureError(f"object: budget overrun: {overrun[0].message}")
        return result.unreadable.check if result.unreadable else f"{len(result.issues)} issues"

    run("object", case[1], check)


# -- the corpus as it is: every seed (and every crash-* trigger) reads or is refused ------------
@pytest.mark.parametrize(
    ("target", "corpus", "check"),
    [
        ("ion-text", ION_TEXT, check_ion),
        ("ion-binary", ION_BINARY, check_ion),
        ("formats", FORMATS, check_formats),
        ("json", seeds("formats-json", "state"), check_json),
        ("note", NOTES, check_note_),
        ("vkey", VKEYS, check_vkey),
        ("codec", ROWS, check_codec),
    ],
)
def test_corpus_seeds(target: str, corpus: list[tuple[str, bytes]], check: object) -> None:
    assert callable(check)
    for _, data in corpus:
        run(target, data, check)  # type: ignore[arg-type]
