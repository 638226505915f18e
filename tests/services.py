"""Real PostgreSQL and Redis for tests: started when stopped, skipped or failed when absent."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time

import pytest

PG_HOST, PG_PORT = "127.0.0.1", 5432
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
PG_ADMIN_URL = os.environ.get("THREADLINE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("THREADLINE_TEST_REDIS", "redis://127.0.0.1:6379")


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _wait(host: str, port: int, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _port_open(host, port):
            return True
        time.sleep(0.3)
    return False


def _start_postgres() -> None:
    if shutil.which("pg_ctlcluster") and os.path.isdir("/etc/postgresql"):
        for version in os.listdir("/etc/postgresql"):
            subprocess.run(
                ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
                check=False,
                capture_output=True,
            )


def _start_redis() -> None:
    if shutil.which("redis-server"):
        subprocess.run(
            [
                "redis-server",
                "--daemonize",
                "yes",
                "--bind",
                "127.0.0.1",
                "--port",
                str(REDIS_PORT),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            check=False,
            capture_output=True,
        )


def _require(name: str, host: str, port: int, start: object) -> None:
    if _port_open(host, port):
        return
    start()  # type: ignore[operator]
    if _wait(host, port):
        return
    message = f"{name} is not reachable on {host}:{port} and could not be started"
    if os.environ.get("THREADLINE_REQUIRE_SERVICES") == "1":
        pytest.fail(message)
    pytest.skip(message)


def require_postgres() -> None:
    _require("PostgreSQL", PG_HOST, PG_PORT, _start_postgres)


def require_redis() -> None:
    _require("Redis", REDIS_HOST, REDIS_PORT, _start_redis)
