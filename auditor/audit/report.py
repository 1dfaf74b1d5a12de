"""The export audit's report: one model, rendered as human lines, JSON, JUnit XML and HTML.

Statuses and exit codes are those of auditor/report.py: ``verified`` 0, ``failed`` 1 (a check
failed: tampering or a mismatch), ``malformed`` 2 (something could not be read), ``unattested``
3 (everything is consistent, but no trusted digest covers the export's last block); the worst
wins in the order 1 > 2 > 3 > 0.

The JSON report (``"format": "qldb-audit-export-report", "version": 1``) names every check
with its scope and status, the counts (blocks; revisions verified / hash-only / deleted /
system / failed), the first break in sequence order (block address, check, expected, actual),
every issue (up to a cap, with the exact total), each digest and whether it attests, what
could not be checked, per-object results, the state file's effect and the timing.
"""

from __future__ import annotations

import html
import json
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from auditor.audit.model import FAILED, MALFORMED, Counts, Issue
from auditor.report import EXIT_CODES
from proofs.errors import b64

if TYPE_CHECKING:
    from auditor.audit.digests import DigestInput
    from auditor.audit.layout import Export
    from auditor.audit.reduce import Reducer
    from auditor.audit.state import Verified

REPORT_FORMAT = "qldb-audit-export-report"
REPORT_VERSION = 1

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


