"""Composition root: builds every adapter from Settings and wires them into core services."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from adapters.clock import SystemClock
from core.config import Settings
from core.conversations.service import ThreadingPolicy
from core.db import make_engine, make_session_factory
from core.knowledge.search import KnowledgeSearch
from core.ports import Clock, Embedder, LexicalIndex, TaskQueue, Vector, VectorStore
from core.processing.pipeline import CleanStep, EmbedStep, IndexStep, Pipeline
from core.processing.service import MessageProcessor, ProcessingPolicy
from core.retrieval.history import HistoryIndex

if TYPE_CHECKING:
    from core.drafting.composer import GroundedComposer
    from core.drafting.context import Drafter
    from core.routing.config import RoutingConfig
    from core.routing.triage import Triager

log = logging.getLogger(__name__)


class Container:
    """One per process. Everything heavy (model, clients) is built on first use."""

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self._triager: Triager | None = None
        self._triager_key = ""
        self._triager_checked = 0.0
        self._triager_lock = threading.Lock()
        self._intent_encoders: dict[str, Embedder] = {}
        self._intent_encoders_lock = threading.Lock()

    # --- database ------------------------------------------------------------------------
    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.settings.resolved_database_url)

    @cached_property
    def session_factory(self) -> sessionmaker[Session]:
        return make_session_factory(self.engine)

    @cached_property
    def read_session_factory(self) -> sessionmaker[Session]:
        return make_session_factory(self.engine, write=False)

    @contextmanager
    def session(self, write: bool = True) -> Iterator[Session]:
        """A session that rolls back whatever was not committed."""
        session = (self.session_factory if write else self.read_session_factory)()
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def ping_database(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    # --- embeddings and vectors -----------------------------------------------------------
    @cached_property
    def embedder(self) -> Embedder:
        from adapters.embeddings.sentence_transformer import SentenceTransformerEmbedder

        return SentenceTransformerEmbedder(
            self.settings.embedding_model_path,
            batch_size=self.settings.embedding_batch_size,
            torch_threads=self.settings.torch_threads,
        )

    def intent_encoder(self, name: str) -> Embedder:
        """The second intent encoder `name` (a packaged model or a folder), built once."""
        from adapters.embeddings.packaged import encoder_path
        from adapters.embeddings.sentence_transformer import SentenceTransformerEmbedder

        with self._intent_encoders_lock:
            encoder = self._intent_encoders.get(name)
            if encoder is None:
                encoder = SentenceTransformerEmbedder(
                    encoder_path(name, self.settings.models_dir / "encoders"),
                    batch_size=self.settings.embedding_batch_size,
                    torch_threads=self.settings.torch_threads,
                )
                self._intent_encoders[name] = encoder
            return encoder

    def intent_vectors(
        self, texts: Sequence[str], vectors: Sequence[Vector], encoder: str | None
    ) -> Sequence[Sequence[float]]:
        """What an intent model reads: the message vectors, joined with the vectors of the
        texts by the second intent `encoder` when there is one."""
        if not encoder:
            return vectors
        from core.classification.joined import join_vectors

        return join_vectors(vectors, self.intent_encoder(encoder).embed(texts))

    @cached_property
    def vector_store(self) -> VectorStore:
        from adapters.vectorstore.chroma import ChromaVectorStore, make_client

        url, path = self.settings.chroma_url, self.settings.chroma_path
        return ChromaVectorStore(lambda: make_client(url, path), self.embedder)

    @cached_property
    def history(self) -> HistoryIndex:
        return HistoryIndex(self.embedder, self.vector_store)

    @cached_property
    def lexical_index(self) -> LexicalIndex:
        from adapters.lexical.bm25 import Bm25Index

        return Bm25Index()

    def knowledge_search(self, session: Session) -> KnowledgeSearch:
        """KB search bound to a session; the BM25 index is shared by the process."""
        return KnowledgeSearch(
            session,
            self.embedder,
            self.vector_store,
            self.lexical_index,
            rrf_k=self.settings.kb_rrf_k,
            lexical_weight=self.settings.kb_lexical_weight,
        )

    # --- routing -----------------------------------------------------------------------------
    @cached_property
    def routing_config(self) -> RoutingConfig:
        from core.routing.config import load_routing_config

        return load_routing_config(self.settings.routing_config)

    def triager(self) -> Triager:
        """The triager of the newest trained intent model (zero-shot when none exists);
        looks for a newer model at most every `model_refresh_seconds`."""
        now = time.monotonic()
        with self._triager_lock:
            if (
                self._triager is not None
                and now - self._triager_checked < self.settings.model_refresh_seconds
            ):
                return self._triager
            from core.classification.intent_model import TrainedIntentModel, latest_model
            from core.routing.triage import Triager

            path = latest_model(self.settings.models_dir)
            key = str(path) if path is not None else "zero-shot"
            if self._triager is None or key != self._triager_key:
                config = self.routing_config
                if path is None:
                    model: Any = _zero_shot_model(
                        config, self.embedder, self.settings.embedding_model_path
                    )
                    team_of: dict[str, str] = {}
                else:
                    model = TrainedIntentModel.load(path)
                    encoder = model.metadata.get("intent_encoder")
                    if encoder:
                        from core.classification.joined import JoinedEncoderModel

                        model = JoinedEncoderModel(model, self.intent_encoder(encoder))
                    teams_file = teams_sidecar(path)
                    team_of = json.loads(teams_file.read_text()) if teams_file.exists() else {}
                self._triager = Triager(config, model, team_of)
                self._triager_key = key
            self._triager_checked = now
            return self._triager

    # --- policies and services ------------------------------------------------------------
    @cached_property
    def threading_policy(self) -> ThreadingPolicy:
        s = self.settings
        return ThreadingPolicy(
            reference_prefix=s.reference_prefix,
            window=timedelta(hours=s.thread_window_hours),
            default_region=s.default_phone_region,
            max_text_bytes=s.max_text_bytes,
        )

    @cached_property
    def processor(self) -> MessageProcessor:
        s = self.settings
        from core.drafting.assemble import ContextSources
        from core.drafting.step import DraftStep
        from core.routing.step import ClassifyStep

        sources = ContextSources(
            history=self.history,
            related_k=s.related_k,
            kb_k=s.draft_kb_k,
            company_name=s.company_name,
            agent_name=s.agent_signature,
        )
        pipeline = Pipeline(
            [
                CleanStep(),
                EmbedStep(self.embedder),
                ClassifyStep(self.triager, self.read_session_factory),
                IndexStep(self.history),
                DraftStep(
                    self.drafter,
                    self.read_session_factory,
                    self.knowledge_search,
                    sources,
                    self.clock,
                    parallel=s.draft_parallel if s.llm_base_url else 1,
                    fallback=lambda: self.composer,
                    # LLM drafts of a batch must end within its lease; the rest is composed.
                    budget_s=s.lease_seconds / 2 if s.llm_base_url else None,
                ),
            ]
        )
        policy = ProcessingPolicy(
            lease=timedelta(seconds=s.lease_seconds),
            max_attempts=s.max_attempts,
            enqueue_grace=timedelta(seconds=s.enqueue_grace_seconds),
        )
        return MessageProcessor(pipeline, policy)

    @cached_property
    def composer(self) -> GroundedComposer:
        """The offline grounded composer (also the LLM drafter's fallback)."""
        from core.drafting.composer import GroundedComposer

        s = self.settings
        return GroundedComposer(
            acknowledge_window=timedelta(hours=s.acknowledge_window_hours),
            min_passage_score=s.draft_min_passage_score,
            company_name=s.company_name,
        )

    @cached_property
    def llm_drafter(self) -> Drafter:
        """The LLM drafter (needs `llm_base_url`), falling back to the composer."""
        from adapters.llm.openai_chat import OpenAIChatModel
        from core.drafting.llm import LLMDrafter
        from prompts.registry import load_prompt

        s = self.settings
        return LLMDrafter(
            OpenAIChatModel.from_settings(s),
            self.composer,
            load_prompt("drafting/reply"),
            timeout_s=s.llm_timeout_s,
            phone_region=s.default_phone_region,
        )

    def drafter(self) -> Drafter:
        """The drafter of the `draft` step: the grounded composer unless an LLM is configured."""
        return self.llm_drafter if self.settings.llm_base_url else self.composer

    # --- queue ------------------------------------------------------------------------------
    @cached_property
    def celery_app(self) -> Any:
        from adapters.queue.celery_queue import make_celery_app

        return make_celery_app(self.settings)

    @cached_property
    def queue(self) -> TaskQueue:
        s = self.settings
        if s.queue == "celery":
            from adapters.queue.celery_queue import CeleryTaskQueue

            return CeleryTaskQueue(self.celery_app, expires=s.task_expires_seconds)
        from adapters.queue.local import LocalTaskQueue
        from core.tasks import TaskName
        from workers.evals import eval_handler, sweep_eval_runs
        from workers.kb import ingest_uploads
        from workers.routing import retrain_handler
        from workers.tasks import process_batch, sweep_all

        return LocalTaskQueue(
            handlers={
                TaskName.PROCESS_MESSAGE: lambda ids: process_batch(self, ids),
                TaskName.INGEST_KB_UPLOAD: lambda ids: ingest_uploads(self, ids),
                TaskName.RETRAIN_ROUTER: lambda ids: retrain_handler(self, ids),
                TaskName.RUN_EVAL: lambda ids: eval_handler(self, ids),
            },
            sweeper=lambda: {**sweep_all(self), TaskName.RUN_EVAL: sweep_eval_runs(self)},
            workers=s.local_workers,
            batch_size=s.process_batch_size,
            sweep_interval=s.sweep_interval_seconds,
        )

    def warm_up(self) -> None:
        """Load the embedding model, the vector store client, the signal detectors and the
        intent model now, in this thread (imports from two threads at once can break)."""
        vectors = self.embedder.embed(["warm-up"])
        import adapters.vectorstore.chroma  # noqa: F401 - imports chromadb
        from core.classification.signals import preload

        preload()
        self.triager().model.predict(vectors, texts=["warm-up"])

    def start_local_workers(self) -> None:
        """Start in-process workers (queue=local only)."""
        start = getattr(self.queue, "start", None)
        if start is not None:
            start()

    def close(self) -> None:
        stop = getattr(self.__dict__.get("queue"), "stop", None)
        if stop is not None:
            stop()
        if "engine" in self.__dict__:
            self.engine.dispose()


def teams_sidecar(model_path: Path) -> Path:
    """The intent → team map saved beside a model trained with `--teams`."""
    return model_path.with_name(model_path.name.split(".")[0] + ".teams.json")


_ZERO_SHOT: dict[str, Any] = {}
_ZERO_SHOT_LOCK = threading.Lock()


def _zero_shot_model(config: RoutingConfig, embedder: Embedder, model_path: str | None) -> Any:
    """The zero-shot intent model of a routing config, built once per process for the same
    descriptions, examples and embedding model: embedding its prototypes (a few hundred texts)
    takes seconds, and every container (API, worker, eval sandbox) would pay it again."""
    from core.classification.intent_model import ZeroShotIntentModel

    descriptions, examples = config.intent_descriptions(), config.intent_examples()
    key = json.dumps(
        [model_path, embedder.model_name, descriptions, examples], sort_keys=True, default=list
    )
    with _ZERO_SHOT_LOCK:
        model = _ZERO_SHOT.get(key)
        if model is None:
            model = ZeroShotIntentModel(descriptions, embedder, examples=examples)
            _ZERO_SHOT[key] = model
        return model


_CONTAINER: Container | None = None


def get_container() -> Container:
    """The process-wide container, built from the environment on first use."""
    global _CONTAINER
    if _CONTAINER is None:
        _CONTAINER = Container(Settings())
    return _CONTAINER


def set_container(container: Container | None) -> None:
    """Install a container (CLI and tests build their own from explicit Settings)."""
    global _CONTAINER
    _CONTAINER = container
