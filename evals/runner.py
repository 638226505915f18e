"""Run an eval suite through the real pipeline in an isolated sandbox.

The sandbox is a temporary data folder with its own SQLite database and local Chroma store,
so a run never touches the configured instance. It gets:

- the suite's KB (or `--kb PATH`), ingested with kb_ingest; without either, a copy of the
  configured KB (read from the configured database);
- the configured routing config and a copy of the newest trained intent model, if any;
- the configured drafter (the grounded composer, or the LLM when THREADLINE_LLM_BASE_URL is
  set) and the configured embedder (shared with the calling process: loaded once).

Every variant gets a fresh customer made from its persona (account, attributes, prior
messages posted and processed first, `sent_at = now - hours_ago`), so variants never see each
other. Then every variant is posted as a message and processed by the container's processor
(clean → embed → classify → index → draft). The clock is fixed, so two runs of the same
suite on the same KB and model give the same drafts (with the composer).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from core.conversations.models import Message
from core.conversations.schemas import MessageIn
from core.conversations.service import ConversationService
from core.identity.rules import Identifier, normalize_email
from core.identity.service import IdentityService
from core.knowledge.models import KbChunk, KbDocument
from core.knowledge.schemas import SearchIn, SearchOut
from core.knowledge.search import KnowledgeSearch
from core.ports import Vector
from core.suggestions.models import Suggestion
from evals.metrics import (
    METRICS,
    ClusterExpectation,
    VariantOutcome,
    answer_text,
    apply_repeat_agreement,
    check_bars,
    cluster_scores,
    fact_values,
    mentions_channel,
    offer_mentioned,
    per_intent_scores,
    public_personal_data,
    summarize,
)
from evals.suite import Cluster, LoadedSuite, Persona, Variant

if TYPE_CHECKING:
    from adapters.container import Container

log = logging.getLogger(__name__)

# The fixed "now" of every run: a Wednesday afternoon, so "20 hours ago" is "yesterday".
EVAL_NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
BATCH = 16
RESULT_VERSION = 1

Progress = Callable[[str, int, int], None]


class EvalRunError(RuntimeError):
    """A suite that cannot run (its KB is missing, nothing got processed)."""


class FixedClock:
    """Implements core.ports.Clock: always the same instant."""

    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now


@dataclass
class RunOptions:
    """How to run: repeats (stability), a KB to use instead of the suite's, bars."""

    repeat: int = 1
    kb: Path | None = None
    bars: dict[str, float] = field(default_factory=dict)
    keep_sandbox: bool = False


class RecordingSearch(KnowledgeSearch):
    """The KB search the drafter uses, remembering what it returned for each query."""

    log: dict[str, SearchOut]

    def search(self, request: SearchIn, vector: Vector | None = None) -> SearchOut:
        out = super().search(request, vector)
        self.log[request.query] = out
        return out


# --- sandbox -------------------------------------------------------------------------------


def sandbox_container(container: Container, folder: Path) -> Container:
    """A container over `folder` with the configured settings otherwise, sharing the
    caller's embedder (the model is loaded once per process)."""
    from adapters.container import Container as ContainerClass
    from core.config import Settings

    base = container.settings
    values = {
        name: getattr(base, name)
        for name in Settings.model_fields
        if name not in ("data_dir", "database_url", "chroma_url", "queue")
    }
    settings = Settings(_env_file=None, data_dir=folder, queue="local", **values)  # type: ignore[call-arg]
    sandbox = ContainerClass(settings, clock=FixedClock(EVAL_NOW))
    sandbox.embedder = container.embedder  # type: ignore[misc]
    return sandbox


def copy_intent_model(
    container: Container, sandbox: Container, needs: set[str] | None = None
) -> str | None:
    """Copy the newest trained intent model (and its side files) into the sandbox; with
    `needs`, only a model that knows all those intents."""
    from core.classification.intent_model import TrainedIntentModel, latest_model

    path = latest_model(container.settings.models_dir)
    if path is None:
        return None
    if needs and not needs <= set(TrainedIntentModel.load(path).labels):
        return None
    target = sandbox.settings.models_dir
    target.mkdir(parents=True, exist_ok=True)
    stem = path.name.split(".")[0]
    for f in path.parent.iterdir():
        if f.is_file() and f.name.split(".")[0] == stem:
            shutil.copy2(f, target / f.name)
    return path.name


