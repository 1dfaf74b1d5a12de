"""Values passed between the audit's map step, its reduce step and the report.

Everything here is a small frozen (or plain) dataclass of builtins, so it pickles cheaply to
and from worker processes and Dask workers.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from proofs.errors import Value, b64

FAILED = "failed"  # read, but wrong: evidence of tampering (exit 1)
MALFORMED = "malformed"  # could not be read (exit 2)

MAX_ISSUES = 1000  # issues an audit lists (every one is counted)
REVISION_KINDS = ("verified", "hash_only", "deleted", "system", "unproven", "failed")
MAX_NOTABLE_PER_OBJECT = 200  # redacted / deleted revisions listed by name, per object


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem found, named by block (``seq``) where there is one.

    ``kind`` is :data:`FAILED` or :data:`MALFORMED`; ``check`` the machine-readable name of the
    check (``revision-hash``, ``chain``, ``sequence``, ``missing-object``, ...).
    """

    kind: str
    check: str
    message: str
    seq: int | None = None
    strand_id: str | None = None
    object_key: str | None = None
    locator: str = ""
    expected: str | None = None
    actual: str | None = None
    note: str = ""

    @property
    def address(self) -> str | None:
        if self.seq is None:
            return None
        return f'{{strandId:"{self.strand_id or "?"}",sequenceNo:{self.seq}}}'

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "check": self.check,
            "blockAddress": (
                None if self.seq is None else {"strandId": self.strand_id, "sequenceNo": self.seq}
            ),
            "object": self.object_key,
            "locator": self.locator,
            "message": self.message,
            "expected": self.expected,
            "actual": self.actual,
            "note": self.note,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Issue:
        address = value.get("blockAddress") or {}
        return cls(
            kind=str(value["kind"]), check=str(value["check"]), message=str(value["message"]),
            seq=address.get("sequenceNo"), strand_id=address.get("strandId"),
            object_key=value.get("object"), locator=str(value.get("locator", "")),
            expected=value.get("expected"), actual=value.get("actual"),
            note=str(value.get("note", "")),
        )  # fmt: skip

    def line(self) -> str:
        label = "FAIL" if self.kind == FAILED else "ERROR"
        where = f"block {self.seq} " if self.seq is not None else ""
        text = f"{label}: {where}({self.check}): {self.message}"
        if self.expected is not None or self.actual is not None:
            text += f" (expected {self.expected or '-'}, got {self.actual or '-'})"
        if self.note:
            text += f" [{self.note}]"
        return text


def issue_order(issue: Issue) -> tuple[int, int]:
    """Where an issue stands in a report's "first break": by block, unplaced ones last."""
    return (issue.seq if issue.seq is not None else 1 << 62, 0)


@dataclass(slots=True)
class Overflow:
    """Issues past a list's cap of :data:`MAX_ISSUES`: what a report keeps of them, which is
    their count per (check group, kind) and, of each kind, the first one in
    :func:`issue_order` (the earliest of equals), the candidate for the first break."""

    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    first: dict[str, Issue] = field(default_factory=dict)

    def add(self, issue: Issue) -> None:
        self.counts[(group_of(issue.check), issue.kind)] += 1
        kind = FAILED if issue.kind == FAILED else MALFORMED
        best = self.first.get(kind)
        if best is None or issue_order(issue) < issue_order(best):
            self.first[kind] = issue

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def shown(value: Value | object) -> str | None:
    """A value as the report prints it: hashes in base64, ``None`` kept."""
    if value is None:
        return None
    if isinstance(value, bytes | str | int):
        return b64(value)
    return str(value)


@dataclass(frozen=True, slots=True)
class ObjectSpec:
    """One data object the completed manifest lists, and how to read and check it."""

    index: int  # position in the manifest
    key: str  # what reports call it: the path relative to the export root, or the S3 URL
    location: str  # file path or S3 key to read
    fmt: str  # ion_text | ion_binary | json
    writer_from: int | None  # writer rules for blocks at or after this sequenceNo; None: never
    strand_id: str
    name_first: int | None  # sequence numbers in the object's name
    name_last: int | None
    verify_from: int = 0  # blocks below this sequenceNo were verified by an earlier run

    def writer_rules(self, seq: int | None) -> bool:
        """Whether the writer's rules apply to the block at ``seq`` (unknown: if any does)."""
        if self.writer_from is None:
            return False
        return seq is None or seq >= self.writer_from

    @property
    def writer_bytes(self) -> bool:
        """The object was written by this project's exporter (its exact bytes are checked)."""
        return self.writer_from is not None


