"""The console's sign-in: a server-side session in an HTTP-only, SameSite=Strict cookie, plus CSRF.

Signing in with an API key creates a row of `console_sessions` (core.auth.sessions); the
cookie holds only that session's random token, never the API key, and `/v1` does not accept
it. Every console request looks the session up: signed out, past its absolute lifetime
(12 h), idle too long (2 h) or its key revoked, and the browser is sent to the sign-in page.
The cookie is `HttpOnly` (page scripts never see it), `SameSite=Strict` (another site's form
or fetch never carries it) and `Secure` whenever the browser accepts that (HTTPS, or plain
HTTP to a loopback address). Every POST also needs a CSRF token derived from the session
token (an HMAC that another site cannot compute without reading the cookie) and, when the
browser sends an `Origin` header, an origin equal to ours.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

from fastapi import Request, Response
from fastapi.concurrency import run_in_threadpool

from adapters.container import Container
from core.auth.cache import KeyCache
from core.auth.models import ApiKey
from core.auth.service import Role, authenticate, hash_key
from core.auth.sessions import (
    SESSION_LIFETIME,
    end_session,
    find_session,
    needs_touch,
    start_session,
    touch_session,
)
from core.errors import Unauthorized

COOKIE = "tl_console"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
SESSION_SECONDS = int(SESSION_LIFETIME.total_seconds())
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}

AGENT_ROLES = frozenset({Role.AGENT.value, Role.ADMIN.value})
MANAGER_ROLES = frozenset({Role.KNOWLEDGE_MANAGER.value, Role.ADMIN.value})
CONSOLE_ROLES = AGENT_ROLES | MANAGER_ROLES
BACKGROUND_PATHS = frozenset({"/console/queue/section"})
"""Requests the page makes by itself (the queue's live refresh): not activity, so an open tab
left alone still reaches the idle timeout."""


class LoginRequired(Exception):
    """No valid console session: the browser is sent to the sign-in page."""


class CsrfFailed(Exception):
    """A POST without the session's CSRF token, or from another origin."""


def csrf_token(session_token: str) -> str:
    """The session's CSRF token: an HMAC of a fixed label keyed by the session token."""
    return hmac.new(
        session_token.encode("utf-8"), b"threadline-console-csrf", hashlib.sha256
    ).hexdigest()


def cookie_is_secure(request: Request) -> bool:
    """Browsers store a `Secure` cookie over HTTPS and over plain HTTP to loopback only.

    Behind a TLS-terminating proxy the scheme is the proxy's `X-Forwarded-Proto`: uvicorn
    (`threadline run/api`) trusts it from the addresses of THREADLINE_FORWARDED_ALLOW_IPS.
    """
    return request.url.scheme == "https" or (request.url.hostname or "") in LOOPBACK


def set_session(request: Request, response: Response, session_token: str) -> None:
    """Keep the session's token in the cookie."""
    response.set_cookie(
        COOKIE,
        session_token,
        max_age=SESSION_SECONDS,
        path="/console",
        httponly=True,
        samesite="strict",
        secure=cookie_is_secure(request),
    )


def clear_session(request: Request, response: Response) -> None:
    """The browser drops the cookie (the session itself is revoked by `sign_out`)."""
    response.delete_cookie(
        COOKIE,
        path="/console",
        httponly=True,
        samesite="strict",
        secure=cookie_is_secure(request),
    )


def _verify(container: Container, token: str) -> ApiKey:
    with container.session(write=False) as session:
        return authenticate(session, token)


async def key_for_token(request: Request, token: str) -> ApiKey:
    """The key behind a token (through the app's short-lived key cache); Unauthorized if none."""
    cache: KeyCache = request.app.state.key_cache
    cached = cache.get(hash_key(token))
    if cached is not None:
        return cached
    key = await run_in_threadpool(_verify, request.app.state.container, token)
    cache.put(key)
    return key


def _start(container: Container, key_id: str, previous: str) -> str:
    now = container.clock.now()
    with container.session() as session:
        key = session.get(ApiKey, key_id)  # again: the key cache may be a few seconds old
        if key is None or key.revoked_at is not None:
            raise Unauthorized("unknown or revoked API key")
        if previous:  # signing in again replaces the browser's previous session
            end_session(session, previous, now)
        _, token = start_session(session, key, now)
        session.commit()
    return token


async def sign_in(request: Request, key: ApiKey) -> str:
    """A new server-side session of `key` (a verified key with a console role): its token."""
    previous = (request.cookies.get(COOKIE) or "").strip()
    container: Container = request.app.state.container
    return await run_in_threadpool(_start, container, key.id, previous)


def _end(container: Container, token: str) -> None:
    with container.session() as session:
        if end_session(session, token, container.clock.now()):
            session.commit()


async def sign_out(request: Request) -> None:
    """Revoke the browser's session server-side: a copy of the cookie stops working too."""
    token = (request.cookies.get(COOKIE) or "").strip()
    if token:
        await run_in_threadpool(_end, request.app.state.container, token)


def session_token(request: Request) -> str:
    """The session token of the browser's cookie (not checked here), or LoginRequired."""
    token = (request.cookies.get(COOKIE) or "").strip()
    if not token:
        raise LoginRequired()
    return token


def _resume(container: Container, token: str, active: bool) -> ApiKey:
    now = container.clock.now()
    # Its own read session: checking a session never holds the write lock of the request.
    with container.session(write=False) as session:
        row, key = find_session(session, token, now, CONSOLE_ROLES)
    if active and needs_touch(row, now):  # at most one write a minute per session
        with container.session() as session:
            touch_session(session, row.id, now)
            session.commit()
    return key


async def console_key(request: Request) -> ApiKey:
    """The key of the browser's live session; LoginRequired when there is none (no cookie,
    unknown, signed out, expired or idle session, key revoked or without a console role)."""
    token = session_token(request)
    active = request.url.path not in BACKGROUND_PATHS
    try:
        return await run_in_threadpool(_resume, request.app.state.container, token, active)
    except Unauthorized as exc:
        raise LoginRequired() from exc


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None:  # not a browser's cross-site request: those always carry Origin
        return True
    parts = urlsplit(origin)
    host = request.headers.get("host", "")
    return bool(parts.scheme) and parts.netloc == host


async def check_csrf(request: Request) -> None:
    """Raise CsrfFailed unless the POST carries the session's token and comes from our origin."""
    token = session_token(request)
    if not _same_origin(request):
        raise CsrfFailed("the request came from another origin")
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent, csrf_token(token)):
        raise CsrfFailed("missing or wrong CSRF token; reload the page and try again")
