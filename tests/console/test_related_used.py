"""The related prior messages a draft used: recorded by the draft step on the suggestion
(migration 0007, on SQLite and PostgreSQL), exposed by the API and shown as is by the console;
a suggestion without the record falls back to retrieving them again."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from alembic import command
from sqlalchemy.orm import Session

from api.console.session import COOKIE
from core.conversations.models import Conversation, Message
from core.db import make_engine
from core.identity.models import Customer
from core.migrate import alembic_config, upgrade
from core.suggestions.models import ApprovedAnswer, Suggestion
from tests.console.server import Console

NOW = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)


def _suggestion(session: Session, n: int) -> Suggestion:
    """A customer, conversation, message and its suggestion (and an approved answer, which
    references the suggestion: the migration must keep it)."""
    at = NOW + timedelta(minutes=n)
    customer = Customer(name=f"Customer {n}", created_at=at, updated_at=at)
    session.add(customer)
    session.flush()
    conversation = Conversation(
        reference=f"TL-MIG{n}",
        customer_id=customer.id,
        channel="email",
        created_at=at,
        last_message_at=at,
    )
    session.add(conversation)
    session.flush()
    message = Message(
        conversation_id=conversation.id,
        customer_id=customer.id,
        channel="email",
        direction="inbound",
        text=f"question {n}",
        sent_at=at,
        received_at=at,
    )
    session.add(message)
    session.flush()
    suggestion = Suggestion(
        message_id=message.id,
        customer_id=customer.id,
        conversation_id=conversation.id,
        channel="email",
        status="accepted",
        draft_text="Hello",
        drafter="composer",
        created_at=at,
    )
    session.add(suggestion)
    session.flush()
    session.add(
        ApprovedAnswer(
            suggestion_id=suggestion.id,
            channel="email",
            question=f"question {n}",
            question_vector=[1.0, 0.0],
            text="Hello",
            created_at=at,
        )
    )
    session.flush()
    return suggestion


def _columns(engine: sa.Engine) -> set[str]:
    with engine.connect() as conn:
        return {c["name"] for c in sa.inspect(conn).get_columns("suggestions")}


def test_migration_0007_adds_a_nullable_related_used(empty_database: str) -> None:
    url = empty_database
    upgrade(url)
    engine = make_engine(url)
    try:
        used = [{"message_id": "m1", "score": 0.8123}, {"message_id": "m2", "score": 0.5}]
        with Session(engine) as session:
            recorded = _suggestion(session, 1)
            recorded.related_used = used
            empty = _suggestion(session, 2)
            empty.related_used = []
            session.commit()
            ids = (recorded.id, empty.id)
        # Down: the column goes, the suggestions (and the approved answers) stay.
        command.downgrade(alembic_config(url), "0006")
        assert "related_used" not in _columns(engine)
        with engine.connect() as conn:
            assert conn.scalar(sa.text("SELECT count(*) FROM suggestions")) == 2
            assert conn.scalar(sa.text("SELECT count(*) FROM approved_answers")) == 2
        # Up again: the existing suggestions have no record (None: the console retrieves).
        upgrade(url)
        assert "related_used" in _columns(engine)
        with Session(engine) as session:
            for sid in ids:
                old = session.get(Suggestion, sid)
                assert old is not None and old.related_used is None
            new = _suggestion(session, 3)
            new.related_used = used
            session.commit()
            session.expire_all()
            assert session.get(Suggestion, new.id).related_used == used  # type: ignore[union-attr]
    finally:
        engine.dispose()


# --- the console shows what the draft used ---------------------------------------------------


def related_items(page: str) -> list[tuple[str, str]]:
    """(message id, score shown) of each related prior message on a conversation page."""
    section = re.search(r'<section class="card" id="related".*?</section>', page, flags=re.S)
    assert section, "the page has its related-messages card"
    return re.findall(
        r'<li class="related-item[^"]*" data-id="([^"]+)">.*?score ([\d.]+)',
        section.group(0),
        flags=re.S,
    )


def related_source(page: str) -> str:
    found = re.search(r'id="related" data-source="(\w+)"', page)
    assert found
    return found.group(1)


def set_related_used(console: Console, sid: str, used: list[dict[str, Any]] | None) -> None:
    with console.container.session() as session:
        suggestion = session.get(Suggestion, sid)
        assert suggestion is not None
        suggestion.related_used = used
        session.commit()


def test_console_shows_the_related_messages_the_draft_used(console: Console) -> None:
    with console.api() as api:
        items = api.get("/v1/suggestions", params={"limit": 200}).json()["items"]
        # The draft step recorded what it put in every context of the demo's drafts.
        assert all(s["related_used"] is not None for s in items)
        with_related = [s for s in items if len(s["related_used"]) >= 2]
        assert with_related, "some demo customers wrote before"
        chosen = with_related[0]
        sid, stored = chosen["id"], chosen["related_used"]
        timeline = api.get(f"/v1/customers/{chosen['customer_id']}/timeline").json()["items"]
        message = api.get(f"/v1/messages/{chosen['message_id']}").json()
        retrieved = api.get(f"/v1/messages/{chosen['message_id']}/related").json()["items"]
    sent = datetime.fromisoformat(message["sent_at"])
    earlier = {
        i["id"]
        for i in timeline
        if i["type"] == "message" and datetime.fromisoformat(i["at"]) <= sent
    } - {message["id"]}
    assert {r["message_id"] for r in stored} <= earlier
    assert [r["score"] for r in stored] == sorted((r["score"] for r in stored), reverse=True)

    cookies = {COOKIE: console.sign_in("agent")}
    with httpx.Client(base_url=console.url, timeout=60, cookies=cookies) as client:

        def shown() -> tuple[str, list[tuple[str, str]], str]:
            response = client.get(f"/console/suggestions/{sid}")
            assert response.status_code == 200
            return related_source(response.text), related_items(response.text), response.text

        source, items_shown, _ = shown()
        assert source == "stored"
        assert items_shown == [(r["message_id"], f"{r['score']:.2f}") for r in stored]
        try:
            # The page shows the stored set, not a new retrieval: another order, other scores,
            # a message that no longer exists left out.
            tampered = [
                {"message_id": stored[-1]["message_id"], "score": 0.1234},
                {"message_id": "gone-message-id", "score": 0.9},
                {"message_id": stored[0]["message_id"], "score": 0.0567},
            ]
            set_related_used(console, sid, tampered)
            source, items_shown, _ = shown()
            assert source == "stored"
            assert items_shown == [
                (stored[-1]["message_id"], "0.12"),
                (stored[0]["message_id"], "0.06"),
            ]
            with console.api() as api:
                out = api.get(f"/v1/suggestions/{sid}").json()
            assert out["related_used"] == tampered
            # The draft used none: none shown, though a retrieval would find some.
            set_related_used(console, sid, [])
            source, items_shown, page = shown()
            assert source == "stored" and items_shown == []
            assert "The draft used no earlier messages" in html.unescape(page)
            # A suggestion from before the record: the console retrieves them again.
            set_related_used(console, sid, None)
            source, items_shown, page = shown()
            assert source == "retrieved"
            assert "did not record" in page
            assert items_shown == [(r["message_id"], f"{r['score']:.2f}") for r in retrieved]
        finally:
            set_related_used(console, sid, stored)