def copy_configured_kb(container: Container, sandbox: Container) -> int:
    """Copy the configured KB (documents and chunks) into the sandbox; returns documents."""
    from core.knowledge.service import IncomingChunk, IncomingDocument
    from kb_ingest.pipeline import Prepared
    from workers.kb import apply_prepared

    with container.session(write=False) as session:
        docs = list(session.scalars(select(KbDocument).options(selectinload(KbDocument.chunks))))
        incoming = [
            IncomingDocument(
                id=d.id,
                title=d.title,
                source=d.source,
                origin=d.origin,
                kind=d.kind,
                chunks=tuple(
                    IncomingChunk(
                        content_hash=c.content_hash,
                        heading_path=tuple(c.heading_path),
                        text=c.text,
                        embedding_text=_embedding_text(d.title, c.heading_path, c.text),
                    )
                    for c in d.chunks
                ),
                tags=tuple(d.tags),
                audience=d.audience,
                language=d.language,
                url=d.url,
            )
            for d in docs
        ]
    if incoming:
        apply_prepared(sandbox, Prepared(documents=incoming), source="evals:configured")
    return len(incoming)


def _embedding_text(title: str, heading_path: Sequence[str], text: str) -> str:
    context = " > ".join(p for p in (title, *heading_path) if p)
    return f"{context}\n\n{text}" if context else text


def suite_routing(loaded: LoadedSuite) -> Any:
    """The RoutingConfig a suite asks for (`routing: {teams|config: path}`)."""
    from core.routing.config import RoutingConfig, TeamConfig, load_routing_config, load_teams_yaml

    spec = loaded.suite.routing
    assert spec is not None
    path = loaded.resolve(spec.config or spec.teams)
    assert path is not None
    if not path.is_file():
        raise EvalRunError(f"the suite's routing file {path} does not exist")
    if spec.config:
        return load_routing_config(path)
    teams = load_teams_yaml(path)
    triage = "triage" if "triage" not in teams else "_triage"
    teams[triage] = TeamConfig.model_validate(
        {"description": "Messages the router abstains on.", "intents": {}}
    )
    return RoutingConfig(
        triage_team=triage,
        fallback_team=triage,
        abstain_below=load_routing_config(None).abstain_below,
        teams=teams,
    )


def kb_fingerprint(session: Session) -> str:
    """A hash of every document's fingerprint: equal KB content, equal hash."""
    rows = session.execute(select(KbDocument.id, KbDocument.fingerprint).order_by(KbDocument.id))
    payload = json.dumps([list(r) for r in rows])
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


# --- personas and messages -----------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "x"


def unique_email(email: str, *tags: str) -> str:
    """`alex@example.com` → `alex+return-window-email-new-r0@example.com`."""
    local, _, domain = email.partition("@")
    tag = "-".join(_slug(t) for t in tags)
    return f"{local.split('+')[0]}+{tag}@{domain}"


@dataclass
class Posted:
    """The messages of one variant in one repeat."""

    cluster: Cluster
    variant: Variant
    persona: Persona
    repeat: int
    message_id: str
    prior_ids: list[str]


