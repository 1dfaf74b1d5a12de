"""``qldb-audit ledger import SOURCE``: a QLDB journal export into a new ledger (docs/migration.md).

A thin click layer over :func:`auditor.ledger.importer.import_export`. On success it prints what
``ledger init`` prints (the ledger, its name, strand, key file and vkey) and an ``imported``
section (blocks, revisions per table, the boundary, the digests matched, what was kept without
being recomputable). On a refusal nothing is created, and one line on stderr says why.
"""

from __future__ import annotations

import os
import sys
from typing import Any, NoReturn

import click

from auditor import jsonout
from auditor.atomic import write_atomic
from auditor.cli_audit import _Bar
from auditor.cli_ledger import ledger_group
from auditor.ledger import LedgerError
from auditor.ledger.importer import ImportOptions, ImportRefusedError, import_export

EXIT_HELP = """
\b
Exit codes:
  0  imported: every block verified, the chain links from block 0, each --digest is the
     Merkle root at its tip, and one of them covers the last block (or --accept-unanchored)
  1  refuted: a hash, the chain, a digest or a document's versions disagree; nothing created
  2  partial (blocks missing: named), unreadable, a JSON Lines export, a shape the ledger
     cannot index, or the ledger or its key file exists; nothing created
  3  not proven: no digest you supplied covers the last block; nothing created
"""
EXIT_CODES = {"refuted": 1, "partial": 2, "malformed": 2, "not-proven": 3}


def _table_map(pairs: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        qldb, sep, ours = pair.partition("=")
        if not sep or not qldb or not ours:
            _usage(f"--table-map {pair!r}: expected QLDB_TABLE=OUR_TABLE")
        if qldb in out or ours in out.values():
            _usage(f"--table-map {pair!r}: each table once")
        out[qldb] = ours
    return out


def _usage(message: str) -> NoReturn:
    click.echo(f"ERROR: {message}; nothing created", err=True)
    sys.exit(2)


@ledger_group.command("import", epilog=EXIT_HELP)
@click.argument("source")
@click.option(
    "--ledger",
    "ledger_path",
    envvar="QLDB_AUDIT_LEDGER",
    required=True,
    type=click.Path(),
    help="The ledger file to create (or set QLDB_AUDIT_LEDGER).",
)
@click.option("--name", help="The ledger's name (default: the export's ledgerName).")
@click.option(
    "--digest",
    "digests",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="A GetDigest output you saved from QLDB (repeatable): it must be the Merkle "
    "root of the export's blocks 0..its tip.",
)
@click.option(
    "--table-map",
    "table_map",
    multiple=True,
    metavar="QLDB=OURS",
    help="Import QLDB table QLDB as OURS (repeatable).",
)
@click.option(
    "--accept-unanchored",
    is_flag=True,
    help="Import even if no digest you supplied covers the last block (the JSON says "
    "which tip is anchored).",
)
@click.option("--export-id", help="Which export, when SOURCE holds several.")
@click.option("--strand", "strand_id", help="Which strand, when there are several.")
@click.option(
    "--max-document-bytes",
    type=click.IntRange(min=1024),
    default=128 * 1024,
    show_default=True,
    help="The document size cap for writes after the import.",
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False),
    help="Write the audit's JSON report (verify export's) here, also on a refusal.",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress line on stderr (default: when it is a terminal).",
)
def import_command(
    source: str, ledger_path: str, name: str | None, digests: tuple[str, ...],
    table_map: tuple[str, ...], accept_unanchored: bool, export_id: str | None,
    strand_id: str | None, max_document_bytes: int, report_path: str | None,
    progress: bool | None,
) -> None:  # fmt: skip
    """Verify a QLDB journal export (SOURCE: a directory or s3://bucket/prefix, Ion binary or Ion
    text) and import it into a new ledger with a new signing key: QLDB's blocks as they are,
    its strand, documents, versions and tables; new writes chain onto QLDB's last block."""
    options = ImportOptions(
        source=source, path=ledger_path, name=name, digests=digests,
        table_map=_table_map(table_map), accept_unanchored=accept_unanchored,
        export_id=export_id, strand_id=strand_id, max_document_bytes=max_document_bytes,
        command_line=("qldb-audit", *sys.argv[1:]),
    )  # fmt: skip
    bar = _Bar(sys.stderr.isatty() if progress is None else progress)
    try:
        result = import_export(options, bar)
    except ImportRefusedError as e:
        bar.clear()
        _write_report(report_path, e.report)
        label = (
            "FAIL"
            if e.status == "refuted"
            else "NOT PROVEN"
            if e.status == "not-proven"
            else "ERROR"
        )
        click.echo(f"{label}: {e}", err=True)
        sys.exit(EXIT_CODES[e.status])
    except LedgerError as e:
        bar.clear()
        click.echo(f"ERROR: {e}", err=True)
        sys.exit(2)
    except Exception as e:  # never a traceback for the user
        bar.clear()
        if os.environ.get("QLDB_AUDIT_DEBUG"):
            raise
        click.echo(
            f"ERROR: unexpected {type(e).__name__}: {str(e)[:300]}; nothing created", err=True
        )
        sys.exit(2)
    bar.clear()
    _write_report(report_path, result.report)
    out: dict[str, Any] = {
        "ledger": ledger_path, "name": result.name, "strandId": result.strand_id,
        "keyFile": result.key_path, "vkey": result.vkey, "imported": result.summary,
    }  # fmt: skip
    click.echo(jsonout.dumps(out, indent=2))
    summary = result.summary
    if "lastBlock" in summary:
        click.echo(
            f"OK: {source}: blocks 0-{summary['lastBlock']} imported into {ledger_path} (digests "
            f"matched: {len(summary['digestsMatched'])}, anchored to tip "
            f"{summary['anchoredTip']})",
            err=True,
        )


def _write_report(path: str | None, report: Any) -> None:
    if path is None or report is None:
        return
    try:
        write_atomic(path, (report.to_json() + "\n").encode())
    except OSError as e:
        click.echo(f"ERROR: --report {path}: cannot write ({e.strerror or e})", err=True)
        sys.exit(2)
