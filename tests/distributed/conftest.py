"""Fixtures of the distributed engine for real: Chroma server, Redis, PostgreSQL, workers.

Session-wide: one `chroma run` subprocess and one Redis database number owned by this pytest
session (so parallel sessions never share a Celery queue). Per test: a fresh PostgreSQL
database, an emptied Redis database and Chroma server, and `threadline worker` subprocesses
started on demand, whose logs are attached to the report of a failing test.
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from adapters.container import Container
from tests.distributed.support import (
    CHROMA,
    REDIS_OWNER_KEY,
    THREADLINE,
    ChromaServer,
    RedisDb,
    Stack,
    StartWorker,
    Worker,
    free_port,
    make_api,
    stop_group,
    tail,
)
from tests.helpers import Api, make_database
from tests.services import REDIS_HOST, REDIS_PORT, require_postgres, require_redis

_LOGS_KEY = pytest.StashKey[list[tuple[str, Path]]]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    """Attach the logs of the test's processes to its report when it fails."""
    outcome: Any = yield
    report = outcome.get_result()
    if report.failed:
        for title, path in item.stash.get(_LOGS_KEY, []):
            report.sections.append((title, tail(path)))


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaServer]:
    """`chroma run` on a free port for the whole session (telemetry off)."""
    require_postgres()  # fail or skip before starting anything
    require_redis()
    base = tmp_path_factory.mktemp("chroma-server")
    port = free_port()
    log = base / "chroma.log"
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                str(CHROMA),
                "run",
                "--path",
                str(base / "data"),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"chroma server exited with {proc.returncode}:\n{tail(log)}")
            try:
                with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"chroma server did not answer its heartbeat:\n{tail(log)}")
            time.sleep(0.2)
        yield ChromaServer(url=url, host="127.0.0.1", port=port, log=log)
    finally:
        stop_group(proc)


@pytest.fixture(scope="session")
def redis_db() -> Iterator[RedisDb]:
    """A Redis database number (15 down to 1) that no other pytest session holds."""
    require_redis()
    token = f"{os.getpid()}-{uuid.uuid4().hex}"
    for number in range(15, 0, -1):
        with redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=number) as r:
            if r.set(REDIS_OWNER_KEY, token, nx=True, ex=3600):
                break
    else:
        pytest.fail("every Redis database 1..15 is held by another test session")
    db = RedisDb(number, token)
    db.reset()
    yield db
    with db.client() as r:
        if r.get(REDIS_OWNER_KEY) == token.encode():
            r.flushdb()


@pytest.fixture
def stack(
    tmp_path: Path,
    chroma_server: ChromaServer,
    redis_db: RedisDb,
) -> Iterator[Stack]:
    """A fresh PostgreSQL database, an empty Redis database, an empty Chroma server."""
    require_postgres()
    require_redis()
    url, drop = make_database("postgres", tmp_path)
    redis_db.reset()
    client = chroma_server.client()
    for coll in client.list_collections():
        client.delete_collection(getattr(coll, "name", coll))
    engine = create_engine(url, poolclass=NullPool)
    try:
        yield Stack(url, redis_db, chroma_server, tmp_path, engine)
    finally:
        engine.dispose()
        drop()


@pytest.fixture
def start_worker(stack: Stack, request: pytest.FixtureRequest) -> Iterator[StartWorker]:
    """Start `threadline worker` subprocesses (own process group each); stopped at teardown."""
    started: list[Worker] = []
    logs = request.node.stash.setdefault(_LOGS_KEY, [])

    def start(*args: str, wait_ready: bool = True) -> Worker:
        name = f"worker-{len(started) + 1}"
        data_dir = stack.tmp_path / name
        data_dir.mkdir(parents=True, exist_ok=True)
        log = stack.tmp_path / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [str(THREADLINE), "worker", *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=stack.worker_env(data_dir),
                cwd=data_dir,  # so that no stray .env file is read
                start_new_session=True,
            )
        worker = Worker(name, proc, log)
        started.append(worker)
        logs.append((f"{name} log", log))
        if wait_ready:
            worker.wait_ready()
        return worker

    yield start
    for worker in started:
        if not worker.stopped:
            worker.stop()


@pytest.fixture
def celery_api(stack: Stack) -> Iterator[Api]:
    """The HTTP API in this process (queue=celery), sending jobs through the test's Redis."""
    with make_api(Container(stack.settings())) as api:
        yield api
