"""``qldb-audit verify export SOURCE``: audit a whole journal export (auditor/audit/).

A thin click layer like auditor/cli.py: options → :func:`auditor.audit.audit` → render → exit
code (the verdict model of auditor/verdict.py: 0 verified, 1 refuted, 2 unusable input, 3
consistent but not everything proven; 130 interrupted, progress saved with ``--state``). The
verdict goes to stdout (``--json``: the report instead), ``--junit``/``--html`` write files;
diagnostics and the progress line (only on a terminal) go to stderr.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import click

from auditor.audit import AuditOptions, AuditUsageError, Progress, audit
from auditor.audit.engine import AuditRefutedError, SeqSet
from auditor.cli_options import trusted_keys
from auditor.extras import MissingExtraError
from auditor.verify import check_trust_set
from proofs import ProofError

EXIT_HELP = """
\b
Exit codes:
  0  verified: every block recomputes, the chain links, every block's contents
     are checkable (or accepted by you), and a digest you trust covers the last block
  1  refuted: tampering or mismatch (the first break names the block), or a
     trusted key's signature missing or bad
  2  usage error, or an unreadable export, object, digest or state file
  3  consistent, but not everything is proven (each claim is named)
  130 interrupted (with --state, the next run resumes)
The worst code wins (1 > 2 > 3 > 0).
"""


def _error(message: str) -> None:
    click.echo(f"ERROR: {message}", err=True)
    sys.exit(2)


class _Bar:
    """One self-overwriting status line on a terminal; nothing otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.last = 0.0
        self.width = 0

    def __call__(self, p: Progress) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.last < 0.2 and p.objects_done < p.objects_total:
            return
        self.last = now
        filled = int(30 * p.objects_done / max(1, p.objects_total))
        rate = p.revisions / p.elapsed if p.elapsed > 0 else 0.0
        line = (
            f"[{'#' * filled}{'.' * (30 - filled)}] {p.objects_done}/{p.objects_total} objects,"
            f" {p.blocks} blocks, {p.revisions} revisions, {rate:,.0f} rev/s"
        )
        self.width = max(self.width, len(line))
        click.echo("\r" + line.ljust(self.width), err=True, nl=False)

    def clear(self) -> None:
        if self.enabled and self.width:
            click.echo("\r" + " " * self.width + "\r", err=True, nl=False)


def _write(path: str, text: str, what: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as e:
        _error(f"{what} {path}: cannot write ({e.strerror})")


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def register(group: click.Group) -> None:
    """Add ``export`` to the ``verify`` group."""
    group.add_command(verify_export)


def _options(f: Callable[..., None]) -> Callable[..., None]:
    options = [
        click.option("--digest", "digests", multiple=True, type=click.Path(),
                     help="A digest to check: GetDigest output, signed checkpoint, or the "
                     "migration sample's proofs.json (repeatable). GetDigest and proofs.json "
                     "files given here are trusted."),
        click.option("--trust-key", "trust_keys", multiple=True, envvar="QLDB_AUDIT_TRUST_KEYS",
                     help="A verifier key (or a file of them) whose checkpoint signature you "
                     "trust."),
        click.option("--min-signatures", type=click.IntRange(min=1), default=1,
                     show_default=True, help="Trusted signatures a checkpoint needs."),
        click.option("--witness-key", "witness_keys", multiple=True,
                     envvar="QLDB_AUDIT_WITNESS_KEYS",
                     help="A witness's verifier key: its cosignature counts as a witness's."),
        click.option("--min-witnesses", type=click.IntRange(min=0), default=0,
                     show_default=True, help="Witness cosignatures a checkpoint needs."),
        click.option("--accept-opaque-blocks", "accept_opaque", metavar="SEQS",
                     help="Accept these blocks without transactionInfo (QLDB rules), e.g. "
                     "0,57,60-62 or all; otherwise they keep the export from exit 0."),
        click.option("--accept-deleted", is_flag=True,
                     help="Accept deleted revisions unrecomputed (QLDB's hash rule for them is "
                     "not known); otherwise they keep the export from exit 0."),
        click.option("--state-key", "state_key_path", type=click.Path(dir_okay=False),
                     help="An HMAC key authenticating the --state file (created if missing); "
                     "without it, old objects are re-verified every run."),
        click.option("--state", "state_path", type=click.Path(dir_okay=False),
                     help="Nightly runs: remember the verified tip, digest and frontier here; "
                     "verify only new blocks next time; resume an interrupted run."),
        click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
                     help="Processes verifying data objects in parallel on this machine."),
        click.option("--dask", "dask_address", metavar="SCHEDULER",
                     help="Verify the objects on a Dask cluster (tcp://host:port); needs "
                     "qldb-auditor[dask]."),
        click.option("--export-id", help="Which export, when SOURCE holds several."),
        click.option("--strand", "strand_id", help="Which strand, when there are several."),
        click.option("--rules", type=click.Choice(["writer", "qldb"]), default=None,
                     help="writer: exports of qldb-audit ledgers (header entry, deleted "
                     "revisions, exact layout); qldb: QLDB's own exports. Default: writer when "
                     "--trust-key is given, else qldb. Never read from the export."),
        click.option("--qldb-until", "qldb_until", type=click.IntRange(min=0), metavar="N",
                     help="A ledger migrated from QLDB (ledger import): QLDB's rules for blocks "
                     "0..N, the writer's rules after N. Never read from the export."),
        click.option("--json", "as_json", is_flag=True, help="Print the JSON report on stdout."),
        click.option("--junit", "junit_path", type=click.Path(dir_okay=False),
                     help="Write a JUnit XML report."),
        click.option("--html", "html_path", type=click.Path(dir_okay=False),
                     help="Write a self-contained HTML report."),
        click.option("--progress/--no-progress", default=None,
                     help="Progress line on stderr (default: when it is a terminal)."),
        click.option("-v", "--verbose", count=True, help="List every issue, check and note."),
    ]  # fmt: skip
    for option in reversed(options):
        f = option(f)
    return f


