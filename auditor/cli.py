"""``qldb-audit``: a thin click layer (options → call → render → exit code).

Exit codes: 0 verified (and the digest, if any, is trusted), 1 a check failed (tampering or
mismatch), 2 usage error or malformed/unreadable input, 3 consistent but nothing attests the
digest. With several files the worst wins: 1 > 2 > 3 > 0. Human ``OK:``/``FAIL:`` lines go to
stderr; ``--json`` prints one versioned report on stdout.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

import click

from auditor import __version__, formats, report, verify
from auditor.extras import MissingExtraError, from_import_error
from auditor.formats import Digest
from auditor.report import ItemReport
from proofs import MalformedError, ProofError
from proofs.note import VerifierKey, parse_vkey

EXIT_HELP = """
\b
Exit codes:
  0  verified, and the digest is trusted (supplied with --digest)
  1  a check failed (tampering or mismatch)
  2  usage error, or malformed / unreadable input
  3  consistent, but nothing attests the digest
With several files, all are checked; the worst code wins (1 > 2 > 3 > 0).
"""


class UsageError(click.UsageError):
    """A one-line error for a bad option value (exit 2)."""


def _fail_usage(error: ProofError) -> None:
    click.echo(f"ERROR: {error}", err=True)
    sys.exit(2)


def _digest(path: str | None) -> Digest | None:
    if path is None:
        return None
    try:
        return formats.load_digest(path)
    except ProofError as e:
        _fail_usage(e)
    return None  # pragma: no cover - _fail_usage exits


def _render(command: str, items: list[ItemReport], as_json: bool, verbose: int) -> None:
    for item in items:
        click.echo(item.headline(), err=True)
        if verbose:
            for check in item.checks:
                where = f" ({check.detail})" if check.detail else ""
                click.echo(f"  ok  {check.name}: {check.subject}{where}", err=True)
            for note in item.notes:
                click.echo(f"  note  {note}", err=True)
    if len(items) > 1:
        counts = report.summary(items)
        line = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
        click.echo(f"summary: {len(items)} items: {line}", err=True)
    if as_json:
        click.echo(report.to_json(command, items))
    sys.exit(report.worst_exit_code(items))


def _common(f: Callable[..., None]) -> Callable[..., None]:
    f = click.option("--json", "as_json", is_flag=True, help="Print a JSON report on stdout.")(f)
    return click.option("-v", "--verbose", count=True, help="List every check and note.")(f)


class _Main(click.Group):
    """The top-level group: a command that needs a missing pip extra says so in one line."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except MissingExtraError as e:
            click.echo(f"ERROR: {e}", err=True)
            sys.exit(e.exit_code)
        except ImportError as e:
            missing = from_import_error(e, f"qldb-audit {ctx.invoked_subcommand or ''}".strip())
            if missing is None:
                raise
            click.echo(f"ERROR: {missing}", err=True)
            sys.exit(missing.exit_code)


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="qldb-audit")
def main() -> None:
    """Verify Amazon QLDB data offline: Ion hashes, revisions, blocks, proofs and digests."""


@main.group(epilog=EXIT_HELP)
def verify_group() -> None:
    """Verify QLDB artefacts (revisions, blocks, receipts)."""


main.add_command(verify_group, name="verify")


@verify_group.command("revision", epilog=EXIT_HELP)
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option("--digest", "digest_path", type=click.Path(),
              help="A trusted GetDigest output; the file's Proof must fold to it.")  # fmt: skip
@_common
def verify_revision(
    files: tuple[str, ...], digest_path: str | None, as_json: bool, verbose: int
) -> None:
    """Recompute revision hashes: dot(IonHash(data), IonHash(metadata)) == hash.

    FILE: a revision in Ion text or binary, a revision as JSON (history output), an AWS
    GetRevision output, or a QLDB stream REVISION_DETAILS record.
    """
    _render(
        "verify revision", verify.revisions(list(files), _digest(digest_path)), as_json, verbose
    )


@verify_group.command("block", epilog=EXIT_HELP)
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option("--digest", "digest_path", type=click.Path(),
              help="A trusted GetDigest output; the file's Proof must fold to it.")  # fmt: skip
