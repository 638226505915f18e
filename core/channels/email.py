"""Raw RFC 5322 email → the fields Threadline ingests (pure, framework-free).

`parse_email` decodes headers and bodies whatever the client, transfer encoding or charset,
prefers the text/plain alternative (HTML is converted otherwise) and separates the new
content of a reply from the quoted history and the signature (`strip_reply`).
"""

from __future__ import annotations

import codecs
import email
import email.policy
import mimetypes
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.message import EmailMessage, MIMEPart
from email.utils import getaddresses, parsedate_to_datetime
from typing import Literal

from bs4 import BeautifulSoup
from bs4.element import NavigableString, PageElement, PreformattedString, Tag

from core.errors import InvalidInput

__all__ = ["ParsedEmail", "html_to_text", "parse_email", "strip_reply"]


@dataclass(frozen=True)
class ParsedEmail:
    """One inbound email, decoded and normalized."""

    message_id: str | None  # Message-ID without angle brackets, stripped
    in_reply_to: str | None  # first id of In-Reply-To, no brackets
    references: list[str]  # References ids in order (+ In-Reply-To if missing), no brackets
    from_name: str | None
    from_email: str | None  # lower-cased address
    to: list[str]  # lower-cased addresses
    subject: str | None  # decoded (RFC 2047), whitespace-collapsed
    sent_at: datetime | None  # Date header in UTC; None if absent or unparsable
    text: str  # the new content only: quoted history and signature removed, tidied
    full_text: str  # the whole body as plain text, before stripping
    html_only: bool  # True when the message had no text/plain part
    attachments: list[str]  # filenames of attachments


# --------------------------------------------------------------------------- parse_email


def parse_email(raw: bytes) -> ParsedEmail:
    """Parse a raw RFC 5322 message into a `ParsedEmail`.

    Raises `InvalidInput` when the input is not an email: empty input, no From address that
    parses (`field="from"`) or no body text at all (`field="body"`). A bad or unknown charset
    never raises; undecodable bytes become U+FFFD.
    """
    if not raw or not bytes(raw).strip():
        raise InvalidInput("email is empty", field="raw")
    try:
        msg = email.message_from_bytes(bytes(raw), policy=email.policy.default)
    except RecursionError as exc:  # the stdlib parser recurses once per MIME level
        raise InvalidInput("email MIME structure is nested too deeply", field="raw") from exc
    if not isinstance(msg, EmailMessage):  # pragma: no cover - policy.default always does
        raise InvalidInput("input is not an email message", field="raw")

    from_name, from_email = _sender(msg)

    in_reply_to_ids = _ids(_header(msg, "In-Reply-To"))
    in_reply_to = in_reply_to_ids[0] if in_reply_to_ids else None
    references = list(dict.fromkeys(_ids(_header(msg, "References"))))
    if in_reply_to and in_reply_to not in references:
        references.append(in_reply_to)

    to: list[str] = []
    for _, address in _addresses(msg, "To"):
        address = address.strip().lower()
        if _is_address(address) and address not in to:
            to.append(address)

    bodies, attachments = _collect(msg)
    full_parts = [_tidy(body.full) for body in bodies]
    full_text = "\n\n".join(part for part in full_parts if part)
    if not full_text:
        raise InvalidInput("email has no body text", field="body")
    new_parts = [_strip(body.reply) for body in bodies]
    text = "\n\n".join(part for part in new_parts if part) or full_text

    return ParsedEmail(
        message_id=_message_id(_header(msg, "Message-ID")),
        in_reply_to=in_reply_to,
        references=references,
        from_name=from_name,
        from_email=from_email,
        to=to,
        subject=_collapse(_header(msg, "Subject")),
        sent_at=_date(_header(msg, "Date")),
        text=text,
        full_text=full_text,
        html_only=not any(body.kind == "plain" for body in bodies),
        attachments=attachments,
    )


# --------------------------------------------------------------------------- headers

