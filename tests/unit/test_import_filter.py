"""The importer's Bloom filter of (table, key) pairs: never False for a pair added (a key the
filter forgot would let two documents share it), rarely True for one never added."""

from __future__ import annotations

from auditor.ledger.importer import _Filter


def test_every_pair_added_may_be_held() -> None:
    f = _Filter()
    pairs = [(f"t{i % 3}", f"key-{i}") for i in range(20_000)]
    for table, key in pairs:
        f.add(table, key)
    assert all(f.may_hold(table, key) for table, key in pairs)


def test_pairs_never_added_are_mostly_not_held() -> None:
    f = _Filter()
    for i in range(20_000):
        f.add("invoices", f"INV{i}")
    held = sum(f.may_hold("invoices", f"other-{i}") for i in range(20_000))
    held += sum(f.may_hold("dealers", f"INV{i}") for i in range(20_000))  # another table
    assert held < 10, held  # (about 0.2 expected with 2 of 2**23 bits per pair)


def test_an_empty_filter_holds_nothing_in_a_mebibyte() -> None:
    f = _Filter()
    assert len(f.bits) == 1 << 20  # a fixed size, whatever the export's
    assert not any(f.may_hold("t", str(i)) for i in range(1000))
    f.add("t", "k")
    assert f.may_hold("t", "k")
    assert not f.may_hold("t", "k2")
    assert not f.may_hold("u", "k")
