"""Loaders: turn knowledge-base files (Markdown, HTML, text, PDF, FAQ CSV/JSON) into articles.

Pure functions over bytes: no database, no embeddings. Anything that cannot be ingested raises
:class:`LoadError` with a reason a knowledge manager can act on; no other exception escapes
:func:`load_file` or :func:`load_bytes`.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Literal

import frontmatter
import yaml
from bs4 import BeautifulSoup
from bs4.element import NavigableString, PageElement, PreformattedString, Tag
from markdown_it import MarkdownIt
from markdown_it.token import Token
from pypdf import PdfReader

Audience = Literal["public", "internal"]

SUPPORTED_EXTENSIONS = {".md", ".markdown", ".html", ".htm", ".txt", ".pdf", ".csv", ".json"}
MAX_FILE_BYTES = 20 * 1024 * 1024

_KIND_BY_EXTENSION = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".txt": "text",
    ".pdf": "pdf",
    ".csv": "faq",
    ".json": "faq",
}
_TITLE_LINE_MAX = 120
_PDF_SINGLE_SECTION_CHARS = 1500


@dataclass(frozen=True)
class Section:
    heading_path: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class Article:
    id: str
    title: str
    sections: tuple[Section, ...]
    source: str
    kind: str
    tags: tuple[str, ...] = ()
    audience: Audience = "public"
    language: str | None = None
    url: str | None = None


class LoadError(Exception):
    """A file that cannot be ingested; ``str(err)`` says why in words a user understands."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


# ---------------------------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------------------------


def discover(paths: Sequence[Path]) -> list[Path]:
    """Files given plus every file under the folders given, recursively, sorted.

    Hidden files and folders (name starting with ".") under a folder are skipped; files named
    explicitly are kept as given. No filtering by extension: unsupported files come back so
    that :func:`load_file` can say why they were not ingested (filter on
    :data:`SUPPORTED_EXTENSIONS` first to skip them silently).
    """
    found: set[Path] = set()
    for path in paths:
        if path.is_dir():
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames[:] = [d for d in dirnames if not d.startswith(".")]
                for name in filenames:
                    if not name.startswith("."):
                        found.add(Path(dirpath) / name)
        else:
            found.add(path)
    return sorted(found)


def load_file(
    path: Path, root: Path | None = None, max_bytes: int = MAX_FILE_BYTES
) -> list[Article]:
    """Load one file. With ``root``, the source and the derived id are relative to it."""
    source, doc_id = _source_and_id(path, root)
    extension = path.suffix.lower()
    _check_extension(source, extension)
    try:
        size = path.stat().st_size
        _check_size(source, size, max_bytes)
        data = path.read_bytes()
    except OSError as exc:
        raise LoadError(source, f"cannot read file: {exc.strerror or exc}") from exc
    return _load(_Context(source, doc_id, path.stem), extension, data, max_bytes)


