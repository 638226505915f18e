"""Draft contexts for the LLM tests, with passages taken from the demo KB (Northwind)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.drafting.context import (
    ApprovedAnswer,
    CustomerProfile,
    DraftContext,
    Passage,
    PriorContact,
    Turn,
)

KB = Path(__file__).parents[2] / "demo" / "kb"
NOW = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


def kb_section(relative: str, heading: str | None = None) -> str:
    """The body of a demo KB article (front matter dropped), or one `## heading` section."""
    text = (KB / relative).read_text(encoding="utf-8").split("---", 2)[2].strip()
    if heading is None:
        return text
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"{relative}: no section {heading!r}"
    return match.group(1).strip()


RETURN_WINDOW = Passage(
    chunk_id="returns-window#0",
    document_id="returns-window",
    title="How long do I have to return an item?",
    text=kb_section("returns-refunds/returns-window.md").split("\n## ")[0],
    url="https://help.northwind-outfitters.example/returns/return-window",
    kb_version=7,
    score=0.82,
)
REFUND_ISSUE = Passage(
    chunk_id="refund-timing#2",
    document_id="refund-timing",
    title="When will I get my refund? > We issue the refund",
    text=kb_section(
        "returns-refunds/refund-timing.md", "2. We issue the refund: within 5 business days"
    ),
    url="https://help.northwind-outfitters.example/returns/refund-timing",
    kb_version=7,
    score=0.77,
)


def context(**overrides: Any) -> DraftContext:
    """A return question from Maria on email, with the two passages above."""
    values: dict[str, Any] = dict(
        message_id="msg-1",
        channel="email",
        subject="Return",
        text="Hi, how long do I have to return the boots I bought? Thanks, Maria",
        sent_at=NOW,
        reference="TL-7Q3K9",
        now=NOW,
        customer=CustomerProfile(id="cus-1", name="Maria Lopez"),
        triage={"intent": "return_request", "priority": "normal", "language": "en"},
        passages=(RETURN_WINDOW, REFUND_ISSUE),
        kb_version=7,
        agent_name="Sam",
        company_name="Northwind Outfitters",
    )
    values.update(overrides)
    return DraftContext(**values)


def with_history(ctx: DraftContext) -> DraftContext:
    """The same context with a prior phone call, one earlier turn and an approved answer."""
    call = PriorContact(
        message_id="msg-0",
        channel="phone",
        sent_at=datetime(2026, 12, 1, 15, 0, tzinfo=UTC),
        text="Customer called about returning boots, order NW-20417.",
        reference="TL-4H2M8",
        score=0.71,
        same_conversation=False,
    )
    turn = Turn("msg-t", "inbound", "email", "I ordered boots, order NW-20417.", NOW)
    approved = ApprovedAnswer(
        id="ans-1",
        question="Can I still return my jacket? Write to me at lee@example.org",
        text="Yes: you can return it within 30 days of delivery.",
        chunk_ids=("returns-window#0",),
        intent="return_request",
        similarity=0.9,
    )
    return replace(ctx, prior_contacts=(call,), conversation=(turn,), approved=(approved,))
