"""``qldb-audit ledger …``: the writer on the command line (JSON on stdout).

The ledger file comes from ``--ledger PATH`` or the ``QLDB_AUDIT_LEDGER`` environment
variable. Exit codes: 0 done, 1 an expected-version conflict, 2 bad input (non-JSON value,
document over the size cap, unknown table or key, redaction of the latest revision, …).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from auditor import bundle, jsonout
from auditor.formats import loads_json
from auditor.ledger import Ledger, LedgerError, Revision

LEDGER_HELP = "The ledger file (or set QLDB_AUDIT_LEDGER)."


def _ledger_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--ledger", "ledger_path", envvar="QLDB_AUDIT_LEDGER", required=True,
        type=click.Path(), help=LEDGER_HELP,
    )(f)  # fmt: skip


def _table_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--table", "-t", required=True, help="The table.")(f)


def _fail(error: LedgerError | ValueError, code: int = 2) -> None:
    click.echo(f"ERROR: {error}", err=True)
    sys.exit(getattr(error, "exit_code", code))


def _open(path: str) -> Ledger:
    try:
        return Ledger.open(path)
    except LedgerError as e:
        _fail(e)
    raise AssertionError  # pragma: no cover - _fail exits


def _emit(value: Any, output: str | None = None) -> None:
    text = value if isinstance(value, str) else jsonout.dumps(value, indent=2) + "\n"
    if output:
        with open(output, "w") as f:
            f.write(text)
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)


def _value(text: str, where: str) -> Any:
    """VALUE is JSON text, or @FILE holding JSON text (JSON → Ion by the documented rule)."""
    if text.startswith("@"):
        try:
            with open(text[1:]) as f:
                text = f.read()
        except OSError as e:
            _fail(ValueError(f"{where}: cannot read {text[1:]} ({e.strerror})"))
    try:
        return loads_json(text)
    except ValueError as e:
        _fail(ValueError(f"{where}: not JSON ({e})"))
    raise AssertionError  # pragma: no cover


def _revision_json(revision: Revision) -> dict[str, Any]:
    return {
        "table": revision.table,
        "key": revision.key,
        "documentId": revision.document_id,
        "version": revision.version,
        "blockAddress": {"strandId": revision.value["blockAddress"]["strandId"],
                         "sequenceNo": revision.sequence_no},
        "hash": revision.hash,
        "data": revision.value.get("data"),
        "dataHash": revision.value.get("dataHash"),
        "metadata": revision.value["metadata"],
    }  # fmt: skip


def _run(action: Callable[[], Any], output: str | None = None) -> None:
    try:
        result = action()
    except LedgerError as e:
        _fail(e)
    except Exception as e:  # never a traceback for the user; QLDB_AUDIT_DEBUG=1 shows it
        if os.environ.get("QLDB_AUDIT_DEBUG"):
            raise
        _fail(ValueError(f"unexpected {type(e).__name__}: {e}"))
    _emit(result, output)


@click.group("ledger")
def ledger_group() -> None:
    """The writer: a QLDB-compatible verifiable ledger in one SQLite file."""


@ledger_group.command("init")
@_ledger_option
@click.option("--name", required=True, help="The ledger name (letters, digits, - and _).")
@click.option("--table", "tables", multiple=True, help="Create this table too (repeatable).")
@click.option("--max-document-bytes", type=click.IntRange(min=1024), default=128 * 1024,
              show_default=True, help="The document size cap (Ion binary bytes).")  # fmt: skip
def init(ledger_path: str, name: str, tables: tuple[str, ...], max_document_bytes: int) -> None:
    """Create a ledger and its signing key (LEDGER.key, mode 0600); print the public vkey."""

    def act() -> dict[str, Any]:
        ledger = Ledger.create(
            ledger_path, name, tables=tables, max_document_bytes=max_document_bytes
        )
        return {
            "ledger": ledger_path,
            "name": ledger.name,
            "strandId": ledger.strand_id,
            "keyFile": ledger.key_path,
            "vkey": ledger.vkey,
        }

    _run(act)


@ledger_group.command("create-table")
@_ledger_option
@click.argument("name")
def create_table(ledger_path: str, name: str) -> None:
    """Create a table."""
    ledger = _open(ledger_path)
    _run(lambda: {"table": name, "tableId": ledger.create_table(name)})


@ledger_group.command("vkey")
@_ledger_option
def vkey(ledger_path: str) -> None:
    """Print the ledger's public verifier key (name+keyid+key)."""
    click.echo(_open(ledger_path).vkey)


@ledger_group.command("put")
@_ledger_option
@_table_option
@click.argument("key")
@click.argument("value")
@click.option("--expected-version", type=int, help="Fail unless this is the current version.")
def put(ledger_path: str, table: str, key: str, value: str, expected_version: int | None) -> None:
    """Write KEY = VALUE (JSON text, or @FILE) in one transaction."""
    ledger = _open(ledger_path)
    data = _value(value, f"{key}: VALUE")
    _run(lambda: _revision_json(ledger.put(table, key, data, expected_version)))


@ledger_group.command("put-many")
@_ledger_option
@_table_option
@click.argument("file", type=click.File("r"))
def put_many(ledger_path: str, table: str, file: Any) -> None:
    """Write the JSON Lines of FILE ({"key", "value"[, "expectedVersion"]}) in ONE transaction."""
    ledger = _open(ledger_path)
    items = []
    for number, line in enumerate(file, 1):
        if not line.strip():
            continue
        where = f"{file.name}: line {number}"
        record = _value(line, where)
        if not isinstance(record, dict) or set(record) - {"key", "value", "expectedVersion"}:
            _fail(ValueError(f'{where}: expected {{"key", "value"[, "expectedVersion"]}}'))
        if "key" not in record or "value" not in record:
            _fail(ValueError(f"{where}: missing key or value"))
        items.append((record["key"], record["value"], record.get("expectedVersion")))
    _run(lambda: [_revision_json(r) for r in ledger.put_many(table, items)])


