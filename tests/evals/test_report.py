"""render_report on a constructed result: self-contained page, inline charts, confusion matrix
and reliability diagram, drill-down with highlighted differences, bars, --compare."""

from __future__ import annotations

import base64
import re
from dataclasses import asdict
from html.parser import HTMLParser
from typing import Any

import pytest

from evals.metrics import (
    METRICS,
    ClusterExpectation,
    VariantOutcome,
    check_bars,
    cluster_scores,
    compare,
    compare_clusters,
    fact_values,
    per_intent_scores,
    summarize,
)
from evals.report import diff_html, render_report
from evals.runner import _eval_json, routing_results

XSS = "<script>alert(1)</script>"
RETURNS = ClusterExpectation(
    id="return-window",
    expected_articles=["returns-window"],
    expected_team="returns_refunds",
    expected_intent="return_request",
    expected_facts=["30 days"],
)
SHIPPING = ClusterExpectation(
    id="delivery-time",
    expected_articles=["delivery-times"],
    expected_team="orders_shipping",
    expected_intent="delivery_time",
    expected_facts=["2 business days"],
)


def outcome(cluster: str, variant: str, answer: str, cited: str, **kw: Any) -> VariantOutcome:
    values: dict[str, Any] = {
        "channel": "email",
        "customer": "new",
        "public": False,
        "text": f"A question {XSS}",
        "team": "returns_refunds",
        "intent": "return_request",
        "intent_confidence": 0.9,
        "team_confidence": 0.9,
        "retrieved_documents": [cited],
    }
    values.update(kw)
    return VariantOutcome(
        cluster_id=cluster,
        variant_id=variant,
        draft=f"Hello,\n\n{answer}\n\nKind regards,\nThe support team",
        answer=answer,
        cited_documents=[cited],
        facts=fact_values(answer),
        **values,
    )


def result_of(
    clusters: list[tuple[ClusterExpectation, list[VariantOutcome], list[list[float]]]],
    bars: dict[str, float] | None = None,
) -> dict[str, Any]:
    """The shape evals.runner.score + run_suite produce."""
    triples = []
    out = []
    for exp, outs, vectors in clusters:
        scores = cluster_scores(exp, outs, vectors)
        triples.append((exp, outs, scores))
        out.append(
            {
                "id": exp.id,
                "description": None,
                "expected": asdict(exp),
                "scores": scores,
                "variants": [asdict(o) for o in outs],
            }
        )
    intent, team = routing_results([(exp, o) for exp, outs, _ in triples for o in outs])
    summary = summarize(triples)
    return {
        "version": 1,
        "suite": {
            "name": "constructed",
            "description": "built in the test",
            "source": "inline",
            "hash": "ab" * 32,
            "clusters": len(out),
            "variants": sum(len(c["variants"]) for c in out),
        },
        "summary": summary,
        "metrics": dict(METRICS),
        "per_intent": per_intent_scores(triples),
        "clusters": out,
        "routing": {"intent": _eval_json(intent), "team": _eval_json(team)},
        "run": {"drafter": "composer", "repeat": 1, "kb_version": 3, "duration_s": 1.0},
        "bars": check_bars(summary, bars or {}),
    }


def consistent_returns() -> tuple[ClusterExpectation, list[VariantOutcome], list[list[float]]]:
    outs = [
        outcome(
            "return-window", "email-new", "You can return items within 30 days.", "returns-window"
        ),
        outcome(
            "return-window",
            "sms-new",
            "You can return items within 30 days.",
            "returns-window",
            channel="sms",
        ),
    ]
    return RETURNS, outs, [[1.0, 0.0], [1.0, 0.0]]


