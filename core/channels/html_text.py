"""HTML email bodies → plain text: quotes, hidden elements and markup dropped."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from bs4 import BeautifulSoup
from bs4.element import Comment, NavigableString, PageElement, PreformattedString, Tag

from core.channels.text_tidy import tidy

# --------------------------------------------------------------------------- HTML

_DROP_TAGS = (
    "script", "style", "head", "title", "meta", "link", "noscript", "template",
    "object", "embed", "iframe", "svg", "math", "canvas", "audio", "video",
)  # fmt: skip
# Quoted history and client signatures (by class / id): the element itself is dropped.
_QUOTE_CLASSES = frozenset(
    {
        "gmail_quote", "gmail_quote_container", "gmail_extra", "gmail_signature",
        "yahoo_quoted", "protonmail_quote", "moz-cite-prefix", "moz-signature",
        "zmail_extra", "OutlookMessageHeader",
    }
)  # fmt: skip
_QUOTE_IDS = frozenset({"Signature"})
# Reply/forward separators (by id): the element and everything after it are dropped.
_CUT_IDS = frozenset(
    {
        "appendonsend", "divRplyFwdMsg", "x_appendonsend", "x_divRplyFwdMsg",
        "mail-editor-reference-message-container", "zwchr",
    }
)  # fmt: skip
_OUTLOOK_HEADER = re.compile(r"^\s*(?:From|De|Von|Van|Da|Od|Från|Fra)\s*:", re.IGNORECASE)
_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "center", "dd", "details", "dialog",
        "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "header",
        "hr", "li", "main", "nav", "ol", "section", "summary", "table", "tbody", "tfoot",
        "thead", "tr", "ul", "caption",
    }
)  # fmt: skip
_PARAGRAPH_TAGS = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "pre"})
_ZERO = re.compile(r"^-?(?:0+(?:\.0*)?|\.0+)(?:px|pt|em|rem|%|vh|vw|cm|mm|in)?$")
_FAR_OFFSCREEN = re.compile(r"^-\d{4,}(?:\.\d+)?(?:px|pt|em|rem)?$")
_CSS_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
_CSS_RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")
_SIMPLE_SELECTOR = re.compile(r"^[\w\-.#\s>\[\]=\"':]+$")
_Verdict = Literal["keep", "skip", "stop"]  # keep a tag, skip its subtree, end the walk
_CLASS_OR_ID_SELECTOR = re.compile(r"^([a-zA-Z][\w-]*)?([.#])([\w-]+)$")


def html_to_text(html: str) -> str:
    """Convert an HTML email body to plain text, without quoted history or hidden content.

    Drops script/style/head, hidden elements (display:none, visibility:hidden, zero font
    size, `hidden` attribute...), `<blockquote>`, Gmail `div.gmail_quote`, and an Outlook
    `#divRplyFwdMsg` / `#appendonsend` marker with everything after it. Paragraphs and `<br>`
    become line breaks, list items get a "- " bullet.
    """
    return html_texts(html)[0]


@dataclass(frozen=True)
class HtmlText:
    """One HTML body as text: the new content, the whole visible body, and what was hidden."""

    new_content: str  # visible, without quoted history
    whole: str  # visible, quotes kept
    hidden: str  # text a reader never sees (hidden elements, comments), tidied; "" if none


def html_texts(html: str) -> tuple[str, str]:
    """(new content, whole body) of one HTML body as text, from a single parse.

    Hidden and non-content elements are dropped from both; quoted history only from the first.
    """
    parsed = parse_html(html)
    return parsed.new_content, parsed.whole


def parse_html(html: str) -> HtmlText:
    """`html_texts` plus the text of the hidden elements it dropped.

    Hidden text (display:none, zero font size, `hidden`, CSS-hidden classes, off-screen...)
    and non-conditional HTML comments in the body are what a human reader of the email never
    sees; it is dropped from the message but kept here so that it can be recorded and checked
    (an instruction hidden from the agent but aimed at a machine is a prompt injection).
    """
    soup = BeautifulSoup(html, "html.parser")
    selectors = [
        selector for style in soup.find_all("style") for selector in _hidden_selectors(style.text)
    ]
    hidden_by_css = _matching(soup, selectors) if selectors else set()
    hidden: list[Tag] = []

    def is_hidden(tag: Tag) -> bool:
        return id(tag) in hidden_by_css or tag.has_attr("hidden") or _hides(_attr(tag, "style"))

    def visible(tag: Tag) -> _Verdict:
        if tag.name in _DROP_TAGS:
            return "skip"
        if is_hidden(tag):
            return "skip"
        return "keep"

    def collecting(tag: Tag) -> _Verdict:
        verdict = visible(tag)
        if verdict == "skip" and tag.name not in _DROP_TAGS:
            hidden.append(tag)
        return verdict

    def new_content(tag: Tag) -> _Verdict:
        if visible(tag) == "skip":
            return "skip"
        tag_id = _attr(tag, "id")
        if tag_id in _CUT_IDS or _is_outlook_desktop_separator(tag):
            return "stop"
        if tag.name == "blockquote" or tag_id in _QUOTE_IDS:
            return "skip"
        if not _QUOTE_CLASSES.isdisjoint(_attr(tag, "class").split()):
            return "skip"
        return "keep"

    whole = tidy(_render(soup, collecting))
    hidden_parts = [tidy(_render(tag, _keep_all)) for tag in hidden]
    hidden_parts += _comments(soup)
    return HtmlText(
        new_content=tidy(_render(soup, new_content)),
        whole=whole,
        hidden="\n".join(part for part in hidden_parts if part),
    )


def _keep_all(tag: Tag) -> _Verdict:
    """Render a hidden element's text (scripts and styles inside it still dropped)."""
    return "skip" if tag.name in _DROP_TAGS else "keep"


