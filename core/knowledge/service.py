"""Versioned, idempotent KB ingest: only changed chunks are embedded and written."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from core.errors import NotFound
from core.knowledge.models import KbChange, KbChunk, KbDocument, KbVersion
from core.knowledge.repository import KnowledgeRepository
from core.knowledge.schemas import FileReport, IngestReport
from core.ports import Embedder, Vector, VectorStore

COLLECTION = "kb_chunks"


@dataclass(frozen=True)
class IncomingChunk:
    """A chunk as the loaders produced it."""

    content_hash: str
    heading_path: tuple[str, ...]
    text: str
    embedding_text: str


@dataclass(frozen=True)
class IncomingDocument:
    """An article as the loaders produced it, with its chunks in order."""

    id: str
    title: str
    source: str
    origin: str
    kind: str
    chunks: tuple[IncomingChunk, ...]
    tags: tuple[str, ...] = ()
    audience: str = "public"
    language: str | None = None
    url: str | None = None

    @property
    def fingerprint(self) -> str:
        """Changes whenever anything stored about the document would change."""
        payload = json.dumps(
            [
                self.title,
                self.source,
                self.kind,
                sorted(self.tags),
                self.audience,
                self.language,
                self.url,
                [c.content_hash for c in self.chunks],
            ]
        )
        return hashlib.sha256(payload.encode()).hexdigest()


def chunk_id(document_id: str, content_hash: str) -> str:
    """Stable chunk id: the same text in the same document keeps its id (and its vector)."""
    return hashlib.sha256(f"{document_id}\x00{content_hash}".encode()).hexdigest()[:32]


def chunk_metadata(doc: KbDocument | IncomingDocument, version: int) -> dict[str, str | int | bool]:
    """What Chroma keeps beside each vector, for filtering (tags as `tag:<name>` flags)."""
    meta: dict[str, str | int | bool] = {
        "document_id": doc.id,
        "title": doc.title[:500],
        "audience": doc.audience,
        "language": doc.language or "",
        "version": version,
    }
    for tag in doc.tags:
        meta[f"tag:{tag}"] = True
    return meta


@dataclass
class ApplyResult:
    """The report, plus chunk ids to delete from the vector store after the commit."""

    report: IngestReport
    stale_vectors: list[str] = field(default_factory=list)


class KnowledgeService:
    """Applies loaded documents to the KB; the caller commits, then drops stale vectors."""

    def __init__(self, session: Session, embedder: Embedder, store: VectorStore) -> None:
        self.session = session
        self.repo = KnowledgeRepository(session)
        self.embedder = embedder
        self.store = store

    def unembedded(self, docs: Sequence[IncomingDocument]) -> dict[str, str]:
        """Chunk id → embedding text of the chunks the KB does not hold yet (a read only, so
        that the slow embedding can run before the write transaction opens)."""
        wanted = {chunk_id(d.id, c.content_hash): c.embedding_text for d in docs for c in d.chunks}
        known = self.repo.existing_chunk_ids(list(wanted))
        return {cid: text for cid, text in wanted.items() if cid not in known}

    def apply(
        self,
        docs: Sequence[IncomingDocument],
        now: datetime,
        source: str,
        prune_origins: Sequence[str] = (),
        skipped: Sequence[FileReport] = (),
        vectors: Mapping[str, Vector] | None = None,
    ) -> ApplyResult:
        """Add, update or (with `prune_origins`) remove documents; one new KB version if
        anything changed, none otherwise. Unchanged documents cost no write and no embedding.
        `vectors` holds embeddings computed beforehand (see `unembedded`), by chunk id.
        """
        files: dict[str, FileReport] = {}
        batch: dict[str, IncomingDocument] = {}
        extra_skips: list[FileReport] = []
        for doc in docs:
            if doc.id in batch:
                extra_skips.append(
                    FileReport(
                        source=doc.source,
                        status="skipped",
                        reason=f"article id {doc.id!r} is also used by {batch[doc.id].source}",
                    )
                )
                continue
            batch[doc.id] = doc
        existing = self.repo.documents(list(batch))
        pruned = (
            [d for d in self.repo.documents_under(prune_origins) if d.id not in batch]
            if prune_origins
            else []
        )

        version = self.repo.current_version() + 1
        report = IngestReport(kb_version=version - 1, changed=False, files=[])
        # (document, chunk, chunk id, chunk version) to embed and upsert
        to_embed: list[tuple[IncomingDocument, IncomingChunk, str, int]] = []
        changes: list[KbChange] = []
        stale: list[str] = []

        for doc in batch.values():
            old = existing.get(doc.id)
            file = files.setdefault(doc.source, FileReport(source=doc.source, status="unchanged"))
            file.documents.append(doc.id)
            if old is not None and old.fingerprint == doc.fingerprint and old.origin == doc.origin:
                report.documents_unchanged += 1
                continue
            old_ids = {c.id: c for c in old.chunks} if old is not None else {}
            # Title, tags, audience and language are in every vector's text or metadata.
            relabelled = old is not None and (
                old.title,
                sorted(old.tags),
                old.audience,
                old.language,
            ) != (
                doc.title,
                sorted(doc.tags),
                doc.audience,
                doc.language,
            )
            new_chunks: list[KbChunk] = []
            seen: set[str] = set()
            added = 0
            for ordinal, chunk in enumerate(doc.chunks):
                cid = chunk_id(doc.id, chunk.content_hash)
                if cid in seen:
                    continue  # the same text twice in one document adds nothing
                seen.add(cid)
                kept = old_ids.get(cid)
                if kept is not None:
                    kept.ordinal = ordinal
                    new_chunks.append(kept)
                    if relabelled:
                        to_embed.append((doc, chunk, cid, kept.version))
                    continue
                new_chunks.append(
                    KbChunk(
                        id=cid,
                        ordinal=ordinal,
                        heading_path=list(chunk.heading_path),
                        text=chunk.text,
                        content_hash=chunk.content_hash,
                        version=version,
                        created_at=now,
                    )
                )
                to_embed.append((doc, chunk, cid, version))
                added += 1
            removed = [cid for cid in old_ids if cid not in seen]
            stale += removed
            if old is None:
                old = KbDocument(id=doc.id, created_at=now)
                self.repo.add(old)
                action = "added"
                report.documents_added += 1
            else:
                action = "updated"
                report.documents_updated += 1
            old.title, old.source, old.origin, old.kind = (
                doc.title,
                doc.source,
                doc.origin,
                doc.kind,
            )
            old.tags, old.audience = list(doc.tags), doc.audience
            old.language, old.url = doc.language, doc.url
            old.fingerprint, old.version, old.updated_at = doc.fingerprint, version, now
            old.chunks = new_chunks
            changes.append(
                KbChange(
                    version=version,
                    document_id=doc.id,
                    action=action,
                    chunks_added=added,
                    chunks_removed=len(removed),
                    created_at=now,
                )
            )
            file.status = _merge_status(file.status, action)  # type: ignore[assignment]
            file.chunks_added += added
            file.chunks_removed += len(removed)
            report.chunks_added += added
            report.chunks_removed += len(removed)

        for doc_model in pruned:
            stale += [c.id for c in doc_model.chunks]
            changes.append(self._removal(doc_model, version, now))
            files[f"prune:{doc_model.id}"] = FileReport(
                source=doc_model.source,
                status="removed",
                documents=[doc_model.id],
                chunks_removed=len(doc_model.chunks),
                reason="its file is gone",
            )
            report.documents_removed += 1
            report.chunks_removed += len(doc_model.chunks)
            self.repo.delete(doc_model)

        report.files = list(files.values()) + list(skipped) + extra_skips
        report.skipped = len(skipped) + len(extra_skips)
        if not changes:
            return ApplyResult(report)

        self.repo.add(
            KbVersion(
                number=version,
                source=source,
                summary=report.model_dump(exclude={"files", "kb_version", "changed"}),
                created_at=now,
            )
        )
        self.session.flush()
        for change in changes:
            self.repo.add(change)
        if to_embed:
            ready = dict(vectors or {})
            missing = [
                (cid, chunk.embedding_text) for _, chunk, cid, _ in to_embed if cid not in ready
            ]
            if missing:
                computed = self.embedder.embed([text for _, text in missing])
                ready.update({cid: v for (cid, _), v in zip(missing, computed, strict=True)})
            self.store.upsert(
                COLLECTION,
                ids=[cid for _, _, cid, _ in to_embed],
                embeddings=[ready[cid] for _, _, cid, _ in to_embed],
                documents=[chunk.text for _, chunk, _, _ in to_embed],
                metadatas=[chunk_metadata(doc, v) for doc, _, _, v in to_embed],
            )
        self.session.flush()
        report.kb_version, report.changed = version, True
        report.chunks_embedded = len(to_embed)
        return ApplyResult(report, stale_vectors=stale)

    def delete_document(self, doc_id: str, now: datetime, source: str) -> ApplyResult:
        """Remove one document; a new KB version records it."""
        doc = self.repo.document(doc_id)
        if doc is None:
            raise NotFound(f"KB document {doc_id!r} does not exist", field="document_id")
        version = self.repo.current_version() + 1
        stale = [c.id for c in doc.chunks]
        self.repo.add(
            KbVersion(
                number=version,
                source=source,
                summary={"documents_removed": 1, "chunks_removed": len(stale)},
                created_at=now,
            )
        )
        self.session.flush()
        self.repo.add(self._removal(doc, version, now))
        self.repo.delete(doc)
        self.session.flush()
        report = IngestReport(
            kb_version=version,
            changed=True,
            files=[
                FileReport(
                    source=doc.source,
                    status="removed",
                    documents=[doc.id],
                    chunks_removed=len(stale),
                )
            ],
            documents_removed=1,
            chunks_removed=len(stale),
        )
        return ApplyResult(report, stale_vectors=stale)

    def drop_vectors(self, ids: Sequence[str]) -> None:
        """After the commit: remove vectors of chunks that no longer exist."""
        if ids:
            self.store.delete(COLLECTION, ids)

    @staticmethod
    def _removal(doc: KbDocument, version: int, now: datetime) -> KbChange:
        return KbChange(
            version=version,
            document_id=doc.id,
            action="removed",
            chunks_added=0,
            chunks_removed=len(doc.chunks),
            created_at=now,
        )


def _merge_status(current: str, action: str) -> str:
    if current in ("unchanged", action):
        return action
    return "mixed"
