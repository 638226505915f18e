"""Server-side console sessions (migration 0008) on SQLite and PostgreSQL, over HTTP.

The cookie holds a random session token, not the API key: sign-out revokes the session on
the server, sessions end after their lifetime or when idle, a revoked or deleted key ends its
sessions, the token is not accepted by `/v1`, and the CSRF token is derived from it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import select

from adapters.container import Container
from api.app import create_app
from api.console.session import COOKIE, csrf_token
from core.auth.models import ApiKey
from core.auth.service import create_key
from core.auth.sessions import IDLE_TIMEOUT, SESSION_LIFETIME, TOUCH_INTERVAL, ConsoleSession
from core.db import make_engine
from core.migrate import alembic_config, upgrade

START = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
LOGIN = "/console/login"


class MovableClock:
    """The container's clock, moved by the tests."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def advance(self, delta: timedelta) -> None:
        self.at += delta


@dataclass
class Console:
    client: TestClient
    container: Container
    clock: MovableClock
    keys: dict[str, str]

    def sign_in(self, role: str = "agent") -> str:
        """Sign in through the form; the cookie's session token (also kept by the client)."""
        response = self.client.post(LOGIN, data={"api_key": self.keys[role]})
        assert response.status_code == 303, response.text
        token = response.cookies.get(COOKIE)
        assert token
        return str(token)

    def use(self, token: str) -> None:
        """Send `token` as the session cookie from now on."""
        self.client.cookies.clear()
        self.client.cookies.set(COOKIE, token, path="/console")

    def queue(self) -> int:
        return int(self.client.get("/console/queue").status_code)

    def rows(self) -> list[ConsoleSession]:
        with self.container.session(write=False) as session:
            return list(session.scalars(select(ConsoleSession).order_by(ConsoleSession.created_at)))


@pytest.fixture
def console(container: Container) -> Iterator[Console]:
    clock = MovableClock(START)
    container.clock = clock
    keys: dict[str, str] = {}
    with container.session() as session:
        for role in ("agent", "knowledge_manager", "integration"):
            _, keys[role] = create_key(session, role, f"{role} Ada", clock.now())
        session.commit()
    app = create_app(container, start_workers=False)
    with TestClient(app, follow_redirects=False) as client:
        yield Console(client, container, clock, keys)


def refused(response: httpx.Response) -> bool:
    """The console sent the browser to the sign-in page."""
    return response.status_code == 303 and response.headers.get("location") == LOGIN


def test_sign_in_creates_a_session_whose_token_is_not_the_key(console: Console) -> None:
    token = console.sign_in()
    assert token != console.keys["agent"] and not token.startswith("tl_")
    [row] = console.rows()
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in (row.token_hash, row.id)
    with console.container.session(write=False) as session:
        key = session.get(ApiKey, row.api_key_id)
        assert key is not None and key.role == "agent"
    assert (row.created_at, row.last_seen_at) == (START, START)
    assert row.expires_at == START + SESSION_LIFETIME and row.revoked_at is None
    assert console.queue() == 200
    # Signing in again from the same browser replaces (revokes) its previous session.
    second = console.sign_in()
    old, new = console.rows()
    assert old.revoked_at == START and new.revoked_at is None
    console.use(token)
    assert console.queue() == 303
    console.use(second)
    assert console.queue() == 200


def test_sign_out_revokes_the_session_on_the_server(console: Console) -> None:
    token = console.sign_in()
    assert console.queue() == 200
    out = console.client.post("/console/logout", data={"csrf": csrf_token(token)})
    assert out.status_code == 303 and out.headers["location"] == LOGIN
    assert f'{COOKIE}=""' in out.headers["set-cookie"]
    [row] = console.rows()
    assert row.revoked_at == START
    # A copy of the old cookie is refused everywhere, GET and POST, page and HTMX.
    console.use(token)
    assert refused(console.client.get("/console/queue"))
    assert refused(console.client.get("/console"))
    htmx = console.client.get("/console/queue/section", headers={"HX-Request": "true"})
    assert htmx.status_code == 204 and htmx.headers["hx-redirect"] == LOGIN
    post = console.client.post("/console/suggestions/nope/accept", data={"csrf": csrf_token(token)})
    assert refused(post)


def test_a_session_ends_after_its_absolute_lifetime(console: Console) -> None:
    console.sign_in()
    step = IDLE_TIMEOUT - timedelta(minutes=5)
    # Active all along (a request before each idle timeout)...
    while console.clock.now() + step < START + SESSION_LIFETIME:
        console.clock.advance(step)
        assert console.queue() == 200, console.clock.now()
    # ...but no longer than the lifetime from sign-in.
    console.clock.at = START + SESSION_LIFETIME - timedelta(seconds=1)
    assert console.queue() == 200
    console.clock.advance(timedelta(seconds=1))
    assert refused(console.client.get("/console/queue"))
    # The next sign-in deletes sessions past their lifetime.
    console.sign_in()
    [row] = console.rows()
    assert row.created_at == console.clock.now() and row.revoked_at is None


def test_an_idle_session_is_refused(console: Console) -> None:
    console.sign_in()
    console.clock.advance(IDLE_TIMEOUT - timedelta(seconds=1))
    assert console.queue() == 200  # activity: the idle timeout counts from here
    console.clock.advance(IDLE_TIMEOUT - timedelta(seconds=1))
    assert console.queue() == 200
    console.clock.advance(IDLE_TIMEOUT)
    assert refused(console.client.get("/console/queue"))