@dataclass(slots=True)
class AuditReport:
    source: str
    export: dict[str, Any]
    status: str
    counts: Counts
    first_break: Issue | None
    issues: list[Issue]
    issues_total: int
    check_counts: dict[tuple[str, str], int]
    digests: list[DigestInput]
    digest: dict[str, Any]
    attested: bool
    checks: list[dict[str, Any]]
    not_checked: list[str]
    objects: list[dict[str, Any]]
    notes: list[str]
    state: dict[str, Any] | None
    timing: dict[str, Any]
    state_note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    # -- building ----------------------------------------------------------------------------
    @classmethod
    def build(
        cls, *, export: Export, reducer: Reducer, digests: list[DigestInput], options_mode: str,
        started_at: str, seconds: float, base: Verified | None, resumed_from: int,
        notes: list[str], state_path: str | None,
    ) -> AuditReport:  # fmt: skip
        counts = reducer.counts
        last = reducer.last_seq
        attested = any(
            d.trusted and d.status == "verified" and d.covers is not None and last is not None
            and d.covers >= last
            for d in digests
        )  # fmt: skip
        if not attested and base is not None and base.attested and last == base.tip:
            attested = True
            notes.append("no new blocks since the state's attested tip")
        kinds = Counter(i.kind for i in reducer.issues)
        failed = reducer.first_failed is not None or kinds[FAILED] > 0
        malformed = reducer.first_malformed is not None or kinds[MALFORMED] > 0
        status = (
            "failed" if failed else "malformed" if malformed
            else "verified" if attested else "unattested"
        )  # fmt: skip
        first_break = reducer.first_failed or reducer.first_malformed
        check_counts = reducer.group_counts
        fmt = export.output_format
        scope_blocks = (
            f"blocks {reducer.first_seq}-{last} ({counts.blocks} read"
            + (f", {counts.blocks_skipped} unchanged since an earlier run" if
               counts.blocks_skipped else "") + ")"
            if last is not None else "no block read"
        )  # fmt: skip
        scopes = {
            "manifest": f"{len(export.objects)} objects listed in {export.completed_name}",
            "objects-readable": f"{len(export.objects)} objects ({fmt})",
            "object-names": f"{len(export.objects)} objects",
            "sequence": scope_blocks,
            "chain": scope_blocks,
            "blocks": scope_blocks + f", {counts.revisions} revisions",
            "writer-layout": scope_blocks,
            "state": (f"blocks 0-{base.tip} verified on {base.time}" if base is not None
                      else "no state file"),
            "digests": f"{len(digests)} digest(s)",
        }  # fmt: skip
        checks = []
        for name, description, _ in CHECKS:
            nf = check_counts[(name, FAILED)]
            nm = check_counts[(name, MALFORMED)]
            status_ = "failed" if nf else "malformed" if nm else "passed"
            if name == "writer-layout" and not export.writer_rules:
                status_ = "not-checked"
            if name == "state" and base is None:
                status_ = "not-checked"
            verified_any = any(d.status == "verified" for d in digests)
            if name == "digests" and (not digests or (status_ == "passed" and not verified_any)):
                status_ = "not-checked"
            checks.append({"name": name, "description": description, "scope": scopes[name],
                           "status": status_, "failures": nf, "unreadable": nm})  # fmt: skip
        not_checked = _not_checked(export, reducer, counts, base, attested, last)
        computed = None if reducer.frontier is None else reducer.frontier.root()
        digest = {
            "tip": last if computed is not None else None,
            "digest": None if computed is None else b64(computed),
            "attested": attested,
            "attestedBy": [d.source for d in digests if d.trusted and d.status == "verified"],
            "note": reducer.frontier_note,
        }
        objects_status = Counter(o["status"] for o in reducer.objects)
        revisions_checked = counts.revisions
        timing = {
            "started": started_at,
            "seconds": round(seconds, 3),
            "mapSeconds": round(reducer.map_seconds, 3),
            "mode": options_mode,
            "revisionsPerSecond": round(revisions_checked / seconds) if seconds > 0 else None,
            "blocksPerSecond": round(counts.blocks / seconds) if seconds > 0 else None,
        }
        state = None
        if state_path is not None:
            state = {
                "path": state_path,
                "previousTip": None if base is None else base.tip,
                "previousDigest": None if base is None else b64(base.digest),
                "previousTime": None if base is None else base.time,
                "resumedFromObject": resumed_from or None,
                "oldBlocksRechecked": reducer.rechecked_old_blocks,
            }
        export_info = {
            "exportId": export.export_id, "strandId": export.strand_id,
            "ledgerName": export.ledger_name, "outputFormat": export.output_format,
            "completedManifest": export.completed_name, "startedManifest": export.started_name,
            "rules": "writer" if export.writer_rules else "qldb",
            "rulesReason": export.rules_reason, "objects": len(export.objects),
            "objectsByStatus": dict(objects_status),
            "firstBlock": reducer.first_seq, "lastBlock": last,
        }  # fmt: skip
        return cls(
            source=export.source.url, export=export_info, status=status, counts=counts,
            first_break=first_break, issues=list(reducer.issues),
            issues_total=reducer.issues_total, check_counts=dict(check_counts),
            digests=digests, digest=digest, attested=attested, checks=checks,
            not_checked=not_checked, objects=reducer.objects,
            notes=[*export.notes, *notes], state=state, timing=timing,
        )  # fmt: skip

    # -- JSON --------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        state = dict(self.state) if self.state is not None else None
        if state is not None:
            state["note"] = self.state_note
        return {
            "format": REPORT_FORMAT,
            "version": REPORT_VERSION,
            "command": "verify export",
            "source": self.source,
            "status": self.status,
            "exit_code": self.exit_code,
            "export": self.export,
            "checks": self.checks,
            "counts": self.counts.to_json(),
            "first_break": None if self.first_break is None else self.first_break.to_json(),
            "issues": [i.to_json() for i in self.issues],
            "issues_total": self.issues_total,
            "digests": [d.to_json() for d in self.digests],
            "digest": self.digest,
            "not_checked": self.not_checked,
            "objects": self.objects,
            "notes": self.notes,
            "state": state,
            "timing": self.timing,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    # -- human -------------------------------------------------------------------------------
    def headline(self) -> str:
        e, c = self.export, self.counts
        what = (
            f"export {e['exportId']} (strand {e['strandId']}, {e['outputFormat']}, {e['rules']}"
            f" rules): {c.blocks + c.blocks_skipped} blocks"
        )
        if e["lastBlock"] is not None:
            what += f" {e['firstBlock'] if e['firstBlock'] is not None else '?'}-{e['lastBlock']}"
        what += (f", {c.revisions} revisions ({c.verified} verified, {c.hash_only} hash-only,"
                 f" {c.deleted} deleted, {c.system} system, {c.failed} failed)")  # fmt: skip
        if self.status == "verified":
            by = ", ".join(self.digest["attestedBy"])
            digest = f"digest {self.digest['digest']}" if self.digest["digest"] else "block"
            return f"OK: {self.source}: {what}; {digest} attested by {by}"
        if self.status == "unattested":
            return (f"UNATTESTED: {self.source}: {what}; consistent, but no trusted digest covers"
                    f" block {e['lastBlock']}")  # fmt: skip
        label = "FAIL" if self.status == "failed" else "ERROR"
        assert self.first_break is not None
        brk = self.first_break
        where = f" at block {brk.seq}" if brk.seq is not None else ""
        return f"{label}: {self.source}: {what}; first break{where}: {brk.check}"

    def lines(self, verbose: int) -> list[str]:
        out = [self.headline()]
        shown = self.issues if verbose else self.issues[:20]
        out += ["  " + i.line() for i in shown]
        if len(shown) < self.issues_total:
            out.append(f"  ... {self.issues_total - len(shown)} more issue(s) (see --json)")
        for d in self.digests:
            if verbose or d.status in ("failed", "malformed"):
                trust = "trusted" if d.trusted else "untrusted"
                out.append(f"  digest {d.status} ({d.kind}, {trust}): {d.message or d.source}")
        if verbose:
            for check in self.checks:
                out.append(f"  {check['status']:<11} {check['name']}: {check['scope']}")
            out += [f"  not checked: {n}" for n in self.not_checked]
            out += [f"  note: {n}" for n in self.notes]
        if self.state_note:
            out.append(f"  state: {self.state_note}")
        t = self.timing
        out.append(f"  timing: {t['seconds']} s, {t['revisionsPerSecond']} revisions/s "
                   f"({t['mode']})")  # fmt: skip
        return out

    # -- JUnit -------------------------------------------------------------------------------
    def junit(self) -> str:
        suite = ET.Element("testsuite", name="qldb-audit verify export")
        cases = 0
        failures = errors = 0
        klass = f"export.{self.export['exportId']}"
        for check in self.checks:
            cases += 1
            case = ET.SubElement(suite, "testcase", classname=klass, name=check["name"])
            ET.SubElement(case, "system-out").text = f"{check['description']} | {check['scope']}"
            group = [i for i in self.issues if group_of(i.check) == check["name"]]
            if check["status"] == "failed":
                failures += 1
                node = ET.SubElement(case, "failure", message=group[0].line() if group else "")
                node.text = "\n".join(i.line() for i in group)
            elif check["status"] == "malformed":
                errors += 1
                node = ET.SubElement(case, "error", message=group[0].line() if group else "")
                node.text = "\n".join(i.line() for i in group)
            elif check["status"] == "not-checked":
                ET.SubElement(case, "skipped", message="not checked")
        for d in self.digests:
            cases += 1
            case = ET.SubElement(suite, "testcase", classname=f"{klass}.digests", name=d.source)
            if d.status == "failed":
                failures += 1
                ET.SubElement(case, "failure", message=d.message)
            elif d.status == "malformed":
                errors += 1
                ET.SubElement(case, "error", message=d.message)
            elif d.status == "not-checked":
                ET.SubElement(case, "skipped", message=d.message)
        cases += 1
        case = ET.SubElement(suite, "testcase", classname=klass, name="attestation")
        if self.status == "unattested":
            failures += 1
            ET.SubElement(case, "failure", message="no trusted digest covers the last block")
        suite.set("tests", str(cases))
        suite.set("failures", str(failures))
        suite.set("errors", str(errors))
        suite.set("time", str(self.timing["seconds"]))
        suite.set("timestamp", self.timing["started"])
        ET.indent(suite)
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suite, "unicode") + "\n"

    # -- HTML --------------------------------------------------------------------------------
    def html(self) -> str:
        esc = html.escape
        colour = {"verified": "#1a7f37", "failed": "#cf222e", "malformed": "#bc4c00",
                  "unattested": "#9a6700"}[self.status]  # fmt: skip
        e, c = self.export, self.counts
        rows = [
            ("Source", self.source), ("Export", e["exportId"]), ("Ledger", e["ledgerName"] or "-"),
            ("Strand", e["strandId"]), ("Format", e["outputFormat"]),
            ("Rules", e["rulesReason"]), ("Blocks", f"{e['firstBlock']}-{e['lastBlock']}"),
            ("Blocks read / verified / failed / unchanged since last run",
             f"{c.blocks} / {c.blocks_verified} / {c.blocks_failed} / {c.blocks_skipped}"),
            ("Revisions verified / hash-only / deleted / system / failed",
             f"{c.verified} / {c.hash_only} / {c.deleted} / {c.system} / {c.failed}"),
            ("Digest at the last block", self.digest["digest"] or "not computed"),
            ("Attested by", ", ".join(self.digest["attestedBy"]) or "nothing"),
            ("Started", self.timing["started"]),
            ("Duration", f"{self.timing['seconds']} s ({self.timing['mode']}, "
                         f"{self.timing['revisionsPerSecond']} revisions/s)"),
        ]  # fmt: skip
        parts = [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>QLDB export audit: {esc(e['exportId'])} - {esc(self.status)}</title>",
            "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:75em;color:#1f2328}"
            "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #d0d7de;"
            "padding:.3em .6em;text-align:left;vertical-align:top}th{background:#f6f8fa}"
            "code{font-family:ui-monospace,monospace;word-break:break-all}"
            f".banner{{padding:1em;color:#fff;background:{colour};font-size:1.2em}}"
            ".failed{color:#cf222e}.malformed{color:#bc4c00}.passed,.verified{color:#1a7f37}"
            "</style></head><body>",
            "<h1>QLDB export audit</h1>",
            f'<p class="banner">{esc(self.status.upper())} (exit {self.exit_code}): '
            f"{esc(self.headline())}</p>",
            "<h2>Summary</h2><table>",
            *[f"<tr><th>{esc(k)}</th><td><code>{esc(str(v))}</code></td></tr>" for k, v in rows],
            "</table>",
        ]
        if self.first_break is not None:
            b = self.first_break
            parts += [
                "<h2>First break</h2><table>",
                f"<tr><th>Block</th><td><code>{esc(b.address or '-')}</code></td></tr>",
                f"<tr><th>Check</th><td>{esc(b.check)}</td></tr>",
                f"<tr><th>Object</th><td><code>{esc(b.object_key or '-')}</code></td></tr>",
                f"<tr><th>Problem</th><td>{esc(b.message)}</td></tr>",
                f"<tr><th>Expected</th><td><code>{esc(b.expected or '-')}</code></td></tr>",
                f"<tr><th>Actual</th><td><code>{esc(b.actual or '-')}</code></td></tr>",
                "</table>",
            ]
        parts.append(f"<h2>Failures and errors ({self.issues_total})</h2>")
        if self.issues:
            parts.append("<table><tr><th>Kind</th><th>Block</th><th>Check</th><th>Problem</th>"
                         "<th>Expected</th><th>Actual</th></tr>")  # fmt: skip
            for i in self.issues:
                parts.append(
                    f'<tr><td class="{esc(i.kind)}">{esc(i.kind)}</td>'
                    f"<td>{'' if i.seq is None else i.seq}</td><td>{esc(i.check)}</td>"
                    f"<td>{esc(i.message)}{(' — ' + esc(i.note)) if i.note else ''}</td>"
                    f"<td><code>{esc(i.expected or '')}</code></td>"
                    f"<td><code>{esc(i.actual or '')}</code></td></tr>"
                )
            parts.append("</table>")
        else:
            parts.append("<p>None.</p>")
        parts.append("<h2>What was checked</h2><table><tr><th>Check</th><th>What</th>"
                     "<th>Scope</th><th>Result</th></tr>")  # fmt: skip
        for check in self.checks:
            parts.append(
                f"<tr><td>{esc(check['name'])}</td><td>{esc(check['description'])}</td>"
                f"<td>{esc(check['scope'])}</td>"
                f'<td class="{esc(check["status"])}">{esc(check["status"])}</td></tr>'
            )
        parts.append("</table><h2>Digests</h2>")
        if self.digests:
            parts.append("<table><tr><th>Digest</th><th>Kind</th><th>Trusted</th><th>Tip</th>"
                         "<th>Result</th></tr>")  # fmt: skip
            for d in self.digests:
                parts.append(
                    f"<tr><td><code>{esc(d.source)}</code></td><td>{esc(d.kind)}</td>"
                    f"<td>{'yes' if d.trusted else 'no'}</td><td>{esc(str(d.tip))}</td>"
                    f'<td class="{esc(d.status)}">{esc(d.status)}: {esc(d.message)}</td></tr>'
                )
            parts.append("</table>")
        else:
            parts.append("<p>No digest was given or found.</p>")
        parts.append("<h2>What was not checked</h2><ul>")
        parts += [f"<li>{esc(n)}</li>" for n in self.not_checked] or ["<li>Nothing.</li>"]
        parts.append("</ul>")
        if self.notes or self.state_note:
            parts.append("<h2>Notes</h2><ul>")
            parts += [f"<li>{esc(n)}</li>" for n in [*self.notes, self.state_note] if n]
            parts.append("</ul>")
        parts.append(
            f"<h2>Data objects ({len(self.objects)})</h2><table><tr><th>Object</th>"
            "<th>Blocks</th><th>Bytes</th><th>SHA-256</th><th>Result</th></tr>"
        )
        for o in self.objects[:2000]:
            parts.append(
                f"<tr><td><code>{esc(str(o['key']))}</code></td><td>{o['first']}-{o['last']}"
                f"</td><td>{o['bytes']}</td><td><code>{esc(o['sha256'])}</code></td>"
                f'<td class="{esc(o["status"])}">{esc(o["status"])}</td></tr>'
            )
        parts.append("</table>")
        if len(self.objects) > 2000:
            parts.append(f"<p>… {len(self.objects) - 2000} more in the JSON report.</p>")
        parts.append(f"<p><small>{REPORT_FORMAT} version {REPORT_VERSION}</small></p>")
        parts.append("</body></html>")
        return "\n".join(parts) + "\n"


