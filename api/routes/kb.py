"""/v1/kb: upload, list, read, delete and search the knowledge base."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Response, UploadFile

from api.deps import JsonBody, UowDep, require
from core.auth.service import Role
from core.errors import InvalidInput, NotFound
from core.knowledge.models import KbDocument
from core.knowledge.repository import KnowledgeRepository
from core.knowledge.schemas import (
    ChunkOut,
    DocumentDetail,
    DocumentList,
    DocumentOut,
    FileReport,
    IngestReport,
    SearchIn,
    SearchOut,
    UploadOut,
    VersionOut,
)
from core.tasks import TaskName
from kb_ingest.pipeline import IngestOptions, Prepared, prepare_upload
from workers.kb import apply_prepared, delete_document, new_upload

router = APIRouter(prefix="/v1/kb", tags=["knowledge base"])

Editor = Depends(require(Role.KNOWLEDGE_MANAGER))
Reader = Depends(require(Role.KNOWLEDGE_MANAGER, Role.AGENT, Role.INTEGRATION))


def _document_out(doc: KbDocument, chunk_count: int) -> dict[str, Any]:
    return {
        "id": doc.id,
        "title": doc.title,
        "source": doc.source,
        "kind": doc.kind,
        "tags": doc.tags,
        "audience": doc.audience,
        "language": doc.language,
        "url": doc.url,
        "kb_version": doc.version,
        "chunk_count": chunk_count,
        "created_at": doc.created_at,
        "updated_at": doc.updated_at,
    }


def _upload_out(upload: Any) -> UploadOut:
    return UploadOut(
        id=upload.id,
        filename=upload.filename,
        size=upload.size,
        status=upload.status,
        report=IngestReport.model_validate(upload.report) if upload.report else None,
        error=upload.error,
        created_at=upload.created_at,
        finished_at=upload.finished_at,
    )


@router.post(
    "/documents",
    dependencies=[Editor],
    responses={202: {"model": UploadOut}, 200: {"model": IngestReport}},
)
async def upload_documents(
    uow: UowDep,
    response: Response,
    files: Annotated[list[UploadFile], File(description="Markdown, HTML, text, PDF, FAQ CSV/JSON")],
    tags: Annotated[str, Form(description="Comma-separated tags added to every article")] = "",
    audience: Annotated[str | None, Form(description="public or internal (overrides)")] = None,
) -> Any:
    """Ingest uploaded files. Small uploads are ingested now (200 with the report); larger
    ones are stored and ingested by a worker (202 with upload ids to poll)."""
    if audience not in (None, "", "public", "internal"):
        raise InvalidInput("audience must be 'public' or 'internal'", field="audience")
    container = uow.container
    settings = container.settings
    tag_list = [t.strip() for t in tags.split(",") if t.strip()]
    options = IngestOptions(tuple(tag_list), audience or None, settings.kb_max_file_bytes)
    contents: list[tuple[str, bytes]] = []
    skipped: list[FileReport] = []
    for upload in files:
        name = upload.filename or "upload"
        data = await upload.read(settings.kb_max_file_bytes + 1)
        if len(data) > settings.kb_max_file_bytes:
            reason = f"file is larger than the limit of {settings.kb_max_file_bytes} bytes"
            skipped.append(FileReport(source=name, status="skipped", reason=reason))
        else:
            contents.append((name, data))
    total = sum(len(d) for _, d in contents)
    if total <= settings.kb_sync_upload_bytes:
        from starlette.concurrency import run_in_threadpool

        prepared = Prepared(skipped=skipped)
        for name, data in contents:
            one = prepare_upload(name, data, options)
            prepared.documents += one.documents
            prepared.skipped += one.skipped
        report = await run_in_threadpool(apply_prepared, container, prepared, "api")
        response.status_code = 200
        return report
    uploads = [
        new_upload(container, name, data, tag_list, audience or None) for name, data in contents
    ]
    for upload in uploads:
        uow.session.add(upload)
    uow.session.flush()
    ids = [u.id for u in uploads]
    uow.after_commit(lambda: container.queue.enqueue(TaskName.INGEST_KB_UPLOAD, ids))
    uow.commit()
    response.status_code = 202
    return {
        "uploads": [_upload_out(u).model_dump(mode="json") for u in uploads],
        "skipped": skipped,
    }


@router.get("/uploads/{upload_id}", response_model=UploadOut, dependencies=[Reader])
def get_upload(upload_id: str, uow: UowDep) -> UploadOut:
    """Status and report of an upload ingested by a worker."""
    upload = KnowledgeRepository(uow.session).upload(upload_id)
    if upload is None:
        raise NotFound(f"upload {upload_id} does not exist", field="upload_id")
    return _upload_out(upload)


@router.get("/documents", response_model=DocumentList, dependencies=[Reader])
def list_documents(
    uow: UowDep,
    tag: str | None = None,
    audience: Annotated[str | None, Query(pattern="^(public|internal)$")] = None,
) -> DocumentList:
    """Every article with its KB version and chunk count."""
    repo = KnowledgeRepository(uow.session)
    counts = repo.chunk_counts()
    docs = repo.list_documents(tag, audience)
    return DocumentList(
        kb_version=repo.current_version(),
        items=[DocumentOut(**_document_out(d, counts.get(d.id, 0))) for d in docs],
    )


@router.get("/documents/{doc_id:path}", response_model=DocumentDetail, dependencies=[Reader])
def get_document(doc_id: str, uow: UowDep) -> DocumentDetail:
    """One article with its chunks (heading path, text, KB version) and its version history."""
    repo = KnowledgeRepository(uow.session)
    doc = repo.document(doc_id)
    if doc is None:
        raise NotFound(f"KB document {doc_id!r} does not exist", field="document_id")
    return DocumentDetail(
        **_document_out(doc, len(doc.chunks)),
        chunks=[
            ChunkOut(
                id=c.id,
                ordinal=c.ordinal,
                heading_path=c.heading_path,
                text=c.text,
                kb_version=c.version,
            )
            for c in doc.chunks
        ],
        versions=[
            VersionOut(
                kb_version=ch.version,
                action=ch.action,
                chunks_added=ch.chunks_added,
                chunks_removed=ch.chunks_removed,
                at=ch.created_at,
            )
            for ch in repo.changes_of(doc.id)
        ],
    )


@router.delete("/documents/{doc_id:path}", response_model=IngestReport, dependencies=[Editor])
def remove_document(doc_id: str, uow: UowDep) -> IngestReport:
    """Remove an article; a new KB version records it."""
    return delete_document(uow.container, doc_id, source="api")


@router.post("/search", response_model=SearchOut, dependencies=[JsonBody, Reader])
def search(body: SearchIn, uow: UowDep) -> SearchOut:
    """Hybrid (dense + BM25, fused by reciprocal rank) search over KB chunks."""
    with uow.container.session(write=False) as session:
        return uow.container.knowledge_search(session).search(body)
