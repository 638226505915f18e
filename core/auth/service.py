"""Create and check API keys. Keys are random; only their SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.auth.models import ApiKey
from core.errors import Forbidden, InvalidInput, Unauthorized


class Role(StrEnum):
    """What a key may do. Admin may do everything."""

    ADMIN = "admin"
    INTEGRATION = "integration"
    AGENT = "agent"
    KNOWLEDGE_MANAGER = "knowledge_manager"


KEY_PREFIX = "tl_"


def hash_key(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_key(session: Session, role: str, name: str, now: datetime) -> tuple[ApiKey, str]:
    """A new key; the plaintext is returned once and never stored."""
    try:
        parsed = Role(role)
    except ValueError as exc:
        roles = ", ".join(r.value for r in Role)
        raise InvalidInput(f"unknown role {role!r}; use one of {roles}", field="role") from exc
    if not name.strip():
        raise InvalidInput("a key needs a name", field="name")
    token = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        name=name.strip(),
        role=parsed.value,
        prefix=token[:10],
        key_hash=hash_key(token),
        created_at=now,
    )
    session.add(key)
    session.flush()
    return key, token


def authenticate(session: Session, token: str | None) -> ApiKey:
    """The key behind a bearer token, or Unauthorized."""
    if not token:
        raise Unauthorized("missing API key: send 'Authorization: Bearer <key>'")
    key = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(token)))
    if key is None or key.revoked_at is not None:
        raise Unauthorized("unknown or revoked API key")
    return key


def authorize(key: ApiKey, allowed: frozenset[Role]) -> None:
    """Forbidden unless the key's role is allowed (admin always is)."""
    if key.role == Role.ADMIN or Role(key.role) in allowed:
        return
    names = ", ".join(sorted(r.value for r in allowed | {Role.ADMIN}))
    raise Forbidden(f"role {key.role!r} may not do this; needs one of: {names}")


def has_admin_key(session: Session) -> bool:
    return (
        session.scalar(
            select(ApiKey.id).where(ApiKey.role == Role.ADMIN, ApiKey.revoked_at.is_(None)).limit(1)
        )
        is not None
    )
