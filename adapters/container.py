"""Composition root: builds every adapter from Settings and wires them into core services."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from functools import cached_property
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from adapters.clock import SystemClock
from core.config import Settings
from core.conversations.service import ThreadingPolicy
from core.db import make_engine, make_session_factory
from core.knowledge.search import KnowledgeSearch
from core.ports import Clock, Embedder, LexicalIndex, TaskQueue, VectorStore
from core.processing.pipeline import CleanStep, EmbedStep, IndexStep, Pipeline
from core.processing.service import MessageProcessor, ProcessingPolicy
from core.retrieval.history import HistoryIndex

log = logging.getLogger(__name__)


class Container:
    """One per process. Everything heavy (model, clients) is built on first use."""

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()

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
        pipeline = Pipeline([CleanStep(), EmbedStep(self.embedder), IndexStep(self.history)])
        policy = ProcessingPolicy(
            lease=timedelta(seconds=s.lease_seconds),
            max_attempts=s.max_attempts,
            enqueue_grace=timedelta(seconds=s.enqueue_grace_seconds),
        )
        return MessageProcessor(pipeline, policy)

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
        from workers.kb import ingest_uploads
        from workers.tasks import process_batch, sweep_all

        return LocalTaskQueue(
            handlers={
                TaskName.PROCESS_MESSAGE: lambda ids: process_batch(self, ids),
                TaskName.INGEST_KB_UPLOAD: lambda ids: ingest_uploads(self, ids),
            },
            sweeper=lambda: sweep_all(self),
            workers=s.local_workers,
            batch_size=s.process_batch_size,
            sweep_interval=s.sweep_interval_seconds,
        )

    def warm_up(self) -> None:
        """Load the embedding model and the vector store client code now, in this thread."""
        self.embedder.embed(["warm-up"])
        import adapters.vectorstore.chroma  # noqa: F401 - imports chromadb

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
