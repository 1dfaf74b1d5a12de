"""Notifications on a real server process: signed webhooks to every party that may read the
invoice, retries with backoff and a delivery log, Server-Sent Events, and — with the server
killed (SIGKILL) while deliveries are pending or writes are in flight — after a restart exactly
the committed status changes are delivered."""

from __future__ import annotations

import contextlib
import http.client
import itertools
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from auditor import formats, verify
from auditor.ledger import Ledger
from auditor.server.client import (
    ApiError,
    Client,
    SignatureError,
    WebhookReceiver,
    dumps,
    sign,
    verify_signature,
)
from auditor.verdict import Verdict
from auditor.verify import Policy
from proofs.note import parse_vkey
from tests.integration.server_support import (
    ABC,
    XYZ,
    Party,
    ServerProcess,
    invoice,
    parties,
    wait_until,
    write_config,
)

PAID = {"bank": "DBS", "reference": "TRF-1"}
FAST_RETRIES = "backoff_base = 0.2\nbackoff_max = 1.0\nscan_interval = 0.1\ntimeout = 1.0\n"


@dataclass
class Setup:
    root: Path
    who: dict[str, Party]
    hooks: dict[str, WebhookReceiver]
    server: ServerProcess

    def client(self, role: str) -> Client:
        return self.server.client(self.who[role])

    def restart(self) -> None:
        old = self.server
        self.server = ServerProcess(old.ledger, old.config, workers=old.workers).start()


@contextlib.contextmanager
def setup(root: Path, webhooks: str = FAST_RETRIES, workers: int = 1) -> Iterator[Setup]:
    Ledger.create(str(root / "ledger.db"), "carmaker", tables=["invoices"]).close()
    who = parties()
    hooks = {}
    with contextlib.ExitStack() as stack:
        for role, party in who.items():
            party.webhook_secret = f"secret-of-{party.name}-0123456789"
            hooks[role] = stack.enter_context(WebhookReceiver(party.webhook_secret))
            party.webhook_url = hooks[role].url
        config = write_config(root / "server.toml", who, webhooks=webhooks)
        server = ServerProcess(root / "ledger.db", config, workers=workers).start()
        state = Setup(root, who, hooks, server)
        try:
            yield state
        finally:
            state.server.stop()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    with setup(tmp_path_factory.mktemp("notify")) as state:
        yield state


def _bundle_ok(bundle: dict[str, Any], vkey: str) -> Verdict:
    (item,) = verify.check_bytes(dumps(bundle), "receipt", "bundle",
                                 Policy(log_keys=(parse_vkey(vkey),)))  # fmt: skip
    return item