_SURROGATES = re.compile(r"[\udc80-\udcff]")
_MSG_ID = re.compile(r"<([^<>\s]+)>")
_ADDRESS = re.compile(r"^[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+$")


def _fix_surrogates(value: str) -> str:
    """Raw 8-bit header bytes come back as surrogate escapes; decode them for real."""
    if not _SURROGATES.search(value):
        return value
    data = value.encode("utf-8", "surrogateescape")
    return _decode_bytes(data, None)


def _decode_words(raw: str) -> str:
    """Decode RFC 2047 encoded words by hand (for headers the policy could not parse)."""
    try:
        return str(make_header(decode_header(raw)))
    except Exception:  # malformed encoded words or unknown charset: keep the raw text
        return raw


def _header(msg: EmailMessage, name: str) -> str | None:
    """A header as decoded text, or None. Never raises on a malformed header."""
    try:
        value = msg.get(name)
    except Exception:  # the policy's header parser choked: fall back to the raw value
        value = None
        for key, raw in msg.raw_items():
            if key.lower() == name.lower():
                value = _decode_words(str(raw))
                break
    if value is None:
        return None
    return _fix_surrogates(str(value))


def _addresses(msg: EmailMessage, name: str) -> list[tuple[str, str]]:
    """(display name, address) pairs of an address header."""
    try:
        header = msg.get(name)
        parsed = getattr(header, "addresses", None)
        if header is not None and parsed is not None:
            return [
                (_fix_surrogates(str(a.display_name)), _fix_surrogates(str(a.addr_spec)))
                for a in parsed
            ]
    except Exception:  # malformed address header: parse the text leniently below
        pass
    value = _header(msg, name)
    if not value:
        return []
    return getaddresses([value])


def _is_address(value: str) -> bool:
    return bool(_ADDRESS.match(value))


def _sender(msg: EmailMessage) -> tuple[str | None, str]:
    """The From name and lower-cased address; InvalidInput when there is none."""
    raw = _header(msg, "From")
    if raw is None or not raw.strip():
        raise InvalidInput("email has no From address", field="from")
    for name, address in _addresses(msg, "From"):
        address = address.strip().lower()
        if _is_address(address):
            display = _collapse(name.strip().strip("'\""))
            if display and display.lower() == address:
                display = None
            return display, address
    shown = raw.strip()
    if len(shown) > 80:
        shown = shown[:77] + "..."
    raise InvalidInput(f"email From header has no valid address: {shown!r}", field="from")


def _ids(value: str | None) -> list[str]:
    """Message ids in a Message-ID/In-Reply-To/References value, without brackets."""
    if not value:
        return []
    found = _MSG_ID.findall(value)
    if found:
        return [item.strip() for item in found if item.strip()]
    return [token.strip("<>") for token in value.split() if "@" in token.strip("<>")]


def _message_id(value: str | None) -> str | None:
    ids = _ids(value)
    if ids:
        return ids[0]
    if value is None:
        return None
    stripped = value.strip().strip("<>").strip()
    return stripped or None


def _collapse(value: str | None) -> str | None:
    if value is None:
        return None
    collapsed = " ".join(value.split())
    return collapsed or None


def _date(value: str | None) -> datetime | None:
    """The Date header as an aware UTC datetime; a zone-less date (-0000) is taken as UTC."""
    if not value or not value.strip():
        return None
    try:
        parsed = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


# --------------------------------------------------------------------------- bodies


@dataclass(frozen=True)
class _Body:
    kind: Literal["plain", "html"]
    full: str  # as plain text, quotes kept
    reply: str  # as plain text, ready for `_strip` (HTML quote markup already removed)


_MAX_MIME_DEPTH = 30  # real clients nest 3-5 levels; deeper is hostile input


