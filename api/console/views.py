"""What the console pages show, read through the existing services (no queries of its own)."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy.orm import Session

from adapters.container import Container
from api.routes.customers import customer_out
from core.conversations.models import Message
from core.conversations.schemas import RelatedMessage
from core.conversations.service import ConversationService
from core.identity.models import Customer
from core.identity.schemas import CustomerOut, TimelineItem
from core.identity.service import IdentityService
from core.identity.timeline import customer_timeline
from core.knowledge.repository import KnowledgeRepository
from core.retrieval.related import related_messages
from core.suggestions.models import Suggestion
from core.suggestions.service import SuggestionService, related_used_messages

log = logging.getLogger(__name__)

CHANNELS = (
    "email",
    "chat",
    "sms",
    "whatsapp",
    "facebook",
    "instagram",
    "twitter",
    "phone",
    "web_form",
)
PRIORITIES = ("urgent", "high", "normal", "low")
QUEUE_LIMIT = 100
TIMELINE_LIMIT = 200
# Shown on the message itself (every inbound message gets a draft): not repeated as events.
QUIET_EVENTS = frozenset({"suggestion.created"})


Scope = Literal["mine", "all", "picked"]


@dataclass(frozen=True)
class Filters:
    """The queue's filters (each empty: any).

    `scope` says where the teams came from: `mine` (the signed-in key's teams, the default
    for a key that belongs to teams), `all` (the agent asked for every team) or `picked`
    (teams chosen in the form, or a key without teams).
    """

    teams: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    priorities: tuple[str, ...] = ()
    scope: Scope = "picked"

    def query(self) -> list[tuple[str, str]]:
        """As query-string pairs, for links that keep the filters."""
        if self.scope == "mine":  # the default: links stay short and keep following the key
            teams: list[tuple[str, str]] = []
        elif self.scope == "all":
            teams = [("scope", "all")]
        else:
            teams = [("team", t) for t in self.teams]
        return (
            teams
            + [("channel", c) for c in self.channels]
            + [("priority", p) for p in self.priorities]
        )

    @property
    def any(self) -> bool:
        """Whether any filter narrows the queue."""
        return bool(self.teams or self.channels or self.priorities)


@dataclass(frozen=True)
class QueueRow:
    """One pending suggestion as the queue lists it."""

    id: str
    channel: str
    customer_name: str
    intent: str | None
    team: str | None
    priority: str | None
    confidence: float | None
    age: str
    waiting_since: datetime
    needs_human: bool


@dataclass
class Detail:
    """Everything the conversation page shows for one suggestion."""

    suggestion: Suggestion
    message: Message
    customer: CustomerOut
    timeline: list[TimelineItem]
    triage: dict[str, Any] | None
    citations: list[dict[str, Any]]
    related: list[RelatedMessage]
    related_error: str | None
    # "stored": the messages the draft step used; "retrieved": found again now (a suggestion
    # drafted before the draft step recorded them)
    related_source: Literal["stored", "retrieved"] = "stored"
    teams: dict[str, list[str]] = field(default_factory=dict)


def aware(at: datetime) -> datetime:
    """Datetimes from SQLite come back naive; they are UTC."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def age(at: datetime, now: datetime) -> str:
    """A short waiting time: 45s, 12m, 3h, 2d."""
    seconds = max(0, int((aware(now) - aware(at)).total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def intent_confidence(triage: dict[str, Any] | None) -> float | None:
    """The intent confidence of a stored triage, if any."""
    intent = (triage or {}).get("intent")
    value = intent.get("confidence") if isinstance(intent, dict) else None
    return float(value) if isinstance(value, int | float) else None


def queue(session: Session, filters: Filters, now: datetime) -> tuple[list[QueueRow], int]:
    """Pending suggestions, urgent first then longest-waiting (SuggestionService.queue)."""
    rows, total = SuggestionService(session).queue(
        "pending", filters.teams, filters.channels, filters.priorities, QUEUE_LIMIT, 0
    )
    out: list[QueueRow] = []
    for s in rows:
        customer = session.get(Customer, s.customer_id)
        message = session.get(Message, s.message_id)
        waiting = message.sent_at if message is not None else s.created_at
        out.append(
            QueueRow(
                id=s.id,
                channel=s.channel,
                customer_name=(customer.name if customer and customer.name else "Unknown"),
                intent=s.intent,
                team=s.team,
                priority=s.priority,
                confidence=intent_confidence(message.triage if message else None),
                age=age(waiting, now),
                waiting_since=aware(waiting),
                needs_human=s.needs_human,
            )
        )
    return out, total


def queue_version(rows: list[QueueRow], total: int) -> str:
    """Changes when the queue's content does (the page polls and swaps only then)."""
    digest = hashlib.sha256(str(total).encode())
    for row in rows:
        digest.update(f"|{row.id}:{row.team}:{row.intent}:{row.priority}".encode())
    return digest.hexdigest()[:16]


def next_pending(session: Session, filters: Filters, after: str | None) -> str | None:
    """The first pending suggestion of the (filtered) queue other than `after`."""
    rows, _ = SuggestionService(session).queue(
        "pending", filters.teams, filters.channels, filters.priorities, 2, 0
    )
    for s in rows:
        if s.id != after:
            return s.id
    return None


def detail(session: Session, container: Container, suggestion_id: str) -> Detail:
    """One suggestion with its customer, timeline, triage, citations and related messages."""
    suggestion = SuggestionService(session).get(suggestion_id)
    message = ConversationService(session, container.threading_policy).get_message(
        suggestion.message_id
    )
    region = container.settings.default_phone_region
    identity = IdentityService(session, region)
    customer = customer_out(identity, identity.get(suggestion.customer_id))
    timeline = customer_timeline(session, region, suggestion.customer_id, None, TIMELINE_LIMIT)
    chunks = KnowledgeRepository(session).chunks_with_documents(list(suggestion.cited_chunks))
    citations: list[dict[str, Any]] = []
    for number, chunk_id in enumerate(suggestion.cited_chunks, start=1):
        chunk = chunks.get(chunk_id)
        citations.append(
            {
                "number": number,
                "id": chunk_id,
                "title": chunk.document.title if chunk else None,
                "heading": " › ".join(chunk.heading_path) if chunk else "",
                "text": chunk.text if chunk else None,
                "chunk_version": chunk.version if chunk else None,
                "document_version": chunk.document.version if chunk else None,
                "url": chunk.document.url if chunk else None,
            }
        )
    related_error: str | None = None
    stored = related_used_messages(session, suggestion)
    related: list[RelatedMessage] = stored or []
    if stored is None:  # drafted before the draft step recorded what it used: retrieve again
        try:
            related = related_messages(
                session, container.history, message.id, container.settings.related_k
            )
        except Exception as exc:  # the page still works when the vector store is unreachable
            log.warning("related messages unavailable: %s", exc)
            related_error = "related messages are unavailable right now"
    teams = {
        name: sorted(cfg.intents) for name, cfg in sorted(container.routing_config.teams.items())
    }
    return Detail(
        suggestion=suggestion,
        message=message,
        customer=customer,
        timeline=[i for i in timeline.items if i.kind not in QUIET_EVENTS],
        triage=message.triage,
        citations=citations,
        related=related,
        related_error=related_error,
        related_source="retrieved" if stored is None else "stored",
        teams=teams,
    )
