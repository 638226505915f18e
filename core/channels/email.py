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
from dataclasses import dataclass
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.message import EmailMessage, MIMEPart
from email.utils import getaddresses, parsedate_to_datetime
from typing import Literal

from core.channels.html_text import html_to_text, parse_html
from core.channels.reply import strip_quotes, strip_reply
from core.channels.text_tidy import tidy
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
    # Text of the HTML parts that no reader sees (hidden elements, comments), dropped from
    # `text` and `full_text`; also from HTML alternatives that were not used. "" if none.
    hidden_text: str = ""


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

    bodies, attachments, hidden = _collect(msg)
    full_parts = [tidy(body.full) for body in bodies]
    full_text = "\n\n".join(part for part in full_parts if part)
    if not full_text:
        raise InvalidInput("email has no body text", field="body")
    new_parts = [strip_quotes(body.reply) for body in bodies]
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
        hidden_text="\n".join(dict.fromkeys(h for h in hidden if h)),
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


_Collected = tuple[list[_Body], list[str], list[str]]  # bodies, attachment names, hidden text


def _collect(part: MIMEPart, depth: int = 0) -> _Collected:
    """The body parts (in order), attachment filenames and hidden HTML text under one part."""
    if depth > _MAX_MIME_DEPTH:
        return [], [], []
    ctype = part.get_content_type()
    maintype = part.get_content_maintype()
    filename = _filename(part)
    if maintype == "message":
        return [], [filename or "attached-message.eml"], []
    if part.is_multipart():
        children = list(part.iter_parts())
        if ctype == "multipart/alternative":
            return _choose_alternative(children, depth + 1)
        bodies: list[_Body] = []
        files: list[str] = []
        hidden: list[str] = []
        for child in children:
            child_bodies, child_files, child_hidden = _collect(child, depth + 1)
            bodies += child_bodies
            files += child_files
            hidden += child_hidden
        return bodies, files, hidden
    if filename or part.get_content_disposition() == "attachment":
        extension = mimetypes.guess_extension(ctype) or ".bin"
        return [], [filename or f"unnamed{extension}"], []
    if ctype == "text/html":
        html = parse_html(_decode_part(part))
        return [_Body("html", html.whole, html.new_content)], [], [html.hidden]
    if ctype == "text/plain" or maintype == "multipart":  # multipart without boundary: raw text
        text = _decode_part(part)
        if str(part.get_param("format", "")).lower() == "flowed":
            text = _unflow(text, delsp=str(part.get_param("delsp", "")).lower() == "yes")
        return [_Body("plain", text, text)], [], []
    return [], [], []


def _choose_alternative(children: list[MIMEPart], depth: int) -> _Collected:
    """Prefer the first alternative with non-blank plain text, else the richest (last) one.

    The hidden text of every alternative is kept, the unused ones' too: an instruction hidden
    in the HTML part of a message whose plain-text part is used is still an attempt.
    """
    collected = [_collect(child, depth) for child in children]
    hidden = [h for _, _, child_hidden in collected for h in child_hidden]
    for bodies, files, _ in collected:
        if any(body.kind == "plain" and body.full.strip() for body in bodies):
            return bodies, files, hidden
    for bodies, files, _ in reversed(collected):
        if any(body.full.strip() for body in bodies):
            return bodies, files, hidden
    return [], [], hidden


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
