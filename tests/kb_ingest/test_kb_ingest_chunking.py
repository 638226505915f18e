"""Chunking: one chunk per section, long sections split with overlap, stable local hashes."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from kb_ingest.chunking import Chunk, chunk_article, embedding_text
from kb_ingest.loaders import Article, Section, load_bytes, load_file

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "kb"


def returns_article() -> Article:
    [article] = load_file(FIXTURES / "returns.md", root=FIXTURES)
    return article


def long_text(sentences: int = 30) -> str:
    paragraph: list[str] = []
    for n in range(1, sentences + 1):
        paragraph.append(f"Rule {n:02d} says refunds for case {n:02d} take {n} working days.")
    return " ".join(paragraph)


def test_one_chunk_per_short_section() -> None:
    article = returns_article()
    chunks = chunk_article(article)
    assert [c.ordinal for c in chunks] == list(range(len(article.sections)))
    assert [c.heading_path for c in chunks] == [s.heading_path for s in article.sections]
    assert [c.text for c in chunks] == [s.text for s in article.sections]
    assert all(re.fullmatch(r"[0-9a-f]{64}", c.content_hash) for c in chunks)
    assert len({c.content_hash for c in chunks}) == len(chunks)


def test_chunking_is_deterministic() -> None:
    first = chunk_article(returns_article())
    second = chunk_article(returns_article())
    assert first == second
    # Known value: the hash must not depend on process, run or Python hash seed.
    article = Article(
        id="a", title="T", sections=(Section(("H",), "Body."),), source="a.md", kind="markdown"
    )
    [chunk] = chunk_article(article)
    assert chunk == Chunk(0, ("H",), "Body.", chunk.content_hash)
    assert chunk_article(article)[0].content_hash == chunk.content_hash


def test_long_section_split_on_sentences_with_overlap() -> None:
    text = long_text()
    article = Article(
        id="refund-rules",
        title="Refund rules",
        sections=(Section((), "Short intro."), Section(("Rules",), text)),
        source="refund-rules.md",
        kind="markdown",
    )
    chunks = chunk_article(article, max_chars=300, overlap=80)
    assert chunks[0].text == "Short intro."
    rule_chunks = chunks[1:]
    assert len(rule_chunks) >= 5
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    for chunk in rule_chunks:
        assert chunk.heading_path == ("Rules",)
        assert len(chunk.text) <= 300
        assert chunk.text.startswith("Rule ") and chunk.text.endswith(".")  # sentence bounds
    for before, after in zip(rule_chunks, rule_chunks[1:], strict=False):
        last_sentence = before.text.rsplit(". ", 1)[-1]
        assert after.text.startswith(last_sentence)  # the overlap carries it over
    covered = " ".join(c.text for c in rule_chunks)
    for n in range(1, 31):
        assert f"Rule {n:02d} says" in covered
    assert len({c.content_hash for c in chunks}) == len(chunks)


def test_long_section_prefers_paragraph_breaks() -> None:
    paragraphs = [long_text(4), long_text(5), long_text(3)]
    article = Article(
        id="p",
        title="P",
        sections=(Section((), "\n\n".join(paragraphs)),),
        source="p.txt",
        kind="text",
    )
    chunks = chunk_article(article, max_chars=400, overlap=0)
    assert [c.text for c in chunks] == paragraphs


def test_changing_one_section_changes_only_its_hashes() -> None:
    article = returns_article()
    before = chunk_article(article)
    changed_index = 3  # "Refund timing"
    sections = list(article.sections)
    sections[changed_index] = replace(
        sections[changed_index], text="Refunds now take 3 working days."
    )
    after = chunk_article(replace(article, sections=tuple(sections)))
    assert len(after) == len(before)
    for i, (old, new) in enumerate(zip(before, after, strict=True)):
        if i == changed_index:
            assert old.content_hash != new.content_hash
        else:
            assert old == new


def test_adding_a_section_keeps_other_hashes() -> None:
    article = returns_article()
    before = {c.content_hash for c in chunk_article(article)}
    extra = Section(("Gift returns",), "Gift receipts allow an exchange.")
    after = chunk_article(replace(article, sections=(*article.sections, extra)))
    assert before < {c.content_hash for c in after}


def test_hash_covers_heading_path_and_title() -> None:
    base = Article(
        id="a", title="T", sections=(Section(("H",), "Body."),), source="a.md", kind="markdown"
    )
    [chunk] = chunk_article(base)
    [moved] = chunk_article(replace(base, sections=(Section(("Other",), "Body."),)))
    [retitled] = chunk_article(replace(base, title="New title"))
    assert len({chunk.content_hash, moved.content_hash, retitled.content_hash}) == 3


def test_identical_sections_get_distinct_hashes() -> None:
    same = Section(("Note",), "Prices include VAT.")
    article = Article(id="a", title="T", sections=(same, same), source="a.md", kind="markdown")
    first, second = chunk_article(article)
    assert first.content_hash != second.content_hash


def test_faq_row_is_one_chunk() -> None:
    articles = load_file(FIXTURES / "faq_bom.csv", root=FIXTURES)
    for article in articles:
        [chunk] = chunk_article(article)
        assert chunk.heading_path == ()
        assert chunk.text == article.sections[0].text
    first = articles[0]
    assert embedding_text(first, chunk_article(first)[0]) == (
        "How do I reset my password?\n\n"
        'Go to Settings, then Security.\nChoose "Reset password" and follow the email link.'
    )


def test_embedding_text_format() -> None:
    article = returns_article()
    chunks = chunk_article(article)
    nested = next(c for c in chunks if len(c.heading_path) == 2)
    assert embedding_text(article, nested) == (
        "Returns and refunds > Returning an item > Items we cannot take back\n\n"
        "Opened software, personalised items and gift cards cannot be returned."
    )
    intro = chunks[0]
    assert embedding_text(article, intro) == f"Returns and refunds\n\n{intro.text}"


def test_html_article_chunks() -> None:
    [article] = load_bytes("page.html", (FIXTURES / "help_center_page.html").read_bytes())
    chunks = chunk_article(article)
    assert [c.heading_path for c in chunks] == [s.heading_path for s in article.sections]
    assert embedding_text(article, chunks[1]).startswith(
        "Where is my parcel? > Tracking your parcel\n\nOpen the dispatch email"
    )


@pytest.mark.parametrize("max_chars,overlap", [(0, 0), (100, 100), (100, -1)])
def test_invalid_sizes(max_chars: int, overlap: int) -> None:
    with pytest.raises(ValueError):
        chunk_article(returns_article(), max_chars=max_chars, overlap=overlap)