def _collect(part: MIMEPart, depth: int = 0) -> tuple[list[_Body], list[str]]:
    """The body parts (in order) and attachment filenames under one MIME part."""
    if depth > _MAX_MIME_DEPTH:
        return [], []
    ctype = part.get_content_type()
    maintype = part.get_content_maintype()
    filename = _filename(part)
    if maintype == "message":
        return [], [filename or "attached-message.eml"]
    if part.is_multipart():
        children = list(part.iter_parts())
        if ctype == "multipart/alternative":
            return _choose_alternative(children, depth + 1)
        bodies: list[_Body] = []
        files: list[str] = []
        for child in children:
            child_bodies, child_files = _collect(child, depth + 1)
            bodies += child_bodies
            files += child_files
        return bodies, files
    if filename or part.get_content_disposition() == "attachment":
        extension = mimetypes.guess_extension(ctype) or ".bin"
        return [], [filename or f"unnamed{extension}"]
    if ctype == "text/html":
        new_content, whole = _html_texts(_decode_part(part))
        return [_Body("html", whole, new_content)], []
    if ctype == "text/plain" or maintype == "multipart":  # multipart without boundary: raw text
        text = _decode_part(part)
        if str(part.get_param("format", "")).lower() == "flowed":
            text = _unflow(text, delsp=str(part.get_param("delsp", "")).lower() == "yes")
        return [_Body("plain", text, text)], []
    return [], []


def _choose_alternative(children: list[MIMEPart], depth: int) -> tuple[list[_Body], list[str]]:
    """Prefer the first alternative with non-blank plain text, else the richest (last) one."""
    collected = [_collect(child, depth) for child in children]
    for bodies, files in collected:
        if any(body.kind == "plain" and body.full.strip() for body in bodies):
            return bodies, files
    for bodies, files in reversed(collected):
        if any(body.full.strip() for body in bodies):
            return bodies, files
    return [], []


def _filename(part: MIMEPart) -> str | None:
    try:
        name = part.get_filename()
    except Exception:  # malformed RFC 2231 parameters
        return None
    if not name:
        return None
    return _collapse(_fix_surrogates(_decode_words(str(name))))


def _decode_part(part: MIMEPart) -> str:
    """A leaf part's payload as text: transfer encoding undone, charset decoded robustly."""
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # broken base64/quoted-printable: use the raw payload
        payload = None
    if isinstance(payload, bytes):
        data = payload
    else:
        raw = part.get_payload()
        data = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""
    try:
        charset = part.get_content_charset()
    except Exception:  # unparsable charset parameter
        charset = None
    text = _decode_bytes(data, charset)
    return text.replace("\r\n", "\n").replace("\r", "\n")


# Codecs whose bytes are often really UTF-8 (mislabelled): try UTF-8 first for these.
_LATIN = frozenset({"ascii", "latin-1", "iso8859-1", "iso8859-15", "cp1252"})
# Declared codec → what to try, in order (WHATWG-style supersets first: a mail labelled
# iso-8859-1 is usually windows-1252, shift_jis usually cp932...).
_DECODE_ORDER: dict[str, tuple[str, ...]] = {
    "ascii": ("cp1252", "latin-1"),
    "latin-1": ("cp1252", "latin-1"),
    "iso8859-1": ("cp1252", "latin-1"),
    "cp1252": ("cp1252", "latin-1"),
    "iso8859-9": ("cp1254", "iso8859-9"),
    "iso8859-11": ("cp874", "iso8859-11"),
    "tis-620": ("cp874", "tis-620"),
    "gb2312": ("gb18030",),
    "gbk": ("gb18030",),
    "euc_kr": ("cp949",),
    "shift_jis": ("cp932", "shift_jis"),
    "euc_jp": ("euc_jp", "euc_jis_2004"),
    "big5": ("big5hkscs",),
    "iso2022_jp": ("iso2022_jp", "iso2022_jp_ext", "iso2022_jp_2", "iso2022_jp_2004"),
}


# Labels seen in real mail that Python's codec registry does not know.
_CHARSET_ALIASES = {
    "x-sjis": "cp932",
    "windows-31j": "cp932",
    "x-euc-jp": "euc_jp",
    "iso-8859-8-i": "iso8859-8",
    "iso-8859-6-i": "iso8859-6",
    "unicode-1-1-utf-7": "utf-7",
    "x-mac-roman": "mac_roman",
    "x-gbk": "gbk",
    "ansi_x3.4-1968": "ascii",
}


