"""The grounded composer: an offline drafter that only says what the KB (or an approved answer)
says, in the channel's style, and names the customer's earlier contact on another channel.

No model, no I/O, no clock: the same `DraftContext` always gives the same `Draft`.

How a draft is put together:
1. greeting by first name in the channel's register (none on public social replies);
2. an acknowledgement of a recent contact on another channel ("I can see you messaged us on
   Facebook yesterday about your order 1234 — let's pick up from there.");
3. the answer: an approved answer for the same intent when one is near-identical
   (consistency first), otherwise the key sentences of the KB section that answers the
   question. The section is found from the question (the best-supported article, then its
   best-matching section: lexical match, heading and retrieval score); what is said is chosen
   from the section alone, not from the question's wording: its first sentence that states a
   fact (a duration, amount, address...), with the section's lead sentence when there is
   room. So every paraphrase, on every channel, that lands on the same section states the
   same facts, and knowledge managers steer the answer by writing sections answer-first;
4. the next step (the article link) and the sign-off.
A phone follow-up also sums up the call before the answer, in one sentence built from the
call log (`call_summary`). Without KB support the draft asks a clarifying question and is
marked `needs_human`; when triage abstained (or is unsure) the KB answer is still drafted if a
passage is clearly on topic, but the draft is marked `needs_human` for the routing. That rule
(`GroundedComposer.grounding`) is the LLM drafter's too. Customer text is never copied into a
reply, except an order or reference number in the acknowledgement and the customer's stated
problem in a call summary (checked for personal data, names and injection first).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from core.drafting.context import ApprovedAnswer, Draft, DraftContext, Passage, PriorContact
from core.drafting.facts import extract_facts
from core.drafting.injection import message_signals
from core.drafting.pii import mask, personal_data
from core.drafting.style import ChannelStyle, canonical_channel, is_public_post, style_for

# --- configuration ------------------------------------------------------------------------

# Passage scores are the dense (cosine) similarities of the hybrid KB search; all-MiniLM puts
# on-topic chunks around 0.35-0.7 and unrelated ones below 0.25. Scores are relative, so a
# passage must also reach a share of the best passage's score.
DEFAULT_MIN_PASSAGE_SCORE = 0.3
RELATIVE_PASSAGE_FLOOR = 0.6
# A passage this close to the message answers it even when triage abstained (the draft is
# still marked needs_human, for the routing).
STRONG_PASSAGE_SCORE = 0.5
MAX_PASSAGES = 5
# The answer part of a reply (its key sentences): short enough that an SMS (320 characters)
# holds it with the greeting, a short acknowledgement and the article link.
BODY_BUDGET = 190
_KEY_FACT_SENTENCES = 1  # fact-stating sentences of a section that make its answer
_DENSE_WEIGHT = 2.5
_INTENT_TITLE_BONUS = 0.3  # an article whose title names the triaged intent
_INTENT_TITLE_CONFIDENCE = 0.7  # a section's retrieval score, added to its best sentence's score
_RANK_WEIGHTS = (1.0, 0.9, 0.8, 0.72, 0.65)  # by passage score, best first
_OTHER_ARTICLE_WEIGHT = 0.8  # passages of an article other than the best-supported one
_SUPPORT_SHARE = 0.3  # an article's support: its best passage + this share of the others
_FACT_BONUS = 0.15
_TYPE_BONUS = 0.6  # the sentence gives what the question asks for (a duration, a price, steps)
_COVERAGE_WEIGHT = 1.0  # share of the question's (IDF-weighted) words the sentence speaks to
_LEAD_WEIGHT = 0.5  # a list item's lead-in says what the item is about
_FRAGMENT_FACTOR = 0.4  # a bare noun phrase ("Gift cards") out of its list
_HEADING_WEIGHT = 0.5  # the heading above a sentence says what it is about
_POSITION_BONUS = 0.2
_QUERY_CHARS = 4000


@lru_cache(maxsize=1)
def default_offers() -> dict[str, tuple[str, ...]]:
    """Offer key → phrases, from `default_offers.yaml` next to this module."""
    text = resources.files("core.drafting").joinpath("default_offers.yaml").read_text("utf-8")
    data = yaml.safe_load(text) or {}
    return {str(k): tuple(str(p) for p in (v or ())) for k, v in sorted(data.items())}


# --- text helpers -----------------------------------------------------------------------------

_STOPWORDS = frozenset(
    """
    a about above after again all also am an and any are as at be because been before being
    below between both but by can cannot could did do does doing don done down during each
    few for from further get got had has have having he her here hers him his how i if in into
    is it its itself just let me more most my myself no nor not now of off on once only or
    other our ours out over own same she should so some such than that the their theirs them
    then there these they this those through to too under until up us very was we were what
    when where which while who whom why will with would you your yours yourself hi hello hey
    dear thanks thank please regards best kind cheers ok okay yes still since already really
    im ive id dont didnt doesnt cant wont isnt thats hasnt havent
    der die das und ist nicht ein eine ich mit auf für von zu den dem sie es wir ihr mein
    meine hallo danke bitte le la les et est pas un une je avec pour de des du en vous mon
    ma bonjour merci el los las y es no una yo con por que del mi hola gracias
    """.split()
)
_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)?", re.UNICODE)
_SUFFIXES = ("ies", "ing", "ed", "es", "s", "ly")
_KEEP_DOUBLE = frozenset("lsz")


@lru_cache(maxsize=8192)
def _stem(word: str) -> str:
    """A light English stemmer: enough for "shipping"/"shipped"/"ship" and "refunds"."""
    w = word.lower().replace("’", "'").split("'")[0]
    if len(w) <= 3 or w.isdigit():
        return w
    for suffix in _SUFFIXES:
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            if suffix == "s" and w.endswith(("ss", "us", "is")):
                break
            w = w[: -len(suffix)]
            break
    if len(w) > 4 and w[-1] in "ey":
        w = w[:-1]
    if len(w) > 3 and w[-1] == w[-2] and w[-1] not in _KEEP_DOUBLE and not w[-1].isdigit():
        w = w[:-1]
    return w


_URL_IN_TEXT = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)


@lru_cache(maxsize=4096)
def _tokens(text: str) -> tuple[str, ...]:
    """Sorted distinct content stems of `text`, links left out (sorted: no set-order effects)."""
    out = {
        _stem(t)
        for t in _TOKEN.findall(_URL_IN_TEXT.sub(" ", text).lower())
        if t not in _STOPWORDS and (len(t) > 1 or t.isdigit())
    }
    out.discard("")
    return tuple(sorted(out))


@dataclass(frozen=True)
class _Sentence:
    text: str  # the sentence as it reads on its own
    heading: str  # the heading the sentence sits under ("" before the first one)
    unit: int  # paragraph / bullet / table row number inside the passage
    list_id: int = -1  # the list a bullet item belongs to (-1: not a list item)
    lead: str = ""  # the sentence introducing that list ("…contact us with:"), if any
    item: str = ""  # the item as it reads inside its list ("what you checked"); "" if unfit
    conjunction: str = "and"  # how the list's last item is joined ("or" for "…, or")
    clause: bool = True  # has a verb: says something on its own (not "Gift cards")
    step: bool = False  # a numbered step or an instruction
    meta: bool = False  # about the article, a pointer elsewhere or a question: never said


_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^\s*(?:[-*+•]|\d{1,2}[.)])\s+(.*)$")
_NUMBERED = re.compile(r"^\s*\d{1,2}[.)]\s+")
_RULE = re.compile(r"^\s*(?:-{3,}|\*{3,}|_{3,})\s*$")
_TABLE_SEP_CELL = re.compile(r"^:?-{2,}:?$")
_PIPE_ROW = re.compile(r"^[^|]+(?:\s\|\s[^|]*)+$")  # a table row whose outer pipes were removed
_MD_LINK = re.compile(r"\[([^\]]+)\]\((\S+?)\)")
_MD_EMPHASIS = re.compile(r"(\*\*|__|`)")
_MD_ITALIC = re.compile(r"(?<![\w*])\*(?!\s)([^*\n]+?)(?<!\s)\*(?![\w*])")
_HTML_TAG = re.compile(r"</?[A-Za-z][^>]*>")
_SPACES = re.compile(r"\s+")
_SPLIT = re.compile(r"(?<=[.!?])[\"”’)]?\s+(?=[\"“(\[]?[A-Z0-9À-Ý€$£])")
_ABBREVIATIONS = (
    "e.g.",
    "i.e.",
    "etc.",
    "approx.",
    "incl.",
    "no.",
    "nr.",
    "vs.",
    "st.",
    "mr.",
    "mrs.",
    "ms.",
    "dr.",
    "inc.",
    "ltd.",
    "co.",
    "b.v.",
    "z.b.",
    "ca.",
    "u.s.",
)
_SINGLE_INITIAL = re.compile(r"(?:^|[\s(])[A-Za-z]\.$")  # "J. Smith", "z. B."

# Sentences about the article rather than the answer: "This guide walks you through…",
# "Here's what to check…", "See When will I get my refund?", "Details in Customs, duties…",
# "The rules (…) are in How long do I have to return an item?".
_META = re.compile(
    r"^(?:this|the)\s+(?:guide|article|page|section|faq|help\s+article)\b"
    r"|^(?:here(?:['’]s|\s+is|\s+are)|below\s+(?:is|are|you))\b"
    r"|^(?:see|read|follow|check\s+out|learn\s+more|find\s+out)\b"
    r"|^(?:(?:more\s+)?details|more(?:\s+information)?|further\s+information)\s+(?:are\s+|is\s+)?in\b"
    r"|\b(?:is|are)\s+(?:explained\s+|described\s+|listed\s+|covered\s+)?in\s+[A-Z]"
    r"|\b(?:these|the\s+following)\s+(?:checks|steps|tips|questions|options|places|things)\b"
    r"|\b(?:go|skip|jump|continue|return)\s+(?:back\s+)?to\s+step\s+\d"
    r"|^[^:]{0,40}:\s*see\s"
    r"|\?[.!]?$",
    re.IGNORECASE,
)
# A pointer tacked on to a useful sentence: "…yet; see Where do you ship?", "(see Warranty…)".
_SEE_PAREN = re.compile(r"\s*\((?:see|siehe|voir)\s[^()]*(?:\([^()]*\)[^()]*)*\)", re.IGNORECASE)
_SEE_TAIL = re.compile(r"\s*(?:[;,:]|\band)\s*(?:see|siehe|voir)\s.*$", re.IGNORECASE)
_SUBORDINATE = re.compile(r"^(?:if|when|for|unless|once|after|before|as|while)\b", re.I)
_LABEL = re.compile(r"^[A-Z\"“][^:]{0,39}?\s?:\s+\S")  # "Replacement: we ship…", "Cards: Visa…"
_TRAILING_JOIN = re.compile(r"[\s,;]*(?:\b(and|or|und|oder|et|ou|y|o)\b)?[\s,;.]*$", re.IGNORECASE)
_CLAUSE_WORDS = frozenset(
    """
    is are was were be been am isn't aren't wasn't weren't can can't cannot could couldn't will
    won't would wouldn't should shouldn't must may might has have had hasn't haven't do does did
    don't doesn't didn't need needs needed take takes took get gets go goes make makes keep keeps
    use uses start starts run runs work works ship ships arrive arrives stay stays cover covers
    extend extends apply applies happen happens charge charges pay pays send sends give gives
    reply replies issue issues expire expires last lasts appear appears show shows mean means
    open choose select enter check tap click sign reset remove press hold update restart contact
    wait try turn add create follow ask call write find let leave put set plug unplug connect
    pair install clean store contains include includes receive receives refund refunds
    it's that's there's we're you're they're we'll you'll it'll we've you've let's
    we you they i
    """.split()
)
_STEP_START = re.compile(
    r"^(?:go|open|sign|log|select|choose|enter|click|tap|press|hold|reset|remove|update|"
    r"restart|turn|charge|plug|unplug|connect|pair|install|check|make\s+sure|try|wait|contact|"
    r"send|reply|write|call|use|add|create|follow|put|set|clean|fill|print|attach|drop|pack|"
    r"request|ask|download|re-?enter|switch|type|scan)\b",
    re.IGNORECASE,
)


def _inline(text: str) -> str:
    text = _MD_LINK.sub(lambda m: f"{m.group(1)} ({m.group(2)})", text)
    text = _HTML_TAG.sub("", text)
    text = _MD_EMPHASIS.sub("", text)
    text = _MD_ITALIC.sub(r"\1", text)
    return _SPACES.sub(" ", text).strip()


def _open_quote(text: str) -> bool:
    return text.count('"') % 2 == 1 or text.count("“") > text.count("”")


def _split_sentences(paragraph: str) -> list[str]:
    pieces = _SPLIT.split(paragraph)
    out: list[str] = []
    for piece in pieces:
        if out and (
            out[-1].lower().endswith(_ABBREVIATIONS)
            or _SINGLE_INITIAL.search(out[-1])
            or _open_quote(out[-1])  # 'the message "Too many attempts. Try again…"'
        ):
            out[-1] = f"{out[-1]} {piece}"
        else:
            out.append(piece)
    return out


def _finish(sentence: str) -> str | None:
    s = sentence.strip().strip("-–— ")
    if not s or s.endswith(":") or len(s.split()) < 3:
        return None  # lead-ins ("Examples of what's covered:") and fragments say nothing alone
    if s[-1] in ",;":
        s = s[:-1] + "."
    elif s.rstrip('")”’')[-1:] not in (".", "!", "?"):
        s += "."
    if s[0].islower():
        s = s[0].upper() + s[1:]
    return s


def _without_pointer(sentence: str) -> str:
    """ "…yet; see Where do you ship?." → "…yet."; "(see Warranty …)" is dropped."""
    s = _SEE_PAREN.sub("", sentence)
    tail = _SEE_TAIL.search(s)
    if tail and tail.start() > 0:
        label = tail.group(0).lstrip().startswith(":")
        s = s[: tail.start()].rstrip(" ,;:")
        if label or _SUBORDINATE.match(s):
            return ""  # "If tracking has been stuck for 7 days, see …": nothing left to say
        s += "."
    return s


def _is_clause(text: str) -> bool:
    """Whether `text` reads as a statement (has a verb-like word), not a bare noun phrase."""
    words = [w.lower().replace("’", "'") for w in _TOKEN.findall(text)]
    return any(w in _CLAUSE_WORDS or w.endswith("n't") for w in words)


def _is_meta(sentence: str) -> bool:
    return bool(_META.search(sentence.strip()))


def _item_head(text: str) -> tuple[str, str]:
    """A list item as it reads inside the list, and the conjunction it ends with:
    "what you checked, and" → ("what you checked", "and")."""
    s = text.strip()
    m = _TRAILING_JOIN.search(s)
    conj = (m.group(1) or "").lower() if m else ""
    if m:
        s = s[: m.start()]
    return s.strip(), ("or" if conj in ("or", "oder", "ou", "o") else "and")


def _table_row(header: list[str], cells: list[str]) -> str:
    """A table row as a sentence: "Enterprise: first response 4 hours; coverage 24/7."."""
    head = cells[0]
    rest = []
    for name, cell in zip(header[1:], cells[1:], strict=False):
        if not cell or cell.lower() in ("n/a", "-", "–", "—"):
            continue
        label = name if name.isupper() else name[:1].lower() + name[1:]
        rest.append(f"{label} {cell}".strip())
    return f"{head}: {'; '.join(rest)}." if rest else f"{head}."


def _sentence(text: str, heading: str, unit: int, **extra: Any) -> _Sentence | None:
    meta = _is_meta(text)
    finished = _finish(text if meta else _without_pointer(text) or text)
    meta = meta or not _without_pointer(text)
    if finished is None:
        return None
    return _Sentence(
        finished,
        heading,
        unit,
        clause=extra.pop("clause", _is_clause(finished)),
        step=extra.pop("step", bool(_STEP_START.match(finished))),
        meta=meta or _is_meta(finished),
        **extra,
    )


@lru_cache(maxsize=1024)
def _passage_sentences(text: str) -> tuple[_Sentence, ...]:
    """Markdown-aware sentences: headings dropped, tables read row by row, list items kept with
    the sentence that introduces their list (for rendering the list once, never glued)."""
    out: list[_Sentence] = []
    heading = ""
    unit = 0
    para: list[str] = []
    bullet: tuple[int, bool] | None = None  # (list id, numbered) of the item being read
    header: list[str] | None = None
    lead_in = ""  # a sentence ending in ":" introduces the list below it
    list_id = -1
    lists = 0

    def add(sentence: _Sentence | None) -> None:
        if sentence is not None:
            out.append(sentence)

    def flush() -> None:
        nonlocal unit, para, lead_in
        if not para:
            return
        pieces = _split_sentences(_inline(" ".join(para)))
        para = []
        if bullet is None:
            lead_in = pieces[-1] if pieces and pieces[-1].rstrip().endswith(":") else ""
            for piece in pieces:
                add(_sentence(piece, heading, unit))
        else:
            lid, numbered = bullet
            lead = lead_in
            first = _without_pointer(pieces[0]) if pieces else ""
            head, conj = _item_head(first)
            joinable = (
                bool(head)
                and not numbered
                and len(pieces) == 1
                and not _LABEL.match(head)
                and len(head.split()) <= 25
            )
            clause = _is_clause(head)
            step = numbered or bool(_STEP_START.match(head))
            if head and not _is_meta(head):
                standalone = _finish(head)
                if standalone is not None or (lead and joinable):
                    out.append(
                        _Sentence(
                            standalone or f"{head}.",
                            heading,
                            unit,
                            list_id=lid,
                            lead=lead,
                            item=head if joinable else "",
                            conjunction=conj,
                            clause=clause,
                            step=step,
                            meta=standalone is None,  # too short to say alone: only in its list
                        )
                    )
            for piece in pieces[1:]:
                add(_sentence(piece, heading, unit))
        unit += 1

    for line in text.splitlines():
        stripped = line.strip()
        h = _HEADING.match(line)
        is_row = stripped.startswith("|") or bool(_PIPE_ROW.match(stripped))
        b = None if (h or is_row) else _BULLET.match(line)
        if not stripped:
            if bullet is None:
                flush()
            continue
        if h or _RULE.match(line) or is_row or b:
            flush()
        if not is_row:
            header = None
        if h:
            heading = _inline(h.group(1))
            lead_in = ""
            bullet = None
            continue
        if _RULE.match(line):
            bullet = None
            continue
        if is_row:
            bullet = None
            cells = [_inline(c) for c in stripped.strip("|").split("|")]
            if all(_TABLE_SEP_CELL.match(c) or not c for c in cells):
                continue
            if header is None:
                header = cells
                continue
            row = _finish(_table_row(header, cells))
            if row:
                out.append(_Sentence(row, heading, unit, clause=True))
                unit += 1
            continue
        if b:
            if bullet is None:
                lists += 1
                list_id = lists
            bullet = (list_id, bool(_NUMBERED.match(line)))
            para = [b.group(1)]
            continue
        if bullet is not None and not line.startswith((" ", "\t")) and not para:
            bullet = None
        if bullet is not None and para and not line.startswith((" ", "\t")):
            # a paragraph right after a list item without a blank line ends the list
            flush()
            bullet = None
        para.append(stripped)
    flush()
    return tuple(out)


# --- greetings, dates, topics -----------------------------------------------------------

_TITLES = frozenset(
    "mr mrs ms miss mx dr prof sir madam herr frau mme mlle m sr sra srta dott".split()
)
_NAME_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def first_name(name: str | None) -> str | None:
    """The first name to greet with, or None when the name is missing or not a person's."""
    if not name:
        return None
    words = name.split()
    while words and words[0].lower().rstrip(".") in _TITLES:
        words.pop(0)
    if not words or not _NAME_WORD.fullmatch(words[0]):
        return None
    word = words[0]
    if word.islower() or (word.isupper() and len(word) > 1):
        word = word.capitalize()
    return word