@ledger_group.command("get")
@_ledger_option
@_table_option
@click.argument("key")
def get(ledger_path: str, table: str, key: str) -> None:
    """Print the current value of KEY (null if it does not exist or was deleted)."""
    ledger = _open(ledger_path)
    _run(lambda: ledger.get(table, key))


@ledger_group.command("history")
@_ledger_option
@_table_option
@click.argument("key")
@click.option("--from", "since", help="ISO-8601 start (inclusive).")
@click.option("--to", "until", help="ISO-8601 end (inclusive).")
def history(ledger_path: str, table: str, key: str, since: str | None, until: str | None) -> None:
    """Print every revision of KEY, oldest first."""
    ledger = _open(ledger_path)
    _run(lambda: [_revision_json(r) for r in ledger.history(table, key, since, until)])


@ledger_group.command("delete")
@_ledger_option
@_table_option
@click.argument("key")
@click.option("--expected-version", type=int)
def delete(ledger_path: str, table: str, key: str, expected_version: int | None) -> None:
    """Delete KEY (a revision with metadata and no data)."""
    ledger = _open(ledger_path)
    _run(lambda: _revision_json(ledger.delete(table, key, expected_version)))


@ledger_group.command("redact")
@_ledger_option
@_table_option
@click.argument("key")
@click.option("--version", "version", type=int, required=True, help="A non-latest version.")
def redact(ledger_path: str, table: str, key: str, version: int) -> None:
    """Replace an old revision's data by its hash; the journal still verifies."""
    ledger = _open(ledger_path)
    _run(lambda: _revision_json(ledger.redact(table, key, version)))


@ledger_group.command("receipt")
@_ledger_option
@_table_option
@click.argument("key")
@click.option("--version", "version", type=int, help="Default: the latest revision.")
@click.option("-o", "--output", type=click.Path(), help="Write to this file.")
def receipt(
    ledger_path: str, table: str, key: str, version: int | None, output: str | None
) -> None:
    """Print the receipt bundle of KEY (verify it with `qldb-audit verify bundle`)."""
    ledger = _open(ledger_path)
    _run(lambda: json.dumps(bundle.receipt_bundle(ledger, table, key, version), indent=2) + "\n",
         output)  # fmt: skip


@ledger_group.command("digest")
@_ledger_option
@click.option("--tip", type=int, help="Default: the current tip.")
@click.option("-o", "--output", type=click.Path(), help="Write to this file.")
def digest(ledger_path: str, tip: int | None, output: str | None) -> None:
    """Print the digest (GetDigest shape) and its signed checkpoint."""
    ledger = _open(ledger_path)

    def act() -> str:
        signed = ledger.digest(tip)
        return json.dumps({**signed.get_digest_json(), "checkpoint": signed.checkpoint},
                          indent=2) + "\n"  # fmt: skip

    _run(act, output)


@ledger_group.command("consistency")
@_ledger_option
@click.option("--from", "old_tip", type=int, required=True, help="The older tip.")
@click.option("--to", "new_tip", type=int, help="The newer tip (default: the current tip).")
@click.option("-o", "--output", type=click.Path(), help="Write to this file.")
def consistency(ledger_path: str, old_tip: int, new_tip: int | None, output: str | None) -> None:
    """Print a consistency proof between two signed checkpoints."""
    ledger = _open(ledger_path)

    def act() -> str:
        new = ledger.tip() if new_tip is None else new_tip
        return json.dumps(bundle.consistency_file(ledger, old_tip, new), indent=2) + "\n"

    _run(act, output)


@ledger_group.command("verify")
@_ledger_option
def verify_ledger(ledger_path: str) -> None:
    """Verify every block, the chain and the digest of the ledger file itself."""
    from proofs import ProofError

    ledger = _open(ledger_path)
    try:
        count = ledger.verify_journal()
    except ProofError as e:
        click.echo(f"FAIL: {e}", err=True)
        sys.exit(1)
    click.echo(f"OK: {ledger_path}: {count} blocks verified, chain and digest recomputed", err=True)


@ledger_group.command("export")
@_ledger_option
@click.argument("dest")
@click.option("--format", "output_format", type=click.Choice(["ion_text", "ion_binary", "json"]),
              default="ion_text", show_default=True)  # fmt: skip
@click.option("--since", help="ISO-8601: first block time (inclusive).")
@click.option("--until", help="ISO-8601: end of the window (exclusive).")
@click.option(
    "--max-blocks-per-object", type=click.IntRange(min=1), default=1000, show_default=True
)
def export_command(
    ledger_path: str, dest: str, output_format: str, since: str | None, until: str | None,
    max_blocks_per_object: int,
) -> None:  # fmt: skip
    """Export the journal in QLDB's layout to DEST: a directory or s3://bucket/prefix."""
    from auditor.export import ExportError, export

    ledger = _open(ledger_path)
    try:
        result = export(
            ledger, dest, output_format, since, until, max_blocks_per_object=max_blocks_per_object
        )
    except ExportError as e:
        _fail(ValueError(str(e)))
    _emit(
        {
            "exportId": result.export_id,
            "format": result.output_format,
            "startedManifest": result.started_manifest,
            "completedManifest": result.completed_manifest,
            "checkpoint": result.checkpoint,
            "digest": result.digest_json,
            "keys": list(result.keys),
            "firstSequenceNo": result.first_seq,
            "lastSequenceNo": result.last_seq,
            "blocks": result.block_count,
        }
    )
