"""Consistency metrics on constructed outcomes whose right scores are known."""

from __future__ import annotations

import math

import pytest

from evals.metrics import (
    ClusterExpectation,
    VariantOutcome,
    answer_text,
    check_bars,
    cluster_scores,
    compare,
    expected_present,
    fact_values,
    pairwise,
    parse_bars,
    summarize,
)

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
