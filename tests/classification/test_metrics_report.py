"""Evaluation metrics on hand-computed cases, and the HTML report."""

from __future__ import annotations

import base64
import random

import pytest
from sklearn.metrics import accuracy_score, f1_score

from core.classification.intent_model import Prediction
from core.classification.metrics import EvalResult, evaluate, expected_calibration_error
from core.classification.report import render_html


def pred(label: str, confidence: float) -> Prediction:
    return Prediction(label, confidence, [])


# true a a b b; predicted a b b b with confidences 0.9 0.6 0.8 0.3
Y_TRUE = ["a", "a", "b", "b"]
PREDICTIONS = [pred("a", 0.9), pred("b", 0.6), pred("b", 0.8), pred("b", 0.3)]


def test_hand_computed_case() -> None:
    r = evaluate(Y_TRUE, PREDICTIONS, abstain_below=0.5)
    assert r.n == 4
    assert r.accuracy == pytest.approx(0.75)
    # a: P 1/1, R 1/2, F1 2/3; b: P 2/3, R 2/2, F1 0.8
    assert r.per_label["a"].precision == pytest.approx(1.0)
    assert r.per_label["a"].recall == pytest.approx(0.5)
    assert r.per_label["a"].f1 == pytest.approx(2 / 3)
    assert r.per_label["b"].precision == pytest.approx(2 / 3)
    assert r.per_label["b"].f1 == pytest.approx(0.8)
    assert r.per_label["b"].support == 2
    assert r.macro_f1 == pytest.approx((2 / 3 + 0.8) / 2)
    # one per bin: |1-0.9| + |0-0.6| + |1-0.8| + |1-0.3|, over 4
    assert r.ece == pytest.approx((0.1 + 0.6 + 0.2 + 0.7) / 4)
    # 0.3 is below 0.5: abstained; of the other three, 2 are right
    assert r.abstain_rate == pytest.approx(0.25)
    assert r.accuracy_when_answered == pytest.approx(2 / 3)
    assert r.team_accuracy is None
    assert r.confusion_labels == ["a", "b"]
    assert r.confusion == [[1, 1], [0, 2]]
    assert r.top_confusions() == [("a", "b", 1)]


def test_team_accuracy() -> None:
    same_team = evaluate(Y_TRUE, PREDICTIONS, 0.0, {"a": "T", "b": "T"})
    assert same_team.team_accuracy == pytest.approx(1.0)
    split = evaluate(Y_TRUE, PREDICTIONS, 0.0, {"a": "T", "b": "U"})
    assert split.team_accuracy == pytest.approx(0.75)
    # unmapped labels only count when the intent itself is right
    unmapped = evaluate(Y_TRUE, PREDICTIONS, 0.0, {})
    assert unmapped.team_accuracy == pytest.approx(0.75)


def test_ece_pools_a_bin_and_abstains_everything() -> None:
    # 0.95 and 0.97 share the last bin: mean 0.96, accuracy 1/2 -> 2/3 * 0.46; 0.5 right -> 1/3*0.5
    r = evaluate(["x", "y", "x"], [pred("x", 0.95), pred("x", 0.97), pred("x", 0.5)], 0.99)
    assert r.ece == pytest.approx(2 / 3 * 0.46 + 1 / 3 * 0.5)
    last = r.reliability[-1]
    assert last.count == 2
    assert last.mean_confidence == pytest.approx(0.96)
    assert last.accuracy == pytest.approx(0.5)
    assert len(r.reliability) == 15
    assert sum(b.count for b in r.reliability) == 3
    assert r.reliability[0].mean_confidence is None
    assert r.abstain_rate == 1.0
    assert r.accuracy_when_answered is None
    # a predicted label that never occurs as a true label has zero precision and recall
    assert r.per_label["y"].f1 == 0.0
    ece, _ = expected_calibration_error([0.0, 1.0], [False, True])
    assert ece == 0.0


def test_matches_sklearn_on_random_labels() -> None:
    rng = random.Random(3)
    labels = [f"l{i}" for i in range(7)]
    y_true = [rng.choice(labels) for _ in range(300)]
    y_pred = [t if rng.random() < 0.6 else rng.choice(labels) for t in y_true]
    r = evaluate(y_true, [pred(p, rng.random()) for p in y_pred])
    assert r.accuracy == pytest.approx(accuracy_score(y_true, y_pred))
    assert r.macro_f1 == pytest.approx(f1_score(y_true, y_pred, average="macro"))


def test_to_json_keys_and_errors() -> None:
    r = evaluate(Y_TRUE, PREDICTIONS, 0.5, {"a": "T", "b": "U"})
    out = r.to_json(latency_ms_p50=12.5)
    assert set(out) == {
        "n",
        "accuracy",
        "macro_f1",
        "team_accuracy",
        "ece",
        "abstain_rate",
        "accuracy_when_answered",
        "latency_ms_p50",
    }
    assert out["latency_ms_p50"] == 12.5
    assert out["team_accuracy"] == pytest.approx(0.75)
    assert evaluate(Y_TRUE, PREDICTIONS).to_json()["team_accuracy"] is None
    with pytest.raises(ValueError):
        evaluate([], [])
    with pytest.raises(ValueError):
        evaluate(["a"], [])


def many_labels_result() -> EvalResult:
    rng = random.Random(0)
    labels = [f"intent_{i:02d}" for i in range(77)] + ["<script>alert('x')</script>"]
    y_true = [rng.choice(labels) for _ in range(600)]
    predictions = [
        pred(t if rng.random() < 0.8 else rng.choice(labels), rng.uniform(0.3, 1.0)) for t in y_true
    ]
    return evaluate(y_true, predictions, 0.5, {label: "team" for label in labels})


def test_report_is_self_contained_and_escaped() -> None:
    page = render_html(many_labels_result(), "Eval <b>&</b>", latency_ms_p50=3.2)
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "Eval &lt;b&gt;&amp;&lt;/b&gt;" in page
    assert "http://" not in page and "https://" not in page  # nothing fetched from elsewhere
    images = page.split('src="data:image/png;base64,')[1:]
    assert len(images) == 2  # confusion heat map and reliability diagram
    for chunk in images:
        data = base64.b64decode(chunk.split('"', 1)[0])
        assert data.startswith(b"\x89PNG")
    for text in ("Confusion matrix", "Per label", "reliability diagram", "intent_05", "3.20"):
        assert text in page
