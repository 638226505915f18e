"""The distributed engine end to end: API → Redis → `threadline worker` → PostgreSQL + Chroma.

Nothing of ours is faked: the API runs in this process with queue=celery, the worker is the
real console script in a subprocess, the vector store is a `chroma run` server.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.container import Container
from tests.distributed.support import Stack, StartWorker, free_port, make_api, wait_until
from tests.helpers import Api

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
PROCESS_TIMEOUT = 90


def at(hours: float) -> str:
    return (T0 + timedelta(hours=hours)).isoformat()


def wait_processed(api: Api, ids: list[str], timeout: float = PROCESS_TIMEOUT) -> dict[str, Any]:
    """Poll GET /v1/messages/{id} until every message is processed; returns id → body."""
    bodies: dict[str, Any] = {}

    def done() -> bool:
        for message_id in ids:
            if bodies.get(message_id, {}).get("status") == "processed":
                continue
            resp = api.get(f"/v1/messages/{message_id}", role="agent")
            assert resp.status_code == 200, resp.text
            bodies[message_id] = resp.json()
            assert bodies[message_id]["status"] != "failed", bodies[message_id]
        return all(bodies.get(i, {}).get("status") == "processed" for i in ids)

    wait_until(done, timeout, f"{len(ids)} messages to be processed", interval=0.25)
    return bodies


# channel, external_id, sender, subject, text, hours after T0
ANA = "ana.silva@example.com"
MESSAGES: dict[str, tuple[str, str, dict[str, str], str | None, str, float]] = {
    "ana_chat": (
        "chat",
        "chat-ana-1",
        {"name": "Ana Silva", "email": ANA},
        None,
        "Hi, my headlamp order NW-31007 has not arrived, the tracking page "
        "has not changed for a week.",
        0,
    ),
    "ana_email": (
        "email",
        "<ana-2@mail.example.com>",
        {"name": "Ana Silva", "email": "Ana.Silva@Example.COM"},
        "Order NW-31007 still missing",
        "Following up on the chat: the parcel with my headlamp still has not arrived.",
        5,
    ),
    "ana_web_form": (  # five days later: outside the 72 h window → a new conversation
        "web_form",
        "wf-ana-3",
        {"email": ANA},
        None,
        "Where is my headlamp? Nobody answered about the lost parcel.",
        120,
    ),
    "raj_sms": (
        "sms",
        "sms-raj-1",
        {"name": "Raj Patel", "phone": "(415) 555-0142"},
        None,
        "Can I return the tent I bought last month? It is too small for us.",
        1,
    ),
    "raj_whatsapp": (  # a WhatsApp handle is the phone number: same customer as the SMS
        "whatsapp",
        "wa-raj-2",
        {"handle": "+14155550142"},
        None,
        "I sent an SMS about returning the tent; where do I ship it back?",
        6,
    ),
    "twitter": (
        "twitter",
        "tw-1",
        {"handle": "@Trail_Runner"},
        None,
        "Your app keeps logging me out every time I open it",
        2,
    ),
    "instagram": (
        "instagram",
        "ig-1",
        {"handle": "hiking.jo"},
        None,
        "Do you ship the rain jacket to Canada?",
        3,
    ),
    "facebook": (
        "facebook",
        "fb-1",
        {"handle": "100012345678"},
        None,
        "The zipper of my sleeping bag broke",
        4,
    ),
    "phone": (
        "phone",
        "call-1",
        {"phone": "+44 20 7946 0958"},
        None,
        "Caller asked to change the delivery address of order NW-40112.",
        7,
    ),
}


def post_all(api: Api) -> dict[str, dict[str, Any]]:
    accepted: dict[str, dict[str, Any]] = {}
    for key, (channel, external_id, sender, subject, text, hours) in MESSAGES.items():
        body: dict[str, Any] = {
            "channel": channel,
            "external_id": external_id,
            "sender": sender,
            "text": text,
            "sent_at": at(hours),
        }
        if subject:
            body["subject"] = subject
        if channel == "phone":
            body["metadata"] = {"duration_s": 95, "direction": "inbound"}
        resp = api.message(**body)
        assert resp.status_code == 202, resp.text
        accepted[key] = resp.json()
        assert accepted[key]["status"] == "received"
        assert accepted[key]["duplicate"] is False
    return accepted


def test_messages_from_every_channel_are_linked_processed_and_indexed(
    stack: Stack, start_worker: StartWorker, celery_api: Api
) -> None:
    start_worker()
    accepted = post_all(celery_api)
    ids = {key: a["message_id"] for key, a in accepted.items()}
    bodies = wait_processed(celery_api, list(ids.values()))

    # Identity and threading, as in the embedded engine.
    a = accepted
    assert a["ana_chat"]["customer_id"] == a["ana_email"]["customer_id"]
    assert a["ana_chat"]["customer_id"] == a["ana_web_form"]["customer_id"]
    assert a["ana_chat"]["conversation_id"] == a["ana_email"]["conversation_id"]
    assert a["ana_chat"]["reference"] == a["ana_email"]["reference"]
    assert a["ana_web_form"]["reference"] != a["ana_chat"]["reference"]
    assert a["raj_sms"]["customer_id"] == a["raj_whatsapp"]["customer_id"]
    assert a["raj_sms"]["reference"] == a["raj_whatsapp"]["reference"]
    customers = {
        a["ana_chat"]["customer_id"],
        a["raj_sms"]["customer_id"],
        a["twitter"]["customer_id"],
        a["instagram"]["customer_id"],
        a["facebook"]["customer_id"],
        a["phone"]["customer_id"],
    }
    assert len(customers) == 6
    for key, acc in accepted.items():
        body = bodies[acc["message_id"]]
        assert body["customer_id"] == acc["customer_id"], key
        assert body["conversation_id"] == acc["conversation_id"], key
        assert body["reference"] == acc["reference"], key
        assert body["attempts"] == 1, body
        assert body["error"] is None, body
        assert body["clean_text"], body
        assert body["processed_at"] is not None, body

    # Related history comes from the customer's other channels, earlier messages only.
    related = celery_api.get(f"/v1/messages/{ids['ana_email']}/related", role="agent")
    assert related.status_code == 200, related.text
    items = related.json()["items"]
    assert [i["message_id"] for i in items] == [ids["ana_chat"]]
    assert items[0]["channel"] == "chat"
    assert items[0]["reference"] == a["ana_chat"]["reference"]
    later = celery_api.get(f"/v1/messages/{ids['ana_web_form']}/related").json()["items"]
    assert {i["message_id"] for i in later} == {ids["ana_chat"], ids["ana_email"]}
    assert later[0]["message_id"] == ids["ana_email"]  # "parcel ... not arrived" ranks first
    wa = celery_api.get(f"/v1/messages/{ids['raj_whatsapp']}/related").json()["items"]
    assert [(i["message_id"], i["channel"]) for i in wa] == [(ids["raj_sms"], "sms")]
    first = celery_api.get(f"/v1/messages/{ids['ana_chat']}/related").json()["items"]
    assert first == []

    # The Chroma server holds exactly one entry per processed message.
    history = stack.history()
    assert set(history) == set(ids.values())
    for key, acc in accepted.items():
        meta = history[acc["message_id"]]
        assert meta["customer_id"] == acc["customer_id"], key
        assert meta["conversation_id"] == acc["conversation_id"], key
        assert meta["reference"] == acc["reference"], key
        assert meta["channel"] == MESSAGES[key][0], key

    # Replaying a message is idempotent: no new row, no new entry, no new processing.
    channel, external_id, sender, _, text, hours = MESSAGES["ana_chat"]
    again = celery_api.message(
        channel=channel, external_id=external_id, sender=sender, text=text, sent_at=at(hours)
    )
    assert again.status_code == 200, again.text
    assert again.json()["duplicate"] is True
    assert again.json()["message_id"] == ids["ana_chat"]
    assert stack.rows("SELECT count(*) AS n FROM messages")[0].n == len(MESSAGES)
    assert len(stack.history()) == len(MESSAGES)


def test_wait_true_answers_when_the_celery_worker_is_done(
    stack: Stack, start_worker: StartWorker, celery_api: Api
) -> None:
    start_worker()
    # The first message also waits for the worker to load the embedding model.
    first = celery_api.message(
        channel="email",
        external_id="<wait-1@mail.example.com>",
        sender={"name": "Lea Brun", "email": "lea@example.com"},
        subject="Broken stove",
        text="The burner of my camping stove cracked after two uses.",
        sent_at=at(0),
        wait=True,
    )
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["status"] == "processed"
    assert body["message"]["status"] == "processed"
    assert body["message"]["id"] == body["message_id"]
    assert body["message"]["attempts"] == 1
    assert body["message"]["clean_text"]

    started = time.monotonic()
    second = celery_api.message(
        channel="chat",
        external_id="chat-lea-2",
        sender={"email": "LEA@example.com"},
        text="Following up on my email about the cracked stove burner",
        sent_at=at(1),
        wait=True,
    )
    took = time.monotonic() - started
    assert second.status_code == 200, second.text
    body2 = second.json()
    assert body2["status"] == "processed"
    assert body2["customer_id"] == body["customer_id"]
    assert body2["reference"] == body["reference"]
    assert took < 10, f"a warm worker took {took:.1f} s to process one message"

    related = celery_api.get(f"/v1/messages/{body2['message_id']}/related").json()["items"]
    assert [i["message_id"] for i in related] == [body["message_id"]]
    assert set(stack.history()) == {body["message_id"], body2["message_id"]}


def test_readyz_is_ok_when_database_vector_store_and_queue_answer(
    stack: Stack, celery_api: Api
) -> None:
    resp = celery_api.get("/readyz", role="agent")
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        "status": "ready",
        "checks": {"database": "ok", "vector_store": "ok", "queue": "ok"},
    }


def test_readyz_names_the_queue_when_redis_is_unreachable(stack: Stack) -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"
    with make_api(Container(stack.settings(redis_url=closed))) as api:
        started = time.monotonic()
        resp = api.get("/readyz", role="agent")
        took = time.monotonic() - started
        assert resp.status_code == 503, resp.text
        body = resp.json()
        assert body["status"] == "not_ready"
        assert body["checks"]["database"] == "ok"
        assert body["checks"]["vector_store"] == "ok"
        assert body["checks"]["queue"].startswith("error"), body
        assert took < 15, f"/readyz took {took:.1f} s with Redis down"