def _aligned(now: datetime, then: datetime) -> datetime:
    """`then` in `now`'s time zone (naive values are taken as UTC)."""
    if now.tzinfo is None:
        return then.astimezone(UTC).replace(tzinfo=None) if then.tzinfo else then
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    return then.astimezone(now.tzinfo)


def relative_day(now: datetime, then: datetime, today: str = "earlier today") -> str:
    """ "earlier today", "yesterday", "on Monday" (this week) or "on 3 December"."""
    then = _aligned(now, then)
    days = (now.date() - then.date()).days
    if days <= 0:
        return today
    if days == 1:
        return "yesterday"
    if days < 7:
        return f"on {_WEEKDAYS[then.weekday()]}"
    year = f" {then.year}" if then.year != now.year else ""
    return f"on {then.day} {_MONTH_NAMES[then.month - 1]}{year}"


_ORDER_REF = re.compile(
    r"\b(?:order|bestellung|commande|pedido|ordine)\s*(?:number|no\.?|nr\.?|n[º°o]\.?|#)?\s*:?"
    r"\s*#?((?:[A-Z]{2,4}-)?\d{3,}(?:-\d+)?|[A-Z]{2,4}-(?=[A-Z0-9]*\d)[A-Z0-9]{4,})\b",
    re.IGNORECASE,
)
_HASH_REF = re.compile(r"(?<![\w#])#(\d{3,})\b")
_CODE_REF = re.compile(
    r"(?<![\w-])[A-Za-z]{2,4}(?:-[A-Za-z]{2,4})?-(?=[A-Za-z0-9]*\d)[A-Za-z0-9]{4,}(?![\w-])"
)
_REFERENCE_SHAPE = re.compile(r"^TL-[A-Z0-9]{4,}$")
_TOPICS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p, re.IGNORECASE), topic)
    for p, topic in (
        (r"\brefund|erstatt|rembours|reembols", "your refund"),
        (r"\breturn|rücksend|retour|devoluc|devolv", "a return"),
        (
            r"\bdeliver|\bshipping|\bshipped|tracking|parcel|package|\bpaket|lieferung|"
            r"livraison|colis|env[ií]o|entrega",
            "your delivery",
        ),
        (r"\binvoice|rechnung|factur", "your invoice"),
        (r"\bwarrant|garantie|garant[ií]a|defect|faulty|broken|kaputt|cass[ée]", "a faulty item"),
        (r"\bpayment|\bcharged?\b|\bcharges\b|zahlung|paiement|\bpago", "a payment"),
        (
            r"\bpassword|log ?in|sign ?in|2fa|two-factor|locked|passwort|mot de passe",
            "your account",
        ),
        (r"\border|bestell|commande|pedido", "your order"),
    )
)
_ACK_VERBS = {
    "email": "emailed us",
    "sms": "sent us an SMS",
    "phone": "called us",
    "webform": "wrote to us through our web form",
    "chat": "messaged us on live chat",
    "whatsapp": "messaged us on WhatsApp",
    "facebook": "messaged us on Facebook",
    "instagram": "messaged us on Instagram",
    "x": "messaged us on X",
}


