"""Files → loaders → chunks → documents ready for core.knowledge (no database here)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from core.knowledge.schemas import FileReport
from core.knowledge.service import IncomingChunk, IncomingDocument
from kb_ingest.chunking import chunk_article, embedding_text
from kb_ingest.loaders import MAX_FILE_BYTES, Article, LoadError, discover, load_bytes, load_file


@dataclass(frozen=True)
class IngestOptions:
    """What the caller adds to every article: extra tags, a forced audience, size limit."""

    tags: tuple[str, ...] = ()
    audience: str | None = None
    max_bytes: int = MAX_FILE_BYTES


@dataclass
class Prepared:
    """Documents to apply, the files that were skipped, and the roots to prune under."""

    documents: list[IncomingDocument] = field(default_factory=list)
    skipped: list[FileReport] = field(default_factory=list)
    roots: list[str] = field(default_factory=list)


def to_document(article: Article, origin: str, options: IngestOptions) -> IncomingDocument:
    """One loaded article with its chunks, as the knowledge service takes it."""
    if options.tags or options.audience:
        article = replace(
            article,
            tags=tuple(dict.fromkeys(article.tags + options.tags)),
            audience=options.audience or article.audience,  # type: ignore[arg-type]
        )
    chunks = tuple(
        IncomingChunk(
            content_hash=c.content_hash,
            heading_path=c.heading_path,
            text=c.text,
            embedding_text=embedding_text(article, c),
        )
        for c in chunk_article(article)
    )
    return IncomingDocument(
        id=article.id,
        title=article.title,
        source=article.source,
        origin=origin,
        kind=article.kind,
        chunks=chunks,
        tags=article.tags,
        audience=article.audience,
        language=article.language,
        url=article.url,
    )


def prepare_paths(
    paths: Sequence[Path],
    options: IngestOptions,
    on_file: Callable[[Path], None] | None = None,
) -> Prepared:
    """Load every supported file under `paths`; bad files become `skipped` entries."""
    prepared = Prepared()
    for given in paths:
        if not given.exists():
            prepared.skipped.append(
                FileReport(source=str(given), status="skipped", reason="no such file or folder")
            )
            continue
        root = given.resolve() if given.is_dir() else given.resolve().parent
        prepared.roots.append(str(given.resolve()))
        for path in discover([given]):
            try:
                articles = load_file(path, root=root, max_bytes=options.max_bytes)
            except LoadError as exc:
                source = str(path.resolve().relative_to(root))
                prepared.skipped.append(
                    FileReport(source=source, status="skipped", reason=exc.reason)
                )
            else:
                origin = str(path.resolve())
                prepared.documents += [to_document(a, origin, options) for a in articles]
            if on_file is not None:
                on_file(path)
    return prepared


def prepare_upload(name: str, data: bytes, options: IngestOptions) -> Prepared:
    """Load one uploaded file; its documents' origin is `upload:<name>`."""
    prepared = Prepared()
    try:
        articles = load_bytes(name, data, max_bytes=options.max_bytes)
    except LoadError as exc:
        prepared.skipped.append(FileReport(source=name, status="skipped", reason=exc.reason))
        return prepared
    prepared.documents = [to_document(a, f"upload:{name}", options) for a in articles]
    return prepared