def _codec(charset: str | None) -> str | None:
    if not charset:
        return None
    name = charset.strip().strip("\"'").lower()
    if name in {"unknown-8bit", "x-unknown", "unknown", "x-user-defined"}:
        return None
    name = _CHARSET_ALIASES.get(name, name)
    try:
        return codecs.lookup(name).name
    except (LookupError, ValueError):
        return None


def _decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode with the declared charset (or a known superset); never raises."""
    codec = _codec(charset)
    candidates: list[str] = []
    if codec is None or codec in _LATIN:
        candidates.append("utf-8")  # UTF-8 mislabelled as latin-1/ascii is very common
    if codec is not None:
        candidates.extend(_DECODE_ORDER.get(codec, (codec,)))
    else:
        candidates.append("cp1252")
    for candidate in candidates:
        try:
            return data.decode(candidate)
        except (LookupError, UnicodeError, ValueError):
            continue
    try:
        return data.decode(codec or "utf-8", errors="replace")
    except (LookupError, UnicodeError, ValueError):
        return data.decode("utf-8", errors="replace")


def _unflow(text: str, *, delsp: bool) -> str:
    """Undo RFC 3676 format=flowed soft line breaks (quote depth and `-- ` respected)."""
    out: list[str] = []
    buffer: str | None = None
    depth_of_buffer = 0

    def emit(content: str, depth: int) -> None:
        out.append((">" * depth + " " + content) if depth else content)

    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):
            content = content[1:]  # space-stuffing
        if buffer is not None and depth != depth_of_buffer:
            emit(buffer, depth_of_buffer)
            buffer = None
        buffer = content if buffer is None else buffer + content
        depth_of_buffer = depth
        if content.endswith(" ") and content != "-- ":
            if delsp:
                buffer = buffer[:-1]
            continue
        emit(buffer, depth)
        buffer = None
    if buffer is not None:
        emit(buffer, depth_of_buffer)
    return "\n".join(out)


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
    return _html_texts(html)[0]


def _html_texts(html: str) -> tuple[str, str]:
    """(new content, whole body) of one HTML body as text, from a single parse.

    Hidden and non-content elements are dropped from both; quoted history only from the first.
    """
    soup = BeautifulSoup(html, "html.parser")
    selectors = [
        selector for style in soup.find_all("style") for selector in _hidden_selectors(style.text)
    ]
    hidden_by_css = _matching(soup, selectors) if selectors else set()

    def visible(tag: Tag) -> _Verdict:
        if tag.name in _DROP_TAGS or id(tag) in hidden_by_css:
            return "skip"
        if tag.has_attr("hidden") or _hides(_attr(tag, "style")):
            return "skip"
        return "keep"

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

    return _tidy(_render(soup, new_content)), _tidy(_render(soup, visible))


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


def _render(soup: BeautifulSoup, verdict: Callable[[Tag], _Verdict]) -> str:
    """Walk the tree in document order, pruning what `verdict` skips and ending at "stop".

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


# --------------------------------------------------------------------------- reply stripping