def topic_of(text: str) -> str | None:
    """What an earlier message was about, without quoting it: its order or reference number,
    else a fixed topic phrase ("your delivery"), else None."""
    m = _ORDER_REF.search(text)
    if m:
        return f"your order {m.group(1).upper()}"
    m = _HASH_REF.search(text)
    if m:
        return f"your order {m.group(1)}"
    m = _CODE_REF.search(text)
    if m:
        code = m.group(0).upper()
        if "-INV-" in code or code.startswith("INV-"):
            return f"your invoice {code}"
        if _REFERENCE_SHAPE.match(code):
            return f"your request {code}"
        return code
    for pattern, topic in _TOPICS:
        if pattern.search(text):
            return topic
    return None


# --- the call summary (phone follow-ups) ----------------------------------------------------

SUMMARY_PREFIX = "On the call, "
_SUMMARY_MAX_WORDS = 25
_SUMMARY_MAX_CHARS = 160
_SUMMARY_SENTENCES = 4  # the problem is stated at the start of a call log
# "Maria Lopez (VIP) called: …", "Caller Maria Lopez re NW-20417 …", "Outbound call to Jonas
# Becker re PO 7781: …", "Customer calls about an order …", "Noah called asking for …"
_CALL_SUBJECT = re.compile(
    r"^(?P<head>[^.:;?!]{0,100}?\b(?:called|calls|calling|rang|rings|phoned|phones|caller|"
    r"call(?:\s+(?:to|with|from))?)\b[^.:;?!]{0,60}?)\s*"
    r"(?:(?P<about>\b(?:re|about|regarding|concerning)\b)|(?P<ask>\basking\s+(?:for|about)\b)"
    r"|(?P<colon>:))\s*(?P<x>\S.*)$",
    re.IGNORECASE,
)
# "Caller sees two charges …", "The customer reports …", "She lost her phone …"
_THIRD_PERSON = re.compile(
    r"^(?:the\s+)?(?:caller|customer|client|he|she)\s+(?P<verb>[a-z]+)\s+(?P<rest>\S.*)$",
    re.IGNORECASE,
)
_FIRST_PERSON = re.compile(r"\b(?:I|I'm|I've|I'd|I'll)\b|\b(?:my|me|mine|we|our|us)\b", re.I)
_SECOND_PERSON = re.compile(r"\b(?:you|your|yours|you're|you've)\b", re.IGNORECASE)
_LEADING_GREETING = re.compile(
    r"^(?:hi|hello|hey|dear|good\s+(?:morning|afternoon|evening))\b[^,.!]{0,30}[,.!]\s*", re.I
)
_TO_YOU = {
    "i am": "you are",
    "i was": "you were",
    "i'm": "you're",
    "i've": "you've",
    "i'd": "you'd",
    "i'll": "you'll",
    "i": "you",
    "me": "you",
    "my": "your",
    "mine": "yours",
    "myself": "yourself",
    "we are": "you are",
    "we were": "you were",
    "we're": "you're",
    "we've": "you've",
    "we'd": "you'd",
    "we'll": "you'll",
    "we": "you",
    "us": "you",
    "our": "your",
    "ours": "yours",
    "ourselves": "yourselves",
    # the third person of a call log ("his order", "she lost her phone")
    "he": "you",
    "she": "you",
    "him": "you",
    "his": "your",
    "her": "your",
    "himself": "yourself",
    "herself": "yourself",
}
_TO_YOU_PATTERN = re.compile(
    r"\b(?:" + "|".join(re.escape(k) for k in sorted(_TO_YOU, key=lambda k: (-len(k), k))) + r")\b",
    re.IGNORECASE,
)
_THIRD_PERSON_ONLY = frozenset({"he", "she", "him", "his", "her", "himself", "herself"})
_IRREGULAR_VERBS = {"has": "have", "is": "are", "was": "were", "does": "do", "says": "say"}
# verbs a call log joins with "and" ("sees two charges and wants the duplicate refunded")
_AND_VERB = re.compile(
    r"\b(and|but)\s+(wants|needs|asks|says|reports|sees|has|is|expects|requests|would like|"
    r"hopes|plans|prefers|thinks|believes|claims|mentions)\b",
    re.IGNORECASE,
)
# words of an agent's note that are not the customer's problem (mood, internal labels), and
# words no summary should repeat
_NOTE_WORDS = re.compile(
    r"\b(?:customer|caller|agent|vip|frustrated|unhappy|angry|annoyed|upset|rude|calm|polite|"
    r"abusive|aggressive|shouting|swore|idiot|stupid|damn|shit|fuck\w*|crap)\b",
    re.IGNORECASE,
)
_UNSAFE_CHARS = re.compile(r"[<>{}\[\]|`]|https?://|www\.", re.IGNORECASE)