def post_variant(
    session: Session,
    sandbox: Container,
    cluster: Cluster,
    variant: Variant,
    persona: Persona,
    repeat: int,
) -> Posted:
    """Create the variant's customer from its persona, post its prior messages and the
    variant itself (the caller commits and processes)."""
    now = EVAL_NOW
    region = sandbox.settings.default_phone_region
    email = normalize_email(
        unique_email(persona.sender.email, cluster.id, variant.id, f"r{repeat}")
    )
    IdentityService(session, region).import_profile(
        persona.sender.name,
        [Identifier("email", email)],
        persona.account,
        dict(persona.attributes),
        now,
        account_attributes=dict(persona.account_attributes) or None,
    )
    sender: dict[str, Any] = {"email": email, "name": persona.sender.name}
    if persona.account:
        sender["account"] = persona.account
    service = ConversationService(session, sandbox.threading_policy)
    key = f"eval:{cluster.id}:{variant.id}:r{repeat}"
    prior_ids = []
    for index, prior in enumerate(persona.prior):
        result = service.ingest(
            MessageIn.model_validate(
                {
                    "channel": prior.channel,
                    "external_id": f"{key}:prior{index}",
                    "sender": sender,
                    "subject": prior.subject if prior.channel == "email" else None,
                    "text": prior.text,
                    "sent_at": now - timedelta(hours=prior.hours_ago),
                }
            ),
            now,
        )
        prior_ids.append(result.message.id)
    result = service.ingest(
        MessageIn.model_validate(
            {
                "channel": variant.channel,
                "external_id": key,
                "sender": sender,
                "subject": variant.subject if variant.channel == "email" else None,
                "text": variant.text,
                "sent_at": now - timedelta(minutes=1),
                "metadata": {"public": True} if variant.public else {},
            }
        ),
        now,
    )
    return Posted(cluster, variant, persona, repeat, result.message.id, prior_ids)


def process(
    sandbox: Container,
    ids: Sequence[str],
    drafts: bool,
    on_batch: Callable[[int], None] | None = None,
) -> None:
    """Run messages through the processor in batches (priors skip the draft step)."""
    from core.processing.pipeline import Pipeline
    from core.processing.service import MessageProcessor

    processor = sandbox.processor
    if not drafts:
        steps = [s for s in processor.pipeline.steps if s.name != "draft"]
        processor = MessageProcessor(Pipeline(steps), processor.policy)
    now = sandbox.clock.now()
    for start in range(0, len(ids), BATCH):
        batch = list(ids[start : start + BATCH])
        with sandbox.session() as session:
            items = processor.claim(session, batch, now)
            session.commit()
        processor.run(items)
        with sandbox.session() as session:
            processor.finish(session, items, now)
            session.commit()
        if on_batch is not None:
            on_batch(len(batch))


# --- collecting outcomes -------------------------------------------------------------------


def _persona_data(persona: Persona) -> list[str]:
    parts = [persona.sender.name or "", persona.account or ""]
    parts += [f"{k}: {v}" for k, v in persona.attributes.items()]
    parts += [f"{k}: {v}" for k, v in persona.account_attributes.items()]
    return [p for p in parts if p]


def collect(
    sandbox: Container,
    posted: Sequence[Posted],
    searches: dict[str, SearchOut],
) -> dict[tuple[str, str, int], dict[str, Any]]:
    """What the pipeline stored for every variant message: triage, draft, citations."""
    ids = [p.message_id for p in posted]
    out: dict[tuple[str, str, int], dict[str, Any]] = {}
    with sandbox.session(write=False) as session:
        messages = {m.id: m for m in session.scalars(select(Message).where(Message.id.in_(ids)))}
        suggestions = {
            s.message_id: s
            for s in session.scalars(select(Suggestion).where(Suggestion.message_id.in_(ids)))
        }
        chunk_ids = {c for s in suggestions.values() for c in s.cited_chunks}
        chunks = {
            c.id: c
            for c in session.scalars(
                select(KbChunk)
                .where(KbChunk.id.in_(chunk_ids))
                .options(selectinload(KbChunk.document))
            )
        }
        for p in posted:
            m = messages[p.message_id]
            s = suggestions.get(m.id)
            triage = m.triage or {}
            query = " ".join(x for x in (m.subject, m.clean_text or m.text) if x)[:2000]
            found = searches.get(query)
            cited = [chunks[c] for c in (s.cited_chunks if s else []) if c in chunks]
            out[(p.cluster.id, p.variant.id, p.repeat)] = {
                "status": m.status,
                "error": m.error,
                "reference": m.conversation.reference,
                "team": m.team,
                "intent": m.intent,
                "intent_confidence": float((triage.get("intent") or {}).get("confidence") or 0.0),
                "team_confidence": float((triage.get("team") or {}).get("confidence") or 0.0),
                "abstained": bool(triage.get("abstained", False)),
                "draft": s.draft_text if s else "",
                "drafter": s.drafter if s else None,
                "prompt_id": s.prompt_id if s else None,
                "prompt_version": s.prompt_version if s else None,
                "model": s.model if s else None,
                "flags": list(s.flags) if s else [],
                "needs_human": bool(s.needs_human) if s else True,
                "fallback_reason": s.fallback_reason if s else None,
                "cited_chunks": [c.id for c in cited],
                "cited_documents": list(dict.fromkeys(c.document_id for c in cited)),
                "cited_texts": [c.text for c in cited]
                + [c.document.url for c in cited if c.document.url],
                "retrieved": [h.document_id for h in found.hits] if found else [],
                "retrieved_chunks": [
                    {"document_id": h.document_id, "chunk_id": h.chunk_id, "score": h.dense_score}
                    for h in (found.hits if found else [])
                ],
            }
    return out


