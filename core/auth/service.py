"""Create and check API keys. Keys are random; only their SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Collection, Sequence
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
MINE = "mine"
"""`GET /v1/suggestions?team=mine`: the calling key's teams (not a team name)."""


def hash_key(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_teams(teams: Sequence[str], known: Collection[str] | None) -> list[str]:
    """The key's teams, stripped and without repeats; InvalidInput (code `unknown_team`) when
    one is not a team of the routing config (`known`; None: not checked)."""
    out: list[str] = []
    for raw in teams:
        team = raw.strip()
        if not team:
            raise InvalidInput("a team name cannot be empty", field="teams")
        if team not in out:
            out.append(team)
    if MINE in out:
        raise InvalidInput(f"{MINE!r} stands for the key's own teams; it is not a team name")
    if known is not None:
        unknown = [t for t in out if t not in known]
        if unknown:
            names = ", ".join(repr(t) for t in unknown)
            raise InvalidInput(
                f"unknown team {names}; the routing config's teams are: {', '.join(sorted(known))}",
                field="teams",
                code="unknown_team",
            )
    return out


def create_key(
    session: Session,
    role: str,
    name: str,
    now: datetime,
    teams: Sequence[str] = (),
    known_teams: Collection[str] | None = None,
) -> tuple[ApiKey, str]:
    """A new key; the plaintext is returned once and never stored.

    `teams` (checked against `known_teams`, the routing config's team names) are the teams
    whose queue the key's agent sees by default; none: every team.
    """
    try:
        parsed = Role(role)
    except ValueError as exc:
        roles = ", ".join(r.value for r in Role)
        raise InvalidInput(f"unknown role {role!r}; use one of {roles}", field="role") from exc
    if not name.strip():
        raise InvalidInput("a key needs a name", field="name")
    members = check_teams(teams, known_teams)
    token = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        name=name.strip(),
        role=parsed.value,
        teams=members,
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


def teams_of(key: ApiKey) -> tuple[str, ...]:
    """The key's teams (empty: the key belongs to no team and sees every team)."""
    return tuple(key.teams or ())


def has_admin_key(session: Session) -> bool:
    return (
        session.scalar(
            select(ApiKey.id).where(ApiKey.role == Role.ADMIN, ApiKey.revoked_at.is_(None)).limit(1)
        )
        is not None
    )
