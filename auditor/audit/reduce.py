"""The reduce step: link the objects' blocks in order, grow the Merkle frontier, check digests.

Objects arrive in manifest order (whatever order the workers finished in). For each block the
reducer checks that its ``sequenceNo`` follows the previous one and that its
``previousBlockHash`` is the previous block's ``blockHash`` (across object boundaries too), that
each object holds exactly the blocks its name says, and appends the block hash to the frontier;
when the frontier reaches a digest's tip, the digest is compared with the root. Memory is the
frontier (O(log n) hashes), one fingerprint per object, and at most :data:`MAX_ISSUES` issues
(plus exact counts and the first break, which is always kept).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any

from auditor.audit.digests import DigestInput
from auditor.audit.frontier import Frontier
from auditor.audit.model import (
    FAILED,
    MALFORMED,
    MAX_ISSUES,
    Counts,
    Issue,
    ObjectResult,
    ObjectSpec,
    Overflow,
    group_of,
    issue_order,
)
from auditor.audit.state import Fingerprint, Verified, b64d, b64e
from auditor.audit.summaries import Summaries
from proofs import ProofError, fold
from proofs.errors import b64

MAX_LISTED = 5000  # opaque blocks and redacted/deleted revisions named in the report


_order = issue_order


class Reducer:
    def __init__(
        self, strand_id: str, base: Verified | None, ledger_name: str | None = None
    ) -> None:
        self.strand_id = strand_id
        self.ledger_name = ledger_name
        self.opaque: list[int] = []  # QLDB rules: blocks without transactionInfo (first ones)
        self.opaque_total = 0
        self.notable: list[dict[str, Any]] = []  # redacted and deleted revisions (first ones)
        self.notable_total = 0
        self.base = base
        self.base_tip = base.tip if base is not None else -1
        self.old = {(f.first, f.last): f for f in base.objects} if base is not None else {}
        self.frontier: Frontier | None = base.frontier.copy() if base is not None else None
        self.frontier_note = ""
        self.started = False
        self.prev_seq: int | None = None
        self.prev_hash: bytes | None = None
        self.first_seq: int | None = None
        self.last_seq: int | None = None
        self.last_hash: bytes | None = None
        self.counts = Counts()
        self.issues: list[Issue] = []
        self.issues_total = 0
        self.group_counts: Counter[tuple[str, str]] = Counter()
        self.first_failed: Issue | None = None
        self.first_malformed: Issue | None = None
        self.objects = Summaries()
        self.fingerprints: dict[tuple[int, int], Fingerprint] = dict(self.old)
        self.digests: list[DigestInput] = []
        self.map_seconds = 0.0
        self.rechecked_old_blocks = 0
        self.next_index = 0

    # -- issues ------------------------------------------------------------------------------
    def issue(self, issue: Issue, counted: bool = True) -> None:
        if counted:
            self.issues_total += 1
            self.group_counts[(group_of(issue.check), issue.kind)] += 1
        if len(self.issues) < MAX_ISSUES:
            self.issues.append(issue)
        if issue.kind == FAILED:
            if self.first_failed is None or _order(issue) < _order(self.first_failed):
                self.first_failed = issue
        elif self.first_malformed is None or _order(issue) < _order(self.first_malformed):
            self.first_malformed = issue

    def overflow(self, more: Overflow) -> None:
        """Issues found before the run past the cap: counted, and each kind's first one is a
        candidate for the first break (the list is full: :data:`MAX_ISSUES` came before)."""
        for (group, kind), n in more.counts.items():
            self.issues_total += n
            self.group_counts[(group, kind)] += n
        for issue in more.first.values():
            if issue.kind == FAILED:
                if self.first_failed is None or _order(issue) < _order(self.first_failed):
                    self.first_failed = issue
            elif self.first_malformed is None or _order(issue) < _order(self.first_malformed):
                self.first_malformed = issue

    def _fail(self, check: str, message: str, seq: int | None, key: str | None, **kw: Any) -> None:
        self.issue(Issue(FAILED, check, message, seq=seq, strand_id=self.strand_id,
                         object_key=key, locator=kw.pop("locator", key or ""), **kw))  # fmt: skip

    # -- digests -----------------------------------------------------------------------------
    def add_digests(self, digests: list[DigestInput]) -> None:
        self.digests = digests
        for d in digests:
            if d.status == "failed" and d.error is not None:
                self.issue(Issue(FAILED, "digest", str(d.error), locator=d.source))
                continue
            if d.status != "pending":
                continue
            if d.error is not None:
                d.status, d.message = "malformed", str(d.error)
                self.issue(Issue(MALFORMED, "digest", str(d.error), locator=d.source))
            elif (
                d.kind == "checkpoint"
                and self.ledger_name is not None
                and d.ledger != self.ledger_name
            ):
                d.status = "failed"
                d.message = (
                    f"{d.source}: the checkpoint is ledger {d.ledger}'s, the export is ledger "
                    f"{self.ledger_name}'s"
                )
                self._fail("digest-ledger", d.message, d.tip, None, locator=d.source,
                           expected=self.ledger_name, actual=d.ledger)  # fmt: skip
            elif d.strand_id != self.strand_id:
                d.status = "failed"
                d.message = (
                    f"{d.source}: the digest is for strand {d.strand_id}, not {self.strand_id}"
                )
                self._fail("digest-strand", d.message, d.tip, None, locator=d.source,
                           expected=self.strand_id, actual=d.strand_id)  # fmt: skip
            elif self.base is not None and d.kind != "proofs-json" and d.tip is not None:
                if d.tip == self.base_tip:
                    self._compare(d, self.base.digest, "the state's verified digest")
                elif d.tip < self.base_tip:
                    d.status = "not-checked"
                    d.message = (
                        f"{d.source}: tip {d.tip} is before the state's tip {self.base_tip}; "
                        "only the digest at that tip is kept"
                    )

    def _compare(self, d: DigestInput, root: bytes, what: str = "") -> None:
        d.computed = root
        assert d.digest is not None
        assert d.tip is not None
        if d.digest == root:
            d.status = "verified"
            d.message = f"{d.source}: equals the Merkle root of blocks 0..{d.tip}" + (
                f" ({what})" if what else ""
            )
            return
        d.status = "failed"
        d.message = (
            f"{d.source}: the digest at tip {d.tip} is not the Merkle root of blocks 0..{d.tip}"
            " (a digest of another history: a forked or rewritten ledger)"
        )
        self._fail("digest", d.message, d.tip, None, locator=d.source,
                   expected=b64(d.digest), actual=b64(root))  # fmt: skip

    def _at_tip(self, seq: int) -> None:
        assert self.frontier is not None
        root: bytes | None = None
        for d in self.digests:
            if d.status == "pending" and d.kind != "proofs-json" and d.tip == seq:
                root = root if root is not None else self.frontier.root()
                self._compare(d, root)

    def _at_block(self, seq: int, block_hash: bytes | None) -> None:
        for d in self.digests:
            if d.status != "pending" or d.kind != "proofs-json" or d.last_block != seq:
                continue
            assert d.proof is not None
            assert d.digest is not None
            if block_hash is None:
                d.status, d.message = "not-checked", f"{d.source}: block {seq} has no usable hash"
                continue
            try:
                computed = fold(block_hash, d.proof, f"{d.source}: Proof")
            except ProofError as e:
                d.status, d.message = "malformed", str(e)
                self.issue(Issue(MALFORMED, "digest", str(e), locator=d.source))
                continue
            d.computed = computed
            if computed == d.digest:
                d.status = "verified"
                d.message = (f"{d.source}: fold(blockHash of block {seq}, Proof) equals the digest"
                             f" at tip {d.tip}")  # fmt: skip
            else:
                d.status = "failed"
                d.message = (f"{d.source}: fold(blockHash of block {seq}, Proof) is not the "
                             f"digest at tip {d.tip}")  # fmt: skip
                self._fail("proof-digest", d.message, seq, None, locator=d.source,
                           expected=b64(d.digest), actual=b64(computed))  # fmt: skip

    # -- blocks ------------------------------------------------------------------------------
    def _start(self, seq: int) -> None:
        self.started = True
        self.first_seq = seq
        if self.base is not None:
            if seq > self.base_tip:
                self.prev_seq, self.prev_hash = self.base_tip, self.base.tip_hash
            return
        if seq == 0:
            self.frontier = Frontier()
        else:
            self.frontier_note = (
                f"the export starts at block {seq}: a digest needs blocks 0..{seq - 1} too "
                "(a full export, or --state from a run that verified them); a proofs.json digest"
                " can still attest it"
            )

    def _break_frontier(self, seq: int, why: str) -> None:
        if self.frontier is not None:
            self.frontier = None
            self.frontier_note = f"digests after block {seq - 1} were not computed: {why}"

    def add(self, result: ObjectResult, spec: ObjectSpec) -> None:
        """Link one object's blocks onto the chain (objects must come in manifest order)."""
        self.map_seconds += result.seconds
        self.next_index = spec.index + 1
        summary: dict[str, Any] = {
            "key": spec.key, "first": spec.name_first, "last": spec.name_last, "blocks": 0,
            "bytes": result.size, "sha256": result.sha256, "seconds": round(result.seconds, 4),
            "status": "verified", "skipped": result.skipped, "issues": result.issues_total,
        }  # fmt: skip
        if result.skipped:
            self._skipped(result, spec, summary)
            self.objects.append(summary)
            return
        for issue in result.issues:
            self.issue(issue)
        # issues an object did not list (over its cap) still count, as blocks
        self.issues_total += result.issues_total - len(result.issues)
        self.group_counts[("blocks", FAILED)] += result.issues_total - len(result.issues)
        self.counts.add(result.counts)
        self.opaque_total += len(result.opaque)
        self.opaque.extend(result.opaque[: max(0, MAX_LISTED - len(self.opaque))])
        self.notable_total += len(result.notable)
        self.notable.extend(result.notable[: max(0, MAX_LISTED - len(self.notable))])
        summary["blocks"] = len(result.links)
        first_link = last_link = None
        hashes = hashlib.sha256()
        complete = result.unreadable is None and bool(result.links)
        for link in result.links:
            expected = None if self.prev_seq is None else self.prev_seq + 1
            seq = link.seq
            if seq is None:
                seq = (
                    expected
                    if expected is not None
                    else (None if spec.name_first is None else spec.name_first + link.position)
                )
            if seq is None:
                complete = False
                continue
            if not self.started:
                self._start(seq)
                expected = None if self.prev_seq is None else self.prev_seq + 1
            if first_link is None:
                first_link = link
            last_link = link
            if expected is not None and seq != expected:
                if seq > expected:
                    gap = (
                        f"block {expected}"
                        if seq == expected + 1
                        else (f"blocks {expected}-{seq - 1}")
                    )
                    message = f"{spec.key}: {gap} missing: block {seq} follows block {expected - 1}"
                else:
                    message = (f"{spec.key}: block {seq} is out of order: it follows block "
                               f"{expected - 1}")  # fmt: skip
                self._fail(
                    "sequence",
                    message,
                    expected,
                    spec.key,
                    expected=f"sequenceNo {expected}",
                    actual=f"sequenceNo {seq}",
                )
                self._break_frontier(expected, "the sequence is broken")
            else:
                self._check_link(seq, link.previous, spec.key)
            if (
                seq == self.base_tip
                and self.base is not None
                and link.block_hash is not None
                and link.block_hash != self.base.tip_hash
            ):
                self._fail(
                    "rewritten", f"{spec.key}: block {seq}: its blockHash is not the one "
                    f"verified on {self.base.time} (an old block was rewritten)", seq,
                    spec.key, expected=b64(self.base.tip_hash), actual=b64(link.block_hash),
                )  # fmt: skip
            if seq > self.base_tip:
                if self.frontier is not None and self.frontier.size == seq and link.block_hash:
                    self.frontier.append(link.block_hash)
                    self._at_tip(seq)
                elif self.frontier is not None:
                    self._break_frontier(seq, f"block {seq} has no usable blockHash")
            else:
                self.rechecked_old_blocks += 1
            self._at_block(seq, link.block_hash)
            if link.block_hash is None:
                complete = False
            else:
                hashes.update(link.block_hash)
            self.prev_seq, self.prev_hash = seq, link.block_hash
            self.last_seq, self.last_hash = seq, link.block_hash
        if (
            result.unreadable is not None
            and spec.name_last is not None
            and (self.prev_seq is None or self.prev_seq < spec.name_last)
        ):
            if not self.started:
                self._start(spec.name_first if spec.name_first is not None else 0)
            self._break_frontier(
                (self.prev_seq + 1) if self.prev_seq is not None else spec.name_last,
                f"{spec.key} could not be read",
            )
            self.prev_seq, self.prev_hash = spec.name_last, None
            self.last_seq, self.last_hash = spec.name_last, None
        self._check_range(result, spec, first_link, last_link)
        if result.issues_total:
            worst = any(i.kind == FAILED for i in result.issues)
            summary["status"] = "failed" if worst else "malformed"
        if first_link is not None and last_link is not None:
            summary["first"], summary["last"] = first_link.seq, last_link.seq
        self.objects.append(summary)
        self._fingerprint(result, spec, complete, first_link, last_link, hashes.hexdigest())

    def _check_link(self, seq: int, previous: bytes | None, key: str) -> None:
        """The chain check: block ``seq``'s previousBlockHash (``None``: not a hash) must be
        the blockHash of the block linked before it, when that block's hash is known."""
        if self.prev_hash is None or previous == self.prev_hash:
            return
        what = "is not the blockHash of" if previous else "is not a hash: it cannot link to"
        self._fail(
            "chain", f"{key}: block {seq}: previousBlockHash {what} block {self.prev_seq}", seq,
            key, expected=b64(self.prev_hash), actual=b64(previous),
        )  # fmt: skip

    def _check_range(self, result: ObjectResult, spec: ObjectSpec, first: Any, last: Any) -> None:
        if spec.name_first is None or spec.name_last is None or first is None or last is None:
            return
        if result.unreadable is not None:
            return
        a, b = first.seq, last.seq
        if a is None or b is None or (a == spec.name_first and b == spec.name_last):
            return
        seq = min(a, spec.name_first) if a != spec.name_first else min(b, spec.name_last) + 1
        self._fail(
            "object-range", f"{spec.key}: its name says blocks {spec.name_first}-{spec.name_last},"
            f" it holds blocks {a}-{b}", seq, spec.key,
            expected=f"{spec.name_first}-{spec.name_last}", actual=f"{a}-{b}",
        )  # fmt: skip

    def _fingerprint(
        self, result: ObjectResult, spec: ObjectSpec, complete: bool, first: Any, last: Any,
        hashes: str,
    ) -> None:  # fmt: skip
        if spec.name_first is None or spec.name_last is None:
            return
        rng = (spec.name_first, spec.name_last)
        old = self.old.get(rng)
        if (
            old is not None
            and spec.name_last <= self.base_tip
            and complete
            and old.hashes != hashes
        ):
            self._fail(
                "rewritten", f"{spec.key}: blocks {rng[0]}-{rng[1]}: their block hashes are "
                f"not the ones verified on {self.base.time if self.base else '?'} (an old "
                "block in this range was rewritten)", rng[0], spec.key,
                expected=f"sha256 {old.hashes}", actual=f"sha256 {hashes}",
            )  # fmt: skip
            return
        if (
            not complete
            or result.issues_total
            or first is None
            or last is None
            or first.previous is None
            or last.block_hash is None
            or (first.seq, last.seq) != rng
        ):
            return
        self.fingerprints[rng] = Fingerprint(
            rng[0], rng[1], result.sha256, first.previous, last.block_hash, hashes
        )

    def _skipped(self, result: ObjectResult, spec: ObjectSpec, summary: dict[str, Any]) -> None:
        assert spec.name_first is not None
        assert spec.name_last is not None
        old = self.old[(spec.name_first, spec.name_last)]
        n = spec.name_last - spec.name_first + 1
        self.counts.blocks_skipped += n
        summary["blocks"], summary["status"] = n, "skipped"
        if not self.started:
            self._start(spec.name_first)
        expected = None if self.prev_seq is None else self.prev_seq + 1
        if expected is not None and expected != spec.name_first:
            self._fail("sequence", f"{spec.key}: holds blocks {spec.name_first}-{spec.name_last},"
                       f" block {expected} was expected", min(expected, spec.name_first),
                       spec.key)  # fmt: skip
        else:
            self._check_link(spec.name_first, old.first_previous, spec.key)
        self.prev_seq, self.prev_hash = spec.name_last, old.last_hash
        self.last_seq, self.last_hash = spec.name_last, old.last_hash

    def finish(self) -> None:
        for d in self.digests:
            if d.status != "pending":
                continue
            target = d.last_block if d.kind == "proofs-json" else d.tip
            if self.last_seq is None or (target is not None and target > self.last_seq):
                d.status = "malformed"
                d.message = (
                    f"{d.source}: its tip {target} is beyond the export's last block "
                    f"{self.last_seq}: it cannot be checked against this export"
                )
                self.issue(Issue(MALFORMED, "digest", d.message, locator=d.source))
            else:
                d.status = "not-checked"
                d.message = f"{d.source}: not checked: {self.frontier_note or 'block not read'}"

    # -- resume ------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "frontier": None if self.frontier is None else self.frontier.to_json(),
            "frontierNote": self.frontier_note, "started": self.started,
            "prevSeq": self.prev_seq,
            "prevHash": None if self.prev_hash is None else b64e(self.prev_hash),
            "firstSeq": self.first_seq, "lastSeq": self.last_seq,
            "lastHash": None if self.last_hash is None else b64e(self.last_hash),
            "counts": self.counts.to_json(), "issues": [i.to_json() for i in self.issues],
            "issuesTotal": self.issues_total,
            "groupCounts": [[g, k, n] for (g, k), n in self.group_counts.items()],
            "firstFailed": None if self.first_failed is None else self.first_failed.to_json(),
            "firstMalformed": (None if self.first_malformed is None
                               else self.first_malformed.to_json()),
            "objects": self.objects,  # Summaries: the state file writes them as a list
            "fingerprints": [f.to_json() for f in self.fingerprints.values()],
            "digests": [[d.source, d.kind, d.tip, d.status, d.message,
                         None if d.computed is None else b64e(d.computed)]
                        for d in self.digests if d.status != "pending"],
            "mapSeconds": self.map_seconds, "rechecked": self.rechecked_old_blocks,
            "nextIndex": self.next_index, "opaque": self.opaque, "opaqueTotal": self.opaque_total,
            "notable": self.notable, "notableTotal": self.notable_total,
        }  # fmt: skip

    def restore(self, value: dict[str, Any]) -> None:
        """Continue from :meth:`to_json` (raises ``KeyError``/``ValueError``/``ProofError`` if
        it is not one)."""
        frontier = value["frontier"]
        self.frontier = None if frontier is None else Frontier.from_json(frontier, "progress")
        self.frontier_note = str(value["frontierNote"])
        self.started = bool(value["started"])
        self.prev_seq = value["prevSeq"]
        self.prev_hash = None if value["prevHash"] is None else b64d(value["prevHash"], "prev")
        self.first_seq, self.last_seq = value["firstSeq"], value["lastSeq"]
        self.last_hash = None if value["lastHash"] is None else b64d(value["lastHash"], "last")
        self.counts = Counts.from_json(value["counts"])
        self.issues = [Issue.from_json(i) for i in value["issues"]]
        self.issues_total = int(value["issuesTotal"])
        self.group_counts = Counter({(g, k): int(n) for g, k, n in value["groupCounts"]})
        ff, fm = value["firstFailed"], value["firstMalformed"]
        self.first_failed = None if ff is None else Issue.from_json(ff)
        self.first_malformed = None if fm is None else Issue.from_json(fm)
        self.objects = Summaries.from_json(value["objects"])
        fingerprints = [Fingerprint.from_json(f, "progress") for f in value["fingerprints"]]
        self.fingerprints = {(f.first, f.last): f for f in fingerprints}
        self.map_seconds = float(value["mapSeconds"])
        self.rechecked_old_blocks = int(value["rechecked"])
        self.next_index = int(value["nextIndex"])
        self.opaque = [int(n) for n in value["opaque"]]
        self.opaque_total = int(value["opaqueTotal"])
        self.notable = [dict(n) for n in value["notable"]]
        self.notable_total = int(value["notableTotal"])
        done = {(s, k, t): (st, m, c) for s, k, t, st, m, c in value["digests"]}
        for d in self.digests:
            if (d.source, d.kind, d.tip) in done and d.status == "pending":
                d.status, d.message, computed = done[(d.source, d.kind, d.tip)]
                d.computed = None if computed is None else b64d(computed, "digest")
