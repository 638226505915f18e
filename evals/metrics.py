"""Eval metrics: ranking over labelled queries, and answer consistency of eval suites."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


def first_rank(ranked: Sequence[str], expected: str) -> int | None:
    """1-based rank of `expected` among distinct items of `ranked`, or None."""
    seen: list[str] = []
    for item in ranked:
        if item not in seen:
            seen.append(item)
            if item == expected:
                return len(seen)
    return None


@dataclass(frozen=True)
class RankingScores:
    """recall@1, recall@5 and MRR (reciprocal rank, 0 when not found) over n queries."""

    n: int
    recall_at_1: float
    recall_at_5: float
    mrr: float


def ranking_scores(ranks: Sequence[int | None]) -> RankingScores:
    """Scores from the rank of the right answer for each query."""
    n = len(ranks)
    if n == 0:
        return RankingScores(0, 0.0, 0.0, 0.0)
    return RankingScores(
        n=n,
        recall_at_1=sum(1 for r in ranks if r == 1) / n,
        recall_at_5=sum(1 for r in ranks if r is not None and r <= 5) / n,
        mrr=sum(1.0 / r for r in ranks if r is not None) / n,
    )


# --- answer consistency (issue 6) ----------------------------------------------------------
#
# Every score is a share in [0, 1] (None when nothing it applies to was in the suite). The
# definitions, per cluster; "overall" and "per intent" aggregate them as documented on
# `summarize`:
#
# - team_accuracy / intent_accuracy: variants routed to the expected team / intent.
# - recall_at_k / mrr: the expected article (any of `expected_articles`) among the distinct
#   documents of the k passages the drafter was given (k = THREADLINE_DRAFT_KB_K), and the
#   reciprocal of its rank (0 when absent).
# - citation_accuracy: variants whose draft cites an expected article.
# - citation_agreement: variants whose draft gives the cluster's modal answer: cites the
#   modal article (the one most variants cite; ties go to an expected article, then
#   alphabetically) or, when the expected articles are translations of one answer, any of
#   them (see `answer_keys`).
# - fact_consistency: 1 when every variant's answer states the same set of facts
#   (core.drafting.facts canonical values), else 0.
# - fact_recall: variants whose answer states every expected fact.
# - fact_agreement: 1 when the fact sets are identical AND contain every expected fact
#   (the answers may state more), else 0. Facts are those of the answer without its link
#   line to the cited article (`answer_text(..., link=False)`): which article is cited is
#   what citation_agreement measures (a German customer gets the German article's link).
# - semantic_agreement / semantic_agreement_min: mean and minimum pairwise cosine of the
#   answer parts (greeting, acknowledgement, sign-off removed) of the cluster's drafts.
# - faithfulness: drafts with no fact missing from their cited sources and the customer's data.
# - personalization: drafts that name the earlier contact's channel, over variants whose
#   persona has a prior contact on another channel (within the acknowledge window; not
#   public replies).
# - public_privacy: public replies without personal data (core.drafting.pii) or the name.
# - declined_offers: drafts that do not re-offer an offer the persona declined.
# - stability: with --repeat N, variants whose N drafts are identical (the conversation
#   reference aside).
# - stability_fact_agreement: with --repeat N, variants whose N answers state the same set
#   of facts (an LLM may reword, but must not change a number).
# - stability_semantic_agreement: with --repeat N, the mean pairwise cosine of the answers
#   of the N repeats of each variant (1.0 for identical drafts), mean over variants.

METRICS: dict[str, str] = {
    "team_accuracy": "variants routed to the expected team",
    "intent_accuracy": "variants classified as the expected intent",
    "recall_at_k": "expected article among the passages the drafter saw",
    "mrr": "mean reciprocal rank of the expected article",
    "citation_accuracy": "drafts citing an expected article",
    "citation_agreement": "drafts citing the cluster's modal article or its expected "
    "translation (mean over clusters)",
    "fact_agreement": "clusters whose drafts state identical facts, with every expected one",
    "fact_consistency": "clusters whose drafts state identical fact sets",
    "fact_recall": "drafts stating every expected fact",
    "semantic_agreement": "mean pairwise cosine of the answers (mean over clusters)",
    "semantic_agreement_min": "lowest pairwise cosine of the answers in any cluster",
    "faithfulness": "drafts whose every fact is in a cited source or the customer's data",
    "personalization": "drafts naming the prior contact's channel (when there is one)",
    "public_privacy": "public replies without personal data",
    "declined_offers": "drafts not re-offering a declined offer",
    "stability": "variants with identical drafts over --repeat runs",
    "stability_fact_agreement": "variants whose --repeat answers state identical facts",
    "stability_semantic_agreement": "mean pairwise cosine of a variant's --repeat answers",
    "consistent_clusters": "clusters with full citation and fact agreement",
    "needs_human_rate": "drafts flagged needs_human (lower is better: a bar is a maximum)",
}
HIGHER_IS_BETTER = {name: name != "needs_human_rate" for name in METRICS}


@dataclass
class VariantOutcome:
    """What the pipeline made of one variant (plain data: the runner fills it in)."""

    cluster_id: str
    variant_id: str
    channel: str
    customer: str
    public: bool
    text: str
    draft: str
    answer: str
    team: str | None = None
    intent: str | None = None
    intent_confidence: float = 0.0
    team_confidence: float = 0.0
    abstained: bool = False
    drafter: str | None = None
    flags: list[str] = field(default_factory=list)
    needs_human: bool = False
    fallback_reason: str | None = None
    cited_chunks: list[str] = field(default_factory=list)
    cited_documents: list[str] = field(default_factory=list)
    retrieved_documents: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)
    prior_channels: list[str] = field(default_factory=list)  # other-channel priors in window
    personalized: bool | None = None  # None: not applicable
    public_pii: list[str] = field(default_factory=list)
    declined: list[str] = field(default_factory=list)
    reoffered: list[str] = field(default_factory=list)
    repeats: list[str] = field(default_factory=list)  # normalized drafts of every repeat
    stable: bool | None = None
    repeat_facts_agree: bool | None = None  # --repeat: identical fact sets over the repeats
    repeat_semantic: float | None = None  # --repeat: mean pairwise cosine of the answers
    message_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class ClusterExpectation:
    """What a cluster expects (a view of evals.suite.Cluster without the variants)."""

    id: str
    expected_articles: list[str] = field(default_factory=list)
    expected_team: str | None = None
    expected_intent: str | None = None
    expected_facts: list[str] = field(default_factory=list)
    # KB `language` of the expected articles (front matter), filled in by the runner: it
    # tells whether the expected articles are translations of one answer (`answer_keys`).
    article_languages: dict[str, str] = field(default_factory=dict)

    @property
    def answers(self) -> bool:
        """Whether the cluster checks answers (not only routing)."""
        return bool(self.expected_articles or self.expected_facts)


# -- answer parts ---------------------------------------------------------------------------

_GREETING = re.compile(
    r"^\s*(?:hi|hello|hey|dear|good (?:morning|afternoon|evening))\b[^\n,!.?]{0,80}[,!]\s*", re.I
)
_TEMPLATE_SENTENCES = (
    re.compile(r"\bI can see you\b", re.I),
    re.compile(r"^Thank you for (?:speaking with us|taking our call)\b", re.I),
    re.compile(r"^Here is a short summary", re.I),
    re.compile(r"^On the call,", re.I),  # the phone follow-up's summary of the customer's call
    re.compile(r"^If anything is still unclear", re.I),
    re.compile(r"^Please send us a direct message\b", re.I),
    re.compile(r"^DM us your order details\b", re.I),
)
# The pointer to the cited article ("You can find the details here: URL", "Details: URL" on
# SMS, or the bare URL): which article is cited is what the citation metrics measure.
_LINK_LINES = (
    re.compile(r"^(?:You can find the details here:|Details:)\s*\S+$", re.I),
    re.compile(r"^(?:https?://|www\.)\S+$", re.I),
)
_SIGN_OFF = re.compile(
    r"(?:\n\s*(?:kind|best|warm)?\s*regards,?[\s\S]*$)|(?:\s+-(?:\s+[^\n.!?]{1,80})?\s*$)", re.I
)
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(]|https?://|www\.)|\n+")


def answer_text(draft: str, *, link: bool = True) -> str:
    """The answer of a reply, without greeting, acknowledgement of a prior contact, call
    follow-up, DM invitation and sign-off (those differ by channel and person by design);
    with `link=False` also without the line linking the cited article (what the fact
    metrics compare: the article itself is compared by the citation metrics)."""
    text = _SIGN_OFF.sub("", draft.strip())
    text = _GREETING.sub("", text, count=1)
    sentences = [s.strip() for s in _SENTENCE_SPLIT.split(text) if s and s.strip()]
    drop = _TEMPLATE_SENTENCES if link else (*_TEMPLATE_SENTENCES, *_LINK_LINES)
    kept = [s for s in sentences if not any(p.search(s) for p in drop)]
    return " ".join(kept).strip()


def fact_values(text: str) -> list[str]:
    """Sorted distinct canonical fact values of `text`."""
    from core.drafting.facts import extract_facts

    return sorted({f.value for f in extract_facts(text)})


def expected_present(expected: str, facts: Iterable[str], answer: str) -> bool:
    """Whether an expected fact is stated: by canonical value ("thirty days" = "30 days"),
    or, for a policy term without a number, as words in the answer (case-insensitive)."""
    values = fact_values(expected)
    if values:
        have = set(facts)
        return all(v in have for v in values)
    return expected.strip().lower() in answer.lower()


_CHANNEL_MENTION = {
    "email": r"e-?mail",
    "sms": r"SMS|text(?:ed)? (?:message|us)|texted",
    "phone": r"call(?:ed)?|phone",
    "chat": r"chat",
    "whatsapp": r"WhatsApp",
    "facebook": r"Facebook",
    "instagram": r"Instagram",
    "twitter": r"(?-i:\bX\b)|Twitter",  # the capital letter only: "2 x cables" is no X
    "x": r"(?-i:\bX\b)|Twitter",
    "web_form": r"web ?form",
    "webform": r"web ?form",
}


def mentions_channel(text: str, channel: str) -> bool:
    """Whether a reply names a channel ("messaged us on Facebook", "called us")."""
    pattern = _CHANNEL_MENTION.get(channel, re.escape(channel))
    return bool(re.search(rf"(?<!\w)(?:{pattern})", text, re.I))


def _phrase_pattern(phrase: str) -> str:
    """A phrase as a pattern: any spacing or hyphen between its words, a plural at the end
    ("extended warranty" finds "extended-warranty" and "extended warranties")."""
    words = phrase.split()
    if not words:
        return ""
    last = words[-1]
    if last.lower().endswith("y") and len(last) > 2:
        tail = re.escape(last[:-1]) + r"(?:y|ies)"
    else:
        tail = re.escape(last) + r"(?:s|es)?"
    return r"[\s-]+".join([*(re.escape(w) for w in words[:-1]), tail])


def offer_mentioned(text: str, key: str, phrases: Iterable[str]) -> bool:
    """Whether a reply mentions an offer by one of its phrases or its key (any case,
    spacing or hyphenation, singular or plural)."""
    patterns = [_phrase_pattern(w) for w in (*phrases, key.replace("_", " "))]
    return any(re.search(rf"(?<!\w){p}(?!\w)", text, re.I) for p in patterns if p)


def public_personal_data(
    draft: str, name: str | None, published: Iterable[str], region: str = "US"
) -> list[str]:
    """Personal data in a public reply: the kinds core.drafting.pii finds ("email", "phone",
    ...), except values the company publishes itself (an address or number that appears in
    `published`: the cited KB passages, the signature), and "name" when a word of the
    customer's name (two letters or more, as written) appears."""
    from core.drafting.pii import mask

    public = " ".join(published).lower()
    masked = mask(draft, region=region)
    kinds: list[str] = []
    for placeholder, original in sorted(masked.mapping.items()):
        if original.lower() in public:
            continue
        kind = {"EMAIL": "email", "PHONE": "phone", "CARD": "card", "IBAN": "iban"}.get(
            placeholder.strip("[]").rsplit("_", 1)[0], "address"
        )
        if kind not in kinds:
            kinds.append(kind)
    order = ["email", "phone", "card", "iban", "address"]
    kinds.sort(key=order.index)
    words = [w for w in (name or "").split() if len(w) > 1]
    if any(re.search(rf"(?<!\w){re.escape(w)}(?!\w)", draft) for w in words):
        kinds.append("name")
    return kinds


