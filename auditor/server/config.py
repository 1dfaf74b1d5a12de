"""The server's settings: parties (API keys, roles, webhooks), tables, caps and rate limits.

Read once at start-up from a TOML file (``--config``) into frozen values; every problem raises
:class:`ConfigError` naming the file and the setting. See docs/rest-api.md for the format.

API keys are 256-bit random tokens (``qak_`` + 43 base64url characters, made by
``qldb-audit serve new-key``). The config stores only ``sha256(key)`` in hex: with that much
entropy a plain SHA-256 cannot be reversed or brute-forced, so no slow password hash is needed,
and a request's key is found with one hash and one dictionary look-up. Webhook secrets must be
held in clear text (the server signs with them), so a config file holding one must not be
readable by other users.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from auditor.server.states import INVOICE_STATES, StateMachine

ROLES = ("manufacturer", "dealer", "auditor")
KEY_PREFIX = "qak_"


class ConfigError(Exception):
    """The configuration cannot be used; the message names the file and the setting."""


def new_key() -> str:
    """A fresh API key: ``qak_`` + 32 random bytes in base64url (no padding)."""
    raw = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    return KEY_PREFIX + raw


def hash_key(key: str) -> str:
    """The form the config stores: sha256 of the key's UTF-8 bytes, lowercase hex."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Party:
    """Someone holding API keys: a role, and for a dealer the ``billTo`` value that is theirs."""

    name: str
    role: str
    key_hashes: tuple[str, ...]
    bill_to: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None


@dataclass(frozen=True, slots=True)
class TablePolicy:
    """How the server treats one table.

    ``schema``: a JSON Schema every written value must satisfy (None: any JSON object or
    string). ``party_field``: the field naming the dealer a document belongs to (None: dealers
    have no access). ``status_field``: a change of this field raises a notification.
    ``dealer_fields``: the only fields a dealer may change; ``dealer_statuses``: the values a
    dealer may set ``status_field`` to; ``states``: the transitions each role may make
    (auditor/server/states.py; None: any).
    """

    name: str
    schema: Mapping[str, Any] | None = None
    party_field: str | None = None
    status_field: str | None = None
    dealer_fields: tuple[str, ...] = ()
    dealer_statuses: tuple[str, ...] = ()
    states: StateMachine | None = None


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    timeout: float = 5.0  # seconds per delivery attempt
    max_attempts: int = 12  # then the delivery is marked failed (still in the delivery log)
    backoff_base: float = 1.0  # seconds before the 2nd attempt; doubles each time
    backoff_max: float = 300.0
    scan_interval: float = 0.2  # seconds between looks at the journal and the outbox


@dataclass(frozen=True, slots=True)
class ServerConfig:
    parties: tuple[Party, ...] = ()
    tables: Mapping[str, TablePolicy] = field(default_factory=dict)
    sample_table: str = "invoices"
    max_body_bytes: int = 1024 * 1024
    max_batch: int = 100
    max_keys: int = 100
    rate: float = 10.0  # tokens per second, per API key (the sample's stage throttle)
    burst: int = 50
    export_dir: str | None = None  # default: <ledger>.exports
    body_timeout: float = 5.0  # seconds for a request body to arrive (408 after)
    max_response_bytes: int = 1024 * 1024  # a read answer's cap (413 / the next page)
    page_size: int = 100  # revisions, deliveries per page by default (and at most 1000)
    party_concurrency: int = 2  # reads of one party in progress at once, per process
    cors_origins: tuple[str, ...] = ()  # () : no CORS headers; ("*",): like the AWS sample
    trusted_proxies: tuple[str, ...] = ()  # peers whose X-Forwarded-For is believed
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)
    source: str = "(defaults)"

    def policy(self, table: str) -> TablePolicy:
        return self.tables.get(table) or TablePolicy(table)

    def key_index(self) -> dict[str, Party]:
        return {h: p for p in self.parties for h in p.key_hashes}


def invoice_policy() -> TablePolicy:
    from auditor.server.schemas import INVOICE_SCHEMA

    return TablePolicy(
        "invoices",
        schema=INVOICE_SCHEMA,
        party_field="billTo",
        status_field="paymentStatus",
        dealer_fields=("paymentStatus", "payment"),
        dealer_statuses=("PENDING", "TRANSFERRED"),
        states=INVOICE_STATES,
    )


def default_config() -> ServerConfig:
    return ServerConfig(tables={"invoices": invoice_policy()})


