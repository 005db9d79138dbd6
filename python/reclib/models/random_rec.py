"""RandomRec: items drawn at random, uniformly or in proportion to popularity or relevance.

Each user's draw uses ``numpy.random.default_rng(seed + user_idx)`` when ``seed`` is set, over
the candidate items in ascending id order, so a seeded model gives the same recommendations
for a user on every run and on both engines (the draw does not depend on which other users are
in the request or in which Spark partition the user lands).
"""

from __future__ import annotations

import numpy as np

from reclib import _core
from reclib._logging import get_logger
from reclib._sparse import Csr
from reclib.exceptions import InvalidParameterError, InvalidValueError
from reclib.models._checks import check_bool, check_choice, check_float, check_int
from reclib.models.base import DenseLog, PredictBlock, Recommender

__all__ = ["RandomRec"]

logger = get_logger(__name__)

_DISTRIBUTIONS = ["popular_based", "relevance", "uniform"]


class RandomRec(Recommender):
    """Recommend random items.

    Fit gives each item a weight: ``uniform`` 1; ``popular_based`` the number of distinct users
    of the item plus ``alpha``; ``relevance`` the item's share of all relevance.  Candidate items
    unseen in fit get the smallest weight when ``add_cold`` (else they are never drawn).

    For each user, ``min(#distinct history items + k, #candidates)`` distinct items are drawn
    without replacement with probabilities proportional to the weights; the j-th drawn item
    gets relevance ``1 / j``.  Seen items are then removed, so a user can get fewer than ``k``.

    Parameters
    ----------
    distribution : {"uniform", "popular_based", "relevance"}, default "uniform"
    alpha : float, default 0.0
        Added to the user counts of ``popular_based``; must be > -1 there.
    seed : int, optional
        Makes the draws reproducible (per user: ``default_rng(seed + user_idx)``).
    add_cold : bool, default True
        Whether candidate items unseen in fit can be drawn.
    """

    can_predict_cold_users = True
    can_predict_cold_items = True
    _search_space = {
        "distribution": {"type": "categorical", "args": ["popular_based", "relevance", "uniform"]},
        "alpha": {"type": "uniform", "args": [-0.5, 100]},
    }

    def __init__(
        self,
        distribution: str = "uniform",
        alpha: float = 0.0,
        seed: int | None = None,
        add_cold: bool = True,
    ) -> None:
        super().__init__()
        self.distribution = distribution
        self.alpha = alpha
        self.seed = seed
        self.add_cold = add_cold
        self._weights: np.ndarray | None = None
        self._validate_params()

    def _validate_params(self) -> None:
        check_choice("RandomRec", "distribution", self.distribution, _DISTRIBUTIONS)
        check_float("RandomRec", "alpha", self.alpha)
        if self.distribution == "popular_based" and self.alpha <= -1:
            raise InvalidParameterError(
                f"`alpha` of RandomRec must be > -1 with distribution='popular_based', "
                f"got {self.alpha}"
            )
        if self.seed is not None:
            check_int("RandomRec", "seed", self.seed, low=0)
        check_bool("RandomRec", "add_cold", self.add_cold)

    def _needs_relevance(self) -> bool:
        return self.distribution == "relevance"

    def _fit_dense(self, log: DenseLog) -> None:
        if self.distribution == "uniform":
            self._weights = np.ones(log.n_items, dtype=np.float64)
        elif self.distribution == "popular_based":
            matrix = Csr.from_coo(log.users, log.items, None, log.n_users, log.n_items, "count")
            users, _, _ = _core.column_stats(
                matrix.indptr, matrix.indices, matrix.data, log.n_items
            )
            self._weights = users.astype(np.float64) + float(self.alpha)
        else:
            if (log.relevance < 0).any() or log.relevance.sum() <= 0:
                raise InvalidValueError(
                    "column `relevance` of `log` must be >= 0 with a positive total for "
                    f"RandomRec(distribution='relevance'); got minimum {log.relevance.min()} "
                    f"and total {log.relevance.sum()}"
                )
            sums = np.bincount(log.items, weights=log.relevance, minlength=log.n_items)
            self._weights = sums / log.relevance.sum()

    @property
    def item_popularity(self) -> "object":
        """Fitted item weights as a pandas frame ``item_idx, probability``."""
        import pandas as pd

        self._check_fitted()
        return pd.DataFrame(
            {"item_idx": self.fit_items.astype(self._item_dtype), "probability": self._weights}
        )

    def _predict_dense(self, block: PredictBlock) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        assert self._weights is not None
        n_items = len(self._weights)

        # Candidates as columns (fit items, then cold items) in ascending raw-id order.
        warm = np.arange(n_items) if block.candidates is None else np.flatnonzero(block.candidates)
        columns = np.concatenate([warm, n_items + np.arange(len(block.cold_items))])
        raw = np.concatenate([self.fit_items[warm], block.cold_items])
        fill = self._weights.min() if self.add_cold and n_items else 0.0
        weights = np.concatenate([self._weights[warm], np.full(len(block.cold_items), fill)])
        order = np.argsort(raw, kind="stable")
        columns, weights = columns[order], weights[order]
        if not self.add_cold:
            columns, weights = columns[columns < n_items], weights[columns < n_items]

        probs = None
        drawable = len(columns)
        if self.distribution != "uniform":
            probs = weights / weights.sum() if weights.sum() > 0 else None
            drawable = int((weights > 0).sum()) if probs is not None else 0

        history_len = np.diff(block.history.indptr)
        exclude_ptr, exclude_idx = block.exclude if block.exclude is not None else (None, None)
        out_rows, out_cols, out_scores = [], [], []
        # Limitation: one numpy draw per user (a Python loop), because reproducing
        # Generator.choice exactly per user is what makes seeded results engine-independent.
        for row, user in enumerate(block.raw_users):
            count = min(int(history_len[row]) + block.k, drawable)
            if count == 0:
                continue
            rng = np.random.default_rng(None if self.seed is None else self.seed + int(user))
            drawn = rng.choice(columns, size=count, replace=False, p=probs)
            scores = 1.0 / np.arange(1, count + 1)
            if exclude_ptr is not None:
                seen = exclude_idx[exclude_ptr[row]:exclude_ptr[row + 1]]
                keep = ~np.isin(drawn, seen)
                drawn, scores = drawn[keep], scores[keep]
            out_rows.append(np.full(min(len(drawn), block.k), row, dtype=np.int64))
            out_cols.append(drawn[: block.k])
            out_scores.append(scores[: block.k])
        if not out_rows:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64)
        return np.concatenate(out_rows), np.concatenate(out_cols), np.concatenate(out_scores)

    def _state_arrays(self) -> dict[str, np.ndarray]:
        assert self._weights is not None
        return {"weights": self._weights}

    def _load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self._weights = np.asarray(arrays["weights"], dtype=np.float64)
