"""Rate limits that hold across the server's worker processes, and the client's address.

A token bucket per caller (an API key's party, or a client address without a valid key):
``rate`` tokens a second, at most ``burst`` saved up; a request spends one or is refused (429,
``Retry-After``). The buckets live in one small SQLite file beside the ledger
(``<ledger>.serve-limits``, not the ledger: a rate limit is no audit record), so ``--workers N``
shares them instead of multiplying the rate by N. Each take is one short transaction, taken
in turn through an OS file lock (no SQLite busy-sleep) with ``synchronous=OFF`` (a bucket lost
to a power cut only refills early). If the file cannot be used, the process falls back to
buckets of its own (and logs it once).

The client's address is the TCP peer's, unless the peer is one of ``trusted_proxies``: then the
right-most address of ``X-Forwarded-For`` that is not itself a trusted proxy. uvicorn's own
proxy-header handling is off (it trusts loopback by default, so rotating ``X-Forwarded-For``
from 127.0.0.1 would escape the per-address limit).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("qldb_audit.server")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS buckets (caller TEXT PRIMARY KEY, tokens REAL NOT NULL,
                                    at REAL NOT NULL) WITHOUT ROWID;
"""


class RateLimiter:
    """:meth:`take` spends one token and returns 0.0, or returns the seconds until one is
    there. ``path``: the shared file (None: buckets in this process only)."""

    MAX_CALLERS = 10_000

    def __init__(
        self,
        rate: float,
        burst: int,
        path: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._clock = clock
        self._local: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._fd: int | None = None
        self._takes = 0
        if path is not None:
            try:
                self._open(path)
            except (OSError, sqlite3.Error) as e:
                log.warning("rate limits: %s unusable (%s); limits are per process", path, e)
                self._db = None

    def _open(self, path: str) -> None:
        self._fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        db = sqlite3.connect(path, isolation_level=None, timeout=5, check_same_thread=False)
        with self._file_lock():
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
        db.execute("PRAGMA synchronous=OFF")
        self._db = db

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        if self._fd is not None and fcntl is not None:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            if self._fd is not None and fcntl is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _refill(self, tokens: float, then: float, now: float) -> float:
        return min(self.burst, tokens + max(0.0, now - then) * self.rate)

    def take(self, caller: str) -> float:
        now = self._clock()
        with self._lock:
            if self._db is not None:
                try:
                    return self._take_shared(caller, now)
                except sqlite3.Error as e:  # pragma: no cover - the file went away
                    log.warning("rate limits: shared store failed (%s); per process now", e)
                    self._db = None
            tokens, then = self._local.get(caller, (self.burst, now))
            tokens = self._refill(tokens, then, now)
            wait = self._spend(tokens)
            self._local[caller] = (tokens - 1.0 if wait == 0 else tokens, now)
            if len(self._local) > self.MAX_CALLERS:
                self._local = {
                    c: (t, at)
                    for c, (t, at) in self._local.items()
                    if self._refill(t, at, now) < self.burst
                }
            return wait

    def _spend(self, tokens: float) -> float:
        if tokens >= 1.0 - 1e-9:  # not refused for a float rounding
            return 0.0
        return max((1.0 - tokens) / self.rate, 1e-9)

    def _take_shared(self, caller: str, now: float) -> float:
        assert self._db is not None
        db = self._db
        with self._file_lock():
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute(
                    "SELECT tokens, at FROM buckets WHERE caller=?", (caller,)
                ).fetchone()
                tokens = self.burst if row is None else self._refill(row[0], row[1], now)
                wait = self._spend(tokens)
                db.execute(
                    "INSERT OR REPLACE INTO buckets VALUES (?, ?, ?)",
                    (caller, tokens - 1.0 if wait == 0 else tokens, now),
                )
                self._takes += 1
                if self._takes % 1000 == 0:  # forget buckets that are full again
                    db.execute(
                        "DELETE FROM buckets WHERE tokens + (? - at) * ? >= ?",
                        (now, self.rate, self.burst),
                    )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return wait

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    @staticmethod
    def retry_after(seconds: float) -> str:
        """The ``Retry-After`` value: whole seconds, rounded up, at least 1."""
        return str(max(1, math.ceil(seconds)))


class ClientAddress:
    """The client address of a request, believing ``X-Forwarded-For`` only from a trusted
    proxy (see the module docstring)."""

    def __init__(self, trusted: Sequence[str]) -> None:
        self._trusted = [ipaddress.ip_network(t, strict=False) for t in trusted]

    def _is_trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            return False
        return any(ip in network for network in self._trusted)

    def of(self, peer: str | None, forwarded_for: str | None) -> str:
        address = peer or "unknown"
        if not self._trusted or not self._is_trusted(address) or not forwarded_for:
            return address
        hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
        for hop in reversed(hops):
            if not self._is_trusted(hop):
                try:
                    return str(ipaddress.ip_address(hop))
                except ValueError:
                    return address  # a forged, unparsable hop: the proxy's own address
        return address
