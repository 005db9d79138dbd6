"""LightFMWrap: the LightFM hybrid factorisation model (``MODELS.md`` §4.14).

Fit passes LightFM the user x item matrix of relevance (duplicate rows summed) on dense
positions and, when feature tables are given, feature matrices built like this for each side:

1. the table's rows of the log's ids (at least one; log ids without a row get no feature
   values, with a warning naming them); feature columns sorted by name, all numeric;
2. a min-max scaler fitted on those rows (a constant column scales to 0);
3. ``[identity of the fit ids | scaled features]``, each row divided by the sum of its absolute
   values (a zero row stays zero).

LightFM's embeddings then live per *feature* (identity columns included).  A user's
representation is ``features_row @ embeddings`` and its bias ``features_row @ biases``; the
score is ``<user repr, item repr> + user bias + item bias``, exactly LightFM's ``predict``.

Predict never calls LightFM: the representations of the ids in play are computed once on the
driver and scored by :class:`~reclib.models.factor.FactorRec` (blocked matrix products and the
Rust top-k), in-process for pandas and on Spark executors for Spark input.  With feature
tables at predict, ids unseen in fit get a representation from their features alone, so a
model fitted with user (item) features can recommend to cold users (cold items).
"""

from __future__ import annotations

import copy
import os
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from reclib._logging import get_logger
from reclib.exceptions import (
    ColumnMissingError,
    InvalidParameterError,
    InvalidValueError,
    MissingDependencyError,
)
from reclib.models._checks import check_choice, check_int
from reclib.models.base import DenseLog, Recommender
from reclib.models.factor import FactorRec
from reclib.models.hybrid import FeatureTable, HybridRecommender, feature_table, some_ids

__all__ = ["LightFMWrap"]

logger = get_logger(__name__)

LOSSES = ["logistic", "bpr", "warp", "warp-kos"]
_ENTITIES = ("user", "item")


