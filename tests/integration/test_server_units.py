"""The server's parts in process: config parsing, the roles' rules, the token bucket, the
outbox (scan, attribution, retries, dead letters) with a fake sender, the receipt bundle
against auditor.bundle, the OpenAPI document against the route table, and `serve` on the CLI."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from auditor import bundle
from auditor.bundle import receipt_bundle_for as bundle_for_revision
from auditor.cli import main
from auditor.ledger import Ledger
from auditor.server import access
from auditor.server.access import ForbiddenError
from auditor.server.app import ROUTES
from auditor.server.client import Client, dumps, loads
from auditor.server.config import (
    ConfigError,
    Party,
    ServerConfig,
    WebhookSettings,
    default_config,
    hash_key,
    invoice_policy,
    load_config,
    new_key,
)
from auditor.server.documents import merge as _merge
from auditor.server.limits import ClientAddress, RateLimiter
from auditor.server.openapi import document
from auditor.server.outbox import Outbox
from auditor.server.schemas import Validator, check_schema, plain
from auditor.server.service import value_of
from auditor.server.web import ApiError, check_key, integer, nesting, parse_json
from tests.integration.server_support import ABC, XYZ, invoice

POLICY = invoice_policy()
MAKER = Party("carmaker", "manufacturer", ())
DEALER = Party("abc", "dealer", (), bill_to=ABC)
AUDITOR = Party("aud", "auditor", ())


# -- config ------------------------------------------------------------------------------------
def _config(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "server.toml"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_config_reads_parties_tables_and_limits(tmp_path: Path) -> None:
    key = new_key()
    (tmp_path / "notes.json").write_text('{"type": "object", "required": ["text"]}')
    path = _config(
        tmp_path,
        f"""
