"""The LLM drafter: a model writes the reply, our checks decide whether it may be shown.

Steps for one `DraftContext`:
0. Ask the composer's grounding rule (`GroundedComposer.grounding`, the same thresholds) what
   the message may be answered from. Triage abstained or unsure and no passage clearly on
   topic, or no passage relevant enough (and no approved answer): no model call, the
   composer's short draft that asks the clarifying question, marked `needs_human`, with
   `fallback_reason` "needs_human: <what the agent must check>" ("no_sources" when nothing
   was retrieved at all). Triage unsure but a passage clearly on topic: the model answers
   from the relevant passages only (no approved answers of an intent), and the draft is
   flagged like the composer's ("abstained" / "low_confidence") and marked `needs_human`.
1. Build the prompt (`prompts/drafting/reply.vN.md`): numbered KB sources with their chunk
   ids, approved answers, triage, channel style, and, inside `<customer_data>` delimiters,
   the customer's first name, account, conversation, prior contact on another channel and
   message. Personal data in every customer-derived text is replaced by placeholders
   (`core.drafting.pii.mask`, one shared mapping) before anything leaves the process.
2. One `ChatModel.complete_json` call with a per-request JSON schema (the chunk ids it may
   cite are an enum, so grammar-constrained servers cannot invent one).
3. Validate the object, put the personal data back, and check the reply: it cites at least
   one chunk, only chunks it was given, and every number, amount, duration, date,
   percentage and URL it states appears in a cited source or in the customer's own data.
4. Any failure (timeout, endpoint error, malformed output, no or unknown citation,
   unsupported facts, ...) → the fallback drafter's reply (the grounded composer), with
   `fallback_reason` saying why and the prompt id/version and model still recorded.

Customer text is data: prompt-injection signals are flagged on the draft in both paths, and
never change the rules, which live in the system message only.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from string import Template
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from rapidfuzz import fuzz

from core.drafting import pii
from core.drafting.composer import (
    GroundedComposer,
    Grounding,
    default_offers,
    unsafe_in_public_reply,
)
from core.drafting.context import Draft, DraftContext, Drafter, Passage, PriorContact
from core.drafting.facts import unsupported_facts
from core.drafting.injection import message_signals
from core.drafting.style import canonical_channel, display_name, is_public_post, style_for
from core.errors import TransientError
from core.ports import ChatModel

log = logging.getLogger(__name__)

INJECTION_FLAG = "prompt_injection"
_UNSURE_FLAGS = frozenset({"abstained", "low_confidence"})  # `Grounding.flags`
MAX_SOURCES = 6
MAX_APPROVED = 2
MAX_TURNS = 6
MAX_TEXT_CHARS = 1500  # per customer text in the prompt
MAX_SOURCE_CHARS = 1200  # per KB passage in the prompt
MAX_FACTS = 8

# Words a reply uses when it acknowledges an earlier contact on that channel.
_CHANNEL_WORDS = {
    "phone": ("call", "phone", "spoke"),
    "email": ("email", "e-mail", "mail"),
    "chat": ("chat",),
    "sms": ("sms", "text message"),
    "whatsapp": ("whatsapp",),
    "facebook": ("facebook",),
    "instagram": ("instagram",),
    "x": ("twitter", "tweet", " x "),
    "webform": ("form",),
}
_PLACEHOLDER = re.compile(r"\[(?:EMAIL|PHONE|CARD|IBAN|ADDRESS)_\d+\]")
_DELIMITER = re.compile(r"</?\s*customer_data\s*>", re.IGNORECASE)
_SPECIAL_TOKEN = re.compile(r"<\|([^|<>]{0,40})\|>")  # chat-template tokens (<|im_start|>)


class ReplyPrompt(Protocol):
    """A loaded prompt version (`prompts.registry.Prompt` fits)."""

    @property
    def id(self) -> str: ...

    @property
    def version(self) -> int: ...

    @property
    def meta(self) -> Mapping[str, Any]: ...

    def render(self, **values: str) -> tuple[str, str]:
        """(system, user) with every `$name` filled."""
        ...


# "<the reply text>", "<fact>", "[phone_number]": slots of a template, not a reply (nor HTML
# such as "<br>", nor our own placeholders such as "[PHONE_1]", which are upper case)
_TEMPLATE_SLOT = re.compile(
    r"<(?:[a-z]+(?: [a-z]+){1,6}|fact|reply|text|answer|name|id)>|\[[a-z]+(?:_[a-z]+)*\]"
)
# the prompt's own markup or field labels ("Sentiment: Neutral" is not a reply)
_PROMPT_MARKUP = re.compile(
    r"</?customer_data>|^\s*(?:SOURCES|Message to answer|Triage|Channel|Sentiment|Intent|"
    r"Prior contact on another channel|Declined by the customer)\s*:",
    re.MULTILINE | re.IGNORECASE,
)
ECHO_SIMILARITY = 90  # rapidfuzz ratio (0-100) above which a reply just repeats the message


def _echoes(reply: str, message: str) -> bool:
    """True when the reply is (nearly) the customer's message repeated."""
    return bool(message.strip()) and (
        fuzz.ratio(reply.casefold(), message.strip().casefold()) >= ECHO_SIMILARITY
    )


