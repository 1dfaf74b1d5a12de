"""The packed manifest keys, the exact set of keys seen, the packed object summaries and the
issue overflow: each against the plain Python structure it replaces."""

from __future__ import annotations

import random

import pytest

from auditor.audit import keys as keys_module
from auditor.audit import summaries as summaries_module
from auditor.audit.keys import Keys, Seen
from auditor.audit.model import FAILED, MALFORMED, Issue, Overflow, issue_order
from auditor.audit.summaries import FIELDS, Summaries

TEXTS = ["X/S.0-0.ion", "", "é/ü.ion", "\U0001d11e", "a\ud800b", "X/S.0-0.ion", "x" * 300]


def test_keys_round_trip_every_text() -> None:
    packed = Keys()
    for text in TEXTS:
        packed.append(text)
    assert len(packed) == len(TEXTS)
    assert list(packed) == TEXTS
    assert [packed[i] for i in range(len(TEXTS))] == TEXTS
    with pytest.raises(IndexError):
        packed[len(TEXTS)]
    with pytest.raises(IndexError):
        packed[-1]


def _seen_flags(texts: list[str]) -> list[bool]:
    packed = Keys()
    for text in texts:
        packed.append(text)
    seen = Seen(packed)
    return [seen.add(i, text) for i, text in enumerate(texts)]


def _set_flags(texts: list[str]) -> list[bool]:
    plain: set[str] = set()
    out = []
    for text in texts:
        out.append(text not in plain)
        plain.add(text)
    return out


def test_seen_is_a_set() -> None:
    rng = random.Random(9)
    texts = [f"X/S.{rng.randrange(3000)}-{rng.randrange(3)}.ion" for _ in range(5000)]
    flags = _seen_flags(texts)
    assert flags == _set_flags(texts)
    assert not all(flags)  # there are duplicates, far apart too
    assert _seen_flags(TEXTS) == [True, True, True, True, True, False, True]


def test_seen_compares_the_keys_when_every_hash_collides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keys_module, "_hash", lambda text: 7)
    texts = [f"k{i % 97}" for i in range(400)] + ["k0", "new"]
    assert _seen_flags(texts) == _set_flags(texts)


def _summary(i: int) -> dict[str, object]:
    return {
        "key": f"X/S.{i}-{i}.ion", "first": i if i % 3 else None, "last": 10**20 + i,
        "blocks": i, "bytes": 2 * i, "sha256": "ab" * 32 if i % 2 else "", "seconds": i / 7,
        "status": ("verified", "failed", "malformed", "skipped")[i % 4], "skipped": i % 4 == 3,
        "issues": i % 5,
    }  # fmt: skip


def test_summaries_keep_every_value_in_order_in_memory_and_spilled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(summaries_module, "SPILL_BYTES", 1000)  # spill every few records
    expected = [_summary(i) for i in range(500)]
    packed = Summaries()
    for summary in expected:
        packed.append(summary)
    assert packed._file is not None  # it did spill
    assert len(packed) == 500
    assert list(packed) == expected
    assert list(packed) == expected  # every iteration reads them again
    assert [list(o) for o in packed] == [list(FIELDS)] * 500  # the keys in the report's order
    packed.append(_summary(500))
    assert packed.to_json() == [*expected, _summary(500)]
    assert dict(packed.by_status) == {"verified": 126, "failed": 125, "malformed": 125,
                                      "skipped": 125}  # fmt: skip
    assert list(packed.by_status) == ["verified", "failed", "malformed", "skipped"]
    again = Summaries.from_json(packed.to_json())
    assert again.to_json() == packed.to_json()


def test_summaries_refuse_what_is_not_a_summary() -> None:
    for bad in ({}, [1], [{"key": "a"}], [{**_summary(1), "status": 3}], [{**_summary(1), "x": 1}]):
        with pytest.raises(ValueError, match="objects"):
            Summaries.from_json(bad)


def test_overflow_keeps_counts_and_the_first_of_each_kind() -> None:
    more = Overflow()
    late = Issue(FAILED, "object-name", "late", seq=9)
    early = Issue(FAILED, "object-name", "early", seq=2)
    tie = Issue(FAILED, "duplicate-object", "tie", seq=2)
    unplaced = Issue(MALFORMED, "object-name", "no seq")
    for issue in (late, early, tie, unplaced, Issue(FAILED, "duplicate-object", "dup")):
        more.add(issue)
    assert more.first == {FAILED: early, MALFORMED: unplaced}
    assert more.counts == {("object-names", FAILED): 2, ("object-names", MALFORMED): 1,
                           ("manifest", FAILED): 2}  # fmt: skip
    assert more.total == 5
    assert issue_order(unplaced) > issue_order(late)
