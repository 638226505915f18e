"""Ingest: record a message on the right customer and conversation (never commits)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.conversations.models import Conversation, Message
from core.conversations.repository import ConversationRepository
from core.conversations.rules import find_references, new_reference
from core.conversations.schemas import MessageAccepted, MessageIn, MessageOut
from core.errors import NotFound, PayloadTooLarge
from core.identity.service import IdentityService, sender_identifiers


@dataclass(frozen=True)
class ThreadingPolicy:
    """Settings threading depends on."""

    reference_prefix: str
    window: timedelta
    default_region: str
    max_text_bytes: int


@dataclass(frozen=True)
class IngestResult:
    """The stored message and whether it was already known (idempotent replay)."""

    message: Message
    duplicate: bool

    def accepted(self) -> MessageAccepted:
        m = self.message
        return MessageAccepted(
            message_id=m.id,
            customer_id=m.customer_id,
            conversation_id=m.conversation_id,
            reference=m.conversation.reference,
            status=m.status,  # type: ignore[arg-type]
            duplicate=self.duplicate,
        )


class ConversationService:
    """Ties each message to one customer and one thread."""

    def __init__(self, session: Session, policy: ThreadingPolicy) -> None:
        self.session = session
        self.policy = policy
        self.repo = ConversationRepository(session)
        self.identity = IdentityService(session, policy.default_region)

    def ingest(self, data: MessageIn, now: datetime) -> IngestResult:
        """Record one inbound message (status `received`); the caller commits and enqueues."""
        size = len(data.text.encode("utf-8"))
        if size > self.policy.max_text_bytes:
            raise PayloadTooLarge(
                f"text is {size} bytes; the limit is {self.policy.max_text_bytes}", field="text"
            )
        identifiers = sender_identifiers(
            data.sender.model_dump(), data.channel, self.policy.default_region
        )
        if data.external_id is not None:
            existing = self.repo.find_by_external_id(data.channel, data.external_id)
            if existing is not None:
                return IngestResult(existing, duplicate=True)
        try:
            with self.session.begin_nested():
                return IngestResult(self._record(data, identifiers, now), duplicate=False)
        except IntegrityError:
            # A concurrent request stored the same message or identifier first.
            if data.external_id is not None:
                existing = self.repo.find_by_external_id(data.channel, data.external_id)
                if existing is not None:
                    return IngestResult(existing, duplicate=True)
            with self.session.begin_nested():
                return IngestResult(self._record(data, identifiers, now), duplicate=False)

    def _record(self, data: MessageIn, identifiers: Sequence[Any], now: datetime) -> Message:
        sent_at = data.sent_at or now
        resolution = self.identity.resolve(identifiers, data.sender.name, data.sender.account, now)
        customer = resolution.customer
        conversation = self._thread(customer.id, data, sent_at)
        message = Message(
            conversation_id=conversation.id,
            customer_id=customer.id,
            channel=data.channel,
            external_id=data.external_id,
            direction=str(data.metadata.get("direction", "inbound"))
            if data.channel == "phone"
            else "inbound",
            sender=data.sender.model_dump(exclude_none=True),
            subject=data.subject,
            text=data.text,
            sent_at=sent_at,
            received_at=now,
            meta=data.metadata,
            status="received",
            attempts=0,
        )
        message.conversation = conversation
        self.repo.add(message)
        if sent_at > conversation.last_message_at:
            conversation.last_message_at = sent_at
        self.session.flush()
        return message

    def _thread(self, customer_id: str, data: MessageIn, sent_at: datetime) -> Conversation:
        """The conversation this message joins, creating one if none fits."""
        prefix = self.policy.reference_prefix
        if data.thread_ref:
            refs = find_references(prefix, data.thread_ref)
            if refs and refs[0] == data.thread_ref.strip().upper():
                conv = self.repo.conversation_by_reference(refs[0])
                if conv is not None and conv.customer_id == customer_id:
                    return conv
            else:
                conv = self.repo.conversation_by_external_ref(customer_id, data.thread_ref)
                if conv is not None:
                    return conv
                return self._new_conversation(customer_id, data, sent_at, data.thread_ref)
        for ref in find_references(prefix, data.subject, data.text):
            conv = self.repo.conversation_by_reference(ref)
            # A reference quoted by someone else never opens another customer's thread.
            if conv is not None and conv.customer_id == customer_id:
                return conv
        email_refs = _email_refs(data.metadata)
        if email_refs:
            conv = self.repo.conversation_of_email(email_refs)
            if conv is not None and conv.customer_id == customer_id:
                return conv
        conv = self.repo.latest_open_conversation(customer_id)
        if conv is not None and abs(sent_at - conv.last_message_at) <= self.policy.window:
            return conv
        return self._new_conversation(customer_id, data, sent_at, None)

    def _new_conversation(
        self, customer_id: str, data: MessageIn, sent_at: datetime, external_ref: str | None
    ) -> Conversation:
        reference = new_reference(self.policy.reference_prefix)
        while self.repo.reference_exists(reference):
            reference = new_reference(self.policy.reference_prefix)
        conv = Conversation(
            reference=reference,
            customer_id=customer_id,
            external_ref=external_ref,
            subject=data.subject,
            status="open",
            channel=data.channel,
            created_at=sent_at,
            last_message_at=sent_at,
        )
        self.repo.add(conv)
        self.session.flush()
        return conv

    def get_message(self, message_id: str) -> Message:
        """The message, or NotFound."""
        message = self.repo.get_message(message_id)
        if message is None:
            raise NotFound(f"message {message_id} does not exist", field="message_id")
        return message


def _email_refs(metadata: dict[str, Any]) -> list[str]:
    refs: list[str] = []
    for key in ("in_reply_to", "references"):
        value = metadata.get(key)
        items = value if isinstance(value, list) else [value] if value else []
        for item in items:
            if isinstance(item, str) and item.strip():
                refs.append(item.strip().strip("<>"))
    return refs


def message_out(message: Message) -> MessageOut:
    """The API shape of a stored message."""
    return MessageOut(
        id=message.id,
        customer_id=message.customer_id,
        conversation_id=message.conversation_id,
        reference=message.conversation.reference,
        channel=message.channel,
        external_id=message.external_id,
        direction=message.direction,
        sender=message.sender,
        subject=message.subject,
        text=message.text,
        clean_text=message.clean_text,
        sent_at=message.sent_at,
        received_at=message.received_at,
        metadata=message.meta,
        status=message.status,  # type: ignore[arg-type]
        attempts=message.attempts,
        error=message.error,
        processed_at=message.processed_at,
        processing_ms=message.processing_ms,
        intent=message.intent,
        team=message.team,
        priority=message.priority,
        triage=message.triage,
    )