def _not_checked(
    export: Export, reducer: Reducer, counts: Counts, base: Verified | None, attested: bool,
    last: int | None,
) -> list[str]:  # fmt: skip
    out: list[str] = []
    if not export.writer_rules:
        out.append(
            "blockTimestamp and the block header: covered by no QLDB hash (exports of "
            "this project's writer cover them with a header entry)"
        )
        out.append("entriesHashList: QLDB's other entries are opaque internals, not explained")
        if counts.deleted:
            out.append(
                f"{counts.deleted} deleted revision(s): QLDB's hash rule for them is "
                "unknown: not recomputed (they still enter the revisions root)"
            )
    elif counts.deleted:
        out.append(
            f"{counts.deleted} deleted revision(s): recomputed by the writer's rule "
            "IonHash(metadata), not by a QLDB rule"
        )
    if counts.system:
        out.append(
            f"{counts.system} hash-only system revision(s): not recomputable (they "
            "enter the revisions root)"
        )
    if counts.hash_only:
        out.append(
            f"{counts.hash_only} redacted revision(s) (hash-only): their data is gone; "
            "the dataHash stands for it"
        )
    if export.output_format == "JSON":
        out.append(
            "JSON export: Ion types were restored by rule (hashes → blobs; blockTimestamp, "
            "startTime, txTime → timestamps from their exact text; numbers: ints stay ints, "
            "others → decimals). Symbols, timestamps, blobs, clobs, floats and typed nulls "
            "inside data cannot be restored: revisions holding them fail to recompute"
            + (f" ({counts.failed} did)" if counts.failed else "")
        )
    if counts.blocks_skipped:
        when = base.time if base is not None else "an earlier run"
        out.append(
            f"{counts.blocks_skipped} block(s) verified on {when} and unchanged since "
            "(same SHA-256): not re-read"
        )
    if reducer.frontier_note:
        out.append(reducer.frontier_note)
    if not attested and last is not None:
        out.append(
            f"attestation: no trusted digest covers block {last} (supply --digest with a "
            "GetDigest or proofs.json you trust, or --trust-key for the checkpoint)"
        )
    if export.unlisted:
        shown = ", ".join(export.unlisted[:5]) + (" …" if len(export.unlisted) > 5 else "")
        out.append(
            f"{len(export.unlisted)} object(s) beside the export are not in the "
            f"manifest and were not used: {shown}"
        )
    out.append(
        "blockAddress: checked against the object names, the sequence and the digest "
        "tips; QLDB proofs carry no positions"
    )
    return out
