"""All SQL about customers, accounts, identities, merge suggestions and events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from core.identity.models import Account, Customer, CustomerEvent, Identity, MergeSuggestion
from core.identity.rules import Identifier


class IdentityRepository:
    """Queries and writes for the identity noun; never commits."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get_customer(self, customer_id: str, lock: bool = False) -> Customer | None:
        """`lock` holds the row until commit (PostgreSQL), serializing one customer's ingests."""
        if lock:
            self.session.execute(
                select(Customer.id).where(Customer.id == customer_id).with_for_update()
            )
        return self.session.get(Customer, customer_id)

    def find_identities(self, identifiers: Sequence[Identifier]) -> list[Identity]:
        if not identifiers:
            return []
        clauses = [(Identity.kind == i.kind) & (Identity.value == i.value) for i in identifiers]
        return list(self.session.scalars(select(Identity).where(or_(*clauses))))

    def find_customer(self, identifier: Identifier) -> Customer | None:
        return self.session.scalar(
            select(Customer)
            .join(Identity, Identity.customer_id == Customer.id)
            .where(Identity.kind == identifier.kind, Identity.value == identifier.value)
        )

    def add_customer(self, name: str | None, now: datetime) -> Customer:
        customer = Customer(name=name, attributes={}, created_at=now, updated_at=now)
        self.session.add(customer)
        self.session.flush()
        return customer

    def add_identity(self, customer: Customer, identifier: Identifier, now: datetime) -> Identity:
        identity = Identity(
            customer_id=customer.id, kind=identifier.kind, value=identifier.value, created_at=now
        )
        self.session.add(identity)
        return identity

    def get_account_by_key(self, key: str) -> Account | None:
        return self.session.scalar(select(Account).where(Account.key == key))

    def add_account(self, key: str, name: str, now: datetime) -> Account:
        account = Account(key=key, name=name, attributes={}, created_at=now)
        self.session.add(account)
        self.session.flush()
        return account

    def get_suggestion(self, a: str, b: str) -> MergeSuggestion | None:
        return self.session.scalar(
            select(MergeSuggestion).where(
                or_(
                    (MergeSuggestion.customer_id == a) & (MergeSuggestion.other_customer_id == b),
                    (MergeSuggestion.customer_id == b) & (MergeSuggestion.other_customer_id == a),
                )
            )
        )

    def add_suggestion(self, suggestion: MergeSuggestion) -> None:
        self.session.add(suggestion)

    def open_suggestions(self, customer_id: str) -> list[MergeSuggestion]:
        return list(
            self.session.scalars(
                select(MergeSuggestion).where(
                    MergeSuggestion.status == "open",
                    or_(
                        MergeSuggestion.customer_id == customer_id,
                        MergeSuggestion.other_customer_id == customer_id,
                    ),
                )
            )
        )

    def add_event(self, event: CustomerEvent) -> None:
        self.session.add(event)

    def events(self, customer_id: str, before: datetime | None, limit: int) -> list[CustomerEvent]:
        query = select(CustomerEvent).where(CustomerEvent.customer_id == customer_id)
        if before is not None:
            query = query.where(CustomerEvent.created_at < before)
        query = query.order_by(CustomerEvent.created_at.desc()).limit(limit)
        return list(self.session.scalars(query))

    def move_owned_rows(self, source_id: str, target_id: str) -> None:
        """Point identities and events of `source_id` at `target_id`."""
        for model in (Identity, CustomerEvent):
            self.session.execute(
                update(model).where(model.customer_id == source_id).values(customer_id=target_id)
            )