_QUOTED = re.compile(r"^[ \t]*>")
_SIGNATURE_DELIMITER = re.compile(r"^--[ \t]?$")
_DEVICES = (
    r"(?:iphone|ipad|ipod|android|samsung|galaxy|huawei|xiaomi|pixel|oneplus|blackberry"
    r"|windows phone|nokia|sony|motorola|htc|lg|mobile|phone|smartphone|tablet|cell)"
)
_MOBILE_SIGNATURE = re.compile(
    r"^(?:"
    rf"sent from my {_DEVICES}\b[\w ().,-]{{0,40}}"
    r"|sent from (?:outlook|mail|yahoo mail|aol|gmail|proton ?mail|samsung|mobile)\b.{0,60}"
    r"|sent with proton ?mail.{0,40}"
    r"|get outlook for (?:ios|android|mac|windows).{0,60}"
    rf"|envoyé de mon {_DEVICES}.{{0,30}}|envoyé depuis (?:mon |l'application )?\S.{{0,40}}"
    rf"|von meinem {_DEVICES}.{{0,30}}gesendet|gesendet von (?:meinem )?\S.{{0,40}}"
    rf"|enviado desde mi {_DEVICES}.{{0,30}}|enviado d[eo] meu {_DEVICES}.{{0,30}}"
    rf"|inviato da(?:l mio)? {_DEVICES}.{{0,30}}|verzonden (?:vanaf|met) (?:mijn )?\S.{{0,30}}"
    r"|(?:iphone|ipad|android)から送信"
    r")\.?$",
    re.IGNORECASE,
)
_ORIGINAL_MESSAGE = re.compile(
    r"^[ \t]*-{2,}[ \t]*(?:original message|ursprüngliche nachricht|originalnachricht"
    r"|message d['’]origine|mensaje original|messaggio originale|oorspronkelijk bericht"
    r"|mensagem original|originalmeddelande|opprinnelig melding|oprindelig meddelelse"
    r"|alkuperäinen viesti|oryginalna wiadomość|původní zpráva|исходное сообщение)"
    r"[ \t]*-{2,}[ \t]*$",
    re.IGNORECASE,
)
_UNDERSCORES = re.compile(r"^[ \t]*_{10,}[ \t]*$")
_FORWARD_MARKER = re.compile(
    r"(?:forwarded message|begin forwarded message|weitergeleitete nachricht"
    r"|message transféré|mensaje reenviado|messaggio inoltrato|doorgestuurd bericht"
    r"|mensagem encaminhada|vidarebefordrat meddelande)",
    re.IGNORECASE,
)
_HEADER_FROM = re.compile(
    r"^[ \t]*\*{0,2}(?:From|De|Von|Van|Da|Od|Från|Fra|Lähettäjä|Feladó|От|差出人|发件人|寄件者)"
    r"[ \t]*\*{0,2}[ \t]*[:：]",
    re.IGNORECASE,
)
_HEADER_OTHER = re.compile(
    r"^[ \t]*\*{0,2}(?:Sent|Date|To|Cc|Bcc|Subject|Reply-To|Envoyé|À|A|Objet|Gesendet|Datum|An"
    r"|Betreff|Enviado|Enviada|Fecha|Para|Asunto|Verzonden|Aan|Onderwerp|Inviato|Data|Oggetto"
    r"|Assunto|Skickat|Till|Ämne|Sendt|Til|Emne|Wysłano|Do|Temat|Odesláno|Komu|Předmět"
    r"|Отправлено|Кому|Тема|送信日時|宛先|件名|发送时间|收件人|主题|傳送時間|收件者|主旨)"
    r"[ \t]*\*{0,2}[ \t]*[:：]",
    re.IGNORECASE,
)
_ATTRIBUTION_START = re.compile(
    r"^[ \t]*(?:On|Am|Le|El|Op|Il|Em|Den|På|W dniu|Dne|Dana|Il giorno)\s", re.IGNORECASE
)
_WROTE = (
    r"(?:wrote|schrieb|a\s+écrit|escribió|escribio|schreef|ha\s+scritto|scrisse|escreveu"
    r"|napisał(?:\(a\))?|pisze|skrev|kirjoitti|napsal(?:\(a\))?|написал(?:\(а\))?|写道|書きました)"
)
_ATTRIBUTION = re.compile(rf"^.{{0,400}}?\d.{{0,400}}?{_WROTE}.{{0,200}}?[:：]\s*$", re.IGNORECASE)
_MAX_ATTRIBUTION = 400  # longer lines are content, and keep the regexes cheap
_ATTRIBUTION_EVIDENCE = re.compile(r"@|\d{1,2}[:.h]\d{2}\b")
_GENERIC_ATTRIBUTION = re.compile(rf"(?:@|\d{{1,2}}:\d{{2}}|{_WROTE}).*[:：]\s*$", re.IGNORECASE)


