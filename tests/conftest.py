"""Shared fixtures: real SQLite/PostgreSQL, real Chroma, the real embedding model."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from adapters.container import Container, set_container
from api.app import create_app
from core.auth.service import create_key
from core.config import Settings
from core.migrate import upgrade
from tests.services import PG_ADMIN_URL, require_postgres

_PG_TEMPLATE = f"tl_template_{uuid.uuid4().hex[:8]}"
_template_ready = False


def _pg_admin() -> psycopg.Connection[Any]:
    return psycopg.connect(PG_ADMIN_URL, autocommit=True)


def _pg_url(name: str) -> str:
    return (
        PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://").rsplit("/", 1)[0]
        + "/"
        + name
    )


@pytest.fixture(scope="session", autouse=True)
def _drop_pg_template() -> Iterator[None]:
    yield
    if _template_ready:
        with _pg_admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{_PG_TEMPLATE}"')


def make_database(backend: str, tmp_path: Path) -> tuple[str, Callable[[], None]]:
    """A fresh, migrated database; returns its URL and a cleanup function."""
    global _template_ready
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'threadline.db'}"
        upgrade(url)
        return url, lambda: None
    require_postgres()
    if not _template_ready:
        with _pg_admin() as conn:
            conn.execute(f'CREATE DATABASE "{_PG_TEMPLATE}"')
        upgrade(_pg_url(_PG_TEMPLATE))
        _template_ready = True
    name = f"tl_test_{uuid.uuid4().hex[:12]}"
    with _pg_admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{_PG_TEMPLATE}"')

    def drop() -> None:
        with _pg_admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return _pg_url(name), drop


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"data_dir": tmp_path / "var", "sweep_interval_seconds": 0.5}
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return build


@pytest.fixture
def container(
    backend: str, tmp_path: Path, make_settings: Callable[..., Settings]
) -> Iterator[Container]:
    url, drop = make_database(backend, tmp_path)
    c = Container(make_settings(database_url=url))
    set_container(c)
    yield c
    c.close()
    set_container(None)
    drop()


class Api:
    """A TestClient with keys for each role."""

    def __init__(self, client: TestClient, keys: dict[str, str]) -> None:
        self.client = client
        self.keys = keys

    def headers(self, role: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}

    def get(self, path: str, role: str = "admin", **kw: Any) -> Any:
        return self.client.get(path, headers=self.headers(role), **kw)

    def post(self, path: str, role: str = "admin", **kw: Any) -> Any:
        headers = {**self.headers(role), **kw.pop("headers", {})}
        return self.client.post(path, headers=headers, **kw)

    def message(self, role: str = "integration", **body: Any) -> Any:
        params = {"wait": "true"} if body.pop("wait", False) else None
        return self.post("/v1/messages", role=role, json=body, params=params)


@pytest.fixture
def api(container: Container) -> Iterator[Api]:
    keys = {}
    with container.session() as session:
        for role in ("admin", "integration", "agent", "knowledge_manager"):
            _, keys[role] = create_key(session, role, f"test {role}", container.clock.now())
        session.commit()
    with TestClient(create_app(container)) as client:
        yield Api(client, keys)