@click.command("export", epilog=EXIT_HELP)
@click.argument("source")
@_options
def verify_export(
    source: str, digests: tuple[str, ...], trust_keys: tuple[str, ...], min_signatures: int,
    witness_keys: tuple[str, ...], min_witnesses: int, accept_opaque: str | None,
    accept_deleted: bool, state_key_path: str | None,
    state_path: str | None, workers: int, dask_address: str | None, export_id: str | None,
    strand_id: str | None, rules: str | None, qldb_until: int | None, as_json: bool,
    junit_path: str | None,
    html_path: str | None, progress: bool | None, verbose: int,
) -> None:  # fmt: skip
    """Audit a journal export in QLDB's layout: SOURCE is a directory or s3://bucket/prefix.

    Checks every listed data object (Ion text, Ion binary or JSON Lines) with
    proofs.verify_block, the sequence and hash chain across objects, the Merkle root of the
    block hashes against each digest, and reports the first break by block address.
    """
    log_keys = trusted_keys(trust_keys)
    witnesses = trusted_keys(witness_keys, "--witness-key")
    try:
        check_trust_set([*log_keys, *witnesses], "--trust-key/--witness-key")
        accepted = None if accept_opaque is None else SeqSet(accept_opaque)
    except (ProofError, AuditUsageError) as e:
        _error(f"--accept-opaque-blocks: {e}" if isinstance(e, AuditUsageError) else str(e))
    options = AuditOptions(
        source=source, digests=list(digests), trusted_keys=log_keys,
        min_signatures=min_signatures, witness_keys=witnesses, min_witnesses=min_witnesses,
        state_path=state_path, state_key_path=state_key_path, workers=workers,
        dask=dask_address, export_id=export_id, strand_id=strand_id, rules=rules,
        qldb_until=qldb_until, accept_opaque=accepted, accept_deleted=accept_deleted,
        command_line=["qldb-audit", *sys.argv[1:]],
    )  # fmt: skip
    bar = _Bar(sys.stderr.isatty() if progress is None else progress)
    previous: Any = None
    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread (e.g. embedded): no handler
        previous = None
    try:
        report = audit(options, bar)
    except (AuditUsageError, MissingExtraError) as e:
        bar.clear()
        _error(str(e))
    except AuditRefutedError as e:
        bar.clear()
        click.echo(f"FAIL: {e} (exit 1)")
        sys.exit(1)
    except KeyboardInterrupt:
        bar.clear()
        saved = f"; progress saved in {state_path}, run again to resume" if state_path else ""
        click.echo(f"INTERRUPTED: {source}{saved}", err=True)
        sys.exit(130)
    except Exception as e:
        bar.clear()
        if os.environ.get("QLDB_AUDIT_DEBUG"):
            raise
        _error(f"{source}: cannot be audited ({type(e).__name__}: {e})")
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    bar.clear()
    if junit_path:
        _write(junit_path, report.junit(), "--junit")
    if html_path:
        _write(html_path, report.html(), "--html")
    if as_json:
        report.write_json(lambda text: click.echo(text, nl=False))  # objects streamed
        click.echo()
    else:
        for line in report.lines(verbose):
            click.echo(line)
    sys.exit(report.exit_code)
