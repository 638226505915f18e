"""ORM models of conversations and messages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import ID, Base, JSONType, new_id


class Conversation(Base):
    """One thread with one customer, possibly across several channels."""

    __tablename__ = "conversations"
    __table_args__ = (Index("ix_conversations_customer_last", "customer_id", "last_message_at"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    external_ref: Mapped[str | None] = mapped_column(String(200), index=True)
    subject: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | closed
    channel: Mapped[str] = mapped_column(String(20))  # where it started
    created_at: Mapped[datetime]
    last_message_at: Mapped[datetime]


class Message(Base):
    """One inbound (or outbound) message; its status tracks the processing pipeline."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("channel", "external_id"),
        Index("ix_messages_customer_sent", "customer_id", "sent_at"),
        Index("ix_messages_status_lease", "status", "lease_expires_at"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), index=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    channel: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str | None] = mapped_column(String(500))
    direction: Mapped[str] = mapped_column(String(10), default="inbound")
    sender: Mapped[dict[str, Any]] = mapped_column(default=dict)
    subject: Mapped[str | None] = mapped_column(String(500))
    text: Mapped[str] = mapped_column(Text)
    clean_text: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime]
    received_at: Mapped[datetime]
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)

    status: Mapped[str] = mapped_column(String(20), default="received")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_expires_at: Mapped[datetime | None]
    requeued_at: Mapped[datetime | None]  # last time the sweeper sent it again
    error: Mapped[str | None] = mapped_column(Text)
    indexed_at: Mapped[datetime | None]
    processed_at: Mapped[datetime | None]
    processing_ms: Mapped[int | None] = mapped_column(Integer)

    # Triage (set by the classify step; `team`/`intent` change when an agent re-routes).
    intent: Mapped[str | None] = mapped_column(String(100))
    team: Mapped[str | None] = mapped_column(String(100), index=True)
    priority: Mapped[str | None] = mapped_column(String(20))
    triage: Mapped[dict[str, Any] | None] = mapped_column(JSONType)

    conversation: Mapped[Conversation] = relationship(lazy="joined")
