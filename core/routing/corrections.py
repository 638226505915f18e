"""Agents' corrections: re-route a message, keep the audit trail, feed training."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.conversations.models import Message
from core.errors import InvalidInput, NotFound
from core.identity.models import CustomerEvent
from core.routing.config import RoutingConfig
from core.routing.models import Correction
from core.routing.schemas import RerouteIn
from core.suggestions.models import Suggestion


def reroute(
    session: Session,
    config: RoutingConfig,
    message_id: str,
    body: RerouteIn,
    actor: str,
    now: datetime,
) -> Message:
    """Move a message to another team (and intent); recorded on the customer's timeline."""
    message = session.get(Message, message_id)
    if message is None:
        raise NotFound(f"message {message_id} does not exist", field="message_id")
    if body.team not in config.teams:
        known = ", ".join(sorted(config.teams))
        raise InvalidInput(f"unknown team {body.team!r}; teams: {known}", field="team")
    correction = Correction(
        message_id=message.id,
        from_team=message.team,
        to_team=body.team,
        from_intent=message.intent,
        to_intent=body.intent,
        reason=body.reason,
        actor=actor,
        created_at=now,
    )
    session.add(correction)
    session.add(
        CustomerEvent(
            customer_id=message.customer_id,
            kind="rerouted",
            data={
                "message_id": message.id,
                "from_team": message.team,
                "to_team": body.team,
                "from_intent": message.intent,
                "to_intent": body.intent,
                "reason": body.reason,
            },
            actor=actor,
            created_at=now,
        )
    )
    message.team = body.team
    if body.intent:
        message.intent = body.intent
    # A pending suggested reply follows its message into the new team's queue.
    pending = session.scalar(
        select(Suggestion).where(
            Suggestion.message_id == message.id, Suggestion.status == "pending"
        )
    )
    if pending is not None:
        pending.team = body.team
        pending.intent = body.intent or pending.intent
    session.flush()
    return message


def training_examples(session: Session) -> list[tuple[str, str]]:
    """(text, intent) of every correction that names an intent; the latest per message wins."""
    rows = session.execute(
        select(Message.id, Message.clean_text, Message.text, Correction.to_intent)
        .join(Correction, Correction.message_id == Message.id)
        .where(Correction.to_intent.is_not(None))
        .order_by(Correction.created_at)
    )
    latest: dict[str, tuple[str, str]] = {}
    for message_id, clean, text, intent in rows:
        latest[message_id] = (clean or text, intent)
    return list(latest.values())
