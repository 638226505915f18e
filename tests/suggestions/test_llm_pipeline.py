"""LLM-drafted suggestions end to end: the container configured with THREADLINE_LLM_* settings
drafts through the real pipeline (real SQLite, real KB ingestion and search, real triage) and
the scripted OpenAI-compatible HTTP server; the API returns what the suggestion stores:
drafter, prompt id and version, model, KB version, cited chunks, facts used, fallback reason.
And the draft step's time budget: drafts past it are composed, with the reason recorded."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from adapters.container import Container, set_container
from api.app import create_app
from core.auth.service import create_key
from core.config import Settings
from core.conversations.schemas import MessageIn
from core.conversations.service import ConversationService
from core.suggestions.models import Suggestion
from tests.helpers import Api, make_database
from tests.llm.scripted_server import ScriptedLLMServer, Step
from tests.suggestions.test_approval_api import ask as ask_processed
from workers.tasks import run_batch

ROOT = Path(__file__).resolve().parents[2]
QUESTION = "How many days do I have to return my jacket?"
FACT = "30 days of delivery"
_SOURCE = re.compile(r"^\[S\d+\] chunk: (\S+) \|", re.MULTILINE)


def cite_the_return_window(body: dict[str, Any]) -> dict[str, Any]:
    """A model that answers from the source stating the return window, citing its chunk id
    (known only after the real ingestion), with the fact copied word for word."""
    user = str(body["messages"][1]["content"])
    marks = list(_SOURCE.finditer(user))
    for mark, nxt in zip(marks, [*marks[1:], None], strict=True):
        block = user[mark.end() : nxt.start() if nxt else len(user)]
        if FACT in block.replace("**", ""):
            return {
                "reply": f"Hello Maria,\n\nYou can return most items within {FACT} for a full "
                "refund.\n\nKind regards,\nThe support team",
                "cited_chunk_ids": [mark.group(1)],
                "facts_used": [FACT],
            }
    return {"reply": "No source states it.", "cited_chunk_ids": [], "facts_used": []}


def invented(body: dict[str, Any]) -> dict[str, Any]:
    """A fluent reply citing a real chunk but stating a refund time no source has."""
    answer = cite_the_return_window(body)
    answer["reply"] = answer["reply"].replace("for a full refund", "and get a refund in 48 hours")
    return answer


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedLLMServer]:
    with ScriptedLLMServer() as s:
        yield s


def llm_container(
    tmp_path: Path, make_settings: Callable[..., Settings], server: ScriptedLLMServer, **extra: Any
) -> tuple[Container, Callable[[], None]]:
    url, drop = make_database("sqlite", tmp_path)
    settings = make_settings(
        database_url=url,
        llm_base_url=server.base_url,  # THREADLINE_LLM_BASE_URL
        llm_model="scripted-model",  # THREADLINE_LLM_MODEL
        llm_retries=0,
        llm_timeout_s=10,
        **extra,
    )
    container = Container(settings)
    from kb_ingest.pipeline import IngestOptions
    from workers.kb import ingest_files

    ingest_files(
        container,
        [
            ROOT / "demo/kb/returns-refunds/returns-window.md",
            ROOT / "demo/kb/shipping/lost-parcel.md",
        ],
        IngestOptions(),
    )
    return container, drop


@pytest.fixture
def api(
    tmp_path: Path, make_settings: Callable[..., Settings], server: ScriptedLLMServer
) -> Iterator[Api]:
    container, drop = llm_container(tmp_path, make_settings, server)
    set_container(container)
    keys = {}
    with container.session() as session:
        for role in ("integration", "agent"):
            _, keys[role] = create_key(session, role, f"test {role}", container.clock.now())
        session.commit()
    try:
        with TestClient(create_app(container)) as client:
            yield Api(client, keys)
    finally:
        container.close()
        set_container(None)
        drop()


def ask(api: Api, text: str, **extra: Any) -> dict[str, Any]:
    """The suggestion of a message posted and processed (see test_approval_api.ask)."""
    suggestion: dict[str, Any] = ask_processed(api, text, **extra)["suggestion"]
    return suggestion


def test_an_llm_drafted_suggestion_stores_how_it_was_made(
    api: Api, server: ScriptedLLMServer
) -> None:
    server.script(Step(respond=cite_the_return_window))
    llm = ask(api, QUESTION)
    assert len(server.requests) == 1  # the pipeline asked the model once
    tool = server.requests[0]["tools"][0]["function"]
    offered = tool["parameters"]["properties"]["cited_chunk_ids"]["items"]["enum"]
    assert llm["drafter"] == "llm", llm["fallback_reason"]
    assert llm["fallback_reason"] is None
    assert (llm["prompt_id"], llm["prompt_version"], llm["model"]) == (
        "drafting/reply",
        1,
        "scripted-model",
    )
    assert llm["kb_version"] == 1
    assert len(llm["cited_chunks"]) == 1 and llm["cited_chunks"][0] in offered
    assert llm["facts_used"] == [FACT]
    assert llm["draft_text"].startswith("Hello Maria,") and FACT in llm["draft_text"]
    assert llm["status"] == "pending"
    # the same, read back from the API
    assert api.get(f"/v1/suggestions/{llm['id']}", role="agent").json() == llm

    # a reply the check rejects: the composer's draft, with why, and the attempt on record
    server.script(Step(respond=invented))
    fell_back = ask(api, QUESTION, external_id="m-2", channel="chat", sender={"handle": "c-9"})
    assert len(server.requests) == 1
    assert fell_back["drafter"] == "composer"
    assert fell_back["fallback_reason"] == "unsupported_facts: 48 hours"
    assert (fell_back["prompt_id"], fell_back["prompt_version"], fell_back["model"]) == (
        "drafting/reply",
        1,
        "scripted-model",
    )
    assert fell_back["kb_version"] == 1 and fell_back["cited_chunks"]
    assert "48 hours" not in fell_back["draft_text"]

    # accepting the LLM's draft: stats by drafter tell the two apart
    assert api.post(f"/v1/suggestions/{llm['id']}/accept", role="agent").status_code == 200
    stats = api.get("/v1/suggestions/stats", role="agent").json()
    by_drafter = {r["key"]: r for r in stats["by_drafter"]}
    assert set(by_drafter) == {"llm", "composer"}
    assert (by_drafter["llm"]["total"], by_drafter["llm"]["accepted"]) == (1, 1)
    assert by_drafter["llm"]["acceptance_rate"] == 1.0
    assert by_drafter["llm"]["mean_edit_distance"] == 0
    assert (by_drafter["composer"]["total"], by_drafter["composer"]["pending"]) == (1, 1)
    assert by_drafter["composer"]["acceptance_rate"] is None


def test_drafts_past_the_time_budget_are_composed_with_the_reason(
    tmp_path: Path, make_settings: Callable[..., Settings], server: ScriptedLLMServer
) -> None:
    # lease 1 s: LLM drafts of a batch must end within 0.5 s; the model takes 0.8 s
    container, drop = llm_container(
        tmp_path, make_settings, server, lease_seconds=1, draft_parallel=1
    )
    try:
        ids = []
        with container.session() as session:
            service = ConversationService(session, container.threading_policy)
            for i in range(3):
                body = {
                    "channel": "email",
                    "sender": {"email": f"customer{i}@example.com", "name": f"Customer {i}"},
                    "subject": "Question",
                    "text": QUESTION,
                }
                message = MessageIn.model_validate(body)
                ids.append(service.ingest(message, container.clock.now()).message.id)
            session.commit()
        server.script(Step(respond=cite_the_return_window, delay_s=0.8))
        outcome = run_batch(container, ids)
        assert sorted(outcome.processed) == sorted(ids)
        with container.session(write=False) as session:
            rows = list(session.scalars(select(Suggestion).where(Suggestion.message_id.in_(ids))))
        assert len(rows) == 3
        # the first draft of the batch was the model's; the budget was gone after it
        assert len(server.requests) == 1
        llm = [r for r in rows if r.drafter == "llm"]
        composed = [r for r in rows if r.drafter == "composer"]
        assert len(llm) == 1 and len(composed) == 2
        assert llm[0].fallback_reason is None and llm[0].model == "scripted-model"
        for row in composed:
            assert row.fallback_reason is not None
            assert row.fallback_reason.split(":")[0] == "time_budget", row.fallback_reason
            assert row.model is None and row.prompt_id is None  # the model was never asked
            assert row.cited_chunks and row.kb_version == 1  # still a grounded draft
    finally:
        container.close()
        drop()
