"""VectorStore on Chroma: a local PersistentClient folder or a Chroma server (HttpClient)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import chromadb
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from chromadb.config import Settings as ChromaSettings

from core.errors import TransientError
from core.ports import Embedder, Metadata, Vector, VectorHit


class ThreadlineEmbeddingFunction(EmbeddingFunction[Documents]):
    """Our Embedder as Chroma's embedding function, so Chroma never uses its default model."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def __call__(self, input: Documents) -> Embeddings:
        import numpy as np

        return [np.asarray(v, dtype=np.float32) for v in self.embedder.embed(list(input))]

    @staticmethod
    def name() -> str:
        return "threadline"

    def get_config(self) -> dict[str, Any]:
        return {"model_name": self.embedder.model_name}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> ThreadlineEmbeddingFunction:
        # Chroma rebuilds a stored collection's function by name when it reads the collection;
        # Threadline always passes its own, so this placeholder must never embed.
        return ThreadlineEmbeddingFunction(_Unbound(str(config.get("model_name", "?"))))

    def default_space(self) -> Any:
        return "cosine"

    def is_legacy(self) -> bool:
        return False


class _Unbound:
    """Stands in for the embedder of a collection read back from Chroma's stored config."""

    def __init__(self, model_name: str) -> None:
        self.model_name = model_name
        self.dimension = 0

    def embed(self, texts: Sequence[str]) -> list[Vector]:
        raise RuntimeError("Chroma must be given Threadline's embedding function")


def make_client(url: str | None, path: Path) -> Any:
    """HttpClient for a server URL, else a PersistentClient in `path`. Telemetry is off."""
    settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if url:
        parsed = urlparse(url)
        return chromadb.HttpClient(
            host=parsed.hostname or "127.0.0.1",
            port=parsed.port or (443 if parsed.scheme == "https" else 8000),
            ssl=parsed.scheme == "https",
            settings=settings,
        )
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=settings)


class ChromaVectorStore:
    """Implements core.ports.VectorStore; collections use cosine distance."""

    def __init__(self, client_factory: Callable[[], Any], embedder: Embedder) -> None:
        self.client_factory = client_factory
        self.ef = ThreadlineEmbeddingFunction(embedder)
        self._client: Any = None
        self._collections: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._client_lock = threading.Lock()

    @property
    def client(self) -> Any:
        """Connects on first use, so a server that is down is a transient error, not a crash.
        Once per store: two threads building a local client at once broke it (a readiness
        probe during the first processing batch saw "'RustBindingsAPI' has no 'bindings'")."""
        with self._client_lock:
            if self._client is None:
                self._client = self._call(self.client_factory)
            return self._client

    def _collection(self, name: str) -> Any:
        with self._lock:
            coll = self._collections.get(name)
            if coll is None:
                coll = self._call(
                    self.client.get_or_create_collection,
                    name,
                    embedding_function=self.ef,
                    metadata={"hnsw:space": "cosine"},
                )
                self._collections[name] = coll
            return coll

    @staticmethod
    def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (ConnectionError, TimeoutError, OSError) as exc:
            raise TransientError(f"vector store unreachable: {exc}") from exc
        except ValueError as exc:
            if "Could not connect" in str(exc):  # what chromadb.HttpClient raises when down
                raise TransientError(f"vector store unreachable: {exc}") from exc
            raise
        except Exception as exc:
            if type(exc).__module__.startswith(("httpx", "httpcore")):
                raise TransientError(f"vector store unreachable: {exc}") from exc
            raise

    def upsert(
        self,
        collection: str,
        ids: Sequence[str],
        embeddings: Sequence[Vector],
        documents: Sequence[str],
        metadatas: Sequence[Metadata],
    ) -> None:
        if not ids:
            return
        coll = self._collection(collection)
        self._call(
            coll.upsert,
            ids=list(ids),
            embeddings=[list(e) for e in embeddings],
            documents=list(documents),
            metadatas=[dict(m) for m in metadatas],
        )

    def update_metadata(
        self, collection: str, ids: Sequence[str], metadatas: Sequence[Metadata]
    ) -> None:
        coll = self._collection(collection)
        present = set(self._call(coll.get, ids=list(ids), include=[])["ids"])
        pairs = [(i, dict(m)) for i, m in zip(ids, metadatas, strict=True) if i in present]
        if pairs:
            self._call(coll.update, ids=[p[0] for p in pairs], metadatas=[p[1] for p in pairs])

    def query(
        self,
        collection: str,
        embedding: Vector,
        k: int,
        where: Mapping[str, object] | None = None,
    ) -> list[VectorHit]:
        coll = self._collection(collection)
        result = self._call(
            coll.query,
            query_embeddings=[list(embedding)],
            n_results=k,
            where=dict(where) if where else None,
            include=["documents", "metadatas", "distances"],
        )
        hits = []
        for i, doc, meta, dist in zip(
            result["ids"][0],
            result["documents"][0],
            result["metadatas"][0],
            result["distances"][0],
            strict=True,
        ):
            hits.append(
                VectorHit(id=i, score=1.0 - float(dist), document=doc or "", metadata=meta or {})
            )
        return hits

    def delete(self, collection: str, ids: Sequence[str]) -> None:
        if ids:
            coll = self._collection(collection)
            self._call(coll.delete, ids=list(ids))

    def count(self, collection: str) -> int:
        coll = self._collection(collection)
        return int(self._call(coll.count))

    def ping(self) -> None:
        self._call(self.client.heartbeat)
