"""A customer's timeline: every message of every channel plus identity events."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from core.conversations.repository import ConversationRepository
from core.identity.repository import IdentityRepository
from core.identity.schemas import Timeline, TimelineItem
from core.identity.service import IdentityService


def customer_timeline(
    session: Session, region: str, customer_id: str, before: datetime | None, limit: int
) -> Timeline:
    """Newest first; page with `before` = the previous page's `next_before`."""
    customer = IdentityService(session, region).get(customer_id)
    messages = ConversationRepository(session).timeline_messages(customer.id, before, limit)
    events = IdentityRepository(session).events(customer.id, before, limit)
    items = [
        TimelineItem(
            type="message",
            id=m.id,
            at=m.sent_at,
            channel=m.channel,
            direction=m.direction,
            conversation_id=m.conversation_id,
            reference=m.conversation.reference,
            subject=m.subject,
            text=m.text,
            status=m.status,
            intent=m.intent,
            team=m.team,
            priority=m.priority,
        )
        for m in messages
    ] + [
        TimelineItem(type="event", id=e.id, at=e.created_at, kind=e.kind, data=e.data)
        for e in events
    ]
    items.sort(key=lambda i: (i.at, i.id), reverse=True)
    page = items[:limit]
    next_before = page[-1].at if len(items) > limit or len(page) == limit else None
    return Timeline(customer_id=customer.id, items=page, next_before=next_before)
