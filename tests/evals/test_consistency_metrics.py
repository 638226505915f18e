"""Consistency metrics on constructed outcomes whose right scores are known."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import pytest

from core.config import Settings
from evals.metrics import (
    TRANSLATIONS,
    ClusterExpectation,
    VariantOutcome,
    answer_keys,
    answer_text,
    apply_repeat_agreement,
    check_bars,
    cluster_scores,
    compare,
    compare_clusters,
    expected_present,
    fact_values,
    mentions_channel,
    offer_mentioned,
    pairwise,
    parse_bars,
    per_intent_scores,
    public_personal_data,
    repeat_agreement,
    summarize,
    translated_answer,
)
from evals.runner import Posted, outcome_of
from evals.suite import Cluster, Persona, Variant

RETURNS = ClusterExpectation(
    id="return-window",
    expected_articles=["returns-window"],
    expected_team="returns_refunds",
    expected_intent="return_request",
    expected_facts=["30 days"],
)


def outcome(variant: str, answer: str, cited: list[str], **kw: object) -> VariantOutcome:
    values: dict[str, object] = {
        "public": False,
        "team": "returns_refunds",
        "intent": "return_request",
        "retrieved_documents": ["returns-window", "warranty"],
    }
    values.update(kw)
    return VariantOutcome(
        cluster_id="return-window",
        variant_id=variant,
        channel="email",
        customer="new",
        text="How long do I have to return it?",
        draft=f"Hello Alex,\n\n{answer}\n\nKind regards,\nThe support team",
        answer=answer,
        cited_documents=cited,
        facts=fact_values(answer),
        **values,  # type: ignore[arg-type]
    )


def test_a_consistent_cluster_passes_every_agreement() -> None:
    outs = [
        outcome("email", "You can return items within 30 days of delivery.", ["returns-window"]),
        outcome("sms", "Returns are accepted within thirty days of delivery.", ["returns-window"]),
        outcome("chat", "You have 30 days from delivery to return it.", ["returns-window"]),
    ]
    scores = cluster_scores(RETURNS, outs, [[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    assert scores["fact_consistency"] == 1.0  # "thirty days" is "30 days"
    assert scores["fact_agreement"] == 1.0 and scores["fact_recall"] == 1.0
    assert scores["citation_agreement"] == 1.0 and scores["modal_article"] == "returns-window"
    assert scores["citation_accuracy"] == 1.0
    assert scores["team_accuracy"] == 1.0 and scores["intent_accuracy"] == 1.0
    assert scores["recall_at_k"] == 1.0 and scores["mrr"] == 1.0
    assert scores["semantic_agreement"] == pytest.approx(1.0)
    assert scores["consistent"] is True


def test_an_inconsistent_cluster_fails() -> None:
    outs = [
        outcome("email", "You can return items within 30 days of delivery.", ["returns-window"]),
        outcome("sms", "You can return items within 14 days of delivery.", ["returns-faq"]),
        outcome(
            "chat",
            "Our warranty lasts 2 years.",
            ["warranty"],
            intent="warranty_claim",
            retrieved_documents=["warranty", "faq", "returns-window"],
        ),
    ]
    vectors = [[1.0, 0.0], [0.0, 1.0], [math.sqrt(0.5), math.sqrt(0.5)]]
    scores = cluster_scores(RETURNS, outs, vectors)
    assert scores["fact_consistency"] == 0.0 and scores["fact_agreement"] == 0.0
    assert scores["fact_recall"] == pytest.approx(1 / 3)
    assert scores["facts_differing"] == ["14 days", "2 years", "30 days"]
    # each article is cited once: the tie goes to the expected article
    assert scores["modal_article"] == "returns-window"
    assert scores["citation_agreement"] == pytest.approx(1 / 3)
    assert scores["intent_accuracy"] == pytest.approx(2 / 3)
    assert scores["mrr"] == pytest.approx((1 + 1 + 1 / 3) / 3)
    assert scores["semantic_agreement"] == pytest.approx((0 + 2 * math.sqrt(0.5)) / 3)
    assert scores["semantic_agreement_min"] == pytest.approx(0.0)
    assert scores["consistent"] is False


def test_expected_facts_must_all_be_stated_even_when_drafts_agree() -> None:
    outs = [
        outcome("email", "Refunds take 5 business days.", ["returns-window"]),
        outcome("sms", "Refunds take five business days.", ["returns-window"]),
    ]
    scores = cluster_scores(RETURNS, outs, [[1.0], [1.0]])
    assert scores["fact_consistency"] == 1.0
    assert scores["fact_agreement"] == 0.0  # identical, but not the expected 30 days


def test_policy_checks_and_stability() -> None:
    outs = [
        outcome(
            "fb",
            "Hi Alex, email us at alex@example.com",
            ["returns-window"],
            public=True,
            public_pii=["email", "name"],
        ),
        outcome("x", "Returns within 30 days.", ["returns-window"], public=True),
        outcome(
            "email",
            "Returns within 30 days. Add Northwind Protect!",
            ["returns-window"],
            declined=["extended_warranty"],
            reoffered=["extended_warranty"],
            personalized=False,
            repeats=["a", "b"],
            stable=False,
        ),
        outcome(
            "sms", "Returns within 30 days.", ["returns-window"], personalized=True, stable=True
        ),
    ]
    scores = cluster_scores(RETURNS, outs, [[1.0]] * 4)
    assert scores["public_privacy"] == 0.5
    assert scores["declined_offers"] == 0.0
    assert scores["personalization"] == 0.5
    assert scores["stability"] == 0.5


RETURNS_DE = ClusterExpectation(
    id="return-window",
    expected_articles=["returns-window", "ruecksendung-erstattung-de"],
    expected_facts=["30 days"],
    # from the KB front matter (`language:`), as the runner fills it in
    article_languages={"returns-window": "en", "ruecksendung-erstattung-de": "de"},
)


def test_a_variant_answered_from_the_expected_translation_agrees() -> None:
    """The KB does not link an article to its translation: expected articles of a cluster,
    each in another language, are one answer for citation agreement."""
    outs = [
        outcome("email", "You can return items within 30 days of delivery.", ["returns-window"]),
        outcome("sms", "Returns are accepted within 30 days of delivery.", ["returns-window"]),
        outcome(
            "email-de",
            "Sie können Artikel innerhalb von 30 Tagen zurückgeben.",
            ["ruecksendung-erstattung-de"],
        ),
    ]
    scores = cluster_scores(RETURNS_DE, outs, [[1.0], [1.0], [1.0]])
    assert scores["citation_agreement"] == 1.0 and scores["consistent"] is True
    assert scores["modal_article"] == "returns-window"  # the one most drafts cite
    assert scores["modal_answer"] == ["returns-window", "ruecksendung-erstattung-de"]
    assert scores["citation_accuracy"] == 1.0


def test_a_variant_answered_from_an_unrelated_article_does_not_agree() -> None:
    outs = [
        outcome("email", "You can return items within 30 days of delivery.", ["returns-window"]),
        outcome(
            "email-de",
            "Sie können Artikel innerhalb von 30 Tagen zurückgeben.",
            ["ruecksendung-erstattung-de"],
        ),
        outcome("chat", "Items can be returned within 30 days.", ["damaged-or-wrong-item"]),
        outcome("sms", "Items can be sent back within 30 days.", ["damaged-or-wrong-item"]),
    ]
    scores = cluster_scores(RETURNS_DE, outs, [[1.0]] * 4)
    # two drafts each: the tie goes to the expected answer, the unrelated article disagrees
    assert scores["modal_answer"] == ["returns-window", "ruecksendung-erstattung-de"]
    assert scores["citation_agreement"] == 0.5 and scores["consistent"] is False
    # three drafts from the unrelated article: it is the modal answer, the translations agree
    # with each other but not with it
    outs.append(outcome("ig", "Within 30 days.", ["damaged-or-wrong-item"]))
    scores = cluster_scores(RETURNS_DE, outs, [[1.0]] * 5)
    assert scores["modal_article"] == "damaged-or-wrong-item"
    assert scores["modal_answer"] == ["damaged-or-wrong-item"]
    assert scores["citation_agreement"] == pytest.approx(3 / 5)


def test_expected_alternatives_in_one_language_are_different_answers() -> None:
    """Two expected articles in one language (or of unknown language) are alternatives,
    not translations: drafts citing one or the other do not agree."""
    both_en = ClusterExpectation(
        id="refund-timing",
        expected_articles=["refund-timing", "refund-status"],
        article_languages={"refund-timing": "en", "refund-status": "en"},
    )
    outs = [
        outcome("email", "Refunds take 5 business days.", ["refund-timing"]),
        outcome("chat", "Refunds take 5 business days.", ["refund-timing"]),
        outcome("sms", "Refunds take 5 business days.", ["refund-status"]),
    ]
    scores = cluster_scores(both_en, outs, [[1.0]] * 3)
    assert scores["modal_answer"] == ["refund-timing"]
    assert scores["citation_agreement"] == pytest.approx(2 / 3)
    unknown = ClusterExpectation(id="return-window", expected_articles=RETURNS_DE.expected_articles)
    outs = [
        outcome("email", "Within 30 days.", ["returns-window"]),
        outcome("email-de", "Innerhalb von 30 Tagen.", ["ruecksendung-erstattung-de"]),
    ]
    assert cluster_scores(unknown, outs, [[1.0]] * 2)["citation_agreement"] == 0.5
    cited = ["ruecksendung-erstattung-de", "returns-window", "warranty"]
    keys = answer_keys(cited, RETURNS_DE.expected_articles, RETURNS_DE.article_languages)
    assert keys == [TRANSLATIONS, "warranty"]
    assert not translated_answer(["a", "b", "c"], {"a": "en", "b": "de", "c": "en"})


def test_routing_only_clusters_have_no_answer_metrics() -> None:
    routing = ClusterExpectation(id="card", expected_team="cards", expected_intent="card_arrival")
    outs = [outcome("a", "x", [], team="cards", intent="card_arrival")]
    scores = cluster_scores(routing, outs)
    assert scores["team_accuracy"] == 1.0
    assert scores["fact_agreement"] is None and scores["citation_agreement"] is None
    summary = summarize([(routing, outs, scores)])
    assert summary["team_accuracy"] == 1.0 and summary["fact_agreement"] is None


def test_summary_pools_variants_and_averages_clusters() -> None:
    good = [outcome(v, "Within 30 days.", ["returns-window"]) for v in ("a", "b")]
    bad = [
        outcome("c", "Within 30 days.", ["returns-window"]),
        outcome("d", "Within 14 days.", ["returns-faq"], team="orders_shipping"),
    ]
    triples = [
        (RETURNS, good, cluster_scores(RETURNS, good, [[1.0, 0.0], [1.0, 0.0]])),
        (RETURNS, bad, cluster_scores(RETURNS, bad, [[1.0, 0.0], [0.6, 0.8]])),
    ]
    summary = summarize(triples)
    assert summary["team_accuracy"] == 0.75
    assert summary["fact_agreement"] == 0.5 and summary["consistent_clusters"] == 0.5
    assert summary["citation_agreement"] == 0.75
    assert summary["semantic_agreement"] == pytest.approx((1.0 + 0.6) / 2)
    assert summary["semantic_agreement_min"] == pytest.approx(0.6)


def test_answer_text_drops_greeting_acknowledgement_and_sign_off() -> None:
    email = (
        "Hello Alex,\n\nI can see you messaged us on Facebook yesterday — let's pick up from "
        "there.\n\nYou can return items within 30 days.\n\nKind regards,\nThe support team\nAcme"
    )
    sms = "Hi Sam, You can return items within 30 days. Details: https://x.example/r - Acme"
    assert answer_text(email) == "You can return items within 30 days."
    assert answer_text(sms) == "You can return items within 30 days. Details: https://x.example/r"


def test_expected_fact_spellings_and_policy_terms() -> None:
    assert expected_present("30 days", fact_values("thirty days"), "thirty days")
    assert expected_present("€4.95", fact_values("costs 4,95 €"), "costs 4,95 €")
    assert not expected_present("2-3 business days", fact_values("2 business days"), "")
    assert expected_present("prepaid label", [], "Use the Prepaid Label from the portal.")


def test_pairwise_needs_two() -> None:
    assert pairwise([[1.0, 0.0]]) == (None, None)
    mean, low = pairwise([[1.0, 0.0], [0.0, 1.0]])
    assert mean == pytest.approx(0.0) and low == pytest.approx(0.0)


def test_bars_and_comparison() -> None:
    bars = parse_bars(["fact_agreement=0.9", "team_accuracy=0.5"])
    checked = check_bars({"fact_agreement": 0.8, "team_accuracy": None}, bars)
    assert checked["fact_agreement"]["passed"] is False
    assert checked["team_accuracy"]["passed"] is None  # not measurable in this suite
    # needs_human_rate is lower-is-better: its bar is a maximum
    worst = check_bars({"needs_human_rate": 0.3}, parse_bars(["needs_human_rate=0.2"]))
    assert worst["needs_human_rate"]["passed"] is False
    best = check_bars({"needs_human_rate": 0.1}, parse_bars(["needs_human_rate=0.2"]))
    assert best["needs_human_rate"]["passed"] is True
    from evals.runner import missed_bars

    results = [{"suite": {"name": "s"}, "bars": {**worst, **checked}}]
    assert missed_bars(results) == [
        "s: needs_human_rate 0.300 > 0.200",
        "s: fact_agreement 0.800 < 0.900",
    ]
    with pytest.raises(ValueError, match="unknown metric 'facts'"):
        parse_bars(["facts=0.9"])
    with pytest.raises(ValueError, match="metric=value"):
        parse_bars(["fact_agreement"])
    with pytest.raises(ValueError, match="between 0 and 1"):
        parse_bars(["fact_agreement=90"])
    delta = compare(
        {"fact_agreement": 0.9, "needs_human_rate": 0.2},
        {"fact_agreement": 0.8, "needs_human_rate": 0.1},
    )
    assert delta["fact_agreement"]["trend"] == "better"
    assert delta["needs_human_rate"]["trend"] == "worse"
    assert delta["fact_agreement"]["delta"] == pytest.approx(0.1)


# --- detectors and per-variant checks on constructed pipeline output ------------------------

OFFERS = {
    "extended_warranty": ("extended warranty", "Northwind Protect"),
    "premium_support_upgrade": ("Premium Support",),
}
RETURNS_TEXT = "You can return most items within 30 days of delivery for a full refund."


def sandbox() -> Any:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        company_name="Northwind",
        agent_signature="The support team",
        acknowledge_window_hours=72,
        default_phone_region="GB",
    )
    return SimpleNamespace(settings=settings)


def persona(**kw: Any) -> Persona:
    values: dict[str, Any] = {"sender": {"email": "alex@example.com", "name": "Alex Doe"}}
    values.update(kw)
    return Persona.model_validate(values)


def pipeline_outcome(
    draft: str,
    *,
    who: Persona | None = None,
    channel: str = "email",
    public: bool = False,
    cited: tuple[str, ...] = (RETURNS_TEXT,),
    question: str = "How long do I have to return my jacket?",
) -> VariantOutcome:
    """outcome_of (the runner's per-variant checks) on a draft the pipeline 'stored'."""
    variant = Variant(id="v", channel=channel, customer="c", text=question, public=public)
    cluster = Cluster(id="return-window", variants=[variant])
    posted = Posted(cluster, variant, who or persona(), 0, "m1", [])
    row = {
        "status": "processed",
        "error": None,
        "reference": "TL-1234",
        "team": "returns_refunds",
        "intent": "return_request",
        "intent_confidence": 0.9,
        "team_confidence": 0.9,
        "abstained": False,
        "draft": draft,
        "drafter": "composer",
        "flags": [],
        "needs_human": False,
        "fallback_reason": None,
        "cited_chunks": ["c1"],
        "cited_documents": ["returns-window"],
        "cited_texts": list(cited),
        "retrieved": ["returns-window"],
        "retrieved_chunks": [],
    }
    return outcome_of(sandbox(), posted, row, [draft], OFFERS)


def test_faithfulness_fails_on_a_fact_neither_source_nor_customer_states() -> None:
    invented = pipeline_outcome("Hello Alex,\n\nYou can return it within 45 days for €5.00.")
    assert sorted(invented.unsupported) == ["45 days", "€5.00"]
    faithful = pipeline_outcome("Hello Alex,\n\nYou can return it within 30 days.")
    assert faithful.unsupported == []
    # A fact from the customer's own data (their message, their attributes) is supported.
    own = pipeline_outcome(
        "Hello Alex,\n\nYour order of €89.00 can be returned within 30 days.",
        who=persona(attributes={"last_order_total": "€89.00"}),
    )
    assert own.unsupported == []
    quoted = pipeline_outcome(
        "Hello Alex,\n\nThe €89.00 jacket can be returned within 30 days.",
        question="Can I return the €89.00 jacket?",
    )
    assert quoted.unsupported == []
    scores = cluster_scores(RETURNS, [invented, faithful, own, quoted], [[1.0]] * 4)
    assert scores["faithfulness"] == 0.75


@pytest.mark.parametrize(
    ("text", "channel", "named"),
    [
        ("I can see you messaged us on Facebook yesterday.", "facebook", True),
        ("Thanks for your Instagram message earlier.", "instagram", True),
        ("Following up on your call this morning.", "phone", True),
        ("You called us yesterday about this.", "phone", True),
        ("As you wrote in your e-mail, the parcel is late.", "email", True),
        ("Thanks for chatting with us on live chat.", "chat", True),
        ("You texted us yesterday about the refund.", "sms", True),
        ("Thanks for your SMS.", "sms", True),
        ("You wrote to us on X yesterday.", "twitter", True),
        ("You wrote to us on WhatsApp.", "whatsapp", True),
        ("You sent us our web form yesterday.", "web_form", True),
        ("You can return items within 30 days.", "facebook", False),
        ("You can return items within 30 days.", "phone", False),
        ("Order 2 x cables and a tent.", "twitter", False),  # a lowercase x is no X
        ("Your Xbox order shipped.", "twitter", False),
        ("Sent from the smartphone app.", "phone", False),
        ("You can return items within 30 days.", "sms", False),
    ],
)
def test_mentions_channel(text: str, channel: str, named: bool) -> None:
    assert mentions_channel(text, channel) is named


@pytest.mark.parametrize(
    ("text", "reoffers"),
    [
        ("You can add Northwind Protect for two more years.", True),
        ("Have you considered our extended warranty?", True),
        ("We also sell Extended Warranties for tents.", True),
        ("An extended-warranty plan is available.", True),
        ("The standard warranty lasts 2 years.", False),
        ("Your warranty covers manufacturing defects.", False),
        ("We extended the deadline for your return.", False),
    ],
)
def test_offer_mentioned(text: str, reoffers: bool) -> None:
    phrases = OFFERS["extended_warranty"]
    assert offer_mentioned(text, "extended_warranty", phrases) is reoffers


def test_public_reply_personal_data_and_name() -> None:
    leaks = public_personal_data(
        "Hi Alex, we emailed alex@example.com and will call +44 20 7946 0958.",
        "Alex Doe",
        [],
        "GB",
    )
    assert leaks == ["email", "phone", "name"]
    clean = "Thanks for reaching out! Please send us a direct message with your order number."
    assert public_personal_data(clean, "Alex Doe", [], "GB") == []
    # The company's own published contact (in the cited article) is no personal data.
    published = "Write to returns@northwind.example with your order number."
    reply = "You can write to returns@northwind.example."
    assert public_personal_data(reply, "Alex Doe", [published], "GB") == []
    # Through the runner: a public reply is checked, a private one is not.
    public = pipeline_outcome(
        "Hi Alex! You can return it within 30 days.", channel="facebook", public=True
    )
    assert public.public_pii == ["name"]
    public_ok = pipeline_outcome(
        "Thanks for reaching out! You can return it within 30 days.",
        channel="facebook",
        public=True,
    )
    assert public_ok.public_pii == []
    private = pipeline_outcome("Hi Alex, returns within 30 days.", channel="facebook")
    assert private.public_pii == []
    scores = cluster_scores(RETURNS, [public, public_ok, private], [[1.0]] * 3)
    assert scores["public_privacy"] == 0.5  # over the two public replies only


def test_personalization_needs_a_recent_prior_on_another_channel() -> None:
    returning = persona(
        prior=[{"channel": "facebook", "text": "I want to return my jacket", "hours_ago": 20}]
    )
    named = pipeline_outcome(
        "Hello Alex,\n\nI can see you messaged us on Facebook yesterday. Returns within 30 days.",
        who=returning,
    )
    assert named.prior_channels == ["facebook"] and named.personalized is True
    unnamed = pipeline_outcome("Hello Alex,\n\nReturns within 30 days.", who=returning)
    assert unnamed.personalized is False
    same_channel = pipeline_outcome(
        "Thanks! Returns within 30 days.", who=returning, channel="facebook"
    )
    assert same_channel.prior_channels == [] and same_channel.personalized is None
    old = persona(prior=[{"channel": "phone", "text": "I called", "hours_ago": 24 * 30}])
    assert pipeline_outcome("Returns within 30 days.", who=old).personalized is None
    new = pipeline_outcome("Returns within 30 days.")
    assert new.personalized is None
    scores = cluster_scores(RETURNS, [named, unnamed, same_channel, new], [[1.0]] * 4)
    assert scores["personalization"] == 0.5


def test_declined_offer_is_not_offered_again() -> None:
    declined = persona(attributes={"declined_offers": ["extended_warranty"]})
    again = pipeline_outcome(
        "Hello Alex,\n\nReturns within 30 days. Protect it with Northwind Protect!", who=declined
    )
    assert again.declined == ["extended_warranty"] and again.reoffered == ["extended_warranty"]
    not_again = pipeline_outcome("Hello Alex,\n\nReturns within 30 days.", who=declined)
    assert not_again.reoffered == []
    never_declined = pipeline_outcome("Returns within 30 days. Add Northwind Protect!")
    assert never_declined.declined == [] and never_declined.reoffered == []
    scores = cluster_scores(RETURNS, [again, not_again, never_declined], [[1.0]] * 3)
    assert scores["declined_offers"] == 0.5  # over the two personas who declined


# --- per intent -----------------------------------------------------------------------------


def test_per_intent_aggregation() -> None:
    shipping = ClusterExpectation(
        id="delivery-time",
        expected_articles=["delivery-times"],
        expected_team="orders_shipping",
        expected_intent="delivery_time",
        expected_facts=["2 business days"],
    )
    ship = [
        outcome(
            v,
            "Delivery takes 2 business days.",
            ["delivery-times"],
            team="orders_shipping",
            intent=intent,
            retrieved_documents=["delivery-times"],
        )
        for v, intent in (("a", "delivery_time"), ("b", "delivery_time"), ("c", "lost_parcel"))
    ]
    good = [outcome(v, "Within 30 days.", ["returns-window"]) for v in ("a", "b")]
    bad = [
        outcome("c", "Within 30 days.", ["returns-window"]),
        outcome("d", "Within 14 days.", ["returns-faq"], team="orders_shipping"),
    ]
    routing = ClusterExpectation(id="hello", expected_team="triage")
    hello = [outcome("e", "x", [], team="triage")]
    triples = [
        (RETURNS, good, cluster_scores(RETURNS, good, [[1.0], [1.0]])),
        (RETURNS, bad, cluster_scores(RETURNS, bad, [[1.0, 0.0], [0.0, 1.0]])),
        (shipping, ship, cluster_scores(shipping, ship, [[1.0]] * 3)),
        (routing, hello, cluster_scores(routing, hello)),
    ]
    per_intent = per_intent_scores(triples)
    assert list(per_intent) == ["(none)", "delivery_time", "return_request"]
    returns = per_intent["return_request"]
    assert returns["clusters"] == 2 and returns["variants"] == 4
    assert returns["team_accuracy"] == 0.75  # pooled over the 4 variants
    assert returns["fact_agreement"] == 0.5  # mean over the 2 clusters
    assert returns["consistent_clusters"] == 0.5
    assert returns["semantic_agreement_min"] == pytest.approx(0.0)
    delivery = per_intent["delivery_time"]
    assert delivery["clusters"] == 1 and delivery["variants"] == 3
    assert delivery["intent_accuracy"] == pytest.approx(2 / 3)
    assert delivery["team_accuracy"] == 1.0 and delivery["fact_agreement"] == 1.0
    none = per_intent["(none)"]
    assert none["team_accuracy"] == 1.0 and none["fact_agreement"] is None
    # Each intent's numbers are the summary of its clusters alone.
    alone = {k: v for k, v in returns.items() if k not in ("clusters", "variants")}
    assert alone == summarize(triples[:2])


# --- stability over --repeat ----------------------------------------------------------------


def test_identical_repeats_agree_fully_without_embedding() -> None:
    draft = "Hello Alex,\n\nYou can return items within 30 days.\n\nKind regards,\nThe team"
    calls: list[list[str]] = []

    def embed(texts: list[str]) -> list[list[float]]:
        calls.append(texts)
        return [[1.0, 0.0] for _ in texts]

    composer = outcome("a", "You can return items within 30 days.", ["returns-window"])
    composer.repeats = [draft, draft, draft]
    single = outcome("b", "Within 30 days.", ["returns-window"])
    single.repeats = [draft]
    apply_repeat_agreement([composer, single], embed)
    assert calls == []  # nothing to embed: the composer's drafts are identical
    assert composer.repeat_facts_agree is True and composer.repeat_semantic == 1.0
    assert single.repeat_facts_agree is None and single.repeat_semantic is None
    assert repeat_agreement(["x"]) == (None, None)


def test_llm_repeats_report_fact_and_semantic_agreement() -> None:
    reworded = [
        "Hi Alex,\n\nYou can return items within 30 days.\n\nKind regards,\nThe team",
        "Hi Alex,\n\nReturns are accepted for thirty days.\n\nKind regards,\nThe team",
    ]
    changed = [
        "Hi Sam,\n\nYou can return items within 30 days.\n\nKind regards,\nThe team",
        "Hi Sam,\n\nYou can return items within 14 days.\n\nKind regards,\nThe team",
    ]
    vectors = {
        "You can return items within 30 days.": [1.0, 0.0],
        "Returns are accepted for thirty days.": [0.8, 0.6],
        "You can return items within 14 days.": [0.6, 0.8],
    }
    seen: list[str] = []

    def embed(texts: list[str]) -> list[list[float]]:
        seen.extend(texts)
        return [vectors[t] for t in texts]

    a = outcome("a", "You can return items within 30 days.", ["returns-window"])
    a.repeats = reworded
    b = outcome("b", "You can return items within 30 days.", ["returns-window"])
    b.repeats = changed
    apply_repeat_agreement([a, b], embed)
    assert sorted(seen) == sorted(vectors)  # each distinct answer embedded once, one call
    assert a.repeat_facts_agree is True  # "thirty days" is "30 days"
    assert a.repeat_semantic == pytest.approx(0.8)
    assert b.repeat_facts_agree is False
    assert b.repeat_semantic == pytest.approx(0.6)

    scores = cluster_scores(RETURNS, [a, b], [[1.0], [1.0]])
    assert scores["stability_fact_agreement"] == 0.5
    assert scores["stability_semantic_agreement"] == pytest.approx(0.7)
    c = outcome("c", "Within 30 days.", ["returns-window"], repeat_facts_agree=True)
    c.repeat_semantic = 1.0
    other = cluster_scores(RETURNS, [c], [[1.0]])
    summary = summarize([(RETURNS, [a, b], scores), (RETURNS, [c], other)])
    assert summary["stability_fact_agreement"] == pytest.approx(2 / 3)  # pooled variants
    assert summary["stability_semantic_agreement"] == pytest.approx((0.8 + 0.6 + 1.0) / 3)
    # Without --repeat the stability metrics are not measured.
    once = [outcome("d", "Within 30 days.", ["returns-window"])]
    plain = cluster_scores(RETURNS, once, [[1.0]])
    assert plain["stability_fact_agreement"] is None
    assert summarize([(RETURNS, once, plain)])["stability_semantic_agreement"] is None


# --- per-cluster comparison -----------------------------------------------------------------


def cluster_doc(cid: str, **scores: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "consistent": True,
        "citation_agreement": 1.0,
        "fact_agreement": 1.0,
        "fact_recall": 1.0,
        "semantic_agreement": 0.9,
        "faithfulness": 1.0,
        "team_accuracy": 1.0,
        "intent_accuracy": 1.0,
        "stability": None,
        "modal_article": "returns-window",
        "facts_common": ["30 days"],
    }
    base.update(scores)
    return {"id": cid, "scores": base}


def test_compare_clusters_lists_what_got_better_or_worse() -> None:
    previous = [
        cluster_doc("same"),
        cluster_doc("broke"),
        cluster_doc(
            "fixed", consistent=False, citation_agreement=0.5, fact_agreement=0.0, fact_recall=0.5
        ),
        cluster_doc("mixed", team_accuracy=0.5),
        cluster_doc("moved"),
        cluster_doc("noise"),
        cluster_doc("repeated"),
        cluster_doc("gone"),
    ]
    current = [
        cluster_doc("same"),
        cluster_doc(
            "broke", consistent=False, fact_agreement=0.0, facts_common=[], fact_recall=0.75
        ),
        cluster_doc("fixed"),
        cluster_doc("mixed", team_accuracy=1.0, citation_agreement=0.75, consistent=False),
        cluster_doc("moved", modal_article="returns-faq"),
        cluster_doc("noise", semantic_agreement=0.902),  # below the reporting threshold
        cluster_doc("repeated", stability=1.0),  # stability measured in this run only
        cluster_doc("fresh"),
    ]
    out = compare_clusters(current, previous)
    assert out["added"] == ["fresh"] and out["removed"] == ["gone"]
    assert out["worse"] == ["broke"] and out["better"] == ["fixed"]
    assert out["unchanged"] == 3  # same, noise, repeated
    trends = {e["id"]: e["trend"] for e in out["changed"]}
    assert trends == {"broke": "worse", "mixed": "mixed", "moved": "changed", "fixed": "better"}
    assert [e["id"] for e in out["changed"]] == ["broke", "mixed", "moved", "fixed"]
    broke = out["changed"][0]
    assert set(broke["changes"]) == {"consistent", "fact_agreement", "fact_recall"}
    assert broke["changes"]["consistent"] == {
        "previous": 1.0,
        "current": 0.0,
        "delta": -1.0,
        "trend": "worse",
    }
    assert broke["facts_common"] == {"previous": ["30 days"], "current": []}
    fixed = next(e for e in out["changed"] if e["id"] == "fixed")
    assert fixed["changes"]["citation_agreement"]["delta"] == pytest.approx(0.5)
    moved = next(e for e in out["changed"] if e["id"] == "moved")
    assert moved["changes"] == {}
    assert moved["modal_article"] == {"previous": "returns-window", "current": "returns-faq"}
    assert compare_clusters(current, current)["changed"] == []
