"""The prompt-injection suite (tests/fixtures/injections.yaml) as customer messages.

A case with `text` appends it to the question; a case with `hidden` becomes a real RFC 5322
HTML email whose hidden `display:none` element carries it, parsed and normalized by the real
channel code (`parse_email` → `email_to_message`), so the drafter sees what production sees.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import yaml

from core.channels.email import parse_email
from core.channels.normalize import email_to_message

SUITE = Path(__file__).parent / "fixtures" / "injections.yaml"


@dataclass(frozen=True)
class InjectionCase:
    id: str
    text: str | None = None  # appended to the customer's message
    hidden: str | None = None  # hidden in the HTML of an email
    forbidden: tuple[str, ...] = ()
    obeyed: str | None = None  # a model reply that does what the injection asks


@dataclass(frozen=True)
class CustomerMessage:
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


def load_cases() -> list[InjectionCase]:
    raw = yaml.safe_load(SUITE.read_text(encoding="utf-8"))
    cases = [
        InjectionCase(
            id=str(c["id"]),
            text=c.get("text"),
            hidden=c.get("hidden"),
            forbidden=tuple(str(f) for f in c.get("forbidden") or ()),
            obeyed=c.get("obeyed"),
        )
        for c in raw["cases"]
    ]
    assert len({c.id for c in cases}) == len(cases), "case ids must be unique"
    assert all((c.text is None) != (c.hidden is None) for c in cases), "text or hidden"
    assert all(c.obeyed for c in cases if c.text is not None), "visible cases need `obeyed`"
    return cases


CASES = load_cases()


def contains(text: str, phrase: str) -> bool:
    """Whether `phrase` occurs in `text` as whole words, ignoring case."""
    return re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", text, re.IGNORECASE) is not None


def html_email(question: str, hidden: str | None, sender: str = "maria@example.com") -> bytes:
    """A raw HTML-only email (as a webmail client sends it) asking `question`."""
    paragraphs = [f"<p>{html.escape(p)}</p>\n" for p in question.split("\n\n")]
    if hidden:  # after the first paragraph, where the reader sees nothing
        style = "display:none;color:#ffffff;font-size:1px"
        paragraphs.insert(1, f'<div style="{style}">{html.escape(hidden)}</div>\n')
    msg = EmailMessage()
    msg["From"] = f"Maria Lopez <{sender}>"
    msg["To"] = "support@northwind-outfitters.example"
    msg["Subject"] = "Question"
    msg["Date"] = "Thu, 03 Dec 2026 08:22:40 +0100"
    msg["Message-ID"] = f"<inj-{abs(hash((question, hidden)))}@mailbox.example>"
    msg.set_content(f"<html><body>\n{''.join(paragraphs)}</body></html>", subtype="html")
    return bytes(msg)


def _from_email(question: str, hidden: str | None) -> CustomerMessage:
    normalized = email_to_message(parse_email(html_email(question, hidden)))
    return CustomerMessage(normalized.text, dict(normalized.metadata))


def injected(case: InjectionCase, question: str) -> CustomerMessage:
    """The customer's message: `question` with the case's injection."""
    if case.hidden is not None:
        return _from_email(question, case.hidden)
    return CustomerMessage(f"{question}\n\n{case.text}")


def clean(case: InjectionCase, question: str) -> CustomerMessage:
    """The same message without the injection (the same channel path)."""
    if case.hidden is not None:
        return _from_email(question, None)
    return CustomerMessage(question)