class LightFMWrap(HybridRecommender, FactorRec):
    """LightFM: factorisation with optional user and item features.

    Parameters
    ----------
    no_components : int, default 128
        Size of the embeddings (>= 1).
    loss : {"warp", "bpr", "logistic", "warp-kos"}, default "warp"
        LightFM's loss.
    random_state : int, optional
        Seed of LightFM's initialisation and sampling (>= 0).  Results repeat only with
        ``num_threads = 1`` (LightFM trains with lock-free parallel SGD).

    Attributes
    ----------
    epochs : int
        Training epochs (class attribute, 10).
    num_threads : int
        LightFM's training threads (class attribute, all cores; set 1 for repeatable fits).

    Notes
    -----
    Differences from the reference (RePlay 0.8): the constructor does not call
    ``np.random.seed(42)`` (no global side effect); rows are divided by the sum of absolute
    values, so out-of-range features at predict cannot flip signs.  Scores
    are computed in float64 from LightFM's float32 representations.

    Examples
    --------
    >>> import pandas as pd
    >>> log = pd.DataFrame({"user_idx": [0, 1, 2, 2, 1, 2, 0],
    ...                     "item_idx": [0, 0, 1, 1, 1, 2, 2],
    ...                     "relevance": [1.0, 1, 2, 2, 2, 2, 2]})
    >>> users = pd.DataFrame({"user_idx": [0, 1, 4], "f1": [2.0, 0, 4], "f2": [5.0, -5, 3]})
    >>> items = pd.DataFrame({"item_idx": [0, 1, 2], "g": [4.0, 5, 1]})
    >>> model = LightFMWrap(no_components=4, loss="bpr", random_state=42)
    >>> model.num_threads = 1
    >>> _ = model.fit(log, user_features=users, item_features=items)
    >>> model.can_predict_cold_users, model.can_predict_cold_items
    (True, True)
    >>> recs = model.predict(log, k=1, users=[4], user_features=users, item_features=items)
    >>> recs["user_idx"].tolist()
    [4]
    """

    epochs: ClassVar[int] = 10
    num_threads: int = os.cpu_count() or 1
    _search_space = {
        "loss": {"type": "categorical", "args": LOSSES},
        "no_components": {"type": "loguniform_int", "args": [8, 512]},
    }

    def __init__(
        self, no_components: int = 128, loss: str = "warp", random_state: int | None = None
    ) -> None:
        super().__init__()
        self.no_components = no_components
        self.loss = loss
        self.random_state = random_state
        # Per side ("user", "item"), when fitted with a feature table: the feature columns,
        # the scaler (min, 1 / range) and LightFM's per-feature embeddings and biases (the
        # first rows belong to the identity columns of the fit ids).
        self._columns: dict[str, list[str]] = {}
        self._scaler: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._embeddings: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def _validate_params(self) -> None:
        check_int("LightFMWrap", "no_components", self.no_components, low=1)
        check_choice("LightFMWrap", "loss", self.loss, LOSSES)
        if self.random_state is not None:
            check_int("LightFMWrap", "random_state", self.random_state, low=0)
        check_int("LightFMWrap", "num_threads", self.num_threads, low=1)

    # ----------------------------------------------------------------------------------------
    # Fit

    def _fit_interactions(self, interactions: Any) -> None:
        # Feature matrices need the fit ids, which the base class computes next: compute them
        # here the same way (sorted distinct raw ids).
        tables = {}
        for entity, frame, raw in zip(
            _ENTITIES, self._fit_features, (interactions.users, interactions.items)
        ):
            if frame is not None:
                tables[entity] = (feature_table(frame, entity, f"{entity}_features"),
                                  np.unique(raw))
        self._pending_tables = tables
        try:
            super()._fit_interactions(interactions)
        finally:
            del self._pending_tables

    def _fit_dense(self, log: DenseLog) -> None:
        try:
            from lightfm import LightFM
        except ImportError as err:
            raise MissingDependencyError(
                f"LightFMWrap needs the `lightfm` package (pip install lightfm): {err}"
            ) from None

        # Validated and scaled before anything of a previous fit is replaced.
        columns, scalers = {}, {}
        matrices: dict[str, sp.csr_matrix | None] = {"user": None, "item": None}
        for entity, (table, fit_ids) in self._pending_tables.items():
            scalers[entity], matrices[entity] = _fit_side(entity, table, fit_ids)
            columns[entity] = list(table.columns)

        interactions = sp.coo_matrix(
            (log.relevance.astype(np.float32), (log.users, log.items)),
            shape=(log.n_users, log.n_items),
        ).tocsr().tocoo()  # duplicate rows summed
        model = LightFM(
            no_components=self.no_components, loss=self.loss, random_state=self.random_state
        )
        logger.debug(
            "LightFMWrap: %d epochs on %d users x %d items, features: %s",
            self.epochs, log.n_users, log.n_items, sorted(columns) or "none",
        )
        model.fit(
            interactions,
            user_features=matrices["user"],
            item_features=matrices["item"],
            epochs=self.epochs,
            num_threads=self.num_threads,
        )

        user_bias, user_factors = model.get_user_representations(matrices["user"])
        item_bias, item_factors = model.get_item_representations(matrices["item"])
        self._user_factors, self._user_bias = user_factors, user_bias.astype(np.float64)
        self._item_factors, self._item_bias = item_factors, item_bias.astype(np.float64)
        self._columns, self._scaler = columns, scalers
        self._embeddings = {
            entity: (
                np.asarray(getattr(model, f"{entity}_embeddings")),
                np.asarray(getattr(model, f"{entity}_biases")),
            )
            for entity in columns
        }
        self._set_cold_flags()

    def _scale(self, entity: str, values: np.ndarray) -> np.ndarray:
        return _scale(self._scaler[entity], values)

    def _set_cold_flags(self) -> None:
        # Instance flags (the class says False): ids unseen in fit can get vectors from features.
        self.can_predict_cold_users = "user" in self._columns
        self.can_predict_cold_items = "item" in self._columns

    # ----------------------------------------------------------------------------------------
    # Predict-time features

    def _with_features(
        self, user_features: Any, item_features: Any, check: bool = True
    ) -> Recommender:
        """A copy whose vectors cover the ids of the predict-time feature tables."""
        given = {"user": user_features, "item": item_features}
        for entity, frame in given.items():
            fitted = entity in self._columns
            if frame is None and fitted and check:
                raise InvalidParameterError(
                    f"{entity.capitalize()} features are missing for predict: LightFMWrap was "
                    f"fitted with `{entity}_features`; pass the table to this call too"
                )
            if frame is not None and not fitted:
                raise InvalidParameterError(
                    f"`{entity}_features` was given but LightFMWrap was fitted without "
                    f"{entity} features; expected None"
                )
        if all(frame is None for frame in given.values()):
            return self

        model = copy.copy(self)
        for entity, frame in given.items():
            if frame is not None:
                model._apply_table(entity, feature_table(frame, entity, f"{entity}_features"))
        return model

    def _apply_table(self, entity: str, table: FeatureTable) -> None:
        """Representations of the table's ids: fit ids are replaced, others become cold ids."""
        if table.columns != self._columns[entity]:
            expected, got = self._columns[entity], table.columns
            raise ColumnMissingError(
                f"`{entity}_features` must have the feature columns of fit {expected}; got "
                f"{got} (missing {sorted(set(expected) - set(got))}, "
                f"extra {sorted(set(got) - set(expected))})"
            )
        known = self.fit_users if entity == "user" else self.fit_items
        position = self._positions(known, table.ids)
        matrix = _feature_matrix(position, len(known), self._scale(entity, table.values))
        embeddings, biases = self._embeddings[entity]
        vectors = np.asarray(matrix @ embeddings, dtype=np.float32)
        bias = np.asarray(matrix @ biases, dtype=np.float64)

        warm = position >= 0
        factors = getattr(self, f"_{entity}_factors").copy()
        fit_bias = getattr(self, f"_{entity}_bias").copy()
        factors[position[warm]] = vectors[warm]
        fit_bias[position[warm]] = bias[warm]
        setattr(self, f"_{entity}_factors", factors)
        setattr(self, f"_{entity}_bias", fit_bias)
        setattr(self, f"_cold_{entity}_ids", table.ids[~warm])
        setattr(self, f"_cold_{entity}_factors", vectors[~warm])
        setattr(self, f"_cold_{entity}_bias", bias[~warm])

    # ----------------------------------------------------------------------------------------
    # State

    def _state_arrays(self) -> dict[str, np.ndarray]:
        arrays = super()._state_arrays()
        for entity in self._columns:
            low, inverse_span = self._scaler[entity]
            embeddings, biases = self._embeddings[entity]
            arrays[f"{entity}_scaler_low"] = low
            arrays[f"{entity}_scaler_inverse_span"] = inverse_span
            arrays[f"{entity}_feature_embeddings"] = embeddings
            arrays[f"{entity}_feature_biases"] = biases
        return arrays

    def _load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        own = {}
        for entity in _ENTITIES:
            names = [f"{entity}_scaler_low", f"{entity}_scaler_inverse_span",
                     f"{entity}_feature_embeddings", f"{entity}_feature_biases"]
            if names[0] in arrays:
                low, span, embeddings, biases = (np.asarray(arrays[n]) for n in names)
                self._scaler[entity] = (low, span)
                self._embeddings[entity] = (embeddings, biases)
            own.update({n: arrays[n] for n in names if n in arrays})
        super()._load_state_arrays({k: v for k, v in arrays.items() if k not in own})

    def _state_meta(self) -> dict[str, Any]:
        return {**super()._state_meta(), "feature_columns": self._columns}

    def _load_state_meta(self, meta: dict[str, Any]) -> None:
        super()._load_state_meta(meta)
        self._columns = {k: list(v) for k, v in meta.get("feature_columns", {}).items()}
        self._set_cold_flags()


