"""ALSWrap: matrix factorisation by alternating least squares (``MODELS.md`` §4.6).

The model is Spark ML's ALS with its defaults (``maxIter=10``, ``regParam=0.1``, ``alpha=1.0``):

* implicit feedback (``implicit_prefs=True``): preference ``p_ui = 1 if r_ui > 0 else 0``,
  confidence ``c_ui = 1 + alpha * |r_ui|``, minimise
  ``sum_ui c_ui (p_ui - x_u . y_i)^2 + lambda (sum_u n_u |x_u|^2 + sum_i n_i |y_i|^2)``;
* explicit feedback (``implicit_prefs=False``): minimise
  ``sum over log rows (r_ui - x_u . y_i)^2 + lambda (sum_u n_u |x_u|^2 + sum_i n_i |y_i|^2)``
  with ``n_u`` the user's number of rows (ALS-WR weighting, as Spark does).

Where it runs:

* a **Spark** log is factorised by ``pyspark.ml.recommendation.ALS`` on the cluster; its
  ``userFactors`` / ``itemFactors`` are collected to the driver into the shared
  :class:`~reclib.models.factor.FactorRec` arrays;
* a **pandas** log is factorised in-process: implicit feedback by the ``implicit`` library's
  CPU ALS (conjugate-gradient solver), explicit feedback by :func:`explicit_als`, a vectorised
  numpy ALS-WR (one batched ``numpy.linalg.solve`` per half-iteration).

Either way predict is FactorRec's blocked matrix product and Rust top-k, on the driver for
pandas input and on executors for Spark input: a fitted model scores the same on both engines.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from reclib._logging import get_logger
from reclib.data.schema import ITEM_COL, RELEVANCE_COL, USER_COL, check_spark_log
from reclib.engines.frames import is_spark_frame
from reclib.exceptions import InvalidValueError, MissingDependencyError
from reclib.models._checks import check_bool, check_int
from reclib.models.base import DenseLog
from reclib.models.factor import FactorRec

__all__ = ["ALSWrap", "explicit_als"]

logger = get_logger(__name__)

#: Spark ML's defaults, used by both engines.
MAX_ITER = 10
REG_PARAM = 0.1
ALPHA = 1.0

_INT32_MAX = int(np.iinfo(np.int32).max)
# Floats in one batch of padded per-user matrices of the numpy solver (128 MB of float64).
_SOLVER_BUDGET = 1 << 24


class ALSWrap(FactorRec):
    """Alternating least squares matrix factorisation (Spark ML's ALS semantics).

    Parameters
    ----------
    rank : int, default 10
        Number of latent factors (>= 1).
    implicit_prefs : bool, default True
        Treat relevance as implicit feedback (confidence ``1 + alpha * r``) instead of ratings
        to reconstruct.
    seed : int, optional
        Seed of the initial factors (>= 0).  On Spark, None means Spark ML's default seed; on
        pandas, None draws a fresh one.  A seed repeats results on one engine only.

    Notes
    -----
    Differences from the reference (RePlay 0.8, which always runs Spark ML):

    * A pandas log is fitted in-process.  With implicit feedback this is the ``implicit``
      library's ALS on ``C = 1 + alpha * r`` (``r`` summed over duplicate rows; entries with
      ``r < 0`` become ``-(1 + alpha * |r|)``, implicit's "negative preference"; ``r = 0`` rows
      are dropped, as they carry no weight in Spark either).  implicit regularises with a
      constant ``lambda`` and solves each least-squares system with three conjugate-gradient
      steps, where Spark scales ``lambda`` by the user's (item's) number of positive rows and
      solves exactly: the two engines give factors of the same kind, not the same numbers.
    * Spark treats two rows of one pair as two observations; the pandas implicit path sums
      their relevance first (confidence ``1 + alpha * (r1 + r2)``).
    * Explicit feedback on pandas is :func:`explicit_als`, Spark's algorithm (ALS-WR, exact
      solves, items updated first) with numpy's random initialisation.
    * Ids beyond int32 are fine on both engines (Spark ALS gets dense positions then).

    Examples
    --------
    >>> import pandas as pd
    >>> log = pd.DataFrame({
    ...     "user_idx": [0, 0, 1, 1, 2, 2, 3],
    ...     "item_idx": [0, 1, 1, 2, 0, 2, 0],
    ...     "relevance": [5.0, 4.0, 4.0, 5.0, 5.0, 3.0, 4.0],
    ... })
    >>> recs = ALSWrap(rank=2, implicit_prefs=False, seed=42).fit_predict(log, k=1)
    >>> len(recs), bool(recs["relevance"].notna().all())
    (4, True)
    """

    _search_space = {"rank": {"type": "loguniform_int", "args": [8, 256]}}

    def __init__(self, rank: int = 10, implicit_prefs: bool = True, seed: int | None = None):
        super().__init__()
        self.rank = rank
        self.implicit_prefs = implicit_prefs
        self.seed = seed

    def _validate_params(self) -> None:
        check_int("ALSWrap", "rank", self.rank, low=1)
        check_bool("ALSWrap", "implicit_prefs", self.implicit_prefs)
        if self.seed is not None:
            check_int("ALSWrap", "seed", self.seed, low=0)

    # ----------------------------------------------------------------------------------------
    # Fit on pandas (in-process)

    def fit(self, log: Any) -> ALSWrap:
        """Fit on a log with ``user_idx``, ``item_idx`` and ``relevance``.

        A Spark log is factorised by Spark ML's ALS on the cluster (only the distinct ids and
        the factors come to the driver); a pandas log in-process.
        """
        if not is_spark_frame(log):
            super().fit(log)
            return self
        self._validate_params()
        self._fit_spark(log)
        return self

    def _fit_dense(self, log: DenseLog) -> None:
        if self.implicit_prefs:
            users, items = _implicit_als(log, self.rank, self.seed)
        else:
            users, items = explicit_als(
                log.users, log.items, log.relevance, log.n_users, log.n_items,
                rank=self.rank, reg_param=REG_PARAM, max_iter=MAX_ITER, seed=self.seed,
            )
        self._user_factors = users.astype(np.float32)
        self._item_factors = items.astype(np.float32)
        self._user_valid = self._item_valid = None

    # ----------------------------------------------------------------------------------------
    # Fit on Spark (distributed)

    def _fit_spark(self, log: Any) -> None:
        from pyspark.ml.recommendation import ALS
        from pyspark.sql import functions as sf

        check_spark_log(log, [USER_COL, ITEM_COL, RELEVANCE_COL], "log")
        _check_spark_values(log)

        # The distinct ids (the only columns of the log that come to the driver).
        user_ids = _distinct_ids(log, USER_COL)
        item_ids = _distinct_ids(log, ITEM_COL)
        user_dtype, item_dtype = _spark_id_dtype(log, USER_COL), _spark_id_dtype(log, ITEM_COL)

        # Spark ALS needs int ids: raw ones when they fit, else dense positions from a join.
        frame = log.select(
            sf.col(USER_COL).cast("bigint").alias(USER_COL),
            sf.col(ITEM_COL).cast("bigint").alias(ITEM_COL),
            sf.col(RELEVANCE_COL).cast("double").alias(RELEVANCE_COL),
        )
        session = log.sparkSession
        dense_users = user_ids[-1] > _INT32_MAX
        dense_items = item_ids[-1] > _INT32_MAX
        if dense_users:
            frame = _to_positions(session, frame, USER_COL, user_ids)
        if dense_items:
            frame = _to_positions(session, frame, ITEM_COL, item_ids)
        frame = frame.select(
            sf.col(USER_COL).cast("int").alias(USER_COL),
            sf.col(ITEM_COL).cast("int").alias(ITEM_COL),
            RELEVANCE_COL,
        )

        estimator = ALS(
            rank=self.rank,
            maxIter=MAX_ITER,
            regParam=REG_PARAM,
            alpha=ALPHA,
            implicitPrefs=self.implicit_prefs,
            userCol=USER_COL,
            itemCol=ITEM_COL,
            ratingCol=RELEVANCE_COL,
            coldStartStrategy="drop",
        )
        if self.seed is not None:
            estimator.setSeed(self.seed)
        logger.debug(
            "ALSWrap: Spark ALS on %d users, %d items (rank %d)",
            len(user_ids), len(item_ids), self.rank,
        )
        fitted = estimator.fit(frame)

        self._user_factors, self._user_valid = _collect_factors(
            fitted.userFactors, user_ids, dense_users, self.rank
        )
        self._item_factors, self._item_valid = _collect_factors(
            fitted.itemFactors, item_ids, dense_items, self.rank
        )
        self._set_fit_ids(user_ids, item_ids, user_dtype, item_dtype)


# --------------------------------------------------------------------------------------------
# In-process solvers


def _implicit_als(log: DenseLog, rank: int, seed: int | None) -> tuple[np.ndarray, np.ndarray]:
    """implicit's CPU ALS on Spark's confidence ``1 + alpha * |r|`` (sign: the preference)."""
    try:
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits
    except ImportError as err:
        raise MissingDependencyError(
            "ALSWrap on a pandas log needs the `implicit` package (pip install implicit); "
            f"importing it failed: {err}"
        ) from None

    summed = sp.csr_matrix(
        (log.relevance, (log.users, log.items)), shape=(log.n_users, log.n_items)
    )
    summed.sum_duplicates()
    summed.eliminate_zeros()
    confidence = summed.copy()
    confidence.data = np.sign(summed.data) * (1.0 + ALPHA * np.abs(summed.data))
    confidence = confidence.astype(np.float32)

    # Limitation: implicit regularises every user and item with the same lambda, where Spark
    # uses lambda * (number of positive rows); implicit has no switch for it, so the pandas and
    # Spark fits of implicit ALSWrap differ in regularisation strength (quality is compared in
    # benches/compare_factor.py).
    # implicit's own advice: one BLAS thread while its solver runs its own threads.
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(
            factors=rank,
            regularization=REG_PARAM,
            iterations=MAX_ITER,
            alpha=1.0,  # the confidence above already holds Spark's alpha
            random_state=seed,
        )
        model.fit(confidence, show_progress=False)
    return np.asarray(model.user_factors), np.asarray(model.item_factors)


def explicit_als(
    users: np.ndarray,
    items: np.ndarray,
    ratings: np.ndarray,
    n_users: int,
    n_items: int,
    rank: int,
    reg_param: float = REG_PARAM,
    max_iter: int = MAX_ITER,
    seed: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Explicit-feedback ALS-WR, as Spark ML's ``ALS(implicitPrefs=False)`` computes it.

    Each half-iteration solves, for every user ``u`` at once,
    ``(Y_u^T Y_u + reg_param * n_u * I) x_u = Y_u^T r_u`` where ``Y_u`` stacks the item vectors
    of the user's rows (a duplicated row counts twice) and ``n_u`` is its number of rows; then
    the same for items.  Items are updated first, from random user factors (standard normal
    rows scaled to unit length, Spark's initialisation).

    Parameters
    ----------
    users, items : numpy.ndarray of int
        Dense positions of each row.
    ratings : numpy.ndarray of float
        Each row's rating.
    n_users, n_items : int
        Matrix dimensions.
    rank : int
        Number of factors.
    reg_param : float
        ``lambda``, scaled per user (item) by its number of rows.
    max_iter : int
        Number of (item, user) update pairs.
    seed : int, optional
        Seed of the initial factors.

    Returns
    -------
    tuple of numpy.ndarray
        ``(user_factors (n_users, rank), item_factors (n_items, rank))``, float64.
    """
    rng = np.random.default_rng(seed)
    user_factors = _unit_rows(rng.standard_normal((n_users, rank)))
    item_factors = _unit_rows(rng.standard_normal((n_items, rank)))
    by_user = _RowGroups(users, items, ratings, n_users)
    by_item = _RowGroups(items, users, ratings, n_items)
    for _ in range(max_iter):
        item_factors = by_item.solve(user_factors, reg_param)
        user_factors = by_user.solve(item_factors, reg_param)
    return user_factors, item_factors


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms > 0, norms, 1.0)


