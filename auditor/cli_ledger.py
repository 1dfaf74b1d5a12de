"""``qldb-audit ledger …``: the writer on the command line (JSON on stdout).

The ledger file comes from ``--ledger PATH`` or the ``QLDB_AUDIT_LEDGER`` environment
variable. Every failure is one line on stderr naming the file and the table, row or field, and
one exit code (the README's table, :data:`EXIT_HELP`): the ledger raises typed errors
(``auditor/ledger/errors.py``) and :func:`exit_code` maps them. Output files (``-o``) are
written whole or not at all.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import click

from auditor import bundle, jsonout
from auditor.atomic import write_atomic
from auditor.formats import loads_json
from auditor.ledger import ConflictError, IntegrityError, Ledger, LedgerError, Revision, value_of

LEDGER_HELP = "The ledger file (or set QLDB_AUDIT_LEDGER)."
EXIT_DONE, EXIT_CONFLICT, EXIT_ERROR, EXIT_INTEGRITY = 0, 1, 2, 4
EXIT_HELP = """
\b
Exit codes of the ledger commands:
  0  done (verify: every table agrees with the journal)
  1  an expected-version conflict (put, put-many, delete); nothing written
  2  bad input or an unusable ledger: a value that is not JSON, an unknown table or key, a
     file that is not a ledger, damaged SQLite pages, a missing or garbage key file, a full
     disk, a read-only ledger for a write; nothing written
  4  the ledger reads, but a stored row disagrees with its journal (tampering or damage):
     verify names the row; get, history, receipt and the proofs refuse to serve it
"""
MAX_VALUE_BYTES = 64 * 1024 * 1024  # a VALUE file larger than this is refused before parsing


def exit_code(error: Exception) -> int:
    """The exit code of a failure (the table above)."""
    if isinstance(error, ConflictError):
        return EXIT_CONFLICT
    if isinstance(error, IntegrityError):
        return EXIT_INTEGRITY
    return EXIT_ERROR


def _fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    click.echo(f"{'FAIL' if code == EXIT_INTEGRITY else 'ERROR'}: {message}", err=True)
    sys.exit(code)


def _ledger_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--ledger", "ledger_path", envvar="QLDB_AUDIT_LEDGER", required=True,
        type=click.Path(), help=LEDGER_HELP,
    )(f)  # fmt: skip


def _table_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--table", "-t", required=True, help="The table.")(f)


def _run(action: Callable[[], Any], output: str | None = None) -> None:
    """Run ``action``; print its result (or write it to ``output``); map every failure to one
    line and an exit code. Unexpected exceptions too (``QLDB_AUDIT_DEBUG=1`` shows them)."""
    from auditor.export import ExportError

    try:
        result = action()
        _emit(result, output)
    except (LedgerError, ExportError) as e:
        _fail(str(e), exit_code(e))
    except Exception as e:  # never a traceback for the user
        if os.environ.get("QLDB_AUDIT_DEBUG"):
            raise
        _fail(f"unexpected {type(e).__name__}: {str(e)[:300]}")


def _emit(value: Any, output: str | None = None) -> None:
    text = value if isinstance(value, str) else jsonout.dumps(value, indent=2) + "\n"
    if not output:
        click.echo(text, nl=False)
        return
    try:
        write_atomic(output, text.encode())
    except OSError as e:
        _fail(f"{output}: cannot write ({e.strerror or e}); nothing written")
    click.echo(f"wrote {output}", err=True)


def _read_text(path: str, what: str) -> str:
    """A file's text (``-``: standard input): UTF-8, at most ``MAX_VALUE_BYTES``; exit 2
    naming the file otherwise."""
    try:
        if path == "-":
            data = sys.stdin.buffer.read(MAX_VALUE_BYTES + 1)
        else:
            with open(path, "rb") as f:
                data = f.read(MAX_VALUE_BYTES + 1)
    except OSError as e:
        _fail(f"{what}: cannot read {path} ({e.strerror or e})")
    if len(data) > MAX_VALUE_BYTES:
        _fail(f"{what}: {path} is larger than {MAX_VALUE_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        _fail(f"{what}: {path} is not UTF-8 text (byte {e.start}); a value is JSON text")


def _json(text: str, where: str) -> Any:
    """JSON text → Ion values (the documented rule); exit 2 naming ``where`` otherwise."""
    try:
        return loads_json(text)
    except RecursionError:
        _fail(f"{where}: not JSON (nested too deeply)")
    except ArithmeticError:  # decimal.InvalidOperation: an exponent beyond any decimal
        _fail(f"{where}: not JSON (a number out of range)")
    except ValueError as e:
        _fail(f"{where}: not JSON ({str(e)[:200]})")


def _value(text: str, where: str) -> Any:
    """VALUE is JSON text, or @FILE holding JSON text (JSON → Ion by the documented rule)."""
    if text.startswith("@"):
        path = text[1:]
        return _json(_read_text(path, where), f"{where} {path}")
    return _json(text, where)


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


def _with_ledger(path: str, use: Callable[[Ledger], Any], output: str | None = None) -> None:
    """Open the ledger at ``path`` and run ``use`` on it, every failure mapped by :func:`_run`."""
    opened: list[Ledger] = []

    def action() -> Any:
        opened.append(Ledger.open(path))
        return use(opened[0])

    try:
        _run(action, output)
    finally:
        for ledger in opened:
            ledger.close()


@click.group("ledger", epilog=EXIT_HELP)
def ledger_group() -> None:
    """The writer: a QLDB-compatible verifiable ledger in one SQLite file."""


@ledger_group.command("init", epilog=EXIT_HELP)
@_ledger_option
@click.option("--name", required=True, help="The ledger name (letters, digits, - and _).")
@click.option("--table", "tables", multiple=True, help="Create this table too (repeatable).")
@click.option("--max-document-bytes", type=click.IntRange(min=1024), default=128 * 1024,
              show_default=True, help="The document size cap (Ion binary bytes).")  # fmt: skip
def init(ledger_path: str, name: str, tables: tuple[str, ...], max_document_bytes: int) -> None:
    """Create a ledger and its signing key (LEDGER.key, mode 0600) together (both or
    neither); print the public vkey."""

    def act() -> dict[str, Any]:
        ledger = Ledger.create(
            ledger_path, name, tables=tables, max_document_bytes=max_document_bytes
        )
        try:
            return {
                "ledger": ledger_path,
                "name": ledger.name,
                "strandId": ledger.strand_id,
                "keyFile": ledger.key_path,
                "vkey": ledger.vkey,
            }
        finally:
            ledger.close()

    _run(act)


@ledger_group.command("create-table", epilog=EXIT_HELP)
@_ledger_option
@click.argument("name")
def create_table(ledger_path: str, name: str) -> None:
    """Create a table."""
    _with_ledger(ledger_path, lambda ledger: {"table": name, "tableId": ledger.create_table(name)})


@ledger_group.command("vkey", epilog=EXIT_HELP)
@_ledger_option
def vkey(ledger_path: str) -> None:
    """Print the ledger's public verifier key (name+keyid+key)."""
    _with_ledger(ledger_path, lambda ledger: ledger.vkey + "\n")


