"""`/v1/route`: triage without storing, with the sender's history and KB context."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.conversations.models import Message
from core.conversations.repository import ConversationRepository
from core.conversations.schemas import RelatedMessage
from core.errors import InvalidInput, PayloadTooLarge
from core.identity.models import Customer
from core.identity.service import IdentityService, sender_identifiers
from core.knowledge.schemas import SearchIn
from core.knowledge.search import KnowledgeSearch
from core.ports import Embedder
from core.retrieval.history import HistoryIndex, embedding_text
from core.retrieval.related import related_from_hits
from core.routing.schemas import RouteIn, RouteOut
from core.routing.triage import Triager, customer_facts

CONTEXT_K = 3


def _known_customer(session: Session, item: RouteIn, region: str) -> Customer | None:
    if item.sender is None:
        return None
    identity = IdentityService(session, region)
    for ident in sender_identifiers(item.sender.model_dump(), item.channel, region):
        customer = identity.repo.find_customer(ident)
        if customer is not None:
            return customer
    return None


def _recent_contacts(session: Session, customer_id: str, now: datetime) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Message)
            .where(Message.customer_id == customer_id, Message.sent_at >= now - timedelta(hours=24))
        )
        or 0
    )


def route(
    session: Session,
    items: Sequence[RouteIn],
    *,
    triager: Triager,
    embedder: Embedder,
    history: HistoryIndex,
    kb: KnowledgeSearch,
    region: str,
    max_text_bytes: int,
    now: datetime,
) -> list[RouteOut]:
    """Triage each item (one embedding call for the batch); nothing is stored. With a
    `sender`, the known customer, related history and KB hits come with the triage."""
    for n, item in enumerate(items):
        size = len(item.text.encode("utf-8"))
        if size > max_text_bytes:
            field = "text" if len(items) == 1 else f"items.{n}.text"
            raise PayloadTooLarge(
                f"text is {size} bytes; the limit is {max_text_bytes}", field=field
            )
    try:
        customers = [_known_customer(session, item, region) for item in items]
    except InvalidInput:
        raise
    vectors = embedder.embed([embedding_text(i.subject, i.text) for i in items])
    decisions = triager.triage(
        [i.text for i in items],
        vectors,
        [i.channel for i in items],
        [customer_facts(c) for c in customers],
        [_recent_contacts(session, c.id, now) if c else 0 for c in customers],
    )
    repo = ConversationRepository(session)
    out = []
    for item, vector, decision, customer in zip(items, vectors, decisions, customers, strict=True):
        related: list[RelatedMessage] = []
        if customer is not None:
            hits = history.related(customer.id, vector, CONTEXT_K)
            related = related_from_hits(repo, hits, customer.id)
        # Context (history, KB) only when the caller names the sender: the plain routing
        # question stays as fast as one embedding.
        hits_kb = (
            kb.search(SearchIn(query=item.text[:2000], k=CONTEXT_K), vector=vector).hits
            if item.sender is not None
            else []
        )
        out.append(
            RouteOut(
                **decision.model_dump(),
                customer_id=customer.id if customer else None,
                related=related,
                kb=hits_kb,
            )
        )
    return out
