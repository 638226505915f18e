"""ORM models of the knowledge base: versions, documents, chunks, change log, uploads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import ID, Base, new_id


class KbVersion(Base):
    """One ingest (or delete) that changed something; numbers only grow."""

    __tablename__ = "kb_versions"

    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    source: Mapped[str] = mapped_column(String(200))
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]


class KbDocument(Base):
    """An article (or one FAQ row); its id is stable across ingests."""

    __tablename__ = "kb_documents"

    id: Mapped[str] = mapped_column(String(300), primary_key=True)
    title: Mapped[str] = mapped_column(String(500))
    source: Mapped[str] = mapped_column(String(1000))
    origin: Mapped[str] = mapped_column(String(2000), index=True)  # absolute path or upload:name
    kind: Mapped[str] = mapped_column(String(20))
    tags: Mapped[list[str]] = mapped_column(default=list)
    audience: Mapped[str] = mapped_column(String(20), default="public")
    language: Mapped[str | None] = mapped_column(String(20))
    url: Mapped[str | None] = mapped_column(String(1000))
    fingerprint: Mapped[str] = mapped_column(String(64))  # hash of metadata + chunk hashes
    version: Mapped[int] = mapped_column(Integer)  # KB version of its last change
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    chunks: Mapped[list[KbChunk]] = relationship(
        back_populates="document",
        order_by="KbChunk.ordinal",
        cascade="all, delete-orphan",
    )


class KbChunk(Base):
    """A piece of a document with its heading path; embedded into the `kb` collection."""

    __tablename__ = "kb_chunks"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    document_id: Mapped[str] = mapped_column(
        ForeignKey("kb_documents.id", ondelete="CASCADE"), index=True
    )
    ordinal: Mapped[int] = mapped_column(Integer)
    heading_path: Mapped[list[str]] = mapped_column(default=list)
    text: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)  # KB version it came from
    created_at: Mapped[datetime]

    document: Mapped[KbDocument] = relationship(back_populates="chunks")


class KbChange(Base):
    """What one KB version did to one document."""

    __tablename__ = "kb_changes"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    version: Mapped[int] = mapped_column(ForeignKey("kb_versions.number"), index=True)
    document_id: Mapped[str] = mapped_column(String(300), index=True)
    action: Mapped[str] = mapped_column(String(20))  # added | updated | removed
    chunks_added: Mapped[int] = mapped_column(Integer, default=0)
    chunks_removed: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]


class KbUpload(Base):
    """A file uploaded through the API and ingested by a worker task."""

    __tablename__ = "kb_uploads"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    filename: Mapped[str] = mapped_column(String(500))
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes | None] = mapped_column(LargeBinary)  # cleared once ingested
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    lease_expires_at: Mapped[datetime | None]
    report: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