@ledger_group.command("put", epilog=EXIT_HELP)
@_ledger_option
@_table_option
@click.argument("key")
@click.argument("value")
@click.option("--expected-version", type=int, help="Fail unless this is the current version.")
def put(ledger_path: str, table: str, key: str, value: str, expected_version: int | None) -> None:
    """Write KEY = VALUE (JSON text, or @FILE) in one transaction."""
    data = _value(value, f"{key}: VALUE")
    _with_ledger(
        ledger_path, lambda ledger: _revision_json(ledger.put(table, key, data, expected_version))
    )


@ledger_group.command("put-many", epilog=EXIT_HELP)
@_ledger_option
@_table_option
@click.argument("file", type=click.Path())
def put_many(ledger_path: str, table: str, file: str) -> None:
    """Write the JSON Lines of FILE ({"key", "value"[, "expectedVersion"]}) in ONE transaction."""
    items = []
    for number, line in enumerate(_read_text(file, "put-many").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{file}: line {number}"
        record = _json(line, where)
        if not isinstance(record, dict) or set(record) - {"key", "value", "expectedVersion"}:
            _fail(f'{where}: expected {{"key", "value"[, "expectedVersion"]}}')
        if "key" not in record or "value" not in record:
            _fail(f"{where}: missing key or value")
        items.append((record["key"], record["value"], record.get("expectedVersion")))
    _with_ledger(
        ledger_path, lambda ledger: [_revision_json(r) for r in ledger.put_many(table, items)]
    )


@ledger_group.command("get", epilog=EXIT_HELP)
@_ledger_option
@_table_option
@click.argument("key")
def get(ledger_path: str, table: str, key: str) -> None:
    """Print the current value of KEY, as it was put (a string stays a string); exit 2 if
    the key does not exist or was deleted."""
    _with_ledger(
        ledger_path,
        lambda ledger: jsonout.dumps(value_of(ledger.current(table, key).data), indent=2) + "\n",
    )


@ledger_group.command("history", epilog=EXIT_HELP)
@_ledger_option
@_table_option
@click.argument("key", required=False)
@click.option("--from", "since", help="ISO-8601 start (inclusive).")
@click.option("--to", "until", help="ISO-8601 end (inclusive).")
@click.option("--document-id", help="Instead of KEY: every revision of this document.")
def history(
    ledger_path: str, table: str, key: str | None, since: str | None, until: str | None,
    document_id: str | None,
) -> None:  # fmt: skip
    """Print every revision of KEY (or of one document, --document-id), oldest first; exit 2
    if the key was never written."""
    if (key is None) == (document_id is None):
        _fail("give KEY or --document-id")
    if document_id is not None:
        if since or until:
            _fail("--from/--to: with KEY only")
        _with_ledger(
            ledger_path,
            lambda ledger: [_revision_json(r) for r in ledger.document_history(table, document_id)],
        )
        return
    assert key is not None
    _with_ledger(
        ledger_path,
        lambda ledger: [_revision_json(r) for r in ledger.history(table, key, since, until)],
    )


@ledger_group.command("delete", epilog=EXIT_HELP)
@_ledger_option
@_table_option
@click.argument("key")
@click.option("--expected-version", type=int)
def delete(ledger_path: str, table: str, key: str, expected_version: int | None) -> None:
    """Delete KEY (a revision with metadata and no data)."""
    _with_ledger(
        ledger_path, lambda ledger: _revision_json(ledger.delete(table, key, expected_version))
    )


@ledger_group.command("redact", epilog=EXIT_HELP)
@_ledger_option
@_table_option
@click.argument("key")
@click.option("--version", "version", type=int, required=True, help="A non-latest version.")
def redact(ledger_path: str, table: str, key: str, version: int) -> None:
    """Replace an old revision's data by its hash; the journal still verifies."""
    _with_ledger(ledger_path, lambda ledger: _revision_json(ledger.redact(table, key, version)))


def _json_text(value: Any) -> str:
    return json.dumps(value, indent=2) + "\n"


@ledger_group.command("receipt", epilog=EXIT_HELP)
@_ledger_option
@_table_option
@click.argument("key")
@click.option("--version", "version", type=int, help="Default: the latest revision.")
@click.option("-o", "--output", type=click.Path(), help="Write to this file.")
def receipt(
    ledger_path: str, table: str, key: str, version: int | None, output: str | None
) -> None:
    """Print the receipt bundle of KEY (verify it with `qldb-audit verify bundle`)."""
    _with_ledger(
        ledger_path,
        lambda ledger: _json_text(bundle.receipt_bundle(ledger, table, key, version)),
        output,
    )


@ledger_group.command("digest", epilog=EXIT_HELP)
@_ledger_option
@click.option("--tip", type=int, help="Default: the current tip.")
@click.option("-o", "--output", type=click.Path(), help="Write to this file.")
def digest(ledger_path: str, tip: int | None, output: str | None) -> None:
    """Print the digest (GetDigest shape) and its signed checkpoint."""

    def act(ledger: Ledger) -> str:
        signed = ledger.digest(tip)
        return _json_text({**signed.get_digest_json(), "checkpoint": signed.checkpoint})

    _with_ledger(ledger_path, act, output)


@ledger_group.command("consistency", epilog=EXIT_HELP)
@_ledger_option
@click.option("--from", "old_tip", type=int, help="The older tip.")
@click.option("--from-digest", "from_digest", type=click.Path(dir_okay=False),
              help="Instead of --from: a digest saved from QLDB (GetDigest output) before the "
              "migration; it must be this ledger's digest at its tip.")  # fmt: skip
@click.option("--to", "new_tip", type=int, help="The newer tip (default: the current tip).")
@click.option("-o", "--output", type=click.Path(), help="Write to this file.")
def consistency(
    ledger_path: str, old_tip: int | None, from_digest: str | None, new_tip: int | None,
    output: str | None,
) -> None:  # fmt: skip
    """Print a consistency proof between two signed checkpoints, or from a saved QLDB digest
    (--from-digest) to the current signed checkpoint (verify it with `qldb-audit verify
    consistency FILE --trust-key VKEY --digest SAVED_DIGEST`)."""
    if (old_tip is None) == (from_digest is None):
        _fail("give --from TIP or --from-digest FILE")
    if from_digest is not None:
        if new_tip is not None:
            _fail("--from-digest proves a prefix of the current signed checkpoint: no --to")
        saved = _saved_digest(from_digest)
        _with_ledger(
            ledger_path,
            lambda ledger: _json_text(bundle.consistency_from_digest(ledger, saved, from_digest)),
            output,
        )
        return
    assert old_tip is not None

    def act(ledger: Ledger) -> str:
        new = ledger.tip() if new_tip is None else new_tip
        return _json_text(bundle.consistency_file(ledger, old_tip, new))

    _with_ledger(ledger_path, act, output)


def _saved_digest(path: str) -> Any:
    """A GetDigest file (ours with its checkpoint too), or exit 2 naming the file and field."""
    from auditor.formats import load_digest
    from proofs import ProofError

    try:
        return load_digest(path)
    except ProofError as e:
        _fail(f"--from-digest: {e}")


@ledger_group.command("verify", epilog=EXIT_HELP)
@_ledger_option
def verify_ledger(ledger_path: str) -> None:
    """Check every table of the file against its journal: SQLite's pages, meta, every block and
    the chain, each revision row, the documents index, the tables, the digest-tree nodes and
    the digest. Works on a read-only ledger."""

    def act(ledger: Ledger) -> str:
        count = ledger.verify_journal()
        click.echo(
            f"OK: {ledger_path}: {count} blocks verified, chain and digest recomputed, every "
            "table agrees with the journal",
            err=True,
        )
        return ""

    _with_ledger(ledger_path, act)


@ledger_group.command("export", epilog=EXIT_HELP)
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
    from auditor.export import export

    def act(ledger: Ledger) -> dict[str, Any]:
        result = export(
            ledger, dest, output_format, since, until, max_blocks_per_object=max_blocks_per_object
        )
        return {
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

    _with_ledger(ledger_path, act)
