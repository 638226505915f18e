"""Chunking: split an article into retrieval-sized pieces with stable content hashes.

One chunk per section when it fits; a longer section is split on paragraph, line and
sentence boundaries (in that order of preference) with some overlap. A chunk's hash depends
only on the article title, its heading path and its text, so re-ingesting an unchanged
article gives the same hashes and editing one section changes only that section's hashes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from langchain_text_splitters import RecursiveCharacterTextSplitter

from kb_ingest.loaders import Article

# Paragraph, line, sentence, clause, word, character.
_SEPARATORS = ["\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ", ""]


@dataclass(frozen=True)
class Chunk:
    ordinal: int
    heading_path: tuple[str, ...]
    text: str
    content_hash: str


def chunk_article(article: Article, max_chars: int = 1200, overlap: int = 150) -> list[Chunk]:
    """The article's chunks, in order. The same article always gives the same chunks."""
    if max_chars <= 0:
        raise ValueError(f"max_chars must be positive, got {max_chars}")
    if not 0 <= overlap < max_chars:
        raise ValueError(f"overlap must be in [0, max_chars), got {overlap}")
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=max_chars,
        chunk_overlap=overlap,
        separators=_SEPARATORS,
        keep_separator="end",  # a sentence keeps its full stop
    )
    chunks: list[Chunk] = []
    seen: dict[str, int] = {}
    for section in article.sections:
        text = section.text.strip()
        if not text:
            continue
        pieces = [text] if len(text) <= max_chars else splitter.split_text(text)
        for piece in pieces:
            piece = piece.strip()
            if not piece:
                continue
            digest = _hash(article.title, section.heading_path, piece)
            # Identical chunks in one article still get distinct hashes (first one unchanged).
            repeat = seen.get(digest, 0)
            seen[digest] = repeat + 1
            if repeat:
                digest = hashlib.sha256(f"{digest}#{repeat}".encode()).hexdigest()
            chunks.append(Chunk(len(chunks), section.heading_path, piece, digest))
    return chunks


def embedding_text(article: Article, chunk: Chunk) -> str:
    """The text the chunk is embedded with: ``Title > Heading > Sub``, a blank line, the text."""
    context = " > ".join(part for part in (article.title, *chunk.heading_path) if part)
    return f"{context}\n\n{chunk.text}" if context else chunk.text


def _hash(title: str, heading_path: tuple[str, ...], text: str) -> str:
    payload = json.dumps([title, list(heading_path), text], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()
