"""The ranking metrics the retrieval benchmark reports."""

from __future__ import annotations

import pytest

from evals.metrics import first_rank, ranking_scores


def test_first_rank_counts_distinct_articles() -> None:
    ranked = ["a", "a", "b", "c", "b"]
    assert first_rank(ranked, "a") == 1
    assert first_rank(ranked, "b") == 2
    assert first_rank(ranked, "c") == 3
    assert first_rank(ranked, "z") is None


def test_ranking_scores() -> None:
    scores = ranking_scores([1, 2, None, 6])
    assert scores.n == 4
    assert scores.recall_at_1 == 0.25
    assert scores.recall_at_5 == 0.5
    assert scores.mrr == pytest.approx((1 + 0.5 + 1 / 6) / 4)
    assert ranking_scores([]).mrr == 0.0
