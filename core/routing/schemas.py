"""Pydantic shapes of the routing API (the v1 contract)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.conversations.schemas import Channel, RelatedMessage, Sender
from core.knowledge.schemas import KbHit


class RouteIn(BaseModel):
    """POST /v1/route: triage without storing anything."""

    model_config = ConfigDict(extra="forbid")

    channel: Channel = "email"
    text: str = Field(min_length=1)
    subject: str | None = Field(None, max_length=500)
    sender: Sender | None = None

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text must not be blank")
        return value


class RouteBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[RouteIn] = Field(min_length=1, max_length=100)


class IntentOut(BaseModel):
    label: str
    confidence: float


class TeamOut(BaseModel):
    name: str
    confidence: float


class Alternative(BaseModel):
    label: str
    confidence: float
    team: str | None


class Triage(BaseModel):
    """The classification and routing decision for one message."""

    intent: IntentOut
    team: TeamOut
    priority: Literal["low", "normal", "high", "urgent"]
    sentiment: Literal["negative", "neutral", "positive"]
    sentiment_score: float
    language: str | None
    language_confidence: float
    abstained: bool
    alternatives: list[Alternative]
    reasons: list[str]
    rules_fired: list[str]
    cues: list[str]
    model_version: str


class RouteOut(Triage):
    """`POST /v1/route`: the triage plus, when the sender is known, the customer's context."""

    customer_id: str | None = None
    related: list[RelatedMessage] = Field(default_factory=list)
    kb: list[KbHit] = Field(default_factory=list)


class RouteBatchOut(BaseModel):
    items: list[RouteOut]


class RerouteIn(BaseModel):
    """POST /v1/messages/{id}/reroute: an agent's correction."""

    model_config = ConfigDict(extra="forbid")

    team: str = Field(min_length=1, max_length=100)
    intent: str | None = Field(None, min_length=1, max_length=100)
    reason: str | None = Field(None, max_length=2000)
