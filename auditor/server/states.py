"""The invoice's payment state machine, as data; checked on every write path (POST /, the batch
route, PUT, PATCH) before anything is committed.

The seed story is one-way: the dealer marks an invoice paid with the transfer details, the
manufacturer checks its bank and confirms. Hence:

=============  ===========  ===========================  =======================================
from           to           who                          condition
=============  ===========  ===========================  =======================================
PENDING        TRANSFERRED  dealer, manufacturer         a dealer must give ``payment`` details
TRANSFERRED    PENDING      dealer, manufacturer         the dealer withdraws its claim (wrong
                                                         details), or the maker did not find it
TRANSFERRED    CONFIRMED    manufacturer                 the maker found the transfer
PENDING        CONFIRMED    manufacturer                 paid by other means
CONFIRMED      PENDING,     manufacturer                 a correction; on the record, notified
               TRANSFERRED
=============  ===========  ===========================  =======================================

A dealer changes ``payment`` only together with a transition (to TRANSFERRED it records the
details, back to PENDING it may remove them): every change of the details is a status change,
so it notifies. A write that keeps the status is the manufacturer's (a dealer may re-post an
unchanged invoice, as the sample's story does). CONFIRMED is final for dealers: nothing of a
confirmed invoice can be changed by a dealer. A new invoice may start in any state (the
manufacturer imports history), dealers never create.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class TransitionError(Exception):
    """The transition is not allowed for this role; ``reason`` is machine-readable."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Transition:
    source: str
    target: str
    roles: frozenset[str]
    dealer_needs: tuple[str, ...] = ()  # fields a dealer must give (non-empty) with it


@dataclass(frozen=True, slots=True)
class StateMachine:
    field: str  # the status field
    states: tuple[str, ...]
    transitions: tuple[Transition, ...]
    detail_fields: tuple[str, ...]  # a dealer changes these only with a transition

    def allowed(self, source: str, target: str) -> Transition | None:
        for transition in self.transitions:
            if (transition.source, transition.target) == (source, target):
                return transition
        return None

    def check(
        self, role: str, current: Mapping[str, Any], new: Mapping[str, Any], changed: list[str]
    ) -> None:
        """May ``role`` replace ``current`` by ``new`` (``changed``: the fields that differ)?
        Raises :class:`TransitionError`."""
        source, target = current.get(self.field), new.get(self.field)
        if self.field not in changed:
            if role == "manufacturer":
                return
            touched = [f for f in changed if f in self.detail_fields]
            if touched:
                raise TransitionError(
                    "state",
                    f"{self.field} {source}: a dealer changes {', '.join(touched)} only with a "
                    f"change of {self.field} (see the state machine)",
                )
            return
        transition = self.allowed(str(source), str(target))
        if transition is None or role not in transition.roles:
            who = "anyone" if transition is None else f"the {role} role"
            raise TransitionError(
                "state", f"{self.field}: {source} -> {target} is not allowed for {who}"
            )
        if role == "dealer":
            for name in transition.dealer_needs:
                if not new.get(name):
                    raise TransitionError(
                        "state", f"{self.field}: {source} -> {target} needs {name} details"
                    )

    def describe(self) -> list[dict[str, Any]]:
        return [
            {
                "from": t.source,
                "to": t.target,
                "roles": sorted(t.roles),
                "dealerMustGive": list(t.dealer_needs),
            }
            for t in self.transitions
        ]


_BOTH = frozenset({"dealer", "manufacturer"})
_MAKER = frozenset({"manufacturer"})

INVOICE_STATES = StateMachine(
    field="paymentStatus",
    states=("PENDING", "TRANSFERRED", "CONFIRMED"),
    transitions=(
        Transition("PENDING", "TRANSFERRED", _BOTH, dealer_needs=("payment",)),
        Transition("TRANSFERRED", "PENDING", _BOTH),
        Transition("TRANSFERRED", "CONFIRMED", _MAKER),
        Transition("PENDING", "CONFIRMED", _MAKER),
        Transition("CONFIRMED", "PENDING", _MAKER),
        Transition("CONFIRMED", "TRANSFERRED", _MAKER),
    ),
    detail_fields=("payment",),
)
