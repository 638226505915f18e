"""Scores of a classifier on a labelled set: accuracy, macro-F1, team accuracy, calibration.

Accuracy, macro-F1 and team accuracy score the top label of every message, whether or not the
router would abstain on it; `abstain_rate` and `accuracy_when_answered` describe the abstention
threshold separately. ECE uses 15 equal-width confidence bins, (0, 1/15], ..., (14/15, 1].
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.classification.intent_model import Prediction

ECE_BINS = 15


@dataclass(frozen=True)
class LabelScores:
    precision: float
    recall: float
    f1: float
    support: int  # messages whose true label is this one


@dataclass(frozen=True)
class ReliabilityBin:
    lower: float
    upper: float
    count: int
    mean_confidence: float | None  # None for an empty bin
    accuracy: float | None


@dataclass(frozen=True)
class EvalResult:
    n: int
    accuracy: float
    macro_f1: float
    team_accuracy: float | None  # None when no team map was given
    ece: float
    abstain_below: float
    abstain_rate: float
    accuracy_when_answered: float | None  # None when every message was abstained on
    per_label: dict[str, LabelScores]
    confusion_labels: list[str]  # row (true) and column (predicted) order of `confusion`
    confusion: list[list[int]]
    reliability: list[ReliabilityBin]

    def to_json(self, latency_ms_p50: float | None = None) -> dict[str, float | int | None]:
        """The summary object of `router eval --json` (latency measured by the caller)."""
        return {
            "n": self.n,
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "team_accuracy": self.team_accuracy,
            "ece": self.ece,
            "abstain_rate": self.abstain_rate,
            "accuracy_when_answered": self.accuracy_when_answered,
            "latency_ms_p50": latency_ms_p50,
        }

    def top_confusions(self, limit: int = 20) -> list[tuple[str, str, int]]:
        """The most frequent (true, predicted, count) mistakes, largest first."""
        pairs = [
            (self.confusion_labels[i], self.confusion_labels[j], count)
            for i, row in enumerate(self.confusion)
            for j, count in enumerate(row)
            if i != j and count > 0
        ]
        pairs.sort(key=lambda p: (-p[2], p[0], p[1]))
        return pairs[:limit]


def expected_calibration_error(
    confidences: Sequence[float], correct: Sequence[bool], bins: int = ECE_BINS
) -> tuple[float, list[ReliabilityBin]]:
    """ECE over equal-width bins (m-1)/M < conf <= m/M (0 falls in the first bin)."""
    if len(confidences) != len(correct):
        raise ValueError("confidences and correct differ in length")
    n = len(confidences)
    counts = [0] * bins
    conf_sums = [0.0] * bins
    hits = [0] * bins
    for conf, ok in zip(confidences, correct, strict=True):
        if not 0.0 <= conf <= 1.0 + 1e-9:
            raise ValueError(f"confidence out of [0, 1]: {conf}")
        index = min(max(math.ceil(conf * bins) - 1, 0), bins - 1)
        counts[index] += 1
        conf_sums[index] += conf
        hits[index] += int(ok)
    ece = 0.0
    table = []
    for b in range(bins):
        mean_conf = conf_sums[b] / counts[b] if counts[b] else None
        acc = hits[b] / counts[b] if counts[b] else None
        if mean_conf is not None and acc is not None:
            ece += counts[b] / n * abs(acc - mean_conf)
        table.append(ReliabilityBin(b / bins, (b + 1) / bins, counts[b], mean_conf, acc))
    return ece, table


def evaluate(
    y_true: Sequence[str],
    predictions: Sequence[Prediction],
    abstain_below: float = 0.0,
    team_of: Mapping[str, str] | None = None,
) -> EvalResult:
    """Score `predictions` against `y_true`; `team_of` maps an intent to its team.

    A label missing from `team_of` has no team: it counts as team-correct only when the
    predicted label is the true label.
    """
    if len(y_true) != len(predictions):
        raise ValueError(f"{len(y_true)} labels but {len(predictions)} predictions")
    if not y_true:
        raise ValueError("nothing to evaluate")
    n = len(y_true)
    y_pred = [p.label for p in predictions]
    correct = [t == p for t, p in zip(y_true, y_pred, strict=True)]

    labels = sorted(set(y_true) | set(y_pred))
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for t, p in zip(y_true, y_pred, strict=True):
        matrix[index[t]][index[p]] += 1
    support = Counter(y_true)
    predicted = Counter(y_pred)
    per_label: dict[str, LabelScores] = {}
    for label in labels:
        tp = matrix[index[label]][index[label]]
        precision = tp / predicted[label] if predicted[label] else 0.0
        recall = tp / support[label] if support[label] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_label[label] = LabelScores(precision, recall, f1, support[label])
    macro_f1 = sum(s.f1 for s in per_label.values()) / len(per_label)

    team_accuracy = None
    if team_of is not None:
        team_hits = sum(
            t == p or (team_of.get(t) is not None and team_of.get(t) == team_of.get(p))
            for t, p in zip(y_true, y_pred, strict=True)
        )
        team_accuracy = team_hits / n

    confidences = [p.confidence for p in predictions]
    ece, reliability = expected_calibration_error(confidences, correct)
    answered = [ok for ok, conf in zip(correct, confidences, strict=True) if conf >= abstain_below]
    return EvalResult(
        n=n,
        accuracy=sum(correct) / n,
        macro_f1=macro_f1,
        team_accuracy=team_accuracy,
        ece=ece,
        abstain_below=abstain_below,
        abstain_rate=(n - len(answered)) / n,
        accuracy_when_answered=sum(answered) / len(answered) if answered else None,
        per_label=per_label,
        confusion_labels=labels,
        confusion=matrix,
        reliability=reliability,
    )
