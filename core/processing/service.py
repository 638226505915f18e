"""Claim messages, finish them, and sweep the ones a worker never finished.

The task wrapper (workers/) owns the transactions: claim → commit → pipeline → finish → commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from core.conversations.repository import ConversationRepository
from core.drafting.context import Draft
from core.observability import MESSAGES_PROCESSED, MESSAGES_REQUEUED, PROCESSING_LATENCY
from core.processing.pipeline import Pipeline, WorkItem
from core.suggestions.service import record_draft


@dataclass(frozen=True)
class ProcessingPolicy:
    """Lease and retry settings."""

    lease: timedelta
    max_attempts: int
    enqueue_grace: timedelta


@dataclass
class Outcome:
    """What one batch came to."""

    processed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    retry: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class MessageProcessor:
    """The behaviour of task `message.process`, split at its transaction boundaries."""

    def __init__(self, pipeline: Pipeline, policy: ProcessingPolicy) -> None:
        self.pipeline = pipeline
        self.policy = policy

    def claim(
        self, session: Session, ids: Sequence[str], now: datetime, extra: int = 0
    ) -> list[WorkItem]:
        """Take the messages no other worker holds; returns snapshots to work on.

        `extra` > 0 also takes up to that many other waiting messages (oldest first), so a
        worker with one task in hand embeds a backlog in batches; their own tasks then find
        them done and skip.
        """
        repo = ConversationRepository(session)
        wanted = list(dict.fromkeys(ids))
        if extra > 0:
            wanted += repo.waiting_ids(extra, exclude=wanted)
        claimed = repo.claim(wanted, now, now + self.policy.lease, self.policy.max_attempts)
        items = []
        for m in repo.messages_by_ids(claimed):
            items.append(
                WorkItem(
                    message_id=m.id,
                    attempt=m.attempts,
                    customer_id=m.customer_id,
                    conversation_id=m.conversation_id,
                    reference=m.conversation.reference,
                    channel=m.channel,
                    subject=m.subject,
                    text=m.text,
                    sent_at=m.sent_at,
                    received_at=m.received_at,
                    direction=m.direction,
                    metadata=dict(m.meta or {}),
                )
            )
        return items

    def run(self, items: list[WorkItem]) -> None:
        """Run the pipeline steps (outside any transaction)."""
        self.pipeline.run(items)

    def finish(self, session: Session, items: Sequence[WorkItem], now: datetime) -> Outcome:
        """Store results; a message whose lease another worker took over is left alone."""
        repo = ConversationRepository(session)
        by_id = {m.id: m for m in repo.messages_by_ids([i.message_id for i in items])}
        outcome = Outcome()
        for item in items:
            message = by_id.get(item.message_id)
            if (
                message is None
                or message.status != "processing"
                or message.attempts != item.attempt
            ):
                outcome.skipped.append(item.message_id)
                continue
            message.lease_expires_at = None
            if item.error is None:
                message.status = "processed"
                message.clean_text = item.clean_text
                message.indexed_at = now if item.indexed else message.indexed_at
                message.processed_at = now
                message.processing_ms = int((now - message.received_at).total_seconds() * 1000)
                message.error = None
                triage = item.results.get("triage")
                if isinstance(triage, dict):
                    message.triage = triage
                    message.intent = triage["intent"]["label"]
                    message.team = triage["team"]["name"]
                    message.priority = triage["priority"]
                draft = item.results.get("draft")
                if isinstance(draft, Draft):
                    record_draft(session, message, draft, item.vector, now)
                outcome.processed.append(message.id)
                MESSAGES_PROCESSED.labels(message.channel).inc()
                PROCESSING_LATENCY.observe(max(0.0, (now - message.received_at).total_seconds()))
            elif item.transient and message.attempts < self.policy.max_attempts:
                message.status = "received"
                message.error = item.error
                outcome.retry.append(message.id)
            else:
                message.status = "failed"
                message.error = item.error
                outcome.failed.append(message.id)
        session.flush()
        return outcome

    def sweep(self, session: Session, now: datetime, limit: int = 500) -> list[str]:
        """Ids to enqueue again: leases that ran out and messages no worker ever took.

        Messages that used up their attempts are marked `failed` instead.
        """
        repo = ConversationRepository(session)
        ids = repo.stuck_ids(now, now - self.policy.enqueue_grace, limit)
        requeue: list[str] = []
        for message in repo.messages_by_ids(ids):
            if message.status == "processing" and message.attempts >= self.policy.max_attempts:
                message.status = "failed"
                message.lease_expires_at = None
                message.error = f"gave up after {message.attempts} attempts (lease expired)"
                MESSAGES_REQUEUED.labels("gave_up").inc()
                continue
            MESSAGES_REQUEUED.labels(message.status).inc()
            message.requeued_at = now
            requeue.append(message.id)
        session.flush()
        return requeue