def _base_form(verb: str) -> str:
    """ "sees" → "see", "reports" → "report", "has" → "have"; past tense stays."""
    v = verb.lower()
    if v in _IRREGULAR_VERBS:
        return _IRREGULAR_VERBS[v]
    if v.endswith("ies") and len(v) > 4:
        return v[:-3] + "y"
    if v.endswith(("sses", "shes", "ches", "xes", "zes", "oes")):
        return v[:-2]
    if v.endswith("s") and not v.endswith("ss") and len(v) > 3:
        return v[:-1]
    return v


def _to_you(text: str, third_person: bool) -> str:
    """The customer's words (first person) or a call log's (third person) addressed to them."""

    def swap(m: re.Match[str]) -> str:
        word = m.group(0).replace("’", "'")
        key = " ".join(word.lower().split())
        if (key in _THIRD_PERSON_ONLY) != third_person:
            return word  # in a call log "we" and "I" are us; in the customer's words "her" is
        return _TO_YOU.get(key, word)  # someone else

    out = _TO_YOU_PATTERN.sub(swap, text.replace("’", "'"))
    if third_person:
        out = _AND_VERB.sub(lambda m: f"{m.group(1)} {_base_form(m.group(2))}", out)
    return out


def _clause(text: str) -> str:
    """The problem as one short clause: up to a colon or semicolon, the first comma when
    longer, without trailing punctuation."""
    x = re.split(r"\s*[:;]\s+|\s+[-–—]\s+", text.strip(), maxsplit=1)[0]
    if len(x.split()) > _SUMMARY_MAX_WORDS or len(x) > _SUMMARY_MAX_CHARS:
        x = x.split(",")[0]
    elif "," in x and len(x.split(",")[0].split()) >= 3:
        x = x.split(",")[0]  # "you returned a tent, warehouse confirmed receipt"
    return x.strip().rstrip(".!?,;: ").strip()


def _safe_for_summary(x: str, context: DraftContext, min_words: int = 2) -> bool:
    """Short, no personal data, no link or markup, not the customer's name, not a mood or
    internal label, not an instruction."""
    words = x.split()
    if not min_words <= len(words) <= _SUMMARY_MAX_WORDS or len(x) > _SUMMARY_MAX_CHARS:
        return False
    if _UNSAFE_CHARS.search(x) or _NOTE_WORDS.search(x) or personal_data(x):
        return False
    names = {w.lower() for w in (context.customer.name or "").split() if len(w) > 1}
    names |= {w.lower() for w in (context.customer.account_name or "").split() if len(w) > 2}
    if names & {w.lower().strip(".,;:!?()'\"") for w in words}:
        return False
    return not message_signals(None, x, {})


def _starts_lower(x: str) -> str:
    word = x.split(" ", 1)[0]
    if word.lower() in _STOPWORDS or word.lower() in _TO_YOU.values():
        return word.lower() + x[len(word) :]
    return x


def call_summary(context: DraftContext, flagged: bool = False) -> str | None:
    """What the call was about, in one short sentence built from the call log (deterministic):
    "On the call, you told us that your Lumen 900 headlamp flickers after three months.",
    "On the call, you asked about 3 pending charges of £89.99.", "On the call, we spoke about
    PO 7781." Only the customer's stated problem is taken: the subject of a call note ("X
    called re …", "Caller … : …"), what the customer said in the first person, or a note's
    "Caller reports …"; never the agent's actions, moods or internal labels, never personal
    data or the customer's name, never a link. A message flagged as a prompt injection is not
    quoted at all: only its topic is named ("your refund", an order number)."""
    sentences = [
        _LEADING_GREETING.sub("", s.strip())
        for s in _split_sentences(_inline(context.text))[:_SUMMARY_SENTENCES]
    ]
    log = bool(sentences) and bool(_CALL_LOG.search(sentences[0]))
    if not flagged and sentences:
        found = _from_call_log(sentences[0], context)
        if found is None and not log:
            # the customer's own words: their first statement about themselves (in an
            # agent's call log, "we" and "our side" are the agent's, so never there)
            for sentence in sentences:
                found = _from_own_words(sentence, context)
                if found is not None:
                    break
        if found is not None:
            return f"{SUMMARY_PREFIX}{found}."
    # else its topic: a fixed phrase or a reference, never free text; from where the problem
    # is stated (a log's later sentences name orders checked for identity, refunds issued…)
    stated = " ".join(sentences[:1] if log else sentences[:2])
    topic = topic_of(_PARENTHESES.sub("", stated) if log else stated)
    if topic and _safe_for_summary(topic, context, min_words=1):
        return f"{SUMMARY_PREFIX}we spoke about {topic}."
    return None


_PARENTHESES = re.compile(r"\s*\([^()]*\)")  # "(last order NW-21002 + billing address)"
_CALL_LOG = re.compile(
    r"\b(?:called|calls|rang|phoned|caller|call\s+(?:to|with|from)|outbound|inbound)\b", re.I
)


def _subjectless(x: str) -> str:
    """ "wants 6x Lumen 900 for his team" (a log's clause without its subject) → "you want 6x
    Lumen 900 for your team"; other clauses unchanged."""
    first = x.split(" ", 1)[0]
    if _AND_VERB.match(f"and {first}"):
        return f"you {_base_form(first)}{x[len(first) :]}"
    return x


def _from_call_log(sentence: str, context: DraftContext) -> str | None:
    """The subject of a call log's first sentence: "X called re …", "Caller … : …",
    "Customer calls about …", "Caller reports …"."""
    if not sentence or sentence.endswith("?"):
        return None
    m = _CALL_SUBJECT.match(sentence)
    if m:
        if _SECOND_PERSON.search(m.group("x")):
            return None
        x = _clause(_to_you(_subjectless(m.group("x")), third_person=True))
        if m.group("ask") or m.group("colon"):
            if not _safe_for_summary(x, context):
                return None
            x = _starts_lower(x)
            if m.group("ask"):
                return f"you asked {m.group('ask').split()[-1].lower()} {x}"
            return f"you told us that {x}"
        first = x.split(" ", 1)[0]
        if first.isalpha() and first.islower() and first not in _STOPWORDS:
            x = f"your {x}"  # "re renewal" → "about your renewal"
        if not _safe_for_summary(x, context, min_words=1):
            return None
        return f"we spoke about {_starts_lower(x)}"
    m = _THIRD_PERSON.match(sentence)
    if m and not _SECOND_PERSON.search(m.group("rest")):
        verb = _base_form(m.group("verb"))
        x = _clause(f"you {verb} {_to_you(m.group('rest'), third_person=True)}")
        if _safe_for_summary(x, context):
            return f"you told us that {x}"
    return None


def _from_own_words(sentence: str, context: DraftContext) -> str | None:
    """A statement of the customer about themselves ("My headlamp flickers…"), addressed to
    them ("your headlamp flickers…"); not a question, not one addressed to us."""
    if not sentence or sentence.endswith("?") or _SECOND_PERSON.search(sentence):
        return None
    if not _FIRST_PERSON.search(sentence):
        return None
    x = _clause(_starts_lower(_to_you(sentence, third_person=False)))
    return f"you told us that {x}" if _safe_for_summary(x, context) else None


# --- the triage ---------------------------------------------------------------------------


def _intent(triage: Mapping[str, Any]) -> tuple[str | None, float | None]:
    intent = triage.get("intent")
    label: Any = None
    confidence: Any = None
    if isinstance(intent, Mapping):
        label, confidence = intent.get("label"), intent.get("confidence")
    elif isinstance(intent, str):
        label = intent
        confidence = triage.get("intent_confidence", triage.get("confidence"))
    conf = float(confidence) if isinstance(confidence, int | float) else None
    return (str(label) if label else None), conf


# --- approved answers -----------------------------------------------------------------------

_GREETING_LINE = re.compile(
    r"^\s*(?:hi|hello|hey|dear|good\s+(?:morning|afternoon|evening)|hallo|guten\s+tag|"
    r"liebe[rs]?|bonjour|salut|hola|buenos\s+d[ií]as|estimad[oa])\b[^\n]{0,60}$",
    re.IGNORECASE,
)
_SIGN_OFF_LINE = re.compile(
    r"^\s*(?:(?:kind|best|warm|many)\s+(?:regards|wishes)|regards|best|cheers|thanks(?:\s+again)?|"
    r"thank\s+you|sincerely|yours\s+sincerely|mit\s+freundlichen\s+grüßen|viele\s+grüße|"
    r"cordialement|bien\s+à\s+vous|saludos|un\s+saludo|--|—)\s*[,!.]?\s*$",
    re.IGNORECASE,
)


