"""ClusterRec: users grouped by k-means on their features; each group gets its popular items.

Fit (``MODELS.md`` §4.11):

1. k-means with ``num_clusters`` centres on the user feature table (every column but
   ``user_idx``, numeric, unscaled): Spark ML's ``KMeans`` (``k-means||`` init, 20 iterations,
   tolerance 1e-4, Spark's default seed) when the table is a Spark DataFrame, else an in-process
   Lloyd's algorithm with k-means++ init under a fixed seed and the same iteration limit and
   tolerance.  Either way the fitted state is the matrix of centres.
2. Every user of the table goes to its nearest centre (Euclidean; ties: lower cluster number).
3. ``count(c, i)`` = log rows of item ``i`` whose user is in cluster ``c`` (relevance ignored,
   duplicates count; rows of users without features are ignored), and
   ``score(c, i) = count(c, i) / max_j count(c, j)``.

Predict assigns each target user to the nearest centre using the ``user_features`` given to
``predict`` (so users unseen in fit are served when they have features; users without features
get nothing) and recommends the items of that cluster by score, minus the items the user has in
the predict ``log`` (when ``filter_seen_items``).  Ties are broken by item id ascending.

How user features reach the shared pipeline: :meth:`ClusterRec.predict` computes the cluster of
every user of ``user_features`` on the driver (the table is small next to a log) and stores the
result on a shallow copy of the model as two state arrays (``target_users``,
``target_clusters``).  That copy runs the shared pipeline unchanged: in-process, or shipped to
Spark executors with the rest of its state; ``_predict_dense`` looks each target user up in it.
The fitted model itself is never modified by a predict.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from reclib import _core
from reclib._logging import get_logger
from reclib._sparse import Csr
from reclib.data.schema import USER_COL, Interactions
from reclib.engines.frames import is_spark_frame
from reclib.exceptions import (
    ColumnMissingError,
    InvalidParameterError,
    InvalidValueError,
    NotFittedError,
    SchemaError,
)
from reclib.models._checks import check_int
from reclib.models.base import DenseLog, PredictBlock, Recommender
from reclib.models.hybrid import feature_table

__all__ = ["ClusterRec", "kmeans", "nearest_centre"]

logger = get_logger(__name__)

#: Spark ML KMeans defaults, used by the in-process k-means too.
KMEANS_MAX_ITER = 20
KMEANS_TOL = 1e-4
#: Seed of the in-process k-means++ initialisation.
KMEANS_SEED = 0

# --------------------------------------------------------------------------------------------
# k-means


def nearest_centre(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Index of the nearest centre (Euclidean) of every point; ties go to the lower index."""
    if len(points) == 0:
        return np.zeros(0, dtype=np.int64)
    squared = (
        (points**2).sum(axis=1)[:, None]
        - 2.0 * points @ centres.T
        + (centres**2).sum(axis=1)[None, :]
    )
    return np.argmin(squared, axis=1).astype(np.int64)


def kmeans(
    points: np.ndarray,
    n_clusters: int,
    seed: int = KMEANS_SEED,
    max_iter: int = KMEANS_MAX_ITER,
    tol: float = KMEANS_TOL,
) -> np.ndarray:
    """Lloyd's k-means with k-means++ initialisation, in numpy.

    Parameters
    ----------
    points : numpy.ndarray of float64, shape (n, d)
        The points (at least one).
    n_clusters : int
        Centres wanted; fewer are returned when the points have fewer distinct values.
    seed : int
        Seed of the initialisation.
    max_iter : int
        Lloyd iterations at most.
    tol : float
        Stop once no centre moves by more than ``tol`` (Euclidean), as Spark ML does.

    Returns
    -------
    numpy.ndarray of float64, shape (m, d) with m <= n_clusters
        The centres.
    """
    rng = np.random.default_rng(seed)
    n = len(points)

    # k-means++: each new centre drawn with probability proportional to D(x)^2.
    chosen = [int(rng.integers(n))]
    dist2 = ((points - points[chosen[0]]) ** 2).sum(axis=1)
    while len(chosen) < n_clusters:
        total = dist2.sum()
        if not total > 0:
            break  # every point already coincides with a centre
        pick = int(np.searchsorted(np.cumsum(dist2), rng.random() * total, side="right"))
        pick = min(pick, n - 1)
        chosen.append(pick)
        dist2 = np.minimum(dist2, ((points - points[pick]) ** 2).sum(axis=1))
    centres = points[chosen].astype(np.float64)

    # Lloyd: assign, then move every non-empty cluster to its mean.
    for _ in range(max_iter):
        labels = nearest_centre(points, centres)
        counts = np.bincount(labels, minlength=len(centres))
        sums = np.zeros_like(centres)
        np.add.at(sums, labels, points)
        moved = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], centres)
        shift = np.sqrt(((moved - centres) ** 2).sum(axis=1)).max()
        centres = moved
        if shift <= tol:
            break
    return centres