# -- per cluster ----------------------------------------------------------------------------


def _share(flags: Iterable[bool | None]) -> float | None:
    values = [bool(f) for f in flags if f is not None]
    return sum(values) / len(values) if values else None


def _rank(retrieved: list[str], expected: list[str]) -> int | None:
    ranks = [r for r in (first_rank(retrieved, e) for e in expected) if r is not None]
    return min(ranks) if ranks else None


TRANSLATIONS = "(expected translations)"  # the answer key of a translated expected article


def translated_answer(expected: Sequence[str], languages: Mapping[str, str]) -> bool:
    """Whether a cluster's expected articles are one answer in several languages: two or
    more, each with a known KB language, no two in the same language."""
    langs = [languages.get(a) for a in expected]
    return len(expected) > 1 and all(langs) and len(set(langs)) == len(langs)


def answer_keys(
    cited: Iterable[str], expected: Sequence[str], languages: Mapping[str, str]
) -> list[str]:
    """The answers a draft gives by the articles it cites (distinct, in order).

    The KB has no link between an article and its translation (the front matter only has
    `language`), so the suite defines it: when the expected articles of a cluster are all
    in different languages (`translated_answer`), they are taken as the same answer
    translated, and each of them has the one key TRANSLATIONS (a German variant answered
    from the German article agrees with the English variants answered from the English one).
    Every other article, and every expected article of a cluster with two expected
    articles in one language (alternatives such as `refund-timing` / `refund-status`, which
    are different articles) or a language unknown, is its own answer."""
    translated = translated_answer(expected, languages)
    keys = (TRANSLATIONS if translated and d in expected else d for d in cited)
    return list(dict.fromkeys(keys))