@_common
def verify_block(
    files: tuple[str, ...], digest_path: str | None, as_json: bool, verbose: int
) -> None:
    """Verify journal blocks: revision hashes, revisions root and transactionInfo in
    entriesHashList, entriesHash, blockHash.

    FILE: an AWS GetBlock output, a journal block in Ion, or a QLDB stream BLOCK_SUMMARY record.
    """
    _render("verify block", verify.blocks(list(files), _digest(digest_path)), as_json, verbose)


@verify_group.command("receipt", epilog=EXIT_HELP)
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option("--revision", "revision_path", type=click.Path(),
              help="The revision the receipt is for; its hash must be the receipt's.")  # fmt: skip
@click.option("--digest", "digest_path", type=click.Path(),
              help="A digest you trust (GetDigest output); else exit 3 at best.")  # fmt: skip
@_common
def verify_receipt(
    files: tuple[str, ...],
    revision_path: str | None,
    digest_path: str | None,
    as_json: bool,
    verbose: int,
) -> None:
    """Verify proofs of inclusion: fold(RevisionHash, Proof) == digest, block <= tip.

    FILE: a QLDB key-value store LedgerMetadata receipt (JSON) or a GetRevision output with its
    Proof.
    """
    trusted = _digest(digest_path)
    try:
        items = verify.receipts(list(files), trusted, revision_path)
    except ProofError as e:
        _fail_usage(e)
    _render("verify receipt", items, as_json, verbose)


def trusted_keys(values: tuple[str, ...]) -> list[VerifierKey]:
    """``--trust-key`` values: a vkey, or a file holding vkeys (one per line)."""
    keys = []
    for value in values:
        texts = [value]
        if "+" not in value or os.path.exists(value):
            try:
                with open(value) as f:
                    texts = [line for line in f.read().splitlines() if line.strip()]
            except OSError as e:
                _fail_usage(
                    MalformedError(
                        "trust-key", value, f"not a vkey, nor a readable file ({e.strerror})"
                    )
                )
        for text in texts:
            try:
                keys.append(parse_vkey(text))
            except ProofError as e:
                _fail_usage(MalformedError(e.reason, f"--trust-key {value}", e.problem))
    return keys


def _trust_options(f: Callable[..., None]) -> Callable[..., None]:
    f = click.option(
        "--min-signatures", type=click.IntRange(min=1), default=1, show_default=True,
        help="How many of the trusted keys must have signed (k of n).",
    )(f)  # fmt: skip
    return click.option(
        "--trust-key", "trust_keys", multiple=True, envvar="QLDB_AUDIT_TRUST_KEYS",
        help="A verifier key name+id+key (or a file of them) whose signature you trust.",
    )(f)  # fmt: skip


@verify_group.command("bundle", epilog=EXIT_HELP)
@click.argument("files", nargs=-1, required=True, type=click.Path())
@_trust_options
@_common
def verify_bundle(
    files: tuple[str, ...], trust_keys: tuple[str, ...], min_signatures: int, as_json: bool,
    verbose: int,
) -> None:  # fmt: skip
    """Verify receipt bundles offline: content -> revision hash -> proof -> digest -> signed
    checkpoint. Without a trusted signature: exit 3."""
    items = verify.bundles(list(files), trusted_keys(trust_keys), min_signatures)
    _render("verify bundle", items, as_json, verbose)


@verify_group.command("consistency", epilog=EXIT_HELP)
@click.argument("files", nargs=-1, required=True, type=click.Path())
@_trust_options
@_common
def verify_consistency(
    files: tuple[str, ...], trust_keys: tuple[str, ...], min_signatures: int, as_json: bool,
    verbose: int,
) -> None:  # fmt: skip
    """Verify that a newer signed checkpoint extends an older one (no rewritten history)."""
    items = verify.consistency(list(files), trusted_keys(trust_keys), min_signatures)
    _render("verify consistency", items, as_json, verbose)


def _register() -> None:
    from auditor.cli_audit import register
    from auditor.cli_ledger import ledger_group
    from auditor.cli_serve import serve

    main.add_command(ledger_group)
    register(verify_group)
    main.add_command(serve)


_register()
