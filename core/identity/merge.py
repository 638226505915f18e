"""Merging two customers: everything of the other moves, an audit event stays."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from core.conversations.repository import ConversationRepository
from core.errors import Conflict
from core.identity.models import Customer, CustomerEvent
from core.identity.repository import IdentityRepository
from core.identity.service import IdentityService
from core.retrieval.history import HistoryIndex
from core.suggestions.models import Suggestion


def merge_customers(
    session: Session,
    history: HistoryIndex,
    region: str,
    target_id: str,
    other_id: str,
    actor: str,
    now: datetime,
) -> Customer:
    """Fold `other_id` into `target_id`: identities, conversations, messages, suggestions, events.

    The other customer remains as a tombstone pointing at the target (`merged_into_id`).
    """
    identity = IdentityService(session, region)
    target, other = identity.get(target_id), identity.get(other_id)
    if target.id == other.id:
        raise Conflict("a customer cannot be merged into itself", field="other_id")
    for c in (target, other):
        if c.merged_into_id is not None:
            raise Conflict(
                f"customer {c.id} was already merged into {c.merged_into_id}", field="other_id"
            )
    repo = IdentityRepository(session)
    conversations = ConversationRepository(session)
    moved_messages = conversations.message_ids_of_customer(other.id)
    summary = {
        "identities": [f"{i.kind}:{i.value}" for i in other.identities],
        "messages": len(moved_messages),
    }
    repo.move_owned_rows(other.id, target.id)
    conversations.move_customer(other.id, target.id)
    session.execute(
        update(Suggestion).where(Suggestion.customer_id == other.id).values(customer_id=target.id)
    )
    for suggestion in identity.merge_suggestions(target.id):
        if other.id in (suggestion.customer_id, suggestion.other_customer_id):
            suggestion.status = "merged"
    target.name = target.name or other.name
    if target.account_id is None:
        target.account_id = other.account_id
    target.attributes = {**other.attributes, **target.attributes}
    target.updated_at = now
    other.merged_into_id = target.id
    other.updated_at = now
    repo.add_event(
        CustomerEvent(
            customer_id=target.id,
            kind="merged",
            data={"merged_customer_id": other.id, **summary},
            actor=actor,
            created_at=now,
        )
    )
    repo.add_event(
        CustomerEvent(
            customer_id=other.id,
            kind="merged_into",
            data={"target_customer_id": target.id, **summary},
            actor=actor,
            created_at=now,
        )
    )
    session.flush()
    session.expire_all()
    history.reassign_customer(moved_messages, target.id)
    return identity.get(target.id)