def modal_answer(
    outcomes: list[VariantOutcome],
    expected: Sequence[str],
    languages: Mapping[str, str] | None = None,
) -> tuple[str | None, list[str]]:
    """(answer key, its articles) that most drafts of a cluster give, by `answer_keys`.
    Ties go to an expected article (or the expected translations), then by name. The
    articles of TRANSLATIONS are the expected ones; of any other key, the article itself."""
    langs = languages or {}
    counts = Counter(k for o in outcomes for k in answer_keys(o.cited_documents, expected, langs))
    if not counts:
        return None, []
    key = min(counts, key=lambda k: (-counts[k], k != TRANSLATIONS and k not in expected, k))
    return key, (list(expected) if key == TRANSLATIONS else [key])


def modal_article(
    outcomes: list[VariantOutcome],
    expected: Sequence[str],
    languages: Mapping[str, str] | None = None,
) -> str | None:
    """The article of the modal answer most drafts cite (ties: the order of `expected`,
    then by name): without translations, the article most drafts cite (ties: an expected
    one, then by name)."""
    _, articles = modal_answer(outcomes, expected, languages)
    if not articles:
        return None
    counts = Counter(d for o in outcomes for d in dict.fromkeys(o.cited_documents))
    order = {a: i for i, a in enumerate(expected)}
    return min(articles, key=lambda d: (-counts[d], order.get(d, len(order)), d))


