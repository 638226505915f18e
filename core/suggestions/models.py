"""Suggested replies and the answers agents approved."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import ID, Base, JSONType, new_id


class Suggestion(Base):
    """One drafted reply to one inbound message, waiting for (or decided by) an agent."""

    __tablename__ = "suggestions"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id"), unique=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"))
    channel: Mapped[str] = mapped_column(String(20))
    team: Mapped[str | None] = mapped_column(String(100), index=True)
    intent: Mapped[str | None] = mapped_column(String(100))
    priority: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    draft_text: Mapped[str] = mapped_column(Text)
    final_text: Mapped[str | None] = mapped_column(Text)
    drafter: Mapped[str] = mapped_column(String(20))
    prompt_id: Mapped[str | None] = mapped_column(String(100))
    prompt_version: Mapped[int | None] = mapped_column(Integer)
    model: Mapped[str | None] = mapped_column(String(200))
    kb_version: Mapped[int | None] = mapped_column(Integer)
    cited_chunks: Mapped[list[str]] = mapped_column(default=list)
    facts_used: Mapped[list[str]] = mapped_column(default=list)
    flags: Mapped[list[str]] = mapped_column(default=list)
    needs_human: Mapped[bool] = mapped_column(Boolean, default=False)
    fallback_reason: Mapped[str | None] = mapped_column(Text)
    approved_answer_id: Mapped[str | None] = mapped_column(ID)
    acknowledged_message_id: Mapped[str | None] = mapped_column(ID)
    # The related prior messages the draft step put in the context, best first:
    # [{"message_id": ..., "score": ...}]. None: not recorded (suggestions before 0007).
    related_used: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType, nullable=True)
    question_vector: Mapped[list[float] | None] = mapped_column()  # for approved answers
    edit_distance: Mapped[int | None] = mapped_column(Integer)
    reject_reason: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(200))
    outbound_message_id: Mapped[str | None] = mapped_column(ID)
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]


class ApprovedAnswer(Base):
    """A reply an agent accepted or edited: reused for the same question (consistency)."""

    __tablename__ = "approved_answers"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    suggestion_id: Mapped[str] = mapped_column(ForeignKey("suggestions.id"), unique=True)
    intent: Mapped[str | None] = mapped_column(String(100), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    question: Mapped[str] = mapped_column(Text)
    question_vector: Mapped[list[float]] = mapped_column()
    text: Mapped[str] = mapped_column(Text)
    chunk_ids: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[datetime]