def _approved_body(text: str) -> str:
    """An approved reply without its greeting and signature (they belonged to someone else)."""
    lines = text.strip().splitlines()
    while lines and not lines[0].strip():
        lines.pop(0)
    if lines and _GREETING_LINE.match(lines[0]):
        lines.pop(0)
    for i in range(len(lines) - 1, max(-1, len(lines) - 6), -1):
        if _SIGN_OFF_LINE.match(lines[i]):
            lines = lines[:i]
            break
    return "\n".join(lines).strip()


# --- what the question asks, and how a list is said -----------------------------------------

_ASKS_DURATION = re.compile(
    r"\bhow\s+(?:long|soon|quickly|fast)\b|\bhow\s+many\s+(?:\w+\s+)?(?:days?|weeks?|hours?|"
    r"minutes?|months?|years?|business\s+days?)\b|\bwhen\b|\bby\s+when\b|\bwhat\s+time\b|"
    r"\bdeadline\b|\bwie\s+lange\b|\bwann\b|\bcombien\s+de\s+(?:temps|jours)\b|\bquand\b|"
    r"\bcu[aá]nto\s+tiempo\b|\bcu[aá]ndo\b",
    re.IGNORECASE,
)
_ASKS_MONEY = re.compile(
    r"\bhow\s+much\b(?!\s+(?:time|longer))|\bcosts?\b|\bprices?\b|\bfees?\b|\bcharge[sd]?\b|"
    r"\bexpensive\b|\bdiscounts?\b|\bpay\s+for\b|\bkosten\b|\bpreis\b|\bprix\b|\bco[uû]te?\b|"
    r"\bcu[aá]nto\s+cuesta\b|\bprecio\b",
    re.IGNORECASE,
)
_ASKS_STEPS = re.compile(
    r"\bhow\s+(?:do|can|should|would)\s+(?:i|we)\b|\bhow\s+to\b|\bwhat\s+(?:do|should|can)\s+"
    r"(?:i|we)\s+do\b|\bwhat\s+now\b|\bwhere\s+(?:do|can)\s+(?:i|we)\b|\bsteps?\b|"
    r"\bwie\s+(?:kann|muss)\s+ich\b|\bcomment\b|\bc[oó]mo\b",
    re.IGNORECASE,
)
# How customers say what the KB words differently ("send it back" → return).
_QUERY_SYNONYMS: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = tuple(
    (re.compile(p, re.IGNORECASE), tuple(_stem(w) for w in words.split()))
    for p, words in (
        (r"\b(?:send|sent|sending|bring|take|give|ship)\s+(?:\w+\s+){0,2}back\b", "return"),
        (r"\b(?:money|price|cash)\s+back\b|\bget\s+(?:\w+\s+){0,2}back\b|reimburs", "refund"),
        (
            r"\b(?:never|not|hasn'?t|haven'?t|didn'?t|hasnt|didnt)\s+(?:yet\s+)?(?:arrived?|come|shown)",
            "parcel deliver",
        ),
        (r"\blog\s?in\b|\blogin\b|\bsign\s?in\b", "sign"),
        (r"\bpackage\b", "parcel"),
        (r"\bfl(?:y|ying|ight|ights|ew)\b|\bairlines?\b|\bcarry-?on\b|hand\s+luggage", "plane"),
        (r"\bswap\b|\bexchange\b|another\s+size|different\s+size", "exchange"),
    )
)
_EXAMPLE_LEAD = re.compile(r"\b(?:examples?|such\s+as|e\.g\.|for\s+instance|like)\b", re.I)
_MAX_LIST_CHARS = 360
_MAX_LIST_ITEMS = 6


def _question_types(question: str) -> frozenset[str]:
    """What kind of answer the question wants: "duration", "money" and/or "steps"."""
    found = set()
    if _ASKS_DURATION.search(question):
        found.add("duration")
    if _ASKS_MONEY.search(question):
        found.add("money")
    if _ASKS_STEPS.search(question):
        found.add("steps")
    return frozenset(found)


def _answer_types(sentence: _Sentence, facts: set[str]) -> set[str]:
    """What kind of answer a sentence gives (see `_question_types`)."""
    found = set()
    if facts & {"duration", "date"}:
        found.add("duration")
    if facts & {"money", "percentage"}:
        found.add("money")
    if sentence.step:
        found.add("steps")
    return found


def _passage_weights(passages: Sequence[Passage]) -> list[float]:
    """Weight of each passage (sorted best first): its rank, and whether its article is the one
    most of the retrieved passages come from (several good chunks of one article agree)."""
    support: dict[str, list[float]] = {}
    for p in passages:
        support.setdefault(p.document_id, []).append(p.score)
    strength = {
        doc: max(scores) + _SUPPORT_SHARE * (sum(scores) - max(scores))
        for doc, scores in support.items()
    }
    best_doc = min(strength, key=lambda d: (-strength[d], d))
    out = []
    for rank, p in enumerate(passages):
        weight = _RANK_WEIGHTS[min(rank, len(_RANK_WEIGHTS) - 1)]
        if p.document_id != best_doc:
            weight *= _OTHER_ARTICLE_WEIGHT
        out.append(weight)
    return out


# "(for example NW-20417)", "(e.g. the barcode is rejected)": an example is not the answer,
# and an example order number reads like a customer's own in a reply.
_EXAMPLE_PAREN = re.compile(
    r"\s*\((?:e\.g\.|for example|for instance|z\.\s?B\.|par exemple|p\.\s?ex\.|por ejemplo)"
    r"[^()]*\)",
    re.IGNORECASE,
)


def _unpublished_personal_data(text: str, context: DraftContext) -> list[str]:
    """Personal data in `text` that the company does not publish itself: an address or number
    that is in the customer-facing KB passages of the draft (the help center prints
    security@… and its phone line) is public, unless it carries a word of the customer's
    name."""
    found = personal_data(text)
    if not found:
        return []
    published = " ".join(p.text for p in context.passages).lower()
    names = [w.lower() for w in (context.customer.name or "").split() if len(w) > 1]
    masked = mask(text)
    for original in masked.mapping.values():
        value = original.lower()
        if value not in published or any(n in value for n in names):
            return found
    return []


def _unsafe_in_public(text: str, context: DraftContext) -> bool:
    """Unpublished personal data or an order/reference number: never in a public reply."""
    return bool(
        _unpublished_personal_data(text, context)
        or _CODE_REF.search(text)
        or _HASH_REF.search(text)
        or _ORDER_REF.search(text)
    )


def unsafe_in_public_reply(text: str, context: DraftContext) -> bool:
    """What a public reply must never carry (both drafters): unpublished personal data, an
    order/reference number, or a word of the customer's name."""
    if _unsafe_in_public(text, context):
        return True
    names = [w for w in (context.customer.name or "").split() if len(w) > 1]
    return any(re.search(rf"(?<!\w){re.escape(w)}(?!\w)", text, re.I) for w in names)


def _passage_text(passage: Passage) -> str:
    """A chunk's text under its section heading (the heading says what the section is about;
    the chunker keeps it apart from the text)."""
    heading = passage.heading.split(" > ")[-1].strip()
    if heading and not passage.text.lstrip().startswith("#"):
        return f"## {heading}\n\n{passage.text}"
    return passage.text


# Words of an intent label that say nothing about which article answers it.
_GENERIC_INTENT_WORDS = frozenset(
    _stem(w) for w in "order item request problem question status issue other general".split()
)


def _intent_words(triage: Mapping[str, Any]) -> frozenset[str]:
    """The telling words of the triaged intent ("bulk_order" → {"bulk"}), when triage is
    sure of it: the question's topic, whatever its wording."""
    if triage.get("abstained"):
        return frozenset()
    label, confidence = _intent(triage)
    if not label or (confidence is not None and confidence < _INTENT_TITLE_CONFIDENCE):
        return frozenset()
    return frozenset(_tokens(label.replace("_", " "))) - _GENERIC_INTENT_WORDS


def _best_article(passages: Sequence[Passage], intent: frozenset[str] = frozenset()) -> str:
    """The document most of the retrieved passages come from, weighted by their scores, and
    by whether its title names the triaged intent (a question about a bulk order of
    headlamps is about bulk orders, not headlamps)."""
    support: dict[str, list[float]] = {}
    titles: dict[str, str] = {}
    for p in passages:
        support.setdefault(p.document_id, []).append(p.score)
        titles.setdefault(p.document_id, p.title)
    strength = {
        doc: max(scores)
        + _SUPPORT_SHARE * (sum(scores) - max(scores))
        + (_INTENT_TITLE_BONUS if intent & set(_tokens(titles[doc])) else 0.0)
        for doc, scores in support.items()
    }
    return min(strength, key=lambda d: (-strength[d], d))


def _join_items(items: Sequence[str], conjunction: str) -> str:
    """ "a", "a and b", "a, b, and c"."""
    heads = [i.rstrip(" .") for i in items]
    if len(heads) == 1:
        return heads[0]
    if len(heads) == 2:
        return f"{heads[0]} {conjunction} {heads[1]}"
    return f"{', '.join(heads[:-1])}, {conjunction} {heads[-1]}"