class LLMAnswer(BaseModel):
    """The JSON object the model must return."""

    model_config = ConfigDict(extra="ignore")

    reply: str = Field(min_length=1)
    cited_chunk_ids: list[str] = Field(default_factory=list)
    facts_used: list[str] = Field(default_factory=list)


@dataclass(frozen=True)
class _Request:
    system: str
    user: str
    schema: dict[str, Any]
    mapping: dict[str, str]  # placeholder → original (core.drafting.pii)
    max_chars: int | None
    public: bool
    allowed: dict[str, list[str]]  # citable chunk id → source texts that back it
    customer_data: list[str]  # the customer's own data, unmasked (facts may come from here)
    message_data: list[str]  # the message and subject (not a fact source if injection-flagged)
    prior_contact_id: str | None
    prior_contact_channel: str | None


class _Rejected(Exception):
    """The model's answer failed a check; the message is the fallback reason."""


class LLMDrafter:
    """Drafts with a chat model; falls back to `fallback` whenever the answer is not safe."""

    name = "llm"

    def __init__(
        self,
        chat: ChatModel,
        fallback: Drafter,
        prompt: ReplyPrompt,
        timeout_s: float,
        *,
        phone_region: str = "US",
        grounding: Callable[[DraftContext], Grounding] | None = None,
    ) -> None:
        self.chat = chat
        self.phone_region = phone_region
        self.fallback = fallback
        self.prompt = prompt
        self.timeout_s = timeout_s
        # The composer's rule and thresholds (the fallback's own when it is the composer), so
        # that both drafters agree on when a message needs a human.
        if grounding is None:
            composer = fallback if isinstance(fallback, GroundedComposer) else GroundedComposer()
            grounding = composer.grounding
        self.grounding = grounding

    def draft(self, context: DraftContext) -> Draft:
        """The model's reply if it passes every check, else the fallback's, with the reason."""
        flags = self._flags(context)
        try:
            grounding = self.grounding(context)
            if not grounding.supported:
                if not (grounding.unsure or context.passages or context.approved):
                    return self._fall_back(context, "no_sources", flags)
                # the composer's short draft that asks or says what to check, never a model's
                return self._fall_back(context, "needs_human", flags, detailed=True)
            request = self._request(context, grounding)
        except Exception as exc:  # noqa: BLE001 - bad customer input must not break drafting
            log.exception("building the LLM prompt failed for message %s", context.message_id)
            return self._fall_back(context, f"llm_error: prompt: {type(exc).__name__}", flags)
        if not request.allowed:
            return self._fall_back(context, "no_sources", flags)
        flags = [*flags, *grounding.flags]
        try:
            raw = self.chat.complete_json(
                request.system, request.user, request.schema, self.timeout_s
            )
        except TimeoutError:
            return self._fall_back(context, "timeout", flags)
        except TransientError as exc:
            return self._fall_back(context, f"llm_error: {exc}", flags)
        except ValueError as exc:
            log.info("malformed LLM output for message %s: %s", context.message_id, exc)
            return self._fall_back(context, "malformed_output", flags)
        except Exception as exc:  # noqa: BLE001 - an adapter bug must not lose the draft
            log.exception("LLM call failed for message %s", context.message_id)
            return self._fall_back(context, f"llm_error: {type(exc).__name__}: {exc}", flags)
        try:
            answer = LLMAnswer.model_validate(raw)
        except ValidationError as exc:
            log.info("LLM answer of message %s fails the schema: %s", context.message_id, exc)
            return self._fall_back(context, "malformed_output", flags)
        try:
            return self._accept(context, request, answer, flags)
        except _Rejected as rejected:
            return self._fall_back(context, str(rejected), flags)
        except Exception as exc:  # noqa: BLE001
            log.exception("checking the LLM answer failed for message %s", context.message_id)
            return self._fall_back(context, f"llm_error: check: {type(exc).__name__}", flags)

    # --- the prompt ---------------------------------------------------------------------------
    def _request(self, context: DraftContext, grounding: Grounding) -> _Request:
        style = style_for(context.channel, public=is_public_post(context.metadata or {}))
        masker = _Masker(self.phone_region)
        customer = context.customer
        first_name = (customer.name or "").split()[0] if (customer.name or "").strip() else ""
        if style.public:
            first_name = ""  # a public reply names nobody
        customer_line = ", ".join(
            part
            for part in (
                f"first name {masker(first_name)}" if first_name else "name unknown",
                f"account {masker(customer.account_name)}" if customer.account_name else "",
                "VIP" if customer.vip else "",
            )
            if part
        )
        message = masker(context.text)
        subject = masker(context.subject) if context.subject else "(none)"
        prior = None if style.public else _prior_contact(context)
        prior_text = "none"
        if prior is not None:
            prior_text = (
                f"{display_name(prior.channel)} on {prior.sent_at:%Y-%m-%d} "
                f"(reference {prior.reference}): {masker(prior.text)}"
            )
            reply = _our_reply(context, prior)
            if reply is not None:  # what an agent answered then (accepted or edited)
                prior_text += f"\nOur reply then: {masker(reply.text)}"
        turns = context.conversation[-MAX_TURNS:]
        conversation = (
            "\n".join(
                f"- {'customer' if t.direction == 'inbound' else 'us'} ({t.channel}, "
                f"{t.sent_at:%Y-%m-%d}): {masker(t.text)}"
                for t in turns
            )
            or "(none)"
        )

        # the passages relevant enough to answer from, in the retrieval's order
        relevant = {p.chunk_id for p in grounding.passages}
        passages = [p for p in context.passages if p.chunk_id in relevant][:MAX_SOURCES]
        allowed: dict[str, list[str]] = {}
        source_lines = []
        for n, passage in enumerate(passages, 1):
            allowed.setdefault(passage.chunk_id, []).extend(_passage_texts(passage))
            url = f" | {passage.url}" if passage.url else ""
            source_lines.append(
                f"[S{n}] chunk: {passage.chunk_id} | {passage.title}{url}\n"
                f"{_clip(passage.text, MAX_SOURCE_CHARS)}"
            )
        # Approved answers were written for other customers: masked with a copy of the mapping
        # (numbering continues, so their placeholders never unmask to this customer's data)
        # that is thrown away; only their chunk ids are citable.
        others = _Masker(self.phone_region, dict(masker.mapping))
        approved_lines = []
        # an approved answer belongs to an intent: not reused when triage is unsure of it
        approved = () if grounding.unsure else context.approved[:MAX_APPROVED]
        for n, answer in enumerate(approved, 1):
            for chunk_id in answer.chunk_ids:
                allowed.setdefault(chunk_id, []).append(answer.text)
            approved_lines.append(
                f"[A{n}] chunks: {', '.join(answer.chunk_ids) or '(none)'}\n"
                f"Q: {others(answer.question)}\nA: {others(answer.text)}"
            )

        styles: Mapping[str, str] = self.prompt.meta.get("channel_styles") or {}
        channel_style = Template(
            styles.get(style.kind) or styles.get("email") or ""
        ).safe_substitute(agent=context.agent_name, company=context.company_name)
        triage = context.triage or {}
        triage_text = ", ".join(
            f"{key} {triage[key]}"
            for key in ("intent", "priority", "sentiment", "language")
            if triage.get(key) not in (None, "")
        )
        declined = ", ".join(o.replace("_", " ") for o in customer.declined_offers) or "nothing"
        system, user = self.prompt.render(
            company=context.company_name,
            channel_style=channel_style.strip(),
            channel=display_name(context.channel) + (" (public post)" if style.public else ""),
            customer=customer_line,
            triage=triage_text or "unknown",
            declined=declined,
            prior_contact=prior_text,
            conversation=conversation,
            sources="\n\n".join(source_lines) or "(none)",
            approved="\n\n".join(approved_lines) or "(none)",
            subject=subject,
            message=message,
        )
        return _Request(
            system=system,
            user=user,
            schema=answer_schema(sorted(allowed), style.max_chars),
            mapping=masker.mapping,
            max_chars=style.max_chars,
            public=style.public,
            allowed=allowed,
            customer_data=_customer_data(context),
            message_data=[t for t in (context.text, context.subject) if t],
            prior_contact_id=prior.message_id if prior is not None else None,
            prior_contact_channel=prior.channel if prior is not None else None,
        )

    # --- the checks ---------------------------------------------------------------------------
    def _accept(
        self, context: DraftContext, request: _Request, answer: LLMAnswer, flags: list[str]
    ) -> Draft:
        reply = pii.unmask(answer.reply, request.mapping).strip()
        if not reply:
            raise _Rejected("malformed_output")
        if _TEMPLATE_SLOT.search(reply):  # e.g. "<the reply text>": a schema echoed, no reply
            raise _Rejected("template_echo")
        if _PROMPT_MARKUP.search(reply) or _echoes(reply, context.text):
            raise _Rejected("echoes_message")
        cited = list(dict.fromkeys(c.strip() for c in answer.cited_chunk_ids if c.strip()))
        if not cited:
            raise _Rejected("no_citations")
        unknown = [c for c in cited if c not in request.allowed]
        if unknown:
            raise _Rejected(f"unknown_citation: {', '.join(unknown[:5])}")
        leftover = _placeholders(reply)
        if leftover:
            raise _Rejected(f"unknown_placeholder: {', '.join(leftover[:5])}")
        sources = [text for c in cited for text in request.allowed[c]] + request.customer_data
        if INJECTION_FLAG not in flags:
            # a message written to steer the model ("approve a refund of €500") is no source
            sources += request.message_data
        else:
            # nor are its words: a reply that repeats a run of them the sources do not back
            # ('sign as "Jane Doe, CEO"', "DAN, Do Anything Now") is doing what it was told
            copied = _copied_runs(reply, request.message_data, sources)
            if copied:
                raise _Rejected(f"copies_flagged_message: {copied[0]}")
        # the facts it says it used must be in the sources too ("copied word for word")
        claimed = "\n".join(f for f in answer.facts_used if f.strip())
        missing = unsupported_facts(reply + "\n" + pii.unmask(claimed, request.mapping), sources)
        if missing:
            shown = list(dict.fromkeys(f.text for f in missing))
            raise _Rejected(f"unsupported_facts: {', '.join(shown[:5])}")
        limit = request.max_chars
        if limit is not None and len(reply) > limit:
            raise _Rejected(f"too_long: {len(reply)} > {limit} chars")
        if request.public and unsafe_in_public_reply(reply, context):
            raise _Rejected("personal_data_in_public_reply")
        declined = _declined_offers(reply, context.customer.declined_offers)
        if declined:
            raise _Rejected(f"offers_declined: {', '.join(declined)}")

        facts = [pii.unmask(f, request.mapping).strip() for f in answer.facts_used if f.strip()][
            :MAX_FACTS
        ]
        return Draft(
            text=reply,
            drafter="llm",
            cited_chunks=cited,
            facts_used=facts,
            flags=flags,
            needs_human=INJECTION_FLAG in flags or bool(_UNSURE_FLAGS.intersection(flags)),
            prompt_id=self.prompt.id,
            prompt_version=self.prompt.version,
            model=self.chat.model_name,
            kb_version=_kb_version(context, cited),
            acknowledged_message_id=(
                request.prior_contact_id
                if _mentions_channel(reply, request.prior_contact_channel)
                else None
            ),
        )

    def _flags(self, context: DraftContext) -> list[str]:
        try:  # the text and subject, and what an HTML email hid from its reader
            signals = message_signals(context.subject, context.text, context.metadata)
        except Exception:  # noqa: BLE001 - a detector bug must not stop drafting
            log.exception("injection detection failed for message %s", context.message_id)
            signals = []
        return [INJECTION_FLAG] if signals else []

    def _fall_back(
        self, context: DraftContext, reason: str, flags: Sequence[str], *, detailed: bool = False
    ) -> Draft:
        """The fallback's draft, with `reason`; `detailed` adds the fallback's own reason (what
        the agent must check) after it: "needs_human: triage abstained: check …"."""
        log.info("LLM draft of message %s falls back: %s", context.message_id, reason)
        draft = self.fallback.draft(context)
        merged = list(dict.fromkeys([*draft.flags, *flags]))
        if detailed and draft.fallback_reason:
            reason = f"{reason}: {draft.fallback_reason}"
        return dataclasses.replace(
            draft,
            flags=merged,
            needs_human=(
                draft.needs_human
                or detailed
                or INJECTION_FLAG in merged
                or bool(_UNSURE_FLAGS.intersection(merged))
            ),
            fallback_reason=reason,
            prompt_id=self.prompt.id,
            prompt_version=self.prompt.version,
            model=self.chat.model_name,
        )


