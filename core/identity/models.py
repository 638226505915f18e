"""ORM models of customers, B2B accounts, identities, merge suggestions and events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import ID, Base, new_id


class Account(Base):
    """A B2B company; several customers (contacts) can belong to it."""

    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    key: Mapped[str] = mapped_column(String(200), unique=True)  # normalized name
    name: Mapped[str] = mapped_column(String(200))
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]


class Customer(Base):
    """One person, whatever channel they write from."""

    __tablename__ = "customers"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    name: Mapped[str | None] = mapped_column(String(200))
    account_id: Mapped[str | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    merged_into_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id"), index=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    account: Mapped[Account | None] = relationship(lazy="joined")
    identities: Mapped[list[Identity]] = relationship(
        back_populates="customer", order_by="Identity.created_at", lazy="selectin"
    )


class Identity(Base):
    """A normalized identifier (email, phone, handle, customer_ref) owned by one customer."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("kind", "value"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    value: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime]

    customer: Mapped[Customer] = relationship(back_populates="identities")


class MergeSuggestion(Base):
    """Two customers that one message's identifiers tied together; an agent decides."""

    __tablename__ = "merge_suggestions"
    __table_args__ = (UniqueConstraint("customer_id", "other_customer_id"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    other_customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(ID)
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | merged
    created_at: Mapped[datetime]


class CustomerEvent(Base):
    """Audit and timeline events that are not messages (merge suggested, merged, ...)."""

    __tablename__ = "customer_events"
    __table_args__ = (Index("ix_customer_events_customer_created", "customer_id", "created_at"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    kind: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    actor: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
