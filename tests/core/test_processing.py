"""Leases, the sweeper, redelivery and transient failures, on real SQLite/PostgreSQL + Chroma."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.container import Container
from core.config import Settings
from core.conversations.models import Message
from core.conversations.schemas import MessageIn
from core.conversations.service import ConversationService
from core.retrieval.history import COLLECTION
from tests.helpers import make_database
from workers.tasks import run_batch, sweep


class MovableClock:
    """A Clock (port) whose time the test moves."""

    def __init__(self) -> None:
        self.current = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def proc(
    backend: str, tmp_path: Path, make_settings: Callable[..., Settings], clock: MovableClock
) -> Iterator[Container]:
    url, drop = make_database(backend, tmp_path)
    settings = make_settings(
        database_url=url, lease_seconds=60, enqueue_grace_seconds=30, max_attempts=3
    )
    c = Container(settings, clock=clock)
    yield c
    c.close()
    drop()


def ingest(c: Container, n: int) -> list[str]:
    ids = []
    with c.session() as session:
        service = ConversationService(session, c.threading_policy)
        for i in range(n):
            body = {"channel": "chat", "sender": {"handle": f"u{i}"}, "text": f"message {i}"}
            ids.append(service.ingest(MessageIn.model_validate(body), c.clock.now()).message.id)
        session.commit()
    return ids


def statuses(c: Container, ids: list[str]) -> dict[str, tuple[str, int]]:
    with c.session(write=False) as session:
        return {
            i: (m.status, m.attempts) for i in ids if (m := session.get(Message, i)) is not None
        }


def test_batch_is_processed_and_redelivery_changes_nothing(proc: Container) -> None:
    ids = ingest(proc, 5)
    outcome = run_batch(proc, ids)
    assert sorted(outcome.processed) == sorted(ids)
    assert proc.vector_store.count(COLLECTION) == 5
    again = run_batch(proc, ids)  # a redelivered task
    assert again.processed == [] and sorted(again.skipped) == sorted(ids)
    assert all(s == ("processed", 1) for s in statuses(proc, ids).values())
    assert proc.vector_store.count(COLLECTION) == 5


def test_claim_is_exclusive(proc: Container) -> None:
    ids = ingest(proc, 3)
    with proc.session() as s1:
        first = proc.processor.claim(s1, ids, proc.clock.now())
        s1.commit()
    with proc.session() as s2:
        second = proc.processor.claim(s2, ids, proc.clock.now())
        s2.commit()
    assert len(first) == 3 and second == []


def test_crashed_worker_lease_expires_and_sweeper_recovers(
    proc: Container, clock: MovableClock
) -> None:
    ids = ingest(proc, 4)
    # Worker A claims and "dies" after embedding half the batch.
    with proc.session() as session:
        stale = proc.processor.claim(session, ids, clock.now())
        session.commit()
    proc.processor.run(stale[:2])
    assert proc.vector_store.count(COLLECTION) == 2
    assert sweep(proc) == []  # lease still valid
    clock.advance(seconds=61)
    requeued = sweep(proc)
    assert sorted(requeued) == sorted(ids)
    outcome = run_batch(proc, requeued)  # worker B
    assert sorted(outcome.processed) == sorted(ids)
    # Worker A wakes up and tries to finish: its lease was taken over, nothing changes.
    with proc.session() as session:
        late = proc.processor.finish(session, stale, clock.now())
        session.commit()
    assert sorted(late.skipped) == sorted(i.message_id for i in stale)
    assert all(s == ("processed", 2) for s in statuses(proc, ids).values())
    assert proc.vector_store.count(COLLECTION) == 4  # upserts, never duplicates


def test_never_enqueued_message_is_swept_after_grace(proc: Container, clock: MovableClock) -> None:
    ids = ingest(proc, 1)
    assert sweep(proc) == []
    clock.advance(seconds=31)
    assert sweep(proc) == ids


def test_lease_expiring_too_often_gives_up(proc: Container, clock: MovableClock) -> None:
    ids = ingest(proc, 1)
    for _ in range(3):
        with proc.session() as session:
            assert proc.processor.claim(session, ids, clock.now())
            session.commit()
        clock.advance(seconds=61)
        sweep(proc)
    status = statuses(proc, ids)[ids[0]]
    assert status == ("failed", 3)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_vector_store_is_transient_then_failed(
    backend: str, tmp_path: Path, make_settings: Callable[..., Settings], clock: MovableClock
) -> None:
    url, drop = make_database(backend, tmp_path)
    c = Container(
        make_settings(
            database_url=url, chroma_url=f"http://127.0.0.1:{_closed_port()}", max_attempts=2
        ),
        clock=clock,
    )
    try:
        ids = ingest(c, 1)
        first = run_batch(c, ids)
        assert first.retry == ids
        with c.session(write=False) as session:
            message = session.get(Message, ids[0])
            assert message is not None
            assert message.status == "received"
            assert "vector store unreachable" in (message.error or "")
        second = run_batch(c, ids)
        assert second.failed == ids
        assert statuses(c, ids)[ids[0]] == ("failed", 2)
    finally:
        c.close()
        drop()


def test_a_task_takes_waiting_messages_along(proc: Container) -> None:
    ids = ingest(proc, 6)
    outcome = run_batch(proc, ids[:1], extra=3)
    assert len(outcome.processed) == 4 and ids[0] in outcome.processed
    # The tasks of the messages it took along find them done.
    assert run_batch(proc, outcome.processed[1:]).skipped == outcome.processed[1:]
    rest = run_batch(proc, ids[4:])
    assert sorted(rest.processed) == sorted(ids[4:])
