"""Task wrappers of KB ingestion: they own the transactions around core.knowledge."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from core.knowledge.models import KbUpload
from core.knowledge.repository import KnowledgeRepository
from core.knowledge.schemas import IngestReport
from core.knowledge.service import ApplyResult, KnowledgeService
from kb_ingest.pipeline import IngestOptions, Prepared, prepare_paths, prepare_upload

if TYPE_CHECKING:
    from adapters.container import Container

log = logging.getLogger(__name__)
EMBED_BATCH = 64
UPLOAD_LEASE = timedelta(minutes=15)


def apply_prepared(
    container: Container,
    prepared: Prepared,
    source: str,
    prune: bool = False,
    on_embedded: Callable[[int, int], None] | None = None,
) -> IngestReport:
    """Embed what is new (outside any transaction), then write it all in one commit.

    A failure before the commit leaves the database as it was; vectors of chunks that no
    longer exist are dropped after the commit.
    """
    with container.session(write=False) as session:
        knowledge = KnowledgeService(session, container.embedder, container.vector_store)
        pending = knowledge.unembedded(prepared.documents)
    ids, texts = list(pending), list(pending.values())
    vectors = {}
    for start in range(0, len(texts), EMBED_BATCH):
        batch = container.embedder.embed(texts[start : start + EMBED_BATCH])
        vectors.update(zip(ids[start : start + EMBED_BATCH], batch, strict=True))
        if on_embedded is not None:
            on_embedded(min(start + EMBED_BATCH, len(texts)), len(texts))
    with container.session() as session:
        knowledge = KnowledgeService(session, container.embedder, container.vector_store)
        result: ApplyResult = knowledge.apply(
            prepared.documents,
            container.clock.now(),
            source,
            prune_origins=prepared.roots if prune else (),
            skipped=prepared.skipped,
            vectors=vectors,
        )
        session.commit()
    knowledge.drop_vectors(result.stale_vectors)
    return result.report


def ingest_files(
    container: Container,
    paths: Sequence[Path],
    options: IngestOptions,
    prune: bool = False,
    source: str = "cli",
    on_file: Callable[[Path], None] | None = None,
    on_embedded: Callable[[int, int], None] | None = None,
) -> IngestReport:
    """Ingest files and folders (the CLI and `threadline demo`)."""
    prepared = prepare_paths(paths, options, on_file=on_file)
    return apply_prepared(container, prepared, source, prune=prune, on_embedded=on_embedded)


def delete_document(container: Container, doc_id: str, source: str) -> IngestReport:
    """Remove one document (new KB version), then its vectors."""
    with container.session() as session:
        knowledge = KnowledgeService(session, container.embedder, container.vector_store)
        result = knowledge.delete_document(doc_id, container.clock.now(), source)
        session.commit()
    knowledge.drop_vectors(result.stale_vectors)
    return result.report


def ingest_uploads(container: Container, upload_ids: list[str]) -> list[str]:
    """Task `kb.ingest_upload`: ingest uploaded files a worker owns (lease), record the report."""
    for upload_id in upload_ids:
        now = container.clock.now()
        with container.session() as session:
            repo = KnowledgeRepository(session)
            if not repo.claim_upload(upload_id, now, now + UPLOAD_LEASE):
                continue
            session.commit()
            upload = repo.upload(upload_id)
            assert upload is not None
            name, data, options = upload.filename, upload.data or b"", dict(upload.options)
        prepared = prepare_upload(
            name,
            data,
            IngestOptions(
                tags=tuple(options.get("tags", ())),
                audience=options.get("audience"),
                max_bytes=container.settings.kb_max_file_bytes,
            ),
        )
        try:
            report = apply_prepared(container, prepared, source=f"upload:{name}")
            status, error, report_json = "done", None, report.model_dump(mode="json")
        except Exception as exc:  # noqa: BLE001 - recorded on the upload for the user to see
            log.exception("KB upload %s failed", upload_id)
            status, error, report_json = "failed", f"{type(exc).__name__}: {exc}", {}
        with container.session() as session:
            upload = KnowledgeRepository(session).upload(upload_id)
            assert upload is not None
            upload.status, upload.error, upload.report = status, error, report_json
            upload.finished_at = container.clock.now()
            upload.lease_expires_at = None
            upload.data = None
            session.commit()
    return []


def sweep_uploads(container: Container) -> list[str]:
    """Uploads no worker took, or whose worker died: ids to enqueue again."""
    now = container.clock.now()
    grace = timedelta(seconds=container.settings.enqueue_grace_seconds)
    with container.session(write=False) as session:
        return KnowledgeRepository(session).stuck_uploads(now, now - grace)


def new_upload(
    container: Container, filename: str, data: bytes, tags: list[str], audience: str | None
) -> KbUpload:
    """Record an upload to be ingested by a worker (the caller commits and enqueues)."""
    return KbUpload(
        filename=filename,
        size=len(data),
        data=data,
        options={"tags": tags, "audience": audience},
        status="queued",
        report={},
        created_at=container.clock.now(),
    )
