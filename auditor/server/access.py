"""Who may do what: API-key look-up, the three roles' rules, and the per-key token bucket.

Roles (docs/rest-api.md has the route table):

- ``manufacturer``: writes any table; reads everything.
- ``dealer``: reads only documents whose party field (invoices: ``billTo``) is its ``bill_to``;
  may change only the table's ``dealer_fields`` (invoices: ``paymentStatus`` and ``payment``)
  of those documents, and set the status only to ``dealer_statuses`` (PENDING, TRANSFERRED:
  CONFIRMED is the manufacturer's word); never creates or deletes.
- ``auditor``: reads everything, exports the journal; never writes.

A document belongs to the dealer named by its latest revision that has data, so a deleted or
re-billed invoice follows its current owner.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

from auditor.server.config import Party, TablePolicy
from proofs import ion_hash

KEY_FIELD = "_k"


class ForbiddenError(Exception):
    """The caller's role does not allow this; ``reason`` is machine-readable."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def owner(policy: TablePolicy, data: Any) -> str | None:
    """The dealer a document's data names, or None."""
    if policy.party_field is None or data is None or not isinstance(data, Mapping):
        return None
    value = data.get(policy.party_field)
    return str(value) if isinstance(value, str) else None


def can_read(party: Party, policy: TablePolicy, data: Any) -> bool:
    """May ``party`` read a document whose current data is ``data``?"""
    if party.role in ("manufacturer", "auditor"):
        return True
    return party.bill_to is not None and owner(policy, data) == party.bill_to


def check_read(party: Party, policy: TablePolicy, data: Any, what: str) -> None:
    if not can_read(party, policy, data):
        if policy.party_field is None:
            raise ForbiddenError("table", f"{what}: a dealer has no access to table {policy.name}")
        raise ForbiddenError("not-yours", f"{what}: not billed to {party.bill_to}")


def same_value(a: Any, b: Any) -> bool:
    """Equal as Ion values, exactly: types and decimal digits count (``89000.50`` is not
    ``89000.5``), as they count in the revision hash. A value with no Ion image (a lone
    surrogate in a string) equals nothing."""
    try:
        return ion_hash(a) == ion_hash(b)
    except (ValueError, TypeError, UnicodeError):
        return False


def changed_fields(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Fields (besides ``_k``) whose Ion value differs (:func:`same_value`)."""
    names = (set(old) | set(new)) - {KEY_FIELD}
    out = []
    for name in sorted(map(str, names)):
        if name not in old or name not in new or not same_value(old[name], new[name]):
            out.append(name)
    return out


def check_write(party: Party, policy: TablePolicy, current: Any, new: Any, what: str) -> None:
    """May ``party`` replace ``current`` (None: absent) by ``new`` (None: a delete)?
    Raises :class:`ForbiddenError`."""
    if party.role == "manufacturer":
        return
    if party.role != "dealer":
        raise ForbiddenError("role", f"{what}: the {party.role} role cannot write")
    if current is None:
        raise ForbiddenError("create", f"{what}: a dealer cannot create documents")
    check_read(party, policy, current, what)
    if new is None:
        raise ForbiddenError("delete", f"{what}: a dealer cannot delete documents")
    if not isinstance(new, Mapping) or not isinstance(current, Mapping):
        raise ForbiddenError("field", f"{what}: a dealer may only change fields of an object")
    allowed = set(policy.dealer_fields)
    names = ", ".join(sorted(allowed)) or "nothing"
    for name in changed_fields(current, new):
        if name not in allowed:
            raise ForbiddenError("field", f"{what}.{name}: a dealer may change only {names}")
    status = policy.status_field
    if (
        status is not None
        and status in new
        and not same_value(new.get(status), current.get(status))
    ):
        value = new[status]
        if value not in policy.dealer_statuses:
            raise ForbiddenError(
                "status",
                f"{what}.{status}: a dealer may set only "
                f"{', '.join(policy.dealer_statuses)} (got {value!r})",
            )


class RateLimiter:
    """Token buckets, one per caller: ``rate`` tokens a second, at most ``burst`` saved up.

    :meth:`take` spends one token and returns 0.0, or returns how many seconds until a token
    is there (the request is refused: 429 with ``Retry-After``). Each server process has its
    own buckets (with N workers a key can get up to N times the rate).
    """

    MAX_CALLERS = 10_000

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, caller: str) -> float:
        now = self._clock()
        tokens, then = self._buckets.get(caller, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        if tokens >= 1.0 - 1e-9:  # not refused for a float rounding
            self._buckets[caller] = (tokens - 1.0, now)
            if len(self._buckets) > self.MAX_CALLERS:
                self._forget_full(now)
            return 0.0
        self._buckets[caller] = (tokens, now)
        return max((1.0 - tokens) / self.rate, 1e-9)

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled (they hold no state a fresh bucket would not)."""
        for caller, (tokens, then) in list(self._buckets.items()):
            if tokens + (now - then) * self.rate >= self.burst:
                del self._buckets[caller]

    @staticmethod
    def retry_after(seconds: float) -> str:
        """The ``Retry-After`` value: whole seconds, rounded up, at least 1."""
        return str(max(1, math.ceil(seconds)))
