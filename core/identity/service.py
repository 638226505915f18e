"""Resolve who wrote a message; look customers up; import CRM profiles."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from core.errors import InvalidInput, NotFound
from core.identity.models import Account, Customer, CustomerEvent, MergeSuggestion
from core.identity.repository import IdentityRepository
from core.identity.rules import (
    Identifier,
    account_key,
    normalize_customer_ref,
    normalize_email,
    normalize_handle,
    normalize_phone,
    sort_by_priority,
)


@dataclass
class Resolution:
    """The customer a message belongs to, and what resolving it changed."""

    customer: Customer
    created: bool = False
    linked: list[Identifier] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)  # other customers' ids


def sender_identifiers(sender: Mapping[str, Any], channel: str, region: str) -> list[Identifier]:
    """Every identifier in a v1 `sender`, normalized, strongest first."""
    found: list[Identifier] = []
    if sender.get("customer_ref"):
        found.append(Identifier("customer_ref", normalize_customer_ref(sender["customer_ref"])))
    if sender.get("email"):
        found.append(Identifier("email", normalize_email(sender["email"])))
    if sender.get("phone"):
        found.append(Identifier("phone", normalize_phone(sender["phone"], region)))
    if sender.get("handle"):
        found.append(normalize_handle(sender["handle"], channel, region))
    return sort_by_priority(found)


class IdentityService:
    """Ties identifiers to customers without ever merging two customers silently."""

    def __init__(self, session: Session, default_region: str) -> None:
        self.session = session
        self.repo = IdentityRepository(session)
        self.region = default_region

    def resolve(
        self,
        identifiers: Sequence[Identifier],
        name: str | None,
        account: str | None,
        now: datetime,
        message_id: str | None = None,
    ) -> Resolution:
        """Find (or create) the customer behind these identifiers and link the new ones.

        When the identifiers belong to different customers, the strongest identifier's owner
        wins, nothing is moved, and a merge suggestion is recorded on both timelines.
        """
        if not identifiers:
            raise InvalidInput("sender needs at least one identifier", field="sender")
        known = {(i.kind, i.value): i for i in self.repo.find_identities(identifiers)}
        owners: list[str] = []
        for ident in identifiers:
            identity = known.get((ident.kind, ident.value))
            if identity is not None and identity.customer_id not in owners:
                owners.append(identity.customer_id)
        if owners:
            # Locked so that two messages of one customer pick or open one conversation.
            customer = self.repo.get_customer(owners[0], lock=True)
            assert customer is not None
            resolution = Resolution(customer=customer)
        else:
            customer = self.repo.add_customer(name, now)
            resolution = Resolution(customer=customer, created=True)
        for ident in identifiers:
            if (ident.kind, ident.value) not in known:
                self.repo.add_identity(customer, ident, now)
                resolution.linked.append(ident)
        for other_id in owners[1:]:
            self._suggest_merge(customer.id, other_id, identifiers, now, message_id)
            resolution.conflicts.append(other_id)
        if name and not customer.name:
            customer.name = name
        if account:
            self._attach_account(customer, account, now)
        if resolution.linked and not resolution.created:
            customer.updated_at = now
            self.repo.add_event(
                CustomerEvent(
                    customer_id=customer.id,
                    kind="identities_linked",
                    data={"identifiers": [f"{i.kind}:{i.value}" for i in resolution.linked]},
                    created_at=now,
                )
            )
        self.session.flush()
        return resolution

    def _attach_account(self, customer: Customer, name: str, now: datetime) -> Account:
        key = account_key(name)
        acct = self.repo.get_account_by_key(key) or self.repo.add_account(key, name.strip(), now)
        if customer.account_id is None:
            customer.account_id = acct.id
            customer.account = acct
        return acct

    def _suggest_merge(
        self,
        customer_id: str,
        other_id: str,
        identifiers: Sequence[Identifier],
        now: datetime,
        message_id: str | None,
    ) -> None:
        if self.repo.get_suggestion(customer_id, other_id) is not None:
            return
        shown = ", ".join(f"{i.kind} {i.value}" for i in identifiers)
        reason = f"one message carried identifiers of both customers ({shown})"
        self.repo.add_suggestion(
            MergeSuggestion(
                customer_id=customer_id,
                other_customer_id=other_id,
                reason=reason,
                message_id=message_id,
                status="open",
                created_at=now,
            )
        )
        for own, other in ((customer_id, other_id), (other_id, customer_id)):
            self.repo.add_event(
                CustomerEvent(
                    customer_id=own,
                    kind="merge_suggested",
                    data={"other_customer_id": other, "reason": reason, "message_id": message_id},
                    created_at=now,
                )
            )

    def get(self, customer_id: str) -> Customer:
        """The customer, or NotFound."""
        customer = self.repo.get_customer(customer_id)
        if customer is None:
            raise NotFound(f"customer {customer_id} does not exist", field="customer_id")
        return customer

    def find(
        self, email: str | None, phone: str | None, handle: str | None, customer_ref: str | None
    ) -> list[Customer]:
        """Customers matching any of the given identifiers (0 or more)."""
        wanted: list[Identifier] = []
        if email:
            wanted.append(Identifier("email", normalize_email(email, field="email")))
        if phone:
            wanted.append(Identifier("phone", normalize_phone(phone, self.region, field="phone")))
        if handle:
            if ":" not in handle:
                raise InvalidInput(
                    "handle must carry its platform, e.g. facebook:1234 or twitter:@acme",
                    field="handle",
                )
            wanted.append(normalize_handle(handle, "", self.region))
        if customer_ref:
            wanted.append(Identifier("customer_ref", normalize_customer_ref(customer_ref)))
        if not wanted:
            raise InvalidInput(
                "give one of email, phone, handle or customer_ref to look a customer up",
                field="email",
            )
        seen: dict[str, Customer] = {}
        for ident in wanted:
            customer = self.repo.find_customer(ident)
            if customer is not None:
                seen.setdefault(customer.id, customer)
        return list(seen.values())

    def merge_suggestions(self, customer_id: str) -> list[MergeSuggestion]:
        return self.repo.open_suggestions(customer_id)

    def import_profile(
        self,
        name: str | None,
        identifiers: Sequence[Identifier],
        account: str | None,
        attributes: Mapping[str, Any],
        now: datetime,
        account_attributes: Mapping[str, Any] | None = None,
    ) -> Customer:
        """Create or update a customer from a CRM record (used by `threadline demo`)."""
        resolution = self.resolve(identifiers, name, account, now)
        customer = resolution.customer
        customer.attributes = {**customer.attributes, **attributes}
        if account and account_attributes and customer.account is not None:
            customer.account.attributes = {**customer.account.attributes, **account_attributes}
        self.session.flush()
        return customer

    def upsert_account(self, name: str, attributes: Mapping[str, Any], now: datetime) -> Account:
        """Create or update a B2B account by name."""
        key = account_key(name)
        acct = self.repo.get_account_by_key(key) or self.repo.add_account(key, name.strip(), now)
        acct.attributes = {**acct.attributes, **attributes}
        self.session.flush()
        return acct
