"""ORM model of API keys (stored hashed)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import ID, Base, new_id


class ApiKey(Base):
    """A bearer key with a role; only its SHA-256 is stored.

    `teams` are the routing teams the key's agent belongs to: the console's queue shows
    their suggestions by default (any team can still be looked at). Empty: every team.
    """

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(30))
    teams: Mapped[list[str]] = mapped_column(default=list, server_default="[]")
    prefix: Mapped[str] = mapped_column(String(20))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
