"""LexicalIndex on bm25s (sparse BM25) with English stemming and stop words."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import bm25s
import Stemmer


class Bm25Index:
    """Implements core.ports.LexicalIndex; rebuilt in memory when the KB version changes."""

    def __init__(self) -> None:
        self._stemmer = Stemmer.Stemmer("english")
        self._lock = threading.Lock()
        self._retriever: Any = None
        self._ids: list[str] = []
        self._version: int | None = None

    @property
    def version(self) -> int | None:
        return self._version

    def _tokenize(self, texts: Sequence[str]) -> Any:
        return bm25s.tokenize(
            list(texts), stopwords="en", stemmer=self._stemmer, show_progress=False
        )

    def rebuild(self, version: int, ids: Sequence[str], texts: Sequence[str]) -> None:
        retriever = None
        if ids:
            retriever = bm25s.BM25()
            retriever.index(self._tokenize(texts), show_progress=False)
        with self._lock:
            self._retriever, self._ids, self._version = retriever, list(ids), version

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        with self._lock:
            retriever, ids = self._retriever, self._ids
        if retriever is None or not ids:
            return []
        tokens = self._tokenize([query])
        if not any(len(t) for t in tokens.ids):
            return []
        docs, scores = retriever.retrieve(
            tokens, k=min(k, len(ids)), show_progress=False, n_threads=1
        )
        return [(ids[int(d)], float(s)) for d, s in zip(docs[0], scores[0], strict=True) if s > 0]
