"""Related prior messages of the same customer, joined with what the database knows."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from core.conversations.repository import ConversationRepository
from core.conversations.schemas import RelatedMessage
from core.errors import NotFound
from core.ports import VectorHit
from core.retrieval.history import HistoryIndex, embedding_text


def related_messages(
    session: Session, history: HistoryIndex, message_id: str, k: int
) -> list[RelatedMessage]:
    """Top-k earlier messages of the message's customer, any channel, excluding itself."""
    repo = ConversationRepository(session)
    message = repo.get_message(message_id)
    if message is None:
        raise NotFound(f"message {message_id} does not exist", field="message_id")
    query = embedding_text(message.subject, message.clean_text or message.text)
    hits = history.related(
        message.customer_id, query, k, before=message.sent_at, exclude_ids=[message.id]
    )
    return related_from_hits(repo, hits, message.customer_id)


def related_from_hits(
    repo: ConversationRepository, hits: Sequence[VectorHit], customer_id: str
) -> list[RelatedMessage]:
    """History-index hits joined with their messages; the database decides what still exists
    and still belongs to the customer (after a merge, for instance)."""
    found = {m.id: m for m in repo.messages_by_ids([h.id for h in hits])}
    return [
        RelatedMessage(
            message_id=m.id,
            conversation_id=m.conversation_id,
            reference=m.conversation.reference,
            channel=m.channel,
            sent_at=m.sent_at,
            text=m.clean_text or m.text,
            score=round(h.score, 4),
        )
        for h in hits
        if (m := found.get(h.id)) is not None and m.customer_id == customer_id
    ]
