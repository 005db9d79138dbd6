"""Ranking metrics of recommendations (EVALUATION.md §2), on pandas and Spark alike.

Public names:

* the metric classes :class:`HitRate`, :class:`Precision`, :class:`Recall`, :class:`MAP`,
  :class:`NDCG`, :class:`MRR` (called as ``metric(recs, ground_truth, k)``, with a
  ``per_user`` method) and :class:`Coverage` (built with the train log);
* :func:`evaluate`, which computes several of them at once in a single pass.
"""

from reclib.metrics.base import (
    MAP,
    MRR,
    NDCG,
    Coverage,
    HitRate,
    Metric,
    Precision,
    RankingMetric,
    Recall,
)
from reclib.metrics.evaluate import evaluate

__all__ = [
    "Metric",
    "RankingMetric",
    "HitRate",
    "Precision",
    "Recall",
    "MAP",
    "NDCG",
    "MRR",
    "Coverage",
    "evaluate",
]