_CONDITIONAL_COMMENT = re.compile(r"^\s*\[(?:if|endif)\b|<!\[endif\]|^\s*/?\*", re.IGNORECASE)


def _comments(soup: BeautifulSoup) -> list[str]:
    """Text of the HTML comments outside dropped tags (Outlook's conditional ones excepted)."""
    out: list[str] = []
    for comment in soup.find_all(string=lambda s: isinstance(s, Comment)):
        if any(parent.name in _DROP_TAGS for parent in comment.parents if parent.name):
            continue
        text = str(comment)
        if _CONDITIONAL_COMMENT.search(text):
            continue
        text = tidy(" ".join(text.split()))
        if text:
            out.append(text)
    return out


def _attr(tag: Tag, name: str) -> str:
    value = tag.get(name)
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return " ".join(value)


def _declarations(css: str) -> dict[str, str]:
    declarations: dict[str, str] = {}
    for item in css.split(";"):
        prop, sep, value = item.partition(":")
        if sep:
            value = value.lower().replace("!important", "")
            declarations[prop.strip().lower()] = " ".join(value.split())
    return declarations


def _hides(css: str) -> bool:
    """Whether inline CSS declarations make an element invisible."""
    if ":" not in css:
        return False
    d = _declarations(css)
    if d.get("display") == "none" or d.get("visibility") in {"hidden", "collapse"}:
        return True
    if d.get("mso-hide") == "all":
        return True
    if _ZERO.match(d.get("font-size", "x")) or _ZERO.match(d.get("opacity", "x")):
        return True
    if d.get("overflow") == "hidden" and any(
        _ZERO.match(d.get(prop, "x")) for prop in ("height", "max-height", "width", "max-width")
    ):
        return True
    return any(_FAR_OFFSCREEN.match(d.get(prop, "x")) for prop in ("left", "top", "text-indent"))


def _without_at_rules(css: str) -> str:
    """CSS with @-rules removed (a rule that only hides in a media query is not hidden)."""
    out: list[str] = []
    i = 0
    while i < len(css):
        if css[i] != "@":
            out.append(css[i])
            i += 1
            continue
        j = i
        while j < len(css) and css[j] not in "{;":
            j += 1
        if j < len(css) and css[j] == "{":
            depth = 0
            while j < len(css):
                depth += {"{": 1, "}": -1}.get(css[j], 0)
                if depth == 0:
                    break
                j += 1
        i = j + 1
    return "".join(out)


def _hidden_selectors(css: str) -> list[str]:
    """Simple selectors that a `<style>` block hides at top level."""
    selectors: list[str] = []
    for selector_text, body in _CSS_RULE.findall(_without_at_rules(_CSS_COMMENT.sub("", css))):
        if not _hides(body):
            continue
        for selector in selector_text.split(","):
            selector = selector.strip()
            if selector not in {"", "*", "html", "body"} and _SIMPLE_SELECTOR.match(selector):
                selectors.append(selector)
    return selectors