def shipping(
    consistent: bool,
) -> tuple[ClusterExpectation, list[VariantOutcome], list[list[float]]]:
    common: dict[str, Any] = {"team": "orders_shipping", "intent": "delivery_time"}
    outs = [
        outcome(
            "delivery-time",
            "email-new",
            "Orders arrive within 2 business days in Germany.",
            "delivery-times",
            **common,
        ),
        outcome(
            "delivery-time",
            "chat-returning",
            "Orders arrive within 2 business days in Germany."
            if consistent
            else "Orders arrive within 5 business days in Austria.",
            "delivery-times" if consistent else "customs-duties",
            channel="chat",
            customer="returning",
            team="orders_shipping",
            intent="delivery_time" if consistent else "lost_parcel",
            intent_confidence=0.55,
        ),
    ]
    return SHIPPING, outs, [[1.0, 0.0], [1.0, 0.0] if consistent else [0.6, 0.8]]


@pytest.fixture(scope="module")
def page() -> str:
    previous = result_of([consistent_returns(), shipping(consistent=True)])
    previous["clusters"].append(
        {"id": "old-cluster", "scores": {"consistent": True}, "variants": [], "expected": {}}
    )
    current = result_of(
        [consistent_returns(), shipping(consistent=False)],
        bars={
            "team_accuracy": 0.9,
            "fact_agreement": 0.9,
            "public_privacy": 1.0,
            "needs_human_rate": 0.5,
        },
    )
    current["compare"] = {
        "baseline": "eval run 0f1e2d",
        "previous_hash": previous["suite"]["hash"],
        "same_suite": True,
        "previous_run": previous["run"],
        "metrics": compare(current["summary"], previous["summary"]),
        "clusters": compare_clusters(current["clusters"], previous["clusters"]),
    }
    return render_report([current])