def load_bytes(name: str, data: bytes, max_bytes: int = MAX_FILE_BYTES) -> list[Article]:
    """Load an upload; ``name`` is the file name and its extension decides the loader."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip() or name
    pure = PurePath(base)
    extension = pure.suffix.lower()
    _check_extension(base, extension)
    return _load(_Context(base, _normalize_id(pure.stem), pure.stem), extension, data, max_bytes)


# ---------------------------------------------------------------------------------------------
# Dispatch and shared checks
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    source: str
    doc_id: str
    stem: str


def _load(ctx: _Context, extension: str, data: bytes, max_bytes: int) -> list[Article]:
    _check_size(ctx.source, len(data), max_bytes)
    if not data.strip():
        raise LoadError(ctx.source, "file is empty")
    loader = _LOADERS[extension]
    try:
        return loader(ctx, data)
    except LoadError:
        raise
    except Exception as exc:  # a parser bug or a pathological file: still a LoadError
        kind = _KIND_BY_EXTENSION[extension]
        raise LoadError(ctx.source, f"could not read this {kind} file: {exc}") from exc


def _check_extension(source: str, extension: str) -> None:
    if extension not in SUPPORTED_EXTENSIONS:
        shown = extension or "(no extension)"
        supported = ", ".join(sorted(SUPPORTED_EXTENSIONS))
        raise LoadError(source, f"unsupported file type {shown}; supported: {supported}")


def _check_size(source: str, size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise LoadError(
            source, f"file is {_human_size(size)}; the limit is {_human_size(max_bytes)}"
        )


def _human_size(n: int) -> str:
    for unit, factor in (("MB", 1024 * 1024), ("KB", 1024)):
        if n >= factor:
            value = f"{n / factor:.1f}".removesuffix(".0")
            return f"{value} {unit}"
    return f"{n} bytes"


def _source_and_id(path: Path, root: Path | None) -> tuple[str, str]:
    if root is not None:
        relative = _relative_to(path, root)
        if relative is not None and relative.parts:
            return relative.as_posix(), _normalize_id(relative.with_suffix("").as_posix())
    return path.as_posix(), _normalize_id(path.stem)


def _relative_to(path: Path, root: Path) -> PurePath | None:
    for p, r in ((path, root), (path.absolute(), root.absolute())):
        try:
            return p.relative_to(r)
        except ValueError:
            continue
    try:
        return path.resolve().relative_to(root.resolve())
    except (ValueError, OSError):
        return None


def _normalize_id(value: str) -> str:
    return re.sub(r"\s+", "-", value.replace("\\", "/").strip().lower())


def _prettify_stem(stem: str) -> str:
    words = re.sub(r"[\s_-]+", " ", stem).strip()
    return words[:1].upper() + words[1:] if words else stem


def _decode(ctx: _Context, data: bytes) -> str:
    """utf-8 (BOM or not), UTF-16 with a BOM, else cp1252, else latin-1; never fails."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = data.decode("utf-16", errors="replace")
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            try:
                text = data.decode("cp1252")
            except UnicodeDecodeError:
                text = data.decode("latin-1")
    if "\x00" in text:
        raise LoadError(ctx.source, "file is not text (it contains binary data)")
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\ufeff", "")
    if not text.strip():
        raise LoadError(ctx.source, "file is empty")
    return text


_ODD_SPACES = re.compile(r"[\u00a0\u2000-\u200a\u202f\u205f\u3000]")
_ZERO_WIDTH = re.compile(r"[\u200b-\u200d\u2060]")


def _tidy(text: str) -> str:
    """Tidy whitespace but keep line structure and indentation (code blocks stay readable)."""
    text = _ZERO_WIDTH.sub("", _ODD_SPACES.sub(" ", text))
    lines = [line.rstrip() for line in text.split("\n")]
    joined = re.sub(r"\n{3,}", "\n\n", "\n".join(lines))
    return joined.strip("\n")


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", _ZERO_WIDTH.sub("", text)).strip()


def _same_heading(a: str, b: str) -> bool:
    return _one_line(a).casefold() == _one_line(b).casefold()


def _no_text(ctx: _Context) -> LoadError:
    return LoadError(ctx.source, "file has no text to ingest")


# ---------------------------------------------------------------------------------------------
# Sections from a stream of headings and lines (shared by Markdown and HTML)
# ---------------------------------------------------------------------------------------------


@dataclass
class _SectionBuilder:
    title: str
    sections: list[Section] = field(default_factory=list)
    _stack: list[tuple[int, str]] = field(default_factory=list)
    _lines: list[str] = field(default_factory=list)
    _title_heading_seen: bool = False

    def heading(self, level: int, text: str) -> None:
        text = _one_line(text)
        if not text:
            return
        self.flush()
        if level == 1 and not self._title_heading_seen and _same_heading(text, self.title):
            # The title's own H1 is not repeated in every heading path.
            self._title_heading_seen = True
            self._stack = []
            return
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        self._stack.append((level, text))

    def line(self, text: str) -> None:
        self._lines.append(text)

    def blank(self) -> None:
        if self._lines and self._lines[-1] != "":
            self._lines.append("")

    def flush(self) -> None:
        text = _tidy("\n".join(self._lines))
        self._lines = []
        if not text.strip():
            return
        path = tuple(name for _, name in self._stack)
        if self.sections and self.sections[-1].heading_path == path:
            text = f"{self.sections[-1].text}\n\n{text}"
            self.sections[-1] = Section(path, text)
        else:
            self.sections.append(Section(path, text))

    def finish(self) -> tuple[Section, ...]:
        self.flush()
        return tuple(self.sections)


