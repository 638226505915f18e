"""What a drafter sees and what it returns: plain, frozen data (no ORM rows, no I/O).

`core.drafting.assemble` builds a `DraftContext` from the database, the history index and the
KB; both drafters (`composer.GroundedComposer`, `llm.LLMDrafter`) turn it into a `Draft`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

Channel = Literal[
    "email", "chat", "sms", "whatsapp", "facebook", "instagram", "x", "phone", "webform"
]
Direction = Literal["inbound", "outbound"]


@dataclass(frozen=True)
class CustomerProfile:
    id: str
    name: str | None  # display name as the customer gave it ("Maria Lopez")
    account_name: str | None = None  # B2B account, if any
    account_manager: str | None = None
    vip: bool = False
    declined_offers: tuple[str, ...] = ()  # offer keys the customer said no to ("premium_plan")
    attributes: dict[str, Any] = field(default_factory=dict)  # everything else on the profile


@dataclass(frozen=True)
class Turn:
    """One earlier message of the conversation being answered (oldest first)."""

    message_id: str
    direction: Direction
    channel: str
    text: str
    sent_at: datetime


@dataclass(frozen=True)
class PriorContact:
    """An earlier message of the same customer, found by the history index (any channel)."""

    message_id: str
    channel: str
    sent_at: datetime
    text: str
    reference: str  # conversation reference, e.g. TL-7Q3K9
    score: float  # cosine similarity to the message being answered
    same_conversation: bool
    # "outbound": a reply an agent approved (in the history since accept/edit), not a message
    # of the customer; drafters may use what it said but never "you messaged us" about it
    direction: Direction = "inbound"


@dataclass(frozen=True)
class Passage:
    """A KB chunk retrieved for the message (customer-facing audience only)."""

    chunk_id: str
    document_id: str
    title: str
    text: str
    url: str | None
    kb_version: int  # KB version the chunk came from
    score: float
    heading: str = ""  # the section the chunk is ("Step 2: Get your label"), "" if none


@dataclass(frozen=True)
class ApprovedAnswer:
    """A reply an agent accepted or edited earlier for a similar question."""

    id: str
    question: str
    text: str
    chunk_ids: tuple[str, ...]
    intent: str | None
    similarity: float  # cosine between the questions


@dataclass(frozen=True)
class DraftContext:
    message_id: str
    channel: str
    subject: str | None
    text: str  # the cleaned customer text: data, never instructions
    sent_at: datetime
    reference: str  # this conversation's reference
    now: datetime
    customer: CustomerProfile
    triage: dict[str, Any]  # the stored triage (intent, team, priority, language, abstained...)
    conversation: tuple[Turn, ...] = ()
    prior_contacts: tuple[PriorContact, ...] = ()
    passages: tuple[Passage, ...] = ()
    approved: tuple[ApprovedAnswer, ...] = ()
    kb_version: int | None = None
    agent_name: str = "The support team"
    company_name: str = "Support"
    # The message's channel metadata; `style.is_public_post` reads it (public post or comment
    # on Facebook/Instagram/X versus a DM), the phone follow-up reads "direction".
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Draft:
    """A suggested reply and how it was made (stored on the suggestion as is)."""

    text: str
    drafter: Literal["composer", "llm"]
    cited_chunks: list[str] = field(default_factory=list)
    facts_used: list[str] = field(default_factory=list)
    needs_human: bool = False
    flags: list[str] = field(default_factory=list)  # e.g. "prompt_injection"
    fallback_reason: str | None = None
    prompt_id: str | None = None
    prompt_version: int | None = None
    model: str | None = None
    kb_version: int | None = None
    approved_answer_id: str | None = None
    acknowledged_message_id: str | None = None  # the prior contact the greeting names
    # The prior contacts the context held ({"message_id", "score"}, best first), set by the
    # draft step whatever the drafter used; None when the draft was made outside the step.
    related_used: list[dict[str, Any]] | None = None


class Drafter(Protocol):
    """Turns a context into a suggested reply. Must not raise for bad customer input."""

    name: str

    def draft(self, context: DraftContext) -> Draft: ...
