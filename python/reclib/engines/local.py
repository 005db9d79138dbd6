"""The in-process engine: pandas in, pandas out, no JVM.

It reads the inputs into numpy arrays, runs the model's shared block function (the same one
Spark executors run) over all target users at once, and builds the output DataFrame.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from reclib._ids import dense_codes
from reclib.data.schema import ITEM_COL, RELEVANCE_COL, USER_COL, interactions_from_frame

if TYPE_CHECKING:
    from reclib.models.base import BlockResult, Recommender

__all__ = ["predict", "predict_pairs", "result_frame"]


def _history(log: Any, with_relevance: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(users, items, relevance)`` of the predict log's rows.

    Relevance is read only when asked for and present; otherwise it is None.
    """
    if log is None:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, None
    read = with_relevance and RELEVANCE_COL in log.columns
    interactions = interactions_from_frame(log, name="log", need_relevance=read)
    return interactions.users, interactions.items, interactions.relevance if read else None


def _id_dtype(values: np.ndarray, fit_dtype: np.dtype) -> np.dtype:
    """The fit log's id dtype, widened to int64 when an output id does not fit it."""
    if np.dtype(fit_dtype) == np.int32 and len(values) and values.max() > np.iinfo(np.int32).max:
        return np.dtype(np.int64)
    return np.dtype(fit_dtype)


def result_frame(model: "Recommender", result: "BlockResult") -> pd.DataFrame:
    """``user_idx, item_idx, relevance`` with the id dtypes of the fit log (widened if needed)."""
    return pd.DataFrame(
        {
            USER_COL: result.users.astype(_id_dtype(result.users, model._user_dtype)),
            ITEM_COL: result.items.astype(_id_dtype(result.items, model._item_dtype)),
            RELEVANCE_COL: result.scores.astype(np.float64),
        }
    )


def predict(
    model: "Recommender",
    log: Any,
    k: int,
    users: Any,
    items: Any,
    filter_seen_items: bool,
) -> pd.DataFrame:
    """Run the predict pipeline of :class:`~reclib.models.base.Recommender` in-process."""
    from reclib.models.base import ids_argument

    hist_users, hist_items, hist_relevance = _history(log, model.uses_history_relevance)
    targets = ids_argument(users, "users", USER_COL)
    if targets is None:
        targets = dense_codes(hist_users)[0] if log is not None else model.fit_users
    candidates = ids_argument(items, "items", ITEM_COL)

    result = model._recommend_block(
        targets, hist_users, hist_items, candidates, k, filter_seen_items,
        hist_relevance if model.uses_history_relevance else None,
    )
    return result_frame(model, result)


def predict_pairs(model: "Recommender", pairs: pd.DataFrame, log: Any) -> pd.DataFrame:
    """Score the rows of ``pairs`` in-process."""
    interactions = interactions_from_frame(pairs, name="pairs", need_relevance=False)
    hist_users, hist_items, hist_relevance = _history(log, model.uses_history_relevance)
    result = model._pairs_block(
        interactions.users, interactions.items, hist_users, hist_items,
        hist_relevance if model.uses_history_relevance else None,
    )
    return result_frame(model, result)