# ---------------------------------------------------------------------------------------------
# Metadata helpers
# ---------------------------------------------------------------------------------------------


def _meta_str(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, list | tuple):
        value = ", ".join(str(v) for v in value)
    text = _one_line(str(value))
    return text or None


def _parse_tags(value: object, separators: str = ",;") -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list | tuple | set):
        raw = [str(v) for v in value if v is not None]
    else:
        raw = re.split(f"[{re.escape(separators)}]", str(value))
    tags: list[str] = []
    for item in raw:
        tag = _one_line(item)
        if tag and tag not in tags:
            tags.append(tag)
    return tuple(tags)


def _parse_audience(ctx: _Context, value: object, where: str = "") -> Audience:
    text = _meta_str(value)
    if text is None:
        return "public"
    lowered = text.lower()
    if lowered == "public":
        return "public"
    if lowered == "internal":
        return "internal"
    raise LoadError(ctx.source, f"{where}audience must be 'public' or 'internal', not {text!r}")


# ---------------------------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------------------------

_MARKDOWN = MarkdownIt("commonmark").enable("table")


def _load_markdown(ctx: _Context, data: bytes) -> list[Article]:
    text = _decode(ctx, data)
    try:
        post = frontmatter.loads(text)
    except yaml.YAMLError as exc:
        raise LoadError(ctx.source, _yaml_reason(exc)) from exc
    meta: Mapping[str, object] = post.metadata if isinstance(post.metadata, dict) else {}
    meta = {str(k).lower(): v for k, v in meta.items()}
    body = post.content
    if not body.strip():
        raise _no_text(ctx)

    tokens = _MARKDOWN.parse(body)
    title = _meta_str(meta.get("title")) or _first_markdown_h1(tokens) or _prettify_stem(ctx.stem)
    sections = _markdown_sections(tokens, title)
    if not sections:
        raise _no_text(ctx)
    return [
        Article(
            id=_meta_str(meta.get("id")) or ctx.doc_id,
            title=title,
            sections=sections,
            source=ctx.source,
            kind="markdown",
            tags=_parse_tags(meta.get("tags")),
            audience=_parse_audience(ctx, meta.get("audience")),
            language=_meta_str(meta.get("language", meta.get("lang"))),
            url=_meta_str(meta.get("url")),
        )
    ]


