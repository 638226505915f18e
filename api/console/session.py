"""The console's sign-in: an API key in an HTTP-only, SameSite=Strict cookie, plus CSRF checks.

The cookie holds the agent's API key itself (no server-side session table): it is
`HttpOnly` (page scripts never see it), `SameSite=Strict` (another site's form or fetch
never carries it) and `Secure` whenever the browser accepts that (HTTPS, or plain HTTP to a
loopback address). Every POST also needs a CSRF token derived from the key (an HMAC that
another site cannot compute without reading the cookie) and, when the browser sends an
`Origin` header, an origin equal to ours.
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
from core.errors import Unauthorized

COOKIE = "tl_console"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
SESSION_SECONDS = 12 * 3600
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}

AGENT_ROLES = frozenset({Role.AGENT.value, Role.ADMIN.value})
MANAGER_ROLES = frozenset({Role.KNOWLEDGE_MANAGER.value, Role.ADMIN.value})
CONSOLE_ROLES = AGENT_ROLES | MANAGER_ROLES


class LoginRequired(Exception):
    """No valid console session: the browser is sent to the sign-in page."""


class CsrfFailed(Exception):
    """A POST without the session's CSRF token, or from another origin."""


def csrf_token(api_key: str) -> str:
    """The session's CSRF token: an HMAC of a fixed label keyed by the API key."""
    return hmac.new(api_key.encode("utf-8"), b"threadline-console-csrf", hashlib.sha256).hexdigest()


def cookie_is_secure(request: Request) -> bool:
    """Browsers store a `Secure` cookie over HTTPS and over plain HTTP to loopback only.

    Behind a TLS-terminating proxy the scheme is the proxy's `X-Forwarded-Proto`: uvicorn
    (`threadline run/api`) trusts it from the addresses of THREADLINE_FORWARDED_ALLOW_IPS.
    """
    return request.url.scheme == "https" or (request.url.hostname or "") in LOOPBACK


def set_session(request: Request, response: Response, api_key: str) -> None:
    """Keep the key in the session cookie."""
    response.set_cookie(
        COOKIE,
        api_key,
        max_age=SESSION_SECONDS,
        path="/console",
        httponly=True,
        samesite="strict",
        secure=cookie_is_secure(request),
    )


def clear_session(request: Request, response: Response) -> None:
    """Sign out: the browser drops the cookie."""
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


def session_token(request: Request) -> str:
    """The API key of the signed-in browser, or LoginRequired."""
    token = (request.cookies.get(COOKIE) or "").strip()
    if not token:
        raise LoginRequired()
    return token


async def console_key(request: Request) -> ApiKey:
    """The signed-in key; LoginRequired when there is none or it was revoked."""
    token = session_token(request)
    try:
        key = await key_for_token(request, token)
    except Unauthorized as exc:
        raise LoginRequired() from exc
    if key.role not in CONSOLE_ROLES:
        raise LoginRequired()
    return key


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
