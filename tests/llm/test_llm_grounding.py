"""The LLM drafter follows the composer's grounding rule (same rule, same thresholds): triage
that abstained or is unsure, or no KB passage relevant enough, gives the composer's short draft
that asks or says what the agent must check, marked needs_human — never a model's invented
policy. Over real HTTP to the scripted OpenAI-compatible server; the fallback is the real
composer."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from adapters.llm.openai_chat import OpenAIChatModel
from core.drafting.composer import GroundedComposer
from core.drafting.context import DraftContext, Passage
from core.drafting.facts import extract_facts
from core.drafting.llm import LLMDrafter
from prompts.registry import load_prompt
from tests.llm.contexts import REFUND_ISSUE, RETURN_WINDOW, context, with_history
from tests.llm.scripted_server import ScriptedLLMServer, Step

# What a model that does not know says when asked anyway: an invented policy.
INVENTED = {
    "reply": "Hello Maria,\n\nYou can return anything within 90 days and we refund you within "
    "24 hours.\n\nKind regards,\nSam",
    "cited_chunk_ids": ["returns-window#0"],
    "facts_used": ["90 days", "24 hours"],
}
FAITHFUL = {
    "reply": "Hello Maria,\n\nYou can return most items within 30 days of delivery for a full "
    "refund.\n\nKind regards,\nSam",
    "cited_chunk_ids": ["returns-window#0"],
    "facts_used": ["30 days of delivery"],
}
ABSTAINED = {"intent": {"label": "return_request", "confidence": 0.2}, "abstained": True}
UNSURE = {"intent": {"label": "return_request", "confidence": 0.2}, "abstained": False}
SURE = {"intent": {"label": "return_request", "confidence": 0.9}, "abstained": False}


def weak(*passages: Passage, score: float) -> tuple[Passage, ...]:
    return tuple(replace(p, score=score) for p in passages)


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedLLMServer]:
    with ScriptedLLMServer() as s:
        yield s


def make_drafter(server: ScriptedLLMServer, composer: GroundedComposer) -> LLMDrafter:
    chat = OpenAIChatModel(server.base_url, "scripted-model", max_tokens=200, retries=0)
    return LLMDrafter(chat, composer, load_prompt("drafting/reply"), timeout_s=5)


@pytest.fixture
def drafter(server: ScriptedLLMServer) -> LLMDrafter:
    return make_drafter(server, GroundedComposer())


def user_prompt(server: ScriptedLLMServer) -> str:
    return str(server.requests[0]["messages"][1]["content"])


def assert_asks_a_human(draft: Any, ctx: DraftContext, composer: GroundedComposer) -> None:
    composed = composer.draft(ctx)
    assert draft.drafter == "composer" and draft.needs_human
    assert draft.text == composed.text  # the composer's clarifying draft, word for word
    assert draft.cited_chunks == [] and draft.facts_used == []
    assert extract_facts(draft.text) == []  # no policy, invented or not
    assert "90 days" not in draft.text and "24 hours" not in draft.text
    # what the agent must check is the composer's own reason, after a stable code
    assert draft.fallback_reason == f"needs_human: {composed.fallback_reason}"
    assert (draft.prompt_id, draft.prompt_version, draft.model) == (
        "drafting/reply",
        1,
        "scripted-model",
    )


@pytest.mark.parametrize(
    ("triage", "flag", "check"),
    [
        (ABSTAINED, "abstained", "triage abstained: check what the customer needs"),
        (UNSURE, "low_confidence", "intent confidence 0.20 is below 0.35: check the intent"),
    ],
    ids=["abstained", "low-confidence"],
)
def test_unsure_triage_without_a_clearly_on_topic_passage_asks_a_human(
    server: ScriptedLLMServer, drafter: LLMDrafter, triage: dict[str, Any], flag: str, check: str
) -> None:
    # on-topic enough for a sure triage (0.45 > 0.3), not clearly on topic (< 0.5)
    ctx = context(triage=triage, passages=weak(RETURN_WINDOW, REFUND_ISSUE, score=0.45))
    server.script(Step(answer=INVENTED))
    draft = drafter.draft(ctx)
    assert server.requests == []  # the model is not asked at all
    assert_asks_a_human(draft, ctx, GroundedComposer())
    assert flag in draft.flags
    assert draft.fallback_reason is not None and check in draft.fallback_reason
    assert "could you tell me" in draft.text


def test_no_passage_relevant_enough_asks_a_human(
    server: ScriptedLLMServer, drafter: LLMDrafter
) -> None:
    ctx = context(triage=SURE, passages=weak(RETURN_WINDOW, REFUND_ISSUE, score=0.12))
    server.script(Step(answer=INVENTED))
    draft = drafter.draft(ctx)
    assert server.requests == []
    assert_asks_a_human(draft, ctx, GroundedComposer())
    assert "no_kb_support" in draft.flags
    assert draft.fallback_reason == (
        "needs_human: no KB article supports an answer: check the KB and answer yourself"
    )


def test_unsure_triage_with_a_clearly_on_topic_passage_is_answered_for_a_human_to_check(
    server: ScriptedLLMServer, drafter: LLMDrafter
) -> None:
    # like the composer: the KB says the same whoever routes the message, so it is drafted,
    # but an agent must check the routing; an approved answer of an intent is not reused
    ctx = with_history(context(triage=ABSTAINED))
    server.script(Step(answer=FAITHFUL))
    draft = drafter.draft(ctx)
    assert draft.drafter == "llm" and draft.fallback_reason is None
    assert draft.needs_human and draft.flags == ["abstained"]
    user = user_prompt(server)
    assert "[S1] chunk: returns-window#0" in user
    assert "Yes: you can return it within 30 days of delivery." not in user  # approved answer
    composed = GroundedComposer().draft(ctx)
    assert composed.needs_human and "abstained" in composed.flags  # the same verdict


def test_a_failed_answer_under_unsure_triage_keeps_the_flag(
    server: ScriptedLLMServer, drafter: LLMDrafter
) -> None:
    ctx = context(triage=UNSURE)
    server.script(Step(answer=INVENTED))
    draft = drafter.draft(ctx)
    assert draft.drafter == "composer"
    assert draft.fallback_reason == "unsupported_facts: 90 days, 24 hours"
    assert draft.needs_human and "low_confidence" in draft.flags


def test_only_passages_relevant_enough_reach_the_model(
    server: ScriptedLLMServer, drafter: LLMDrafter
) -> None:
    stray = replace(REFUND_ISSUE, score=0.2)  # below the composer's floor
    ctx = context(triage=SURE, passages=(RETURN_WINDOW, stray))
    server.script(Step(answer={**FAITHFUL, "cited_chunk_ids": ["refund-timing#2"]}))
    draft = drafter.draft(ctx)
    user = user_prompt(server)
    assert "returns-window#0" in user and "refund-timing#2" not in user
    tool = server.requests[0]["tools"][0]["function"]
    assert tool["parameters"]["properties"]["cited_chunk_ids"]["items"]["enum"] == [
        "returns-window#0"
    ]
    assert draft.fallback_reason == "unknown_citation: refund-timing#2"


def test_the_thresholds_are_the_fallback_composers(server: ScriptedLLMServer) -> None:
    strict = GroundedComposer(min_confidence=0.95, strong_passage_score=0.9)
    drafter = make_drafter(server, strict)
    ctx = context(triage=SURE)  # 0.9 < 0.95: unsure for this composer; best passage 0.82 < 0.9
    server.script(Step(answer=FAITHFUL))
    draft = drafter.draft(ctx)
    assert server.requests == []
    assert_asks_a_human(draft, ctx, strict)
    assert "low_confidence" in draft.flags
    # the default composer is sure of the same message, and so is an LLM drafter behind it
    server.script(Step(answer=FAITHFUL))
    default = make_drafter(server, GroundedComposer()).draft(ctx)
    assert default.drafter == "llm" and not default.needs_human


def test_nothing_retrieved_is_still_no_sources(
    server: ScriptedLLMServer, drafter: LLMDrafter
) -> None:
    server.script(Step(answer=FAITHFUL))
    draft = drafter.draft(context(triage=SURE, passages=()))
    assert server.requests == []
    assert draft.fallback_reason == "no_sources" and draft.needs_human
    assert "no_kb_support" in draft.flags