def _fit_side(
    entity: str, table: FeatureTable, fit_ids: np.ndarray
) -> tuple[tuple[np.ndarray, np.ndarray], sp.csr_matrix]:
    """The scaler ``(min, 1 / range)`` and the fit feature matrix of one side."""
    position = Recommender._positions(table.ids, fit_ids)
    present = position >= 0
    if not present.any():
        raise InvalidValueError(
            f"features for {entity}s from log are absent: `{entity}_features` has no row "
            f"for any of the {len(fit_ids)} {entity}s of the log (its ids are "
            f"{some_ids(table.ids)}, the log's {some_ids(fit_ids)})"
        )
    if not present.all():
        # As in the reference, such ids keep their identity column and no feature values.
        logger.warning(
            "LightFMWrap: `%s_features` has no row for %d of the %d %ss of the log, for "
            "example %s; they are fitted from their identity column alone",
            entity, int((~present).sum()), len(fit_ids), entity, some_ids(fit_ids[~present]),
        )
    values = table.values[position[present]]
    low, high = values.min(axis=0), values.max(axis=0)
    scaler = (low, 1.0 / np.where(high > low, high - low, 1.0))

    scaled = np.zeros((len(fit_ids), len(table.columns)))
    scaled[present] = _scale(scaler, values)
    return scaler, _feature_matrix(np.arange(len(fit_ids)), len(fit_ids), scaled)


def _scale(scaler: tuple[np.ndarray, np.ndarray], values: np.ndarray) -> np.ndarray:
    """Min-max scaling with a fitted scaler (values outside the fit range are not clipped)."""
    low, inverse_span = scaler
    return (values - low) * inverse_span


def _feature_matrix(identity: np.ndarray, n_identity: int, scaled: np.ndarray) -> sp.csr_matrix:
    """``[one-hot of identity (-1: none) | scaled]``, rows divided by their absolute sums."""
    n_rows = len(identity)
    warm = np.flatnonzero(identity >= 0)
    one_hot = sp.csr_matrix(
        (np.ones(len(warm)), (warm, identity[warm])), shape=(n_rows, n_identity)
    )
    matrix = sp.hstack([one_hot, sp.csr_matrix(scaled)], format="csr", dtype=np.float64)
    sums = np.asarray(abs(matrix).sum(axis=1)).ravel()
    scale = np.divide(1.0, sums, out=np.zeros_like(sums), where=sums > 0)
    return sp.csr_matrix(sp.diags(scale) @ matrix, dtype=np.float32)
