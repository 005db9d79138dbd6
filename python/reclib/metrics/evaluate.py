"""Several metrics at several cut-offs in one pass: :func:`evaluate`.

Calling metrics one by one ranks the recommendations and matches them with the ground truth once
per metric.  :func:`evaluate` does that work once: it builds the per-user hit table a single time
(one Spark job on Spark) and derives every ranking metric at every k from it; Coverage, which
needs the train log, is computed alongside.

>>> evaluate(recs, ground_truth, k=10, metrics=[NDCG(), "MAP"])    # doctest: +SKIP
{'NDCG@10': 0.41, 'MAP@10': 0.27}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reclib.exceptions import InvalidParameterError
from reclib.metrics import _engine
from reclib.metrics._inputs import align_engines, check_columns, parse_k
from reclib.metrics.base import (
    GT_COLUMNS,
    MAP,
    MRR,
    NDCG,
    RECS_COLUMNS,
    TRAIN_COLUMNS,
    Coverage,
    HitRate,
    Metric,
    Precision,
    RankingMetric,
    Recall,
)

__all__ = ["evaluate"]

_RANKING: tuple[type[RankingMetric], ...] = (HitRate, Precision, Recall, MAP, NDCG, MRR)
_ALL: tuple[type[Metric], ...] = (*_RANKING, Coverage)
_BY_NAME: dict[str, type[Metric]] = {cls.name.lower(): cls for cls in _ALL}


def _resolve(metrics: Sequence[Metric | str] | None, train: Any) -> tuple[list[str], Any]:
    """Ranking metric names and the train frame for Coverage (or ``None`` without Coverage)."""
    if metrics is None:
        return [cls.name for cls in _RANKING], train
    if isinstance(metrics, (str, Metric)):
        metrics = [metrics]  # one metric given on its own

    names: list[str] = []
    coverage_train = None
    for metric in metrics:
        if isinstance(metric, str):
            cls = _BY_NAME.get(metric.lower())
            if cls is None:
                msg = (
                    f"`metrics` holds the unknown name {metric!r}; "
                    f"expected one of {sorted(c.name for c in _BY_NAME.values())}"
                )
                raise InvalidParameterError(msg)
            if cls is Coverage:
                if train is None:
                    msg = (
                        "`metrics` asks for 'Coverage' but `train` is None; "
                        "pass the train log as `train=`"
                    )
                    raise InvalidParameterError(msg)
                coverage_train = train
            elif cls.name not in names:
                names.append(cls.name)
        elif isinstance(metric, Coverage):
            coverage_train = metric.train
        elif isinstance(metric, RankingMetric):
            if metric.name not in names:
                names.append(metric.name)
        else:
            msg = (
                f"`metrics` must hold metric objects or names, got {metric!r} "
                f"of type {type(metric).__name__}"
            )
            raise InvalidParameterError(msg)
    return names, coverage_train


def evaluate(
    recs: Any,
    ground_truth: Any,
    k: int | list[int],
    metrics: Sequence[Metric | str] | None = None,
    train: Any = None,
) -> dict[str, float]:
    """Compute several metrics at one or several cut-offs.

    Parameters
    ----------
    recs
        Recommendations: ``user_idx, item_idx, relevance`` (pandas or Spark).
    ground_truth
        Relevant items: ``user_idx, item_idx`` (pandas or Spark).
    k
        A cut-off or a list of cut-offs.
    metrics
        Metric objects (``NDCG()``, ``Coverage(train)``) or their names, case-insensitive
        (``"ndcg"``, ``"Coverage"``).  By default the six ranking metrics, plus Coverage when
        ``train`` is given.
    train
        The train log, used for Coverage requested by name or by default.

    Returns
    -------
    dict
        ``"<Name>@<k>"`` to the value, in the order the metrics and ks were given, e.g.
        ``{"NDCG@5": ..., "NDCG@10": ...}``.

    Raises
    ------
    InvalidParameterError
        An unknown metric name, a bad ``k``, or Coverage without a train log.
    """
    ks, _ = parse_k(k)
    names, coverage_train = _resolve(metrics, train)
    check_columns(recs, "recs", RECS_COLUMNS)
    if names:
        check_columns(ground_truth, "ground_truth", GT_COLUMNS)
    if coverage_train is not None:
        check_columns(coverage_train, "train", TRAIN_COLUMNS)

    engine, frames = align_engines(
        {
            "recs": recs,
            "ground_truth": ground_truth if names else None,
            "train": coverage_train,
        },
        {"recs": list(RECS_COLUMNS), "ground_truth": list(GT_COLUMNS), "train": ["item_idx"]},
    )

    result: dict[str, float] = {}
    if names:
        means = _engine.means(engine, frames["recs"], frames["ground_truth"], tuple(names), ks)
        labels = [f"{name}@{k_}" for name in names for k_ in ks]
        result.update(zip(labels, (float(v) for v in means), strict=True))
    if coverage_train is not None:
        shares = _engine.coverage(engine, frames["recs"], frames["train"], ks)
        result.update((f"Coverage@{k_}", share) for k_, share in zip(ks, shares, strict=True))
    return result