def cosine_matrix(vectors: Sequence[Sequence[float]]) -> list[list[float]]:
    """Pairwise cosine similarities."""
    import numpy as np

    matrix = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    unit = matrix / np.where(norms > 0, norms, 1.0)
    result: list[list[float]] = (unit @ unit.T).tolist()
    return result


def pairwise(vectors: list[list[float]]) -> tuple[float | None, float | None]:
    """Mean and minimum pairwise cosine (None with fewer than two vectors)."""
    if len(vectors) < 2:
        return None, None
    m = cosine_matrix(vectors)
    sims = [m[i][j] for i in range(len(vectors)) for j in range(i + 1, len(vectors))]
    return sum(sims) / len(sims), min(sims)


def cluster_scores(
    cluster: ClusterExpectation,
    outcomes: list[VariantOutcome],
    answer_vectors: list[list[float]] | None = None,
) -> dict[str, Any]:
    """Every metric of one cluster (see the definitions above); None where not applicable."""
    n = len(outcomes)
    out: dict[str, Any] = {"n": n}
    out["team_accuracy"] = (
        _share(o.team == cluster.expected_team for o in outcomes) if cluster.expected_team else None
    )
    out["intent_accuracy"] = (
        _share(o.intent == cluster.expected_intent for o in outcomes)
        if cluster.expected_intent
        else None
    )
    if cluster.expected_articles:
        ranks = [_rank(o.retrieved_documents, cluster.expected_articles) for o in outcomes]
        out["ranks"] = ranks
        out["recall_at_k"] = _share(r is not None for r in ranks)
        out["mrr"] = sum(1.0 / r for r in ranks if r) / n if n else None
        out["citation_accuracy"] = _share(
            any(d in cluster.expected_articles for d in o.cited_documents) for o in outcomes
        )
    else:
        out.update(recall_at_k=None, mrr=None, citation_accuracy=None)
    if cluster.answers:
        expected, langs = cluster.expected_articles, cluster.article_languages
        key, articles = modal_answer(outcomes, expected, langs)
        out["modal_article"] = modal_article(outcomes, expected, langs)
        out["modal_answer"] = articles  # the modal article, or the expected translations
        out["citation_agreement"] = (
            _share(key in answer_keys(o.cited_documents, expected, langs) for o in outcomes)
            if key
            else 0.0
        )
        sets = [frozenset(o.facts) for o in outcomes]
        consistent = len(set(sets)) == 1
        recall_flags = [
            all(expected_present(e, o.facts, o.answer) for e in cluster.expected_facts)
            for o in outcomes
        ]
        out["fact_consistency"] = 1.0 if consistent else 0.0
        out["fact_recall"] = _share(recall_flags) if cluster.expected_facts else None
        out["fact_agreement"] = 1.0 if consistent and all(recall_flags) else 0.0
        common = sorted(set.intersection(*(set(s) for s in sets))) if sets else []
        out["facts_common"] = common
        out["facts_differing"] = sorted({f for s in sets for f in s} - set(common))
        mean, low = pairwise(answer_vectors or [])
        out["semantic_agreement"], out["semantic_agreement_min"] = mean, low
        out["faithfulness"] = _share(not o.unsupported for o in outcomes)
        out["consistent"] = out["citation_agreement"] == 1.0 and out["fact_agreement"] == 1.0
    else:
        out.update(
            modal_article=None,
            modal_answer=[],
            citation_agreement=None,
            fact_consistency=None,
            fact_recall=None,
            fact_agreement=None,
            semantic_agreement=None,
            semantic_agreement_min=None,
            faithfulness=None,
            consistent=None,
        )
    out["personalization"] = _share(o.personalized for o in outcomes)
    out["public_privacy"] = (
        _share(not o.public_pii for o in outcomes if o.public)
        if any(o.public for o in outcomes)
        else None
    )
    out["declined_offers"] = (
        _share(not o.reoffered for o in outcomes if o.declined)
        if any(o.declined for o in outcomes)
        else None
    )
    out["stability"] = _share(o.stable for o in outcomes)
    out["stability_fact_agreement"] = _share(o.repeat_facts_agree for o in outcomes)
    sims = [o.repeat_semantic for o in outcomes if o.repeat_semantic is not None]
    out["stability_semantic_agreement"] = sum(sims) / len(sims) if sims else None
    out["needs_human_rate"] = _share(o.needs_human for o in outcomes)
    return out