def test_a_status_change_notifies_every_party_that_may_read_it(live: Setup) -> None:
    with live.client("manufacturer") as maker, live.client("dealer") as dealer:
        maker.put_document("invoices", "N-1", invoice())  # creation: no event
        doc, tag = dealer.get_document("invoices", "N-1")
        payment = {"bank": "DBS", "reference": "TRF-20210601"}
        dealer.patch_document(
            "invoices", "N-1", {"paymentStatus": "TRANSFERRED", "payment": payment}, if_match=tag
        )
        for role in ("manufacturer", "dealer", "auditor"):
            live.hooks[role].wait_for(1)
        event = live.hooks["manufacturer"].events[0]
        assert event["type"] == "payment-status-changed"
        assert (event["key"], event["oldStatus"], event["newStatus"]) == (
            "N-1",
            "PENDING",
            "TRANSFERRED",
        )
        assert event["changedBy"] == {"party": "abc-dealer", "role": "dealer"}
        assert event["id"] == f"{doc['documentId']}.1"
        assert event["version"] == 1
        vkey = maker.call("GET", "/v1/vkey").strip()
        assert _bundle_ok(event["receipt"], vkey).status == "verified"
        revision = formats.parse(dumps(event["receipt"]), "r")[0].revision  # type: ignore[union-attr]
        assert revision["data"]["paymentStatus"] == "TRANSFERRED"
        assert revision["data"]["payment"]["reference"] == "TRF-20210601"
        history = maker.call("GET", "/v1/tables/invoices/documents/N-1/history")["revisions"]
        assert event["receipt"]["LedgerMetadata"]["RevisionHash"] == history[1]["hash"]
        # all three got the same event; the other dealer nothing
        for role in ("dealer", "auditor"):
            assert [e["id"] for e in live.hooks[role].events] == [event["id"]]
        assert live.hooks["other_dealer"].events == []
        everyone = maker_deliveries(live)
        assert {d["party"] for d in everyone if d["eventId"] == event["id"]} == {
            "carmaker",
            "abc-dealer",
            "the-auditor",
        }
        # a change of another field is no status change; the maker's confirmation is
        maker.patch_document("invoices", "N-1", {"quantity": 12})
        maker.patch_document("invoices", "N-1", {"paymentStatus": "CONFIRMED"})
        events = live.hooks["manufacturer"].wait_for(2)
        assert [(e["oldStatus"], e["newStatus"], e["version"]) for e in events] == [
            ("PENDING", "TRANSFERRED", 1),
            ("TRANSFERRED", "CONFIRMED", 3),
        ]
        assert events[1]["changedBy"] == {"party": "carmaker", "role": "manufacturer"}
    assert all(not hook.rejected for hook in live.hooks.values())


def maker_deliveries(live: Setup) -> list[dict[str, Any]]:
    with live.client("auditor") as auditor:
        return auditor.call("GET", "/v1/deliveries")["deliveries"]  # type: ignore[no-any-return]


def test_failed_deliveries_are_retried_with_backoff_and_logged(live: Setup) -> None:
    hook = live.hooks["other_dealer"]
    hook.fail_next = 2
    with live.client("manufacturer") as maker, live.client("other_dealer") as xyz:
        maker.put_document("invoices", "R-1", invoice(XYZ))
        xyz.patch_document("invoices", "R-1", {"paymentStatus": "TRANSFERRED", "payment": PAID})
        event = hook.wait_for(1)[0]
        assert event["key"] == "R-1"
        mine = wait_until(
            lambda: [
                d
                for d in xyz.call("GET", "/v1/deliveries")["deliveries"]
                if d["eventId"] == event["id"] and d["state"] == "delivered"
            ]
        )[0]
        assert {d["party"] for d in xyz.call("GET", "/v1/deliveries")["deliveries"]} == {
            "xyz-dealer"
        }  # a party sees only its own deliveries
        assert mine["attempts"] == 3
        log = xyz.call("GET", f"/v1/deliveries/{mine['id']}/attempts")["attempts"]
        assert [a["status"] for a in log] == [503, 503, 204]
        assert [a["attempt"] for a in log] == [1, 2, 3]
        with live.client("dealer") as abc:  # not abc's delivery: not found
            assert abc.request("GET", f"/v1/deliveries/{mine['id']}/attempts").status == 404
    times = [_seconds(a["at"]) for a in log]
    first, second = times[1] - times[0], times[2] - times[1]
    assert first >= 0.15  # backoff 0.2 s (-20 %), then
    assert second >= 0.3  # 0.4 s (-20 %)


def _seconds(text: str) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_signature_recipe() -> None:
    body = b'{"id":"x.1"}'
    header = sign("s3cret-s3cret-s3cret", 1_700_000_000, body)
    assert verify_signature("s3cret-s3cret-s3cret", header, body, now=1_700_000_100) == (
        1_700_000_000
    )
    for secret, text, now, problem in [
        ("s3cret-s3cret-s3cret", b'{"id":"x.2"}', 1_700_000_000, "HMAC"),
        ("another-secret-000000", body, 1_700_000_000, "HMAC"),
        ("s3cret-s3cret-s3cret", body, 1_700_000_301, "more than 300 s"),
    ]:
        with pytest.raises(SignatureError, match=problem):
            verify_signature(secret, header, text, now=now)
    for bad in (None, "", "v1=abc", "t=notanumber,v1=abc"):
        with pytest.raises(SignatureError):
            verify_signature("s3cret-s3cret-s3cret", bad, body, now=1_700_000_000)