class _RowGroups:
    """The log's rows grouped by one side (users or items), for batched normal equations.

    Groups of similar size are padded to a common length (the next power of two) so that one
    batched matrix product forms ``Y_u^T Y_u`` for a whole bucket of groups: BLAS work, no
    Python loop per user, at most twice the useful work.
    """

    def __init__(self, own: np.ndarray, other: np.ndarray, values: np.ndarray, n: int):
        order = np.argsort(own, kind="stable")
        self.other = np.asarray(other, dtype=np.int64)[order]
        self.values = np.asarray(values, dtype=np.float64)[order]
        self.counts = np.bincount(own, minlength=n).astype(np.int64)
        self.starts = np.zeros(n, dtype=np.int64)
        np.cumsum(self.counts[:-1], out=self.starts[1:])
        lengths = np.maximum(self.counts, 1)
        self.bucket = np.ceil(np.log2(lengths)).astype(np.int64)
        self.n = n

    def solve(self, other_factors: np.ndarray, reg_param: float) -> np.ndarray:
        """New factors of this side given the other side's factors."""
        rank = other_factors.shape[1]
        result = np.zeros((self.n, rank), dtype=np.float64)
        eye = np.eye(rank)
        for bucket in np.unique(self.bucket):
            members = np.flatnonzero((self.bucket == bucket) & (self.counts > 0))
            width = 1 << int(bucket)
            per_batch = max(1, _SOLVER_BUDGET // (width * rank + rank * rank))
            for start in range(0, len(members), per_batch):
                group = members[start:start + per_batch]
                offsets = np.arange(width)
                used = offsets[None, :] < self.counts[group, None]
                at = np.where(used, self.starts[group, None] + offsets[None, :], 0)
                stacked = other_factors[self.other[at]] * used[:, :, None]
                targets = np.where(used, self.values[at], 0.0)
                gram = np.matmul(stacked.transpose(0, 2, 1), stacked)
                gram += (reg_param * self.counts[group])[:, None, None] * eye
                rhs = np.einsum("bld,bl->bd", stacked, targets)
                result[group] = np.linalg.solve(gram, rhs[:, :, None])[:, :, 0]
        return result


# --------------------------------------------------------------------------------------------
# Spark helpers


def _check_spark_values(log: Any) -> None:
    """Empty logs, missing or non-finite relevance and negative ids, in one Spark job."""
    from pyspark.sql import functions as sf

    relevance = sf.col(RELEVANCE_COL).cast("double")
    bad = relevance.isNull() | sf.isnan(relevance) | (sf.abs(relevance) == float("inf"))
    row = log.agg(
        sf.count(sf.lit(1)).alias("rows"),
        sf.sum(bad.cast("long")).alias("bad"),
        sf.sum((sf.col(USER_COL) < 0).cast("long")).alias("neg_users"),
        sf.sum((sf.col(ITEM_COL) < 0).cast("long")).alias("neg_items"),
        sf.sum((sf.col(USER_COL).isNull() | sf.col(ITEM_COL).isNull()).cast("long")).alias(
            "null_ids"
        ),
    ).first()
    if not row["rows"]:
        raise InvalidValueError("`log` is empty; expected at least one interaction to fit on")
    if row["bad"]:
        raise InvalidValueError(
            f"column `{RELEVANCE_COL}` of `log` has {row['bad']} missing or non-finite value(s); "
            "expected finite numbers (drop or fill them first)"
        )
    if row["null_ids"]:
        raise InvalidValueError(
            f"`log` has {row['null_ids']} row(s) with a missing `{USER_COL}` or `{ITEM_COL}`; "
            "expected every row to have both ids"
        )
    for column, count in ((USER_COL, row["neg_users"]), (ITEM_COL, row["neg_items"])):
        if count:
            raise InvalidValueError(
                f"column `{column}` of `log` has {count} negative id(s); expected ids >= 0"
            )


def _distinct_ids(log: Any, column: str) -> np.ndarray:
    from pyspark.sql import functions as sf

    table = log.select(sf.col(column).cast("bigint").alias(column)).distinct().toArrow()
    return np.sort(table.column(0).to_numpy().astype(np.int64))


def _spark_id_dtype(log: Any, column: str) -> np.dtype:
    kind = type(log.schema[column].dataType).__name__
    return np.dtype(np.int32) if kind in ("IntegerType", "ShortType", "ByteType") else np.dtype(
        np.int64
    )


def _to_positions(session: Any, frame: Any, column: str, ids: np.ndarray) -> Any:
    """Replace the raw ids of ``column`` by their positions in ``ids`` (a broadcast join)."""
    import pandas as pd
    from pyspark.sql import functions as sf

    mapping = session.createDataFrame(
        pd.DataFrame({column: ids, "_position": np.arange(len(ids), dtype=np.int64)})
    )
    joined = frame.join(sf.broadcast(mapping), on=column, how="inner")
    return joined.drop(column).withColumnRenamed("_position", column)


def _collect_factors(
    factors: Any, ids: np.ndarray, positional: bool, rank: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """Spark's ``(id, features)`` table as a dense array over ``ids`` and a has-vector mask.

    Ids absent from Spark's table get a zero vector and are marked invalid (never NaN).
    """
    table = factors.toArrow()
    spark_ids = table.column("id").to_numpy().astype(np.int64)
    flat = table.column("features").combine_chunks().flatten().to_numpy(zero_copy_only=False)
    vectors = np.asarray(flat, dtype=np.float32).reshape(len(spark_ids), rank)
    position = spark_ids if positional else np.searchsorted(ids, spark_ids)
    if not positional:
        found = (position < len(ids)) & (ids[np.minimum(position, len(ids) - 1)] == spark_ids)
        position, vectors = position[found], vectors[found]

    dense = np.zeros((len(ids), rank), dtype=np.float32)
    dense[position] = vectors
    valid = np.zeros(len(ids), dtype=bool)
    valid[position] = True
    if valid.all():
        return dense, None
    logger.warning(
        "ALSWrap: Spark ALS returned no factors for %d of %d ids; they get no recommendations",
        int((~valid).sum()), len(ids),
    )
    return dense, valid
