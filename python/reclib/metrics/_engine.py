"""Running the metric kernels on pandas (in-process) or on Spark (on executors).

The public classes in :mod:`reclib.metrics.base` and :func:`reclib.metrics.evaluate` only parse
their arguments; this module does the work:

* :func:`per_user` gives the per-user values of several metrics at several ks in one pass over
  the data (numpy arrays on pandas, a lazy Spark DataFrame on Spark);
* :func:`means` averages them over the users of the ground truth;
* :func:`coverage` computes Coverage@k for several ks.

On Spark, recommendations and ground truth are stacked into one frame with a flag column,
repartitioned by user so each user's rows meet in one task, and handed to the numpy kernels of
:mod:`reclib.metrics._kernels` through ``mapInArrow``.  The same kernels run on pandas input, so
the two engines agree.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from reclib._logging import get_logger
from reclib.exceptions import InvalidValueError
from reclib.metrics._kernels import (
    IS_GT,
    build_hit_table,
    item_first_ranks,
    per_user_kernel,
    per_user_matrix,
    topk_kernel,
)

__all__ = ["per_user", "means", "coverage"]

_log = get_logger(__name__)


def _ids(frame: pd.DataFrame, column: str) -> np.ndarray:
    return frame[column].to_numpy(dtype=np.int64)


def _scores(frame: pd.DataFrame) -> np.ndarray:
    return frame["relevance"].to_numpy(dtype=np.float64, na_value=np.nan)


def _spark_recs(recs: Any) -> Any:
    """Select the recommendation columns as (long, long, double), dropping null ids."""
    from pyspark.sql import functions as F

    return recs.select(
        F.col("user_idx").cast("long").alias("user_idx"),
        F.col("item_idx").cast("long").alias("item_idx"),
        F.col("relevance").cast("double").alias("relevance"),
    ).where(F.col("user_idx").isNotNull() & F.col("item_idx").isNotNull())


def per_user(
    engine: str, recs: Any, ground_truth: Any, names: tuple[str, ...], ks: tuple[int, ...]
) -> Any:
    """Per-user values of the metrics ``names`` at every k of ``ks``.

    Returns
    -------
    tuple of numpy.ndarray, or pyspark.sql.DataFrame
        On pandas, ``(users, values)`` with ``values`` of shape ``(n_users, len(names) *
        len(ks))``.  On Spark, a lazy frame ``user_idx`` (long), ``v0, v1, ...`` (double) with
        the columns in the same order.
    """
    if engine == "pandas":
        table = build_hit_table(
            _ids(recs, "user_idx"),
            _ids(recs, "item_idx"),
            _scores(recs),
            _ids(ground_truth, "user_idx"),
            _ids(ground_truth, "item_idx"),
            max(ks),
        )
        return table.users, per_user_matrix(table, names, ks)

    from pyspark.sql import functions as F

    rec_rows = _spark_recs(recs).withColumn(IS_GT, F.lit(False))
    gt_rows = ground_truth.select(
        F.col("user_idx").cast("long").alias("user_idx"),
        F.col("item_idx").cast("long").alias("item_idx"),
        F.lit(None).cast("double").alias("relevance"),
        F.lit(True).alias(IS_GT),
    ).where(F.col("user_idx").isNotNull() & F.col("item_idx").isNotNull())
    schema = ", ".join(["user_idx long"] + [f"v{j} double" for j in range(len(names) * len(ks))])
    kernel = partial(per_user_kernel, names=names, ks=ks)
    return rec_rows.unionByName(gt_rows).repartition("user_idx").mapInArrow(kernel, schema)


def _empty_ground_truth() -> InvalidValueError:
    return InvalidValueError(
        "`ground_truth` has no rows, so there are no users to average over; "
        "expected at least one (user_idx, item_idx) row"
    )


def means(
    engine: str, recs: Any, ground_truth: Any, names: tuple[str, ...], ks: tuple[int, ...]
) -> np.ndarray:
    """Mean over the ground-truth users of each per-user column of :func:`per_user`."""
    started = time.perf_counter()
    if engine == "pandas":
        users, values = per_user(engine, recs, ground_truth, names, ks)
        if len(users) == 0:
            raise _empty_ground_truth()
        result = values.mean(axis=0)
    else:
        from pyspark.sql import functions as F

        frame = per_user(engine, recs, ground_truth, names, ks)
        n_values = len(names) * len(ks)
        sums = [F.sum(f"v{j}").alias(f"v{j}") for j in range(n_values)]
        row = frame.agg(F.count(F.lit(1)).alias("n"), *sums).collect()[0]
        if row["n"] == 0:
            raise _empty_ground_truth()
        result = np.array([row[f"v{j}"] for j in range(n_values)], dtype=np.float64) / row["n"]

    _log.debug(
        "metrics %s at k=%s on %s took %.3f s", names, ks, engine, time.perf_counter() - started
    )
    return result


def coverage(engine: str, recs: Any, train: Any, ks: tuple[int, ...]) -> list[float]:
    """Coverage@k for every k: distinct train items in anyone's top k / distinct train items.

    Raises
    ------
    InvalidValueError
        ``train`` has no items.
    """
    if engine == "pandas":
        items, first_rank = item_first_ranks(
            _ids(recs, "user_idx"), _ids(recs, "item_idx"), _scores(recs), max(ks)
        )
        train_items = np.unique(_ids(train, "item_idx"))
        ranks = np.sort(first_rank[np.isin(items, train_items)])
        n_train = len(train_items)
        counts = [int(np.searchsorted(ranks, k, side="right")) for k in ks]
    else:
        from pyspark.sql import functions as F

        ranked = (
            _spark_recs(recs)
            .repartition("user_idx")
            .mapInArrow(
                partial(topk_kernel, k_max=max(ks)), "user_idx long, item_idx long, rank long"
            )
        )
        train_items = (
            train.select(F.col("item_idx").cast("long").alias("item_idx"))
            .where(F.col("item_idx").isNotNull())
            .distinct()
        )
        first = ranked.groupBy("item_idx").agg(F.min("rank").alias("rank"))
        # One job: every train item with its best rank, null where nobody recommended it.
        by_rank = train_items.join(first, "item_idx", "left").groupBy("rank").count()
        rank_counts = {row["rank"]: row["count"] for row in by_rank.collect()}
        n_train = sum(rank_counts.values())
        rank_counts.pop(None, None)
        counts = [sum(c for r, c in rank_counts.items() if r <= k) for k in ks]

    if n_train == 0:
        msg = "`train` has no items, so Coverage is undefined; expected at least one row"
        raise InvalidValueError(msg)
    return [count / n_train for count in counts]