def test_server_sent_events(live: Setup) -> None:
    with live.client("manufacturer") as maker:
        maker.put_document("invoices", "S-ABC", invoice(ABC))
        maker.put_document("invoices", "S-XYZ", invoice(XYZ))
    seen: dict[str, list[dict[str, Any]]] = {"manufacturer": [], "dealer": []}
    ready = threading.Barrier(3)

    def listen(role: str, limit: int) -> None:
        with live.client(role) as client:
            stream = client.events(limit=limit, timeout=15)  # open from here on
            ready.wait()
            seen[role].extend(stream)

    threads = [
        threading.Thread(target=listen, args=("manufacturer", 2)),
        threading.Thread(target=listen, args=("dealer", 1)),
    ]
    for thread in threads:
        thread.start()
    ready.wait()  # both streams are open
    with live.client("manufacturer") as maker:
        maker.patch_document("invoices", "S-XYZ", {"paymentStatus": "TRANSFERRED"})
        maker.patch_document("invoices", "S-ABC", {"paymentStatus": "TRANSFERRED"})
    for thread in threads:
        thread.join(20)
    assert [e["data"]["key"] for e in seen["manufacturer"]] == ["S-XYZ", "S-ABC"]
    assert [e["data"]["key"] for e in seen["dealer"]] == ["S-ABC"]  # only its own
    assert all(e["event"] == "payment-status-changed" for e in seen["manufacturer"])
    # resuming from an id replays what came after it
    first = int(seen["manufacturer"][0]["id"])
    with live.client("auditor") as auditor:
        replay = list(auditor.events(since=first - 1, limit=2, timeout=5))
    assert [e["data"]["key"] for e in replay] == ["S-XYZ", "S-ABC"]


def test_events_stream_ends_at_its_timeout(live: Setup) -> None:
    with live.client("auditor") as auditor:
        started = time.monotonic()
        assert list(auditor.events(timeout=1)) == []
        assert time.monotonic() - started < 5


# -- SIGKILL -----------------------------------------------------------------------------
def _status_changes(ledger_path: Path) -> dict[str, str | None]:
    """From the journal: event id → new status of every committed status change."""
    ledger = Ledger.open(str(ledger_path))
    out: dict[str, str | None] = {}
    try:
        for key in _keys(ledger):
            revisions = ledger.history("invoices", key)
            for old, new in itertools.pairwise(revisions):
                if old.document_id != new.document_id or old.data is None or new.data is None:
                    continue
                if old.data["paymentStatus"] != new.data["paymentStatus"]:
                    out[f"{new.document_id}.{new.version}"] = str(new.data["paymentStatus"])
    finally:
        ledger.close()
    return out


def _keys(ledger: Ledger) -> set[str]:
    keys = set()
    for blob in ledger.blocks():
        from amazon.ion import simpleion

        for revision in simpleion.loads(blob)["revisions"]:
            data = revision.get("data")
            if data is not None and "_k" in data:
                keys.add(str(data["_k"]))
    return keys