def outcome_of(
    sandbox: Container,
    p: Posted,
    row: dict[str, Any],
    repeats: list[str],
    offers: dict[str, tuple[str, ...]],
) -> VariantOutcome:
    """One variant's metrics inputs from what the pipeline stored."""
    from core.drafting.facts import unsupported_facts
    from core.drafting.style import canonical_channel

    s = sandbox.settings
    draft = row["draft"]
    answer = answer_text(draft) if draft else ""
    sources = [
        *row["cited_texts"],
        p.variant.text,
        p.variant.subject or "",
        *(x.text for x in p.persona.prior),
        *_persona_data(p.persona),
        row["reference"],
        s.company_name,
        s.agent_signature,
    ]
    unsupported = [f.text for f in unsupported_facts(draft, sources)] if draft else []
    window = s.acknowledge_window_hours
    prior_channels = sorted(
        {
            x.channel
            for x in p.persona.prior
            if x.hours_ago <= window
            and canonical_channel(x.channel) != canonical_channel(p.variant.channel)
        }
    )
    personalized = None
    if prior_channels and not p.variant.public:
        personalized = any(mentions_channel(draft, c) for c in prior_channels)
    public_pii: list[str] = []
    if p.variant.public:
        published = [*row["cited_texts"], s.company_name, s.agent_signature]
        public_pii = public_personal_data(
            draft, p.persona.sender.name, published, s.default_phone_region
        )
    declined = p.persona.declined_offers
    reoffered = [k for k in declined if offer_mentioned(draft, k, offers.get(k, ()))]
    return VariantOutcome(
        cluster_id=p.cluster.id,
        variant_id=p.variant.id,
        channel=p.variant.channel,
        customer=p.variant.customer,
        public=p.variant.public,
        text=p.variant.text,
        draft=draft,
        answer=answer,
        team=row["team"],
        intent=row["intent"],
        intent_confidence=row["intent_confidence"],
        team_confidence=row["team_confidence"],
        abstained=row["abstained"],
        drafter=row["drafter"],
        flags=row["flags"],
        needs_human=row["needs_human"],
        fallback_reason=row["fallback_reason"] or row["error"],
        cited_chunks=row["cited_chunks"],
        cited_documents=row["cited_documents"],
        retrieved_documents=row["retrieved"],
        facts=fact_values(answer_text(draft, link=False)) if draft else [],
        unsupported=unsupported,
        prior_channels=prior_channels,
        personalized=personalized,
        public_pii=public_pii,
        declined=declined,
        reoffered=reoffered,
        repeats=repeats,
        stable=(len(set(repeats)) == 1) if len(repeats) > 1 else None,
        message_id=p.message_id,
        extra={"status": row["status"], "retrieved_chunks": row["retrieved_chunks"]},
    )


def _normalized(draft: str, reference: str) -> str:
    return draft.replace(reference, "<reference>") if reference else draft


# --- routing figures -----------------------------------------------------------------------


def routing_results(outcomes: Sequence[tuple[ClusterExpectation, VariantOutcome]]) -> Any:
    """(intent EvalResult, team EvalResult) of the variants with expectations (or None)."""
    from core.classification.intent_model import Prediction
    from core.classification.metrics import evaluate

    def result(pairs: list[tuple[str, str, float]]) -> Any:
        if not pairs:
            return None
        return evaluate(
            [t for t, _, _ in pairs],
            [Prediction(p, min(max(c, 0.0), 1.0), []) for _, p, c in pairs],
        )

    intents = [
        (c.expected_intent, o.intent or "(none)", o.intent_confidence)
        for c, o in outcomes
        if c.expected_intent
    ]
    teams = [
        (c.expected_team, o.team or "(none)", o.team_confidence)
        for c, o in outcomes
        if c.expected_team
    ]
    return result(intents), result(teams)