def test_the_queues_live_refresh_is_not_activity(console: Console) -> None:
    console.sign_in()
    console.clock.advance(IDLE_TIMEOUT / 2)
    section = console.client.get("/console/queue/section", headers={"HX-Request": "true"})
    assert section.status_code == 200
    assert console.rows()[0].last_seen_at == START  # polling does not keep the session alive
    console.clock.advance(IDLE_TIMEOUT / 2)
    section = console.client.get("/console/queue/section", headers={"HX-Request": "true"})
    assert section.status_code == 204 and section.headers["hx-redirect"] == LOGIN


def test_last_seen_is_written_at_most_once_a_minute(console: Console) -> None:
    console.sign_in()
    console.clock.advance(TOUCH_INTERVAL - timedelta(seconds=1))
    assert console.queue() == 200
    assert console.rows()[0].last_seen_at == START
    console.clock.advance(timedelta(seconds=1))
    assert console.queue() == 200
    assert console.rows()[0].last_seen_at == START + TOUCH_INTERVAL


def _set_key(console: Console, owner: str, **values: object) -> None:
    with console.container.session() as session:
        key = session.scalar(select(ApiKey).where(ApiKey.name == f"{owner} Ada"))
        assert key is not None
        for name, value in values.items():
            setattr(key, name, value)
        session.commit()


def test_a_revoked_or_deleted_key_ends_its_sessions(console: Console) -> None:
    agent = console.sign_in("agent")
    console.client.cookies.clear()  # another browser
    manager = console.sign_in("knowledge_manager")
    console.use(agent)
    assert console.queue() == 200
    # Revoked: refused at once (no cache of sessions), and no new session either.
    _set_key(console, "agent", revoked_at=START)
    assert refused(console.client.get("/console/queue"))
    console.client.cookies.clear()
    again = console.client.post(LOGIN, data={"api_key": console.keys["agent"]})
    assert again.status_code == 401 and "set-cookie" not in again.headers
    # A key whose role no longer opens the console.
    console.use(manager)
    assert console.client.get("/console/evals").status_code == 200
    _set_key(console, "knowledge_manager", role="integration")
    assert refused(console.client.get("/console/evals"))
    # Deleted: its sessions go with it.
    with console.container.session() as session:
        session.execute(sa.delete(ApiKey).where(ApiKey.name == "knowledge_manager Ada"))
        session.commit()
    assert len(console.rows()) == 1  # the revoked agent's session is left
    assert refused(console.client.get("/console/evals"))


def test_the_session_token_is_not_an_api_key(console: Console) -> None:
    token = console.sign_in()
    console.client.cookies.clear()
    bearer = {"Authorization": f"Bearer {token}"}
    assert console.client.get("/v1/suggestions", headers=bearer).status_code == 401
    with_cookie = console.client.get("/v1/suggestions", headers={"Cookie": f"{COOKIE}={token}"})
    assert with_cookie.status_code == 401
    key = {"Authorization": f"Bearer {console.keys['agent']}"}
    assert console.client.get("/v1/suggestions", headers=key).status_code == 200
    # Nor can it sign in as a key, and the key itself is no session.
    assert console.client.post(LOGIN, data={"api_key": token}).status_code == 401
    console.use(console.keys["agent"])
    assert console.queue() == 303


def test_posts_need_the_csrf_token_of_the_session(console: Console) -> None:
    other = console.sign_in()
    console.client.cookies.clear()
    token = console.sign_in()
    console.use(token)
    path = "/console/suggestions/nope/accept"
    for data in ({}, {"csrf": "0" * 64}, {"csrf": csrf_token(console.keys["agent"])}):
        response = console.client.post(path, data=data)
        assert response.status_code == 403 and "CSRF" in response.text, data
    # Another live session's token is not this session's.
    assert console.client.post(path, data={"csrf": csrf_token(other)}).status_code == 403
    cross = console.client.post(
        path, data={"csrf": csrf_token(token)}, headers={"Origin": "https://evil.example"}
    )
    assert cross.status_code == 403 and "another origin" in cross.text
    # The right token: the request goes through (the suggestion does not exist).
    assert console.client.post(path, data={"csrf": csrf_token(token)}).status_code == 404
    page = console.client.get("/console/queue")
    assert csrf_token(token) in page.text
    # Sign-out needs it too: without it the session stays.
    assert console.client.post("/console/logout").status_code == 403
    assert console.queue() == 200


# --- migration 0008 ---------------------------------------------------------------------------


def test_migration_0008_adds_console_sessions(empty_database: str) -> None:
    url = empty_database
    upgrade(url, "0007")
    engine = make_engine(url)
    try:
        assert "console_sessions" not in sa.inspect(engine).get_table_names()
        upgrade(url)
        inspector = sa.inspect(engine)
        columns = {c["name"]: c for c in inspector.get_columns("console_sessions")}
        assert set(columns) == {
            "id",
            "token_hash",
            "api_key_id",
            "created_at",
            "last_seen_at",
            "expires_at",
            "revoked_at",
        }
        assert columns["revoked_at"]["nullable"] and not columns["expires_at"]["nullable"]
        [fk] = inspector.get_foreign_keys("console_sessions")
        assert fk["referred_table"] == "api_keys" and fk["options"].get("ondelete") == "CASCADE"
        # Down and up again: the table goes (everyone is signed out), the keys stay.
        command.downgrade(alembic_config(url), "0007")
        assert "console_sessions" not in sa.inspect(engine).get_table_names()
        assert "api_keys" in sa.inspect(engine).get_table_names()
        upgrade(url)
        assert "console_sessions" in sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()