def _yaml_reason(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem:
        # PyYAML counts from 0 and the YAML text starts with the newline after "---".
        mark = exc.context_mark or exc.problem_mark
        where = f" (line {mark.line + 1})" if mark else ""
        context = f"{exc.context}: " if exc.context else ""
        return f"invalid YAML front matter: {context}{exc.problem}{where}"
    return f"invalid YAML front matter: {_one_line(str(exc))}"


def _first_markdown_h1(tokens: list[Token]) -> str | None:
    for i, token in enumerate(tokens):
        if token.type == "heading_open" and token.tag == "h1" and i + 1 < len(tokens):
            text = _one_line(_inline_text(tokens[i + 1]))
            if text:
                return text
    return None


def _inline_text(token: Token) -> str:
    parts: list[str] = []
    for child in token.children or []:
        if child.type in ("text", "code_inline", "image"):
            parts.append(child.content)
        elif child.type == "softbreak":
            parts.append(" ")
        elif child.type == "hardbreak":
            parts.append("\n")
    lines = ("".join(parts)).split("\n")
    return "\n".join(_one_line(line) for line in lines).strip("\n")


@dataclass
class _ListState:
    ordered: bool
    marker: str | None = None


def _markdown_sections(tokens: list[Token], title: str) -> tuple[Section, ...]:
    builder = _SectionBuilder(title)
    lists: list[_ListState] = []
    row: list[str] = []

    def emit(text: str, *, code: bool = False) -> None:
        if not lists:
            for line in text.split("\n"):
                builder.line(line)
            builder.blank()
            return
        depth = len(lists)
        indent = "  " * (depth - 1)
        state = lists[-1]
        continuation = indent + " " * (len(state.marker or "-") + 1)
        for n, line in enumerate(text.split("\n")):
            if state.marker is not None and n == 0 and not code:
                builder.line(f"{indent}{state.marker} {line}")
                state.marker = None
            else:
                builder.line(continuation + line)

    i = 0
    while i < len(tokens):
        token = tokens[i]
        kind = token.type
        if kind == "heading_open":
            inline = tokens[i + 1] if i + 1 < len(tokens) else None
            builder.heading(int(token.tag[1]), _inline_text(inline) if inline else "")
            i += 3
            continue
        if kind == "bullet_list_open" or kind == "ordered_list_open":
            lists.append(_ListState(ordered=kind == "ordered_list_open"))
        elif kind in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
            if not lists:
                builder.blank()
        elif kind == "list_item_open" and lists:
            lists[-1].marker = f"{token.info}." if lists[-1].ordered and token.info else "-"
        elif kind == "tr_open":
            row = []
        elif kind == "tr_close":
            if any(row):
                emit(" | ".join(row))
        elif kind == "inline":
            parent = tokens[i - 1].type if i else ""
            if parent in ("th_open", "td_open"):
                row.append(_one_line(_inline_text(token)))
            else:
                text = _inline_text(token)
                if text.strip():
                    emit(text)
        elif kind in ("fence", "code_block"):
            code = token.content.rstrip("\n")
            if code.strip():
                if lists and lists[-1].marker is not None:
                    emit("")  # the item starts with code: put its marker on its own line
                emit(code, code=True)
        elif kind == "html_block":
            text = BeautifulSoup(token.content, "html.parser").get_text("\n")
            text = "\n".join(_one_line(line) for line in text.split("\n") if line.strip())
            if text:
                emit(text)
        i += 1
    return builder.finish()


# ---------------------------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------------------------

_HTML_DROP_TAGS = {
    "nav",
    "header",
    "footer",
    "aside",
    "script",
    "style",
    "noscript",
    "form",
    "template",
    "iframe",
    "svg",
    "button",
    "dialog",
}
_HTML_DROP_ROLES = {"navigation", "banner", "contentinfo", "complementary", "search", "dialog"}
_HTML_NOISE = re.compile(r"nav|breadcrumb|sidebar|footer|cookie", re.IGNORECASE)
_HTML_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_HTML_BLOCKS = {
    "p",
    "div",
    "section",
    "article",
    "main",
    "blockquote",
    "dl",
    "dt",
    "dd",
    "figure",
    "figcaption",
    "details",
    "summary",
    "hr",
    "table",
    "address",
    "center",
}


def _is_noise(tag: Tag) -> bool:
    if tag.name in _HTML_DROP_TAGS:
        return True
    if tag.has_attr("hidden") or str(tag.get("aria-hidden", "")).lower() == "true":
        return True
    style = str(tag.get("style", "")).replace(" ", "").lower()
    if "display:none" in style or "visibility:hidden" in style:
        return True
    if str(tag.get("role", "")).lower() in _HTML_DROP_ROLES:
        return True
    classes = tag.get("class")
    names = " ".join(classes) if isinstance(classes, list) else str(classes or "")
    if not _HTML_NOISE.search(f"{names} {tag.get('id') or ''}"):
        return False
    # A wrapper such as <div class="layout-with-sidebar"> that holds the article is not noise.
    return tag.find(["h1", "main", "article"]) is None


def _load_html(ctx: _Context, data: bytes) -> list[Article]:
    soup = BeautifulSoup(_decode(ctx, data), "html.parser")
    root = _html_main(soup)

    title = None
    for scope in (root, soup.find("main")):
        h1 = scope.find("h1") if isinstance(scope, Tag) else None
        if isinstance(h1, Tag) and (text := _one_line(h1.get_text(" "))):
            title = text
            break
    if title is None and isinstance(soup.title, Tag):
        title = _one_line(soup.title.get_text(" ")) or None
    title = title or _prettify_stem(ctx.stem)

    sections = _html_sections(root, title)
    if not sections:
        raise _no_text(ctx)

    keywords = soup.find("meta", attrs={"name": re.compile("^keywords$", re.IGNORECASE)})
    html_tag = soup.find("html")
    canonical = soup.find("link", rel="canonical")
    return [
        Article(
            id=ctx.doc_id,
            title=title,
            sections=sections,
            source=ctx.source,
            kind="html",
            tags=_parse_tags(keywords.get("content") if isinstance(keywords, Tag) else None, ","),
            language=_meta_str(html_tag.get("lang")) if isinstance(html_tag, Tag) else None,
            url=_meta_str(canonical.get("href")) if isinstance(canonical, Tag) else None,
        )
    ]


def _html_main(soup: BeautifulSoup) -> Tag:
    candidates = (
        soup.find("main"),
        soup.find(True, attrs={"role": "main"}),
        soup.find("article"),
        soup.body,
    )
    for candidate in candidates:
        if isinstance(candidate, Tag):
            if candidate.name != "article":
                articles = candidate.find_all("article")
                if len(articles) == 1 and isinstance(articles[0], Tag):
                    return articles[0]
            return candidate
    return soup


@dataclass
class _HtmlList:
    ordered: bool
    number: int


def _html_sections(root: Tag, title: str) -> tuple[Section, ...]:
    builder = _SectionBuilder(title)
    lists: list[_HtmlList] = []
    buffer: list[str] = []
    prefix: list[str | None] = [None]

    def flush_line() -> None:
        text = _one_line("".join(buffer))
        buffer.clear()
        if not text:
            return
        indent = "  " * max(len(lists) - 1, 0)
        if prefix[0] is not None:
            builder.line(f"{indent}{prefix[0]} {text}")
            prefix[0] = None
        elif lists:
            builder.line(f"{indent}  {text}")
        else:
            builder.line(text)

    # Iterative walk (no recursion limit on deeply nested pages): (node, leaving?)
    stack: list[tuple[PageElement, bool]] = [(child, False) for child in reversed(root.contents)]
    while stack:
        node, leaving = stack.pop()
        if isinstance(node, NavigableString):
            if not isinstance(node, PreformattedString):  # comments, doctype, CDATA…
                buffer.append(str(node))
            continue
        if not isinstance(node, Tag):
            continue
        name = node.name
        if leaving:
            if name in _HTML_BLOCKS or name in ("ul", "ol", "li"):
                flush_line()
            if name in ("ul", "ol"):
                lists.pop()
                if not lists:
                    builder.blank()
            elif not lists and name in _HTML_BLOCKS:
                builder.blank()
            continue
        if _is_noise(node):
            continue
        if name in _HTML_HEADINGS:
            flush_line()
            builder.heading(_HTML_HEADINGS[name], node.get_text(" "))
            continue
        if name == "br":
            flush_line()
            continue
        if name == "pre":
            flush_line()
            code = node.get_text().strip("\n")
            for line in code.split("\n"):
                builder.line(line)
            builder.blank()
            continue
        if name == "tr":
            flush_line()
            cells = [_one_line(c.get_text(" ")) for c in node.find_all(["td", "th"])]
            if any(cells):
                builder.line(" | ".join(cells))
            continue
        if name == "img":
            continue
        if name in ("ul", "ol"):
            flush_line()
            start = str(node.get("start", "1"))
            lists.append(_HtmlList(name == "ol", int(start) if start.isdigit() else 1))
        elif name == "li":
            flush_line()
            if lists and lists[-1].ordered:
                prefix[0] = f"{lists[-1].number}."
                lists[-1].number += 1
            else:
                prefix[0] = "-"
        elif name in _HTML_BLOCKS:
            flush_line()
        stack.append((node, True))
        stack.extend((child, False) for child in reversed(node.contents))
    flush_line()
    return builder.finish()


# ---------------------------------------------------------------------------------------------
# Plain text
# ---------------------------------------------------------------------------------------------


def _load_text(ctx: _Context, data: bytes) -> list[Article]:
    text = _tidy(_decode(ctx, data))
    if not text.strip():
        raise LoadError(ctx.source, "file is empty")
    lines = text.split("\n")
    first_index = next(i for i, line in enumerate(lines) if line.strip())
    first = _one_line(lines[first_index])
    title = first if len(first) < _TITLE_LINE_MAX else _prettify_stem(ctx.stem)
    body = text
    rest = "\n".join(lines[first_index + 1 :])
    # A short first line followed by a blank line is a title: do not repeat it in the body.
    if title == first and len(lines) > first_index + 1 and not lines[first_index + 1].strip():
        if rest.strip():
            body = _tidy(rest)
    return [
        Article(
            id=ctx.doc_id,
            title=title,
            sections=(Section((), body),),
            source=ctx.source,
            kind="text",
        )
    ]


# ---------------------------------------------------------------------------------------------
# PDF
# ---------------------------------------------------------------------------------------------


def _load_pdf(ctx: _Context, data: bytes) -> list[Article]:
    if b"%PDF-" not in data[:1024]:
        raise LoadError(ctx.source, "not a readable PDF: the file has no PDF header")
    try:
        reader = PdfReader(io.BytesIO(data))
    except Exception as exc:
        raise LoadError(ctx.source, f"not a readable PDF: {exc}") from exc
    if reader.is_encrypted:
        try:
            opened = bool(reader.decrypt(""))  # an owner-password-only PDF opens with ""
        except Exception:
            opened = False
        if not opened:
            raise LoadError(ctx.source, "PDF is encrypted")
    try:
        pages = [_pdf_text(page.extract_text() or "") for page in reader.pages]
    except Exception as exc:
        raise LoadError(ctx.source, f"not a readable PDF: {exc}") from exc
    if not pages:
        raise LoadError(ctx.source, "not a readable PDF: it has no pages")
    filled = [(n, text) for n, text in enumerate(pages, start=1) if text]
    if not filled:
        raise LoadError(ctx.source, "PDF has no text layer (scanned?)")

    total = sum(len(text) for _, text in filled)
    if len(filled) == 1 or total <= _PDF_SINGLE_SECTION_CHARS:
        sections: tuple[Section, ...] = (Section((), "\n\n".join(t for _, t in filled)),)
    else:
        sections = tuple(Section((f"Page {n}",), text) for n, text in filled)

    try:
        meta_title = reader.metadata.title if reader.metadata else None
    except Exception:
        meta_title = None
    title = _meta_str(meta_title) or _prettify_stem(ctx.stem)
    return [Article(id=ctx.doc_id, title=title, sections=sections, source=ctx.source, kind="pdf")]


def _pdf_text(text: str) -> str:
    lines = [re.sub(r"[ \t]+", " ", line).strip() for line in text.split("\n")]
    return _tidy("\n".join(lines))


# ---------------------------------------------------------------------------------------------
# FAQ: CSV and JSON, one article per question/answer row
# ---------------------------------------------------------------------------------------------

_FAQ_KEYS = ("id", "question", "answer", "tags", "audience", "language", "url")


def _load_faq_csv(ctx: _Context, data: bytes) -> list[Article]:
    text = _decode(ctx, data)
    first_line = text.lstrip("\n").split("\n", 1)[0]
    delimiter = ","
    if "," not in first_line:
        delimiter = next((d for d in (";", "\t") if d in first_line), ",")
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
        header = reader.fieldnames or []
        columns = {_column_key(name): name for name in header if name and _column_key(name)}
        missing = [c for c in ("question", "answer") if c not in columns]
        if missing:
            shown = [n.replace("\ufeff", "").strip() or "(blank)" for n in header]
            found = ", ".join(shown) or "none"
            raise LoadError(
                ctx.source,
                f"FAQ CSV needs 'question' and 'answer' columns (missing: {', '.join(missing)}); "
                f"columns found: {found}",
            )
        records: list[dict[str, object]] = []
        for row in reader:
            records.append({k: row.get(columns[k]) for k in _FAQ_KEYS if k in columns})
    except csv.Error as exc:
        raise LoadError(ctx.source, f"not a readable CSV file: {exc}") from exc
    return _faq_articles(ctx, records)


def _column_key(name: str) -> str:
    return name.replace("\ufeff", "").strip().lower()


def _load_faq_json(ctx: _Context, data: bytes) -> list[Article]:
    text = _decode(ctx, data)
    try:
        parsed: object = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LoadError(
            ctx.source, f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    items = parsed.get("items") if isinstance(parsed, dict) else parsed
    if not isinstance(items, list):
        raise LoadError(
            ctx.source,
            'FAQ JSON must be a list of {"question": ..., "answer": ...} objects '
            'or {"items": [...]}',
        )
    records: list[dict[str, object]] = []
    seen_keys: list[str] = []
    for item in items:
        if not isinstance(item, dict):
            records.append({})
            continue
        lowered = {_column_key(str(k)): v for k, v in item.items()}
        seen_keys.extend(k for k in lowered if k not in seen_keys)
        records.append({k: lowered[k] for k in _FAQ_KEYS if k in lowered})
    if items and not any("question" in r and "answer" in r for r in records):
        found = ", ".join(seen_keys) or "none"
        raise LoadError(
            ctx.source,
            f"FAQ JSON items need 'question' and 'answer' keys; keys found: {found}",
        )
    return _faq_articles(ctx, records)


def _faq_articles(ctx: _Context, records: Iterable[dict[str, object]]) -> list[Article]:
    articles: list[Article] = []
    explicit: dict[str, int] = {}
    derived: set[str] = set()
    for row_number, record in enumerate(records, start=1):
        question = _one_line(_scalar(record.get("question")))
        answer = _tidy(_scalar(record.get("answer")))
        if not question or not answer.strip():
            continue
        where = f"row {row_number}: "
        given_id = _meta_str(record.get("id"))
        if given_id:
            if given_id in explicit:
                raise LoadError(
                    ctx.source,
                    f"id {given_id!r} is used by rows {explicit[given_id]} and {row_number}",
                )
            explicit[given_id] = row_number
            article_id = given_id
        else:
            base = f"{ctx.doc_id}:{_slug(question) or f'row-{row_number}'}"
            article_id, n = base, 2
            while article_id in derived:
                article_id, n = f"{base}-{n}", n + 1
            derived.add(article_id)
        articles.append(
            Article(
                id=article_id,
                title=question,
                sections=(Section((), answer),),
                source=ctx.source,
                kind="faq",
                tags=_parse_tags(record.get("tags")),
                audience=_parse_audience(ctx, record.get("audience"), where),
                language=_meta_str(record.get("language")),
                url=_meta_str(record.get("url")),
            )
        )
    if not articles:
        raise LoadError(ctx.source, "no usable rows: every row lacks a question or an answer")
    return articles


def _scalar(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return "\n".join(str(v) for v in value)
    return str(value)


def _slug(text: str, limit: int = 80) -> str:
    slug = re.sub(r"[\W_]+", "-", text.lower()).strip("-")
    return slug[:limit].rstrip("-")


_LOADERS: dict[str, Callable[[_Context, bytes], list[Article]]] = {
    ".md": _load_markdown,
    ".markdown": _load_markdown,
    ".html": _load_html,
    ".htm": _load_html,
    ".txt": _load_text,
    ".pdf": _load_pdf,
    ".csv": _load_faq_csv,
    ".json": _load_faq_json,
}
