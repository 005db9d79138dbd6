"""Item-based nearest neighbours (item-KNN) with a shrunk cosine similarity.

Fit builds the user x item matrix ``X`` (``w = relevance`` with ``use_relevance``, else 1;
duplicate rows add up), then the Rust core computes, for every pair of items that share a user,

    sim(i, j) = dot(i, j) / (||i|| * ||j|| + shrink)

where ``||i||`` is the root of the sum of ``w^2`` over the item's *rows* (so a duplicated row
counts twice, as in ``MODELS.md`` §4.5), and keeps the ``num_neighbours`` most similar items of
each item (ties: larger neighbour id first).

Predict scores a candidate ``c`` for a user as the sum of ``sim(h, c)`` over the user's history
rows ``h`` in the predict log (duplicated rows count twice; relevance is not used), then removes
seen items and keeps the top ``k`` (ties: smaller item id first) — one fused Rust kernel.
Users unseen in fit are scored from their history; users with no history get nothing.

A Spark log is fitted on the executors (``reclib.engines.spark_fit``): partial dot products per
user partition, merged per item pair, cut per item partition with the same Rust kernels; only
the kept neighbours come to the driver.  With integer weights (``use_relevance=False``, ratings)
the neighbours are bit-identical to the pandas engine's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from reclib import _core
from reclib._logging import get_logger
from reclib._sparse import Csr
from reclib.models._checks import check_bool, check_float, check_int
from reclib.models.base import DenseLog, PredictBlock, Recommender

__all__ = ["KNN", "NeighbourRec"]

logger = get_logger(__name__)


class NeighbourRec(Recommender):
    """A model whose fitted state is an item x item neighbour matrix ``W``.

    Shared by KNN (and the SLIM family): scores are sums of ``W[h, c]`` over history rows.
    """

    can_predict_cold_users = True
    can_predict_item_to_item = True
    needs_log_at_predict = True

    def __init__(self) -> None:
        super().__init__()
        self._neighbours: Csr | None = None

    @property
    def similarity(self) -> "object":
        """The neighbour table as a pandas frame ``item_idx_one, item_idx_two, similarity``."""
        import pandas as pd

        self._check_fitted()
        assert self._neighbours is not None
        w = self._neighbours
        return pd.DataFrame(
            {
                "item_idx_one": self.fit_items[w.row_ids()].astype(self._item_dtype),
                "item_idx_two": self.fit_items[w.indices].astype(self._item_dtype),
                "similarity": w.data,
            }
        )

    def _predict_dense(self, block: PredictBlock) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        assert self._neighbours is not None
        h, w = block.history, self._neighbours
        return _core.neighbour_topk(
            h.indptr, h.indices, h.data, w.indptr, w.indices, w.data, w.n_cols, block.k,
            block.exclude, block.candidates,
        )

    def _score_pairs_dense(
        self,
        users: np.ndarray,
        history: Csr,
        pair_rows: np.ndarray,
        pair_items: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        assert self._neighbours is not None
        product = (history.to_scipy() @ self._neighbours.to_scipy()).tocoo()
        n_items = self._neighbours.n_cols
        keys = product.row.astype(np.int64) * n_items + product.col
        order = np.argsort(keys, kind="stable")
        keys, data = keys[order], product.data[order]

        # Find each requested (row, item) among the product's entries.
        wanted = pair_rows.astype(np.int64) * n_items + pair_items
        at = np.searchsorted(keys, wanted)
        at_clipped = np.minimum(at, max(len(keys) - 1, 0))
        valid = (at < len(keys)) & (keys[at_clipped] == wanted if len(keys) else False)
        values = np.where(valid, data[at_clipped] if len(keys) else 0.0, 0.0)
        return values, valid

    def _nearest_dense(
        self,
        items: np.ndarray,
        k: int,
        metric: str | None,
        candidates: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
        assert self._neighbours is not None
        rows = self._neighbours.take_rows(items)
        row_of = rows.row_ids()
        keep = np.ones(rows.nnz, dtype=bool) if candidates is None else candidates[rows.indices]
        row_of, cols, values = row_of[keep], rows.indices[keep], rows.data[keep]

        # Per query item: similarity descending, then neighbour id descending; first k.
        order = np.lexsort((-cols.astype(np.int64), -values, row_of))
        row_of, cols, values = row_of[order], cols[order], values[order]
        starts = np.searchsorted(row_of, np.arange(len(items)))
        rank = np.arange(len(row_of)) - starts[row_of]
        cut = rank < k
        return row_of[cut], cols[cut], values[cut], "similarity"

    def _state_arrays(self) -> dict[str, np.ndarray]:
        assert self._neighbours is not None
        w = self._neighbours
        return {"indptr": w.indptr, "indices": w.indices, "data": w.data}

    def _load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self._neighbours = Csr(
            np.asarray(arrays["indptr"]),
            np.asarray(arrays["indices"]),
            np.asarray(arrays["data"]),
            len(self.fit_items),
        )


class KNN(NeighbourRec):
    """Item-KNN: recommend items similar to those in the user's history.

    Parameters
    ----------
    num_neighbours : int, default 10
        Neighbours kept per item (>= 1).
    use_relevance : bool, default False
        Use ``relevance`` as the weight of each row instead of 1.  An item whose weights are all
        0 has norm 0; with ``shrink=0`` its similarities would be 0/0 and are stored as 0.0
        (not NaN), so such items may stay as neighbours that add nothing to a score.
    shrink : float, default 0.0
        Added to the product of norms in the cosine's denominator (>= 0); damps the similarity
        of items with few users.

    Examples
    --------
    >>> import pandas as pd
    >>> log = pd.DataFrame({"user_idx": [0, 1, 2, 2], "item_idx": [0, 1, 0, 1]})
    >>> KNN(num_neighbours=1).fit(log).predict(log, k=1, users=[0, 1])
       user_idx  item_idx  relevance
    0         0         1        0.5
    1         1         0        0.5
    """

    _search_space = {
        "num_neighbours": {"type": "int", "args": [1, 100]},
        "shrink": {"type": "int", "args": [0, 100]},
    }

    def __init__(
        self, num_neighbours: int = 10, use_relevance: bool = False, shrink: float = 0.0
    ) -> None:
        super().__init__()
        self.num_neighbours = num_neighbours
        self.use_relevance = use_relevance
        self.shrink = shrink

    def _validate_params(self) -> None:
        check_int("KNN", "num_neighbours", self.num_neighbours, low=1)
        check_bool("KNN", "use_relevance", self.use_relevance)
        check_float("KNN", "shrink", self.shrink, low=0.0)

    def _needs_relevance(self) -> bool:
        return self.use_relevance

    def _fit_dense(self, log: DenseLog) -> None:
        weights = log.relevance if self.use_relevance else np.ones(len(log.users))
        matrix = Csr.from_coo(log.users, log.items, weights, log.n_users, log.n_items, "sum")
        sq_norms = np.bincount(log.items, weights=weights * weights, minlength=log.n_items)
        indptr, indices, data = _core.item_cosine_topn(
            matrix.indptr, matrix.indices, matrix.data, log.n_items,
            sq_norms.astype(np.float64), float(self.shrink), int(self.num_neighbours),
        )
        self._neighbours = Csr(indptr, indices, data, log.n_items)

    def _fit_spark(self, log: Any) -> None:
        """Fit a Spark log on the executors; the same neighbours as the pandas path."""
        from reclib.engines.spark_fit import knn_neighbours

        ids, neighbours = knn_neighbours(
            log, bool(self.use_relevance), float(self.shrink), int(self.num_neighbours)
        )
        logger.debug(
            "fitted KNN on Spark: %d users, %d items, %d neighbour pairs kept",
            len(ids.user_ids), len(ids.item_ids), neighbours.nnz,
        )
        self._neighbours = neighbours
        self._set_fit_ids(ids.user_ids, ids.item_ids, ids.user_dtype, ids.item_dtype)
