"""Ingest throughput: end to end on both engines, and the pipeline against the raw model.

    .venv/bin/python bench/ingest.py [--messages N] [--engines embedded,celery]
                                     [--write docs/benchmarks.md]

Everything is measured in one run on this machine, so the ratios between the figures are the
comparable numbers (absolute rates move with the machine and whatever else runs on it):

1. embedded default: `threadline api` subprocess (SQLite, local Chroma, in-process workers);
2. distributed: `threadline api` + one `threadline worker` (Celery, solo pool) subprocesses,
   a fresh PostgreSQL database, a Redis database, a `chroma run` server;
3. in process: raw `model.encode` against `workers.tasks.run_batch` on the same texts.

Both end-to-end runs POST the demo messages (demo/data/messages.json) over HTTP with a few
concurrent connections after one warm-up message (`?wait=true`), then poll the database until
every message is processed. Subprocesses, temporary folders, the PostgreSQL database and the
Redis database are cleaned up on every exit path.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as `python bench/ingest.py`: the project must import
    sys.path.insert(0, str(ROOT))

from bench.common import code_version, machine, write_section  # noqa: E402

VENV_BIN = Path(sys.executable).parent
THREADLINE = VENV_BIN / "threadline"
CHROMA = VENV_BIN / "chroma"
MESSAGES_FILE = ROOT / "demo" / "data" / "messages.json"
START_MARK = "<!-- bench:ingest:start -->"
END_MARK = "<!-- bench:ingest:end -->"
# The key tests/distributed uses to own a Redis database number; honoured so that a
# concurrent pytest session never picks the database this benchmark uses.
REDIS_OWNER_KEY = "threadline:test-session-owner"
STEPS = ("clean", "embed", "classify", "index")


class BenchError(RuntimeError):
    """A stage of the benchmark could not complete."""


class WarmupFailed(BenchError):
    """The server came up but could not process the warm-up message."""


# --- small helpers --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: Sequence[float], q: int) -> float:
    """The q-th percentile (inclusive method); the value itself for one sample."""
    if not values:
        return float("nan")
    if len(values) == 1:
        return float(values[0])
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def parse_ts(value: Any) -> datetime:
    """A timestamp read from SQLite (text) or PostgreSQL (datetime), as aware UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment of a Threadline subprocess: no inherited THREADLINE_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("THREADLINE_")}
    # The venv's editable install may predate packages added to the tree since.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env.update(ANONYMIZED_TELEMETRY="False", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


class Proc:
    """A long-running subprocess, leader of its own process group, logging to a file."""

    def __init__(self, name: str, argv: Sequence[str], env: dict[str, str], cwd: Path) -> None:
        self.name = name
        self.log = cwd / f"{name}.log"
        with self.log.open("wb") as out:
            self.popen = subprocess.Popen(
                [str(a) for a in argv],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
                start_new_session=True,
            )

    def check(self) -> None:
        if self.popen.poll() is not None:
            raise BenchError(f"{self.name} exited with {self.popen.returncode}:\n{tail(self.log)}")

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM the process group, then SIGKILL whatever is left (celery beat children)."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(grace)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(10)


