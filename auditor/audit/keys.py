"""The completed manifest's keys, packed, and the set of keys seen so far, exact.

A manifest lists up to a million keys (:data:`auditor.audit.layout.MAX_KEYS`). As Python
``str`` objects in a list they cost about 80 bytes each, and a ``set`` of them as much again;
:class:`Keys` holds them as UTF-8 in one buffer with their end offsets (a key's bytes and 4
bytes), and :class:`Seen` answers "was this key listed before?" with an open-addressing table
of key indexes and hash bits (16 bytes or less a key). A hash only chooses where to look:
every candidate is compared with the key itself, so two different keys are never taken for one
(a duplicate is never missed, and a key is never called a duplicate of another), whatever their
hashes.
"""

from __future__ import annotations

import itertools
from array import array
from collections.abc import Callable, Iterator

_hash: Callable[[str], int] = hash  # where to look first (SipHash, keyed per process)


class Keys:
    """A list of ``str``, packed: ``append``, ``len``, index, iterate. Text is kept exactly
    (lone surrogates too: ``surrogatepass``)."""

    __slots__ = ("_blob", "_ends")

    def __init__(self) -> None:
        self._blob = bytearray()
        self._ends = array("I")  # the blob's length after each key (raises past 4 GiB)

    def append(self, text: str) -> None:
        self._blob += text.encode("utf-8", "surrogatepass")
        self._ends.append(len(self._blob))

    def extend(self, texts: list[str]) -> None:
        joined = "".join(texts)
        if not joined.isascii():
            for text in texts:
                self.append(text)
            return
        self._ends.extend(itertools.accumulate(map(len, texts), initial=len(self._blob)))
        self._ends.pop(len(self._ends) - len(texts) - 1)  # the initial value: not a key's end
        self._blob += joined.encode("ascii")

    def __len__(self) -> int:
        return len(self._ends)

    def raw(self, i: int) -> bytes:
        """The UTF-8 bytes of key ``i`` (0 <= i < len)."""
        return bytes(self._blob[self._ends[i - 1] if i else 0 : self._ends[i]])

    def __getitem__(self, i: int) -> str:
        if not 0 <= i < len(self._ends):
            raise IndexError("key index out of range")
        return self.raw(i).decode("utf-8", "surrogatepass")

    def __iter__(self) -> Iterator[str]:
        blob, start = self._blob, 0
        for end in self._ends:
            yield blob[start:end].decode("utf-8", "surrogatepass")
            start = end


class Seen:
    """Which of ``keys`` were added: :meth:`add` is ``set.add`` that says whether the key was
    new. Linear probing over a table at most half full; each slot holds a key index + 1 and
    32 bits of the key's hash, so that a probe decodes a key only when those bits match."""

    __slots__ = ("_keys", "_mask", "_slots", "_tags")

    def __init__(self, keys: Keys) -> None:
        size = 8
        while size < 2 * len(keys):
            size *= 2
        self._keys = keys
        self._mask = size - 1
        self._slots = array("I", bytes(4 * size))
        self._tags = array("I", bytes(4 * size))

    def add(self, i: int, key: str) -> bool:
        """Record key ``i`` (whose text is ``key``); False if an equal key was added before."""
        slots, tags, mask = self._slots, self._tags, self._mask
        h = _hash(key)
        tag = (h >> 32) & 0xFFFFFFFF
        at = h & mask
        while True:
            j = slots[at]
            if j == 0:
                slots[at] = i + 1
                tags[at] = tag
                return True
            if tags[at] == tag and self._keys[j - 1] == key:
                return False
            at = (at + 1) & mask
