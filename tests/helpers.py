"""Test helpers imported by test modules (conftest.py is loaded by pytest, never imported)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from core.migrate import upgrade
from tests.services import PG_ADMIN_URL, require_postgres

_PG_TEMPLATE = f"tl_template_{uuid.uuid4().hex[:8]}"
_template_ready = False


def _pg_admin() -> psycopg.Connection[Any]:
    return psycopg.connect(PG_ADMIN_URL, autocommit=True)


def pg_url(name: str) -> str:
    base = PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://").rsplit("/", 1)[0]
    return f"{base}/{name}"


def make_database(backend: str, tmp_path: Path) -> tuple[str, Callable[[], None]]:
    """A fresh, migrated database; returns its URL and a cleanup function.

    PostgreSQL databases are copies of a template migrated once per test session.
    """
    global _template_ready
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'threadline.db'}"
        upgrade(url)
        return url, lambda: None
    require_postgres()
    if not _template_ready:
        with _pg_admin() as conn:
            conn.execute(f'CREATE DATABASE "{_PG_TEMPLATE}"')
        upgrade(pg_url(_PG_TEMPLATE))
        _template_ready = True
    name = f"tl_test_{uuid.uuid4().hex[:12]}"
    with _pg_admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{_PG_TEMPLATE}"')

    def drop() -> None:
        with _pg_admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return pg_url(name), drop


def drop_template() -> None:
    """Drop this session's template database (end of the test session)."""
    if _template_ready:
        with _pg_admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{_PG_TEMPLATE}" WITH (FORCE)')


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
