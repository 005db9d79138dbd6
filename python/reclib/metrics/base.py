"""The metric classes: HitRate, Precision, Recall, MAP, NDCG, MRR and Coverage.

Each metric is a small object that is called on a recommendation frame and a ground-truth frame:

>>> NDCG()(recs, ground_truth, k=10)          # doctest: +SKIP
0.41
>>> NDCG()(recs, ground_truth, k=[5, 10])     # doctest: +SKIP
{5: 0.38, 10: 0.41}

The definitions are those of ``EVALUATION.md`` §2.  ``recs`` has ``user_idx, item_idx,
relevance`` (a user's list is ordered by relevance DESC, ties by item_idx ASC; a repeated item
counts once), ``ground_truth`` has ``user_idx, item_idx`` (other columns are ignored).  A value
is the mean over the users of the ground truth; a user without recommendations scores 0 and is
counted.  Inputs may be pandas or Spark DataFrames; if any is Spark the computation runs on
Spark, and either way a plain ``float`` comes back.

:class:`RankingMetric` subclasses also offer :meth:`RankingMetric.per_user`.  Coverage is a
property of the whole recommendation set, so it has no per-user form and needs the train log.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pandas as pd

from reclib.exceptions import InvalidParameterError
from reclib.metrics import _engine
from reclib.metrics._inputs import align_engines, check_columns, parse_k

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
]

RECS_COLUMNS = {"user_idx": "integer", "item_idx": "integer", "relevance": "numeric"}
GT_COLUMNS = {"user_idx": "integer", "item_idx": "integer"}
TRAIN_COLUMNS = {"item_idx": "integer"}


class Metric:
    """Base class of all metrics.

    Subclasses set :attr:`name`, the label used in :func:`~reclib.metrics.evaluate` results
    (``"NDCG@10"``).
    """

    name: ClassVar[str] = "Metric"

    def __call__(self, recs: Any, ground_truth: Any, k: int | list[int]) -> Any:
        """Compute the metric; implemented by subclasses."""
        raise NotImplementedError

    def __repr__(self) -> str:
        """Show the class name."""
        return f"{type(self).__name__}()"


class RankingMetric(Metric):
    """A metric with one value per ground-truth user, averaged over those users."""

    def __call__(
        self, recs: Any, ground_truth: Any, k: int | list[int]
    ) -> float | dict[int, float]:
        """Mean of the per-user values over the users of ``ground_truth``.

        Parameters
        ----------
        recs
            Recommendations: ``user_idx, item_idx, relevance`` (pandas or Spark).
        ground_truth
            Relevant items: ``user_idx, item_idx`` (pandas or Spark).
        k
            The cut-off, or a list of cut-offs.

        Returns
        -------
        float or dict
            A float for one ``k``; ``{k: value}`` for a list.

        Raises
        ------
        InvalidParameterError
            ``k`` is not a positive int or a list of them.
        ColumnMissingError, ColumnTypeError
            An input lacks a column or has one of the wrong type.
        InvalidValueError
            ``ground_truth`` has no rows.
        """
        ks, many = parse_k(k)
        engine, frames = _prepare(recs, ground_truth)
        values = _engine.means(engine, frames["recs"], frames["ground_truth"], (self.name,), ks)
        result = {k_: float(v) for k_, v in zip(ks, values, strict=True)}
        return result if many else result[ks[0]]

    def per_user(self, recs: Any, ground_truth: Any, k: int) -> Any:
        """Compute the value of every ground-truth user at one cut-off ``k``.

        Parameters
        ----------
        recs, ground_truth
            As for calling the metric.
        k
            The cut-off (one positive int).

        Returns
        -------
        pandas.DataFrame or pyspark.sql.DataFrame
            Columns ``user_idx`` (the ground truth's id type) and ``value`` (float), one row per
            ground-truth user; a Spark frame when any input is Spark.  The pandas frame is
            sorted by ``user_idx``.
        """
        ks, many = parse_k(k)
        if many:
            msg = f"`k` of `per_user` must be one positive int, got {k!r}; call it once per cut-off"
            raise InvalidParameterError(msg)
        engine, frames = _prepare(recs, ground_truth)
        gt = frames["ground_truth"]
        result = _engine.per_user(engine, frames["recs"], gt, (self.name,), ks)

        if engine == "pandas":
            users, values = result
            user_dtype = gt["user_idx"].dtype
            return pd.DataFrame({"user_idx": users.astype(user_dtype), "value": values[:, 0]})

        from pyspark.sql import functions as F

        user_type = gt.schema["user_idx"].dataType
        return result.select(
            F.col("user_idx").cast(user_type).alias("user_idx"), F.col("v0").alias("value")
        )


def _prepare(recs: Any, ground_truth: Any) -> tuple[str, dict[str, Any]]:
    """Check both inputs and bring them onto one engine."""
    check_columns(recs, "recs", RECS_COLUMNS)
    check_columns(ground_truth, "ground_truth", GT_COLUMNS)
    return align_engines(
        {"recs": recs, "ground_truth": ground_truth},
        {"recs": list(RECS_COLUMNS), "ground_truth": list(GT_COLUMNS)},
    )


class HitRate(RankingMetric):
    """HitRate@k: 1 when any of the first k recommendations is relevant, else 0."""

    name = "HitRate"


class Precision(RankingMetric):
    """Precision@k: hits in the first k, divided by k (also when fewer than k were given)."""

    name = "Precision"


class Recall(RankingMetric):
    """Recall@k: hits in the first k, divided by the number of relevant items."""

    name = "Recall"


class MAP(RankingMetric):
    """MAP@k: the sum of precision@i over hit ranks i <= k, divided by min(k, |gt|)."""

    name = "MAP"


class NDCG(RankingMetric):
    """NDCG@k with binary gains: sum of 1/log2(i+1) over hit ranks i <= k, over its ideal.

    The ideal DCG puts min(k, |gt|) hits at the top of the list.
    """

    name = "NDCG"


class MRR(RankingMetric):
    """MRR@k: 1 / the rank of the first hit, 0 when none of the first k is relevant."""

    name = "MRR"


class Coverage(Metric):
    """Coverage@k: distinct train items in any user's top k, divided by distinct train items.

    Items recommended but absent from ``train`` are not counted, so the value lies in [0, 1].

    Parameters
    ----------
    train
        The training log (pandas or Spark); only its ``item_idx`` column is read.
    """

    name = "Coverage"

    def __init__(self, train: Any) -> None:
        check_columns(train, "train", TRAIN_COLUMNS)
        self.train = train

    def __call__(
        self, recs: Any, ground_truth: Any, k: int | list[int]
    ) -> float | dict[int, float]:
        """Coverage of ``recs`` at ``k``.

        ``ground_truth`` is accepted, so that every metric is called alike, and ignored; pass
        ``None`` when there is none.

        Returns
        -------
        float or dict
            A float for one ``k``; ``{k: value}`` for a list.
        """
        ks, many = parse_k(k)
        check_columns(recs, "recs", RECS_COLUMNS)
        engine, frames = align_engines(
            {"recs": recs, "train": self.train},
            {"recs": list(RECS_COLUMNS), "train": list(TRAIN_COLUMNS)},
        )
        values = _engine.coverage(engine, frames["recs"], frames["train"], ks)
        result = dict(zip(ks, values, strict=True))
        return result if many else result[ks[0]]

    def __repr__(self) -> str:
        """Show the class name, not the train frame."""
        return "Coverage(train=...)"
