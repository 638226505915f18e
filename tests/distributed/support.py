"""Helpers of the distributed tests: processes, the test's stack, polling.

Imported as `tests.distributed.support` by conftest.py and the test modules alike.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import chromadb
import pytest
import redis
from chromadb.config import Settings as ChromaSettings
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from adapters.container import Container, set_container
from api.app import create_app
from core.auth.service import create_key
from core.config import Settings
from tests.helpers import Api
from tests.services import REDIS_HOST, REDIS_PORT

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
THREADLINE = VENV_BIN / "threadline"
CHROMA = VENV_BIN / "chroma"

# Short lease and sweep so that a crash is recovered within seconds.
LEASE_SECONDS = 8
BATCH_SIZE = 4  # small, so that a kill lands mid-backlog
SWEEP_INTERVAL_SECONDS = 1
ENQUEUE_GRACE_SECONDS = 3

REDIS_OWNER_KEY = "threadline:test-session-owner"


def free_port() -> int:
    """A TCP port nothing listens on (at the moment of asking)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop_group(proc: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left of it."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    try:  # the leader may be gone while a forked child (celery beat) lives on
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(10)


def tail(path: Path, chars: int = 20000) -> str:
    try:
        data = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return data if len(data) <= chars else "...\n" + data[-chars:]


def wait_until(
    predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.1
) -> float:
    """Poll `predicate` until true; returns the seconds it took, fails the test on timeout."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
    return time.monotonic() - started


@dataclass
class ChromaServer:
    url: str
    host: str
    port: int
    log: Path

    def client(self) -> Any:
        return chromadb.HttpClient(
            host=self.host, port=self.port, settings=ChromaSettings(anonymized_telemetry=False)
        )


@dataclass
class RedisDb:
    """A Redis database number owned by this pytest session."""

    number: int
    token: str

    @property
    def url(self) -> str:
        return f"redis://{REDIS_HOST}:{REDIS_PORT}/{self.number}"

    def client(self) -> redis.Redis:
        return redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=self.number)

    def reset(self) -> None:
        """Empty the database but keep it marked as ours (atomically: MULTI/EXEC)."""
        with self.client() as r:
            pipe = r.pipeline(transaction=True)
            pipe.flushdb()
            pipe.set(REDIS_OWNER_KEY, self.token, ex=3600)
            pipe.execute()


@dataclass
class Stack:
    """URLs of one test's services, and direct looks at the database and the vector store."""

    database_url: str
    redis: RedisDb
    chroma: ChromaServer
    tmp_path: Path
    engine: Engine

    @property
    def redis_url(self) -> str:
        return self.redis.url

    @property
    def chroma_url(self) -> str:
        return self.chroma.url

    def settings(self, **overrides: Any) -> Settings:
        """Settings of the API side (this process)."""
        values: dict[str, Any] = {
            "data_dir": self.tmp_path / "api",
            "database_url": self.database_url,
            "queue": "celery",
            "redis_url": self.redis_url,
            "chroma_url": self.chroma_url,
            "torch_threads": 1,
            "lease_seconds": LEASE_SECONDS,
            "sweep_interval_seconds": SWEEP_INTERVAL_SECONDS,
            "enqueue_grace_seconds": ENQUEUE_GRACE_SECONDS,
            "wait_timeout_seconds": 90,
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    def worker_env(self, data_dir: Path) -> dict[str, str]:
        """Environment of a `threadline worker` subprocess."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("THREADLINE_")}
        env.update(
            THREADLINE_QUEUE="celery",
            THREADLINE_DATABASE_URL=self.database_url,
            THREADLINE_REDIS_URL=self.redis_url,
            THREADLINE_CHROMA_URL=self.chroma_url,
            THREADLINE_DATA_DIR=str(data_dir),
            THREADLINE_LEASE_SECONDS=str(LEASE_SECONDS),
            THREADLINE_SWEEP_INTERVAL_SECONDS=str(SWEEP_INTERVAL_SECONDS),
            THREADLINE_ENQUEUE_GRACE_SECONDS=str(ENQUEUE_GRACE_SECONDS),
            THREADLINE_TORCH_THREADS="1",
            THREADLINE_PROCESS_BATCH_SIZE=str(BATCH_SIZE),
            THREADLINE_LOG_LEVEL="INFO",
            ANONYMIZED_TELEMETRY="False",
            PYTHONUNBUFFERED="1",
        )
        return env

    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(text(sql), params))

    def statuses(self) -> dict[str, str]:
        """message id → status, straight from PostgreSQL."""
        return {row.id: row.status for row in self.rows("SELECT id, status FROM messages")}

    def history(self) -> dict[str, dict[str, Any]]:
        """The Chroma server's `history` collection: id → metadata (ids checked unique)."""
        client = self.chroma.client()
        names = [getattr(c, "name", c) for c in client.list_collections()]
        if "history" not in names:
            return {}
        got = client.get_collection("history").get(include=["metadatas"])
        ids = list(got["ids"])
        assert len(ids) == len(set(ids)), f"duplicate ids in the history collection: {ids}"
        return dict(zip(ids, got["metadatas"], strict=True))


@dataclass
class Worker:
    """A `threadline worker` subprocess, leader of its own process group."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    stopped: bool = False

    def log_text(self) -> str:
        return tail(self.log, 1_000_000)

    def wait_ready(self, timeout: float = 90) -> None:
        """Until Celery logs `ready.` (the embedding model still loads on the first task)."""
        deadline = time.monotonic() + timeout
        while " ready." not in self.log_text():
            if self.proc.poll() is not None:
                pytest.fail(f"{self.name} exited with {self.proc.returncode}:\n{tail(self.log)}")
            if time.monotonic() > deadline:
                pytest.fail(f"{self.name} did not get ready in {timeout:.0f} s:\n{tail(self.log)}")
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL the whole process group: the worker and whatever it forked (beat)."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self.stopped = True

    def stop(self) -> None:
        stop_group(self.proc)
        self.stopped = True


StartWorker = Callable[..., Worker]


@contextmanager
def make_api(container: Container, raise_server_exceptions: bool = True) -> Iterator[Api]:
    """Keys for every role and a TestClient over `container`; closes it afterwards."""
    keys = {}
    with container.session() as session:
        for role in ("admin", "integration", "agent", "knowledge_manager"):
            _, keys[role] = create_key(session, role, f"test {role}", container.clock.now())
        session.commit()
    set_container(container)
    try:
        app = create_app(container)
        with TestClient(app, raise_server_exceptions=raise_server_exceptions) as client:
            yield Api(client, keys)
    finally:
        container.close()
        set_container(None)
