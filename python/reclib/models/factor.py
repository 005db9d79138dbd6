"""Shared scoring for models whose state is a vector per user and per item (ALS, LightFM, ...).

``score(u, i) = <user_vector(u), item_vector(i)> + item_bias(i) + user_bias(u) + offset``

Predict computes, per block of users, one dense matrix product (numpy's BLAS) and cuts it with the
Rust ``topk_dense`` kernel (seen items excluded, candidates masked, ties by item id ascending):
never a Python loop per user.  Subclasses fill ``_user_factors`` / ``_item_factors`` (and the
optional biases) in ``_fit_dense``, or override ``_user_vectors`` when a user's vector comes from
the history given at predict time (Word2Vec, for instance).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from reclib import _core
from reclib._sparse import Csr
from reclib.exceptions import ColumnMissingError, InvalidParameterError
from reclib.models.base import PredictBlock, Recommender

__all__ = ["FactorRec", "ITEM_METRICS"]

#: Metrics of ``get_nearest_items`` for vector models (MODELS.md §2.6).
ITEM_METRICS = ("cosine_similarity", "euclidean_distance_sim", "dot_product")

# Users scored per matrix product: bounds the dense score block to block x n_items floats.
_BLOCK_FLOATS = 1 << 24


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

    # ----------------------------------------------------------------------------------------
    # Hooks

    def _user_vectors(self, block: PredictBlock) -> tuple[np.ndarray, np.ndarray]:
        """``(rows of block.users that get scores, their vectors)``; default: fitted factors."""
        assert self._user_factors is not None
        rows = np.flatnonzero(block.users >= 0)
        return rows, self._user_factors[block.users[rows]]

    def _user_bias_of(self, block: PredictBlock, rows: np.ndarray) -> np.ndarray | None:
        if self._user_bias is None:
            return None
        return self._user_bias[block.users[rows]]

    # ----------------------------------------------------------------------------------------
    # Predict

    def _predict_dense(self, block: PredictBlock) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        assert self._item_factors is not None
        rows, vectors = self._user_vectors(block)
        user_bias = self._user_bias_of(block, rows)
        items_t = np.ascontiguousarray(self._item_factors.T, dtype=np.float64)
        n_items = items_t.shape[1]
        step = max(1, _BLOCK_FLOATS // max(n_items, 1))

        out_rows, out_items, out_scores = [], [], []
        for start in range(0, len(rows), step):
            part = rows[start:start + step]
            scores = np.asarray(vectors[start:start + step], dtype=np.float64) @ items_t
            if self._item_bias is not None:
                scores += self._item_bias[None, :]
            if user_bias is not None:
                scores += user_bias[start:start + step, None]
            if self._offset:
                scores += self._offset
            exclude = _take_pattern(block.exclude, part) if block.exclude is not None else None
            r, i, s = _core.topk_dense(
                np.ascontiguousarray(scores), block.k, exclude, block.candidates
            )
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
        return scores, valid

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
        position = self._positions(known, raw)
        rank = factors.shape[1]
        vectors = np.full((len(raw), rank), np.nan)
        vectors[position >= 0] = factors[position[position >= 0]]
        out = pd.DataFrame({f"{entity}_idx": raw})
        if bias is not None:
            values = np.full(len(raw), np.nan)
            values[position >= 0] = bias[position[position >= 0]]
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
            squared = (query**2).sum(1)[:, None] + (vectors**2).sum(1)[None, :] - 2 * query @ vectors.T
            scores = 1.0 / (1.0 + np.sqrt(np.maximum(squared, 0.0)))
        scores[np.arange(len(items)), items] = np.nan  # an item is not its own neighbour

        # Ties: neighbour id descending (MODELS.md §2.6), so rank on reversed columns.
        reversed_scores = np.ascontiguousarray(scores[:, ::-1])
        mask = None if candidates is None else np.ascontiguousarray(candidates[::-1])
        rows, cols, values = _core.topk_dense(reversed_scores, k, None, mask)
        return rows, scores.shape[1] - 1 - cols, values, metric

    # ----------------------------------------------------------------------------------------
    # State

    def _state_arrays(self) -> dict[str, np.ndarray]:
        arrays = {}
        for name in ("_user_factors", "_item_factors", "_user_bias", "_item_bias"):
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