def _eval_json(result: Any) -> dict[str, Any] | None:
    if result is None:
        return None
    data = asdict(result)
    data["per_label"] = {k: asdict(v) for k, v in result.per_label.items()}
    return data


# --- the run -------------------------------------------------------------------------------


def run_suite(
    container: Container,
    loaded: LoadedSuite,
    options: RunOptions | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run one suite; returns the JSON-ready result (every number, the suite hash, KB
    version and fingerprint, prompt versions, model, drafter)."""
    options = options or RunOptions()
    tick = progress or (lambda stage, done, total: None)
    suite = loaded.suite
    started = time.time()
    started_at = datetime.now(UTC)
    folder = Path(tempfile.mkdtemp(prefix="threadline-eval-"))
    sandbox = sandbox_container(container, folder)
    try:
        from core.migrate import upgrade

        tick("Preparing the sandbox", 0, 1)
        upgrade(sandbox.settings.resolved_database_url)
        needs = None
        if suite.routing is not None:
            sandbox.routing_config = suite_routing(loaded)  # type: ignore[misc]
            needs = {c.expected_intent for c in suite.clusters if c.expected_intent}
        model_file = copy_intent_model(container, sandbox, needs)

        kb_path = options.kb or loaded.kb_path
        if kb_path is not None:
            if not kb_path.exists():
                raise EvalRunError(f"the suite's KB {kb_path} does not exist")
            from kb_ingest.pipeline import IngestOptions
            from workers.kb import ingest_files

            tick("Ingesting the KB", 0, 1)
            ingest_files(sandbox, [kb_path], IngestOptions(), source="evals")
            kb_source = str(kb_path)
        elif any(c.expected_articles or c.expected_facts for c in suite.clusters):
            tick("Copying the configured KB", 0, 1)
            copy_configured_kb(container, sandbox)
            kb_source = "configured"
        else:
            kb_source = "none (routing only)"
        tick("Preparing the sandbox", 1, 1)

        searches: dict[str, SearchOut] = {}

        def recording(session: Session) -> KnowledgeSearch:
            search = RecordingSearch(
                session,
                sandbox.embedder,
                sandbox.vector_store,
                sandbox.lexical_index,
                rrf_k=sandbox.settings.kb_rrf_k,
                lexical_weight=sandbox.settings.kb_lexical_weight,
            )
            search.log = searches
            return search

        sandbox.knowledge_search = recording  # type: ignore[method-assign]

        repeat = max(1, options.repeat)
        posted: list[Posted] = []
        with sandbox.session() as session:
            for r in range(repeat):
                for cluster in suite.clusters:
                    for variant in cluster.variants:
                        persona = suite.customers[variant.customer]
                        posted.append(post_variant(session, sandbox, cluster, variant, persona, r))
            session.commit()

        prior_ids = [i for p in posted for i in p.prior_ids]
        if prior_ids:
            done = 0

            def prior_tick(n: int) -> None:
                nonlocal done
                done += n
                tick("Prior contacts", done, len(prior_ids))

            tick("Prior contacts", 0, len(prior_ids))
            process(sandbox, prior_ids, drafts=False, on_batch=prior_tick)

        variant_ids = [p.message_id for p in posted]
        done = 0

        def variant_tick(n: int) -> None:
            nonlocal done
            done += n
            tick("Routing and drafting", done, len(variant_ids))

        tick("Routing and drafting", 0, len(variant_ids))
        process(sandbox, variant_ids, drafts=True, on_batch=variant_tick)

        tick("Scoring", 0, 1)
        rows = collect(sandbox, posted, searches)
        processed = sum(1 for row in rows.values() if row["status"] == "processed")
        if processed == 0:
            errors = {row["error"] for row in rows.values() if row["error"]}
            raise EvalRunError(f"no variant was processed: {'; '.join(sorted(errors))[:500]}")
        result = score(sandbox, loaded, posted, rows, repeat)
        with sandbox.session(write=False) as session:
            from core.knowledge.repository import KnowledgeRepository

            kb_version = KnowledgeRepository(session).current_version()
            kb_documents = len(list(session.scalars(select(KbDocument.id))))
            fingerprint = kb_fingerprint(session)
        triager = sandbox.triager()
        prompt_versions = sorted(
            {
                f"{row['prompt_id']}.v{row['prompt_version']}"
                for row in rows.values()
                if row["prompt_id"]
            }
        )
        drafters: dict[str, int] = {}
        for row in rows.values():
            if row["drafter"]:
                drafters[row["drafter"]] = drafters.get(row["drafter"], 0) + 1
        s = sandbox.settings
        result["run"] = {
            "started_at": started_at.isoformat(),
            "duration_s": round(time.time() - started, 1),
            "clock": EVAL_NOW.isoformat(),
            "repeat": repeat,
            "drafter": "llm" if s.llm_base_url else "composer",
            "drafts_by_drafter": drafters,
            "model": s.llm_model if s.llm_base_url else None,
            "prompt_versions": prompt_versions,
            "embedding_model": sandbox.embedder.model_name,
            "intent_model": triager.model.version,
            "intent_model_file": model_file,
            "routing_config": (
                str(loaded.resolve(suite.routing.config or suite.routing.teams))
                if suite.routing
                else str(s.routing_config or "default")
            ),
            "kb_source": kb_source,
            "kb_version": kb_version,
            "kb_documents": kb_documents,
            "kb_fingerprint": fingerprint,
            "draft_kb_k": s.draft_kb_k,
            "processed": processed,
            "messages": len(rows),
        }
        result["bars"] = check_bars(result["summary"], options.bars)
        tick("Scoring", 1, 1)
        return result
    finally:
        sandbox.close()
        store = sandbox.__dict__.get("vector_store")
        client = getattr(store, "_client", None)
        if client is not None:
            try:
                client.close()  # stops the sandbox's Chroma system, only that one
            except Exception:  # noqa: BLE001 - best effort: the folder goes anyway
                log.debug("could not close the sandbox's Chroma client", exc_info=True)
        if options.keep_sandbox:
            log.info("eval sandbox kept in %s", folder)
        else:
            shutil.rmtree(folder, ignore_errors=True)


def score(
    sandbox: Container,
    loaded: LoadedSuite,
    posted: Sequence[Posted],
    rows: dict[tuple[str, str, int], dict[str, Any]],
    repeat: int,
) -> dict[str, Any]:
    """Per-variant outcomes → per-cluster, per-intent and overall metrics."""
    from core.drafting.composer import default_offers

    suite = loaded.suite
    offers = default_offers()
    first = [p for p in posted if p.repeat == 0]
    wanted = {a for c in suite.clusters for a in c.expected_articles}
    with sandbox.session(write=False) as session:
        languages = {
            doc_id: language
            for doc_id, language in session.execute(
                select(KbDocument.id, KbDocument.language).where(KbDocument.id.in_(wanted))
            )
            if language
        }
    expectations = {
        c.id: ClusterExpectation(
            id=c.id,
            expected_articles=list(c.expected_articles),
            expected_team=c.expected_team,
            expected_intent=c.expected_intent,
            expected_facts=list(c.expected_facts),
            article_languages={a: languages[a] for a in c.expected_articles if a in languages},
        )
        for c in suite.clusters
    }
    outcomes: dict[str, list[VariantOutcome]] = {c.id: [] for c in suite.clusters}
    for p in first:
        repeats = [
            _normalized(
                rows[(p.cluster.id, p.variant.id, r)]["draft"],
                rows[(p.cluster.id, p.variant.id, r)]["reference"],
            )
            for r in range(repeat)
        ]
        row = rows[(p.cluster.id, p.variant.id, 0)]
        outcomes[p.cluster.id].append(outcome_of(sandbox, p, row, repeats, offers))
    if repeat > 1:  # facts and meaning over the repeats of each variant
        apply_repeat_agreement(
            (o for outs in outcomes.values() for o in outs), sandbox.embedder.embed
        )

    # Answer parts of every answer cluster, embedded in one batched call.
    answer_clusters = [c for c in suite.clusters if expectations[c.id].answers]
    texts = [o.answer or o.draft or " " for c in answer_clusters for o in outcomes[c.id]]
    vectors = sandbox.embedder.embed(texts) if texts else []
    by_cluster: dict[str, list[list[float]]] = {}
    offset = 0
    for c in answer_clusters:
        n = len(outcomes[c.id])
        by_cluster[c.id] = [list(v) for v in vectors[offset : offset + n]]
        offset += n

    clusters_out = []
    triples = []
    for c in suite.clusters:
        exp = expectations[c.id]
        scores = cluster_scores(exp, outcomes[c.id], by_cluster.get(c.id))
        triples.append((exp, outcomes[c.id], scores))
        clusters_out.append(
            {
                "id": c.id,
                "description": c.description,
                "expected": asdict(exp),
                "scores": scores,
                "variants": [asdict(o) for o in outcomes[c.id]],
            }
        )
    per_intent = per_intent_scores(triples)
    pairs = [(exp, o) for exp, outs, _ in triples for o in outs]
    intent_result, team_result = routing_results(pairs)
    return {
        "version": RESULT_VERSION,
        "suite": {
            "name": suite.name,
            "description": suite.description,
            "source": loaded.source,
            "hash": loaded.hash,
            "clusters": len(suite.clusters),
            "variants": suite.variant_count,
        },
        "summary": summarize(triples),
        "metrics": dict(METRICS),
        "per_intent": per_intent,
        "clusters": clusters_out,
        "routing": {
            "intent": _eval_json(intent_result),
            "team": _eval_json(team_result),
        },
    }


def run_suites(
    container: Container,
    suites: Sequence[LoadedSuite],
    options: RunOptions | None = None,
    progress: Callable[[str, str, int, int], None] | None = None,
    previous: Mapping[str, Any] | None = None,
    baseline: str | None = None,
) -> dict[str, Any]:
    """Run several suites; the JSON document of `evals run --json` (and of the API).

    `previous` is an earlier document (`baseline` names it: the --compare file, or the API
    run it comes from): each suite of the same name gets `compare`, the per-metric deltas
    and what got better or worse per cluster, and `same_suite`, whether the suite's hash is
    the baseline's (a changed suite is still compared, cluster by cluster id). `passed` is
    False when a --fail-under bar was missed in any suite.
    """
    from evals.metrics import compare, compare_clusters

    options = options or RunOptions()
    results = []
    for loaded in suites:
        name = loaded.suite.name

        def tick(stage: str, done: int, total: int, name: str = name) -> None:
            if progress is not None:
                progress(name, stage, done, total)

        result = run_suite(container, loaded, options, tick)
        before = next(
            (s for s in (previous or {}).get("suites", []) if s["suite"]["name"] == name), None
        )
        if before is not None:
            result["compare"] = {
                "baseline": baseline,
                "previous_generated_at": (previous or {}).get("generated_at"),
                "previous_hash": before["suite"]["hash"],
                "same_suite": before["suite"]["hash"] == loaded.hash,
                "previous_run": before.get("run", {}),
                "metrics": compare(result["summary"], before["summary"]),
                "clusters": compare_clusters(result["clusters"], before.get("clusters") or []),
            }
        results.append(result)
    missed = missed_bars(results)
    return {
        "version": RESULT_VERSION,
        "generated_at": datetime.now(UTC).isoformat(),
        "suites": results,
        "passed": not missed,
        "missed": missed,
    }


def missed_bars(results: Sequence[Mapping[str, Any]]) -> list[str]:
    """`suite: metric value < bar` for every --fail-under bar a suite missed (`>` for a
    metric whose bar is a maximum, needs_human_rate)."""
    from evals.metrics import HIGHER_IS_BETTER

    out = []
    for r in results:
        for metric, bar in (r.get("bars") or {}).items():
            if bar["passed"] is False:
                op = "<" if HIGHER_IS_BETTER.get(metric, True) else ">"
                out.append(
                    f"{r['suite']['name']}: {metric} {bar['value']:.3f} {op} {bar['bar']:.3f}"
                )
    return out


def comparisons(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Suite name → metric deltas, for the report."""
    return {r["suite"]["name"]: r["compare"]["metrics"] for r in doc["suites"] if r.get("compare")}
