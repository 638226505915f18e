"""Builds the `DraftContext` of processed messages: profile, conversation, prior contacts on
any channel (history index: the customer's messages and the replies agents accepted or edited,
marked `direction="outbound"`), customer-facing KB passages, approved answers, triage."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.conversations.models import Message
from core.conversations.repository import ConversationRepository
from core.drafting.context import (
    CustomerProfile,
    DraftContext,
    Passage,
    PriorContact,
    Turn,
)
from core.identity.models import Customer
from core.knowledge.schemas import SearchFilters, SearchIn
from core.knowledge.search import KnowledgeSearch
from core.processing.pipeline import WorkItem
from core.retrieval.history import HistoryIndex
from core.retrieval.related import related_from_hits
from core.suggestions.service import approved_answers

CONVERSATION_TURNS = 10
KB_QUERY_CHARS = 2000


@dataclass(frozen=True)
class ContextSources:
    """Where context comes from, and the fixed parts of every reply."""

    history: HistoryIndex
    related_k: int
    kb_k: int
    company_name: str
    agent_name: str


def customer_profile(customer: Customer) -> CustomerProfile:
    attributes: Mapping[str, Any] = customer.attributes or {}
    account = customer.account
    account_attributes: Mapping[str, Any] = account.attributes if account is not None else {}
    declined = attributes.get("declined_offers") or []
    manager = account_attributes.get("account_manager") or attributes.get("account_manager")
    return CustomerProfile(
        id=customer.id,
        name=customer.name,
        account_name=account.name if account is not None else None,
        account_manager=str(manager) if manager else None,
        vip=bool(attributes.get("vip", False)),
        declined_offers=tuple(sorted(str(d) for d in declined if d)),
        attributes={k: v for k, v in attributes.items() if k not in ("vip", "declined_offers")},
    )


def _turns(session: Session, item: WorkItem) -> tuple[Turn, ...]:
    rows = session.scalars(
        select(Message)
        .where(
            Message.conversation_id == item.conversation_id,
            Message.id != item.message_id,
            Message.sent_at <= item.sent_at,
        )
        .order_by(Message.sent_at.desc(), Message.id.desc())
        .limit(CONVERSATION_TURNS)
    )
    turns = [
        Turn(
            message_id=m.id,
            direction="outbound" if m.direction == "outbound" else "inbound",
            channel=m.channel,
            text=m.clean_text or m.text,
            sent_at=m.sent_at,
        )
        for m in rows
    ]
    return tuple(reversed(turns))


def related_used(context: DraftContext) -> list[dict[str, Any]]:
    """The related prior messages `context` holds, as stored on the suggestion (best first)."""
    return [{"message_id": p.message_id, "score": p.score} for p in context.prior_contacts]


def build_context(
    session: Session,
    kb: KnowledgeSearch,
    sources: ContextSources,
    item: WorkItem,
    now: datetime,
) -> DraftContext:
    """Everything a drafter may use for `item` (a triaged, embedded message)."""
    customer = session.get(Customer, item.customer_id)
    if customer is None:  # merged away between claim and draft: the message moved with it
        raise LookupError(f"customer {item.customer_id} of message {item.message_id} is gone")
    raw_triage = item.results.get("triage")
    triage: dict[str, Any] = dict(raw_triage) if isinstance(raw_triage, dict) else {}
    text = item.clean_text or item.text
    vector = item.vector
    prior: tuple[PriorContact, ...] = ()
    if vector is not None and sources.related_k > 0:
        hits = sources.history.related(
            item.customer_id,
            vector,
            sources.related_k,
            before=item.sent_at,
            exclude_ids=[item.message_id],
        )
        related = related_from_hits(ConversationRepository(session), hits, item.customer_id)
        # the history holds the customer's messages and the replies agents approved
        outbound = (
            set(
                session.scalars(
                    select(Message.id).where(
                        Message.id.in_([r.message_id for r in related]),
                        Message.direction == "outbound",
                    )
                )
            )
            if related
            else set()
        )
        prior = tuple(
            PriorContact(
                message_id=r.message_id,
                channel=r.channel,
                sent_at=r.sent_at,
                text=r.text,
                reference=r.reference,
                score=r.score,
                same_conversation=r.conversation_id == item.conversation_id,
                direction="outbound" if r.message_id in outbound else "inbound",
            )
            for r in related
        )
    query = " ".join(p for p in (item.subject, text) if p)[:KB_QUERY_CHARS]
    found = kb.search(
        SearchIn(query=query, k=sources.kb_k, filters=SearchFilters(audience="public")),
        vector=vector,
    )
    passages = tuple(
        Passage(
            chunk_id=h.chunk_id,
            document_id=h.document_id,
            title=h.title,
            text=h.text,
            url=h.url,
            kb_version=h.kb_version,
            score=h.dense_score or 0.0,
            heading=" > ".join(h.heading_path),
        )
        for h in found.hits
    )
    intent = (triage.get("intent") or {}).get("label")
    return DraftContext(
        message_id=item.message_id,
        channel=item.channel,
        subject=item.subject,
        text=text,
        sent_at=item.sent_at,
        reference=item.reference,
        now=now,
        customer=customer_profile(customer),
        triage=triage,
        conversation=_turns(session, item),
        prior_contacts=prior,
        passages=passages,
        approved=tuple(approved_answers(session, intent, vector)),
        kb_version=found.kb_version,
        agent_name=sources.agent_name,
        company_name=sources.company_name,
        metadata=dict(item.metadata),
    )
