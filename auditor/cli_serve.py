"""``qldb-audit serve``: the REST API over a ledger file (see docs/rest-api.md).

``qldb-audit serve --ledger PATH [--host 127.0.0.1] [--port 8080] [--config FILE]`` runs the
server until SIGINT/SIGTERM; ``qldb-audit serve new-key --party NAME --role ROLE`` makes an
API key and prints the ``[[parties]]`` entry (with the key's hash) for the config file.
Exit codes: 0 stopped cleanly, 2 usage error or unusable ledger/config.
"""

from __future__ import annotations

import json
import os
import socket
import sys

import click

from auditor.ledger import Ledger, LedgerError
from proofs import ProofError


def _fail(message: str) -> None:
    click.echo(f"ERROR: {message}", err=True)
    sys.exit(2)


@click.group("serve", invoke_without_command=True)
@click.option(
    "--ledger",
    "ledger_path",
    envvar="QLDB_AUDIT_LEDGER",
    type=click.Path(),
    help="The ledger file (or set QLDB_AUDIT_LEDGER).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option(
    "--port",
    default=8080,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="The port (0: any free port; the chosen one is printed).",
)
@click.option(
    "--config",
    "config_path",
    envvar="QLDB_AUDIT_SERVE_CONFIG",
    type=click.Path(),
    help="The server config (TOML): parties and keys, tables, caps, rate limits.",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes (they share the ledger file; SQLite WAL).",
)
@click.option("--access-log", is_flag=True, help="Log every request.")
@click.pass_context
def serve(
    ctx: click.Context,
    ledger_path: str | None,
    host: str,
    port: int,
    config_path: str | None,
    workers: int,
    access_log: bool,
) -> None:
    """Serve the REST API (the AWS QLDB REST sample's routes and /v1) over a ledger."""
    if ctx.invoked_subcommand is not None:
        return
    from auditor.server.config import ConfigError, load_config

    if not ledger_path:
        _fail("--ledger PATH is required (or set QLDB_AUDIT_LEDGER)")
    assert ledger_path is not None
    try:
        config = load_config(config_path)
        ledger = Ledger.open(ledger_path)
        ledger.vkey  # noqa: B018 - the signing key must be readable: receipts need it
        ledger.close()
    except (ConfigError, LedgerError) as e:
        _fail(str(e))
    except (OSError, ProofError) as e:
        _fail(f"{ledger_path}.key: cannot read the ledger's signing key ({e})")
    if not config.parties:
        click.echo(
            "WARNING: no parties in the config: every request but /v1/health and "
            "/openapi.json will get 401 (see `qldb-audit serve new-key`)",
            err=True,
        )
    try:
        sockets = _listen(host, port, workers)
    except OSError as e:
        _fail(f"cannot listen on {host}:{port} ({e.strerror or e})")
    bound = sockets[0].getsockname()[1]
    click.echo(
        f"serving {ledger_path} on http://{host}:{bound} "
        f"({workers} worker{'s' if workers > 1 else ''}; Ctrl-C stops)",
        err=True,
    )
    if workers == 1:
        _serve(ledger_path, config_path, sockets[0], access_log)
    else:
        _supervise(ledger_path, config_path, sockets, access_log)


def _listen(host: str, port: int, count: int) -> list[socket.socket]:
    """``count`` listening sockets on one address. With several, each worker gets its own
    (SO_REUSEPORT): the kernel spreads connections over them, where one shared socket lets a
    single worker accept every keep-alive connection while the others idle."""
    reuse_port = count > 1 and hasattr(socket, "SO_REUSEPORT")
    first = socket.create_server((host, port), reuse_port=reuse_port, backlog=2048)
    sockets = [first]
    bound = first.getsockname()[1]
    for _ in range(count - 1):
        sockets.append(
            socket.create_server((host, bound), reuse_port=True, backlog=2048)
            if reuse_port
            else first
        )
    return sockets


def _serve(
    ledger_path: str, config_path: str | None, sock: socket.socket, access_log: bool
) -> None:
    """One server process on ``sock`` until SIGINT/SIGTERM (uvicorn's graceful shutdown)."""
    import uvicorn

    from auditor.server.app import create_app
    from auditor.server.config import load_config

    app = create_app(ledger_path, load_config(config_path))
    settings = uvicorn.Config(
        app,
        access_log=access_log,
        log_level="info" if access_log else "warning",
        timeout_graceful_shutdown=5,
        lifespan="on",
    )
    uvicorn.Server(settings).run(sockets=[sock])


def _supervise(
    ledger_path: str, config_path: str | None, sockets: list[socket.socket], access_log: bool
) -> None:
    """Run one worker process per socket; restart a worker that dies; on SIGINT/SIGTERM stop
    them all (each finishes its requests) and return."""
    import multiprocessing
    import signal
    import time

    context = multiprocessing.get_context("spawn")
    stopping = False

    def start(sock: socket.socket) -> multiprocessing.process.BaseProcess:
        worker = context.Process(
            target=_serve, args=(ledger_path, config_path, sock, access_log), daemon=False
        )
        worker.start()
        return worker

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    workers = [start(sock) for sock in sockets]
    try:
        while not stopping:
            time.sleep(0.2)
            for i, worker in enumerate(workers):
                if not stopping and worker.exitcode is not None:
                    click.echo(f"worker {worker.pid} exited ({worker.exitcode}): restarting",
                               err=True)  # fmt: skip
                    workers[i] = start(sockets[i])
    finally:
        for worker in workers:
            if worker.exitcode is None and worker.pid is not None:
                os.kill(worker.pid, signal.SIGTERM)
        for worker in workers:
            worker.join(15)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@serve.command("new-key")
@click.option("--party", required=True, help="The party's name (e.g. abc-dealer).")
@click.option("--role", required=True, type=click.Choice(["manufacturer", "dealer", "auditor"]))
@click.option("--bill-to", help="A dealer's billTo value (the invoices that are theirs).")
def new_key_command(party: str, role: str, bill_to: str | None) -> None:
    """Make an API key; print it once with its [[parties]] config entry (JSON on stdout)."""
    from auditor.server.config import hash_key, new_key

    if role == "dealer" and not bill_to:
        _fail("--bill-to is required for a dealer")
    key = new_key()
    lines = [
        "[[parties]]",
        f"name = {json.dumps(party)}",
        f"role = {json.dumps(role)}",
        f'key_sha256 = ["{hash_key(key)}"]',
    ]
    if bill_to:
        lines.append(f"bill_to = {json.dumps(bill_to)}")
    click.echo(
        json.dumps(
            {
                "party": party,
                "role": role,
                "key": key,
                "key_sha256": hash_key(key),
                "toml": "\n".join(lines) + "\n",
            },
            indent=2,
        )
    )
    click.echo(
        "the key is shown only now: give it to the party; the config keeps its hash", err=True
    )
