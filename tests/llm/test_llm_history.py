"""The LLM drafter and the replies agents approved: in the prompt as ours, never as the
customer's prior contact (over real HTTP to the scripted server)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from adapters.llm.openai_chat import OpenAIChatModel
from core.drafting.composer import GroundedComposer
from core.drafting.context import PriorContact
from core.drafting.llm import LLMDrafter
from prompts.registry import load_prompt
from tests.llm.contexts import context
from tests.llm.scripted_server import ScriptedLLMServer, Step

FAITHFUL = {
    "reply": "Hello Maria,\n\nFollowing up on our chat: you can return most items within 30 "
    "days of delivery.\n\nKind regards,\nSam",
    "cited_chunk_ids": ["returns-window#0"],
    "facts_used": ["30 days of delivery"],
}
ASKED = PriorContact(
    message_id="chat-in",
    channel="chat",
    sent_at=datetime(2026, 12, 2, 9, 0, tzinfo=UTC),
    text="How many days do I have to return my boots?",
    reference="TL-CHAT1",
    score=0.9,
    same_conversation=False,
)
ANSWERED = replace(
    ASKED,
    message_id="chat-out",
    sent_at=datetime(2026, 12, 2, 9, 5, tzinfo=UTC),
    text="You have 30 days from delivery, and the return label is in your account.",
    score=0.95,
    direction="outbound",
)


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedLLMServer]:
    with ScriptedLLMServer() as s:
        yield s


@pytest.fixture
def drafter(server: ScriptedLLMServer) -> LLMDrafter:
    chat = OpenAIChatModel(server.base_url, "scripted-model", max_tokens=200, retries=0)
    return LLMDrafter(chat, GroundedComposer(), load_prompt("drafting/reply"), timeout_s=5)


def user_prompt(server: ScriptedLLMServer) -> str:
    return str(server.requests[0]["messages"][1]["content"])


def test_our_approved_reply_follows_her_prior_message(
    server: ScriptedLLMServer, drafter: LLMDrafter
) -> None:
    server.script(Step(answer=FAITHFUL))
    draft = drafter.draft(context(prior_contacts=(ANSWERED, ASKED)))
    user = user_prompt(server)
    inside = user.split("<customer_data>")[1].split("</customer_data>")[0]
    prior = inside.split("Prior contact on another channel: ")[1].split("\nEarlier")[0]
    assert prior.startswith("live chat on 2026-12-02 (reference TL-CHAT1): How many days")
    assert "Our reply then: You have 30 days from delivery" in prior
    assert draft.drafter == "llm" and draft.acknowledged_message_id == "chat-in"


def test_our_reply_alone_is_no_prior_contact(
    server: ScriptedLLMServer, drafter: LLMDrafter
) -> None:
    server.script(Step(answer=FAITHFUL))
    draft = drafter.draft(context(prior_contacts=(ANSWERED,)))
    assert "Prior contact on another channel: none" in user_prompt(server)
    assert draft.acknowledged_message_id is None