def strip_reply(text: str) -> str:
    """Keep only the new content of a plain-text email body.

    Removes `>`-quoted lines with their "On … wrote:" attribution (also wrapped over two
    lines, and the usual localized forms), Outlook "-----Original Message-----" and
    "From:/Sent:/To:/Subject:" header blocks with everything below them, the RFC 3676 "-- "
    signature and "Sent from my iPhone"-style lines. Ordinary sign-offs ("Thanks, Maria")
    are kept. When nothing would be left, the whole tidied text is returned instead.
    """
    return _strip(text) or _tidy(text)


def _strip(text: str) -> str:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if _QUOTED.match(line):
            i += 1
            continue
        if _ends_new_content(lines, i):
            break
        end = _attribution_end(lines, i)
        if end is not None:
            if _quote_follows(lines, end):
                i = end
                continue
            if _ATTRIBUTION_EVIDENCE.search(" ".join(lines[i:end])):
                break
        if (
            len(line) <= _MAX_ATTRIBUTION
            and _quote_follows(lines, i + 1)
            and _GENERIC_ATTRIBUTION.search(line.strip())
        ):
            i += 1
            continue
        kept.append(line)
        i += 1
    return _tidy("\n".join(kept))


def _ends_new_content(lines: list[str], i: int) -> bool:
    """Whether line i starts a signature or an unquoted (Outlook-style) history block."""
    line = lines[i]
    stripped = line.strip()
    if _SIGNATURE_DELIMITER.match(line) or _SIGNATURE_DELIMITER.match(stripped):
        return True
    if len(stripped) <= 80 and _MOBILE_SIGNATURE.match(stripped):
        return True
    if _ORIGINAL_MESSAGE.match(line):
        return True
    if _UNDERSCORES.match(line):
        following = [candidate for candidate in lines[i + 1 : i + 4] if candidate.strip()]
        return bool(following) and bool(_HEADER_FROM.match(following[0]))
    if _HEADER_FROM.match(line):
        before = " ".join(lines[max(0, i - 3) : i])
        if _FORWARD_MARKER.search(before):
            return False
        others = 0
        for candidate in lines[i + 1 : i + 7]:
            if not candidate.strip():
                break
            if _HEADER_OTHER.match(candidate):
                others += 1
        return others >= 2
    return False


def _attribution_end(lines: list[str], i: int) -> int | None:
    """If an "On <date>, <name> wrote:" header starts at line i, the index after it."""
    if not _ATTRIBUTION_START.match(lines[i]):
        return None
    joined = ""
    for end in range(i, min(i + 3, len(lines))):
        if not lines[end].strip() or (end > i and _QUOTED.match(lines[end])):
            return None
        joined = f"{joined} {lines[end].strip()}".strip()
        if len(joined) > _MAX_ATTRIBUTION:
            return None
        if _ATTRIBUTION.match(joined):
            return end + 1
    return None


def _quote_follows(lines: list[str], start: int) -> bool:
    """Whether the next non-blank line (within two blank lines) is `>`-quoted."""
    for candidate in lines[start : start + 3]:
        if candidate.strip():
            return bool(_QUOTED.match(candidate))
    return False


# --------------------------------------------------------------------------- whitespace

_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u2060\ufeff\u00ad"), None)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x84\x86-\x9f]")
_SPACES = re.compile(r"[ \t\xa0\u1680\u2000-\u200a\u202f\u205f]+")
_LINE_SEPARATORS = re.compile(r"\r\n|[\r\f\u2028\u2029\x85]")
_BLANK_RUNS = re.compile(r"\n{3,}")


def _tidy(text: str) -> str:
    """Normalize newlines and spaces, drop control/zero-width characters and blank runs."""
    text = _LINE_SEPARATORS.sub("\n", text).translate(_INVISIBLE)
    text = _CONTROL.sub("", text)
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip()
