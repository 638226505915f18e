"""All SQL about conversations and messages."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from core.conversations.models import Conversation, Message


class ConversationRepository:
    """Queries and writes for conversations and messages; never commits."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get_message(self, message_id: str) -> Message | None:
        return self.session.get(Message, message_id)

    def messages_by_ids(self, ids: Sequence[str]) -> list[Message]:
        if not ids:
            return []
        return list(self.session.scalars(select(Message).where(Message.id.in_(ids))))

    def find_by_external_id(self, channel: str, external_id: str) -> Message | None:
        return self.session.scalar(
            select(Message).where(Message.channel == channel, Message.external_id == external_id)
        )

    def conversation_by_reference(self, reference: str) -> Conversation | None:
        return self.session.scalar(select(Conversation).where(Conversation.reference == reference))

    def conversation_by_external_ref(self, customer_id: str, ref: str) -> Conversation | None:
        return self.session.scalar(
            select(Conversation)
            .where(Conversation.customer_id == customer_id, Conversation.external_ref == ref)
            .order_by(Conversation.last_message_at.desc())
            .limit(1)
        )

    def conversation_of_email(self, message_ids: Sequence[str]) -> Conversation | None:
        """The conversation of the newest email whose Message-ID is in `message_ids`."""
        if not message_ids:
            return None
        return self.session.scalar(
            select(Conversation)
            .join(Message, Message.conversation_id == Conversation.id)
            .where(Message.channel == "email", Message.external_id.in_(message_ids))
            .order_by(Message.sent_at.desc())
            .limit(1)
        )

    def latest_open_conversation(self, customer_id: str) -> Conversation | None:
        return self.session.scalar(
            select(Conversation)
            .where(Conversation.customer_id == customer_id, Conversation.status == "open")
            .order_by(Conversation.last_message_at.desc())
            .limit(1)
        )

    def reference_exists(self, reference: str) -> bool:
        return self.conversation_by_reference(reference) is not None

    def add(self, obj: Conversation | Message) -> None:
        self.session.add(obj)

    def timeline_messages(
        self, customer_id: str, before: datetime | None, limit: int
    ) -> list[Message]:
        query = select(Message).where(Message.customer_id == customer_id)
        if before is not None:
            query = query.where(Message.sent_at < before)
        return list(self.session.scalars(query.order_by(Message.sent_at.desc()).limit(limit)))

    def message_ids_of_customer(self, customer_id: str) -> list[str]:
        return list(
            self.session.scalars(select(Message.id).where(Message.customer_id == customer_id))
        )

    def move_customer(self, source_id: str, target_id: str) -> None:
        """Re-point every conversation and message of `source_id` to `target_id`."""
        for model in (Conversation, Message):
            self.session.execute(
                update(model).where(model.customer_id == source_id).values(customer_id=target_id)
            )

    # --- processing -------------------------------------------------------------------

    def claim(
        self, ids: Sequence[str], now: datetime, lease_until: datetime, max_attempts: int
    ) -> list[str]:
        """Atomically take messages that are waiting or whose lease ran out (attempts left)."""
        if not ids:
            return []
        result = self.session.execute(
            update(Message)
            .where(
                Message.id.in_(ids),
                Message.attempts < max_attempts,
                or_(
                    Message.status == "received",
                    and_(Message.status == "processing", Message.lease_expires_at < now),
                ),
            )
            .values(
                status="processing", attempts=Message.attempts + 1, lease_expires_at=lease_until
            )
            .returning(Message.id)
            .execution_options(synchronize_session=False)
        )
        return list(result.scalars())

    def waiting_ids(self, limit: int, exclude: Sequence[str] = ()) -> list[str]:
        """The oldest `received` messages, for a worker that has room in its batch."""
        query = select(Message.id).where(Message.status == "received")
        if exclude:
            query = query.where(Message.id.not_in(exclude))
        return list(self.session.scalars(query.order_by(Message.received_at).limit(limit)))

    def stuck_ids(self, now: datetime, before: datetime, limit: int) -> list[str]:
        """Messages a worker should have finished: lease expired, or never picked up.

        A message the sweeper already re-sent after `before` is left to that task.
        """
        return list(
            self.session.scalars(
                select(Message.id)
                .where(
                    or_(
                        and_(Message.status == "processing", Message.lease_expires_at < now),
                        and_(Message.status == "received", Message.received_at < before),
                    ),
                    or_(Message.requeued_at.is_(None), Message.requeued_at < before),
                )
                .order_by(Message.received_at)
                .limit(limit)
            )
        )

    def count_by_status(self) -> dict[str, int]:
        from sqlalchemy import func

        rows = self.session.execute(select(Message.status, func.count()).group_by(Message.status))
        return {status: int(n) for status, n in rows}