# -- reading -----------------------------------------------------------------------------------
def _get(
    table: Mapping[str, Any], name: str, kind: type | tuple[type, ...], where: str, default: Any
) -> Any:
    if name not in table:
        return default
    value = table[name]
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise ConfigError(f"{where}.{name}: expected {_kind_name(kind)}, got a boolean")
    if not isinstance(value, kind):
        raise ConfigError(f"{where}.{name}: expected {_kind_name(kind)}, got {value!r}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(
        {
            "str": "a string",
            "int": "an integer",
            "float": "a number",
            "list": "a list",
            "dict": "a table",
        }.get(k.__name__, k.__name__)
        for k in kinds
    )


def _positive(value: float, where: str) -> float:
    if value <= 0:
        raise ConfigError(f"{where}: must be greater than 0 (got {value})")
    return value


def _unknown(table: Mapping[str, Any], known: set[str], where: str) -> None:
    extra = sorted(set(table) - known)
    if extra:
        raise ConfigError(f"{where}.{extra[0]}: unknown setting")


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: expected a string or a list of strings")
    return tuple(value)


def _addresses(values: tuple[str, ...], where: str) -> tuple[str, ...]:
    import ipaddress

    for value in values:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError as e:
            raise ConfigError(f"{where}: {value!r} is not an IP address or network") from e
    return values


def _party(entry: Any, where: str) -> Party:
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where}: expected a table")
    _unknown(
        entry, {"name", "role", "key_sha256", "bill_to", "webhook_url", "webhook_secret"}, where
    )
    name = _get(entry, "name", str, where, None)
    if not name:
        raise ConfigError(f"{where}.name: missing")
    role = _get(entry, "role", str, where, None)
    if role not in ROLES:
        raise ConfigError(f"{where}.role: expected one of {', '.join(ROLES)} (got {role!r})")
    hashes = _strings(entry.get("key_sha256", []), f"{where}.key_sha256")
    for h in hashes:
        if len(h) != 64 or any(c not in "0123456789abcdef" for c in h):
            raise ConfigError(f"{where}.key_sha256: {h!r} is not a lowercase hex SHA-256")
    bill_to = _get(entry, "bill_to", str, where, None)
    if role == "dealer" and not bill_to:
        raise ConfigError(f"{where}.bill_to: a dealer needs the billTo value that is theirs")
    url = _get(entry, "webhook_url", str, where, None)
    secret = _get(entry, "webhook_secret", str, where, None)
    if url is not None and not url.startswith(("http://", "https://")):
        raise ConfigError(f"{where}.webhook_url: expected an http:// or https:// URL")
    if url is not None and (secret is None or len(secret) < 16):
        raise ConfigError(f"{where}.webhook_secret: a webhook needs a secret of 16+ characters")
    return Party(name, role, hashes, bill_to, url, secret)


def _table(name: str, entry: Any, where: str, base_dir: str) -> TablePolicy:
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where}: expected a table")
    _unknown(
        entry,
        {"schema", "party_field", "status_field", "dealer_fields", "dealer_statuses", "states"},
        where,
    )
    base = invoice_policy() if name == "invoices" else TablePolicy(name)
    schema: Mapping[str, Any] | None = base.schema
    if "schema" in entry:
        schema = _load_schema(_get(entry, "schema", str, where, ""), f"{where}.schema", base_dir)
    states = base.states
    if "states" in entry:
        choice = _get(entry, "states", str, where, "")
        if choice not in ("invoice", "none"):
            raise ConfigError(f'{where}.states: expected "invoice" or "none"')
        states = INVOICE_STATES if choice == "invoice" else None
    return TablePolicy(
        name,
        schema=schema,
        party_field=_get(entry, "party_field", str, where, base.party_field),
        status_field=_get(entry, "status_field", str, where, base.status_field),
        dealer_fields=_strings(
            entry.get("dealer_fields", list(base.dealer_fields)), f"{where}.dealer_fields"
        ),
        dealer_statuses=_strings(
            entry.get("dealer_statuses", list(base.dealer_statuses)), f"{where}.dealer_statuses"
        ),
        states=states,
    )


def _load_schema(value: str, where: str, base_dir: str) -> Mapping[str, Any] | None:
    from auditor.server.schemas import BUILTIN_SCHEMAS, check_schema

    if value == "none":
        return None
    if value in BUILTIN_SCHEMAS:
        return BUILTIN_SCHEMAS[value]
    path = os.path.join(base_dir, value)
    try:
        with open(path, "rb") as f:
            import json

            schema = json.load(f)
    except (OSError, ValueError) as e:
        raise ConfigError(f"{where}: cannot read a JSON Schema from {path} ({e})") from e
    problem = check_schema(schema)
    if problem:
        raise ConfigError(f"{where}: {path} is not a valid JSON Schema ({problem})")
    return dict(schema)


