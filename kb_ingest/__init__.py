"""Knowledge-base ingestion: pure loaders (files → articles) and chunking (articles → chunks).

Nothing here touches a database or an embedding model; the ingest service composes these
with the vector store.
"""

from kb_ingest.chunking import Chunk, chunk_article, embedding_text
from kb_ingest.loaders import (
    MAX_FILE_BYTES,
    SUPPORTED_EXTENSIONS,
    Article,
    Audience,
    LoadError,
    Section,
    discover,
    load_bytes,
    load_file,
)

__all__ = [
    "MAX_FILE_BYTES",
    "SUPPORTED_EXTENSIONS",
    "Article",
    "Audience",
    "Chunk",
    "LoadError",
    "Section",
    "chunk_article",
    "discover",
    "embedding_text",
    "load_bytes",
    "load_file",
]
