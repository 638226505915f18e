"""Ports: the small typed interfaces through which core/ talks to vendors.

Adapters in adapters/ implement them; core/ never imports a vendor SDK.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

Vector = list[float]
MetadataValue = str | int | float | bool
Metadata = Mapping[str, MetadataValue]


class Embedder(Protocol):
    """Turns texts into unit-length vectors, batched."""

    @property
    def model_name(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> list[Vector]:
        """One vector per text, in order."""
        ...


@dataclass(frozen=True)
class VectorHit:
    """One result of a nearest-neighbour query; `score` is cosine similarity."""

    id: str
    score: float
    document: str
    metadata: Mapping[str, MetadataValue]


class VectorStore(Protocol):
    """Named collections of vectors with metadata (Chroma)."""

    def upsert(
        self,
        collection: str,
        ids: Sequence[str],
        embeddings: Sequence[Vector],
        documents: Sequence[str],
        metadatas: Sequence[Metadata],
    ) -> None:
        """Insert or replace; upserting the same id twice leaves one entry."""
        ...

    def update_metadata(
        self, collection: str, ids: Sequence[str], metadatas: Sequence[Metadata]
    ) -> None:
        """Replace the metadata of existing entries (ids that don't exist are ignored)."""
        ...

    def query(
        self,
        collection: str,
        embedding: Vector,
        k: int,
        where: Mapping[str, object] | None = None,
    ) -> list[VectorHit]:
        """The `k` nearest entries matching `where`, best first."""
        ...

    def delete(self, collection: str, ids: Sequence[str]) -> None:
        """Remove entries by id."""
        ...

    def count(self, collection: str) -> int:
        """Number of entries in the collection."""
        ...

    def ping(self) -> None:
        """Raise if the store is unreachable."""
        ...


class LexicalIndex(Protocol):
    """Keyword (BM25) search over a set of texts, rebuilt when the KB version changes."""

    @property
    def version(self) -> int | None:
        """The KB version the index was built from (None before the first build)."""
        ...

    def rebuild(self, version: int, ids: Sequence[str], texts: Sequence[str]) -> None:
        """Replace the index content."""
        ...

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        """Up to `k` (id, score) pairs, best first; no match → empty."""
        ...


class TaskQueue(Protocol):
    """Carries ids to workers. Only ids travel; the database holds the state."""

    def enqueue(self, task: str, ids: Sequence[str]) -> None:
        """Ask a worker to run `task` (a core.tasks.TaskName) on each id, after the commit."""
        ...

    def ping(self) -> None:
        """Raise if the queue cannot take work."""
        ...


class Clock(Protocol):
    """Current time; swapped in tests that need to move time."""

    def now(self) -> datetime:
        """Timezone-aware UTC now."""
        ...


class ChatModel(Protocol):
    """An instruction-following chat model behind an OpenAI-compatible API (adapters/llm)."""

    @property
    def model_name(self) -> str: ...

    def complete_json(
        self, system: str, user: str, schema: dict[str, Any], timeout_s: float
    ) -> dict[str, Any]:
        """One chat completion whose answer must be a JSON object following `schema`.

        Raises `core.errors.TransientError` when the endpoint times out or fails, and
        `ValueError` when the answer is not a JSON object.
        """
        ...
