"""All SQL about the knowledge base."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, joinedload, selectinload

from core.knowledge.models import KbChange, KbChunk, KbDocument, KbUpload, KbVersion


class KnowledgeRepository:
    """Queries and writes for the knowledge noun; never commits."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def current_version(self) -> int:
        return int(self.session.scalar(select(func.max(KbVersion.number))) or 0)

    def add(self, obj: KbVersion | KbDocument | KbChunk | KbChange | KbUpload) -> None:
        self.session.add(obj)

    def documents(self, ids: Sequence[str]) -> dict[str, KbDocument]:
        if not ids:
            return {}
        rows = self.session.scalars(
            select(KbDocument)
            .where(KbDocument.id.in_(ids))
            .options(selectinload(KbDocument.chunks))
        )
        return {d.id: d for d in rows}

    def document(self, doc_id: str) -> KbDocument | None:
        return self.session.get(KbDocument, doc_id)

    def documents_under(self, origins: Sequence[str]) -> list[KbDocument]:
        """Documents whose origin is one of these paths or lies below one of them."""
        found: dict[str, KbDocument] = {}
        for origin in origins:
            prefix = origin.rstrip("/") + "/"
            query = select(KbDocument).where(
                (KbDocument.origin == origin)
                | KbDocument.origin.startswith(prefix, autoescape=True)
            )
            for doc in self.session.scalars(query):
                found[doc.id] = doc
        return list(found.values())

    def list_documents(self, tag: str | None, audience: str | None) -> list[KbDocument]:
        query = select(KbDocument).order_by(KbDocument.id)
        if audience:
            query = query.where(KbDocument.audience == audience)
        docs = list(self.session.scalars(query))
        return [d for d in docs if tag is None or tag in d.tags]

    def chunk_counts(self) -> dict[str, int]:
        rows = self.session.execute(
            select(KbChunk.document_id, func.count()).group_by(KbChunk.document_id)
        )
        return {doc_id: int(n) for doc_id, n in rows}

    def existing_chunk_ids(self, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            found.update(self.session.scalars(select(KbChunk.id).where(KbChunk.id.in_(part))))
        return found

    def chunks_with_documents(self, ids: Sequence[str]) -> dict[str, KbChunk]:
        if not ids:
            return {}
        rows = self.session.scalars(
            select(KbChunk).where(KbChunk.id.in_(ids)).options(joinedload(KbChunk.document))
        )
        return {c.id: c for c in rows.unique()}

    def all_chunk_texts(self) -> list[tuple[str, str, str, list[str], str]]:
        """(chunk id, document title, chunk text, heading path, document id) of every chunk."""
        rows = self.session.execute(
            select(KbChunk.id, KbDocument.title, KbChunk.text, KbChunk.heading_path, KbDocument.id)
            .join(KbDocument, KbDocument.id == KbChunk.document_id)
            .order_by(KbChunk.id)
        )
        return [(r[0], r[1], r[2], list(r[3]), r[4]) for r in rows]

    def changes_of(self, doc_id: str) -> list[KbChange]:
        return list(
            self.session.scalars(
                select(KbChange).where(KbChange.document_id == doc_id).order_by(KbChange.version)
            )
        )

    def delete(self, obj: KbDocument) -> None:
        self.session.delete(obj)

    def upload(self, upload_id: str) -> KbUpload | None:
        return self.session.get(KbUpload, upload_id)

    def claim_upload(self, upload_id: str, now: datetime, lease_until: datetime) -> bool:
        """Take a queued upload, or one whose worker's lease ran out."""
        result = self.session.execute(
            update(KbUpload)
            .where(
                KbUpload.id == upload_id,
                (KbUpload.status == "queued")
                | ((KbUpload.status == "processing") & (KbUpload.lease_expires_at < now)),
            )
            .values(status="processing", lease_expires_at=lease_until)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def stuck_uploads(self, now: datetime, queued_before: datetime) -> list[str]:
        """Uploads no worker took within the grace, or whose worker's lease ran out."""
        return list(
            self.session.scalars(
                select(KbUpload.id)
                .where(
                    ((KbUpload.status == "queued") & (KbUpload.created_at < queued_before))
                    | ((KbUpload.status == "processing") & (KbUpload.lease_expires_at < now))
                )
                .order_by(KbUpload.created_at)
                .limit(100)
            )
        )
