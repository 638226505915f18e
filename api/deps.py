"""Request dependencies: the container, the unit of work (the only commit), auth."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from adapters.container import Container
from core.auth.cache import KeyCache
from core.auth.models import ApiKey
from core.auth.service import Role, authenticate, authorize, hash_key
from core.errors import DomainError

log = logging.getLogger(__name__)


class UnsupportedMediaType(DomainError):
    code = "unsupported_media_type"
    status = 415


# The dependencies that do no I/O are `async def`: FastAPI runs a plain `def` dependency in the
# thread pool, and each such hop costs more than the dependency itself.
async def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


class UnitOfWork:
    """One request's session. `commit()` commits, then sends queued jobs (after commit)."""

    def __init__(self, container: Container, write: bool = True) -> None:
        self.container = container
        factory = container.session_factory if write else container.read_session_factory
        self.session: Session = factory()
        self._after_commit: list[Callable[[], None]] = []

    def after_commit(self, fn: Callable[[], None]) -> None:
        self._after_commit.append(fn)

    def commit(self) -> None:
        self.session.commit()
        pending, self._after_commit = self._after_commit, []
        for fn in pending:
            try:
                fn()
            except Exception:
                # The data is committed; the sweeper re-queues what could not be sent.
                log.exception("after-commit job failed; the sweeper will pick the work up")

    def close(self) -> None:
        self.session.rollback()
        self.session.close()


def get_uow(request: Request, container: ContainerDep) -> Iterator[UnitOfWork]:
    uow = UnitOfWork(container, write=request.method not in ("GET", "HEAD", "OPTIONS"))
    try:
        yield uow
    finally:
        uow.close()


UowDep = Annotated[UnitOfWork, Depends(get_uow)]


def _verify(container: Container, token: str | None) -> ApiKey:
    # Its own read session: checking a key never holds the write lock of the request.
    with container.session(write=False) as session:
        return authenticate(session, token)


async def current_key(request: Request, container: ContainerDep) -> ApiKey:
    """The request's key: from the app's short-lived cache of verified keys, else the DB."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        token = ""
    token = token.strip()
    cache: KeyCache = request.app.state.key_cache
    if token:
        cached = cache.get(hash_key(token))
        if cached is not None:
            return cached
    key = await run_in_threadpool(_verify, container, token or None)
    cache.put(key)
    return key


KeyDep = Annotated[ApiKey, Depends(current_key)]


def require(*roles: Role) -> Callable[[ApiKey], Awaitable[ApiKey]]:
    """A dependency that lets through admin and the given roles."""
    allowed = frozenset(roles)

    async def check(key: KeyDep) -> ApiKey:
        authorize(key, allowed)
        return key

    return check


async def json_body(request: Request) -> None:
    """415 unless the request says its body is JSON."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json" and not ctype.endswith("+json"):
        raise UnsupportedMediaType(
            f"send the body as JSON with 'Content-Type: application/json' (got {ctype or 'none'!r})"
        )


JsonBody = Depends(json_body)