def summarize(
    clusters: list[tuple[ClusterExpectation, list[VariantOutcome], Mapping[str, Any]]],
) -> dict[str, float | None]:
    """Overall (or per-intent) scores from per-cluster results.

    Variant-level shares (accuracies, recall, MRR, citation accuracy, fact recall,
    faithfulness, personalization, privacy, declined offers, stability) are pooled over all
    variants; cluster-level ones (citation agreement, fact agreement and consistency,
    semantic agreement, consistent clusters) are means over the clusters they apply to;
    semantic_agreement_min is the lowest of any cluster.
    """

    def pooled(key: str, weight: Callable[[Mapping[str, Any]], int]) -> float | None:
        total = 0.0
        count = 0
        for _, _, scores in clusters:
            value = scores.get(key)
            if value is None:
                continue
            w = weight(scores)
            total += float(value) * w
            count += w
        return total / count if count else None

    def applicable(
        key: str, test: Callable[[VariantOutcome], bool]
    ) -> Callable[[Mapping[str, Any]], int]:
        counts = {id(scores): sum(1 for o in outs if test(o)) for _, outs, scores in clusters}
        return lambda scores: counts[id(scores)]

    by_variant = lambda scores: int(scores["n"])  # noqa: E731
    summary: dict[str, float | None] = {
        "team_accuracy": pooled("team_accuracy", by_variant),
        "intent_accuracy": pooled("intent_accuracy", by_variant),
        "recall_at_k": pooled("recall_at_k", by_variant),
        "mrr": pooled("mrr", by_variant),
        "citation_accuracy": pooled("citation_accuracy", by_variant),
        "fact_recall": pooled("fact_recall", by_variant),
        "faithfulness": pooled("faithfulness", by_variant),
        "personalization": pooled(
            "personalization", applicable("p", lambda o: o.personalized is not None)
        ),
        "public_privacy": pooled("public_privacy", applicable("q", lambda o: o.public)),
        "declined_offers": pooled("declined_offers", applicable("d", lambda o: bool(o.declined))),
        "stability": pooled("stability", applicable("s", lambda o: o.stable is not None)),
        "stability_fact_agreement": pooled(
            "stability_fact_agreement",
            applicable("sf", lambda o: o.repeat_facts_agree is not None),
        ),
        "stability_semantic_agreement": pooled(
            "stability_semantic_agreement",
            applicable("ss", lambda o: o.repeat_semantic is not None),
        ),
        "needs_human_rate": pooled("needs_human_rate", by_variant),
    }
    one = lambda scores: 1  # noqa: E731
    for key in ("citation_agreement", "fact_agreement", "fact_consistency", "semantic_agreement"):
        summary[key] = pooled(key, one)
    mins = [
        s["semantic_agreement_min"]
        for _, _, s in clusters
        if s.get("semantic_agreement_min") is not None
    ]
    summary["semantic_agreement_min"] = min(mins) if mins else None
    flags = [s["consistent"] for _, _, s in clusters if s.get("consistent") is not None]
    summary["consistent_clusters"] = sum(flags) / len(flags) if flags else None
    return {name: summary.get(name) for name in METRICS}


