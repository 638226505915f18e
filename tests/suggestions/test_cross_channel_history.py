"""Accept/edit records the final reply in the customer's history: the next draft, on another
channel, knows it (real pipeline, real history index, real KB)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from adapters.container import Container
from tests.helpers import Api

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def kb(container: Container) -> None:
    from kb_ingest.pipeline import IngestOptions
    from workers.kb import ingest_files

    ingest_files(
        container,
        [
            ROOT / "demo/kb/returns-refunds/returns-window.md",
            ROOT / "demo/kb/shipping/lost-parcel.md",
        ],
        IngestOptions(),
    )


def processed(api: Api, message_id: str) -> dict[str, Any]:
    for _ in range(200):
        message: dict[str, Any] = api.get(f"/v1/messages/{message_id}", role="agent").json()
        if message["status"] == "processed":
            return message
        time.sleep(0.05)
    raise AssertionError(f"message {message_id} was not processed: {message}")


MARIA_CHAT = {"handle": "maria-77", "email": "maria.lopez@example.com", "name": "Maria Lopez"}
MARIA_EMAIL = {"email": "maria.lopez@example.com", "name": "Maria Lopez"}


def chat_then_email(api: Api, decide: str, **body: Any) -> tuple[dict[str, Any], ...]:
    """Maria asks on chat, an agent decides (`accept` or `edit`), she asks again by email.

    Returns (chat ingest answer, decided suggestion, outbound message, email ingest answer).
    """
    chat = api.message(
        wait=True,
        channel="chat",
        sender=MARIA_CHAT,
        text="How many days do I have to return my jacket?",
    ).json()
    assert chat["status"] == "processed", chat
    sid = chat["suggestion"]["id"]
    decided = api.post(f"/v1/suggestions/{sid}/{decide}", role="agent", **body)
    assert decided.status_code == 200, decided.text
    suggestion = decided.json()
    # the reply is processed like any message (embedded, indexed) before she writes again
    outbound = processed(api, suggestion["outbound_message_id"])
    email = api.message(
        wait=True,
        channel="email",
        sender=MARIA_EMAIL,
        subject="Returning my jacket",
        text="Hello, how long do I have to return my jacket? Regards, Maria",
    ).json()
    assert email["status"] == "processed", email
    assert email["customer_id"] == chat["customer_id"]
    return chat, suggestion, outbound, email


def test_an_accepted_chat_reply_is_known_to_the_next_email_draft(api: Api, kb: None) -> None:
    chat, accepted, outbound, email = chat_then_email(api, "accept")
    assert outbound["direction"] == "outbound" and outbound["channel"] == "chat"
    draft = email["suggestion"]
    # the approved answer is reused (consistency first), in the email's register
    assert draft["approved_answer_id"]
    assert draft["cited_chunks"] == accepted["cited_chunks"]
    answer = "You can return most items within 30 days of delivery for a full refund"
    assert answer in accepted["final_text"] and answer in draft["draft_text"]
    assert draft["draft_text"].startswith("Hello Maria,")
    # the chat is acknowledged by her own message there, never by our reply
    assert "on live chat" in draft["draft_text"]
    assert draft["acknowledged_message_id"] == chat["message_id"]
    # and our reply is in her history, among the messages related to the email
    related = api.get(f"/v1/messages/{email['message_id']}/related", role="agent").json()
    related_ids = [r["message_id"] for r in related["items"]]
    assert chat["message_id"] in related_ids and outbound["id"] in related_ids
    timeline = api.get(f"/v1/customers/{chat['customer_id']}/timeline", role="agent").json()
    messages = {i["id"]: i for i in timeline["items"] if i["type"] == "message"}
    assert {chat["message_id"], outbound["id"], email["message_id"]} <= set(messages)


def test_an_edited_chat_reply_is_what_the_next_email_draft_says(api: Api, kb: None) -> None:
    final = (
        "Hi Maria, you have 30 days from delivery to return your jacket. "
        "The free return label is waiting in your account."
    )
    _, edited, _, email = chat_then_email(api, "edit", json={"text": final})
    assert edited["status"] == "edited"
    draft = email["suggestion"]
    assert draft["approved_answer_id"]
    assert "you have 30 days from delivery to return your jacket" in draft["draft_text"].lower()
    assert "The free return label is waiting in your account." in draft["draft_text"]
