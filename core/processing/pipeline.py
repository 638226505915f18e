"""Pipeline steps over a batch of claimed messages. Steps are idempotent."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from core.channels.text_tidy import tidy
from core.errors import TransientError
from core.observability import PROCESSING_FAILURES, STEP_LATENCY
from core.ports import Embedder, Vector
from core.retrieval.history import HistoryEntry, HistoryIndex, embedding_text


@dataclass
class WorkItem:
    """One claimed message travelling through the steps (a snapshot, not an ORM row)."""

    message_id: str
    attempt: int
    customer_id: str
    conversation_id: str
    reference: str
    channel: str
    subject: str | None
    text: str
    sent_at: datetime
    received_at: datetime
    direction: str = "inbound"
    metadata: dict[str, object] = field(default_factory=dict)
    clean_text: str | None = None
    vector: Vector | None = None
    indexed: bool = False
    error: str | None = None
    transient: bool = False
    results: dict[str, object] = field(default_factory=dict)


class Step(Protocol):
    """One stage of processing; sets `item.error` for a per-item failure."""

    name: str

    def run(self, items: list[WorkItem]) -> None: ...


class CleanStep:
    """Normalize whitespace and control characters."""

    name = "clean"

    def run(self, items: list[WorkItem]) -> None:
        for item in items:
            item.clean_text = tidy(item.text)
            if not item.clean_text:
                item.error = "clean: message has no text after cleaning"


class EmbedStep:
    """Embed every item in one batch call."""

    name = "embed"

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def run(self, items: list[WorkItem]) -> None:
        texts = [embedding_text(i.subject, i.clean_text or i.text) for i in items]
        for item, vector in zip(items, self.embedder.embed(texts), strict=True):
            item.vector = vector


class IndexStep:
    """Upsert into the history index, keyed by message id (redelivery changes nothing)."""

    name = "index"

    def __init__(self, history: HistoryIndex) -> None:
        self.history = history

    def run(self, items: list[WorkItem]) -> None:
        ready = [i for i in items if i.vector is not None]
        self.history.add(
            [
                HistoryEntry(
                    message_id=i.message_id,
                    customer_id=i.customer_id,
                    conversation_id=i.conversation_id,
                    reference=i.reference,
                    channel=i.channel,
                    sent_at=i.sent_at,
                    text=i.clean_text or i.text,
                )
                for i in ready
            ],
            [i.vector for i in ready if i.vector is not None],
        )
        for item in ready:
            item.indexed = True


class Pipeline:
    """Runs the steps in order over the items that have not failed yet."""

    def __init__(self, steps: Sequence[Step]) -> None:
        self.steps = list(steps)

    @property
    def step_names(self) -> list[str]:
        return [s.name for s in self.steps]

    def run(self, items: list[WorkItem]) -> None:
        for step in self.steps:
            active = [i for i in items if i.error is None]
            if not active:
                return
            started = time.perf_counter()
            try:
                step.run(active)
            except TransientError as exc:
                PROCESSING_FAILURES.labels(step.name, "transient").inc(len(active))
                for item in active:
                    item.error, item.transient = f"{step.name}: {exc}", True
            except Exception as exc:  # noqa: BLE001 - a step's bug must fail its items, not the worker
                PROCESSING_FAILURES.labels(step.name, "permanent").inc(len(active))
                for item in active:
                    item.error = f"{step.name}: {type(exc).__name__}: {exc}"
            finally:
                STEP_LATENCY.labels(step.name).observe(time.perf_counter() - started)
