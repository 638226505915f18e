"""API shapes of suggestions."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.suggestions.rules import Status


class RelatedUse(BaseModel):
    """A related prior message the draft step put in the drafter's context."""

    message_id: str
    score: float  # cosine similarity to the message being answered


class SuggestionOut(BaseModel):
    id: str
    message_id: str
    customer_id: str
    conversation_id: str
    channel: str
    team: str | None
    intent: str | None
    priority: str | None
    status: Status
    draft_text: str
    final_text: str | None
    drafter: str
    prompt_id: str | None
    prompt_version: int | None
    model: str | None
    kb_version: int | None
    cited_chunks: list[str]
    facts_used: list[str]
    flags: list[str]
    needs_human: bool
    fallback_reason: str | None
    approved_answer_id: str | None
    acknowledged_message_id: str | None
    # What the draft saw, best first; None for suggestions drafted before this was recorded.
    related_used: list[RelatedUse] | None = None
    edit_distance: int | None
    reject_reason: str | None
    decided_by: str | None
    outbound_message_id: str | None
    created_at: datetime
    decided_at: datetime | None


class SuggestionPage(BaseModel):
    items: list[SuggestionOut]
    total: int


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty or only whitespace")
    return value


class EditIn(BaseModel):
    """POST /v1/suggestions/{id}/edit: the agent's final text (accepted as edited)."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=20000)

    _check = field_validator("text")(_not_blank)


class RejectIn(BaseModel):
    """POST /v1/suggestions/{id}/reject."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)

    _check = field_validator("reason")(_not_blank)


class StatsRow(BaseModel):
    key: str | None
    total: int
    pending: int
    accepted: int
    edited: int
    rejected: int
    acceptance_rate: float | None  # (accepted + edited) / decided
    edit_rate: float | None  # edited / decided
    rejection_rate: float | None
    mean_edit_distance: float | None  # over accepted (0) and edited suggestions


class StatsOut(BaseModel):
    overall: StatsRow
    by_team: list[StatsRow]
    by_intent: list[StatsRow]
    by_drafter: list[StatsRow]
