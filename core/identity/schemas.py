"""Pydantic shapes of customers, identities and timelines."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class IdentityOut(BaseModel):
    kind: str
    value: str
    created_at: datetime


class AccountOut(BaseModel):
    id: str
    name: str
    attributes: dict[str, Any]


class MergeSuggestionOut(BaseModel):
    id: str
    customer_id: str
    other_customer_id: str
    reason: str
    status: str
    created_at: datetime


class CustomerOut(BaseModel):
    """One customer with every identifier, account and attributes."""

    id: str
    name: str | None
    account: AccountOut | None
    attributes: dict[str, Any]
    identities: list[IdentityOut]
    merged_into_id: str | None
    merge_suggestions: list[MergeSuggestionOut]
    created_at: datetime
    updated_at: datetime


class MergeIn(BaseModel):
    """POST /v1/customers/{id}/merge: fold `other_id` into this customer."""

    other_id: str = Field(min_length=1, max_length=64)


class TimelineItem(BaseModel):
    """One entry of a customer's timeline: a message or an event."""

    type: Literal["message", "event"]
    id: str
    at: datetime
    channel: str | None = None
    direction: str | None = None
    conversation_id: str | None = None
    reference: str | None = None
    subject: str | None = None
    text: str | None = None
    status: str | None = None
    intent: str | None = None
    team: str | None = None
    priority: str | None = None
    kind: str | None = None
    data: dict[str, Any] | None = None


class Timeline(BaseModel):
    customer_id: str
    items: list[TimelineItem]
    next_before: datetime | None
