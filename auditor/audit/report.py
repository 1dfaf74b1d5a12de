"""The export audit's report: one model, rendered as human lines, JSON, JUnit XML and HTML.

The verdict is the one model of every verify command (auditor/verdict.py): ``verified`` 0 only
when every claim is proven (every block recomputes, the chain links from the first block to
the last, every block's contents are checkable or accepted by you, and a digest you trust is
the Merkle root at the last block), ``refuted`` 1 (tampering or a mismatch, a trusted key's
missing or bad signature), ``malformed`` 2 (something could not be read), ``not-proven`` 3
(consistent, but some claim is not proven — each one is named).

The JSON report (``"format": "qldb-audit-export-report", "version": 1``) names every check
with its scope and status, the counts (blocks; revisions verified / hash-only / deleted /
system / failed), the first break in sequence order (block address, check, expected, actual),
every issue (up to a cap, with the exact total), each digest and whether it attests, what
could not be checked, per-object results, the state file's effect and the timing.
"""

from __future__ import annotations

import html
import itertools
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from auditor.audit.jsonstream import chunks
from auditor.audit.model import CHECKS, FAILED, MALFORMED, Counts, Issue, group_of
from auditor.verdict import Verdict, VerdictBuilder
from proofs import MalformedError
from proofs.errors import b64

if TYPE_CHECKING:
    from auditor.audit.digests import DigestInput
    from auditor.audit.layout import Export
    from auditor.audit.reduce import Reducer
    from auditor.audit.state import Verified
    from auditor.audit.summaries import Summaries

