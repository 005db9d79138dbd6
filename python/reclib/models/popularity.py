"""Popularity models: PopRec, Wilson (lower bound of the Wilson score interval), UserPopRec.

All three count in the Rust core (``column_stats`` over a CSR built with the duplicate policy the
model documents) and cut with the Rust top-k kernels.  PopRec and Wilson give every user the
same ranking, minus the user's seen items; UserPopRec ranks each user's own items.

A Spark log is counted by Spark aggregations (``reclib.engines.spark_fit``): PopRec and Wilson
collect one row per item, UserPopRec one row per distinct (user, item) pair (its fitted state,
O(log) by nature), and the driver scores them with the same code as the pandas path.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import norm

from reclib import _core
from reclib._logging import get_logger
from reclib._sparse import Csr
from reclib.exceptions import InvalidValueError
from reclib.models._checks import check_bool, check_float
from reclib.models.base import DenseLog, PredictBlock, Recommender

__all__ = ["PopRec", "Wilson", "UserPopRec"]

logger = get_logger(__name__)


class _ItemScoreRec(Recommender):
    """A model whose fitted state is one score per item, shared by all users."""

    can_predict_cold_users = True

    def __init__(self) -> None:
        super().__init__()
        self._item_scores: np.ndarray | None = None

    def _predict_dense(self, block: PredictBlock) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        assert self._item_scores is not None
        return _core.topk_ranked(
            self._item_scores, len(block.users), block.k, block.exclude, block.candidates
        )

    def _score_pairs_dense(
        self,
        users: np.ndarray,
        history: Csr,
        pair_rows: np.ndarray,
        pair_items: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        assert self._item_scores is not None
        scores = self._item_scores[pair_items]
        return scores, np.ones(len(scores), dtype=bool)

    def _state_arrays(self) -> dict[str, np.ndarray]:
        assert self._item_scores is not None
        return {"item_scores": self._item_scores}

    def _load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self._item_scores = np.asarray(arrays["item_scores"], dtype=np.float64)

    @property
    def item_popularity(self) -> Any:
        """The fitted score of every item as a pandas frame ``item_idx, relevance``."""
        import pandas as pd

        self._check_fitted()
        return pd.DataFrame(
            {"item_idx": self.fit_items.astype(self._item_dtype), "relevance": self._item_scores}
        )


class PopRec(_ItemScoreRec):
    """Recommend the most popular items.

    ``pop(i)`` is the share of fit users that have item ``i`` in their log (duplicates and
    relevance ignored), or with ``use_relevance=True`` the sum of the relevance of the item's
    rows divided by the number of fit users (duplicates add up).  Every user gets the same
    ranking minus the items they have already seen; users unseen in fit get it too.

    Parameters
    ----------
    use_relevance : bool, default False
        Weight by ``relevance`` instead of counting users.

    Examples
    --------
    >>> import pandas as pd
    >>> log = pd.DataFrame({"user_idx": [1, 1, 2, 2, 3, 4], "item_idx": [1, 2, 2, 3, 3, 3],
    ...                     "relevance": [0.5, 1, 0.1, 0.8, 0.7, 1]})
    >>> PopRec().fit_predict(log, k=1)
       user_idx  item_idx  relevance
    0         1         3       0.75
    1         2         1       0.25
    2         3         2       0.50
    3         4         2       0.50
    """

    def __init__(self, use_relevance: bool = False) -> None:
        super().__init__()
        self.use_relevance = use_relevance

    def _validate_params(self) -> None:
        check_bool("PopRec", "use_relevance", self.use_relevance)

    def _needs_relevance(self) -> bool:
        return self.use_relevance

    def _fit_dense(self, log: DenseLog) -> None:
        policy = "sum" if self.use_relevance else "count"
        matrix = Csr.from_coo(log.users, log.items, log.relevance, log.n_users, log.n_items, policy)
        distinct_users, relevance_sums, _ = _core.column_stats(
            matrix.indptr, matrix.indices, matrix.data, log.n_items
        )
        numerator = relevance_sums if self.use_relevance else distinct_users.astype(np.float64)
        self._item_scores = numerator / log.n_users

    def _fit_spark(self, log: Any) -> None:
        """Distinct users (or relevance sums) per item by Spark; one row per item collected."""
        from reclib.engines.spark_fit import item_counts

        ids, numerator = item_counts(log, bool(self.use_relevance))
        self._item_scores = numerator / len(ids.user_ids)
        self._set_fit_ids(ids.user_ids, ids.item_ids, ids.user_dtype, ids.item_dtype)


class Wilson(_ItemScoreRec):
    """Rank items by the lower bound of the Wilson score interval of their positive share.

    Relevance must be 0 or 1 (binarise first, for example ``rating >= 4``).  For each item,
    ``n`` is its number of log rows (duplicates count) and ``p`` the number of those with
    relevance 1; the score is the lower end of the Wilson interval for ``p / n`` at confidence
    ``1 - alpha``.  Predict works as in :class:`PopRec`.

    Parameters
    ----------
    alpha : float, default 0.05
        One minus the confidence level, in (0, 1).

    Examples
    --------
    >>> import pandas as pd
    >>> log = pd.DataFrame({"user_idx": [1, 2], "item_idx": [1, 2], "relevance": [1.0, 1.0]})
    >>> Wilson().fit_predict(log, k=1).round(6)
       user_idx  item_idx  relevance
    0         1         2   0.206549
    1         2         1   0.206549
    """

    def __init__(self, alpha: float = 0.05) -> None:
        super().__init__()
        self.alpha = alpha

    def _validate_params(self) -> None:
        check_float("Wilson", "alpha", self.alpha, 0.0, 1.0, low_open=True, high_open=True)

    def _fit_dense(self, log: DenseLog) -> None:
        not_binary = (log.relevance != 0.0) & (log.relevance != 1.0)
        if not_binary.any():
            examples = np.unique(log.relevance[not_binary])[:5].tolist()
            raise InvalidValueError(
                f"column `relevance` of `log` must hold only 0 and 1 for Wilson, got "
                f"{int(not_binary.sum())} other value(s), e.g. {examples}; binarise it first"
            )
        rows = Csr.from_coo(log.users, log.items, None, log.n_users, log.n_items, "count")
        positives = Csr.from_coo(
            log.users, log.items, log.relevance, log.n_users, log.n_items, "sum"
        )
        _, totals, _ = _core.column_stats(rows.indptr, rows.indices, rows.data, log.n_items)
        _, hits, _ = _core.column_stats(
            positives.indptr, positives.indices, positives.data, log.n_items
        )
        self._item_scores = self._wilson_scores(hits, totals)

    def _fit_spark(self, log: Any) -> None:
        """Positives and rows per item by Spark (exact counts); one row per item collected."""
        from reclib.engines.spark_fit import wilson_counts

        ids, hits, totals = wilson_counts(log)
        self._item_scores = self._wilson_scores(hits, totals)
        self._set_fit_ids(ids.user_ids, ids.item_ids, ids.user_dtype, ids.item_dtype)

    def _wilson_scores(self, hits: np.ndarray, totals: np.ndarray) -> np.ndarray:
        z = float(norm.ppf(1.0 - self.alpha / 2.0))
        return _core.wilson_lower_bound(
            np.ascontiguousarray(hits, dtype=np.float64),
            np.ascontiguousarray(totals, dtype=np.float64),
            z,
        )


class UserPopRec(Recommender):
    """Recommend each user the items that take the largest share of their own relevance.

    ``score(u, i) = sum of r over rows (u, i) / sum of r over rows (u, .)`` (duplicates add up).
    Only the user's own fit items can be recommended, so ``filter_seen_items`` defaults to
    False; users unseen in fit get nothing.  A user whose relevance sums to zero has no defined
    shares and gets no recommendations (a warning says how many).
    """

    default_filter_seen_items = False

    def __init__(self) -> None:
        super().__init__()
        self._scores: Csr | None = None

    def _fit_dense(self, log: DenseLog) -> None:
        matrix = Csr.from_coo(log.users, log.items, log.relevance, log.n_users, log.n_items, "sum")
        self._fit_matrix(matrix)

    def _fit_spark(self, log: Any) -> None:
        """(user, item) relevance sums by Spark, collected; shares as on the pandas path.

        The collected table has one row per distinct (user, item), the size of the fitted
        state itself, which the driver holds anyway.
        """
        from reclib.engines.spark_fit import user_item_sums

        ids, matrix = user_item_sums(log)
        self._fit_matrix(matrix)
        self._set_fit_ids(ids.user_ids, ids.item_ids, ids.user_dtype, ids.item_dtype)

    def _fit_matrix(self, matrix: Csr) -> None:
        """Shares of each user's relevance from the user x item sums (duplicates added)."""
        row_sums = np.add.reduceat(matrix.data, matrix.indptr[:-1]) if matrix.nnz else np.zeros(0)
        zero = row_sums == 0.0
        if zero.any():
            logger.warning(
                "UserPopRec: %d user(s) have relevance summing to 0 and get no recommendations",
                int(zero.sum()),
            )
        with np.errstate(divide="ignore", invalid="ignore"):
            shares = matrix.data / np.repeat(row_sums, np.diff(matrix.indptr))
        shares[np.repeat(zero, np.diff(matrix.indptr))] = np.nan
        self._scores = Csr(matrix.indptr, matrix.indices, shares, matrix.n_cols)

    def _predict_dense(self, block: PredictBlock) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        assert self._scores is not None
        rows = self._scores.take_rows(block.users)
        return _core.topk_csr(
            rows.indptr, rows.indices, rows.data, rows.n_cols, block.k, block.exclude,
            block.candidates,
        )

    def _state_arrays(self) -> dict[str, np.ndarray]:
        assert self._scores is not None
        return {
            "indptr": self._scores.indptr,
            "indices": self._scores.indices,
            "data": self._scores.data,
        }

    def _load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self._scores = Csr(
            np.asarray(arrays["indptr"]),
            np.asarray(arrays["indices"]),
            np.asarray(arrays["data"]),
            len(self.fit_items),
        )