def _spark_kmeans(features: Any, columns: list[str], n_clusters: int) -> np.ndarray:
    """Spark ML ``KMeans`` (Spark's defaults) on a Spark feature table; the centres."""
    from pyspark.ml.clustering import KMeans
    from pyspark.ml.feature import VectorAssembler

    assembler = VectorAssembler(inputCols=columns, outputCol="_features")
    vectors = assembler.transform(features.select(*columns))
    fitted = KMeans(k=n_clusters, featuresCol="_features").fit(vectors)
    return np.asarray([np.asarray(c, dtype=np.float64) for c in fitted.clusterCenters()])


# --------------------------------------------------------------------------------------------
# Feature tables


def _user_features(
    features: Any, columns: list[str] | None = None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Validate ``user_features``: ``(sorted user ids, feature matrix, feature columns)``.

    ``columns`` are the feature columns of fit; at predict the table must have exactly those.
    """
    if features is None:
        raise InvalidParameterError(
            "ClusterRec needs `user_features` (user_idx plus numeric columns), got None"
        )
    table = feature_table(features, "user", "user_features")
    if columns is not None and table.columns != columns:
        missing = sorted(set(columns) - set(table.columns))
        if missing:
            raise ColumnMissingError(
                f"`user_features` is missing the feature column(s) {missing} the model was "
                f"fitted with; it has {table.columns}, expected {columns}"
            )
        extra = sorted(set(table.columns) - set(columns))
        raise SchemaError(
            f"`user_features` has feature column(s) {extra} the model was not fitted with; "
            f"expected exactly {columns} besides `{USER_COL}`"
        )
    return table.ids, table.values, table.columns


# --------------------------------------------------------------------------------------------
# The model


class ClusterRec(Recommender):
    """Recommend to each user the most frequent items of its k-means cluster of users.

    A *user recommender*: it needs a user feature table (``user_idx`` plus numeric columns) at
    fit and at predict.

    Parameters
    ----------
    num_clusters : int, default 10
        Number of k-means clusters (>= 1); fewer are used when the feature table has fewer
        distinct rows.

    Examples
    --------
    >>> import pandas as pd
    >>> log = pd.DataFrame({"user_idx": [1, 2, 3], "item_idx": [1, 2, 3]})
    >>> features = pd.DataFrame({
    ...     "user_idx": [1, 2, 3, 4, 5],
    ...     "age": [18, 20, 80, 16, 69],
    ...     "sex": [1, 0, 0, 1, 0],
    ... })
    >>> model = ClusterRec(num_clusters=2).fit(log, features)
    >>> model.predict(features, k=1, users=[4])
       user_idx  item_idx  relevance
    0         4         1        1.0
    """

    can_predict_cold_users = True
    _search_space: ClassVar[dict[str, dict[str, Any]] | None] = {
        "num_clusters": {"type": "int", "args": [2, 20]},
    }

    def __init__(self, num_clusters: int = 10) -> None:
        super().__init__()
        self.num_clusters = num_clusters
        self._centres: np.ndarray | None = None
        self._feature_columns: list[str] = []
        self._scores: Csr | None = None
        # Set only during fit: (feature users, their clusters, centres), then the cluster of
        # every log row.
        self._fit_clusters: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._row_clusters: np.ndarray | None = None
        # Set only on the per-call copy a predict makes: the cluster of every user of the
        # call's feature table.
        self._target_users: np.ndarray | None = None
        self._target_clusters: np.ndarray | None = None

    def _validate_params(self) -> None:
        check_int("ClusterRec", "num_clusters", self.num_clusters, low=1)

    def _needs_relevance(self) -> bool:
        return False

    @property
    def centres(self) -> np.ndarray:
        """The fitted cluster centres, one row per cluster (columns: the feature columns)."""
        self._check_fitted()
        assert self._centres is not None
        return self._centres

    # ----------------------------------------------------------------------------------------
    # Fit

    def fit(self, log: Any, user_features: Any = None) -> ClusterRec:  # type: ignore[override]
        """Cluster the users of ``user_features`` and count each cluster's items in ``log``.

        Parameters
        ----------
        log : pandas.DataFrame or pyspark.sql.DataFrame
            ``user_idx``, ``item_idx`` (relevance is not used).
        user_features : pandas.DataFrame or pyspark.sql.DataFrame
            ``user_idx`` and numeric feature columns, one row per user; a Spark table is
            clustered by Spark ML's ``KMeans``.

        Returns
        -------
        ClusterRec
            ``self``, fitted.
        """
        self._validate_params()
        # Limitation: the feature table is collected to the driver (to assign every user to a
        # centre); a table too large for the driver's memory is not supported.  `fit_users` are
        # the log's users only, not those of the table as well (MODELS.md §2.2): predict always
        # has a feature table, so they never serve as the default target users.
        ids, matrix, columns = _user_features(user_features)
        if len(ids) == 0:
            raise InvalidValueError("`user_features` is empty; expected at least one user")

        if is_spark_frame(user_features):
            centres = _spark_kmeans(user_features, columns, self.num_clusters)
        else:
            centres = kmeans(matrix, self.num_clusters)
        logger.debug("ClusterRec: %d centres over %d users", len(centres), len(ids))

        self._fit_clusters = (ids, nearest_centre(matrix, centres), centres)
        try:
            super().fit(log)
        finally:
            self._fit_clusters = None
        self._feature_columns = columns
        return self

    def _fit_interactions(self, interactions: Interactions) -> None:
        # The cluster of each log row's user (-1: the user has no features).
        assert self._fit_clusters is not None
        feature_users, feature_clusters, _ = self._fit_clusters
        position = self._positions(feature_users, interactions.users)
        clusters = np.where(position >= 0, feature_clusters[position], -1)
        missing = int((clusters < 0).sum())
        if missing:
            logger.warning(
                "ClusterRec: %d of %d log rows belong to users absent from `user_features`; "
                "they are not counted",
                missing, len(clusters),
            )
        self._row_clusters = clusters
        try:
            super()._fit_interactions(interactions)
        finally:
            self._row_clusters = None

    def _fit_dense(self, log: DenseLog) -> None:
        assert self._row_clusters is not None and self._fit_clusters is not None
        centres = self._fit_clusters[2]
        counted = self._row_clusters >= 0
        counts = Csr.from_coo(
            self._row_clusters[counted], log.items[counted], None, len(centres), log.n_items,
            "count",
        )
        row_max = np.zeros(len(centres))
        nonempty = np.diff(counts.indptr) > 0
        row_max[nonempty] = np.maximum.reduceat(counts.data, counts.indptr[:-1][nonempty])
        scores = counts.data / np.repeat(row_max, np.diff(counts.indptr))
        self._scores = Csr(counts.indptr, counts.indices, scores, log.n_items)
        self._centres = centres

    # ----------------------------------------------------------------------------------------
    # Predict

    def _with_targets(self, user_features: Any) -> ClusterRec:
        """A shallow copy of the model that knows the cluster of every user of the table."""
        assert self._centres is not None
        ids, matrix, _ = _user_features(user_features, self._feature_columns)
        model = copy.copy(self)
        model._target_users = ids
        model._target_clusters = nearest_centre(matrix, self._centres)
        return model

    def predict(  # type: ignore[override]
        self,
        user_features: Any,
        k: int = 10,
        log: Any = None,
        users: Any = None,
        items: Any = None,
        filter_seen_items: bool | None = None,
    ) -> Any:
        """Recommend ``k`` items of its cluster to every target user.

        Parameters
        ----------
        user_features : pandas.DataFrame or pyspark.sql.DataFrame
            ``user_idx`` and the feature columns of fit; users absent from it get nothing.
        k : int
            Items per user.
        log : DataFrame, optional
            Histories whose items are removed when ``filter_seen_items``.
        users : list, array or DataFrame with ``user_idx``, optional
            Whom to recommend to; default the users of ``log``, else those of
            ``user_features``.
        items : list, array or DataFrame with ``item_idx``, optional
            Candidate items; default every fit item.
        filter_seen_items : bool, optional
            Remove each user's ``log`` items; default True.

        Returns
        -------
        DataFrame
            ``user_idx, item_idx, relevance``; Spark when any input is a Spark DataFrame.
        """
        self._check_fitted()
        model = self._with_targets(user_features)
        if users is None and log is None:
            users = self._users_of(user_features, model._target_users)
        elif is_spark_frame(user_features) and not any(
            is_spark_frame(x) for x in (log, users, items)
        ):
            log, users = self._to_spark(user_features, log, users)
        return Recommender.predict(model, log, k, users, items, filter_seen_items)

    def fit_predict(  # type: ignore[override]
        self,
        log: Any,
        user_features: Any = None,
        k: int = 10,
        users: Any = None,
        items: Any = None,
        filter_seen_items: bool | None = None,
    ) -> Any:
        """``fit(log, user_features)`` then ``predict(user_features, k, log, ...)``."""
        return self.fit(log, user_features).predict(
            user_features, k, log, users, items, filter_seen_items
        )

    def predict_pairs(  # type: ignore[override]
        self, pairs: Any, log: Any = None, user_features: Any = None
    ) -> Any:
        """Score given (user, item) pairs with their cluster's score (``MODELS.md`` §2.4).

        Pairs whose user has no features, or whose item is not among its cluster's items, are
        absent from the output.
        """
        self._check_fitted()
        model = self._with_targets(user_features)
        return Recommender.predict_pairs(model, pairs, log)

    @staticmethod
    def _users_of(user_features: Any, ids: np.ndarray) -> Any:
        """The users of the feature table, as a frame of the table's engine."""
        if is_spark_frame(user_features):
            return user_features.select(USER_COL)
        return ids

    @staticmethod
    def _to_spark(user_features: Any, log: Any, users: Any) -> tuple[Any, Any]:
        """Move pandas ``log`` / ``users`` to the session of Spark ``user_features``."""
        from reclib.engines.spark import to_spark
        from reclib.models.base import ids_argument

        if log is not None:
            return to_spark(log, like=user_features), users
        ids = ids_argument(users, "users", USER_COL)
        return log, to_spark(pd.DataFrame({USER_COL: ids}), like=user_features)

    def _predict_dense(self, block: PredictBlock) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        assert self._scores is not None
        if self._target_users is None or self._target_clusters is None:
            raise NotFittedError(
                "ClusterRec scores users only through predict(user_features, ...) or "
                "predict_pairs(pairs, log, user_features)"
            )
        position = self._positions(self._target_users, block.raw_users)
        clusters = np.where(position >= 0, self._target_clusters[position], -1)

        # Users of one cluster share one score vector: one ranked top-k per cluster.
        out_rows, out_items, out_scores = [], [], []
        scores = self._scores
        for cluster in np.unique(clusters[clusters >= 0]):
            rows = np.flatnonzero(clusters == cluster)
            vector = np.full(scores.n_cols, np.nan)
            begin, end = scores.indptr[cluster], scores.indptr[cluster + 1]
            vector[scores.indices[begin:end]] = scores.data[begin:end]
            exclude = None
            if block.exclude is not None:
                exclude = block.history.take_rows(rows).pattern()
            r, i, s = _core.topk_ranked(vector, len(rows), block.k, exclude, block.candidates)
            out_rows.append(rows[r])
            out_items.append(i)
            out_scores.append(s)
        if not out_rows:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64)

        rows = np.concatenate(out_rows)
        order = np.argsort(rows, kind="stable")  # by row, keeping each row's rank order
        return rows[order], np.concatenate(out_items)[order], np.concatenate(out_scores)[order]

    # ----------------------------------------------------------------------------------------
    # State

    def _state_arrays(self) -> dict[str, np.ndarray]:
        assert self._scores is not None and self._centres is not None
        arrays = {
            "centres": self._centres,
            "score_indptr": self._scores.indptr,
            "score_indices": self._scores.indices,
            "score_data": self._scores.data,
        }
        if self._target_users is not None and self._target_clusters is not None:
            arrays["target_users"] = self._target_users
            arrays["target_clusters"] = self._target_clusters
        return arrays

    def _load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self._centres = np.asarray(arrays["centres"], dtype=np.float64)
        self._scores = Csr(
            np.asarray(arrays["score_indptr"]),
            np.asarray(arrays["score_indices"]),
            np.asarray(arrays["score_data"]),
            len(self.fit_items),
        )
        if "target_users" in arrays:
            self._target_users = np.asarray(arrays["target_users"])
            self._target_clusters = np.asarray(arrays["target_clusters"])

    def _state_meta(self) -> dict[str, Any]:
        return {"feature_columns": list(self._feature_columns)}

    def _load_state_meta(self, meta: dict[str, Any]) -> None:
        self._feature_columns = list(meta.get("feature_columns", []))