@dataclass(slots=True)
class Counts:
    blocks: int = 0  # blocks read
    blocks_verified: int = 0  # blocks that passed verify_block
    blocks_failed: int = 0
    blocks_skipped: int = 0  # verified by an earlier run (state file)
    verified: int = 0  # revisions whose data recomputed
    hash_only: int = 0  # redacted: dataHash in place of data
    deleted: int = 0  # metadata only
    deleted_recomputed: int = 0  # of which recomputed by the writer's rule
    system: int = 0  # {hash} only
    unproven: int = 0  # JSON exports: revisions whose Ion types JSON could not carry back
    failed: int = 0  # revisions that did not recompute

    def add(self, other: Counts) -> None:
        if other.blocks == 0 and other.revisions == 0:
            return  # an object that read no block (missing, unreadable)
        for name in self.__slots__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def revisions(self) -> int:
        return (
            self.verified + self.hash_only + self.deleted + self.system + self.unproven
            + self.failed
        )  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        return {
            "blocks": self.blocks,
            "blocks_verified": self.blocks_verified,
            "blocks_failed": self.blocks_failed,
            "blocks_skipped": self.blocks_skipped,
            "revisions": {
                "total": self.revisions,
                "verified": self.verified,
                "hash_only": self.hash_only,
                "deleted": self.deleted,
                "deleted_recomputed": self.deleted_recomputed,
                "system": self.system,
                "unproven": self.unproven,
                "failed": self.failed,
            },
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Counts:
        revisions = value.get("revisions", {})
        out = cls()
        for name in ("blocks", "blocks_verified", "blocks_failed", "blocks_skipped"):
            setattr(out, name, int(value.get(name, 0)))
        for name in (*REVISION_KINDS, "deleted_recomputed"):
            setattr(out, name, int(revisions.get(name, 0)))
        return out


@dataclass(frozen=True, slots=True)
class Link:
    """What the reduce step needs of one block: where it is and the hashes that chain it."""

    position: int  # index in its object
    seq: int | None
    block_hash: bytes | None  # the block's stated blockHash (None: unusable)
    previous: bytes | None  # its stated previousBlockHash (b"" for genesis; None: unusable)
    verified: bool


class Links:
    """The links of one object's blocks, packed (about 90 bytes a block instead of a few
    hundred as objects), so that an object of many blocks stays small in memory and on the way
    back from a worker. A sequence of :class:`Link`: ``append``, iterate, index, ``len``.

    A run of *empty* links (unverified, no sequenceNo, no hashes: damaged values, such as the
    lines of binary noise in an Ion text object) at consecutive positions is stored as one
    entry with its length, so that an object of damage costs flat memory, not ~90 bytes a
    damaged line."""

    __slots__ = ("_ends", "_flags", "_hashes", "_positions", "_previous", "_seqs")

    _NONE = -1  # seq unknown
    _RUN = 16  # flag: the entry is a run of empty links (its length: _ends[j] - _ends[j - 1])

    def __init__(self, links: list[Link] | None = None) -> None:
        self._positions = array("q")  # of each entry (a run: of its first link)
        self._seqs = array("q")
        self._hashes = bytearray()
        self._previous = bytearray()
        self._flags = bytearray()  # bit 0 verified, 1 block hash, 2 previous, 3 empty previous
        self._ends = array("q")  # links up to and including each entry
        for link in links or ():
            self.append(link)

    @staticmethod
    def _empty(link: Link) -> bool:
        return (
            not link.verified
            and link.seq is None
            and link.previous is None
            and (link.block_hash is None or len(link.block_hash) != 32)
        )

    def append(self, link: Link) -> None:
        total = self._ends[-1] if self._ends else 0
        if self._empty(link) and self._flags:
            j = len(self._flags) - 1
            first = self._positions[j]
            count = total - (self._ends[j - 1] if j else 0)
            if (self._flags[j] & self._RUN or self._is_empty_entry(j)) and (
                link.position == first + count
            ):
                self._flags[j] |= self._RUN
                self._ends[j] = total + 1
                return
        flags = int(link.verified)
        self._positions.append(link.position)
        self._seqs.append(self._NONE if link.seq is None else link.seq)
        if link.block_hash is not None and len(link.block_hash) == 32:
            flags |= 2
            self._hashes += link.block_hash
        else:
            self._hashes += bytes(32)
        previous = link.previous
        if previous is not None and len(previous) == 32:
            flags |= 4
            self._previous += previous
        else:
            flags |= 8 if previous == b"" else 0
            self._previous += bytes(32)
        self._flags.append(flags)
        self._ends.append(total + 1)

    def _is_empty_entry(self, j: int) -> bool:
        return self._flags[j] == 0 and self._seqs[j] == self._NONE

    def __len__(self) -> int:
        return self._ends[-1] if self._ends else 0

    def __bool__(self) -> bool:
        return bool(self._flags)

    def _entry(self, i: int) -> tuple[int, int]:
        """(entry, offset of link ``i`` in it)."""
        if not 0 <= i < len(self):
            raise IndexError("link index out of range")
        j = bisect_right(self._ends, i)
        return j, i - (self._ends[j - 1] if j else 0)

    def _link(self, j: int, offset: int) -> Link:
        flags = self._flags[j]
        if flags & self._RUN:
            return Link(self._positions[j] + offset, None, None, None, False)
        seq = self._seqs[j]
        at = 32 * j
        return Link(
            self._positions[j],
            None if seq == self._NONE else seq,
            bytes(self._hashes[at : at + 32]) if flags & 2 else None,
            bytes(self._previous[at : at + 32]) if flags & 4 else (b"" if flags & 8 else None),
            bool(flags & 1),
        )

    def __getitem__(self, i: int) -> Link:
        if i < 0:
            i += len(self)
        return self._link(*self._entry(i))

    def __setitem__(self, i: int, link: Link) -> None:
        if i < 0:
            i += len(self)
        j, _ = self._entry(i)
        if self._flags[j] & self._RUN:  # rare (late_layout changes verified links): rebuild
            links = list(self)
            links[i] = link
            Links.__init__(self, links)
            return
        other = Links([link])
        self._positions[j] = other._positions[0]
        self._seqs[j] = other._seqs[0]
        self._hashes[32 * j : 32 * j + 32] = other._hashes
        self._previous[32 * j : 32 * j + 32] = other._previous
        self._flags[j] = other._flags[0]

    def __iter__(self) -> Iterator[Link]:
        start = 0
        for j, end in enumerate(self._ends):
            for offset in range(end - start):
                yield self._link(j, offset)
            start = end

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Links):
            return list(self) == list(other)
        if isinstance(other, list):
            return list(self) == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


