"""A worker killed mid-batch loses nothing and duplicates nothing.

The API queues a batch through Redis; the `threadline worker` process group gets SIGKILL while
it is halfway through; a new worker finishes the batch. Tasks still in Redis go to the new
worker; the message the dead worker held comes back through the sweeper once its lease runs
out (LEASE_SECONDS).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.distributed.support import BATCH_SIZE, LEASE_SECONDS, Stack, StartWorker, wait_until
from tests.helpers import Api

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
N = 40

PRODUCTS = ["headlamp", "tent", "sleeping bag", "rain jacket", "camping stove", "backpack"]
PROBLEMS = [
    "arrived with a broken part and I would like a replacement sent as soon as possible",
    "never arrived although the tracking page says it was delivered to my door last week",
    "is the wrong size, so I want to return it and get a refund to my original card",
    "was charged twice on my credit card statement and I need one of the charges reversed",
    "stopped working after two days of use on a hiking trip in the mountains",
]


def sender(i: int) -> tuple[str, dict[str, str]]:
    """A distinct customer per message, on a channel of its own kind."""
    match i % 9:
        case 0:
            return "email", {"name": f"Customer {i}", "email": f"customer{i}@example.com"}
        case 1:
            return "chat", {"email": f"chat.customer{i}@example.org"}
        case 2:
            return "sms", {"phone": f"+1 415 555 {1000 + i:04d}"}
        case 3:
            return "whatsapp", {"handle": f"+4915123{400000 + i}"}
        case 4:
            return "facebook", {"handle": f"1000{700000 + i}"}
        case 5:
            return "instagram", {"handle": f"hiker_{i}"}
        case 6:
            return "twitter", {"handle": f"@trail{i}"}
        case 7:
            return "phone", {"phone": f"+44 20 7946 {1000 + i:04d}"}
        case _:
            return "web_form", {"name": f"Form {i}", "email": f"form{i}@example.net"}


def payload(i: int) -> dict[str, Any]:
    channel, who = sender(i)
    product = PRODUCTS[i % len(PRODUCTS)]
    problem = PROBLEMS[i % len(PROBLEMS)]
    # Long enough that embedding takes a while: the kill has to land mid-batch.
    text = (
        f"Hello, this is about order NW-{50000 + i}. The {product} I bought from your shop "
        f"{problem}. I have been a customer for years and this is the first time something "
        f"like this happened. I already tried the troubleshooting steps from your help "
        f"center, I read the returns policy twice and I checked my spam folder for any "
        f"message from your team, but I could not find an answer. Could you please tell me "
        f"what I should do next, how long it will take, and whether I need to send the "
        f"{product} back first? I would also like to know if there is any cost for me. "
        f"Thank you for your help, message number {i}."
    )
    body: dict[str, Any] = {
        "channel": channel,
        "external_id": f"crash-{channel}-{i}",
        "sender": who,
        "text": text,
        "sent_at": (T0 + timedelta(minutes=i)).isoformat(),
    }
    if channel == "email":
        body["subject"] = f"Problem with my {product}"
    return body


def test_a_worker_killed_mid_batch_loses_and_duplicates_nothing(
    stack: Stack, start_worker: StartWorker, celery_api: Api
) -> None:
    first = start_worker()
    ids: list[str] = []
    for i in range(N):
        resp = celery_api.message(**payload(i))
        assert resp.status_code == 202, resp.text
        ids.append(resp.json()["message_id"])
    assert len(set(ids)) == N
    customers = {r.customer_id for r in stack.rows("SELECT customer_id FROM messages")}
    assert len(customers) == N

    def processed_count() -> int:
        return sum(status == "processed" for status in stack.statuses().values())

    # Mid-batch: the model is loaded and a few messages are done, most are not.
    wait_until(lambda: processed_count() >= 3, 90, "the first worker to process a few", 0.02)
    first.kill()
    killed_at = time.monotonic()

    at_kill = {
        r.id: r
        for r in stack.rows("SELECT id, status, attempts, processed_at, error FROM messages")
    }
    done_at_kill = {i for i, r in at_kill.items() if r.status == "processed"}
    in_flight = {i for i, r in at_kill.items() if r.status == "processing"}
    assert 3 <= len(done_at_kill) < N, f"not mid-batch: {len(done_at_kill)} of {N} processed"
    assert not any(r.status == "failed" for r in at_kill.values())
    assert len(in_flight) <= BATCH_SIZE, "a solo worker holds at most one batch"

    start_worker()

    def all_processed() -> bool:
        statuses = stack.statuses()
        assert "failed" not in statuses.values(), stack.rows(
            "SELECT id, attempts, error FROM messages WHERE status = 'failed'"
        )
        return all(s == "processed" for s in statuses.values())

    wait_until(all_processed, 120, "the new worker to process every message", 0.25)
    recovered_in = time.monotonic() - killed_at

    rows = {
        r.id: r
        for r in stack.rows(
            "SELECT id, external_id, status, attempts, error, processed_at, indexed_at, "
            "clean_text, lease_expires_at FROM messages"
        )
    }
    assert set(rows) == set(ids)
    for row in rows.values():
        assert row.status == "processed", row
        assert row.error is None, row
        assert row.attempts >= 1, row
        assert row.processed_at is not None and row.indexed_at is not None, row
        assert row.clean_text, row
        assert row.lease_expires_at is None, row
    # What the dead worker finished was not done again.
    for message_id in done_at_kill:
        assert rows[message_id].attempts == at_kill[message_id].attempts == 1
        assert rows[message_id].processed_at == at_kill[message_id].processed_at
    # The messages it held came back after their lease, and the new worker processed them.
    for message_id in in_flight:
        assert rows[message_id].attempts == 2, rows[message_id]
    # Messages that were only waiting in Redis were processed once.
    for message_id in set(ids) - done_at_kill - in_flight:
        assert rows[message_id].attempts == 1, rows[message_id]

    # No duplicate rows, one history entry per message, with its customer.
    dupes = stack.rows(
        "SELECT channel, external_id, count(*) AS n FROM messages "
        "GROUP BY channel, external_id HAVING count(*) > 1"
    )
    assert dupes == []
    assert stack.rows("SELECT count(DISTINCT external_id) AS n FROM messages")[0].n == N
    history = stack.history()
    assert len(history) == N
    assert set(history) == set(ids)
    owners = {r.id: r.customer_id for r in stack.rows("SELECT id, customer_id FROM messages")}
    assert {i: m["customer_id"] for i, m in history.items()} == owners

    # Recovery needs a worker start, a model load and, at worst, one lease plus a sweep.
    assert recovered_in < 60 + LEASE_SECONDS, f"recovery took {recovered_in:.0f} s"