def parse_bars(specs: Iterable[str]) -> dict[str, float]:
    """`["fact_agreement=0.9", ...]` → {metric: bar}; ValueError naming a bad entry."""
    bars: dict[str, float] = {}
    for spec in specs:
        name, sep, raw = spec.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ValueError(f"--fail-under takes metric=value, got {spec!r}")
        if name not in METRICS:
            raise ValueError(
                f"unknown metric {name!r} in --fail-under (one of {', '.join(METRICS)})"
            )
        try:
            value = float(raw)
        except ValueError as exc:
            raise ValueError(f"--fail-under {name}: {raw!r} is not a number") from exc
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"--fail-under {name}: {value} is not between 0 and 1")
        bars[name] = value
    return bars


def check_bars(
    summary: Mapping[str, float | None], bars: Mapping[str, float]
) -> dict[str, dict[str, Any]]:
    """{metric: {bar, value, passed}}; a metric the suite cannot measure passes as n/a."""
    out: dict[str, dict[str, Any]] = {}
    for name, bar in bars.items():
        value = summary.get(name)
        if value is None:
            passed: bool | None = None
        elif HIGHER_IS_BETTER.get(name, True):
            passed = value + 1e-9 >= bar
        else:
            passed = value <= bar + 1e-9
        out[name] = {"bar": bar, "value": value, "passed": passed}
    return out