def without_data_uris(page: str) -> str:
    return re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "data:", page)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags(page: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(page)
    parser.close()
    return parser.tags


def test_the_page_is_self_contained(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    found = tags(page)
    assert not [t for t, _ in found if t in ("script", "link", "iframe", "object", "embed")]
    for tag, attrs in found:
        for name in ("src", "href"):
            if name not in attrs:
                continue
            value = attrs[name] or ""
            assert not re.match(r"\s*(?:https?:)?//", value), (tag, name, value)
            if name == "src":
                assert value.startswith("data:image/png;base64,"), (tag, value[:40])
            if name == "href":
                assert value.startswith("#"), value  # only in-page anchors
    text = without_data_uris(page).lower()
    assert "<script" not in text and "<link" not in text and "@import" not in text
    assert "url(" not in text  # no fonts or images from elsewhere through CSS
    # Customer text is escaped, not markup.
    assert XSS not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_inline_charts_confusion_matrix_and_reliability_diagram(page: str) -> None:
    images = [a for t, a in tags(page) if t == "img"]
    alts = {a.get("alt") for a in images}
    assert {"intent confusion matrix", "team confusion matrix", "reliability diagram"} <= alts
    for img in images:
        data = base64.b64decode((img["src"] or "").split(",", 1)[1])
        assert data.startswith(b"\x89PNG\r\n\x1a\n")  # a real PNG
    assert "Intent confusion matrix (accuracy 0.750)" in page
    assert "Team confusion matrix (accuracy 1.000)" in page
    assert "Reliability of the routing confidence" in page
    assert "<th>mean confidence</th>" in page  # the table of the reliability bins


def drill_down(page: str, cluster: str) -> str:
    """The drill-down section of one cluster (up to the next cluster's or heading)."""
    rest = page.split(f"<details id='s0-{cluster}'>")[1]
    return re.split(r"<details id=|<h3>", rest)[0]


def test_drill_down_highlights_differing_drafts(page: str) -> None:
    assert "<details id='s0-delivery-time'>" in page
    assert "<a href='#s0-delivery-time'>delivery-time</a>" in page
    section = drill_down(page, "delivery-time")
    # The second variant's answer differs from the reference: its changed words are marked.
    assert "<mark>5</mark>" in section and "<mark>Austria.</mark>" in section
    assert "chat-returning" in section and "email-new" in section
    assert "<mark>5 business days</mark>" in section  # a fact not every draft states
    # The consistent cluster has nothing marked in its answers.
    same = drill_down(page, "return-window")
    answers = re.findall(r"<div class='answer'>(.*?)</div>", same, re.S)
    assert len(answers) == 2 and not any("<mark>" in a for a in answers)
    assert diff_html("a b c", "a x c") == "a <mark>x</mark> c"


def test_summary_shows_pass_and_fail_against_the_bars(page: str) -> None:
    rows = {
        m.group(1): m.group(0)
        for m in re.finditer(r"<tr class='[^']*'><td class='l'><code>(\w+)</code>.*?</tr>", page)
    }
    assert "<td>≥ 0.900</td><td>pass</td>" in rows["team_accuracy"]
    assert rows["team_accuracy"].startswith("<tr class='pass'>")
    assert "<td>0.500</td><td>≥ 0.900</td><td>FAIL</td>" in rows["fact_agreement"]
    # a maximum: needs_human_rate passes at or below its bar
    assert "<td>≤ 0.500</td><td>pass</td>" in rows["needs_human_rate"]
    assert rows["fact_agreement"].startswith("<tr class='fail'>")
    assert "<td>n/a</td>" in rows["public_privacy"]  # nothing public: not measurable


def test_compare_section_shows_what_got_better_or_worse(page: str) -> None:
    assert "<th>previous</th><th>change</th>" in page
    fact_row = re.search(r"<code>fact_agreement</code>.*?</tr>", page)
    assert fact_row and "<td class='worse'>-0.500 worse</td>" in fact_row.group(0)
    assert "Clusters since the previous run" in page
    assert "0 better, 1 worse" in page and "removed: old-cluster" in page
    changes = page.split("Clusters since the previous run")[1].split("<h3>")[0]
    assert "<a href='#s0-delivery-time'>delivery-time</a>" in changes
    assert "<td class='l worse'>worse</td>" in changes
    assert "fact agreement 1.000 → 0.000 (-1.000)" in changes
    assert "citation agreement 1.000 → 0.500 (-0.500)" in changes
    assert "modal article" not in changes  # still delivery-times (tie goes to expected)
    assert "return-window" not in changes  # unchanged


def test_compare_names_its_baseline_and_a_changed_suite() -> None:
    previous = result_of([consistent_returns()])
    current = result_of([consistent_returns(), shipping(consistent=True)])
    same = {
        "baseline": "eval run 0f1e2d",
        "previous_hash": previous["suite"]["hash"],
        "same_suite": True,
        "previous_run": {"kb_version": 3},
        "previous_generated_at": "2026-03-01T09:30:00+00:00",
        "metrics": compare(current["summary"], previous["summary"]),
        "clusters": compare_clusters(current["clusters"], previous["clusters"]),
    }
    page = render_report([{**current, "compare": same}])
    assert "Compared with eval run 0f1e2d of 2026-03-01 09:30" in page
    assert "KB version 3" in page and "The suite changed" not in page
    page = render_report([{**current, "compare": {**same, "same_suite": False}}])
    assert "The suite changed since then (another suite hash)" in page


def test_no_compare_section_without_a_previous_run() -> None:
    page = render_report([result_of([consistent_returns()])])
    assert "Clusters since the previous run" not in page and "<th>previous</th>" not in page


def test_drill_down_names_the_translation_of_the_modal_article() -> None:
    exp = ClusterExpectation(
        id="return-window",
        expected_articles=["returns-window", "ruecksendung-erstattung-de"],
        article_languages={"returns-window": "en", "ruecksendung-erstattung-de": "de"},
    )
    outs = [
        outcome("return-window", "email", "Returns within 30 days.", "returns-window"),
        outcome("return-window", "chat", "Returns within 30 days.", "returns-window"),
        outcome("return-window", "de", "Rückgabe in 30 Tagen.", "ruecksendung-erstattung-de"),
    ]
    page = render_report([result_of([(exp, outs, [[1.0]] * 3)])])
    assert (
        "Modal article: returns-window (or its translation ruecksendung-erstattung-de)"
        in drill_down(page, "return-window")
    )
