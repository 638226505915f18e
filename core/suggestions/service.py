"""The approval workflow: suggestions are recorded by the pipeline, decided by agents.

Accept and edit put the final reply into the customer's history as an outbound message
(processed like any message, so the next draft on any channel knows it) and keep it as an
approved answer for the same question later. Every decision is a timeline event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from core.conversations.models import Message
from core.conversations.repository import ConversationRepository
from core.conversations.schemas import RelatedMessage
from core.drafting.context import ApprovedAnswer as ApprovedContext
from core.drafting.context import Draft
from core.errors import Conflict, NotFound
from core.identity.models import Customer, CustomerEvent
from core.ports import VectorHit
from core.retrieval.related import related_from_hits
from core.suggestions.models import ApprovedAnswer, Suggestion
from core.suggestions.rules import Action, answer_part, edit_distance, next_status
from core.suggestions.schemas import StatsOut, StatsRow, SuggestionOut

PRIORITY_ORDER = {"urgent": 0, "high": 1, "normal": 2, "low": 3}
APPROVED_SCAN_LIMIT = 500  # newest approved answers per intent compared with a question


def suggestion_out(s: Suggestion) -> SuggestionOut:
    return SuggestionOut.model_validate(s, from_attributes=True)


def record_draft(
    session: Session,
    message: Message,
    draft: Draft,
    question_vector: Sequence[float] | None,
    now: datetime,
) -> Suggestion:
    """Store the draft of `message`; a second draft of the same message changes nothing."""
    existing = session.scalar(select(Suggestion).where(Suggestion.message_id == message.id))
    if existing is not None:
        return existing
    suggestion = Suggestion(
        message_id=message.id,
        customer_id=message.customer_id,
        conversation_id=message.conversation_id,
        channel=message.channel,
        team=message.team,
        intent=message.intent,
        priority=message.priority,
        status="pending",
        draft_text=draft.text,
        drafter=draft.drafter,
        prompt_id=draft.prompt_id,
        prompt_version=draft.prompt_version,
        model=draft.model,
        kb_version=draft.kb_version,
        cited_chunks=list(draft.cited_chunks),
        facts_used=list(draft.facts_used),
        flags=list(draft.flags),
        needs_human=draft.needs_human,
        fallback_reason=draft.fallback_reason,
        approved_answer_id=draft.approved_answer_id,
        acknowledged_message_id=draft.acknowledged_message_id,
        related_used=(
            [dict(r) for r in draft.related_used] if draft.related_used is not None else None
        ),
        question_vector=[float(v) for v in question_vector] if question_vector else None,
        created_at=now,
    )
    session.add(suggestion)
    session.add(
        CustomerEvent(
            customer_id=message.customer_id,
            kind="suggestion.created",
            data={"suggestion_id": suggestion.id, "message_id": message.id},
            actor=f"drafter:{draft.drafter}",
            created_at=now,
        )
    )
    return suggestion


def related_used_messages(session: Session, suggestion: Suggestion) -> list[RelatedMessage] | None:
    """The related prior messages the draft step put in the suggestion's context, in its order
    and with the scores it had; None when the suggestion predates that record. A message that
    no longer exists is left out."""
    if suggestion.related_used is None:
        return None
    used = [
        (str(r["message_id"]), float(r.get("score") or 0.0))
        for r in suggestion.related_used
        if isinstance(r, dict) and r.get("message_id")
    ]
    hits = [VectorHit(id=i, score=score, document="", metadata={}) for i, score in used]
    return related_from_hits(ConversationRepository(session), hits, suggestion.customer_id)


def approved_answers(
    session: Session, intent: str | None, vector: Sequence[float] | None, k: int = 3
) -> list[ApprovedContext]:
    """The approved answers closest to a question (same intent only), best first."""
    if not vector:
        return []
    rows = list(
        session.scalars(
            select(ApprovedAnswer)
            .where(
                ApprovedAnswer.intent.is_(None)
                if intent is None
                else ApprovedAnswer.intent == intent
            )
            .order_by(ApprovedAnswer.created_at.desc())
            .limit(APPROVED_SCAN_LIMIT)
        )
    )
    if not rows:
        return []
    matrix = np.asarray([r.question_vector for r in rows], dtype=np.float64)
    query = np.asarray(vector, dtype=np.float64)
    norms = np.linalg.norm(matrix, axis=1) * (np.linalg.norm(query) or 1.0)
    sims = matrix @ query / np.where(norms > 0, norms, 1.0)
    order = sorted(range(len(rows)), key=lambda i: (-sims[i], rows[i].id))[:k]
    return [
        ApprovedContext(
            id=rows[i].id,
            question=rows[i].question,
            text=rows[i].text,
            chunk_ids=tuple(rows[i].chunk_ids),
            intent=rows[i].intent,
            similarity=round(float(sims[i]), 4),
        )
        for i in order
    ]


class SuggestionService:
    """Agents' decisions on suggestions. Never commits (the request does)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, suggestion_id: str) -> Suggestion:
        suggestion = self.session.get(Suggestion, suggestion_id)
        if suggestion is None:
            raise NotFound(f"suggestion {suggestion_id} does not exist", field="suggestion_id")
        return suggestion

    def for_message(self, message_id: str) -> Suggestion | None:
        return self.session.scalar(select(Suggestion).where(Suggestion.message_id == message_id))

    def queue(
        self,
        status: str | None,
        team: Sequence[str] = (),
        channel: Sequence[str] = (),
        priority: Sequence[str] = (),
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[Suggestion], int]:
        """Suggestions by priority (urgent first), then the longest-waiting first (by when the
        customer sent the message, not when its draft was made)."""
        query = select(Suggestion)
        if status:
            query = query.where(Suggestion.status == status)
        if team:
            query = query.where(Suggestion.team.in_(list(team)))
        if channel:
            query = query.where(Suggestion.channel.in_(list(channel)))
        if priority:
            query = query.where(Suggestion.priority.in_(list(priority)))
        total = int(self.session.scalar(select(func.count()).select_from(query.subquery())) or 0)
        rank = case(PRIORITY_ORDER, value=Suggestion.priority, else_=len(PRIORITY_ORDER))
        rows = self.session.scalars(
            query.join(Message, Message.id == Suggestion.message_id)
            .order_by(rank, Message.sent_at, Suggestion.id)
            .limit(limit)
            .offset(offset)
        )
        return list(rows), total

    def _decide(self, suggestion_id: str, action: Action) -> tuple[Suggestion, str]:
        suggestion = self.get(suggestion_id)
        status = next_status(suggestion.status, action)
        if status is None:
            raise Conflict(
                f"suggestion {suggestion_id} is already {suggestion.status}; only a pending "
                f"suggestion can be {'edited' if action == 'edit' else action + 'ed'}",
                code="invalid_transition",
            )
        return suggestion, status

    def accept(self, suggestion_id: str, actor: str, now: datetime) -> Suggestion:
        """Send the draft as it is."""
        suggestion, status = self._decide(suggestion_id, "accept")
        return self._approve(suggestion, status, suggestion.draft_text, actor, now)

    def edit(
        self,
        suggestion_id: str,
        text: str,
        actor: str,
        now: datetime,
        offers: Mapping[str, Sequence[str]] | None = None,
    ) -> Suggestion:
        """Send the agent's text instead of the draft (accepted as edited).

        An offer the draft mentioned and the agent removed counts as declined by the
        customer (`offers`: offer key → phrases): no later draft offers it again.
        """
        suggestion, status = self._decide(suggestion_id, "edit")
        final = text.strip()
        removed = removed_offers(suggestion.draft_text, final, offers or {})
        if removed:
            self._decline(suggestion, removed, actor, now)
        return self._approve(suggestion, status, final, actor, now)

    def _decline(self, s: Suggestion, offers: list[str], actor: str, now: datetime) -> None:
        customer = self.session.get(Customer, s.customer_id)
        if customer is None:
            return
        attributes = dict(customer.attributes or {})
        declined = set(attributes.get("declined_offers") or [])
        new = [o for o in offers if o not in declined]
        if not new:
            return
        attributes["declined_offers"] = sorted(declined | set(new))
        customer.attributes = attributes  # reassigned so that the JSON change is saved
        self._event(s, "offer.declined", actor, now, {"offers": new, "source": "agent_edit"})

    def reject(self, suggestion_id: str, reason: str, actor: str, now: datetime) -> Suggestion:
        suggestion, status = self._decide(suggestion_id, "reject")
        suggestion.status = status
        suggestion.reject_reason = reason.strip()
        suggestion.decided_by = actor
        suggestion.decided_at = now
        self._event(suggestion, "suggestion.rejected", actor, now, {"reason": reason.strip()})
        self.session.flush()
        return suggestion

    def _approve(
        self, suggestion: Suggestion, status: str, final: str, actor: str, now: datetime
    ) -> Suggestion:
        inbound = self.session.get(Message, suggestion.message_id)
        assert inbound is not None  # a suggestion's message is never deleted
        suggestion.status = status
        suggestion.final_text = final
        suggestion.edit_distance = edit_distance(suggestion.draft_text, final)
        suggestion.decided_by = actor
        suggestion.decided_at = now
        outbound = Message(
            conversation_id=suggestion.conversation_id,
            customer_id=suggestion.customer_id,
            channel=suggestion.channel,
            direction="outbound",
            sender={"agent": actor},
            subject=inbound.subject,
            text=final,
            sent_at=now,
            received_at=now,
            meta={"suggestion_id": suggestion.id, "in_reply_to": inbound.id},
            status="received",
        )
        self.session.add(outbound)
        self.session.flush()
        suggestion.outbound_message_id = outbound.id
        if suggestion.question_vector:
            self.session.add(
                ApprovedAnswer(
                    suggestion_id=suggestion.id,
                    intent=suggestion.intent,
                    channel=suggestion.channel,
                    question=inbound.clean_text or inbound.text,
                    question_vector=list(suggestion.question_vector),
                    text=answer_part(final),
                    chunk_ids=list(suggestion.cited_chunks),
                    created_at=now,
                )
            )
        self._event(
            suggestion,
            f"suggestion.{status}",
            actor,
            now,
            {"outbound_message_id": outbound.id, "edit_distance": suggestion.edit_distance},
        )
        self.session.flush()
        return suggestion

    def _event(
        self, s: Suggestion, kind: str, actor: str, now: datetime, extra: dict[str, Any]
    ) -> None:
        self.session.add(
            CustomerEvent(
                customer_id=s.customer_id,
                kind=kind,
                data={"suggestion_id": s.id, "message_id": s.message_id, **extra},
                actor=actor,
                created_at=now,
            )
        )

    def stats(self) -> StatsOut:
        """Acceptance rate, edit rate and mean edit distance by team, intent and drafter."""
        counts = self.session.execute(
            select(
                Suggestion.team,
                Suggestion.intent,
                Suggestion.drafter,
                Suggestion.status,
                func.count(),
                func.coalesce(func.sum(Suggestion.edit_distance), 0),
            ).group_by(Suggestion.team, Suggestion.intent, Suggestion.drafter, Suggestion.status)
        ).all()
        dimensions: list[dict[str | None, dict[str, int]]] = [{}, {}, {}, {}]
        for team, intent, drafter, status, count, distance in counts:
            for grouped, key in zip(dimensions, ("all", team, intent, drafter), strict=True):
                g = grouped.setdefault(key, {"distance": 0})
                g[status] = g.get(status, 0) + int(count)
                g["distance"] += int(distance or 0)

        def rows(grouped: dict[str | None, dict[str, int]]) -> list[StatsRow]:
            return [_stats_row(k, grouped[k]) for k in sorted(grouped, key=lambda k: k or "")]

        overall, by_team, by_intent, by_drafter = (rows(d) for d in dimensions)
        return StatsOut(
            overall=overall[0] if overall else _stats_row("all", {"distance": 0}),
            by_team=by_team,
            by_intent=by_intent,
            by_drafter=by_drafter,
        )


def removed_offers(draft: str, final: str, offers: Mapping[str, Sequence[str]]) -> list[str]:
    """Offer keys whose phrases the draft mentions and the final text no longer does."""

    def mentions(text: str, phrases: Sequence[str]) -> bool:
        lowered = text.lower()
        return any(p.lower() in lowered for p in phrases)

    return sorted(
        key
        for key, phrases in offers.items()
        if mentions(draft, phrases) and not mentions(final, phrases)
    )


def _stats_row(key: str | None, g: dict[str, int]) -> StatsRow:
    accepted, edited, rejected = g.get("accepted", 0), g.get("edited", 0), g.get("rejected", 0)
    decided = accepted + edited + rejected
    approved = accepted + edited
    return StatsRow(
        key=key,
        total=decided + g.get("pending", 0),
        pending=g.get("pending", 0),
        accepted=accepted,
        edited=edited,
        rejected=rejected,
        acceptance_rate=round(approved / decided, 4) if decided else None,
        edit_rate=round(edited / decided, 4) if decided else None,
        rejection_rate=round(rejected / decided, 4) if decided else None,
        mean_edit_distance=round(g["distance"] / approved, 2) if approved else None,
    )
