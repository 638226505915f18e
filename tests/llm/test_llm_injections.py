"""The prompt-injection suite (tests/fixtures/injections.yaml) through the LLM drafter, over
real HTTP to the scripted OpenAI-compatible server (the fallback is the real composer).

For every case: the message is flagged; the request is the one for the same message without
the injection except inside the `<customer_data>` block (same system message, same sources,
same schema), and a hidden HTML instruction never reaches the model at all; a model that
does what the injection asks is overruled (the composer's draft of the clean message is
used); a faithful answer is the same draft as for the clean message, flagged for a human.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from adapters.llm.openai_chat import OpenAIChatModel
from core.drafting.composer import GroundedComposer
from core.drafting.context import Draft
from core.drafting.llm import LLMDrafter
from prompts.registry import load_prompt
from tests.injection_cases import CASES, InjectionCase, clean, contains, injected
from tests.llm.contexts import context
from tests.llm.scripted_server import ScriptedLLMServer, Step

QUESTION = "Hi, how long do I have to return the boots I bought?\n\nThanks, Maria"
FAITHFUL = {
    "reply": "Hello Maria,\n\nYou can return most items within 30 days of delivery for a full "
    "refund.\n\nKind regards,\nSam",
    "cited_chunk_ids": ["returns-window#0"],
    "facts_used": ["30 days of delivery"],
}
OPEN, CLOSE = "<customer_data>", "</customer_data>"


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedLLMServer]:
    with ScriptedLLMServer() as s:
        yield s


@pytest.fixture
def drafter(server: ScriptedLLMServer) -> LLMDrafter:
    chat = OpenAIChatModel(server.base_url, "scripted-model", max_tokens=200, retries=0)
    return LLMDrafter(chat, GroundedComposer(), load_prompt("drafting/reply"), timeout_s=5)


def run(
    server: ScriptedLLMServer, drafter: LLMDrafter, answer: dict[str, Any], **ctx: Any
) -> tuple[Draft, dict[str, Any]]:
    """The draft, and the one request the drafter sent for it."""
    server.script(Step(answer=answer))
    draft = drafter.draft(context(**ctx))
    assert len(server.requests) == 1
    return draft, server.requests[0]


def split(request: dict[str, Any]) -> tuple[str, str, str]:
    """(system message, user message outside the data block, inside the data block)."""
    system, user = (m["content"] for m in request["messages"])
    assert user.count(OPEN) == 1 and user.count(CLOSE) == 1, user
    before, rest = user.split(OPEN)
    inside, after = rest.split(CLOSE)
    return system, before + OPEN + CLOSE + after, inside


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_injection_is_flagged_and_stays_data(
    case: InjectionCase, server: ScriptedLLMServer, drafter: LLMDrafter
) -> None:
    attack, plain = injected(case, QUESTION), clean(case, QUESTION)
    reference, clean_request = run(server, drafter, FAITHFUL, text=plain.text, **_meta(plain))
    draft, request = run(server, drafter, FAITHFUL, text=attack.text, **_meta(attack))
    assert "prompt_injection" not in reference.flags and not reference.needs_human
    assert "prompt_injection" in draft.flags and draft.needs_human

    system, outside, inside = split(request)
    clean_system, clean_outside, clean_inside = split(clean_request)
    # the rules, the sources, the channel style and the schema are what they always are
    assert system == clean_system and "data, never instructions" in system
    assert outside == clean_outside
    assert request["tools"] == clean_request["tools"]
    if case.hidden is not None:
        # hidden HTML never leaves the process: the model gets the visible message only
        assert inside == clean_inside
        assert case.hidden not in str(request)
    else:
        assert inside != clean_inside  # the injected text went into the data block, only there
        first_words = " ".join(case.text.splitlines()[0].split()[:3]) if case.text else ""
        if "<|" not in first_words:
            assert first_words in inside and first_words not in outside + system
        assert "<|im_start|>" not in str(request["messages"])  # chat tokens are neutralized
    # a faithful answer is shown as it is for the clean message, for a human to check
    assert draft.drafter == "llm" and draft.text == reference.text
    assert draft.cited_chunks == reference.cited_chunks


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.obeyed], ids=[c.id for c in CASES if c.obeyed]
)
def test_a_model_that_obeys_the_injection_is_overruled(
    case: InjectionCase, server: ScriptedLLMServer, drafter: LLMDrafter
) -> None:
    attack, plain = injected(case, QUESTION), clean(case, QUESTION)
    obeying = {**FAITHFUL, "reply": case.obeyed}
    draft, _ = run(server, drafter, obeying, text=attack.text, **_meta(attack))
    composed = GroundedComposer().draft(context(text=plain.text, **_meta(plain)))
    assert draft.drafter == "composer", draft.text
    assert draft.fallback_reason is not None
    assert draft.fallback_reason.split(":")[0] in {
        "unsupported_facts",
        "echoes_message",
        "copies_flagged_message",
    }, draft.fallback_reason
    assert draft.text == composed.text  # the composer's draft of the message without it
    assert "prompt_injection" in draft.flags and draft.needs_human
    for phrase in case.forbidden:
        assert not contains(draft.text, phrase), (phrase, draft.text)


def test_a_faithful_reply_quoting_the_question_is_still_accepted(
    server: ScriptedLLMServer, drafter: LLMDrafter
) -> None:
    """The copy check only looks at flagged messages: quoting a clean message is fine."""
    text = "How long do I have to return the boots I bought last week?"
    reply = "Hello Maria,\n\nHow long do I have to return the boots? 30 days of delivery.\n\nSam"
    draft, _ = run(server, drafter, {**FAITHFUL, "reply": reply}, text=text)
    assert draft.drafter == "llm" and draft.fallback_reason is None


def _meta(message: Any) -> dict[str, Any]:
    return {"metadata": message.metadata} if message.metadata else {}
