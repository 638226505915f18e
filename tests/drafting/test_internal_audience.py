"""Internal-audience KB articles (agent guidelines: goodwill limits, escalation matrix,
identity checks) never reach a draft: the context `core.drafting.assemble.build_context`
builds holds customer-facing passages only, even for questions the internal articles answer
best, so neither drafter can quote them — nor can they reach an external LLM's prompt. Real
SQLite, real KB ingestion (chunks, embeddings, Chroma), real triage, the real pipeline, and
the scripted OpenAI-compatible server as the LLM."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from adapters.container import Container
from core.config import Settings
from core.conversations.schemas import MessageIn
from core.conversations.service import ConversationService
from core.drafting.assemble import ContextSources, build_context
from core.knowledge.models import KbChunk, KbDocument
from core.knowledge.schemas import SearchFilters, SearchIn
from core.processing.pipeline import WorkItem
from core.suggestions.models import Suggestion
from tests.helpers import make_database
from tests.llm.scripted_server import ScriptedLLMServer, Step
from workers.tasks import run_batch

ROOT = Path(__file__).resolve().parents[2]
INTERNAL_FILES = ("goodwill-credit-guidelines", "escalation-matrix", "identity-verification")
INTERNAL = ("goodwill-credit-guidelines", "escalation-matrix", "identity-verification-agents")
PUBLIC = ("returns-refunds/returns-window.md", "shipping/lost-parcel.md")
# Questions the internal articles answer best.
QUESTIONS = (
    "My parcel was lost and I'm upset. How much goodwill credit or voucher compensation can "
    "you give me, and who approves it?",
    "Who do you escalate a complaint to, and how fast?",
    "How do you verify my identity before you change the email on my account?",
)
INTERNAL_MARKERS = ("agents.northwind-outfitters.example", "Internal –", "for agents")


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedLLMServer]:
    with ScriptedLLMServer() as s:
        yield s


@pytest.fixture
def container(
    tmp_path: Path, make_settings: Callable[..., Settings], server: ScriptedLLMServer
) -> Iterator[Container]:
    url, drop = make_database("sqlite", tmp_path)
    c = Container(
        make_settings(
            database_url=url, llm_base_url=server.base_url, llm_model="scripted", llm_retries=0
        )
    )
    from kb_ingest.pipeline import IngestOptions
    from workers.kb import ingest_files

    files = [ROOT / "demo/kb" / p for p in PUBLIC]
    files += [ROOT / "demo/kb/internal" / f"{name}.md" for name in INTERNAL_FILES]
    ingest_files(c, files, IngestOptions())
    try:
        yield c
    finally:
        c.close()
        drop()


def ingest(c: Container, texts: tuple[str, ...], tag: str) -> list[str]:
    ids = []
    with c.session() as session:
        service = ConversationService(session, c.threading_policy)
        for i, text in enumerate(texts):
            body = {"channel": "email", "sender": {"email": f"{tag}{i}@example.com"}, "text": text}
            ids.append(service.ingest(MessageIn.model_validate(body), c.clock.now()).message.id)
        session.commit()
    return ids


def chunk_audience(c: Container) -> dict[str, str]:
    with c.session(write=False) as session:
        rows = session.execute(
            select(KbChunk.id, KbDocument.audience).join(
                KbDocument, KbDocument.id == KbChunk.document_id
            )
        )
        return {chunk_id: audience for chunk_id, audience in rows}


def test_internal_articles_are_ingested_and_found_by_an_unfiltered_search(
    container: Container,
) -> None:
    # the premise: the internal articles are there and are what these questions are about
    audiences = chunk_audience(container)
    assert "internal" in audiences.values() and "public" in audiences.values()
    with container.session(write=False) as session:
        kb = container.knowledge_search(session)
        for question, doc in zip(QUESTIONS, INTERNAL, strict=True):
            hits = kb.search(SearchIn(query=question, k=3, filters=SearchFilters(audience="all")))
            assert doc in [h.document_id for h in hits.hits], question


def test_the_draft_context_has_customer_facing_passages_only(container: Container) -> None:
    ids = ingest(container, QUESTIONS, "ctx")
    with container.session() as session:
        items: list[WorkItem] = container.processor.claim(session, ids, container.clock.now())
        session.commit()
    steps = container.processor.pipeline.steps
    assert steps[-1].name == "draft"
    for step in steps[:-1]:  # clean, embed, classify, index: what the draft step gets
        step.run(items)
    assert all(i.error is None for i in items), [i.error for i in items]
    # asked for more passages than the public articles have chunks: any internal chunk that
    # the filter let through would show up
    sources = ContextSources(
        history=container.history, related_k=5, kb_k=50, company_name="N", agent_name="A"
    )
    audiences = chunk_audience(container)
    with container.read_session_factory() as session:
        kb = container.knowledge_search(session)
        for item in items:
            ctx = build_context(session, kb, sources, item, container.clock.now())
            assert ctx.passages, item.text
            assert {audiences[p.chunk_id] for p in ctx.passages} == {"public"}
            assert not {p.document_id for p in ctx.passages} & set(INTERNAL)
            for p in ctx.passages:
                assert not any(m in (p.url or "") + p.title + p.text for m in INTERNAL_MARKERS)


def test_no_draft_and_no_llm_prompt_ever_sees_an_internal_article(
    container: Container, server: ScriptedLLMServer
) -> None:
    # a model that would happily quote anything it is given
    server.script(Step(answer={"reply": "Sure.", "cited_chunk_ids": [], "facts_used": []}))
    ids = ingest(container, QUESTIONS, "draft")
    outcome = run_batch(container, ids)
    assert sorted(outcome.processed) == sorted(ids)
    audiences = chunk_audience(container)
    internal_chunks = {c for c, a in audiences.items() if a == "internal"}
    assert server.requests  # the model was asked (the public articles gave it sources)
    for body in server.requests:  # every prompt that left the process
        text = str(body)
        assert not any(m in text for m in INTERNAL_MARKERS)
        assert not any(c in text for c in internal_chunks)
        offered = body["tools"][0]["function"]["parameters"]["properties"]["cited_chunk_ids"]
        assert {audiences[c] for c in offered["items"]["enum"]} <= {"public"}
    with container.session(write=False) as session:
        rows = list(session.scalars(select(Suggestion).where(Suggestion.message_id.in_(ids))))
    assert len(rows) == len(QUESTIONS)
    for row in rows:
        assert {audiences[c] for c in row.cited_chunks} <= {"public"}
        assert not any(m in row.draft_text for m in INTERNAL_MARKERS)
        assert "€20" not in row.draft_text and "Tier 1" not in row.draft_text
