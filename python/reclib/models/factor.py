"""Shared scoring for models whose state is a vector per user and per item (ALS, LightFM, ...).

``score(u, i) = <user_vector(u), item_vector(i)> + item_bias(i) + user_bias(u) + offset``

Predict computes, per block of users, one dense matrix product (numpy's BLAS) and cuts it with the
Rust ``topk_dense`` kernel (seen items excluded, candidates masked, ties by item id ascending):
never a Python loop per user.  Subclasses fill ``_user_factors`` / ``_item_factors`` (and the
optional biases) in ``_fit_dense``, or override ``_user_vectors`` when a user's vector comes from
the history given at predict time (Word2Vec, for instance).

Two optional pieces of state cover models whose vectors do not exist for every id:

* ``_user_valid`` / ``_item_valid`` (bool masks over the fit ids): False marks a fit user or
  item without a vector (for example a user whose only rows Spark ALS dropped).  Such a user
  gets no recommendations and such an item is never recommended; neither ever scores NaN.
* ``_cold_user_ids`` / ``_cold_item_ids`` (sorted raw ids unseen in fit) with their
  ``_cold_*_factors`` and optional ``_cold_*_bias``: vectors computed from features (LightFM)
  for users or items that were not in the fit log.  They are scored like fit ids when the
  model's ``can_predict_cold_users`` / ``can_predict_cold_items`` lets them through.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from reclib import _core
from reclib._sparse import Csr
from reclib.exceptions import ColumnMissingError, InvalidParameterError
from reclib.models.base import BlockResult, PredictBlock, Recommender

__all__ = ["FactorRec", "ITEM_METRICS"]

#: Metrics of ``get_nearest_items`` for vector models (MODELS.md §2.6).
ITEM_METRICS = ("cosine_similarity", "euclidean_distance_sim", "dot_product")

# Users scored per matrix product: bounds the dense score block to block x n_items floats.
_BLOCK_FLOATS = 1 << 24

# Optional state arrays (module docstring), saved and shipped when set.
_OPTIONAL = (
    "_user_valid", "_item_valid",
    "_cold_user_ids", "_cold_user_factors", "_cold_user_bias",
    "_cold_item_ids", "_cold_item_factors", "_cold_item_bias",
)


class FactorRec(Recommender):
    """Base of vector models: scoring by blocks of users with one matrix product each."""

    can_predict_item_to_item = True

    def __init__(self) -> None:
        super().__init__()
        self._user_factors: np.ndarray | None = None
        self._item_factors: np.ndarray | None = None
        self._user_bias: np.ndarray | None = None
        self._item_bias: np.ndarray | None = None
        self._offset: float = 0.0
        # Optional (see the module docstring): which fit ids have a vector, and vectors of ids
        # unseen in fit.  None means "every fit id has a vector" and "no cold vectors".
        self._user_valid: np.ndarray | None = None
        self._item_valid: np.ndarray | None = None
        self._cold_user_ids: np.ndarray | None = None
        self._cold_user_factors: np.ndarray | None = None
        self._cold_user_bias: np.ndarray | None = None
        self._cold_item_ids: np.ndarray | None = None
        self._cold_item_factors: np.ndarray | None = None
        self._cold_item_bias: np.ndarray | None = None

    # ----------------------------------------------------------------------------------------
    # Hooks

    def _user_lookup(self, block: PredictBlock) -> tuple[np.ndarray, np.ndarray]:
        """Per row of the block: its fit position with a vector (else -1), and its position in
        the cold-user table (else -1)."""
        warm = _valid_positions(np.asarray(block.users, dtype=np.int64), self._user_valid)
        cold = np.full(len(warm), -1, dtype=np.int64)
        if self._cold_user_ids is not None and len(self._cold_user_ids):
            unseen = np.flatnonzero(np.asarray(block.users) < 0)
            cold[unseen] = self._positions(self._cold_user_ids, block.raw_users[unseen])
        return warm, cold

    def _user_vectors(self, block: PredictBlock) -> tuple[np.ndarray, np.ndarray]:
        """``(rows of block.users that get scores, their vectors)``; default: fitted factors
        (and the cold-user table for users unseen in fit)."""
        assert self._user_factors is not None
        if self._user_valid is None and self._cold_user_ids is None:
            rows = np.flatnonzero(block.users >= 0)
            return rows, self._user_factors[block.users[rows]]
        warm, cold = self._user_lookup(block)
        rows = np.flatnonzero((warm >= 0) | (cold >= 0))
        vectors = np.zeros((len(rows), self._user_factors.shape[1]), self._user_factors.dtype)
        is_warm = warm[rows] >= 0
        vectors[is_warm] = self._user_factors[warm[rows][is_warm]]
        if (~is_warm).any():
            assert self._cold_user_factors is not None
            vectors[~is_warm] = self._cold_user_factors[cold[rows][~is_warm]]
        return rows, vectors

    def _user_bias_of(self, block: PredictBlock, rows: np.ndarray) -> np.ndarray | None:
        if self._user_bias is None:
            return None
        if self._cold_user_ids is None:
            return self._user_bias[block.users[rows]]
        warm, cold = self._user_lookup(block)
        warm, cold = warm[rows], cold[rows]
        bias = np.zeros(len(rows), dtype=np.float64)
        bias[warm >= 0] = self._user_bias[warm[warm >= 0]]
        if self._cold_user_bias is not None:
            bias[cold >= 0] = self._cold_user_bias[cold[cold >= 0]]
        return bias

    def _scored_items(
        self, block: PredictBlock
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """``(item vectors, item biases, allowed mask)`` over the fit items followed by
        ``block.cold_items``; cold items without a vector and invalid fit items are masked."""
        assert self._item_factors is not None
        factors, bias, allowed = self._item_factors, self._item_bias, block.candidates
        if self._item_valid is not None:
            allowed = self._item_valid if allowed is None else allowed & self._item_valid
        n_cold = len(block.cold_items)
        if n_cold == 0 or self._cold_item_ids is None:
            if n_cold and allowed is None:
                allowed = np.ones(len(factors), dtype=bool)
            if n_cold:
                allowed = np.concatenate([allowed, np.zeros(n_cold, dtype=bool)])
                factors = np.vstack([factors, np.zeros((n_cold, factors.shape[1]))])
                bias = None if bias is None else np.concatenate([bias, np.zeros(n_cold)])
            return factors, bias, allowed

        assert self._cold_item_factors is not None
        position = self._positions(self._cold_item_ids, block.cold_items)
        known = position >= 0
        cold_factors = np.zeros((n_cold, factors.shape[1]), dtype=np.float64)
        cold_factors[known] = self._cold_item_factors[position[known]]
        if allowed is None:
            allowed = np.ones(len(factors), dtype=bool)
        allowed = np.concatenate([allowed, known])
        factors = np.vstack([np.asarray(factors, dtype=np.float64), cold_factors])
        if bias is not None or self._cold_item_bias is not None:
            warm_bias = np.zeros(len(self._item_factors)) if bias is None else bias
            cold_bias = np.zeros(n_cold)
            if self._cold_item_bias is not None:
                cold_bias[known] = self._cold_item_bias[position[known]]
            bias = np.concatenate([warm_bias, cold_bias])
        return factors, bias, allowed

    # ----------------------------------------------------------------------------------------
    # Predict

    def _predict_dense(self, block: PredictBlock) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        assert self._item_factors is not None
        rows, vectors = self._user_vectors(block)
        user_bias = self._user_bias_of(block, rows)
        item_factors, item_bias, candidates = self._scored_items(block)
        items_t = np.ascontiguousarray(item_factors.T, dtype=np.float64)
        n_items = items_t.shape[1]
        step = max(1, _BLOCK_FLOATS // max(n_items, 1))

        out_rows, out_items, out_scores = [], [], []
        for start in range(0, len(rows), step):
            part = rows[start:start + step]
            scores = np.asarray(vectors[start:start + step], dtype=np.float64) @ items_t
            if item_bias is not None:
                scores += item_bias[None, :]
            if user_bias is not None:
                scores += user_bias[start:start + step, None]
            if self._offset:
                scores += self._offset
            exclude = _take_pattern(block.exclude, part) if block.exclude is not None else None
            r, i, s = _core.topk_dense(np.ascontiguousarray(scores), block.k, exclude, candidates)
            out_rows.append(part[r])
            out_items.append(i)
            out_scores.append(s)
        if not out_rows:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64)
        return np.concatenate(out_rows), np.concatenate(out_items), np.concatenate(out_scores)

    def _score_pairs_dense(
        self,
        users: np.ndarray,
        history: Csr,
        pair_rows: np.ndarray,
        pair_items: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        assert self._item_factors is not None
        block = PredictBlock(
            users=users, raw_users=users, history=history, exclude=None, candidates=None,
            cold_items=np.zeros(0, np.int64), k=0,
        )
        rows, vectors = self._user_vectors(block)
        position = np.full(len(users), -1, dtype=np.int64)
        position[rows] = np.arange(len(rows))
        at = position[pair_rows]
        valid = at >= 0
        scores = np.zeros(len(pair_rows), dtype=np.float64)
        scores[valid] = np.einsum(
            "ij,ij->i",
            np.asarray(vectors, dtype=np.float64)[at[valid]],
            self._item_factors[pair_items[valid]].astype(np.float64),
        )
        if self._item_bias is not None:
            scores[valid] += self._item_bias[pair_items[valid]]
        user_bias = self._user_bias_of(block, rows)
        if user_bias is not None:
            scores[valid] += user_bias[at[valid]]
        scores[valid] += self._offset
        if self._item_valid is not None:
            valid &= self._item_valid[pair_items]
        return scores, valid

    def _pairs_native(
        self,
        pair_users: np.ndarray,
        pair_items: np.ndarray,
        hist_users: np.ndarray,
        hist_items: np.ndarray,
    ) -> BlockResult:
        """Pairs of fit ids through the base class; with cold-vector tables, also cold ids."""
        if self._cold_user_ids is None and self._cold_item_ids is None:
            return super()._pairs_native(pair_users, pair_items, hist_users, hist_items)

        # Every distinct pair user and item, looked up as a one-row-per-id predict block.
        users, user_row = np.unique(pair_users, return_inverse=True)
        items, item_col = np.unique(pair_items, return_inverse=True)
        user_pos = self._positions(self.fit_users, users)
        item_pos = self._positions(self.fit_items, items)
        if not self.can_predict_cold_users:
            users = np.where(user_pos >= 0, users, -1)
        cold_items = items[item_pos < 0] if self.can_predict_cold_items else items[:0]
        block = PredictBlock(
            users=user_pos, raw_users=users, history=Csr.empty(len(users), self.items_count),
            exclude=None, candidates=None, cold_items=cold_items, k=0,
        )
        rows, vectors = self._user_vectors(block)
        user_bias = self._user_bias_of(block, rows)
        item_factors, item_bias, allowed = self._scored_items(block)

        # Column of each distinct item among the fit items followed by the cold items.
        column = np.where(item_pos >= 0, item_pos, -1)
        cold_at = np.flatnonzero(item_pos < 0)
        if len(cold_items):
            column[cold_at] = self.items_count + np.arange(len(cold_at))
        at = np.full(len(users), -1, dtype=np.int64)
        at[rows] = np.arange(len(rows))

        u, c = at[user_row], column[item_col]
        keep = (u >= 0) & (c >= 0)
        keep[keep] = True if allowed is None else allowed[c[keep]]
        u, c = u[keep], c[keep]
        scores = np.einsum(
            "ij,ij->i", np.asarray(vectors, np.float64)[u], np.asarray(item_factors, np.float64)[c]
        )
        if item_bias is not None:
            scores += item_bias[c]
        if user_bias is not None:
            scores += user_bias[u]
        scores += self._offset
        return BlockResult(pair_users[keep], pair_items[keep], scores)

    # ----------------------------------------------------------------------------------------
    # Features and neighbours

    def get_features(self, ids: Any) -> tuple[Any, int | None]:
        """Learned vectors: ``ids`` has ``user_idx`` or ``item_idx``; unknown ids give NaN.

        Returns ``(frame, rank)`` where the frame has the id column and ``<entity>_factors``
        (a list of floats per row) and, when the model has biases, ``<entity>_bias``.
        """
        self._check_fitted()
        from reclib.engines.frames import is_spark_frame

        spark_input = is_spark_frame(ids)
        frame = ids.toPandas() if spark_input else ids
        if "user_idx" in frame.columns:
            entity, known, factors, bias = "user", self.fit_users, self._user_factors, \
                self._user_bias
        elif "item_idx" in frame.columns:
            entity, known, factors, bias = "item", self.fit_items, self._item_factors, \
                self._item_bias
        else:
            raise ColumnMissingError(
                f"`ids` must have a `user_idx` or `item_idx` column, got {list(frame.columns)}"
            )
        if factors is None:
            return None, None

        raw = frame[f"{entity}_idx"].to_numpy()
        valid = self._user_valid if entity == "user" else self._item_valid
        position = _valid_positions(self._positions(known, raw), valid)
        rank = factors.shape[1]
        vectors = np.full((len(raw), rank), np.nan)
        vectors[position >= 0] = factors[position[position >= 0]]
        values = np.full(len(raw), np.nan)
        if bias is not None:
            values[position >= 0] = bias[position[position >= 0]]

        # Ids unseen in fit that have a vector from features (LightFM).
        cold_ids = getattr(self, f"_cold_{entity}_ids")
        if cold_ids is not None and len(cold_ids):
            cold = np.where(self._positions(known, raw) < 0, self._positions(cold_ids, raw), -1)
            vectors[cold >= 0] = getattr(self, f"_cold_{entity}_factors")[cold[cold >= 0]]
            cold_bias = getattr(self, f"_cold_{entity}_bias")
            if bias is not None and cold_bias is not None:
                values[cold >= 0] = cold_bias[cold[cold >= 0]]

        out = pd.DataFrame({f"{entity}_idx": raw})
        if bias is not None:
            out[f"{entity}_bias"] = values
        out[f"{entity}_factors"] = list(vectors)
        if spark_input:
            from reclib.engines.spark import to_spark

            out[f"{entity}_factors"] = out[f"{entity}_factors"].map(lambda v: v.tolist())
            return to_spark(out, like=ids), rank
        return out, rank

    def _nearest_dense(
        self,
        items: np.ndarray,
        k: int,
        metric: str | None,
        candidates: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
        assert self._item_factors is not None
        queries = np.arange(len(items))
        if self._item_valid is not None:
            # Items without a vector are neither queries nor neighbours.
            queries = np.flatnonzero(self._item_valid[items])
            items = items[queries]
            candidates = self._item_valid if candidates is None else self._item_valid & candidates
        metric = metric or "cosine_similarity"
        if metric not in ITEM_METRICS:
            raise InvalidParameterError(
                f"`metric` must be one of {list(ITEM_METRICS)}, got {metric!r}"
            )
        vectors = self._item_factors.astype(np.float64)
        query = vectors[items]
        if metric == "dot_product":
            scores = query @ vectors.T
        elif metric == "cosine_similarity":
            norms = np.linalg.norm(vectors, axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                scores = (query @ vectors.T) / np.outer(norms[items], norms)
            scores = np.nan_to_num(scores, nan=0.0)
        else:
            squared = (
                (query**2).sum(1)[:, None] + (vectors**2).sum(1)[None, :] - 2 * query @ vectors.T
            )
            scores = 1.0 / (1.0 + np.sqrt(np.maximum(squared, 0.0)))
        scores[np.arange(len(items)), items] = np.nan  # an item is not its own neighbour

        # Ties: neighbour id descending (MODELS.md §2.6), so rank on reversed columns.
        reversed_scores = np.ascontiguousarray(scores[:, ::-1])
        mask = None if candidates is None else np.ascontiguousarray(candidates[::-1])
        rows, cols, values = _core.topk_dense(reversed_scores, k, None, mask)
        return queries[rows], scores.shape[1] - 1 - cols, values, metric

    # ----------------------------------------------------------------------------------------
    # State

    def _state_arrays(self) -> dict[str, np.ndarray]:
        arrays = {}
        for name in ("_user_factors", "_item_factors", "_user_bias", "_item_bias") + _OPTIONAL:
            value = getattr(self, name)
            if value is not None:
                arrays[name.lstrip("_")] = value
        return arrays

    def _load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        for name, value in arrays.items():
            setattr(self, f"_{name}", np.asarray(value))

    def _state_meta(self) -> dict[str, Any]:
        return {"offset": self._offset}

    def _load_state_meta(self, meta: dict[str, Any]) -> None:
        self._offset = float(meta.get("offset", 0.0))


def _valid_positions(position: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    """``position`` with -1 where the id is unknown or marked without a vector in ``valid``."""
    if valid is None:
        return position
    keep = position >= 0
    keep[keep] = valid[position[keep]]
    return np.where(keep, position, -1)


def _take_pattern(
    pattern: tuple[np.ndarray, np.ndarray], rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The rows ``rows`` of a CSR pattern ``(indptr, indices)``, as a new pattern."""
    indptr, indices = pattern
    starts = indptr[rows]
    lengths = indptr[rows + 1] - starts
    new_indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_indptr[1:])
    offsets = np.arange(new_indptr[-1], dtype=np.int64) - np.repeat(new_indptr[:-1], lengths)
    return new_indptr, indices[np.repeat(starts, lengths) + offsets]