def _after_colon(text: str) -> str:
    """ "Set an offset…" reads "set an offset…" after a colon; names keep their capital."""
    word = text.split(" ", 1)[0]
    lower = word.lower()
    if (
        word[:1].isupper()
        and word[1:].islower()
        and (lower in _STOPWORDS or lower in _CLAUSE_WORDS or _STEP_START.match(lower))
    ):
        return lower + text[len(word) :]
    return text


def _render_list(lead: str, items: Sequence[_Sentence], chosen: Sequence[_Sentence]) -> str:
    """A list said once: its lead-in, then the items ("…with: your order number, what you
    checked, and anything odd…"). Every item of a short list; of a list of examples, or a long
    one, only the items the question is about."""
    lead = lead.rstrip()

    def say(use: Sequence[_Sentence], whole: bool) -> str:
        if all(s.item for s in use):
            conjunction = use[-2].conjunction if len(use) > 1 and whole else "and"
            if any(s.conjunction == "or" for s in use[:-1]):
                conjunction = "or"
            return f"{lead} {_join_items([s.item for s in use], conjunction)}."
        texts = [s.text for s in use if not s.meta]
        if texts:
            texts[0] = _after_colon(texts[0])
        return " ".join([lead, *texts])

    joinable = all(s.item for s in items)
    if 0 < len(items) <= (_MAX_LIST_ITEMS if joinable else 3) and not _EXAMPLE_LEAD.search(lead):
        text = say(items, True)
        if len(text) <= (_MAX_LIST_CHARS if joinable else _MAX_LIST_CHARS * 2 // 3):
            return text
    use = [s for s in chosen if not s.meta]
    if not use:
        return ""
    if (
        all(s.clause for s in use)
        and not all(s.item for s in use)
        and not _EXAMPLE_LEAD.search(lead)
    ):
        return " ".join(s.text for s in use)  # part of a longer list: said without its lead-in
    return say(use, False)


def _sign_off(style: ChannelStyle, agent: str, company: str) -> str | None:
    """The signature with its empty lines left out: no company line for an empty company name,
    and no "- " on an SMS without one."""
    if not style.sign_off:
        return None
    lines = []
    for line in style.sign_off.splitlines():
        if ("{company}" in line and not company.strip()) or (
            "{agent}" in line and not agent.strip()
        ):
            continue
        lines.append(line.format(agent=agent.strip(), company=company.strip()))
    text = "\n".join(lines).strip()
    return text if any(c.isalnum() for c in text) else None


@dataclass(frozen=True)
class _Features:
    """What scoring needs of a sentence, computed once per passage text."""

    words: frozenset[str]
    words_norm: float
    lead_words: frozenset[str]
    lead_norm: float
    heading_words: frozenset[str]
    heading_norm: float
    facts: frozenset[str]  # fact kinds
    answers: frozenset[str]  # see `_answer_types`


@lru_cache(maxsize=1024)
def _sentence_features(text: str) -> tuple[_Features, ...]:
    out = []
    for sentence in _passage_sentences(text):
        words = _tokens(sentence.text)
        lead = _tokens(sentence.lead) if sentence.lead else ()
        heading = _tokens(sentence.heading)
        facts: set[str] = {f.kind for f in extract_facts(sentence.text)}
        out.append(
            _Features(
                frozenset(words),
                math.sqrt(max(len(words), 4)),
                frozenset(lead),
                math.sqrt(max(len(lead), 4)),
                frozenset(heading),
                math.sqrt(max(len(heading), 2)),
                frozenset(facts),
                frozenset(_answer_types(sentence, facts)),
            )
        )
    return tuple(out)


# --- the composer ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Grounding:
    """What a message may be answered from, and what an agent must check first.

    The one rule both drafters follow (`GroundedComposer.grounding`): when triage abstained or
    is unsure of the intent (`flags` "abstained" / "low_confidence", `reasons` saying what to
    check), only a passage that is clearly on topic may ground an answer, approved answers (of
    an intent) are not reused, and the draft needs a human; otherwise the passages relevant
    enough (absolute and relative score floor) and the approved answers near-identical to the
    question of the same intent may. Nothing to answer from: the draft asks the clarifying
    question and needs a human, never an invented policy.
    """

    passages: tuple[Passage, ...]  # relevant enough to answer from, best first
    approved: tuple[ApprovedAnswer, ...]  # approved answers that may be reused, best first
    flags: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()

    @property
    def unsure(self) -> bool:
        """Triage abstained or is below the confidence threshold: an agent checks the draft."""
        return bool(self.flags)

    @property
    def supported(self) -> bool:
        """Whether there is anything to answer from."""
        return bool(self.passages or self.approved)


NO_KB_SUPPORT_REASON = "no KB article supports an answer: check the KB and answer yourself"


@dataclass(frozen=True)
class _Answer:
    sentences: tuple[str, ...]
    chunk_ids: tuple[str, ...]
    url: str | None
    approved_id: str | None
    dropped_offer: bool


class GroundedComposer:
    """Drafts replies from the KB and approved answers only; implements `Drafter`."""

    name = "composer"

    def __init__(
        self,
        *,
        acknowledge_window: timedelta = timedelta(days=14),
        min_prior_score: float = 0.45,
        min_passage_score: float = DEFAULT_MIN_PASSAGE_SCORE,
        approved_min_similarity: float = 0.9,
        max_sentences: int = 3,
        min_confidence: float = 0.35,
        strong_passage_score: float = STRONG_PASSAGE_SCORE,
        offers: Mapping[str, Sequence[str]] | None = None,
        company_name: str | None = None,
    ) -> None:
        self.acknowledge_window = acknowledge_window
        self.min_prior_score = min_prior_score
        self.min_passage_score = min_passage_score
        self.approved_min_similarity = approved_min_similarity
        self.max_sentences = max(1, max_sentences)
        self.min_confidence = min_confidence
        self.strong_passage_score = strong_passage_score
        self.offers = {k: tuple(v) for k, v in (offers or default_offers()).items()}
        self.company_name = company_name
        self._offer_patterns: dict[str, re.Pattern[str]] = {}
        for key in sorted(self.offers):
            self._offer_patterns[key] = self._offer_pattern(key, self.offers[key])

    @staticmethod
    def _offer_pattern(key: str, phrases: Sequence[str]) -> re.Pattern[str]:
        words = [*phrases, key.replace("_", " ")]
        alternatives = "|".join(
            re.escape(w) for w in sorted(set(words), key=lambda w: (-len(w), w))
        )
        return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)

    def _declined(self, context: DraftContext) -> list[re.Pattern[str]]:
        out = []
        for key in sorted(set(context.customer.declined_offers)):
            pattern = self._offer_patterns.get(key)
            if pattern is None:
                pattern = self._offer_pattern(key, ())
            out.append(pattern)
        return out

    # -- drafting -------------------------------------------------------------------------

    def draft(self, context: DraftContext) -> Draft:
        """A reply for `context`; never raises for odd customer input."""
        metadata = context.metadata
        style = style_for(context.channel, public=is_public_post(metadata))
        # an explicitly configured company name wins, even "" (no company line at all)
        company = self.company_name if self.company_name is not None else context.company_name
        flags: list[str] = []
        needs_human = False
        reasons: list[str] = []

        if message_signals(context.subject, context.text, metadata):  # hidden HTML text too
            flags.append("prompt_injection")
            needs_human = True
            reasons.append("the message looks like a prompt injection: read it before replying")

        name = None if style.public else first_name(context.customer.name)
        if (
            name
            and context.customer.account_name
            and context.customer.name == (context.customer.account_name)
        ):
            name = None
        greeting = style.greeting.format(name=name) if name else style.greeting_no_name

        ack, ack_id = (None, None) if style.public else self._acknowledgement(context)

        grounding = self.grounding(context)
        flags.extend(grounding.flags)
        reasons.extend(grounding.reasons)
        answer: _Answer | None = None
        if grounding.unsure:
            # The router is unsure but the KB is not: the answer the KB gives is the same
            # whoever routes the message, so it is drafted (still for an agent to check).
            needs_human = True
            answer = self._from_passages(context, grounding.passages, style.public)
        else:
            answer = self._approved(context, grounding.approved) or self._from_passages(
                context, grounding.passages, style.public
            )
            if answer is None:
                reasons.append(NO_KB_SUPPORT_REASON)
                flags.append("no_kb_support")
        if answer is None:
            needs_human = True
        elif answer.dropped_offer:
            flags.append("declined_offer_filtered")

        follow_up = None
        summary = None
        if style.follow_up:
            outbound = str(metadata.get("direction", "")).lower() == "outbound"
            when = relative_day(context.now, context.sent_at, today="today")
            follow_up = style.follow_up.format(when=when)
            if outbound:
                follow_up = follow_up.replace("speaking with us", "taking our call")
            # a phone follow-up sums up the call (what the customer told us), then gives the
            # next steps: the answer, the link and how to reply
            summary = call_summary(context, flagged="prompt_injection" in flags)
            if summary and style.summary_lead:
                follow_up = f"{follow_up} {style.summary_lead}"
        body: list[str] = list(answer.sentences) if answer else [self._holding(style, answer)]
        link = self._link_line(style, answer.url) if answer and answer.url else None
        closing: list[str] = []
        if style.kind == "phone" and context.reference:
            closing.append(
                f"If anything is still unclear, just reply and quote your reference "
                f"{context.reference}."
            )
        if style.invite_dm:
            closing.append(style.invite_dm)
        sign_off = _sign_off(style, context.agent_name, company)

        if style.public:
            body, link, stripped = self._public_safe(context, body, link)
            if stripped:
                flags.append("personal_data_removed")

        parts = _Parts(greeting, ack, follow_up, body, link, closing, sign_off, summary)
        if style.max_chars is not None:
            parts, shortened = self._fit(style, parts, answer is not None)
            if shortened:
                flags.append("shortened")
            if not parts.body and answer is not None and not parts.link:
                needs_human = True
        text = parts.render(style)
        if style.public and _unpublished_personal_data(text, context):
            parts = _Parts(style.greeting_no_name, None, None, [], None, closing, None)
            text = parts.render(style)
            if "personal_data_removed" not in flags:
                flags.append("personal_data_removed")

        facts_used: list[str] = []
        if answer is not None:
            for part in [*parts.body, *([parts.link] if parts.link else [])]:
                for fact in extract_facts(part):
                    if fact.value not in facts_used:
                        facts_used.append(fact.value)
        cited = list(answer.chunk_ids) if answer is not None else []
        return Draft(
            text=text,
            drafter="composer",
            cited_chunks=cited,
            facts_used=facts_used,
            needs_human=needs_human,
            flags=flags,
            fallback_reason="; ".join(reasons) if reasons else None,
            kb_version=context.kb_version,
            approved_answer_id=answer.approved_id if answer is not None else None,
            acknowledged_message_id=ack_id if (ack and parts.ack) else None,
        )

    # -- parts ------------------------------------------------------------------------------

    def _acknowledgement(self, context: DraftContext) -> tuple[str | None, str | None]:
        channel = canonical_channel(context.channel)
        best: PriorContact | None = None
        best_key: tuple[bool, datetime, float, str] | None = None
        for prior in context.prior_contacts:
            if prior.message_id == context.message_id or prior.direction == "outbound":
                continue  # our own reply is no contact of theirs to acknowledge
            prior_channel = canonical_channel(prior.channel)
            if prior_channel == channel or prior_channel not in _ACK_VERBS:
                continue
            sent = _aligned(context.now, prior.sent_at)
            age = context.now - sent
            if age < timedelta(0) or age > self.acknowledge_window:
                continue
            related = prior.same_conversation or prior.score >= self.min_prior_score
            key = (related, sent, prior.score, prior.message_id)
            if best_key is None or key > best_key:
                best, best_key = prior, key
        if best is None:
            return None, None
        when = relative_day(context.now, best.sent_at)
        verb = _ACK_VERBS[canonical_channel(best.channel)]
        topic = topic_of(best.text)
        about = f" about {topic}" if topic else ""
        if best.same_conversation or best.score >= self.min_prior_score:
            # the same matter, continued on another channel
            return (
                f"I can see you {verb} {when}{about} — let's pick up from there.",
                best.message_id,
            )
        return f"I can see you also {verb} {when}{about}.", best.message_id

    @staticmethod
    def _holding(style: ChannelStyle, answer: _Answer | None) -> str:
        if style.public:
            return "Thanks for reaching out!"
        if style.register == "formal":
            return (
                "Thank you for your message. So that I can help you properly, could you tell me a "
                "little more about what you need, for example which order it is about and what "
                "happened?"
            )
        return (
            "Thanks for your message! Could you tell me a bit more about what you need, "
            "for example which order it's about and what happened?"
        )

    @staticmethod
    def _link_line(style: ChannelStyle, url: str) -> str:
        if style.kind == "sms" or style.link_instead_of_text:
            return f"Details: {url}"
        return f"You can find the details here: {url}"

    # -- the answer --------------------------------------------------------------------------

    def grounding(self, context: DraftContext) -> Grounding:
        """What `context` may be answered from (see `Grounding`); the LLM drafter asks this
        too, so both drafters use the same thresholds."""
        flags: list[str] = []
        reasons: list[str] = []
        label, confidence = _intent(context.triage)
        if bool(context.triage.get("abstained")):
            reasons.append("triage abstained: check what the customer needs and the team")
            flags.append("abstained")
        elif confidence is not None and confidence < self.min_confidence:
            reasons.append(
                f"intent confidence {confidence:.2f} is below {self.min_confidence:.2f}: "
                "check the intent"
            )
            flags.append("low_confidence")
        supported = self._supported(context.passages)
        if flags:
            clear = self._strongly_supported(context.passages)
            return Grounding(tuple(supported) if clear else (), (), tuple(flags), tuple(reasons))
        approved = sorted(
            (
                a
                for a in context.approved
                if a.similarity >= self.approved_min_similarity
                and (a.intent is None or label is None or a.intent == label)
            ),
            key=lambda a: (-a.similarity, a.id),
        )
        return Grounding(tuple(supported), tuple(approved))

    def _approved(
        self, context: DraftContext, candidates: Sequence[ApprovedAnswer]
    ) -> _Answer | None:
        if not candidates:
            return None
        best = candidates[0]
        declined = self._declined(context)
        sentences: list[str] = []
        dropped = False
        for s in _passage_sentences(_approved_body(best.text)):
            if any(p.search(s.text) for p in declined):
                dropped = True
                continue
            sentences.append(s.text)
        if not sentences:
            return None
        by_chunk = {p.chunk_id: p for p in context.passages}
        url = next(
            (by_chunk[c].url for c in best.chunk_ids if c in by_chunk and by_chunk[c].url), None
        )
        return _Answer(tuple(sentences), tuple(best.chunk_ids), url, best.id, dropped)

    def _strongly_supported(self, passages: Sequence[Passage]) -> bool:
        """Whether the best passage is clearly on topic (answerable without a sure triage)."""
        return bool(passages) and max(p.score for p in passages) >= self.strong_passage_score

    def _supported(self, passages: Sequence[Passage]) -> list[Passage]:
        ranked = sorted(passages, key=lambda p: (-p.score, p.chunk_id))
        if not ranked:
            return []
        floor = max(self.min_passage_score, ranked[0].score * RELATIVE_PASSAGE_FLOOR)
        return [p for p in ranked if p.score >= floor][:MAX_PASSAGES]

    def _from_passages(
        self, context: DraftContext, supported: Sequence[Passage], public: bool = False
    ) -> _Answer | None:
        passages = list(supported)
        if not passages:
            return None
        question = " ".join(p for p in (context.subject, context.text) if p)[:_QUERY_CHARS]
        query = set(_tokens(question))
        if not query:
            return None
        for pattern, extra in _QUERY_SYNONYMS:
            if pattern.search(question):
                query.update(extra)
        wants = _question_types(question)
        declined = self._declined(context)
        dropped = False
        weights = _passage_weights(passages)
        pool: list[tuple[int, int, _Sentence, _Features]] = []
        for rank, passage in enumerate(passages):
            skip_units: set[int] = set()
            features = _sentence_features(_passage_text(passage))
            for index, sentence in enumerate(_passage_sentences(_passage_text(passage))):
                if declined and (
                    sentence.unit in skip_units
                    or any(
                        p.search(sentence.text)
                        or p.search(sentence.heading)
                        or p.search(sentence.lead)
                        for p in declined
                    )
                ):
                    skip_units.add(sentence.unit)  # the rest of the paragraph is about it too
                    dropped = True
                    continue
                if sentence.meta:
                    continue
                pool.append((rank, index, sentence, features[index]))
        if not pool:
            return None
        df: dict[str, int] = {}
        for *_, feature in pool:
            for t in feature.words:
                df[t] = df.get(t, 0) + 1
        n = len(pool)

        def idf(t: str) -> float:
            return math.log(1 + n / df.get(t, 1))

        query_mass = sum(idf(t) for t in sorted(query)) or 1.0
        titles = [set(_tokens(p.title)) & query for p in passages]
        scored: list[tuple[float, int, int, _Sentence]] = []
        for rank, index, sentence, f in pool:
            overlap = sorted(f.words & query)
            lead_overlap = sorted((f.lead_words & query).difference(overlap))
            heading_overlap = sorted(f.heading_words & query)
            if all(t.isdigit() for t in [*overlap, *lead_overlap, *heading_overlap]):
                continue
            lexical = sum(idf(t) for t in overlap) / f.words_norm
            if lead_overlap:
                lexical += _LEAD_WEIGHT * sum(idf(t) for t in lead_overlap) / f.lead_norm
            lexical += _HEADING_WEIGHT * len(f.heading_words & query) / f.heading_norm
            # how much of the question the sentence (with its list's lead-in) speaks to
            covered = sorted(set(overlap).union(lead_overlap, titles[rank]))
            lexical += _COVERAGE_WEIGHT * sum(idf(t) for t in covered) / query_mass
            score = lexical * weights[rank]
            if f.facts:
                score += _FACT_BONUS
            if wants & f.answers:
                score += _TYPE_BONUS
            if not sentence.clause and not sentence.lead:
                score *= _FRAGMENT_FACTOR  # "Personalised items, such as jackets…" says nothing
            if index == 0:
                score += _POSITION_BONUS * weights[rank]  # a section's first sentence leads
            scored.append((score, rank, index, sentence))
        article = _best_article(passages, _intent_words(context.triage))
        language = str(context.triage.get("language") or "en")
        if not scored and language != "en":
            # a question in another language than the stemmer's (German compounds share no
            # word with the article): the best passage of the best-supported article is where
            # the answer is
            first = next(r for r, p in enumerate(passages) if p.document_id == article)
            scored = [(0.0, r, i, s) for r, i, s, _ in pool if r == first][:1]
            if not scored:
                return None
        if not scored:
            return None
        scored.sort(key=lambda s: (-s[0], s[1], s[2]))
        # The article is the one the retrieved passages support most (several on-topic
        # chunks of one article agree); a stray sentence of another article that happens to
        # share a word with the question ("jacket") does not pull the answer away.
        scored = [e for e in scored if passages[e[1]].document_id == article] or scored
        # The best sentence only says *where* the answer is: its section. What the answer
        # says is that section's key sentences, chosen without looking at the wording of the
        # question, so that every paraphrase that lands on the section gets the same facts.
        best_in: dict[int, tuple[float, int, int, _Sentence]] = {}
        for entry in scored:
            best_in.setdefault(entry[1], entry)
        _, rank, index, _ = min(
            best_in.values(),
            key=lambda e: (-(e[0] + _DENSE_WEIGHT * passages[e[1]].score), e[1], e[2]),
        )
        allowed = {(r, i) for r, i, _, _ in pool}
        texts = self._key_sentences(
            passages[rank], rank, index, allowed, context if public else None
        )
        if not texts:
            return None
        passage = passages[rank]
        url = passage.url or next(
            (p.url for p in passages if p.document_id == passage.document_id and p.url), None
        )
        return _Answer(tuple(texts), (passage.chunk_id,), url, None, dropped)

    def _key_sentences(
        self,
        passage: Passage,
        rank: int,
        anchor: int,
        allowed: set[tuple[int, int]],
        public: DraftContext | None = None,
    ) -> list[str]:
        """The answer a section gives, whoever asks: its first `_KEY_FACT_SENTENCES`
        sentences that state a fact (a number, amount, duration, address), and its lead
        sentence in front when it fits within `max_sentences` and `BODY_BUDGET` characters
        (short enough for an SMS with its link). A section without facts answers with its
        lead sentence or, when that is an item of a list without a lead-in, with the item
        the question matched best (`anchor`)."""
        sentences = _passage_sentences(_passage_text(passage))
        heading = sentences[anchor].heading
        first = anchor
        while first > 0 and sentences[first - 1].heading == heading:
            first -= 1
        last = anchor
        while last + 1 < len(sentences) and sentences[last + 1].heading == heading:
            last += 1
        candidates: list[tuple[str, bool]] = []  # (text, states a fact), in article order
        seen_lists: set[int] = set()
        for index in range(first, last + 1):
            sentence = sentences[index]
            if (rank, index) not in allowed:
                continue
            if not sentence.clause and not sentence.lead and len(sentence.text.split()) < 6:
                continue  # "Gift cards." says nothing on its own
            text = sentence.text
            if sentence.list_id >= 0 and sentence.lead:
                if sentence.list_id in seen_lists:
                    continue
                seen_lists.add(sentence.list_id)
                items = [
                    s
                    for i, s in enumerate(sentences)
                    if s.list_id == sentence.list_id and (rank, i) in allowed
                ]
                text = _render_list(sentence.lead, items, items)
            text = _EXAMPLE_PAREN.sub("", text)
            if public is not None and _unsafe_in_public(text, public):
                continue  # a public reply would have to drop it: the next one answers
            if text and all(text != t for t, _ in candidates):
                candidates.append((text, bool(extract_facts(text))))
        if not candidates:
            return []
        # the facts first (in the article's order), as many as fit; the section's lead
        # sentence in front when there is room for it
        chosen: list[str] = []
        total = 0
        for text, fact in candidates:
            if not fact or len(chosen) >= _KEY_FACT_SENTENCES:
                continue
            if chosen and total + 1 + len(text) > BODY_BUDGET:
                continue
            chosen.append(text)
            total += len(text) + (1 if total else 0)
        lead = candidates[0][0]
        if not chosen:
            best = sentences[anchor]
            if best.list_id >= 0 and not best.lead and any(t == best.text for t, _ in candidates):
                return [best.text]  # a list without a lead-in: the item the question is about
            return [lead]
        if lead not in chosen and len(chosen) < self.max_sentences:
            if total + 1 + len(lead) <= BODY_BUDGET:
                chosen.insert(0, lead)
        return [t for t, _ in candidates if t in chosen]

    # -- guardrails ---------------------------------------------------------------------------

    @staticmethod
    def _public_safe(
        context: DraftContext, body: list[str], link: str | None
    ) -> tuple[list[str], str | None, bool]:
        """Drop every sentence of a public reply that carries personal data, a name or a
        customer's order/reference number."""
        kept = [s for s in body if not unsafe_in_public_reply(s, context)]
        safe_link = link if link and not unsafe_in_public_reply(link, context) else None
        return kept, safe_link, len(kept) != len(body) or safe_link != link

    def _fit(self, style: ChannelStyle, parts: _Parts, answered: bool) -> tuple[_Parts, bool]:
        """Shorten to `style.max_chars` without cutting a sentence. The answer is the last
        thing to go (it must be the same on every channel): first a shorter acknowledgement,
        DM invitation and greeting, no sign-off, then fewer sentences, then the link instead
        of the text, then no acknowledgement at all."""
        limit = style.max_chars
        assert limit is not None
        if len(parts.render(style)) <= limit:
            return parts, False
        short = parts.replace(
            ack=_short_ack(parts.ack) if parts.ack else None,
            closing=[_SHORT_INVITE if c == style.invite_dm else c for c in parts.closing],
        )
        trimmed = [
            short,
            short.replace(sign_off=None),
            short.replace(sign_off=None, greeting=style.greeting_no_name),
            short.replace(sign_off=None, greeting=""),
        ]
        if parts.link and _URL_IN_TEXT.search(parts.link):
            bare = _URL_IN_TEXT.search(parts.link)
            assert bare is not None
            trimmed.append(trimmed[-1].replace(link=bare.group(0)))  # the link alone
        last = trimmed[-1]
        body = parts.body
        candidates = [*trimmed]
        # fewer sentences: those that state no fact go first, then from the end
        order = sorted(range(len(body)), key=lambda i: (bool(extract_facts(body[i])), -i))
        for drop in range(1, len(body)):
            gone = set(order[:drop])
            candidates.append(last.replace(body=[b for i, b in enumerate(body) if i not in gone]))
        if parts.link:
            # the link instead of the text (worded as on any SMS)
            candidates.append(short.replace(body=[], sign_off=None))
            candidates.append(short.replace(body=[], sign_off=None, greeting=""))
        last = candidates[-1]
        candidates.append(last.replace(ack=None))
        for candidate in candidates:
            if len(candidate.render(style)) <= limit:
                return candidate, True
        fallback = "A colleague will send you the details shortly." if answered else ""
        minimal = _Parts(
            style.greeting_no_name, None, None, [fallback] if fallback else [], None, [], None
        )
        if len(minimal.render(style)) > limit:
            minimal = minimal.replace(greeting="")
        return minimal, True


