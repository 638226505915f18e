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
from tests.helpers import Api, drop_template, make_database, pg_url
from tests.services import PG_ADMIN_URL, require_postgres


@pytest.fixture(scope="session", autouse=True)
def _drop_pg_template() -> Iterator[None]:
    yield
    drop_template()


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


@pytest.fixture
def api(container: Container) -> Iterator[Api]:
    keys = {}
    with container.session() as session:
        for role in ("admin", "integration", "agent", "knowledge_manager"):
            _, keys[role] = create_key(session, role, f"test {role}", container.clock.now())
        session.commit()
    with TestClient(create_app(container)) as client:
        yield Api(client, keys)


@pytest.fixture
def empty_database(backend: str, tmp_path: Path) -> Iterator[str]:
    """URL of a database with no tables yet, on `backend` (migration tests run the migrations)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    require_postgres()
    name = f"tl_empty_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield pg_url(name)
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