def compare(
    current: Mapping[str, float | None], previous: Mapping[str, float | None]
) -> dict[str, dict[str, Any]]:
    """Per metric: previous, current, delta and whether it got better or worse."""
    out: dict[str, dict[str, Any]] = {}
    for name in METRICS:
        now, before = current.get(name), previous.get(name)
        delta = None if now is None or before is None else now - before
        if delta is None or abs(delta) < 1e-9:
            trend = "same" if delta is not None else "n/a"
        else:
            better = delta > 0 if HIGHER_IS_BETTER[name] else delta < 0
            trend = "better" if better else "worse"
        out[name] = {"previous": before, "current": now, "delta": delta, "trend": trend}
    return out


# -- stability over --repeat ----------------------------------------------------------------


def repeat_agreement(
    answers: Sequence[str], vectors: Sequence[Sequence[float]] | None = None
) -> tuple[bool | None, float | None]:
    """(identical fact sets, mean pairwise cosine) of the answers of one variant's repeats;
    (None, None) with fewer than two. Identical answers agree fully without vectors."""
    if len(answers) < 2:
        return None, None
    facts_agree = len({frozenset(fact_values(a)) for a in answers}) == 1
    if len(set(answers)) == 1:
        return facts_agree, 1.0
    if vectors is None:
        return facts_agree, None
    mean, _ = pairwise([list(v) for v in vectors])
    return facts_agree, mean


def apply_repeat_agreement(
    outcomes: Iterable[VariantOutcome],
    embed: Callable[[list[str]], Sequence[Sequence[float]]],
) -> None:
    """Fill `repeat_facts_agree` and `repeat_semantic` of every outcome with two or more
    repeats; the answers of repeats that differ are embedded in one batched call."""
    todo = [(o, [answer_text(d) if d else "" for d in o.repeats]) for o in outcomes]
    todo = [(o, answers) for o, answers in todo if len(answers) > 1]
    texts = sorted({a or " " for _, answers in todo if len(set(answers)) > 1 for a in answers})
    vectors = dict(zip(texts, embed(texts), strict=True)) if texts else {}
    for o, answers in todo:
        vecs = [vectors[a or " "] for a in answers] if len(set(answers)) > 1 else None
        o.repeat_facts_agree, o.repeat_semantic = repeat_agreement(answers, vecs)


# -- per intent -----------------------------------------------------------------------------