_SHORT_INVITE = "DM us your order details and we'll take it from there."
_ACK_TAIL = re.compile(r"(?:\s+about\s[^—]*?)?(?:\s+—\s+let's pick up from there)?\.$")


def _short_ack(ack: str) -> str:
    """ "I can see you messaged us on Facebook yesterday about a return — let's pick up from
    there." → "I can see you messaged us on Facebook yesterday." (an SMS has no room)."""
    return _ACK_TAIL.sub(".", ack, count=1)


@dataclass(frozen=True)
class _Parts:
    greeting: str
    ack: str | None
    follow_up: str | None
    body: list[str]
    link: str | None
    closing: list[str]
    sign_off: str | None
    summary: str | None = None  # phone: what the call was about

    def replace(self, **changes: Any) -> _Parts:
        values = {**self.__dict__, **changes}
        return _Parts(**values)

    def render(self, style: ChannelStyle) -> str:
        blocks: list[str] = []
        if style.kind == "sms" or style.separator == " ":
            pieces = [self.greeting, self.follow_up, self.ack, self.summary, *self.body]
            pieces += [self.link, *self.closing, self.sign_off]
            return " ".join(p for p in pieces if p).strip()
        intro = " ".join(p for p in (self.follow_up, self.ack) if p)
        blocks = [
            self.greeting,
            intro,
            self.summary or "",
            " ".join(self.body),
            self.link or "",
            " ".join(self.closing),
        ]
        if self.sign_off:
            blocks.append(self.sign_off)
        return "\n\n".join(b for b in blocks if b).strip()
