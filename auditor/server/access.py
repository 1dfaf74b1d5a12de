"""Who may see and do what: the three roles' rules, per revision.

Roles (docs/rest-api.md has the route table):

- ``manufacturer``: writes any table; reads everything.
- ``dealer``: sees a revision only when that revision was billed to it (its party field,
  invoices: ``billTo``, is the dealer's ``bill_to``); may change only the table's
  ``dealer_fields`` (invoices: ``paymentStatus`` and ``payment``) of the invoices billed to it
  now, along the table's state machine (auditor/server/states.py); never creates or deletes.
- ``auditor``: reads everything, exports the journal; never writes.

Per revision, not per key: a key's history may span several documents (deleted and created
again) and a document may be re-billed, so each revision carries its own answer. A revision
with data is billed to the party its data names; a deletion to the party its document was
billed to last; a redacted revision (its data is gone) to nobody a dealer is. "Not yours" and
"does not exist" are one answer (404 ``not-found``), so a dealer cannot enumerate invoices.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from auditor.ledger import Revision
from auditor.server.config import Party, TablePolicy
from auditor.server.states import TransitionError
from proofs import ion_hash

KEY_FIELD = "_k"


class ForbiddenError(Exception):
    """The caller may not do this: ``status`` 403 (a rule of its role) or 404 (it may not know
    the document exists); ``reason`` is machine-readable."""

    def __init__(self, reason: str, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status


def owner(policy: TablePolicy, data: Any) -> str | None:
    """The dealer a document's data names, or None."""
    if policy.party_field is None or data is None or not isinstance(data, Mapping):
        return None
    value = data.get(policy.party_field)
    return str(value) if isinstance(value, str) else None


def sees_all(party: Party) -> bool:
    return party.role in ("manufacturer", "auditor")


def can_read(party: Party, policy: TablePolicy, data: Any) -> bool:
    """May ``party`` read a revision whose data is ``data``?"""
    if sees_all(party):
        return True
    return party.bill_to is not None and owner(policy, data) == party.bill_to


def check_table(party: Party, policy: TablePolicy, what: str) -> None:
    """A dealer has no access at all to a table without a party field (403: a rule, not a
    secret: the tables are listed to everyone)."""
    if not sees_all(party) and policy.party_field is None:
        raise ForbiddenError("table", f"{what}: a dealer has no access to table {policy.name}")


def owners(policy: TablePolicy, revisions: Sequence[Revision]) -> list[str | None]:
    """The party each revision (in commit order, as ``Ledger.history`` gives them) was billed
    to: see the module docstring."""
    last: dict[str, str | None] = {}
    out: list[str | None] = []
    for revision in revisions:
        if revision.data is not None:
            billed = owner(policy, revision.data)
            last[revision.document_id] = billed
        elif "dataHash" in revision.value:  # redacted: its billTo is gone
            billed = None
        else:  # a deletion
            billed = last.get(revision.document_id)
        out.append(billed)
    return out


def visible(party: Party, policy: TablePolicy, revisions: Sequence[Revision]) -> list[Revision]:
    """The revisions ``party`` may see, in order."""
    if sees_all(party):
        return list(revisions)
    check_table(party, policy, policy.name)
    mine = party.bill_to
    return [
        r
        for r, billed in zip(revisions, owners(policy, revisions), strict=True)
        if mine is not None and billed == mine
    ]


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
    """May ``party`` replace ``current`` (the data of the current document, None: absent) by
    ``new`` (None: a delete)? Raises :class:`ForbiddenError`."""
    if party.role not in ("manufacturer", "dealer"):
        raise ForbiddenError("role", f"{what}: the {party.role} role cannot write")
    if party.role == "dealer":
        check_table(party, policy, what)
        if current is None or not can_read(party, policy, current):
            raise ForbiddenError("not-found", f"{what}: not found", 404)  # absent or not yours
        if new is None:
            raise ForbiddenError("delete", f"{what}: a dealer cannot delete documents")
        if not isinstance(new, Mapping) or not isinstance(current, Mapping):
            raise ForbiddenError("field", f"{what}: a dealer may only change fields of an object")
    if new is None or not isinstance(new, Mapping) or not isinstance(current, Mapping):
        return
    changed = changed_fields(current, new)
    if party.role == "dealer":
        allowed = set(policy.dealer_fields)
        names = ", ".join(sorted(allowed)) or "nothing"
        for name in changed:
            if name not in allowed:
                raise ForbiddenError("field", f"{what}.{name}: a dealer may change only {names}")
        status = policy.status_field
        if status is not None and status in changed and new.get(status) is not None:
            value = new[status]
            if value not in policy.dealer_statuses:
                raise ForbiddenError(
                    "status",
                    f"{what}.{status}: a dealer may set only {', '.join(policy.dealer_statuses)}",
                )
    if policy.states is not None:
        try:
            policy.states.check(party.role, current, new, changed)
        except TransitionError as e:
            raise ForbiddenError(e.reason, f"{what}: {e}") from e