REPORT_FORMAT = "qldb-audit-export-report"
REPORT_VERSION = 2
MAX_SEQS_SHOWN = 20


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
    objects: Summaries  # one dict each, read back in order
    notes: list[str]
    state: dict[str, Any] | None
    timing: dict[str, Any]
    verdict: Verdict = field(default_factory=lambda: Verdict("", "export"))
    opaque: dict[str, Any] = field(default_factory=dict)
    notable: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    state_note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return self.verdict.exit_code

    # -- building ----------------------------------------------------------------------------
    @classmethod
    def build(
        cls, *, export: Export, reducer: Reducer, digests: list[DigestInput], options_mode: str,
        started_at: str, seconds: float, base: Verified | None, resumed_from: int,
        notes: list[str], state_path: str | None, accept_opaque: Any = None,
        accept_deleted: bool = False, state_authenticated: bool = False,
        provenance: dict[str, Any] | None = None,
    ) -> AuditReport:  # fmt: skip
        counts = reducer.counts
        last = reducer.last_seq
        anchors = [
            d for d in digests
            if d.trusted and d.status == "verified" and d.covers is not None and last is not None
            and d.covers >= last
        ]  # fmt: skip
        state_anchor = (
            not anchors and state_authenticated and base is not None and base.attested
            and last == base.tip
        )  # fmt: skip
        attested = bool(anchors) or state_anchor
        verdict = _verdict(
            export, reducer, digests, anchors, base, accept_opaque, accept_deleted,
            state_anchor,
        )  # fmt: skip
        status = verdict.status
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
        objects_status = reducer.objects.by_status
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
            "rules": export.rules, "qldbUntil": export.qldb_until,
            "importBoundaryDeclared": export.import_boundary,
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
            notes=[*export.notes, *notes], state=state, timing=timing, verdict=verdict,
            opaque={"total": reducer.opaque_total, "blocks": reducer.opaque},
            notable={"total": reducer.notable_total, "revisions": reducer.notable},
            provenance=provenance or {},
        )  # fmt: skip

    # -- JSON --------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        doc = self._doc()
        doc["objects"] = self.objects.to_json()
        return doc

    def _doc(self) -> dict[str, Any]:
        """The JSON report with its ``objects`` as the packed :class:`Summaries`."""
        state = dict(self.state) if self.state is not None else None
        if state is not None:
            state["note"] = self.state_note
        return {
            "format": REPORT_FORMAT,
            "version": REPORT_VERSION,
            "command": "verify export",
            "provenance": self.provenance,
            "source": self.source,
            "status": self.status,
            "exit_code": self.exit_code,
            "verdict": self.verdict.to_json(),
            "export": self.export,
            "checks": self.checks,
            "counts": self.counts.to_json(),
            "first_break": None if self.first_break is None else self.first_break.to_json(),
            "issues": [i.to_json() for i in self.issues],
            "issues_total": self.issues_total,
            "digests": [d.to_json() for d in self.digests],
            "digest": self.digest,
            "not_checked": self.not_checked,
            "opaque_blocks": self.opaque,
            "redacted_and_deleted": self.notable,
            "objects": self.objects,
            "notes": self.notes,
            "state": state,
            "timing": self.timing,
        }

    def to_json(self) -> str:
        return "".join(self.json_chunks())

    def json_chunks(self) -> Iterator[str]:
        """:meth:`to_json` in pieces, the objects read as they are written (a report of a
        million objects is written without a million dicts in memory)."""
        return chunks(self._doc(), indent=2)

    def write_json(self, write: Callable[[str], object]) -> None:
        """:meth:`to_json` handed to ``write`` in pieces of about 64 KiB."""
        pending: list[str] = []
        size = 0
        for text in self.json_chunks():
            pending.append(text)
            size += len(text)
            if size >= 65536:
                write("".join(pending))
                pending, size = [], 0
        write("".join(pending))

    # -- human -------------------------------------------------------------------------------
    def headline(self) -> str:
        from auditor.render import HEADLINES

        e, c = self.export, self.counts
        what = (
            f"export {e['exportId']} (strand {e['strandId']}, {e['outputFormat']}, {e['rules']}"
            f" rules): {c.blocks + c.blocks_skipped} blocks"
        )
        if e["lastBlock"] is not None:
            what += f" {e['firstBlock'] if e['firstBlock'] is not None else '?'}-{e['lastBlock']}"
        what += (f", {c.revisions} revisions ({c.verified} verified, {c.hash_only} hash-only,"
                 f" {c.deleted} deleted, {c.system} system,"
                 + (f" {c.unproven} not recomputable from JSON," if c.unproven else "")
                 + f" {c.failed} failed)")  # fmt: skip
        label = HEADLINES[self.status][0]
        if self.status == "verified":
            by = ", ".join(self.digest["attestedBy"])
            digest = f"digest {self.digest['digest']}" if self.digest["digest"] else "block"
            return f"OK: {self.source}: {what}; {digest} attested by {by} (exit 0)"
        if self.status == "not-proven":
            return (f"{label}: {self.source}: {what}; consistent, but not everything is proven"
                    " (exit 3)")  # fmt: skip
        brk = self.first_break
        where = f" at block {brk.seq}" if brk is not None and brk.seq is not None else ""
        check = brk.check if brk is not None else "digest"
        return (
            f"{label}: {self.source}: {what}; first break{where}: {check} (exit {self.exit_code})"
        )

    def lines(self, verbose: int) -> list[str]:
        out = [self.headline()]
        out += [f"  proven:      {c.text}" for c in self.verdict.claims if c.status == "proven"]
        out += [f"  not proven:  {c.text}" for c in self.verdict.claims if c.status == "not-proven"]
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
        if self.status == "not-proven":
            failures += 1
            unproven = [c.text for c in self.verdict.claims if c.status == "not-proven"]
            ET.SubElement(case, "failure", message="not proven: " + "; ".join(unproven))
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
        colour = {"verified": "#1a7f37", "refuted": "#cf222e", "malformed": "#bc4c00",
                  "not-proven": "#9a6700"}[self.status]  # fmt: skip
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
            ("Tool", f"qldb-audit {self.provenance.get('version', '?')}"),
            ("Command line", " ".join(self.provenance.get("commandLine", [])) or "-"),
            ("Started", self.timing["started"]),
            ("Finished", self.provenance.get("finished", "-")),
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
            ".failed,.refuted{color:#cf222e}.malformed{color:#bc4c00}"
            ".passed,.verified,.proven{color:#1a7f37}.not-proven{color:#9a6700}"
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
        parts.append("<h2>Claims</h2><table><tr><th>Claim</th><th>Status</th></tr>")
        for claim in self.verdict.claims:
            parts.append(
                f'<tr><td>{esc(claim.text)}</td><td class="{esc(str(claim.status))}">'
                f"{esc(str(claim.status))}</td></tr>"
            )
        parts.append("</table>")
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
        parts.append("<h2>Trust inputs</h2><table><tr><th>Kind</th><th>Source</th>"
                     "<th>SHA-256</th></tr>")  # fmt: skip
        for t in self.provenance.get("trustInputs", []):
            parts.append(
                f"<tr><td>{esc(t['kind'])}</td><td><code>{esc(t['source'])}</code></td>"
                f"<td><code>{esc(t['sha256'])}</code></td></tr>"
            )
        parts.append("</table>")
        if self.notable.get("revisions"):
            parts.append(
                f"<h2>Redacted and deleted revisions ({self.notable['total']})</h2><table>"
                "<tr><th>Kind</th><th>Block</th><th>Table</th><th>Document</th><th>Version</th>"
                "</tr>"
            )
            for r in self.notable["revisions"]:
                parts.append(
                    f"<tr><td>{esc(r['kind'])}</td><td>{r['sequenceNo']}</td>"
                    f"<td>{esc(str(r['table']))}</td><td><code>{esc(str(r['documentId']))}"
                    f"</code></td><td>{r['version']}</td></tr>"
                )
            parts.append("</table>")
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
        for o in itertools.islice(self.objects, 2000):
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


