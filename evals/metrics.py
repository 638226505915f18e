"""Ranking metrics over labelled queries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


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
