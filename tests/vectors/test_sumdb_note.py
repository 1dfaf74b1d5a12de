"""Go's golang.org/x/mod/sumdb/note test vectors (fixtures/sumdb-note/README.md) through
``proofs.note``: Go's verdict for every case, or ours where the README says we differ."""

from __future__ import annotations

import base64
import importlib.util
import json
from typing import Any

import pytest

from proofs import MalformedError, VerificationError
from proofs.note import Status, check_note, parse_note, parse_vkey, verify_note
from tests.conftest import FIXTURES

DATA = FIXTURES / "sumdb-note"
VECTORS: dict[str, Any] = json.loads((DATA / "vectors.json").read_text())
KEYS = {name: parse_vkey(text) for name, text in VECTORS["keys"].items()}


def test_vectors_json_is_what_the_script_writes() -> None:
    spec = importlib.util.spec_from_file_location("make_vectors", DATA / "make_vectors.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (DATA / "vectors.json").read_text() == module.render()


def test_the_keys_parse_and_every_mangling_is_refused() -> None:
    """TestNewVerifier: the key parses; every proper substring of it, every one-byte increment
    and the two mangled keys do not."""
    text = VECTORS["keys"]["PeterNeumann"]
    key = KEYS["PeterNeumann"]
    assert (key.name, key.key_id.hex(), str(key)) == ("PeterNeumann", "c74f20a3", text)
    refused = 0
    for i in range(len(text) + 1):
        for j in range(i + 1, len(text) + 1):
            if (i, j) != (0, len(text)) and text[i:j].strip() == text[i:j]:
                with pytest.raises(MalformedError):
                    parse_vkey(text[i:j])
                refused += 1
    for i in range(len(text)):
        with pytest.raises(MalformedError):
            parse_vkey(text[:i] + chr(ord(text[i]) + 1) + text[i + 1 :])
        refused += 1
    for bad in VECTORS["bad_keys"]:
        with pytest.raises(MalformedError):
            parse_vkey(bad)
    assert refused > 2000


def test_the_signed_note_verifies() -> None:
    """TestSign's output: the Ed25519 signature by PeterNeumann's key over the text."""
    result = verify_note(VECTORS["signed_note"], [KEYS["PeterNeumann"]])
    assert result
    assert result.text == VECTORS["text"]
    assert result.trusted_signers == ("PeterNeumann",)
    [line] = result.signatures
    assert (line.status, line.key) == (Status.VERIFIED, KEYS["PeterNeumann"])
    assert line.key_id == bytes.fromhex("c74f20a3")
    # the same text with one character changed: the trusted signature fails
    with pytest.raises(VerificationError) as e:
        verify_note(VECTORS["signed_note"].replace("problem", "Problem", 1), [KEYS["PeterNeumann"]])
    assert e.value.reason == "note-signature"
    assert e.value.expected == VECTORS["keys"]["PeterNeumann"]


def _note(case: dict[str, Any]) -> str | bytes:
    return case["note"] if "note" in case else base64.b64decode(case["note_b64"])


@pytest.mark.parametrize("case", VECTORS["cases"], ids=[c["desc"] for c in VECTORS["cases"]])
def test_case(case: dict[str, Any]) -> None:
    note, trusted, go = _note(case), [KEYS[n] for n in case["trusted"]], case["go"]
    desc = case["desc"]
    if desc.startswith("malformed") or go.get("error") == "malformed note":
        with pytest.raises(MalformedError) as m:
            check_note(note, trusted)
        assert m.value.reason.startswith("note-")
        return
    if "duplicated verifier" in desc:  # Go: ambiguous only when used; ours: always refused
        with pytest.raises(MalformedError) as m:
            verify_note(note, trusted)
        assert m.value.reason == "duplicate-key"
        assert m.value.problem == "EnochRoot+af0cfe78 is given twice"
        return
    if desc == "invalid signature":
        result = check_note(note, trusted)
        assert [s.status for s in result.signatures] == [Status.INVALID]
        assert not result
        with pytest.raises(VerificationError) as v:
            verify_note(note, trusted)
        assert v.value.locator == "note signature 0 by PeterNeumann"
        return
    result = verify_note(note, trusted)
    assert result.trusted_signers == tuple(go.get("verified", []))
    assert bool(result) == bool(go.get("verified"))
    untrusted = [s for s in result.signatures if s.status is Status.UNTRUSTED]
    if desc.startswith(("misnamed", "wrong key hash")):
        assert [s.status for s in result.signatures] == [Status.UNTRUSTED]
        return
    # Go lists distinct lines; we list every line and the distinct ones are Go's
    distinct = list(dict.fromkeys((s.name, s.signature) for s in untrusted))
    assert [name for name, _ in distinct] == [n.split(" ")[0] for n in go["unverified"]]
    if desc.startswith("duplicated verified"):
        statuses = [s.status for s in result.signatures]
        assert statuses == [Status.VERIFIED] * 2 + [Status.UNTRUSTED] * 3
        assert result.verified_keys() == (KEYS["PeterNeumann"],)


def test_every_case_is_a_c2sp_note_or_refused_as_one() -> None:
    """The parser alone: the cases Go opens parse; the malformed ones do not."""
    for case in VECTORS["cases"]:
        if case["go"].get("error") == "malformed note":
            with pytest.raises(MalformedError):
                parse_note(_note(case))
        else:
            text, lines = parse_note(_note(case))
            assert text == VECTORS["text"]
            assert lines
