"""The database is the system of record: what Redis loses (or never got) is found again."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.container import Container
from tests.distributed.support import (
    ENQUEUE_GRACE_SECONDS,
    Stack,
    StartWorker,
    free_port,
    make_api,
    wait_until,
)
from tests.helpers import Api

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]


def _body(i: int) -> dict[str, Any]:
    return {
        "channel": "sms" if i % 2 else "email",
        "external_id": f"outage-{i}",
        "sender": {"phone": f"+1 415 555 {3000 + i:04d}"}
        if i % 2
        else {"email": f"outage{i}@example.com"},
        "text": f"Message {i}: my order has not arrived yet, can you check it?",
    }


def _all_processed(stack: Stack) -> bool:
    statuses = stack.statuses()
    assert "failed" not in statuses.values(), statuses
    return bool(statuses) and all(s == "processed" for s in statuses.values())


def test_tasks_lost_by_redis_are_found_by_the_sweeper(
    stack: Stack, start_worker: StartWorker, celery_api: Api
) -> None:
    ids = []
    for i in range(5):
        resp = celery_api.message(**_body(i))
        assert resp.status_code == 202, resp.text
        ids.append(resp.json()["message_id"])
    with stack.redis.client() as r:
        assert r.llen("threadline") == 5  # one task per message, waiting for a worker
    stack.redis.reset()  # Redis restarted without persistence: every task is gone

    start_worker()
    wait_until(lambda: _all_processed(stack), 90, "the sweeper to re-queue lost messages")
    rows = stack.rows("SELECT id, attempts, received_at, processed_at FROM messages")
    assert {r.id for r in rows} == set(ids)
    for row in rows:
        assert row.attempts == 1, row
        assert (row.processed_at - row.received_at).total_seconds() >= ENQUEUE_GRACE_SECONDS
    assert set(stack.history()) == set(ids)


def test_ingest_answers_202_while_redis_is_down_and_the_sweeper_enqueues_later(
    stack: Stack, start_worker: StartWorker
) -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"
    with make_api(Container(stack.settings(redis_url=closed)), False) as api:
        resp = api.message(**_body(0))
        assert resp.status_code == 202, resp.text  # stored; the enqueue failure is logged
        accepted = resp.json()
        assert accepted["status"] == "received"
        again = api.message(**_body(0))  # a client retry stays idempotent
        assert again.status_code == 200, again.text
        assert again.json()["message_id"] == accepted["message_id"]
    with stack.redis.client() as r:
        assert r.llen("threadline") == 0  # nothing reached the real broker
    start_worker()  # Redis is back (the worker uses the real one)
    wait_until(lambda: _all_processed(stack), 90, "the sweeper to enqueue the message")
    rows = stack.rows("SELECT id, attempts FROM messages")
    assert [(r.id, r.attempts) for r in rows] == [(accepted["message_id"], 1)]
    assert set(stack.history()) == {accepted["message_id"]}