def load_config(path: str | None) -> ServerConfig:
    """Read ``path`` (TOML) into a :class:`ServerConfig`; ``None`` gives the defaults (the
    invoice table, no parties). Raises :class:`ConfigError`."""
    if path is None:
        return default_config()
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror or e})") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML ({e})") from e
    where = path + ":"
    _unknown(doc, {"server", "webhooks", "tables", "parties"}, path)
    server = doc.get("server", {})
    hooks = doc.get("webhooks", {})
    if not isinstance(server, Mapping) or not isinstance(hooks, Mapping):
        raise ConfigError(f"{where} [server] and [webhooks] must be tables")
    _unknown(
        server,
        {"sample_table", "max_body_bytes", "max_batch", "max_keys", "rate", "burst", "export_dir",
         "body_timeout", "max_response_bytes", "page_size", "party_concurrency", "cors_origins",
         "trusted_proxies"},
        f"{where} server",
    )  # fmt: skip
    _unknown(
        hooks,
        {"timeout", "max_attempts", "backoff_base", "backoff_max", "scan_interval"},
        f"{where} webhooks",
    )
    base_dir = os.path.dirname(os.path.abspath(path))
    tables = {"invoices": invoice_policy()}
    raw_tables = doc.get("tables", {})
    if not isinstance(raw_tables, Mapping):
        raise ConfigError(f"{where} [tables] must be a table of tables")
    for name, entry in raw_tables.items():
        tables[name] = _table(name, entry, f"{where} tables.{name}", base_dir)
    raw_parties = doc.get("parties", [])
    if not isinstance(raw_parties, list):
        raise ConfigError(f"{where} parties: expected [[parties]] entries")
    parties = tuple(_party(p, f"{where} parties[{i}]") for i, p in enumerate(raw_parties))
    names = [p.name for p in parties]
    if len(set(names)) != len(names):
        raise ConfigError(f"{where} parties: a party name appears twice")
    hashes = [h for p in parties for h in p.key_hashes]
    if len(set(hashes)) != len(hashes):
        raise ConfigError(f"{where} parties: one key hash belongs to two entries")
    if any(p.webhook_secret for p in parties):
        mode = os.stat(path).st_mode
        if mode & (stat.S_IRGRP | stat.S_IROTH):
            raise ConfigError(
                f"{path}: holds webhook secrets but other users can read it (chmod 600 {path})"
            )
    export_dir = _get(server, "export_dir", str, f"{where} server", None)
    webhooks = WebhookSettings(
        timeout=_positive(
            float(_get(hooks, "timeout", (int, float), "webhooks", 5.0)), "webhooks.timeout"
        ),
        max_attempts=int(
            _positive(_get(hooks, "max_attempts", int, "webhooks", 12), "webhooks.max_attempts")
        ),
        backoff_base=_positive(
            float(_get(hooks, "backoff_base", (int, float), "webhooks", 1.0)),
            "webhooks.backoff_base",
        ),
        backoff_max=_positive(
            float(_get(hooks, "backoff_max", (int, float), "webhooks", 300.0)),
            "webhooks.backoff_max",
        ),
        scan_interval=_positive(
            float(_get(hooks, "scan_interval", (int, float), "webhooks", 0.2)),
            "webhooks.scan_interval",
        ),
    )
    return ServerConfig(
        parties=parties,
        tables=tables,
        sample_table=_get(server, "sample_table", str, f"{where} server", "invoices"),
        max_body_bytes=int(
            _positive(
                _get(server, "max_body_bytes", int, "server", 1024 * 1024), "server.max_body_bytes"
            )
        ),
        max_batch=int(_positive(_get(server, "max_batch", int, "server", 100), "server.max_batch")),
        max_keys=int(_positive(_get(server, "max_keys", int, "server", 100), "server.max_keys")),
        rate=_positive(float(_get(server, "rate", (int, float), "server", 10.0)), "server.rate"),
        burst=int(_positive(_get(server, "burst", int, "server", 50), "server.burst")),
        export_dir=None if export_dir is None else os.path.join(base_dir, export_dir),
        body_timeout=_positive(
            float(_get(server, "body_timeout", (int, float), "server", 5.0)), "server.body_timeout"
        ),
        max_response_bytes=int(
            _positive(
                _get(server, "max_response_bytes", int, "server", 1024 * 1024),
                "server.max_response_bytes",
            )
        ),
        page_size=min(
            1000, int(_positive(_get(server, "page_size", int, "server", 100), "server.page_size"))
        ),
        party_concurrency=int(
            _positive(
                _get(server, "party_concurrency", int, "server", 2), "server.party_concurrency"
            )
        ),
        cors_origins=_strings(server.get("cors_origins", []), f"{where} server.cors_origins"),
        trusted_proxies=_addresses(
            _strings(server.get("trusted_proxies", []), f"{where} server.trusted_proxies"),
            f"{where} server.trusted_proxies",
        ),
        webhooks=webhooks,
        source=path,
    )
