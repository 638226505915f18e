"""Server-side sessions of the agent console.

Signing in with an API key creates a `ConsoleSession` row; the browser's cookie holds a random
token whose SHA-256 is the row's `token_hash` (the token itself is never stored). A session
is refused once it is revoked (sign-out), past its absolute lifetime, idle for too long, or
when its key was revoked, deleted or no longer has a console role. The token is not an API
key: `/v1` never accepts it.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, String, delete, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.auth.models import ApiKey
from core.auth.service import hash_key
from core.db import ID, Base, new_id
from core.errors import Unauthorized

SESSION_LIFETIME = timedelta(hours=12)
"""Absolute lifetime of a session from sign-in, whatever the activity."""
IDLE_TIMEOUT = timedelta(hours=2)
"""A session without a request for this long is refused."""
TOUCH_INTERVAL = timedelta(minutes=1)
"""`last_seen_at` is written at most this often per session (each write takes SQLite's lock)."""


class ConsoleSession(Base):
    """One signed-in browser of the console; only the SHA-256 of its token is stored."""

    __tablename__ = "console_sessions"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    api_key_id: Mapped[str] = mapped_column(
        ID, ForeignKey("api_keys.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


def start_session(
    session: Session, key: ApiKey, now: datetime, lifetime: timedelta = SESSION_LIFETIME
) -> tuple[ConsoleSession, str]:
    """A new session of `key`; returns the row and the token (given once, never stored).

    Sessions past their lifetime (revoked or not) are deleted on the way: nothing can use them.
    """
    session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at <= now))
    token = secrets.token_urlsafe(32)
    row = ConsoleSession(
        token_hash=hash_key(token),
        api_key_id=key.id,
        created_at=now,
        last_seen_at=now,
        expires_at=now + lifetime,
    )
    session.add(row)
    session.flush()
    return row, token


def find_session(
    session: Session,
    token: str,
    now: datetime,
    roles: Collection[str],
    idle_timeout: timedelta = IDLE_TIMEOUT,
) -> tuple[ConsoleSession, ApiKey]:
    """The live session of `token` and its key, or Unauthorized (with the reason).

    Only reads: the caller writes `last_seen_at` when `needs_touch` says so.
    """
    found = session.execute(
        select(ConsoleSession, ApiKey)
        .join(ApiKey, ApiKey.id == ConsoleSession.api_key_id)
        .where(ConsoleSession.token_hash == hash_key(token))
    ).first()
    if found is None:
        raise Unauthorized("unknown console session")
    row, key = found._tuple()
    if row.revoked_at is not None:
        raise Unauthorized("the console session was signed out")
    if now >= row.expires_at:
        raise Unauthorized("the console session expired")
    if now - row.last_seen_at >= idle_timeout:
        raise Unauthorized("the console session was idle for too long")
    if key.revoked_at is not None:
        raise Unauthorized("the session's API key was revoked")
    if key.role not in roles:
        raise Unauthorized(f"a key with role {key.role!r} cannot use the console")
    return row, key


def needs_touch(row: ConsoleSession, now: datetime) -> bool:
    """Whether `last_seen_at` is old enough to be written again."""
    return now - row.last_seen_at >= TOUCH_INTERVAL


def touch_session(session: Session, session_id: str, now: datetime) -> None:
    """Record activity (the idle timeout counts from here); a revoked session stays revoked."""
    session.execute(
        update(ConsoleSession)
        .where(
            ConsoleSession.id == session_id,
            ConsoleSession.revoked_at.is_(None),
            ConsoleSession.last_seen_at < now,
        )
        .values(last_seen_at=now)
    )


def end_session(session: Session, token: str, now: datetime) -> bool:
    """Revoke the session of `token` (sign-out); False when there was no live one."""
    result = session.execute(
        update(ConsoleSession)
        .where(ConsoleSession.token_hash == hash_key(token), ConsoleSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return bool(getattr(result, "rowcount", 0))