def _matching(soup: BeautifulSoup, selectors: list[str]) -> set[int]:
    """ids of the elements a list of CSS selectors matches (class/id selectors matched fast)."""
    simple: list[tuple[str | None, str, str]] = []
    matched: set[int] = set()
    for selector in selectors:
        parts = _CLASS_OR_ID_SELECTOR.match(selector)
        if parts:
            simple.append((parts.group(1), parts.group(2), parts.group(3)))
            continue
        try:
            matched.update(id(tag) for tag in soup.select(selector))
        except Exception:  # soupsieve rejects a selector we could not vet: ignore it
            continue
    if simple:
        for tag in soup.find_all(True):
            classes = _attr(tag, "class").split()
            tag_id = _attr(tag, "id")
            for name, kind, value in simple:
                if name is not None and tag.name.lower() != name.lower():
                    continue
                if (kind == "." and value in classes) or (kind == "#" and value == tag_id):
                    matched.add(id(tag))
                    break
    return matched


def _is_outlook_desktop_separator(tag: Tag) -> bool:
    """Outlook desktop: `<div style="border:none;border-top:solid #E1E1E1 1.0pt">` + From:."""
    style = _attr(tag, "style").lower().replace(" ", "")
    if "border-top:solid" not in style:
        return False
    return bool(_OUTLOOK_HEADER.match(tag.get_text(" ", strip=True)))


class _TextBuilder:
    """Accumulates text with lazily-applied line breaks (block boundaries don't stack)."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.wanted = 0  # line breaks wanted before the next text
        self.trailing = 0  # line breaks at the end of the output so far
        self.started = False

    def _flush(self) -> None:
        if self.started and self.wanted > self.trailing:
            self.parts.append("\n" * (self.wanted - self.trailing))
            self.trailing = self.wanted
        self.wanted = 0

    def text(self, value: str, *, pre: bool = False) -> None:
        if not value:
            return
        if not pre and not value.strip():
            if self.wanted or self.trailing or not self.started:
                return
            value = " "
        self._flush()
        self.parts.append(value)
        self.started = True
        stripped = value.rstrip("\n")
        self.trailing = len(value) - len(stripped) if stripped else self.trailing + len(value)

    def line_break(self) -> None:
        self._flush()
        self.parts.append("\n")
        self.trailing += 1
        self.started = True

    def block(self, breaks: int) -> None:
        self.wanted = max(self.wanted, breaks)

    def result(self) -> str:
        return "".join(self.parts)


_WHITESPACE = re.compile(r"[ \t\n\r\f]+")


def _render(soup: Tag, verdict: Callable[[Tag], _Verdict]) -> str:
    """Walk the tree under `soup` in document order, pruning what `verdict` skips and ending
    at "stop" (`soup` itself is always walked).

    Iterative, so deeply nested mail HTML cannot hit the recursion limit.
    """
    out = _TextBuilder()
    pre_depth = 0
    stack: list[tuple[PageElement, bool]] = [(soup, False)]
    while stack:
        node, leaving = stack.pop()
        if isinstance(node, NavigableString):
            if not isinstance(node, PreformattedString):  # comments, doctype, CDATA...
                text = str(node)
                out.text(text if pre_depth else _WHITESPACE.sub(" ", text), pre=bool(pre_depth))
            continue
        if not isinstance(node, Tag):
            continue
        name = node.name
        if leaving:
            if name == "pre":
                pre_depth -= 1
            if name in _PARAGRAPH_TAGS:
                out.block(2)
            elif name in _BLOCK_TAGS:
                out.block(1)
            continue
        if node is not soup:
            decision = verdict(node)
            if decision == "stop":
                break
            if decision == "skip":
                continue
        if name == "br":
            out.line_break()
            continue
        if name in _PARAGRAPH_TAGS:
            out.block(2)
        elif name in _BLOCK_TAGS:
            out.block(1)
        if name == "pre":
            pre_depth += 1
        elif name == "li":
            out.text(_bullet(node))
        elif name in {"td", "th"}:
            out.text(" ")
        stack.append((node, True))
        stack.extend((child, False) for child in reversed(list(node.children)))
    return out.result()


def _bullet(item: Tag) -> str:
    parent = item.find_parent(["ul", "ol"])
    if parent is not None and parent.name == "ol":
        return f"{len(item.find_previous_siblings('li')) + 1}. "
    return "- "
