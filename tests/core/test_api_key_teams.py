"""API keys with teams: migration 0006 on SQLite and PostgreSQL, validation, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.orm import Session

from core.auth.models import ApiKey
from core.auth.service import authenticate, create_key, teams_of
from core.db import make_engine
from core.errors import InvalidInput
from core.migrate import alembic_config, upgrade
from core.routing.config import load_routing_config

BIN = Path(sys.executable).parent / "threadline"
NOW = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)


def test_migration_0006_gives_existing_keys_no_teams(empty_database: str) -> None:
    url = empty_database
    upgrade(url, "0005")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO api_keys (id, name, role, prefix, key_hash, created_at) "
                    "VALUES ('k1', 'old agent', 'agent', 'tl_old', :hash, :at)"
                ),
                {"hash": "a" * 64, "at": NOW},
            )
        upgrade(url)
        with engine.connect() as conn:
            assert "teams" in {c["name"] for c in sa.inspect(conn).get_columns("api_keys")}
        with Session(engine) as session:
            old = session.get(ApiKey, "k1")
            assert old is not None and old.teams == [] and teams_of(old) == ()
            key, token = create_key(
                session, "agent", "Bo", NOW, teams=["payments_billing", "account_security"]
            )
            session.commit()
            assert authenticate(session, token).teams == ["payments_billing", "account_security"]
        # Down and up again: the column goes and comes back; the keys stay.
        command.downgrade(alembic_config(url), "0005")
        with engine.connect() as conn:
            assert "teams" not in {c["name"] for c in sa.inspect(conn).get_columns("api_keys")}
            assert conn.scalar(sa.text("SELECT count(*) FROM api_keys")) == 2
        upgrade(url)
        with Session(engine) as session:
            assert session.get(ApiKey, key.id).teams == []  # type: ignore[union-attr]
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite"])
def test_create_key_checks_teams_against_the_routing_config(empty_database: str) -> None:
    upgrade(empty_database)
    known = load_routing_config().team_names
    engine = make_engine(empty_database)
    try:
        with Session(engine) as session:
            with pytest.raises(InvalidInput) as unknown:
                create_key(session, "agent", "Bo", NOW, teams=["billing"], known_teams=known)
            assert unknown.value.code == "unknown_team" and unknown.value.field == "teams"
            assert (
                "'billing'" in unknown.value.message and "payments_billing" in unknown.value.message
            )
            with pytest.raises(InvalidInput, match="cannot be empty"):
                create_key(session, "agent", "Bo", NOW, teams=[" "], known_teams=known)
            with pytest.raises(InvalidInput, match="own teams"):
                create_key(session, "agent", "Bo", NOW, teams=["mine"], known_teams=known)
            key, _ = create_key(
                session,
                "agent",
                "Bo",
                NOW,
                teams=[" tech_support", "tech_support", "general"],
                known_teams=known,
            )
            assert key.teams == ["tech_support", "general"]
            assert create_key(session, "agent", "Cy", NOW)[0].teams == []
    finally:
        engine.dispose()


def _cli(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("THREADLINE_")}
    env["THREADLINE_DATA_DIR"] = str(data)
    return subprocess.run(
        [str(BIN), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_cli_keys_create_with_teams(tmp_path: Path) -> None:
    data = tmp_path / "var"
    assert _cli(data, "migrate").returncode == 0
    made = _cli(
        data,
        *("keys", "create", "--role", "agent", "--name", "Bo", "--json"),
        *("--team", "payments_billing", "--team", "account_security"),
    )
    assert made.returncode == 0, made.stdout + made.stderr
    created = json.loads(made.stdout)
    assert created["teams"] == ["payments_billing", "account_security"]
    bad = _cli(data, "keys", "create", "--role", "agent", "--team", "billing", "--team", "security")
    assert bad.returncode == 2, bad.stdout + bad.stderr
    out = " ".join((bad.stdout + bad.stderr).split())
    assert "unknown team 'billing', 'security'" in out and "payments_billing" in out
    assert "tl_" not in bad.stdout, "no key was made"
    plain = _cli(data, "keys", "create", "--role", "agent", "--json")
    assert plain.returncode == 0 and json.loads(plain.stdout)["teams"] == []
