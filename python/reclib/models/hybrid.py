"""Models that read user and item feature tables besides the log (``MODELS.md`` §2.1).

:class:`HybridRecommender` adds ``user_features`` / ``item_features`` to the public methods.
It changes nothing in the shared pipeline: before a predict, the model turns the feature
tables into fitted state with :meth:`HybridRecommender._with_features` (a copy of the model
whose arrays cover the ids of the tables), and that copy runs the usual pipeline, in-process
or shipped to Spark executors like any fitted model.

:func:`feature_table` validates a feature table once for every hybrid model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from reclib.data.schema import frame_to_arrow
from reclib.engines.frames import is_spark_frame, require_frame
from reclib.exceptions import ColumnMissingError, ColumnTypeError, InvalidValueError
from reclib.models.base import Recommender

__all__ = ["FeatureTable", "HybridRecommender", "feature_table", "some_ids"]

_SHOWN_IDS = 5


@dataclass(frozen=True)
class FeatureTable:
    """A validated feature table: sorted distinct ids and a float64 value per feature column.

    Attributes
    ----------
    ids : numpy.ndarray of int64
        Raw ids, sorted, without duplicates.
    columns : list of str
        Feature column names, sorted by name.
    values : numpy.ndarray of float64, shape (len(ids), len(columns))
        Feature values (finite).
    """

    ids: np.ndarray
    columns: list[str]
    values: np.ndarray


def some_ids(ids: np.ndarray) -> str:
    """A few ids for an error message: ``[1, 2, 3, ...]``."""
    shown = ", ".join(str(int(i)) for i in ids[:_SHOWN_IDS])
    return f"[{shown}{', ...' if len(ids) > _SHOWN_IDS else ''}]"


def feature_table(frame: Any, entity: str, name: str) -> FeatureTable:
    """Validate a feature table (pandas or Spark) and return it as arrays.

    Parameters
    ----------
    frame : pandas.DataFrame or pyspark.sql.DataFrame
        Column ``<entity>_idx`` (non-negative integer ids, each at most once) and one or more
        numeric feature columns (bool counts as numeric) without missing or infinite values.
    entity : {"user", "item"}
        Which ids the table describes.
    name : str
        The parameter name, for error messages.

    Returns
    -------
    FeatureTable
    """
    require_frame(frame, name)
    id_col = f"{entity}_idx"
    if id_col not in frame.columns:
        raise ColumnMissingError(
            f"`{name}` has no column `{id_col}`; it has {list(frame.columns)}"
        )
    if is_spark_frame(frame):
        frame = frame_to_arrow(frame, list(frame.columns)).to_pandas()

    columns = sorted(str(c) for c in frame.columns if c != id_col)
    if not columns:
        raise InvalidValueError(
            f"`{name}` has only the id column `{id_col}`; expected at least one feature column"
        )
    not_numeric = [
        c for c in columns
        if not (pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c]))
    ]
    if not_numeric:
        kinds = {c: str(frame[c].dtype) for c in not_numeric}
        raise ColumnTypeError(
            f"`{name}` has non-numeric feature column(s) {kinds}; expected numbers (encode "
            "categories, for example one-hot, first)"
        )

    raw_ids = frame[id_col]
    if raw_ids.isna().any():
        raise InvalidValueError(
            f"column `{id_col}` of `{name}` has {int(raw_ids.isna().sum())} missing id(s)"
        )
    if not pd.api.types.is_integer_dtype(raw_ids) or pd.api.types.is_bool_dtype(raw_ids):
        raise ColumnTypeError(
            f"column `{id_col}` of `{name}` has dtype {raw_ids.dtype}; expected integer ids"
        )
    ids = raw_ids.to_numpy().astype(np.int64)
    if len(ids) and ids.min() < 0:
        negative = some_ids(np.unique(ids[ids < 0]))
        raise InvalidValueError(
            f"column `{id_col}` of `{name}` has negative id(s) {negative}; expected ids >= 0"
        )
    unique, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        raise InvalidValueError(
            f"column `{id_col}` of `{name}` has repeated id(s) {some_ids(unique[counts > 1])}; "
            "expected one row per id"
        )

    values = np.column_stack(
        [frame[c].to_numpy(dtype=np.float64, na_value=np.nan) for c in columns]
    ) if len(frame) else np.zeros((0, len(columns)))
    bad = ~np.isfinite(values)
    if bad.any():
        counts_by_column = {c: int(n) for c, n in zip(columns, bad.sum(axis=0)) if n}
        raise InvalidValueError(
            f"`{name}` has missing or infinite values in column(s) {counts_by_column}; "
            "expected finite numbers (fill or drop them first)"
        )
    order = np.argsort(ids, kind="stable")
    return FeatureTable(ids[order], columns, values[order])


class HybridRecommender(Recommender):
    """A recommender whose methods also take ``user_features`` and ``item_features``.

    Subclasses read the fit tables from ``self._fit_features`` (set for the duration of
    ``fit``) and implement :meth:`_with_features` for predict.
    """

    def __init__(self) -> None:
        super().__init__()
        self._fit_features: tuple[Any, Any] = (None, None)

    def fit(
        self, log: Any, user_features: Any = None, item_features: Any = None
    ) -> HybridRecommender:
        """Fit on a log and optional feature tables (``<entity>_idx`` + numeric columns).

        Parameters
        ----------
        log : pandas.DataFrame or pyspark.sql.DataFrame
            ``user_idx``, ``item_idx``, ``relevance``.
        user_features, item_features : DataFrame, optional
            One row per id; every id of the log must have a row.

        Returns
        -------
        HybridRecommender
            ``self``, fitted.
        """
        self._fit_features = (user_features, item_features)
        try:
            super().fit(log)
        finally:
            self._fit_features = (None, None)
        return self

    def predict(  # type: ignore[override]
        self,
        log: Any = None,
        k: int = 10,
        users: Any = None,
        items: Any = None,
        user_features: Any = None,
        item_features: Any = None,
        filter_seen_items: bool | None = None,
    ) -> Any:
        """Recommend ``k`` items per user; see :meth:`Recommender.predict`.

        ``user_features`` / ``item_features`` are required when the model was fitted with
        them; their rows give vectors to ids unseen in fit (cold users and items).
        """
        self._check_fitted()
        model = self._with_features(user_features, item_features)
        return Recommender.predict(model, log, k, users, items, filter_seen_items)

    def fit_predict(  # type: ignore[override]
        self,
        log: Any,
        k: int = 10,
        users: Any = None,
        items: Any = None,
        user_features: Any = None,
        item_features: Any = None,
        filter_seen_items: bool | None = None,
    ) -> Any:
        """``fit`` then ``predict`` with the same log and feature tables."""
        self.fit(log, user_features, item_features)
        return self.predict(
            log, k, users, items, user_features, item_features, filter_seen_items
        )

    def predict_pairs(  # type: ignore[override]
        self,
        pairs: Any,
        log: Any = None,
        user_features: Any = None,
        item_features: Any = None,
    ) -> Any:
        """Score given pairs; see :meth:`Recommender.predict_pairs`."""
        self._check_fitted()
        model = self._with_features(user_features, item_features)
        return Recommender.predict_pairs(model, pairs, log)

    def get_features(  # type: ignore[override]
        self, ids: Any, features: Any = None
    ) -> tuple[Any, int | None]:
        """Learned vectors of the ids; ``features`` (a table of the same entity) gives vectors
        to ids unseen in fit."""
        self._check_fitted()
        require_frame(ids, "ids")
        is_user = "user_idx" in ids.columns
        model = self._with_features(
            features if is_user else None, None if is_user else features, check=False
        )
        # The next class in the MRO (FactorRec for LightFMWrap) answers from the vectors.
        return super(HybridRecommender, model).get_features(ids)  # type: ignore[arg-type]

    def _with_features(
        self, user_features: Any, item_features: Any, check: bool = True
    ) -> Recommender:
        """The model to predict with, given the predict-time feature tables (override).

        ``check=False`` skips the "tables required when fitted with them" rule (used by
        ``get_features``, which can answer for fit ids without tables).
        """
        return self
