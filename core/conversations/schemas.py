"""Pydantic shapes of the v1 message contract."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Channel = Literal[
    "email", "chat", "sms", "whatsapp", "facebook", "instagram", "twitter", "phone", "web_form"
]
CHANNELS: tuple[str, ...] = Channel.__args__  # type: ignore[attr-defined]
MessageStatus = Literal["received", "processing", "processed", "failed"]


class Sender(BaseModel):
    """Who wrote: any identifiers the channel gives."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(None, max_length=200)
    email: str | None = Field(None, max_length=320)
    phone: str | None = Field(None, max_length=40)
    handle: str | None = Field(None, max_length=220)
    customer_ref: str | None = Field(None, max_length=200)
    account: str | None = Field(None, max_length=200)

    @model_validator(mode="after")
    def _has_identifier(self) -> Sender:
        if not (self.email or self.phone or self.handle or self.customer_ref):
            raise ValueError("sender needs at least one of email, phone, handle, customer_ref")
        return self


class MessageIn(BaseModel):
    """One normalized inbound message (POST /v1/messages)."""

    model_config = ConfigDict(extra="forbid")

    channel: Channel
    external_id: str | None = Field(None, min_length=1, max_length=500)
    sender: Sender
    subject: str | None = Field(None, max_length=500)
    text: str = Field(min_length=1)
    sent_at: datetime | None = None
    thread_ref: str | None = Field(None, min_length=1, max_length=200)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text must not be blank")
        return value

    @field_validator("sent_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    @model_validator(mode="after")
    def _phone_call_log(self) -> MessageIn:
        if self.channel != "phone":
            return self
        duration = self.metadata.get("duration_s")
        if duration is not None and (
            isinstance(duration, bool) or not isinstance(duration, int | float) or duration < 0
        ):
            raise ValueError("metadata.duration_s must be a number of seconds >= 0")
        direction = self.metadata.get("direction")
        if direction is not None and direction not in ("inbound", "outbound"):
            raise ValueError("metadata.direction must be 'inbound' or 'outbound'")
        return self


class MessageAccepted(BaseModel):
    """What ingest answers: where the message went."""

    message_id: str
    customer_id: str
    conversation_id: str
    reference: str
    status: MessageStatus
    duplicate: bool = False


class MessageOut(BaseModel):
    """A stored message with its processing state."""

    id: str
    customer_id: str
    conversation_id: str
    reference: str
    channel: str
    external_id: str | None
    direction: str
    sender: dict[str, Any]
    subject: str | None
    text: str
    clean_text: str | None
    sent_at: datetime
    received_at: datetime
    metadata: dict[str, Any]
    status: MessageStatus
    attempts: int
    error: str | None
    processed_at: datetime | None
    processing_ms: int | None
    intent: str | None = None
    team: str | None = None
    priority: str | None = None
    triage: dict[str, Any] | None = None
    suggestion_id: str | None = None  # the suggested reply, once drafted


class RelatedMessage(BaseModel):
    """A customer's prior message related to another one."""

    message_id: str
    conversation_id: str
    reference: str
    channel: str
    sent_at: datetime
    text: str
    score: float