def per_intent_scores(
    clusters: Sequence[tuple[ClusterExpectation, list[VariantOutcome], Mapping[str, Any]]],
) -> dict[str, dict[str, Any]]:
    """`summarize` over the clusters of each expected intent ("(none)" for clusters without
    one), with the number of clusters and variants."""
    out: dict[str, dict[str, Any]] = {}
    for intent in sorted({exp.expected_intent or "(none)" for exp, _, _ in clusters}):
        subset = [t for t in clusters if (t[0].expected_intent or "(none)") == intent]
        out[intent] = {
            "clusters": len(subset),
            "variants": sum(len(t[1]) for t in subset),
            **summarize(subset),
        }
    return out


# -- per-cluster comparison (--compare) -----------------------------------------------------

CLUSTER_COMPARED: dict[str, str] = {
    "consistent": "consistent",
    "citation_agreement": "citation agreement",
    "fact_agreement": "fact agreement",
    "fact_recall": "fact recall",
    "semantic_agreement": "semantic agreement",
    "faithfulness": "faithfulness",
    "team_accuracy": "team accuracy",
    "intent_accuracy": "intent accuracy",
    "stability": "stability",
}
# Smallest change reported (semantic agreement moves a little with every reworded answer).
_CLUSTER_TOLERANCE = {"semantic_agreement": 0.005}


def _score(value: Any) -> float | None:
    if value is None:
        return None
    return float(value)  # bools ("consistent") count as 1 / 0


def compare_clusters(
    current: Sequence[Mapping[str, Any]], previous: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """What got better or worse per cluster since an earlier run (clusters by id, as in the
    result JSON): `changed` (worse first, then mixed, changed, better), each with its metric
    changes and, when they moved, the modal article and the facts every draft states;
    `added` / `removed` cluster ids; `unchanged`, the number of clusters with no change.

    A cluster's trend is "better" or "worse" when all its moved metrics agree, "mixed" when
    they do not, and "changed" when only its modal article or common facts moved. A metric
    measured in only one of the runs (stability without --repeat) is left out."""
    before = {c["id"]: c for c in previous}
    now = {c["id"]: c for c in current}
    changed: list[dict[str, Any]] = []
    unchanged = 0
    for cid, cluster in now.items():
        old = before.get(cid)
        if old is None:
            continue
        s, p = cluster.get("scores") or {}, old.get("scores") or {}
        changes: dict[str, dict[str, Any]] = {}
        for key in CLUSTER_COMPARED:
            a, b = _score(s.get(key)), _score(p.get(key))
            if a is None or b is None:
                continue  # measured in one run only (e.g. stability without --repeat)
            delta = a - b
            if abs(delta) <= _CLUSTER_TOLERANCE.get(key, 1e-9):
                continue
            trend = "better" if delta > 0 else "worse"
            changes[key] = {"previous": b, "current": a, "delta": delta, "trend": trend}
        entry: dict[str, Any] = {"id": cid, "changes": changes}
        for key in ("modal_article", "facts_common"):
            if s.get(key) != p.get(key):
                entry[key] = {"previous": p.get(key), "current": s.get(key)}
        if not changes and len(entry) == 2:
            unchanged += 1
            continue
        trends = {c["trend"] for c in changes.values()}
        entry["trend"] = trends.pop() if len(trends) == 1 else ("mixed" if trends else "changed")
        changed.append(entry)
    order = {"worse": 0, "mixed": 1, "changed": 2, "better": 3}
    changed.sort(key=lambda e: (order[e["trend"]], e["id"]))
    return {
        "changed": changed,
        "better": [e["id"] for e in changed if e["trend"] == "better"],
        "worse": [e["id"] for e in changed if e["trend"] == "worse"],
        "added": sorted(set(now) - set(before)),
        "removed": sorted(set(before) - set(now)),
        "unchanged": unchanged,
    }