@dataclass(slots=True)
class ObjectResult:
    """The map step's answer for one data object."""

    index: int
    key: str
    size: int = 0
    sha256: str = ""
    seconds: float = 0.0
    skipped: bool = False  # unchanged since an earlier run verified it: not parsed
    unreadable: Issue | None = None  # the object (or its tail) could not be read
    links: Links = field(default_factory=Links)
    issues: list[Issue] = field(default_factory=list)
    issues_total: int = 0
    counts: Counts = field(default_factory=Counts)
    notes: list[str] = field(default_factory=list)
    opaque: list[int] = field(default_factory=list)  # QLDB rules: blocks without transactionInfo
    notable: list[dict[str, Any]] = field(default_factory=list)  # redacted / deleted revisions


# (name, what it checks, the issue checks that belong to it)
CHECKS: list[tuple[str, str, frozenset[str]]] = [
    ("manifest", "every data object the completed manifest lists exists and is listed once; "
     "only listed objects are used", frozenset({"missing-object", "duplicate-object"})),
    ("objects-readable", "each data object reads as the export's format",
     frozenset({"not-ion", "not-json", "empty", "truncated", "unreadable", "unreadable-tail",
                "too-large", "not-a-block", "worker"})),
    ("object-names", "object names are <strandId>.<first>-<last>.<ext> and each object holds "
     "exactly those blocks", frozenset({"object-name", "object-range"})),
    ("sequence", "sequenceNo is contiguous, in order, across objects", frozenset({"sequence"})),
    ("chain", "previousBlockHash is the blockHash of the block before, across objects",
     frozenset({"chain"})),
    ("blocks", "proofs.verify_block on every block: revision hashes, revisions root, "
     "transactionInfo / redactionInfo in entriesHashList, entriesHash, blockHash", frozenset()),
    ("writer-layout", "writer rules: header entry (blockAddress, transactionId, blockTimestamp),"
     " deleted revisions recomputed, the writer's exact fields, entries and bytes",
     frozenset({"writer-layout", "layout", "block-header"})),
    ("state", "blocks verified by an earlier run are unchanged; the new history extends the "
     "state's digest", frozenset({"rewritten"})),
    ("digests", "each digest equals the Merkle root of blocks 0..tip, or the proof folds the "
     "tip block's hash to it", frozenset({"digest", "digest-strand", "proof-digest"})),
]  # fmt: skip
_GROUP = {name: group for group, _, names in CHECKS for name in names}


def group_of(check: str) -> str:
    return _GROUP.get(check, "blocks")
