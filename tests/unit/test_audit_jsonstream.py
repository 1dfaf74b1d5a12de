"""The JSON pieces of reports and state files are json.dumps's text, byte for byte, with the
packed summaries written as their list."""

from __future__ import annotations

import json
from typing import Any

import pytest

from auditor.audit import summaries as summaries_module
from auditor.audit.jsonstream import chunks
from auditor.audit.summaries import Summaries
from proofs import VerificationError


def _summary(i: int) -> dict[str, Any]:
    return {
        "key": f"X/é{i}.ion", "first": i or None, "last": i, "blocks": 1, "bytes": 10 * i,
        "sha256": "", "seconds": i / 3, "status": "verified", "skipped": False, "issues": 0,
    }  # fmt: skip


def _packed(n: int) -> Summaries:
    out = Summaries()
    for i in range(n):
        out.append(_summary(i))
    return out


ODD = [float("nan"), float("inf"), -float("inf"), -0.0, 1e300, 10**30, True, "\x00\"\\\u2028ü",
       [1, {"a": None}], {}]  # fmt: skip


def test_odd_values_are_written_as_json_writes_them() -> None:
    packed = Summaries()
    for value in ODD:
        packed.append({**_summary(1), "seconds": value, "key": value, "first": value})
    expected = [{**_summary(1), "seconds": v, "key": v, "first": v} for v in ODD]
    for options in OPTIONS:
        got = "".join(chunks({"objects": packed, "x": [packed]}, **options))
        assert got == json.dumps({"objects": expected, "x": [expected]}, **options)


def _doc(objects: Any) -> dict[str, Any]:
    return {
        "format": "x", "empty": {}, "list": [],
        "nested": {"a": [1, {"b": None}], "objects": objects},
        "objects": objects, "unicode": "ü\u2028", "floats": [0.1, 1e300, -0.0], "z": True,
        "m": [[], [objects], {}],
    }  # fmt: skip


OPTIONS = [{"indent": 2}, {"indent": 1}, {"sort_keys": True, "separators": (",", ":")}, {},
           {"indent": 0}]  # fmt: skip


@pytest.mark.parametrize("n", [0, 1, 3])
@pytest.mark.parametrize("options", OPTIONS)
def test_chunks_are_json_dumps(n: int, options: dict[str, Any]) -> None:
    expected = json.dumps(_doc([_summary(i) for i in range(n)]), **options)
    assert "".join(chunks(_doc(_packed(n)), **options)) == expected
    assert "".join(chunks(_doc([_summary(i) for i in range(n)]), **options)) == expected


def test_spilled_summaries_are_written_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(summaries_module, "SPILL_BYTES", 200)
    packed = _packed(50)
    assert packed._file is not None
    expected = json.dumps({"objects": [_summary(i) for i in range(50)]}, indent=1)
    assert "".join(chunks({"objects": packed}, indent=1)) == expected


def test_keys_that_json_would_change_are_refused() -> None:
    with pytest.raises(TypeError, match="keys must be str"):
        "".join(chunks({1: _packed(1)}))


def test_a_state_file_with_packed_summaries(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from auditor.audit.state import State

    monkeypatch.setattr(summaries_module, "SPILL_BYTES", 300)
    path = tmp_path / "state.json"
    key = bytes(range(32))
    state = State(str(path), key=key, authenticated=True)
    state.progress = {"exportId": "X", "reducer": {"objects": _packed(40), "nextIndex": 40}}
    state.save()
    text = path.read_text()
    doc = json.loads(text)
    assert text == json.dumps(doc, indent=1) + "\n"  # the file json.dump writes
    assert doc["progress"]["reducer"]["objects"] == [_summary(i) for i in range(40)]
    assert State.load(str(path), key).progress == doc["progress"]  # its MAC verifies
    doc["progress"]["reducer"]["objects"][39]["bytes"] += 1
    path.write_text(json.dumps(doc, indent=1) + "\n")
    with pytest.raises(VerificationError):
        State.load(str(path), key)
