"""The `classify` pipeline step: every processed message gets the triage /v1/route gives."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from core.conversations.models import Message
from core.identity.models import Customer
from core.processing.pipeline import WorkItem
from core.routing.triage import Triager, customer_facts

REPEAT_WINDOW = timedelta(hours=24)


def load_context(
    session: Session, items: list[WorkItem]
) -> tuple[dict[str, Mapping[str, Any]], dict[str, int]]:
    """Customer facts by customer id, and earlier contacts within 24 h by message id."""
    ids = list({i.customer_id for i in items})
    customers: dict[str, Mapping[str, Any]] = {
        c.id: customer_facts(c)
        for c in session.scalars(select(Customer).where(Customer.id.in_(ids)))
    }
    repeats = {
        i.message_id: int(
            session.scalar(
                select(func.count())
                .select_from(Message)
                .where(
                    Message.customer_id == i.customer_id,
                    Message.id != i.message_id,
                    Message.sent_at < i.sent_at,
                    Message.sent_at >= i.sent_at - REPEAT_WINDOW,
                )
            )
            or 0
        )
        for i in items
    }
    return customers, repeats


class ClassifyStep:
    """Triage every item with the process's current model; the result is stored on finish."""

    name = "classify"

    def __init__(
        self, triager: Callable[[], Triager], read_sessions: sessionmaker[Session]
    ) -> None:
        self.triager = triager
        self.read_sessions = read_sessions

    def run(self, items: list[WorkItem]) -> None:
        items = [i for i in items if i.direction == "inbound"]  # agents' replies need no triage
        if not items:
            return
        with self.read_sessions() as session:
            customers, repeats = load_context(session, items)
        decisions = self.triager().triage(
            [i.clean_text or i.text for i in items],
            [i.vector or [] for i in items],
            [i.channel for i in items],
            [customers.get(i.customer_id, {}) for i in items],
            [repeats.get(i.message_id, 0) for i in items],
        )
        for item, decision in zip(items, decisions, strict=True):
            item.results["triage"] = decision.model_dump(mode="json")