def test_killed_with_pending_notifications_delivers_them_after_restart(tmp_path: Path) -> None:
    with setup(tmp_path) as state:
        for hook in state.hooks.values():
            hook.fail_next = 10**6  # every receiver is down
        with state.client("manufacturer") as maker, state.client("dealer") as dealer:
            for key in ("K-1", "K-2"):
                maker.put_document("invoices", key, invoice())
            for key in ("K-1", "K-2"):
                dealer.patch_document(
                    "invoices", key, {"paymentStatus": "TRANSFERRED", "payment": PAID}
                )
            maker.patch_document("invoices", "K-1", {"paymentStatus": "CONFIRMED"})
        committed = _status_changes(state.root / "ledger.db")
        assert len(committed) == 3

        def pending() -> bool:
            found = maker_deliveries(state)
            # later events about the same invoice wait for the earlier (in-order delivery)
            return (
                len(found) == 9
                and all(d["state"] == "pending" for d in found)
                and sum(d["attempts"] >= 1 for d in found) == 6
            )

        wait_until(pending)  # 3 events x (maker, abc, auditor): tried, failed, pending
        state.server.kill()
        # while the server is down, another process commits a status change
        ledger = Ledger.open(str(state.root / "ledger.db"))
        current = ledger.revision("invoices", "K-2")
        data = {k: v for k, v in current.data.items() if k != "_k"}
        ledger.put("invoices", "K-2", {**data, "paymentStatus": "CONFIRMED"}, current.version)
        ledger.close()
        committed = _status_changes(state.root / "ledger.db")
        assert len(committed) == 4
        for hook in state.hooks.values():
            hook.fail_next = 0
        state.restart()
        for role in ("manufacturer", "dealer", "auditor"):
            events = state.hooks[role].wait_for(4)
            assert {e["id"]: e["newStatus"] for e in events} == committed, role
        time.sleep(0.5)  # nothing more arrives
        assert len(state.hooks["auditor"].events) == 4
        assert state.hooks["other_dealer"].events == []
        by_id = {e["id"]: e for e in state.hooks["auditor"].events}
        direct = next(
            e for e in by_id.values() if e["newStatus"] == "CONFIRMED" and e["key"] == "K-2"
        )
        assert direct["changedBy"] is None  # written outside the server
        assert {e["changedBy"]["party"] for e in by_id.values() if e is not direct} == {
            "abc-dealer",
            "carmaker",
        }
        wait_until(lambda: all(d["state"] == "delivered" for d in maker_deliveries(state)))


def test_killed_during_writes_delivers_exactly_the_committed_events(tmp_path: Path) -> None:
    with setup(tmp_path, workers=2) as state:  # two processes: two scanners, two writers
        keys = [f"W-{i}" for i in range(4)]
        with state.client("manufacturer") as maker:
            for key in keys:
                maker.put_document("invoices", key, invoice())
        stop = threading.Event()
        answered: list[str] = []

        def writer(key: str) -> None:
            # status flips, with changes of another field in between (blocks with no event)
            patches = [{"paymentStatus": "TRANSFERRED"}, {"quantity": 3},
                       {"paymentStatus": "PENDING"}, {"quantity": 4}]  # fmt: skip
            with state.client("manufacturer") as client:
                for n in range(400):  # bounded; the kill ends it sooner
                    if stop.is_set():
                        return
                    try:
                        client.patch_document("invoices", key, patches[n % 4])
                        if "paymentStatus" in patches[n % 4]:
                            answered.append(key)
                    except (OSError, ApiError, http.client.HTTPException):
                        return  # the server is gone (maybe mid-answer)

        threads = [threading.Thread(target=writer, args=(key,)) for key in keys]
        for thread in threads:
            thread.start()
        wait_until(lambda: len(answered) >= 30, timeout=20, interval=0.01)
        state.server.kill()  # mid-write, mid-scan, mid-delivery
        stop.set()
        for thread in threads:
            thread.join(10)
        committed = _status_changes(state.root / "ledger.db")
        assert len(committed) >= len(answered)  # every answered write is in the journal
        state.restart()
        events = state.hooks["auditor"].wait_for(len(committed), timeout=30)
        time.sleep(0.5)
        received = {e["id"]: e["newStatus"] for e in state.hooks["auditor"].events}
        assert received == committed  # nothing lost, nothing invented
        assert len(events) == len(committed)
        assert state.hooks["auditor"].deliveries >= len(committed)  # duplicates are allowed
