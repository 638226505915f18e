"""Pydantic shapes of the knowledge-base API and the ingest report."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Audience = Literal["public", "internal"]
SearchMode = Literal["hybrid", "dense", "lexical"]


class SearchFilters(BaseModel):
    """Narrow a search; internal articles only when `audience` asks for them."""

    model_config = ConfigDict(extra="forbid")

    tags: list[str] = Field(default_factory=list, description="Any of these tags")
    audience: Literal["public", "internal", "all"] = "public"
    language: str | None = None


class SearchIn(BaseModel):
    """POST /v1/kb/search."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=2000)
    k: int = Field(5, ge=1, le=50)
    filters: SearchFilters = Field(default_factory=SearchFilters)
    mode: SearchMode = "hybrid"


class KbHit(BaseModel):
    """One ranked chunk."""

    chunk_id: str
    document_id: str
    title: str
    heading_path: list[str]
    text: str
    url: str | None
    audience: str
    score: float
    kb_version: int
    dense_rank: int | None = None
    lexical_rank: int | None = None
    dense_score: float | None = None  # cosine to the query, when among the dense candidates


class SearchOut(BaseModel):
    query: str
    mode: SearchMode
    kb_version: int
    hits: list[KbHit]


class FileReport(BaseModel):
    """What one file (or upload) did to the KB."""

    source: str
    status: Literal["added", "updated", "unchanged", "removed", "skipped", "mixed"]
    documents: list[str] = Field(default_factory=list)
    chunks_added: int = 0
    chunks_removed: int = 0
    reason: str | None = None


class IngestReport(BaseModel):
    """The result of one ingest: per file, totals, and the KB version it produced."""

    kb_version: int
    changed: bool
    files: list[FileReport]
    documents_added: int = 0
    documents_updated: int = 0
    documents_unchanged: int = 0
    documents_removed: int = 0
    chunks_added: int = 0
    chunks_removed: int = 0
    chunks_embedded: int = 0
    skipped: int = 0


class ChunkOut(BaseModel):
    id: str
    ordinal: int
    heading_path: list[str]
    text: str
    kb_version: int


class DocumentOut(BaseModel):
    id: str
    title: str
    source: str
    kind: str
    tags: list[str]
    audience: str
    language: str | None
    url: str | None
    kb_version: int
    chunk_count: int
    created_at: datetime
    updated_at: datetime


class VersionOut(BaseModel):
    kb_version: int
    action: str
    chunks_added: int
    chunks_removed: int
    at: datetime


class DocumentDetail(DocumentOut):
    chunks: list[ChunkOut]
    versions: list[VersionOut]


class DocumentList(BaseModel):
    kb_version: int
    items: list[DocumentOut]


class UploadOut(BaseModel):
    """An API upload; `report` is filled when a worker has ingested it."""

    id: str
    filename: str
    size: int
    status: Literal["queued", "processing", "done", "failed"]
    report: IngestReport | None = None
    error: str | None = None
    created_at: datetime
    finished_at: datetime | None = None
