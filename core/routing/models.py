"""ORM model of agent corrections (re-routes), which become training examples."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import ID, Base, new_id


class Correction(Base):
    """An agent moved a message to another team (and maybe intent)."""

    __tablename__ = "corrections"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id"), index=True)
    from_team: Mapped[str | None] = mapped_column(String(100))
    to_team: Mapped[str] = mapped_column(String(100))
    from_intent: Mapped[str | None] = mapped_column(String(100))
    to_intent: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
