"""Part 3 of ``make demo``: the invoice story over the REST API, against a real server.

Starts ``qldb-audit serve`` on 127.0.0.1 over a fresh ledger, then plays the car maker, two
dealers and an auditor over HTTP: invoices posted, a dealer reads its own (and is refused
another's), downloads a receipt bundle and verifies it offline, marks the invoice paid with the
transfer details; the maker's webhook receiver gets the signed notification and checks it;
history shows both versions; the maker confirms, after which the dealer can change nothing; the
journal is exported and audited.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from auditor.server.client import ApiError, Client, WebhookReceiver

ABC = "ABC Car Dealer Pte Ltd"
BAY = "Bay Motors LLC"


def _key() -> tuple[str, str]:
    key = "qak_" + secrets.token_urlsafe(32)
    return key, hashlib.sha256(key.encode()).hexdigest()


def _config(path: Path, hook_url: str, hook_secret: str) -> dict[str, str]:
    keys = {name: _key() for name in ("carmaker", "abc", "bay", "auditor")}
    parties = [
        ("carmaker", "manufacturer", None, f'webhook_url = "{hook_url}"\n'
         f'webhook_secret = "{hook_secret}"\n'),
        ("abc", "dealer", ABC, ""),
        ("bay", "dealer", BAY, ""),
        ("auditor", "auditor", None, ""),
    ]  # fmt: skip
    text = "[webhooks]\nbackoff_base = 0.2\nscan_interval = 0.05\n\n"
    for name, role, bill_to, extra in parties:
        text += f'[[parties]]\nname = "{name}"\nrole = "{role}"\n'
        if bill_to:
            text += f'bill_to = "{bill_to}"\n'
        text += f'key_sha256 = ["{keys[name][1]}"]\n{extra}\n'
    path.write_text(text)
    path.chmod(0o600)  # it holds a webhook secret
    return {name: key for name, (key, _) in keys.items()}


def _start(ledger: Path, config: Path) -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
        [sys.executable, "-m", "auditor", "serve", "--ledger", str(ledger), "--config",
         str(config), "--port", "0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert server.stderr is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = server.stderr.readline()
        found = re.search(r"on (http://127\.0\.0\.1:\d+)", line)
        if found:
            return server, found.group(1)
        if not line and server.poll() is not None:
            break
    server.kill()
    raise SystemExit("demo: the server did not start")


def run(workdir: Path, cli: Callable[..., int], expect: Callable[[str, int, int], int]) -> int:
    """Play the story; ``cli(args, cwd, stdout)`` runs qldb-audit, ``expect`` counts surprises."""
    failures = 0
    ledger = workdir / "carmaker-rest.db"
    env = {**os.environ, "QLDB_AUDIT_LEDGER": str(ledger)}
    step = 0

    def say(text: str) -> None:
        nonlocal step
        step += 1
        print(f"{step}. {text}")

    say("The car maker creates its ledger and starts the REST server on 127.0.0.1")
    init = ["ledger", "init", "--name", "carmaker", "--table", "invoices"]
    failures += expect("init", 0, cli(init, workdir, workdir / "init.json", env))
    hook_secret = secrets.token_urlsafe(24)
    with WebhookReceiver(hook_secret) as hooks:
        keys = _config(workdir / "server.toml", hooks.url, hook_secret)
        server, url = _start(ledger, workdir / "server.toml")
        print(f"    serving on {url}; the maker's webhook receiver listens on {hooks.url}\n")
        maker, abc = Client(url, keys["carmaker"]), Client(url, keys["abc"])
        try:
            invoices: list[Mapping[str, Any]] = [
                {"key": "TEST10011", "value": {"date": "2021-05-22", "billTo": ABC,
                 "paymentStatus": "PENDING", "quantity": 10, "carInfo": {"model": "Jazz",
                 "make": "Honda", "year": 2021, "unitPrice": Decimal("89000.00")}}},
                {"key": "TEST10012", "value": {"date": "2021-05-23", "billTo": BAY,
                 "paymentStatus": "PENDING", "quantity": 4, "carInfo": {"model": "Yaris",
                 "make": "Toyota", "year": 2021, "unitPrice": Decimal("76500.50")}}},
            ]  # fmt: skip
            say("The maker posts two invoices (POST /, the AWS sample's route)")
            print(f"    {json.dumps(maker.put_values(invoices))}\n")
            say("ABC's dealer reads its invoice (GET /?keys=TEST10011)")
            own = abc.get_values(["TEST10011"])
            print(f"    billTo {own['billTo']}, unitPrice {own['carInfo']['unitPrice']}\n")
            say("... and not Bay Motors' invoice: the same answer as for one that does not exist")
            try:
                abc.get_values(["TEST10012"])
                failures += expect("refused", 400, 200)
            except ApiError as e:
                print(f"    HTTP {e.status} {e.reason}\n")  # the sample's 400 for "not found"
                failures += expect("refused", 400, e.status)
            say("ABC downloads the receipt bundle and verifies it offline with the maker's key")
            dealer = workdir / "abc-dealer"  # what ABC holds: the bundle and the key, no ledger
            dealer.mkdir()
            (dealer / "rest-receipt.json").write_text(
                json.dumps(abc.receipt("invoices", "TEST10011"), indent=2)
            )
            vkey = abc.call("GET", "/v1/vkey") + "\n"
            (dealer / "carmaker-rest.vkey").write_text(vkey)
            (workdir / "carmaker-rest.vkey").write_text(vkey)  # the auditor's copy, below
            offline = ["verify", "bundle", "rest-receipt.json", "--trust-key", "carmaker-rest.vkey"]
            outside = {k: v for k, v in os.environ.items() if k != "QLDB_AUDIT_LEDGER"}
            failures += expect("bundle", 0, cli(offline, dealer, None, outside))
            print()
            say("ABC marks the invoice paid, with the transfer details (PATCH with If-Match)")
            _, etag = abc.get_document("invoices", "TEST10011")
            payment = {"bank": "DBS", "reference": "TRF-20210601-0042"}
            patched = abc.patch_document(
                "invoices", "TEST10011",
                {"paymentStatus": "TRANSFERRED", "payment": payment}, if_match=etag,
            )  # fmt: skip
            print(f"    version {patched.get('version', '?')} committed\n")
            say("The maker's webhook receiver gets the signed notification and checks it")
            events = hooks.wait_for(1, timeout=15)
            event = events[0] if events else {}
            print(f"    {event.get('key')}: {event.get('oldStatus')} -> {event.get('newStatus')}"
                  f" by {event.get('changedBy')}; signature checked, receipt bundle attached:"
                  f" {'receipt' in event}\n")  # fmt: skip
            failures += expect("webhook", 1, len(events))
            say("The maker confirms; CONFIRMED is final for the dealer")
            maker.patch_document("invoices", "TEST10011", {"paymentStatus": "CONFIRMED"})
            try:
                abc.patch_document("invoices", "TEST10011", {"paymentStatus": "PENDING"})
                failures += expect("final", 403, 200)
            except ApiError as e:
                print(f"    the dealer's step back: HTTP {e.status} {e.reason}\n")
                failures += expect("final", 403, e.status)
            say("History shows every version")
            versions = [h["metadata"]["version"] for h in maker.history("TEST10011")]
            print(f"    versions {versions}\n")
            failures += expect("history", 3, len(versions))
            say("The journal is exported and an auditor audits the export offline")
            failures += expect("export", 0, cli(["ledger", "export", "rest-export"], workdir,
                                                workdir / "rest-export.json", env))  # fmt: skip
            failures += expect("audit", 0, cli(["verify", "export", "rest-export", "--trust-key",
                                                "carmaker-rest.vkey"], workdir))  # fmt: skip
        finally:
            maker.close()
            abc.close()
            server.terminate()
            server.wait(timeout=10)
            if server.stderr is not None:
                server.stderr.close()
    return failures