def _seqs(seqs: list[int], total: int) -> str:
    shown = ", ".join(map(str, seqs[:MAX_SEQS_SHOWN]))
    return shown + (f" … ({total} in all)" if total > MAX_SEQS_SHOWN else "")


def _verdict(
    export: Export, reducer: Reducer, digests: list[DigestInput], anchors: list[DigestInput],
    base: Verified | None, accept_opaque: Any, accept_deleted: bool, state_anchor: bool,
) -> Verdict:  # fmt: skip
    """The export's claims: every block recomputes, the chain links, the contents are checkable,
    and a digest you trust is the root at the last block (see the module docstring)."""
    v = VerdictBuilder(export.source.url, "export")
    c, last, first = reducer.counts, reducer.last_seq, reducer.first_seq
    v.fact("export", export.export_id)
    v.fact("ledger", f"{export.ledger_name} (stated by the started manifest)")
    v.fact("strand", export.strand_id)
    v.fact("rules", export.rules_reason)
    if last is not None:
        v.fact("blocks", f"{first}-{last}")
    failed = [i for i in reducer.issues if i.kind == FAILED]
    if reducer.first_failed is not None and reducer.first_failed not in failed:
        failed.append(reducer.first_failed)  # past the list's cap: it still refutes (exit 1)
    seen: set[str] = set()
    for issue in failed:
        if group_of(issue.check) in seen:
            continue
        seen.add(group_of(issue.check))
        from proofs import VerificationError

        v.refuted(VerificationError(issue.check, issue.locator or "", issue.message,
                                    issue.expected, issue.actual))  # fmt: skip
    malformed = reducer.first_malformed
    if failed or malformed is not None or last is None:
        error = None
        if malformed is not None:
            error = MalformedError(malformed.check, malformed.locator or "", malformed.message)
        elif last is None:
            error = MalformedError("no-blocks", export.source.url, "no block could be read")
        return v.build(error)
    read = c.blocks + c.blocks_skipped
    v.proven(
        "blocks", export.source.url,
        f"every block's hashes recompute ({read} blocks, {c.revisions} revisions"
        + (f"; {c.blocks_skipped} unchanged since a run your --state-key authenticates"
           if c.blocks_skipped else "") + ")",
    )  # fmt: skip
    v.proven(
        "chain", export.source.url,
        f"blocks {first}-{last} are contiguous and each previousBlockHash is the blockHash of the"
        " block before it; the manifest lists exactly the objects read",
    )  # fmt: skip
    opaque = [n for n in reducer.opaque if accept_opaque is None or n not in accept_opaque]
    accepted = len(reducer.opaque) - len(opaque)
    if reducer.opaque_total > len(reducer.opaque) and (
        accept_opaque is None or not accept_opaque.all
    ):
        opaque.append(-1)  # more than listed: some may not be accepted
    if opaque:
        v.not_proven(
            "opaque-blocks", export.source.url,
            f"{reducer.opaque_total} block(s) carry no transactionInfo (blocks "
            f"{_seqs(reducer.opaque, reducer.opaque_total)}): QLDB's hashes cannot tell a system "
            "block from one whose transaction was removed (accept them with "
            "--accept-opaque-blocks)",
        )  # fmt: skip
    elif accepted:
        v.note(f"{accepted} block(s) without transactionInfo accepted (--accept-opaque-blocks)")
    deleted = c.deleted - c.deleted_recomputed
    if deleted and not accept_deleted:
        v.not_proven(
            "deleted-revisions", export.source.url,
            f"{deleted} deleted revision(s) (metadata, no data and no dataHash): QLDB's hash rule "
            "for them is not known, so their metadata is not proven (accept them with "
            "--accept-deleted)",
        )  # fmt: skip
    elif deleted:
        v.note(f"{deleted} deleted revision(s) accepted unrecomputed (--accept-deleted)")
    if c.unproven:
        v.not_proven(
            "json-types", export.source.url,
            f"{c.unproven} revision(s) do not recompute from JSON: JSON cannot carry every Ion "
            "type back (symbols, timestamps, blobs, floats inside data), so their content is not"
            " proven either way (export in Ion binary to prove it)",
        )  # fmt: skip
    if anchors:
        d = anchors[0]
        v.proven(
            "anchor", d.source,
            f"{d.anchor or d.source}: equals the digest of blocks 0..{d.covers}"
            if d.kind != "proofs-json" else
            f"{d.anchor or d.source}: the hash of block {d.covers} folds to it",
            anchor=d.anchor or d.source,
        )  # fmt: skip
        if d.kind == "proofs-json" and first not in (0, None):
            v.not_proven(
                "positions", export.source.url,
                f"the export starts at block {first}: the chain ties its blocks to the attested"
                " last block, but QLDB's hashes do not prove their sequence numbers",
            )  # fmt: skip
    elif state_anchor and base is not None:
        v.proven(
            "anchor", export.source.url,
            f"no block was added since the run of {base.time}, whose state your --state-key "
            f"authenticates and which a digest you trusted attested at tip {base.tip}",
            anchor=f"the state file authenticated by your --state-key ({base.time})",
        )  # fmt: skip
    else:
        trusted = [d for d in digests if d.trusted and d.status == "verified"]
        if trusted:
            tips = ", ".join(str(d.covers) for d in trusted)
            text = (f"the digest(s) you trust cover blocks up to {tips}, not the last block "
                    f"{last}")  # fmt: skip
        else:
            text = (
                f"no digest you trust covers the last block {last} (supply --digest with a "
                "GetDigest or proofs.json you trust, or --trust-key for the ledger's checkpoint)"
            )
        if reducer.frontier_note:
            text += f"; {reducer.frontier_note}"
        v.not_proven("anchor", export.source.url, text)
    return v.build()


def _not_checked(
    export: Export, reducer: Reducer, counts: Counts, base: Verified | None, attested: bool,
    last: int | None,
) -> list[str]:  # fmt: skip
    out: list[str] = []
    if export.qldb_until is not None:
        out.append(
            f"blocks 0-{export.qldb_until} (QLDB's, before the migration): blockTimestamp and "
            "the block header are covered by no QLDB hash; QLDB's other entriesHashList entries "
            "are opaque; deleted revisions are not recomputed (QLDB's rule is unknown)"
        )
    elif not export.writer_rules:
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