def answer_schema(chunk_ids: Sequence[str], max_chars: int | None = None) -> dict[str, Any]:
    """The JSON schema of the answer; `chunk_ids` are the only citable ids."""
    reply: dict[str, Any] = {"type": "string", "minLength": 1}
    if max_chars is not None:
        reply["maxLength"] = max_chars
    return {
        "title": "draft_reply",
        "description": "Submit the reply to the customer with the chunk ids it is based on.",
        "type": "object",
        "properties": {
            "reply": reply,
            "cited_chunk_ids": {
                "type": "array",
                "items": {"type": "string", "enum": list(chunk_ids)},
                "minItems": 1,
            },
            "facts_used": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["reply", "cited_chunk_ids", "facts_used"],
        "additionalProperties": False,
    }


class _Masker:
    """Masks texts with one shared placeholder mapping and strips our delimiters."""

    def __init__(self, region: str, mapping: dict[str, str] | None = None) -> None:
        self.region = region
        self.mapping: dict[str, str] = mapping if mapping is not None else {}

    def __call__(self, text: str | None) -> str:
        if not text:
            return ""
        clean = _SPECIAL_TOKEN.sub(r"<\1>", _DELIMITER.sub(" ", text))
        clean = _clip(clean, MAX_TEXT_CHARS)
        return pii.mask(clean, self.mapping, region=self.region).text


def _clip(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _passage_texts(passage: Passage) -> list[str]:
    return [t for t in (passage.title, passage.text, passage.url) if t]


def _prior_contact(context: DraftContext) -> PriorContact | None:
    """The most similar earlier message of the customer on another channel, if any."""
    others = [
        p
        for p in context.prior_contacts
        if not p.same_conversation and p.channel != context.channel and p.direction == "inbound"
    ]
    return max(others, key=lambda p: p.score, default=None)


def _our_reply(context: DraftContext, prior: PriorContact) -> PriorContact | None:
    """The reply an agent sent after `prior` in its conversation (from the history), if any."""
    replies = [
        p
        for p in context.prior_contacts
        if p.direction == "outbound"
        and p.reference == prior.reference
        and p.sent_at >= prior.sent_at
    ]
    return min(replies, key=lambda p: (p.sent_at, p.message_id), default=None)


def _customer_data(context: DraftContext) -> list[str]:
    """Customer texts besides the message that back facts (order numbers, dates, amounts)."""
    c = context.customer
    texts: list[str] = [context.reference]
    texts += [c.name or "", c.account_name or "", c.account_manager or ""]
    texts += _strings(c.attributes.values())
    texts += [context.company_name, context.agent_name]
    texts += [t.text for t in context.conversation]
    for p in context.prior_contacts:
        texts += [p.text, p.reference, f"{p.sent_at:%Y-%m-%d} {p.sent_at.day} {p.sent_at:%B}"]
    sent = context.sent_at
    texts.append(f"{sent:%Y-%m-%d} {sent.day} {sent:%B}")
    return [t for t in texts if t]


def _strings(values: Iterable[Any]) -> list[str]:
    out: list[str] = []
    for value in values:
        if isinstance(value, str | int | float):
            out.append(str(value))
        elif isinstance(value, Mapping):
            out += _strings(value.values())
        elif isinstance(value, list | tuple):
            out += _strings(value)
    return out


_WORD = re.compile(r"\w+")
COPY_RUN_WORDS = 5  # words in a row that a reply may not take from an injection-flagged message


def _runs(text: str, n: int = COPY_RUN_WORDS) -> set[tuple[str, ...]]:
    words = _WORD.findall(text.casefold())
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def _copied_runs(reply: str, message: Sequence[str], sources: Sequence[str]) -> list[str]:
    """Runs of `COPY_RUN_WORDS` words the reply shares with the message and no source has."""
    shared = _runs(reply) & set().union(*(_runs(m) for m in message))
    if not shared:
        return []
    backed: set[tuple[str, ...]] = set().union(*(_runs(s) for s in sources))
    return sorted(" ".join(run) for run in shared - backed)


def _placeholders(text: str) -> list[str]:
    return _PLACEHOLDER.findall(text)


def _kb_version(context: DraftContext, cited: Sequence[str]) -> int | None:
    if context.kb_version is not None:
        return context.kb_version
    versions = [p.kb_version for p in context.passages if p.chunk_id in cited]
    return max(versions, default=None)


def _mentions_channel(reply: str, channel: str | None) -> bool:
    if channel is None:
        return False
    c = canonical_channel(channel)
    lowered = f" {reply.lower()} "
    return any(word in lowered for word in _CHANNEL_WORDS.get(c, (c,)))


def _declined_offers(reply: str, declined: Sequence[str]) -> list[str]:
    """The declined offer keys the reply mentions (by key or a known phrase of the offer)."""
    offers = default_offers()
    found = []
    for key in declined:
        phrases = [*offers.get(key, ()), key.replace("_", " ")]
        if any(re.search(rf"(?<!\w){re.escape(p)}(?!\w)", reply, re.IGNORECASE) for p in phrases):
            found.append(key)
    return found
