"""Concurrent ingests of the same message or the same new customer never duplicate anything."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from adapters.container import Container
from core.conversations.models import Message
from core.conversations.schemas import MessageIn
from core.conversations.service import ConversationService
from core.identity.models import Customer


def _ingest(container: Container, body: dict[str, object]) -> tuple[str, bool]:
    with container.session() as session:
        service = ConversationService(session, container.threading_policy)
        result = service.ingest(MessageIn.model_validate(body), container.clock.now())
        session.commit()
        return result.message.id, result.duplicate


def test_same_external_id_at_once_is_stored_once(container: Container) -> None:
    body = {
        "channel": "sms",
        "external_id": "SM1",
        "sender": {"phone": "+14155550111"},
        "text": "x",
    }
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: _ingest(container, body), range(8)))
    assert len({message_id for message_id, _ in results}) == 1
    assert sum(1 for _, duplicate in results if not duplicate) == 1
    with container.session(write=False) as session:
        assert session.scalar(select(func.count()).select_from(Message)) == 1


def test_same_new_sender_at_once_is_one_customer(container: Container) -> None:
    def body(i: int) -> dict[str, object]:
        return {
            "channel": "email",
            "external_id": f"m{i}",
            "sender": {"email": "new@example.com"},
            "text": f"message {i}",
        }

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: _ingest(container, body(i)), range(8)))
    assert len({message_id for message_id, _ in results}) == 8
    with container.session(write=False) as session:
        assert session.scalar(select(func.count()).select_from(Customer)) == 1
        conversations = session.scalars(select(Message.conversation_id).distinct()).all()
        assert len(conversations) == 1
