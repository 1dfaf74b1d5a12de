"""``qldb-audit``: a thin click layer (options → call → render → exit code).

Exit codes (auditor/verdict.py): 0 verified — every claim proven and an anchor you supplied
matched; 1 refuted — tampering, or a trusted key's signature missing or bad; 2 usage error or
unreadable input; 3 consistent, but something is not proven. With several files the worst
wins: 1 > 2 > 3 > 0. The verdicts go to stdout as plain lines (``--json``: one versioned
report instead); diagnostics go to stderr.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Callable
from types import FrameType

import click

from auditor import __version__, budget, verdict, verify
from auditor.cli_options import fail_usage, option_file, trusted_keys
from auditor.extras import MissingExtraError, from_import_error
from auditor.render import summary_line, verdict_lines
from auditor.verdict import Verdict
from auditor.verify import Policy
from proofs import ProofError

EXIT_HELP = """
\b
Exit codes:
  0  verified: every claim proven, and a trust anchor you supplied matched
  1  refuted: tampering, or a trusted key's signature missing or bad
  2  usage error, or malformed / unreadable input
  3  consistent, but not everything is proven (no anchor, another tip, ...)
With several files, all are checked; the worst code wins (1 > 2 > 3 > 0).
"""


def render(command: str, items: list[Verdict], as_json: bool, verbose: int) -> None:
    """Print the verdicts (plain lines, or the JSON report) and exit with the worst code."""
    if as_json:
        click.echo(verdict.to_json(command, items))
    else:
        for item in items:
            for line in verdict_lines(item, verbose):
                click.echo(line)
        if len(items) > 1:
            click.echo(summary_line(items))
    sys.exit(verdict.exit_code(items))


def _common(f: Callable[..., None]) -> Callable[..., None]:
    f = click.option("--json", "as_json", is_flag=True, help="Print a JSON report on stdout.")(f)
    return click.option("-v", "--verbose", count=True, help="Show the evidence and notes.")(f)


def _digest_options(f: Callable[..., None]) -> Callable[..., None]:
    f = click.option(
        "--consistency", "consistency_path", type=click.Path(),
        help="A consistency proof from the file's digest (its tip) to the --digest (another "
        "tip).",
    )(f)  # fmt: skip
    return click.option(
        "--digest", "digest_path", type=click.Path(),
        help="A digest you trust (a GetDigest output); the file's proof must lead to it.",
    )(f)  # fmt: skip


def digest_policy(digest_path: str | None, consistency_path: str | None = None) -> Policy:
    digest = option_file(verify.load_trusted_digest, digest_path)
    consistency = option_file(verify.load_consistency, consistency_path)

    return Policy(digest=digest, consistency=consistency)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


class _Main(click.Group):
    """The top-level group: a command that needs a missing pip extra says so in one line;
    SIGTERM and SIGINT stop any command at once, even mid-parse (the parsers are pure Python,
    so the handler runs), with exit 130 and nothing half-written (outputs are written to a
    temporary file and renamed; ledger writes roll back); ``verify export --state`` saves its
    progress first."""

    def invoke(self, ctx: click.Context) -> object:
        with contextlib.suppress(ValueError):  # not the main thread: the caller's handlers
            signal.signal(signal.SIGTERM, _on_sigterm)
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo(f"INTERRUPTED: qldb-audit {ctx.invoked_subcommand or ''}".rstrip(),
                       err=True)  # fmt: skip
            sys.exit(130)
        except MissingExtraError as e:
            click.echo(f"ERROR: {e}", err=True)
            sys.exit(e.exit_code)
        except ImportError as e:
            missing = from_import_error(e, f"qldb-audit {ctx.invoked_subcommand or ''}".strip())
            if missing is None:
                raise
            click.echo(f"ERROR: {missing}", err=True)
            sys.exit(missing.exit_code)


def _parse_budget(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is None:
        return
    try:
        budget.set_seconds(budget.parse_seconds(value, "--parse-budget"))
    except ValueError as e:
        raise click.BadParameter(str(e).removeprefix("--parse-budget: ")) from None


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="qldb-audit")
@click.option(
    "--parse-budget", metavar="SECONDS", envvar=budget.ENV, expose_value=False,
    callback=_parse_budget, is_eager=True,
    help=f"How long reading one input may take (each file, manifest, data object, ledger row)"
    f"; slower is exit 2 naming the input. Default {budget.DEFAULT_SECONDS:g}.",
)  # fmt: skip
def main() -> None:
    """Verify Amazon QLDB data offline: Ion hashes, revisions, blocks, proofs and digests."""


@main.group(epilog=EXIT_HELP)
def verify_group() -> None:
    """Verify QLDB artefacts (revisions, blocks, receipts, bundles, exports)."""


main.add_command(verify_group, name="verify")


@verify_group.command("revision", epilog=EXIT_HELP)
@click.argument("files", nargs=-1, required=True, type=click.Path())
@_digest_options
@_common
def verify_revision(
    files: tuple[str, ...], digest_path: str | None, consistency_path: str | None,
    as_json: bool, verbose: int,
) -> None:  # fmt: skip
    """Recompute revision hashes: dot(IonHash(data), IonHash(metadata)) == hash.

    FILE: a revision in Ion text or binary, a revision as JSON (history output), an AWS
    GetRevision output, or a QLDB stream REVISION_DETAILS record. Without --digest the answer
    is 3 at best: a hash that matches its own content proves nothing about where it came from.
    """
    policy = digest_policy(digest_path, consistency_path)
    items = [v for path in files for v in verify.check_file(path, "revision", policy)]
    render("verify revision", items, as_json, verbose)


@verify_group.command("block", epilog=EXIT_HELP)
@click.argument("files", nargs=-1, required=True, type=click.Path())
@_digest_options
@_common
def verify_block(
    files: tuple[str, ...], digest_path: str | None, consistency_path: str | None,
    as_json: bool, verbose: int,
) -> None:  # fmt: skip
    """Verify journal blocks: revision hashes, revisions root and transactionInfo in
    entriesHashList, entriesHash, blockHash; with --digest, the block's proof.

    FILE: an AWS GetBlock output, a journal block in Ion, or a QLDB stream BLOCK_SUMMARY record.
    """
    policy = digest_policy(digest_path, consistency_path)
    items = [v for path in files for v in verify.check_file(path, "block", policy)]
    render("verify block", items, as_json, verbose)


@verify_group.command("receipt", epilog=EXIT_HELP)
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option("--revision", "revision_path", type=click.Path(),
              help="The revision the receipt is for; its hash must be the receipt's.")  # fmt: skip
@_digest_options
@_common
def verify_receipt(
    files: tuple[str, ...], revision_path: str | None, digest_path: str | None,
    consistency_path: str | None, as_json: bool, verbose: int,
) -> None:  # fmt: skip
    """Verify proofs of inclusion: the receipt's proof folds its RevisionHash to a digest you
    trust (--digest), at the same tip or linked to it by --consistency.

    FILE: a QLDB key-value store LedgerMetadata receipt (JSON) or a GetRevision output with its
    Proof. Receipt bundles of qldb-audit ledgers: use `verify bundle`.
    """
    policy = digest_policy(digest_path, consistency_path)
    try:
        items = verify.receipts(list(files), policy, revision_path)
    except ProofError as e:
        fail_usage(e)
    render("verify receipt", items, as_json, verbose)


def key_policy(
    trust_keys: tuple[str, ...], witness_keys: tuple[str, ...], min_signatures: int,
    min_witnesses: int, digest_path: str | None = None,
) -> Policy:  # fmt: skip
    log = trusted_keys(trust_keys)
    witnesses = trusted_keys(witness_keys, "--witness-key")
    try:
        verify.check_trust_set([*log, *witnesses], "--trust-key/--witness-key")
    except ProofError as e:
        fail_usage(e)
    digest = option_file(verify.load_trusted_digest, digest_path)

    return Policy(
        digest=digest, log_keys=tuple(log), witness_keys=tuple(witnesses),
        min_signatures=min_signatures, min_witnesses=min_witnesses,
    )  # fmt: skip


def trust_options(f: Callable[..., None]) -> Callable[..., None]:
    f = click.option(
        "--min-witnesses", type=click.IntRange(min=0), default=0, show_default=True,
        help="How many --witness-key cosignatures are required.",
    )(f)  # fmt: skip
    f = click.option(
        "--witness-key", "witness_keys", multiple=True, envvar="QLDB_AUDIT_WITNESS_KEYS",
        help="A witness's verifier key (or a file of them): its cosignature counts as a "
        "witness's, never as the ledger's.",
    )(f)  # fmt: skip
    f = click.option(
        "--min-signatures", type=click.IntRange(min=1), default=1, show_default=True,
        help="How many of the ledger's trusted keys must have signed (k of n).",
    )(f)  # fmt: skip
    return click.option(
        "--trust-key", "trust_keys", multiple=True, envvar="QLDB_AUDIT_TRUST_KEYS",
        help="The ledger's verifier key name+id+key (or a file of them); a signature counts "
        "only when the key's name is the checkpoint's ledger.",
    )(f)  # fmt: skip


@verify_group.command("bundle", epilog=EXIT_HELP)
@click.argument("files", nargs=-1, required=True, type=click.Path())
@trust_options
@click.option("--document", "document_path", type=click.Path(),
              help="The invoice you hold (JSON or Ion): it must be the bundle's document; a "
              "number only written differently (51990.5 for 51990.50) is explained.")  # fmt: skip
@_common
def verify_bundle(
    files: tuple[str, ...], trust_keys: tuple[str, ...], min_signatures: int,
    witness_keys: tuple[str, ...], min_witnesses: int, document_path: str | None,
    as_json: bool, verbose: int,
) -> None:  # fmt: skip
    """Verify receipt bundles offline: content -> revision hash -> proof -> digest -> signed
    checkpoint. Without --trust-key: exit 3; not signed by a key you trust: exit 1."""
    policy = key_policy(trust_keys, witness_keys, min_signatures, min_witnesses)
    try:
        items = verify.bundles(list(files), policy, document_path)
    except ProofError as e:
        fail_usage(e)
    render("verify bundle", items, as_json, verbose)


@verify_group.command("consistency", epilog=EXIT_HELP)
@click.argument("files", nargs=-1, required=True, type=click.Path())
@trust_options
@click.option("--digest", "digest_path", type=click.Path(),
              help="A digest you trust for a side given as a plain digest (e.g. a QLDB digest "
              "saved before a migration).")  # fmt: skip
@_common
def verify_consistency(
    files: tuple[str, ...], trust_keys: tuple[str, ...], min_signatures: int,
    witness_keys: tuple[str, ...], min_witnesses: int, digest_path: str | None,
    as_json: bool, verbose: int,
) -> None:  # fmt: skip
    """Verify that a newer signed checkpoint extends an older one (no rewritten history)."""
    policy = key_policy(trust_keys, witness_keys, min_signatures, min_witnesses, digest_path)
    items = [v for path in files for v in verify.check_file(path, "consistency", policy)]
    render("verify consistency", items, as_json, verbose)


def _register() -> None:
    from auditor import cli_import  # noqa: F401 - adds `ledger import` to the ledger group
    from auditor.cli_audit import register
    from auditor.cli_ledger import ledger_group
    from auditor.cli_serve import serve

    main.add_command(ledger_group)
    register(verify_group)
    main.add_command(serve)


_register()