def run_cli(args: Sequence[str], env: dict[str, str], cwd: Path, timeout: float = 180) -> str:
    """Run one `threadline` command to completion; its stdout."""
    done = subprocess.run(
        [str(THREADLINE), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise BenchError(
            f"threadline {' '.join(args)} exited with {done.returncode}:\n"
            f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return done.stdout


def integration_key(env: dict[str, str], cwd: Path) -> str:
    out = run_cli(
        ["keys", "create", "--role", "integration", "--name", "bench", "--json"], env, cwd
    )
    for line in reversed(out.splitlines()):
        if line.startswith("{"):
            return str(json.loads(line)["key"])
    raise BenchError(f"no JSON in the output of `threadline keys create`:\n{out}")


def wait_http(url: str, procs: Sequence[Proc], timeout: float, what: str) -> float:
    """Poll `url` until it answers 200; returns the seconds it took."""
    import httpx

    started = time.perf_counter()
    while True:
        for proc in procs:
            proc.check()
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return time.perf_counter() - started
        if time.perf_counter() - started > timeout:
            logs = "\n".join(f"--- {p.name}\n{tail(p.log)}" for p in procs)
            raise BenchError(f"{what} did not answer {url} within {timeout:.0f} s\n{logs}")
        time.sleep(0.2)


def scrape(url: str, headers: dict[str, str] | None = None) -> dict[str, float]:
    """Pipeline figures from a Prometheus endpoint (step seconds and counts, requeues)."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    resp = httpx.get(url, headers=headers or {}, timeout=10)
    resp.raise_for_status()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(resp.text):
        for s in family.samples:
            if s.name in ("threadline_step_seconds_sum", "threadline_step_seconds_count"):
                out[f"{s.name.rsplit('_', 1)[1]}:{s.labels['step']}"] = s.value
            elif s.name in (
                "threadline_messages_processed_total",
                "threadline_messages_requeued_total",
            ):
                out[s.name] = out.get(s.name, 0.0) + s.value
    return out


def delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: v - before.get(k, 0.0) for k, v in after.items()}


# --- the messages ---------------------------------------------------------------------------


def load_bodies(n: int, run_id: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """N v1 bodies from the demo messages (cycled if N > 278) and one warm-up body.

    `customer` and `minutes_ago` are not part of the v1 body: `sent_at` is derived from
    `minutes_ago`; external ids get a per-run suffix so that no POST is a duplicate.
    """
    raw = json.loads(MESSAGES_FILE.read_text(encoding="utf-8"))
    now = datetime.now(UTC)
    bodies = []
    for i in range(n):
        src = raw[i % len(raw)]
        lap = i // len(raw)
        body = {k: v for k, v in src.items() if k not in ("customer", "minutes_ago")}
        body["sent_at"] = (now - timedelta(minutes=src["minutes_ago"])).isoformat()
        if body.get("external_id"):
            body["external_id"] = f"{body['external_id']}.bench-{run_id}-{lap}"
        bodies.append(body)
    warm = {
        "channel": "chat",
        "external_id": f"bench-warmup-{run_id}",
        "sender": {"handle": "bench-warmup", "name": "Bench Warmup"},
        "text": "Hello, is this thing on? Just checking my order status before the rush.",
    }
    return bodies, warm


# --- end to end -----------------------------------------------------------------------------


class MessageDb:
    """Read-only looks at the messages table (SQLite file or PostgreSQL)."""

    def __init__(self, url: str) -> None:
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool

        self.engine = create_engine(url, poolclass=NullPool)

    @classmethod
    def sqlite(cls, path: Path) -> MessageDb:
        return cls(f"sqlite:///file:{path}?mode=ro&uri=true")

    def rows(self, sql: str, **params: Any) -> list[Any]:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            return list(conn.execute(text(sql), params))

    def counts(self, exclude: str) -> dict[str, int]:
        rows = self.rows(
            "SELECT status, count(*) FROM messages WHERE id <> :x GROUP BY status", x=exclude
        )
        return {str(r[0]): int(r[1]) for r in rows}

    def timings(self, exclude: str) -> list[Any]:
        return self.rows(
            "SELECT status, attempts, received_at, processed_at, processing_ms"
            " FROM messages WHERE id <> :x",
            x=exclude,
        )

    def close(self) -> None:
        self.engine.dispose()


@dataclass
class EngineResult:
    engine: str
    n: int
    setup_s: float = 0.0
    warm_s: float = 0.0
    msgs_per_s: float = 0.0
    post_rate: float = 0.0
    post_p50_ms: float = 0.0
    post_p95_ms: float = 0.0
    drain_s: float = 0.0
    proc_p50_s: float = 0.0
    proc_p95_s: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)
    retried: int = 0
    post_errors: int = 0
    batches: float = 0.0
    requeued: float = 0.0
    step_s: dict[str, float] = field(default_factory=dict)
    start_failures: list[str] = field(default_factory=list)
    tracebacks: int = 0
    error: str | None = None


def drive(
    result: EngineResult,
    base_url: str,
    key: str,
    bodies: list[dict[str, Any]],
    warm: dict[str, Any],
    db: MessageDb,
    procs: Sequence[Proc],
    metrics: Callable[[], dict[str, float]],
    concurrency: int,
    timeout: float,
) -> None:
    """Warm up, POST every body, poll until processed; fills `result`."""
    import httpx

    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=concurrency + 2, max_keepalive_connections=concurrency)
    with httpx.Client(base_url=base_url, headers=headers, timeout=120, limits=limits) as client:
        started = time.perf_counter()
        resp = client.post("/v1/messages", params={"wait": "true"}, json=warm)
        if resp.status_code not in (200, 202):
            raise BenchError(f"warm-up POST answered {resp.status_code}: {resp.text}")
        warm_id = resp.json()["message_id"]
        while resp.json()["status"] not in ("processed", "failed"):  # waited past the limit
            for proc in procs:
                proc.check()
            if time.perf_counter() - started > 180:
                raise BenchError("the warm-up message was not processed within 180 s")
            time.sleep(0.25)
            resp = client.get(f"/v1/messages/{warm_id}")
        if resp.json()["status"] != "processed":
            error = (resp.json().get("message") or resp.json()).get("error")
            raise WarmupFailed(f"the warm-up message failed: {error}")
        result.warm_s = time.perf_counter() - started
        before = metrics()

        n = len(bodies)
        latencies = [0.0] * n
        codes = [0] * n

        def post(i: int) -> None:
            t = time.perf_counter()
            r = client.post("/v1/messages", json=bodies[i])
            latencies[i] = time.perf_counter() - t
            codes[i] = r.status_code

        wall0 = time.time()
        t0 = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(post, range(n)))
        t_posted = time.perf_counter()
        result.post_errors = sum(1 for c in codes if c != 202)
        if result.post_errors:
            bad = sorted({c for c in codes if c != 202})
            raise BenchError(f"{result.post_errors} POST(s) did not answer 202 (got {bad})")

        accepted = n - result.post_errors
        while True:
            counts = db.counts(warm_id)
            if counts.get("processed", 0) + counts.get("failed", 0) >= accepted:
                break
            for proc in procs:
                proc.check()
            if time.perf_counter() - t_posted > timeout:
                logs = "\n".join(f"--- {p.name}\n{tail(p.log, 15)}" for p in procs)
                raise BenchError(f"not processed within {timeout:.0f} s: {counts}\n{logs}")
            time.sleep(0.1)
        t_seen = time.perf_counter()
        result.statuses = counts
        d = delta(metrics(), before)

    rows = db.timings(warm_id)
    processed = [r for r in rows if r.status == "processed"]
    last = max(parse_ts(r.processed_at).timestamp() for r in processed) - wall0
    if not 0 < last <= t_seen - t0 + 0.5:  # clocks disagree: fall back to the polled time
        last = t_seen - t0
    result.msgs_per_s = len(processed) / last
    result.post_rate = n / (t_posted - t0)
    result.post_p50_ms = pct(latencies, 50) * 1000
    result.post_p95_ms = pct(latencies, 95) * 1000
    result.drain_s = max(0.0, last - (t_posted - t0))
    waits = [r.processing_ms / 1000 for r in processed if r.processing_ms is not None]
    result.proc_p50_s, result.proc_p95_s = pct(waits, 50), pct(waits, 95)
    result.retried = sum(1 for r in rows if (r.attempts or 0) > 1)
    result.batches = d.get("count:clean", 0.0)
    result.requeued = d.get("threadline_messages_requeued_total", 0.0)
    result.step_s = {s: d.get(f"sum:{s}", 0.0) for s in STEPS}


def run_embedded(
    tmp: Path, bodies: list[dict[str, Any]], warm: dict[str, Any], args: argparse.Namespace
) -> EngineResult:
    """`threadline api` on a fresh data folder; started again (fresh) if it comes up broken."""
    result = EngineResult("embedded", len(bodies))
    for attempt in range(1, 4):
        base = tmp / f"embedded-{attempt}"
        data = base / "data"
        base.mkdir(parents=True)
        env = subprocess_env(THREADLINE_DATA_DIR=str(data))
        started = time.perf_counter()
        run_cli(["migrate"], env, base)
        key = integration_key(env, base)
        port = free_port()
        api = Proc("embedded-api", [THREADLINE, "api", "--port", str(port)], env, base)
        db = MessageDb.sqlite(data / "threadline.db")
        try:
            url = f"http://127.0.0.1:{port}"
            wait_http(f"{url}/healthz", [api], 120, "threadline api")
            result.setup_s = time.perf_counter() - started
            auth = {"Authorization": f"Bearer {key}"}
            drive(
                result,
                url,
                key,
                bodies,
                warm,
                db,
                [api],
                lambda: scrape(f"{url}/metrics", auth),  # noqa: B023 - used in this iteration
                args.concurrency,
                args.timeout,
            )
            result.tracebacks = count_tracebacks([api])
            return result
        except WarmupFailed as exc:
            first = first_error(api.log)
            result.start_failures.append(f"{exc} (server log: {first})")
            print(f"[bench] embedded start {attempt} came up broken: {exc}", file=sys.stderr)
        finally:
            db.close()
            api.stop()
    raise BenchError(f"every embedded start came up broken: {result.start_failures}")


def count_tracebacks(procs: Sequence[Proc]) -> int:
    return sum(p.log.read_text(errors="replace").count("Traceback") for p in procs)


def first_error(log: Path) -> str:
    """The first exception line of a log (the line after a traceback's frames)."""
    lines = log.read_text(errors="replace").splitlines()
    for i, line in enumerate(lines):
        if line.startswith("Traceback"):
            for follow in lines[i + 1 :]:
                if follow and not follow.startswith(" "):
                    return follow.strip()[:200]
    return "no traceback"


@contextlib.contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this run; dropped afterwards."""
    import psycopg

    name = f"tl_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield (
            admin_url.replace("postgresql://", "postgresql+psycopg://").rsplit("/", 1)[0]
            + "/"
            + name
        )
    finally:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def redis_database(base_url: str, preferred: int) -> Iterator[str]:
    """A Redis database number no pytest session holds (`preferred` first); flushed."""
    import redis

    token = f"bench-{os.getpid()}-{uuid.uuid4().hex}"
    base_url = base_url.rstrip("/")
    for number in [preferred, *(n for n in range(15, 0, -1) if n != preferred)]:
        client = redis.Redis.from_url(f"{base_url}/{number}", socket_timeout=5)
        if client.set(REDIS_OWNER_KEY, token, nx=True, ex=3600):
            break
        client.close()
    else:
        raise BenchError("every Redis database 1..15 is held by a test session")
    try:
        pipe = client.pipeline(transaction=True)
        pipe.flushdb()
        pipe.set(REDIS_OWNER_KEY, token, ex=3600)
        pipe.execute()
        yield f"{base_url}/{number}"
    finally:
        if client.get(REDIS_OWNER_KEY) == token.encode():
            client.flushdb()
        client.close()


def run_celery(
    tmp: Path, bodies: list[dict[str, Any]], warm: dict[str, Any], args: argparse.Namespace
) -> EngineResult:
    result = EngineResult("celery", len(bodies))
    base = tmp / "celery"
    base.mkdir(parents=True)
    procs: list[Proc] = []
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        database_url = stack.enter_context(postgres_database(args.pg_url))
        redis_url = stack.enter_context(redis_database(args.redis_url, args.redis_db))
        stack.callback(lambda: [p.stop() for p in reversed(procs)])

        chroma_port = free_port()
        chroma = Proc(
            "chroma",
            [
                CHROMA,
                "run",
                "--path",
                base / "chroma-data",
                "--host",
                "127.0.0.1",
                "--port",
                str(chroma_port),
            ],
            subprocess_env(),
            base,
        )
        procs.append(chroma)
        chroma_url = f"http://127.0.0.1:{chroma_port}"

        def env(name: str, **extra: str) -> dict[str, str]:
            data = base / name
            data.mkdir(exist_ok=True)
            return subprocess_env(
                THREADLINE_QUEUE="celery",
                THREADLINE_DATABASE_URL=database_url,
                THREADLINE_REDIS_URL=redis_url,
                THREADLINE_CHROMA_URL=chroma_url,
                THREADLINE_DATA_DIR=str(data),
                **extra,
            )

        api_env = env("api")
        run_cli(["migrate"], api_env, base)
        key = integration_key(api_env, base)
        wait_http(f"{chroma_url}/api/v2/heartbeat", [chroma], 90, "chroma run")

        metrics_port = free_port()
        worker = Proc(
            "celery-worker",
            [THREADLINE, "worker"],
            env("worker", THREADLINE_WORKER_METRICS_PORT=str(metrics_port)),
            base,
        )
        procs.append(worker)
        port = free_port()
        api = Proc("celery-api", [THREADLINE, "api", "--port", str(port)], api_env, base)
        procs.append(api)
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/healthz", procs, 120, "threadline api")
        deadline = time.perf_counter() + 120
        while " ready." not in worker.log.read_text(errors="replace"):
            worker.check()
            if time.perf_counter() > deadline:
                raise BenchError(f"the worker did not get ready:\n{tail(worker.log)}")
            time.sleep(0.2)
        result.setup_s = time.perf_counter() - started

        db = MessageDb(database_url)
        stack.callback(db.close)
        drive(
            result,
            url,
            key,
            bodies,
            warm,
            db,
            procs,
            lambda: scrape(f"http://127.0.0.1:{metrics_port}/"),
            args.concurrency,
            args.timeout,
        )
        result.tracebacks = count_tracebacks(procs)
    return result


# --- in process: raw model against the pipeline ---------------------------------------------


@dataclass
class InprocResult:
    n: int
    repeats: int
    embedding_batch_size: int
    process_batch_size: int
    load_s: float = 0.0
    raw_s: list[float] = field(default_factory=list)
    pipeline_s: list[float] = field(default_factory=list)
    ingest_s: list[float] = field(default_factory=list)
    step_s: dict[str, float] = field(default_factory=dict)
    error: str | None = None

    @property
    def raw_rate(self) -> float:
        return self.n / statistics.median(self.raw_s)

    @property
    def pipeline_rate(self) -> float:
        return self.n / statistics.median(self.pipeline_s)

    @property
    def ingest_rate(self) -> float:
        return self.n / statistics.median(self.ingest_s)

    def share(self, step: str | None) -> float:
        """Share of pipeline time in a step; None: outside the steps (claim, finish: DB)."""
        total = sum(self.pipeline_s)
        inside = sum(self.step_s.values())
        return (self.step_s.get(step, 0.0) if step else total - inside) / total


def run_inproc(tmp: Path, bodies: list[dict[str, Any]], repeats: int) -> InprocResult:
    from prometheus_client import REGISTRY

    from adapters.container import Container
    from core.channels.text_tidy import tidy
    from core.config import Settings
    from core.conversations.schemas import MessageIn
    from core.conversations.service import ConversationService
    from core.migrate import upgrade
    from core.retrieval.history import embedding_text
    from workers.tasks import run_batch

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp / "inproc",
        database_url=None,
        chroma_url=None,
        queue="local",
    )
    result = InprocResult(
        len(bodies), repeats, settings.embedding_batch_size, settings.process_batch_size
    )
    container = Container(settings)
    try:
        settings.data_dir.mkdir(parents=True)
        upgrade(settings.resolved_database_url)
        texts = [embedding_text(b.get("subject"), tidy(b["text"])) for b in bodies]
        started = time.perf_counter()
        model = container.embedder.model  # type: ignore[attr-defined]
        result.load_s = time.perf_counter() - started

        def ingest(batch: list[dict[str, Any]]) -> tuple[list[str], float]:
            t = time.perf_counter()
            with container.session() as session:
                service = ConversationService(session, container.threading_policy)
                now = container.clock.now()
                ids = [service.ingest(MessageIn.model_validate(b), now).message.id for b in batch]
                session.commit()
            return ids, time.perf_counter() - t

        def step_sums() -> dict[str, float]:
            return {
                s: REGISTRY.get_sample_value("threadline_step_seconds_sum", {"step": s}) or 0.0
                for s in STEPS
            }

        def raw() -> None:
            t = time.perf_counter()
            model.encode(texts, batch_size=settings.embedding_batch_size, show_progress_bar=False)
            result.raw_s.append(time.perf_counter() - t)

        def pipeline(ids: list[str]) -> None:
            size = settings.process_batch_size
            before = step_sums()
            t = time.perf_counter()
            processed = 0
            for i in range(0, len(ids), size):
                processed += len(run_batch(container, ids[i : i + size]).processed)
            result.pipeline_s.append(time.perf_counter() - t)
            for s, v in delta(step_sums(), before).items():
                result.step_s[s] = result.step_s.get(s, 0.0) + v
            if processed != len(ids):
                raise BenchError(f"run_batch processed {processed} of {len(ids)} messages")

        # Warm-up: model kernels, SQLAlchemy statement caches, the Chroma collection.
        model.encode(texts[:64], batch_size=settings.embedding_batch_size, show_progress_bar=False)
        warm_ids, _ = ingest(
            [{**b, "external_id": f"{b.get('external_id')}.warm"} for b in bodies[:16]]
        )
        for i in range(0, len(warm_ids), 8):
            run_batch(container, warm_ids[i : i + 8])

        for r in range(repeats):  # interleaved, alternating order: drift hits both alike
            lap = [{**b, "external_id": f"{b.get('external_id')}.r{r}"} for b in bodies]
            ids, took = ingest(lap)
            result.ingest_s.append(took)
            if r % 2 == 0:
                raw()
                pipeline(ids)
            else:
                pipeline(ids)
                raw()
    finally:
        container.close()
    return result


# --- report ---------------------------------------------------------------------------------


def fmt_load(load: tuple[float, float, float]) -> str:
    return " / ".join(f"{v:.2f}" for v in load)


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if a and b else "n/a"


@dataclass
class Report:
    date: str
    command: str
    n: int
    concurrency: int
    machine: dict[str, str]
    load_start: tuple[float, float, float]
    load_end: tuple[float, float, float] = (0.0, 0.0, 0.0)
    engines: list[EngineResult] = field(default_factory=list)
    inproc: InprocResult | None = None
    total_s: float = 0.0
    code: str = ""

    def engine(self, name: str) -> EngineResult | None:
        return next((e for e in self.engines if e.engine == name and not e.error), None)

    LABELS = {"embedded": "embedded default", "celery": "distributed (Celery)"}

    def e2e_table(self) -> tuple[list[str], list[list[str]]]:
        """Metrics as rows, one column per engine."""
        head = ["", *(self.LABELS[e.engine] for e in self.engines)]
        metrics: list[tuple[str, Callable[[EngineResult], str]]] = [
            ("**msgs/s, first POST → last processed**", lambda e: f"**{e.msgs_per_s:.1f}**"),
            ("POST-only msgs/s", lambda e: f"{e.post_rate:.1f}"),
            ("POST latency p50 / p95 (ms)", lambda e: f"{e.post_p50_ms:.0f} / {e.post_p95_ms:.0f}"),
            ("backlog drain after the last POST (s)", lambda e: f"{e.drain_s:.1f}"),
            (
                "received → processed p50 / p95 (s)",
                lambda e: f"{e.proc_p50_s:.2f} / {e.proc_p95_s:.2f}",
            ),
            (
                "pipeline batches (avg messages per batch)",
                lambda e: f"{e.batches:.0f} ({e.n / e.batches:.1f})" if e.batches else "?",
            ),
            (
                "step time: clean / embed / index (s)",
                lambda e: " / ".join(f"{e.step_s.get(s, 0):.2f}" for s in STEPS),
            ),
            (
                "embed share of step time",
                lambda e: (
                    f"{100 * e.step_s.get('embed', 0) / sum(e.step_s.values()):.0f} %"
                    if sum(e.step_s.values())
                    else "?"
                ),
            ),
            (
                "final statuses",
                lambda e: ", ".join(f"{k} {v}" for k, v in sorted(e.statuses.items())),
            ),
            (
                "retried (attempts > 1) / sweeper re-queued",
                lambda e: f"{e.retried} / {e.requeued:.0f}",
            ),
            ("setup: migrate, key, processes up (s)", lambda e: f"{e.setup_s:.1f}"),
            ("warm-up message incl. model load (s)", lambda e: f"{e.warm_s:.1f}"),
            (
                "server starts that came up broken",
                lambda e: str(len(e.start_failures)),
            ),
            ("tracebacks in the process logs", lambda e: str(e.tracebacks)),
        ]
        rows = []
        for name, get in metrics:
            row = [name]
            for e in self.engines:
                row.append("failed" if e.error else get(e))
            rows.append(row)
        return head, rows

    def ratio_rows(self) -> list[tuple[str, str]]:
        emb, cel, ip = self.engine("embedded"), self.engine("celery"), self.inproc
        ok = ip is not None and not ip.error
        rows = []
        if ok and ip is not None:
            rows.append(("in-process pipeline / raw encode", ratio(ip.pipeline_rate, ip.raw_rate)))
        if emb and ok and ip is not None:
            rows.append(("embedded end to end / raw encode", ratio(emb.msgs_per_s, ip.raw_rate)))
        if cel and ok and ip is not None:
            rows.append(("distributed end to end / raw encode", ratio(cel.msgs_per_s, ip.raw_rate)))
        if emb and cel:
            rows.append(
                ("distributed / embedded, end to end", ratio(cel.msgs_per_s, emb.msgs_per_s))
            )
            rows.append(("distributed / embedded, POST-only", ratio(cel.post_rate, emb.post_rate)))
        if emb and ok and ip is not None:
            rows.append(
                ("embedded POST-only / in-process ingest", ratio(emb.post_rate, ip.ingest_rate))
            )
        return rows

    def load_note(self) -> str:
        cores = int(self.machine["affinity"])
        busy = max(self.load_start[0], self.load_end[0]) >= 0.5 * cores
        note = (
            f"Load average (1 / 5 / 15 min): {fmt_load(self.load_start)} at start, "
            f"{fmt_load(self.load_end)} at end."
        )
        if busy:
            note += (
                " **The machine was busy** (other jobs, e.g. test suites, were running): "
                "absolute rates are lower than on an idle machine; the ratios are less affected."
            )
        return note

    def markdown(self) -> str:
        m = self.machine
        lines = [
            START_MARK,
            "## Ingest throughput (`bench/ingest.py`)",
            "",
            f"- Run: {self.date}, {self.total_s:.0f} s, command "
            f"`{self.command}`, N = {self.n} messages (the demo set, `demo/data/messages.json`), "
            f"code at {self.code}.",
            f"- Machine: {m['nproc']} cores (nproc; {m['affinity']} usable), {m['cpu']}, "
            f"{m['ram']} RAM, no GPU. Python {m['python']}, torch {m['torch']}, "
            f"sentence-transformers {m['sentence-transformers']}, chromadb {m['chromadb']}, "
            f"celery {m['celery']}, SQLAlchemy {m['sqlalchemy']}.",
            f"- {self.load_note()}",
            "- Settings: defaults (`embedding_batch_size` "
            f"{self.inproc.embedding_batch_size if self.inproc else 16}, `process_batch_size` "
            f"{self.inproc.process_batch_size if self.inproc else 64}, `local_workers` 1, "
            "`torch_threads` 0 = torch decides), model all-MiniLM-L6-v2 on CPU. "
            f"{self.concurrency} concurrent POST connections (httpx, thread pool).",
            "",
            "### End to end over HTTP",
            "",
            "Embedded default: one `threadline api` process (SQLite WAL, local Chroma folder, "
            "in-process worker thread). Distributed: `threadline api` + one `threadline worker` "
            "(Celery solo pool, beat on) + `chroma run`, PostgreSQL, Redis, all on this machine. "
            "Timing starts at the first POST, after one warm-up message (`?wait=true`) has loaded "
            "the model; the last processed time is the largest `processed_at` in the database.",
            "",
        ]
        head, rows = self.e2e_table()
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|---|" + "---:|" * (len(head) - 1))
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        for e in self.engines:
            if e.error:
                lines.append(f"\n{self.LABELS[e.engine]} failed: `{e.error.splitlines()[0]}`")
            for failure in e.start_failures:
                lines.append(
                    f"\n{self.LABELS[e.engine]}: a server start came up broken and was "
                    f"replaced by a fresh one: `{failure}`"
                )
        ip = self.inproc
        lines += ["", "### Embedding: raw model against the pipeline, in process", ""]
        if ip is None:
            lines.append("Not run.")
        elif ip.error:
            lines.append(f"Failed: {ip.error.splitlines()[0]}")
        else:
            lines += [
                f"The same {ip.n} texts (subject + clean text, as `EmbedStep` embeds them), "
                f"median of {ip.repeats} interleaved repeats. Raw: `model.encode(texts, "
                f"batch_size={ip.embedding_batch_size})`. Pipeline: messages inserted with "
                "`ConversationService.ingest` into a fresh SQLite database, then "
                f"`workers.tasks.run_batch` over chunks of {ip.process_batch_size} (claim, "
                "clean, embed, Chroma upsert to a local folder, finish).",
                "",
                "| path | texts/s |",
                "|---|---|",
                f"| raw `model.encode` | {ip.raw_rate:.1f} |",
                f"| pipeline `run_batch` | {ip.pipeline_rate:.1f} |",
                f"| **ratio pipeline / raw** | **{ip.pipeline_rate / ip.raw_rate:.2f}** |",
                f"| (ingest only, `ConversationService.ingest`, one transaction) "
                f"| {ip.ingest_rate:.1f} |",
                "",
                "Pipeline time: "
                + ", ".join(f"{s} {100 * ip.share(s):.1f} %" for s in STEPS)
                + f", claim + finish (database) {100 * ip.share(None):.1f} % "
                "(from the `threadline_step_seconds` histogram). Model load "
                f"{ip.load_s:.1f} s.",
            ]
        lines += ["", "### Ratios (the comparable numbers)", "", "| ratio | value |", "|---|---|"]
        lines += [f"| {a} | {b} |" for a, b in self.ratio_rows()]
        lines.append(END_MARK)
        return "\n".join(lines) + "\n"

    def print(self) -> None:
        from rich.console import Console
        from rich.table import Table

        console = Console()
        m = self.machine
        console.print(
            f"[bold]Ingest benchmark[/bold] {self.date}: N={self.n}, {m['nproc']} cores "
            f"{m['cpu']}, {m['ram']}, Python {m['python']}, torch {m['torch']}"
        )
        console.print(self.load_note())
        head, rows = self.e2e_table()
        table = Table(title=f"End to end over HTTP, N={self.n}")
        for i, name in enumerate(head):
            table.add_column(name, justify="right" if i else "left")
        for row in rows:
            table.add_row(*(c.replace("**", "") for c in row))
        console.print(table)
        for e in self.engines:
            if e.error:
                console.print(f"[red]{self.LABELS[e.engine]} failed:[/red] {e.error}")
            for failure in e.start_failures:
                console.print(f"[yellow]{self.LABELS[e.engine]} broken start:[/yellow] {failure}")
        ip = self.inproc
        if ip is not None:
            t = Table(title=f"In process, {ip.n} texts, median of {ip.repeats}")
            t.add_column("path")
            t.add_column("texts/s", justify="right")
            if ip.error:
                t.add_row("failed", ip.error.splitlines()[0])
            else:
                t.add_row(
                    f"raw model.encode (batch {ip.embedding_batch_size})", f"{ip.raw_rate:.1f}"
                )
                t.add_row(
                    f"pipeline run_batch (chunks of {ip.process_batch_size})",
                    f"{ip.pipeline_rate:.1f}",
                )
                t.add_row("ingest only", f"{ip.ingest_rate:.1f}")
                shares = ", ".join(f"{s} {100 * ip.share(s):.1f}%" for s in STEPS)
                t.add_row("pipeline time split", f"{shares}, db {100 * ip.share(None):.1f}%")
            console.print(t)
        r = Table(title="Ratios")
        r.add_column("ratio")
        r.add_column("value", justify="right")
        for a, b in self.ratio_rows():
            r.add_row(a, b)
        console.print(r)


# --- main -----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=0, help="N (default: the 278 demo ones)")
    parser.add_argument("--engines", default="embedded,celery", help="embedded,celery")
    parser.add_argument("--no-inproc", action="store_true", help="skip the in-process ratio")
    parser.add_argument("--repeats", type=int, default=3, help="in-process repeats (median)")
    parser.add_argument("--concurrency", type=int, default=4, help="concurrent POSTs")
    parser.add_argument("--timeout", type=float, default=180, help="processing wait (s)")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379")
    parser.add_argument("--redis-db", type=int, default=12, help="preferred Redis db number")
    parser.add_argument("--write", type=Path, help="rewrite the ingest section of this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)

    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = set(engines) - {"embedded", "celery"}
    if unknown:
        parser.error(f"unknown engine(s): {', '.join(sorted(unknown))}")
    n = args.messages or len(json.loads(MESSAGES_FILE.read_text(encoding="utf-8")))

    # SIGTERM (e.g. a CI timeout) unwinds through the finally blocks like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    started = time.perf_counter()
    command = " ".join([".venv/bin/python", "bench/ingest.py", *sys.argv[1:]])
    report = Report(
        date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        command=command,
        n=n,
        concurrency=args.concurrency,
        machine=machine(),
        load_start=os.getloadavg(),
        code=code_version(),
    )
    run_id = uuid.uuid4().hex[:8]
    bodies, warm = load_bodies(n, run_id)
    tmp = Path(tempfile.mkdtemp(prefix="threadline-bench-"))
    failed = False
    try:
        runners = {"embedded": run_embedded, "celery": run_celery}
        for name in engines:
            print(f"[bench] {name}: starting", file=sys.stderr, flush=True)
            try:
                result = runners[name](tmp, bodies, warm, args)
            except Exception as exc:  # noqa: BLE001 - report it, run the other parts
                failed = True
                result = EngineResult(name, n, error=f"{type(exc).__name__}: {exc}")
                print(f"[bench] {name} failed: {exc}", file=sys.stderr, flush=True)
            report.engines.append(result)
            print(f"[bench] {name}: done", file=sys.stderr, flush=True)
        if not args.no_inproc:
            print("[bench] in process: starting", file=sys.stderr, flush=True)
            try:
                report.inproc = run_inproc(tmp, bodies, args.repeats)
            except Exception as exc:  # noqa: BLE001 - report it with the other parts
                failed = True
                report.inproc = InprocResult(
                    n, args.repeats, 0, 0, error=f"{type(exc).__name__}: {exc}"
                )
                print(f"[bench] in process failed: {exc}", file=sys.stderr, flush=True)
    finally:
        if args.keep:
            print(f"[bench] kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    report.load_end = os.getloadavg()
    report.total_s = time.perf_counter() - started
    report.print()
    if args.write:
        write_section(args.write, report.markdown(), START_MARK, END_MARK)
        print(f"[bench] wrote {args.write}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
