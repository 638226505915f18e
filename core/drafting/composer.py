"""The grounded composer: an offline drafter that only says what the KB (or an approved answer)
says, in the channel's style, and names the customer's earlier contact on another channel.

No model, no I/O, no clock: the same `DraftContext` always gives the same `Draft`.

How a draft is put together:
1. greeting by first name in the channel's register (none on public social replies);
2. an acknowledgement of a recent contact on another channel ("I can see you messaged us on
   Facebook yesterday about your order 1234 — let's pick up from there.");
3. the answer: an approved answer for the same intent when one is near-identical
   (consistency first), otherwise up to `max_sentences` KB sentences picked lexically;
4. the next step (the article link) and the sign-off.
Without KB support, or when triage abstained, the draft asks a clarifying question and is
marked `needs_human`. Customer text is never copied into a reply, except an order or
reference number in the acknowledgement.
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
from core.drafting.injection import injection_signals
from core.drafting.pii import personal_data
from core.drafting.style import ChannelStyle, canonical_channel, is_public_post, style_for

# --- configuration ------------------------------------------------------------------------

# Passage scores are the dense (cosine) similarities of the hybrid KB search; all-MiniLM puts
# on-topic chunks around 0.35-0.7 and unrelated ones below 0.25. Scores are relative, so a
# passage must also reach a share of the best passage's score.
DEFAULT_MIN_PASSAGE_SCORE = 0.3
RELATIVE_PASSAGE_FLOOR = 0.6
MAX_PASSAGES = 3
_PASSAGE_WEIGHTS = (1.0, 0.85, 0.7)
_MIN_SHARE_OF_BEST = 0.35  # a second or third sentence must score this share of the best one
_FACT_BONUS = 0.3
_HEADING_WEIGHT = 0.5  # the heading above a sentence says what it is about
_POSITION_BONUS = 0.3
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
    text: str
    heading: str  # the heading the sentence sits under ("" before the first one)
    unit: int  # paragraph / bullet / table row number inside the passage


_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^\s*(?:[-*+•]|\d{1,2}[.)])\s+(.*)$")
_RULE = re.compile(r"^\s*(?:-{3,}|\*{3,}|_{3,})\s*$")
_TABLE_SEP_CELL = re.compile(r"^:?-{2,}:?$")
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
_SINGLE_INITIAL = re.compile(r"(?:^|\s)[A-Z]\.$")


def _inline(text: str) -> str:
    text = _MD_LINK.sub(lambda m: f"{m.group(1)} ({m.group(2)})", text)
    text = _HTML_TAG.sub("", text)
    text = _MD_EMPHASIS.sub("", text)
    text = _MD_ITALIC.sub(r"\1", text)
    return _SPACES.sub(" ", text).strip()


def _split_sentences(paragraph: str) -> list[str]:
    pieces = _SPLIT.split(paragraph)
    out: list[str] = []
    for piece in pieces:
        if out and (out[-1].lower().endswith(_ABBREVIATIONS) or _SINGLE_INITIAL.search(out[-1])):
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
    elif s[-1] not in '.!?)"”':
        s += "."
    if s[0].islower():
        s = s[0].upper() + s[1:]
    return s


def _table_row(header: list[str], cells: list[str]) -> str:
    """A table row as a sentence: "Enterprise: first response 4 hours; coverage 24/7."."""
    head = cells[0]
    rest = []
    for name, cell in zip(header[1:], cells[1:], strict=False):
        if not cell:
            continue
        label = name if name.isupper() else name[:1].lower() + name[1:]
        rest.append(f"{label} {cell}".strip())
    return f"{head}: {'; '.join(rest)}." if rest else f"{head}."


@lru_cache(maxsize=1024)
def _passage_sentences(text: str) -> tuple[_Sentence, ...]:
    """Markdown-aware sentences: headings dropped, tables read row by row, bullets kept whole."""
    out: list[_Sentence] = []
    heading = ""
    unit = 0
    para: list[str] = []
    in_bullet = False
    header: list[str] | None = None

    lead_in = ""  # a sentence ending in ":" introduces the list below it

    def flush(bullet: bool = False) -> None:
        nonlocal unit, para, lead_in
        if para:
            pieces = _split_sentences(_inline(" ".join(para)))
            if bullet and lead_in and pieces and pieces[0][:1].islower():
                pieces[0] = f"{lead_in} {pieces[0]}"  # "Covered: a headlamp that flickers."
            elif not bullet:
                lead_in = pieces[-1] if pieces and pieces[-1].endswith(":") else ""
            for piece in pieces:
                finished = _finish(piece)
                if finished:
                    out.append(_Sentence(finished, heading, unit))
            unit += 1
        para = []

    for line in text.splitlines():
        stripped = line.strip()
        h = _HEADING.match(line)
        if not stripped or h or _RULE.match(line) or stripped.startswith("|"):
            flush(in_bullet)
            in_bullet = False
        if not stripped:
            header = None
            continue
        if h:
            heading = _inline(h.group(1))
            lead_in = ""
            continue
        if _RULE.match(line):
            continue
        if stripped.startswith("|"):
            cells = [_inline(c) for c in stripped.strip("|").split("|")]
            if all(_TABLE_SEP_CELL.match(c) or not c for c in cells):
                continue
            if header is None:
                header = cells
                continue
            row = _finish(_table_row(header, cells))
            if row:
                out.append(_Sentence(row, heading, unit))
                unit += 1
            continue
        header = None
        b = _BULLET.match(line)
        if b:
            flush(in_bullet)
            in_bullet = True
            para = [b.group(1)]
            continue
        para.append(stripped)
    flush(in_bullet)
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


# --- the composer ---------------------------------------------------------------------------


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
        offers: Mapping[str, Sequence[str]] | None = None,
        company_name: str | None = None,
    ) -> None:
        self.acknowledge_window = acknowledge_window
        self.min_prior_score = min_prior_score
        self.min_passage_score = min_passage_score
        self.approved_min_similarity = approved_min_similarity
        self.max_sentences = max(1, max_sentences)
        self.min_confidence = min_confidence
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
        company = self.company_name or context.company_name
        flags: list[str] = []
        needs_human = False
        reasons: list[str] = []

        if injection_signals("\n".join(p for p in (context.subject, context.text) if p)):
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

        label, confidence = _intent(context.triage)
        answer: _Answer | None = None
        if bool(context.triage.get("abstained")):
            reasons.append("triage abstained: check what the customer needs and the team")
            flags.append("abstained")
        elif confidence is not None and confidence < self.min_confidence:
            reasons.append(
                f"intent confidence {confidence:.2f} is below {self.min_confidence:.2f}: "
                "check the intent"
            )
            flags.append("low_confidence")
        else:
            answer = self._approved(context, label) or self._from_passages(context)
            if answer is None:
                reasons.append("no KB article supports an answer: check the KB and answer yourself")
                flags.append("no_kb_support")
        if answer is None:
            needs_human = True
        elif answer.dropped_offer:
            flags.append("declined_offer_filtered")

        follow_up = None
        if style.follow_up:
            outbound = str(metadata.get("direction", "")).lower() == "outbound"
            when = relative_day(context.now, context.sent_at, today="today")
            follow_up = style.follow_up.format(when=when)
            if outbound:
                follow_up = follow_up.replace("speaking with us", "taking our call")

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
        sign_off = (
            style.sign_off.format(agent=context.agent_name, company=company)
            if (style.sign_off)
            else None
        )

        if style.public:
            body, link, stripped = self._public_safe(context, body, link)
            if stripped:
                flags.append("personal_data_removed")

        parts = _Parts(greeting, ack, follow_up, body, link, closing, sign_off)
        if style.max_chars is not None:
            parts, shortened = self._fit(style, parts, answer is not None)
            if shortened:
                flags.append("shortened")
            if not parts.body and answer is not None and not parts.link:
                needs_human = True
        text = parts.render(style)
        if style.public and personal_data(text):
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
        best_key: tuple[datetime, float, str] | None = None
        for prior in context.prior_contacts:
            if prior.message_id == context.message_id or prior.score < self.min_prior_score:
                continue
            prior_channel = canonical_channel(prior.channel)
            if prior_channel == channel or prior_channel not in _ACK_VERBS:
                continue
            sent = _aligned(context.now, prior.sent_at)
            age = context.now - sent
            if age < timedelta(0) or age > self.acknowledge_window:
                continue
            key = (sent, prior.score, prior.message_id)
            if best_key is None or key > best_key:
                best, best_key = prior, key
        if best is None:
            return None, None
        when = relative_day(context.now, best.sent_at)
        verb = _ACK_VERBS[canonical_channel(best.channel)]
        topic = topic_of(best.text)
        about = f" about {topic}" if topic else ""
        return f"I can see you {verb} {when}{about} — let's pick up from there.", best.message_id

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

    def _approved(self, context: DraftContext, label: str | None) -> _Answer | None:
        candidates: list[ApprovedAnswer] = [
            a
            for a in context.approved
            if a.similarity >= self.approved_min_similarity
            and (a.intent is None or label is None or a.intent == label)
        ]
        if not candidates:
            return None
        best = min(candidates, key=lambda a: (-a.similarity, a.id))
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

    def _supported(self, passages: Sequence[Passage]) -> list[Passage]:
        ranked = sorted(passages, key=lambda p: (-p.score, p.chunk_id))
        if not ranked:
            return []
        floor = max(self.min_passage_score, ranked[0].score * RELATIVE_PASSAGE_FLOOR)
        return [p for p in ranked if p.score >= floor][:MAX_PASSAGES]

    def _from_passages(self, context: DraftContext) -> _Answer | None:
        passages = self._supported(context.passages)
        if not passages:
            return None
        query = set(
            _tokens(" ".join(p for p in (context.subject, context.text) if p)[:_QUERY_CHARS])
        )
        if not query:
            return None
        declined = self._declined(context)
        dropped = False
        pool: list[tuple[int, int, _Sentence, tuple[str, ...]]] = []
        for rank, passage in enumerate(passages):
            skip_units: set[int] = set()
            for index, sentence in enumerate(_passage_sentences(passage.text)):
                if declined and (
                    sentence.unit in skip_units
                    or any(p.search(sentence.text) or p.search(sentence.heading) for p in declined)
                ):
                    skip_units.add(sentence.unit)  # the rest of the paragraph is about it too
                    dropped = True
                    continue
                pool.append((rank, index, sentence, _tokens(sentence.text)))
        if not pool:
            return None
        df: dict[str, int] = {}
        for *_, toks in pool:
            for t in toks:
                df[t] = df.get(t, 0) + 1
        n = len(pool)
        counts = [len(_passage_sentences(p.text)) for p in passages]
        scored: list[tuple[float, int, int, _Sentence]] = []
        for rank, index, sentence, toks in pool:
            overlap = [t for t in toks if t in query]
            if not any(not t.isdigit() for t in overlap):
                continue
            lexical = sum(math.log(1 + n / df[t]) for t in overlap) / math.sqrt(max(len(toks), 4))
            heading_overlap = [t for t in _tokens(sentence.heading) if t in query]
            lexical += (
                _HEADING_WEIGHT
                * len(heading_overlap)
                / math.sqrt(max(len(_tokens(sentence.heading)), 2))
            )
            score = lexical * _PASSAGE_WEIGHTS[rank]
            if extract_facts(sentence.text):
                score += _FACT_BONUS
            if rank == 0:
                score += _POSITION_BONUS * (1 - index / max(counts[0], 1))
            scored.append((score, rank, index, sentence))
        if not scored:
            return None
        scored.sort(key=lambda s: (-s[0], s[1], s[2]))
        best_score = scored[0][0]
        chosen = [
            s for s in scored[: self.max_sentences] if s[0] >= best_score * _MIN_SHARE_OF_BEST
        ]
        chosen.sort(key=lambda s: (s[1], s[2]))
        used_ranks = sorted({s[1] for s in chosen})
        chunk_ids = tuple(passages[r].chunk_id for r in used_ranks)
        url = next((passages[r].url for r in used_ranks if passages[r].url), None)
        return _Answer(tuple(s[3].text for s in chosen), chunk_ids, url, None, dropped)

    # -- guardrails ---------------------------------------------------------------------------

    @staticmethod
    def _public_safe(
        context: DraftContext, body: list[str], link: str | None
    ) -> tuple[list[str], str | None, bool]:
        """Drop every sentence of a public reply that carries personal data, a name or a
        customer's order/reference number."""
        names = [w for w in (context.customer.name or "").split() if len(w) > 1]
        name_re = (
            re.compile(r"(?<!\w)(?:" + "|".join(re.escape(w) for w in names) + r")(?!\w)", re.I)
            if names
            else None
        )

        def unsafe(s: str) -> bool:
            return bool(
                personal_data(s)
                or _CODE_REF.search(s)
                or _HASH_REF.search(s)
                or _ORDER_REF.search(s)
                or (name_re and name_re.search(s))
            )

        kept = [s for s in body if not unsafe(s)]
        safe_link = link if link and not unsafe(link) else None
        return kept, safe_link, len(kept) != len(body) or safe_link != link

    def _fit(self, style: ChannelStyle, parts: _Parts, answered: bool) -> tuple[_Parts, bool]:
        """Shorten to `style.max_chars` without cutting a sentence: fewer sentences, then the
        link instead of the text, then no acknowledgement, then no sign-off."""
        limit = style.max_chars
        assert limit is not None
        if len(parts.render(style)) <= limit:
            return parts, False
        body = parts.body
        candidates = [parts.replace(body=body[:keep]) for keep in range(len(body) - 1, 0, -1)]
        if parts.link:
            candidates.append(parts.replace(body=[]))  # the link instead of the text
        last = candidates[-1] if candidates else parts
        candidates.append(last.replace(ack=None))
        candidates.append(last.replace(ack=None, sign_off=None))
        candidates.append(last.replace(ack=None, sign_off=None, greeting=style.greeting_no_name))
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


@dataclass(frozen=True)
class _Parts:
    greeting: str
    ack: str | None
    follow_up: str | None
    body: list[str]
    link: str | None
    closing: list[str]
    sign_off: str | None

    def replace(self, **changes: Any) -> _Parts:
        values = {**self.__dict__, **changes}
        return _Parts(**values)

    def render(self, style: ChannelStyle) -> str:
        blocks: list[str] = []
        if style.kind == "sms" or style.separator == " ":
            pieces = [self.greeting, self.follow_up, self.ack, *self.body, self.link, *self.closing]
            pieces.append(self.sign_off)
            return " ".join(p for p in pieces if p).strip()
        intro = " ".join(p for p in (self.follow_up, self.ack) if p)
        blocks = [
            self.greeting,
            intro,
            " ".join(self.body),
            self.link or "",
            " ".join(self.closing),
        ]
        if self.sign_off:
            blocks.append(self.sign_off)
        return "\n\n".join(b for b in blocks if b).strip()