[server]
rate = 5
burst = 7
max_batch = 3
export_dir = "out"
[webhooks]
timeout = 2
[tables.notes]
schema = "notes.json"
[tables.invoices]
dealer_statuses = ["TRANSFERRED"]
[[parties]]
name = "abc"
role = "dealer"
bill_to = "{ABC}"
key_sha256 = "{hash_key(key)}"
webhook_url = "http://127.0.0.1:9/hook"
webhook_secret = "0123456789abcdef"
""",
    )
    config = load_config(str(path))
    assert (config.rate, config.burst, config.max_batch) == (5.0, 7, 3)
    assert config.export_dir == str(tmp_path / "out")
    assert config.webhooks.timeout == 2.0
    assert config.key_index()[hash_key(key)].bill_to == ABC
    assert config.tables["notes"].schema == {"type": "object", "required": ["text"]}
    assert config.tables["invoices"].dealer_statuses == ("TRANSFERRED",)
    assert config.tables["invoices"].party_field == "billTo"
    assert config.policy("other").schema is None
    assert load_config(None).tables["invoices"].status_field == "paymentStatus"
    assert key.startswith("qak_")
    assert len(key) == 47


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[server]\nrate = 0\n", "server.rate: must be greater than 0"),
        ("[server]\nrate = true\n", "got a boolean"),
        ("[server]\ncolour = 1\n", "colour: unknown setting"),
        ("[nope]\n", "nope: unknown setting"),
        ("[[parties]]\nname = 'a'\nrole = 'boss'\n", "role: expected one of"),
        ("[[parties]]\nrole = 'auditor'\n", "name: missing"),
        ("[[parties]]\nname = 'a'\nrole = 'dealer'\n", "bill_to: a dealer needs"),
        ("[[parties]]\nname = 'a'\nrole = 'auditor'\nkey_sha256 = 'abc'\n", "not a lowercase hex"),
        ("[[parties]]\nname = 'a'\nrole = 'auditor'\nwebhook_url = 'ftp://x'\n", "http:// or"),
        ("[[parties]]\nname = 'a'\nrole = 'auditor'\nwebhook_url = 'http://x'\n",
         "webhook_secret: a webhook needs"),
        ("[[parties]]\nname = 'a'\nrole = 'auditor'\n[[parties]]\nname = 'a'\nrole = 'auditor'\n",
         "appears twice"),
        ("[tables.t]\nschema = 'missing.json'\n", "cannot read a JSON Schema"),
        ("[tables.t]\nbad = 1\n", "tables.t.bad: unknown setting"),
        ("[tables.t]\ndealer_fields = [1]\n", "list of strings"),
        ("not toml = = =", "not valid TOML"),
        ("[tables.invoices]\nstates = 'loose'\n", 'expected "invoice" or "none"'),
        ("[server]\ntrusted_proxies = ['proxy.example']\n", "not an IP address or network"),
        ("[server]\ncors_origins = 3\n", "list of strings"),
        ("[server]\nbody_timeout = 0\n", "server.body_timeout: must be greater than 0"),
        ("parties = 3\n", "expected [[parties]]"),
    ],
)  # fmt: skip
def test_config_errors_name_the_setting(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem.replace("[", r"\[").replace("(", r"\(")):
        load_config(str(_config(tmp_path, text)))


def test_config_refuses_readable_secrets_and_bad_schemas(tmp_path: Path) -> None:
    text = (
        "[[parties]]\nname = 'a'\nrole = 'auditor'\nwebhook_url = 'http://127.0.0.1:1/'\n"
        "webhook_secret = '0123456789abcdef'\n"
    )
    with pytest.raises(ConfigError, match="chmod 600"):
        load_config(str(_config(tmp_path, text, 0o644)))
    (tmp_path / "bad.json").write_text('{"type": 12}')
    with pytest.raises(ConfigError, match="not a valid JSON Schema"):
        load_config(str(_config(tmp_path, "[tables.t]\nschema = 'bad.json'\n")))
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(str(tmp_path / "absent.toml"))
    none = load_config(str(_config(tmp_path, "[tables.t]\nschema = 'none'\n")))
    assert none.tables["t"].schema is None
    loose = load_config(str(_config(tmp_path, "[tables.invoices]\nstates = 'none'\n")))
    assert loose.tables["invoices"].states is None
    assert load_config(None).tables["invoices"].states is not None
    edge = load_config(
        str(_config(tmp_path, "[server]\ntrusted_proxies = ['10.0.0.0/8']\ncors_origins = ['*']\n"))
    )
    assert (edge.trusted_proxies, edge.cors_origins) == (("10.0.0.0/8",), ("*",))


# -- roles -------------------------------------------------------------------------------------
def test_dealer_rules() -> None:
    current = {**invoice(ABC), "_k": "I1"}
    paid = {**current, "paymentStatus": "TRANSFERRED", "payment": {"bank": "DBS"}}
    confirmed = {**paid, "paymentStatus": "CONFIRMED"}
    access.check_write(DEALER, POLICY, current, paid, "I1")
    access.check_write(DEALER, POLICY, paid, {**paid, "paymentStatus": "PENDING"}, "I1")
    access.check_write(DEALER, POLICY, confirmed, dict(confirmed), "I1")  # a re-post, no change
    access.check_write(MAKER, POLICY, None, paid, "I1")
    access.check_write(MAKER, POLICY, paid, confirmed, "I1")
    access.check_write(MAKER, POLICY, confirmed, current, "I1")  # a correction, on the record
    for party, old, new, reason, status in [
        (AUDITOR, current, paid, "role", 403),
        (DEALER, None, paid, "not-found", 404),
        (DEALER, current, None, "delete", 403),
        (DEALER, {**current, "billTo": XYZ}, {**paid, "billTo": XYZ}, "not-found", 404),
        (DEALER, current, {**paid, "quantity": 11}, "field", 403),
        (DEALER, current, {**current, "paymentStatus": "CONFIRMED"}, "status", 403),
        (DEALER, current, {**current, "paymentStatus": "TRANSFERRED"}, "state", 403),
        (DEALER, paid, {**paid, "payment": {"bank": "UOB"}}, "state", 403),
        (DEALER, current, {**current, "payment": {"bank": "UOB"}}, "state", 403),
        (DEALER, confirmed, {**confirmed, "paymentStatus": "PENDING"}, "state", 403),
        (DEALER, confirmed, {**confirmed, "payment": {"bank": "UOB"}}, "state", 403),
        (DEALER, current, "a string", "field", 403),
    ]:
        with pytest.raises(ForbiddenError) as e:
            access.check_write(party, POLICY, old, new, "I1")
        assert (e.value.reason, e.value.status) == (reason, status), (old, new)
    notes = ServerConfig().policy("notes")
    with pytest.raises(ForbiddenError) as e:
        access.check_table(DEALER, notes, "notes/n")
    assert e.value.reason == "table"
    assert access.can_read(AUDITOR, notes, None)


def test_changed_fields_are_exact() -> None:
    old = {"_k": "k", "p": Decimal("89000.50"), "q": 1}
    assert access.changed_fields(old, {"_k": "x", "p": Decimal("89000.50"), "q": 1}) == []
    assert access.changed_fields(old, {"p": Decimal("89000.5"), "q": 1}) == ["p"]
    assert access.changed_fields(old, {"p": Decimal("89000.50"), "q": Decimal(1)}) == ["q"]
    assert access.changed_fields(old, {"p": Decimal("89000.50")}) == ["q"]


@pytest.mark.parametrize("shared", [False, True])
def test_token_bucket(tmp_path: Path, shared: bool) -> None:
    now = [100.0]
    path = str(tmp_path / "limits") if shared else None
    limiter = RateLimiter(10.0, 3, path, clock=lambda: now[0])
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.take("a")
    assert wait == pytest.approx(0.1)
    assert RateLimiter.retry_after(wait) == "1"
    assert limiter.take("b") == 0.0  # per caller
    now[0] += 0.1
    assert limiter.take("a") == 0.0
    now[0] += 10
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]  # burst refilled, capped
    assert limiter.take("a") > 0
    RateLimiter.MAX_CALLERS = 5
    try:
        for i in range(10):
            limiter.take(f"ip:{i}")
        now[0] += 100
        limiter.take("late")
        if not shared:
            assert len(limiter._local) <= 6
    finally:
        RateLimiter.MAX_CALLERS = 10_000
    if shared:  # a second process's limiter on the same file spends the same tokens
        other = RateLimiter(10.0, 3, path, clock=lambda: now[0])
        assert [limiter.take("z"), other.take("z"), limiter.take("z")] == [0.0, 0.0, 0.0]
        assert other.take("z") > 0
        other.close()
    limiter.close()


def test_client_address_trusts_only_configured_proxies() -> None:
    plain = ClientAddress([])
    assert plain.of("127.0.0.1", "203.0.113.9") == "127.0.0.1"
    behind = ClientAddress(["10.0.0.0/8"])
    assert behind.of("10.0.0.5", "203.0.113.9, 10.0.0.7") == "203.0.113.9"
    assert behind.of("198.51.100.1", "203.0.113.9") == "198.51.100.1"  # not a proxy of ours
    assert behind.of("10.0.0.5", "not-an-address") == "10.0.0.5"
    assert behind.of("10.0.0.5", None) == "10.0.0.5"


# -- values and schemas ------------------------------------------------------------------------
def test_merge_patch_rfc7396() -> None:
    target = {"a": "b", "c": {"d": "e", "f": "g"}}
    assert _merge(target, {"a": "z", "c": {"f": None}}) == {"a": "z", "c": {"d": "e"}}
    assert _merge({"a": [1]}, {"a": {"b": "c"}}) == {"a": {"b": "c"}}
    assert _merge({"a": "b"}, {"a": None, "n": {"x": None}}) == {"n": {}}


def test_parse_json_and_depth() -> None:
    assert parse_json(b'{"p": 89000.50}') == {"p": Decimal("89000.50")}
    assert parse_json(b'{"p": 1e6111, "q": 12}') == {"p": Decimal("1e6111"), "q": 12}
    for raw, reason in [(b"", "empty"), (b"\xff", "not-utf8"), (b"{", "not-json"),
                        (b"[" * 100 + b"]" * 100, "too-deep"),
                        (b"[" * 100000 + b"]" * 100000, "too-deep"),
                        (b'{"a": 1e99999999999999999999}', "number"),
                        (b'{"a": 1e6112}', "number"), (b'{"a": 1' + b"0" * 1001 + b"}", "number"),
                        (b'{"a": 1, "a": 2}', "not-json"),
                        (b'{"a": NaN}', "not-json")]:  # fmt: skip
        with pytest.raises(ApiError) as e:
            parse_json(raw)
        assert e.value.reason == reason, raw[:20]
    assert nesting(b'{"a": "[[[[", "b": [[1]]}') == 3  # brackets in strings do not count


@pytest.mark.parametrize(
    "key", ["", "a\x00b", "a\nb", "\ud800", "e\u0301", "x" * 1025, "\ue000", "a\u0378"]
)
def test_check_key_refuses(key: str) -> None:
    with pytest.raises(ApiError) as e:
        check_key(key)
    assert e.value.status == 400


def test_check_key_and_integers() -> None:
    assert check_key("INV-€-1") == "INV-€-1"
    assert check_key("é") == "é"  # NFC
    assert integer("12", "n") == 12
    assert integer(None, "n", 3) == 3
    for bad in ("²", "-1", "1" * 19, "1.0", "٣"):
        with pytest.raises(ApiError):
            integer(bad, "n")


def test_plain_converts_ion_values_for_validation() -> None:
    from auditor import ion

    (value,) = ion.loads(
        '{a: [true, null, 1.5, sym, 2, "s", 2021-01-01T, {{AA==}}], b: null.string}', "value"
    )
    assert plain(value) == {
        "a": [True, None, Decimal("1.5"), "sym", 2, "s", plain(value["a"][6]), b"\x00"],
        "b": None,
    }
    assert (
        Validator({"type": "object", "properties": {"a": {"type": "array"}}}).problems(value) == []
    )
    assert check_schema({"type": "object"}) is None


def test_value_of() -> None:
    assert value_of({"_k": "k", "_v": "text"}) == "text"
    assert value_of({"_k": "k", "a": 1}) == {"a": 1}
    assert value_of("x") == "x"


def test_client_json_keeps_decimals() -> None:
    assert dumps({"p": Decimal("89000.50"), "e": Decimal("1E+3"), "l": [1, "x", None]}) == (
        b'{"p":89000.50,"e":1e+3,"l":[1,"x",null]}'
    )
    assert loads(b'{"p": 89000.50}') == {"p": Decimal("89000.50")}
    with pytest.raises(TypeError):
        dumps({"p": 1.5})
    with pytest.raises(ValueError, match="not a JSON number"):
        dumps(Decimal("NaN"))
    with pytest.raises(ValueError, match="expected http"):
        Client("ftp://x")


# -- receipts and the OpenAPI document ---------------------------------------------------------
def test_bundle_for_revision_is_auditor_bundle(tmp_path: Path) -> None:
    ledger = Ledger.create(str(tmp_path / "l.db"), "carmaker", tables=["invoices"])
    ledger.put("invoices", "I1", invoice())
    ledger.put("invoices", "I1", invoice(quantity=3))
    for version in (0, 1):
        revision = ledger.revision("invoices", "I1", version)
        assert bundle_for_revision(ledger, revision) == bundle.receipt_bundle(
            ledger, "invoices", "I1", version
        )


def test_openapi_describes_every_route() -> None:
    doc = document(default_config(), ROUTES)
    described = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    routes = {(r.method, r.path.replace("{name:path}", "{name}")) for r in ROUTES}
    assert described == routes
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            if operation.get("security") != []:
                assert {"401", "403", "429"} <= codes, (method, path)
            for name in _placeholders(path):
                assert name in {p["name"] for p in operation.get("parameters", [])}, path
    _refs_resolve(doc, doc)
    from openapi_spec_validator import validate  # via moto[server], a dev dependency

    validate(doc)  # a valid OpenAPI 3.1 document


def _placeholders(path: str) -> list[str]:
    import re

    return re.findall(r"{(\w+)}", path)


def _refs_resolve(node: Any, doc: Mapping[str, Any]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            target: Any = doc
            for part in ref.removeprefix("#/").split("/"):
                target = target[part]
        for value in node.values():
            _refs_resolve(value, doc)
    elif isinstance(node, list):
        for value in node:
            _refs_resolve(value, doc)


# -- the outbox, with a fake sender ------------------------------------------------------------
class FakeSender:
    def __init__(self) -> None:
        self.statuses: list[int | Exception] = []
        self.sent: list[tuple[str, bytes, dict[str, str]]] = []

    def __call__(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
        self.sent.append((url, body, dict(headers)))
        outcome = self.statuses.pop(0) if self.statuses else 204
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def _outbox(tmp_path: Path, **settings: Any) -> tuple[Ledger, Outbox, FakeSender, list[float]]:
    ledger = Ledger.create(str(tmp_path / "l.db"), "carmaker", tables=["invoices"])
    hook = {"webhook_url": "http://127.0.0.1:9/h", "webhook_secret": "0123456789abcdef"}
    config = ServerConfig(
        parties=(Party("carmaker", "manufacturer", (), **hook),
                 Party("abc", "dealer", (), bill_to=ABC, **hook),
                 Party("xyz", "dealer", (), bill_to=XYZ, **hook)),
        tables={"invoices": POLICY},
        webhooks=WebhookSettings(**settings),
    )  # fmt: skip
    sender = FakeSender()
    now = [1_700_000_000.0]
    return ledger, Outbox(ledger, config, clock=lambda: now[0], sender=sender), sender, now


def test_outbox_scan_attributes_and_delivers(tmp_path: Path) -> None:
    ledger, outbox, sender, now = _outbox(tmp_path)
    ledger.put("invoices", "I1", invoice())
    paid = {**invoice(), "paymentStatus": "TRANSFERRED"}
    outbox.record_intents("invoices", [("I1", {**paid, "_k": "I1"})], DEALER)
    ledger.put("invoices", "I1", paid)
    ledger.put("invoices", "I1", {**paid, "quantity": 3})  # not a status change
    assert outbox.scan() == 1
    assert outbox.scan() == 0  # the cursor moved
    due = outbox.claim()
    assert sorted(d.party for d in due) == ["abc", "carmaker"]  # not xyz
    event = json.loads(due[0].body)
    assert event["changedBy"] == {"party": "abc", "role": "dealer"}
    assert (event["oldStatus"], event["newStatus"]) == ("PENDING", "TRANSFERRED")
    assert all(outbox.attempt(d).ok for d in due)
    assert {d["state"] for d in outbox.deliveries(None, None, 10)} == {"delivered"}
    _url, body, headers = sender.sent[0]
    from auditor.server.client import verify_signature

    verify_signature("0123456789abcdef", headers["X-Qldb-Audit-Signature"], body, now=now[0])
    assert outbox.events_after(0)[0][2] == ABC
    assert outbox.attempts(999) is None


def test_outbox_retries_then_gives_up(tmp_path: Path) -> None:
    ledger, outbox, sender, now = _outbox(tmp_path, max_attempts=3, backoff_base=1.0)
    ledger.put("invoices", "I2", invoice(XYZ))
    ledger.put("invoices", "I2", {**invoice(XYZ), "paymentStatus": "CONFIRMED"})
    outbox.scan()
    sender.statuses = [500, OSError("refused"), 502] * 2
    for attempt in range(1, 4):
        due = [d for d in outbox.claim() if d.party == "xyz"]
        assert [d.attempt for d in due] == [attempt]
        assert not outbox.attempt(due[0]).ok
        assert outbox.claim() == [] or attempt == 3
        now[0] += 10
    rows = {d["party"]: d for d in outbox.deliveries(None, None, 10)}
    assert rows["xyz"]["state"] == "failed"
    assert rows["xyz"]["lastError"] == "HTTP 502"
    _party, log = outbox.attempts(rows["xyz"]["id"])  # type: ignore[misc]
    assert [a["error"] for a in log] == ["HTTP 500", "OSError: refused", "HTTP 502"]


def test_outbox_old_status_unknown_and_unknown_writer(tmp_path: Path) -> None:
    ledger, outbox, _, _ = _outbox(tmp_path)
    ledger.put("invoices", "I3", invoice())
    ledger.put("invoices", "I3", invoice(quantity=2))
    ledger.put("invoices", "I3", invoice(paymentStatus="TRANSFERRED"))
    ledger.redact("invoices", "I3", 1)  # the previous version's data is gone before the scan
    assert outbox.scan() == 1
    event = json.loads(outbox.events_after(0)[0][3])
    assert (event["oldStatus"], event["newStatus"], event["changedBy"]) == (
        None,
        "TRANSFERRED",
        None,
    )


def test_outbox_party_gone_is_a_dead_letter(tmp_path: Path) -> None:
    ledger, outbox, _, _ = _outbox(tmp_path)
    ledger.put("invoices", "I4", invoice())
    ledger.put("invoices", "I4", invoice(paymentStatus="TRANSFERRED"))
    outbox.scan()
    outbox._parties.pop("carmaker")
    due = [d for d in outbox.claim() if d.party == "carmaker"]
    result = outbox.attempt(due[0])
    assert result.error is not None
    assert "no longer" in result.error
    assert outbox.deliveries("carmaker", "failed", 5)[0]["state"] == "failed"


def test_outbox_recreated_key_compares_with_its_own_document(tmp_path: Path) -> None:
    ledger, outbox, _, _ = _outbox(tmp_path)
    ledger.put("invoices", "I5", invoice(paymentStatus="TRANSFERRED"))
    ledger.put("invoices", "I5", invoice(paymentStatus="CONFIRMED"))
    ledger.delete("invoices", "I5")
    ledger.put("invoices", "I5", invoice())
    ledger.put("invoices", "I5", invoice(paymentStatus="CONFIRMED"))
    assert outbox.scan() == 2
    events = [json.loads(row[3]) for row in outbox.events_after(0)]
    assert [(e["oldStatus"], e["newStatus"]) for e in events] == [
        ("TRANSFERRED", "CONFIRMED"),
        ("PENDING", "CONFIRMED"),
    ]


def test_outbox_rebilling_hides_the_former_dealers_status(tmp_path: Path) -> None:
    ledger, outbox, _, _ = _outbox(tmp_path)
    ledger.put("invoices", "I6", invoice(XYZ, paymentStatus="TRANSFERRED"))
    ledger.put("invoices", "I6", invoice(ABC))  # re-billed to ABC, status back to PENDING
    ledger.put("invoices", "I6", invoice(ABC, paymentStatus="TRANSFERRED"))
    assert outbox.scan() == 2
    events = [json.loads(row[3]) for row in outbox.events_after(0)]
    assert [(e["oldStatus"], e["newStatus"]) for e in events] == [
        (None, "PENDING"),  # XYZ's status is not told to ABC
        ("PENDING", "TRANSFERRED"),
    ]
    assert [row[2] for row in outbox.events_after(0)] == [ABC, ABC]
    due = outbox.claim()
    assert "xyz" not in {d.party for d in due}  # the former dealer is not notified either


# -- `qldb-audit serve` on the command line ----------------------------------------------------
def test_serve_new_key() -> None:
    result = CliRunner().invoke(
        main, ["serve", "new-key", "--party", "abc", "--role", "dealer", "--bill-to", ABC]
    )
    assert result.exit_code == 0, result.output
    made = json.loads(result.stdout)
    assert made["key_sha256"] == hash_key(made["key"])
    assert f'bill_to = "{ABC}"' in made["toml"]
    refused = CliRunner().invoke(main, ["serve", "new-key", "--party", "d", "--role", "dealer"])
    assert refused.exit_code == 2
    assert "--bill-to" in refused.output


def test_serve_refuses_bad_input(tmp_path: Path) -> None:
    runner = CliRunner()
    assert "--ledger PATH is required" in runner.invoke(main, ["serve"], env={}).output
    missing = runner.invoke(main, ["serve", "--ledger", str(tmp_path / "none.db")])
    assert missing.exit_code == 2
    assert "no ledger here" in missing.output
    Ledger.create(str(tmp_path / "l.db"), "x").close()
    bad = _config(tmp_path, "[server]\nrate = -1\n")
    result = runner.invoke(
        main, ["serve", "--ledger", str(tmp_path / "l.db"), "--config", str(bad)]
    )
    assert result.exit_code == 2
    assert "server.rate" in result.output
    Path(str(tmp_path / "l.db") + ".key").rename(tmp_path / "moved.key")
    nokey = runner.invoke(main, ["serve", "--ledger", str(tmp_path / "l.db")])
    assert nokey.exit_code == 2
    assert "signing key" in nokey.output
    (tmp_path / "moved.key").rename(str(tmp_path / "l.db") + ".key")
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = runner.invoke(
            main, ["serve", "--ledger", str(tmp_path / "l.db"), "--port", str(port)]
        )
    assert busy.exit_code == 2
    assert "cannot listen" in busy.output


# -- group commit --------------------------------------------------------------------------
def _service(tmp_path: Path) -> tuple[Ledger, Any]:
    from auditor.server.service import Service

    ledger = Ledger.create(str(tmp_path / "g.db"), "carmaker", tables=["invoices"])
    config = default_config()
    return ledger, Service(ledger, config, Outbox(ledger, config))


def test_group_commit_shares_a_block_and_isolates_failures(tmp_path: Path) -> None:
    from auditor.server.service import ApiError as Error
    from auditor.server.service import WriteItem, WriteJob

    ledger, service = _service(tmp_path)
    service.write(MAKER, "invoices", [WriteItem("G0", invoice())])
    jobs = [
        WriteJob.of(MAKER, "invoices", [WriteItem("G1", invoice())]),
        WriteJob.of(MAKER, "invoices", [WriteItem("G0", invoice(), if_match='"stale.0"')]),
        WriteJob.of(MAKER, "invoices", [WriteItem("G2", invoice()), WriteItem("G3", invoice())]),
    ]
    service.write_group(jobs)
    first, third = jobs[0].future.result(), jobs[2].future.result()
    assert first[0].revision.sequence_no == third[0].revision.sequence_no  # one block
    assert [w.revision.key for w in third] == ["G2", "G3"]
    with pytest.raises(Error) as refused:
        jobs[1].future.result()
    assert refused.value.status == 412
    # a value the ledger refuses fails the joint commit: each job then goes alone
    huge = invoice(carInfo={"model": "m", "make": "k", "year": 1, "unitPrice": Decimal("1E+7000")})
    jobs = [
        WriteJob.of(MAKER, "invoices", [WriteItem("H1", invoice())]),
        WriteJob.of(MAKER, "invoices", [WriteItem("H2", huge)]),
        WriteJob.of(MAKER, "invoices", [WriteItem("H3", invoice())]),
    ]
    service.write_group(jobs)
    assert jobs[0].future.result()[0].revision.key == "H1"
    assert jobs[2].future.result()[0].revision.key == "H3"
    with pytest.raises(Error) as refused:
        jobs[1].future.result()
    assert refused.value.status == 422
    assert ledger.verify_journal() == ledger.tip() + 1


def test_group_writer_groups_one_party_one_table_distinct_keys(tmp_path: Path) -> None:
    from auditor.server.service import GroupWriter, WriteItem, WriteJob

    class Recorder:
        def __init__(self) -> None:
            self.groups: list[list[str]] = []

        def write_job(self, job: WriteJob) -> list[Any]:
            self.groups.append(sorted(job.keys))
            return []

        def write_group(self, jobs: list[WriteJob]) -> None:
            self.groups.append(sorted(k for job in jobs for k in job.keys))
            for job in jobs:
                job.future.set_result([])

    recorder = Recorder()
    writer = GroupWriter(recorder, max_group=3)  # type: ignore[arg-type]
    other = Party("other-maker", "manufacturer", ())

    def job(party: Party, key: str, delete: bool = False) -> WriteJob:
        return WriteJob.of(party, "invoices", [WriteItem(key, None if delete else {"a": 1})])

    jobs = [job(MAKER, "a"), job(MAKER, "b"), job(other, "c"), job(MAKER, "a"),
            job(MAKER, "d"), job(MAKER, "e"), job(MAKER, "f", delete=True)]  # fmt: skip
    rest = writer._dispatch(jobs)
    assert recorder.groups == [["a", "b", "d"]]  # not the other party, not "a" again, cap 3
    while rest:
        rest = writer._dispatch(rest)
    assert recorder.groups == [["a", "b", "d"], ["c"], ["a", "e"], ["f"]]
    writer.close()
