"""Hybrid KB search: dense (vector store) and lexical (BM25) ranks fused by RRF."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from sqlalchemy.orm import Session

from core.knowledge.models import KbChunk
from core.knowledge.repository import KnowledgeRepository
from core.knowledge.schemas import KbHit, SearchFilters, SearchIn, SearchOut
from core.knowledge.service import COLLECTION
from core.ports import Embedder, LexicalIndex, Vector, VectorStore

CANDIDATES = 50  # per method, before filters and fusion

_rebuild_lock = threading.Lock()


def lexical_text(title: str, heading_path: list[str], text: str) -> str:
    """What BM25 indexes for a chunk: its title and headings weigh in like its text."""
    return "\n".join([title, " ".join(heading_path), text])


def _dense_where(filters: SearchFilters) -> dict[str, object] | None:
    clauses: list[dict[str, object]] = []
    if filters.audience != "all":
        clauses.append({"audience": filters.audience})
    if filters.language:
        clauses.append({"language": filters.language})
    if filters.tags:
        tags: list[dict[str, object]] = [{f"tag:{t}": True} for t in filters.tags]
        clauses.append(tags[0] if len(tags) == 1 else {"$or": tags})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _allowed(chunk: KbChunk, filters: SearchFilters) -> bool:
    doc = chunk.document
    if filters.audience != "all" and doc.audience != filters.audience:
        return False
    if filters.language and doc.language != filters.language:
        return False
    return not filters.tags or bool(set(filters.tags) & set(doc.tags))


def fuse(
    dense: Sequence[str], lexical: Sequence[str], rrf_k: float, lexical_weight: float
) -> dict[str, float]:
    """Weighted reciprocal rank fusion: each list adds weight / (k + rank); best first."""
    scores: dict[str, float] = {}
    for weight, ranked in ((1.0, dense), (lexical_weight, lexical)):
        for rank, item in enumerate(ranked, 1):
            scores[item] = scores.get(item, 0.0) + weight / (rrf_k + rank)
    return dict(sorted(scores.items(), key=lambda kv: (-kv[1], kv[0])))


class KnowledgeSearch:
    """Searches the KB; the lexical index is rebuilt when the KB version moves."""

    def __init__(
        self,
        session: Session,
        embedder: Embedder,
        store: VectorStore,
        lexical: LexicalIndex,
        rrf_k: float = 5,
        lexical_weight: float = 0.4,
    ) -> None:
        self.repo = KnowledgeRepository(session)
        self.embedder = embedder
        self.store = store
        self.lexical = lexical
        self.rrf_k = rrf_k
        self.lexical_weight = lexical_weight

    def _fresh_lexical(self, version: int) -> None:
        if self.lexical.version == version:
            return
        with _rebuild_lock:
            if self.lexical.version == version:
                return
            rows = self.repo.all_chunk_texts()
            self.lexical.rebuild(
                version,
                [r[0] for r in rows],
                [lexical_text(title, path, text) for _, title, text, path, _ in rows],
            )

    def search(self, request: SearchIn, vector: Vector | None = None) -> SearchOut:
        """Ranked chunks for a query; internal articles only when the filters ask for them.

        `vector` is the query's embedding when the caller already has it.
        """
        version = self.repo.current_version()
        dense: list[str] = []
        lexical: list[str] = []
        cosine: dict[str, float] = {}
        if request.mode in ("hybrid", "dense"):
            if vector is None:
                vector = self.embedder.embed([request.query])[0]
            hits = self.store.query(COLLECTION, vector, CANDIDATES, _dense_where(request.filters))
            dense = [h.id for h in hits]
            cosine = {h.id: h.score for h in hits}
        if request.mode in ("hybrid", "lexical"):
            self._fresh_lexical(version)
            lexical = [cid for cid, _ in self.lexical.search(request.query, CANDIDATES * 4)]
        chunks = self.repo.chunks_with_documents(list(dict.fromkeys(dense + lexical)))
        # The database is the truth: vectors of deleted chunks and filtered-out chunks drop here.
        dense = [c for c in dense if c in chunks and _allowed(chunks[c], request.filters)]
        lexical = [c for c in lexical if c in chunks and _allowed(chunks[c], request.filters)]
        dense, lexical = dense[:CANDIDATES], lexical[:CANDIDATES]
        dense_rank = {c: i + 1 for i, c in enumerate(dense)}
        lexical_rank = {c: i + 1 for i, c in enumerate(lexical)}
        scores = fuse(dense, lexical, self.rrf_k, self.lexical_weight)
        ordered = list(scores)[: request.k]
        hits_out = []
        for cid in ordered:
            chunk = chunks[cid]
            doc = chunk.document
            hits_out.append(
                KbHit(
                    chunk_id=cid,
                    document_id=doc.id,
                    title=doc.title,
                    heading_path=list(chunk.heading_path),
                    text=chunk.text,
                    url=doc.url,
                    audience=doc.audience,
                    score=round(scores[cid], 6),
                    kb_version=chunk.version,
                    dense_rank=dense_rank.get(cid),
                    lexical_rank=lexical_rank.get(cid),
                    dense_score=round(cosine[cid], 4) if cid in cosine else None,
                )
            )
        return SearchOut(query=request.query, mode=request.mode, kb_version=version, hits=hits_out)
