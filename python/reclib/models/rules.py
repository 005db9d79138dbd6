"""Association rules between items: support, confidence, lift and confidence gain.

Sessions (a column of the log; by default each user is one session) are baskets of items.  The
Rust core counts, for every pair of frequent items, in how many sessions they meet and their
weight (``MODELS.md`` §4.10); this module turns the counts into rule metrics for the antecedent
``a`` and the consequent ``c``:

* ``confidence(a -> c) = pair_rel(a, c) / rel(a)``
* ``lift(a -> c) = S * confidence(a -> c) / rel(c)`` with ``S`` the number of sessions
* ``confidence_gain(a -> c) = confidence(a -> c) * (S - rel(a)) / (rel(c) - pair_rel(a, c))``,
  infinite when ``c`` never appears without ``a``.

Each antecedent keeps its ``num_neighbours`` rules of largest lift (ties: larger consequent id).

A Spark log is counted on the executors, session by session, and the partial counts are merged
by Spark (``reclib.engines.spark_rules``); the log itself never comes to the driver.

Difference from the reference: an item repeated within a session counts once there (its largest
relevance when ``use_relevance``).  The reference kept one entry per distinct (session, item,
relevance), so an item rated twice in a session could push a confidence above 1.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from reclib import _core
from reclib._logging import get_logger
from reclib._sparse import Csr
from reclib.data.schema import ITEM_COL, USER_COL, frame_to_arrow
from reclib.engines.frames import is_spark_frame, require_frame
from reclib.exceptions import (
    ColumnMissingError,
    ColumnTypeError,
    InvalidParameterError,
    InvalidValueError,
)
from reclib.models._checks import check_bool, check_choice, check_int
from reclib.models.base import DenseLog, check_k
from reclib.models.knn import NeighbourRec

__all__ = ["AssociationRulesItemRec"]

logger = get_logger(__name__)

RULE_METRICS = ["confidence", "lift", "confidence_gain"]


class AssociationRulesItemRec(NeighbourRec):
    """Item-to-item association rules, with a user-level predict.

    Parameters
    ----------
    session_col : str, optional
        Column of the log holding the session (basket) id; default ``user_idx``.  Integer or
        string ids.
    min_item_count : int, default 5
        Items in fewer sessions are left out of every rule.
    min_pair_count : int, default 5
        Pairs meeting in fewer sessions give no rule.
    num_neighbours : int, default 1000
        Rules kept per antecedent, by largest lift.
    use_relevance : bool, default False
        Weight each (session, item) by its relevance instead of 1.
    similarity_metric : {"confidence", "lift"}, default "confidence"
        What ``predict`` sums over a user's history items: ``score(u, c)`` is the sum over
        the user's history rows ``h`` of ``metric(h -> c)``.
    """

    can_predict_cold_users = True
    can_predict_item_to_item = True

    def __init__(
        self,
        session_col: str | None = None,
        min_item_count: int = 5,
        min_pair_count: int = 5,
        num_neighbours: int | None = 1000,
        use_relevance: bool = False,
        similarity_metric: str = "confidence",
    ) -> None:
        super().__init__()
        self.session_col = session_col
        self.min_item_count = min_item_count
        self.min_pair_count = min_pair_count
        self.num_neighbours = num_neighbours
        self.use_relevance = use_relevance
        self.similarity_metric = similarity_metric
        self._rules: dict[str, np.ndarray] | None = None
        self._sessions: np.ndarray | None = None
        self.session_count: int | None = None
        self._validate_params()

    def _validate_params(self) -> None:
        owner = "AssociationRulesItemRec"
        if self.session_col is not None and not isinstance(self.session_col, str):
            raise InvalidParameterError(
                f"`session_col` of {owner} must be a column name, got {self.session_col!r}"
            )
        check_int(owner, "min_item_count", self.min_item_count, low=1)
        check_int(owner, "min_pair_count", self.min_pair_count, low=1)
        if self.num_neighbours is not None:
            check_int(owner, "num_neighbours", self.num_neighbours, low=1)
        check_bool(owner, "use_relevance", self.use_relevance)
        check_choice(owner, "similarity_metric", self.similarity_metric, ["confidence", "lift"])

    def _needs_relevance(self) -> bool:
        return self.use_relevance

    # ----------------------------------------------------------------------------------------
    # Fit

    def fit(self, log: Any) -> "AssociationRulesItemRec":
        """Count the rules of ``log``; see the class docstring for the session column.

        A Spark log is counted on the executors, session by session, and only the merged item
        and pair tables come to the driver (``reclib.engines.spark_rules``).
        """
        self._validate_params()
        if require_frame(log, "log") == "spark":
            self._fit_spark(log)
            return self
        self._sessions = self._session_codes(log)
        try:
            return super().fit(log)  # type: ignore[return-value]
        finally:
            self._sessions = None

    def _session_codes(self, log: Any) -> np.ndarray:
        column = self.session_col or USER_COL
        columns = list(log.columns)
        if column not in columns:
            raise ColumnMissingError(
                f"`log` has no session column `{column}` (session_col); it has {columns}"
            )
        values = frame_to_arrow(log, [column]).column(0).to_pandas()
        kind = values.dtype
        if pd.api.types.is_float_dtype(kind) or pd.api.types.is_bool_dtype(kind) or \
                pd.api.types.is_datetime64_any_dtype(kind):
            raise ColumnTypeError(
                f"session column `{column}` of `log` has dtype {kind}; expected integer or "
                "string session ids"
            )
        if values.isna().any():
            raise InvalidValueError(
                f"session column `{column}` of `log` has {int(values.isna().sum())} missing "
                "value(s); expected a session id on every row"
            )
        codes, _ = pd.factorize(values, sort=True)
        return codes.astype(np.int32)

    def _fit_dense(self, log: DenseLog) -> None:
        assert self._sessions is not None
        n_sessions = int(self._sessions.max()) + 1 if len(self._sessions) else 0
        weights = log.relevance if self.use_relevance else None
        if self.use_relevance and (log.relevance < 0).any():
            raise InvalidValueError(
                "column `relevance` of `log` must be >= 0 for association rules with "
                f"use_relevance=True, got minimum {log.relevance.min()}"
            )
        baskets = Csr.from_coo(self._sessions, log.items, weights, n_sessions, log.n_items, "max")
        _, item_rel, ante, cons, pair_count, pair_rel = _core.rules_count(
            baskets.indptr, baskets.indices, baskets.data, log.n_items,
            int(self.min_item_count), int(self.min_pair_count),
        )
        self.session_count = n_sessions
        self._rules = _rule_metrics(
            ante, cons, pair_count, pair_rel, item_rel, n_sessions, self.num_neighbours
        )
        self._set_neighbours(log.n_items)

    def _fit_spark(self, log: Any) -> None:
        """Count on the executors (``reclib.engines.spark_rules``); merged counts on the driver.

        Same validation, ids and rules as the pandas path; weight sums may differ from it in
        the last bits (Spark adds per-partition sums), counts are exact.
        """
        from reclib.engines.spark_rules import count_rules

        counts = count_rules(
            log, self.session_col or USER_COL, bool(self.use_relevance),
            int(self.min_item_count), int(self.min_pair_count),
        )
        logger.debug(
            "fitting AssociationRulesItemRec on Spark: %d sessions, %d users, %d items",
            counts.n_sessions, len(counts.user_ids), len(counts.item_ids),
        )
        self._rules = _rule_metrics(
            counts.ante, counts.cons, counts.pair_count, counts.pair_rel, counts.item_rel,
            counts.n_sessions, self.num_neighbours,
        )
        self.session_count = counts.n_sessions
        self._set_neighbours(len(counts.item_ids))
        self._set_fit_ids(counts.user_ids, counts.item_ids, counts.user_dtype, counts.item_dtype)

    def _set_neighbours(self, n_items: int) -> None:
        assert self._rules is not None
        rules = self._rules
        self._neighbours = Csr.from_coo(
            rules["antecedent"], rules["consequent"], rules[self.similarity_metric],
            n_items, n_items, "error",
        )

    # ----------------------------------------------------------------------------------------
    # Rules and neighbours

    @property
    def get_pair_metrics(self) -> pd.DataFrame:
        """Every kept rule: ``antecedent, consequent, confidence, lift, confidence_gain``."""
        self._check_fitted()
        assert self._rules is not None
        rules = self._rules
        return pd.DataFrame(
            {
                "antecedent": self.fit_items[rules["antecedent"]].astype(self._item_dtype),
                "consequent": self.fit_items[rules["consequent"]].astype(self._item_dtype),
                **{name: rules[name] for name in RULE_METRICS},
            }
        )

    def get_nearest_items(
        self,
        items: Any,
        k: int,
        metric: str | None = "lift",
        candidates: Any = None,
    ) -> Any:
        """Top-``k`` consequents of each item by ``metric`` (ties: larger neighbour id first).

        Returns ``item_idx, neighbour_item_idx, confidence, lift, confidence_gain``.
        """
        self._check_fitted()
        assert self._rules is not None
        metric = metric or "lift"
        check_choice("get_nearest_items", "metric", metric, RULE_METRICS)
        k = check_k(k)
        query = self._ids_from(items, "items", ITEM_COL)
        rules = self._rules

        keep = np.isin(rules["antecedent"], self._positions(self.fit_items, query))
        if candidates is not None:
            cand = self._positions(self.fit_items, self._ids_from(candidates, "candidates",
                                                                   ITEM_COL))
            keep &= np.isin(rules["consequent"], cand)
        ante, cons = rules["antecedent"][keep], rules["consequent"][keep]
        values = {name: rules[name][keep] for name in RULE_METRICS}

        order = np.lexsort((-cons.astype(np.int64), -values[metric], ante))
        ante, cons = ante[order], cons[order]
        values = {name: value[order] for name, value in values.items()}
        first = np.searchsorted(ante, ante, side="left")
        top = (np.arange(len(ante)) - first) < k
        out = pd.DataFrame(
            {
                ITEM_COL: self.fit_items[ante[top]].astype(self._item_dtype),
                "neighbour_item_idx": self.fit_items[cons[top]].astype(self._item_dtype),
                **{name: value[top] for name, value in values.items()},
            }
        )
        if is_spark_frame(items) or is_spark_frame(candidates):
            from reclib.engines.spark import to_spark

            return to_spark(out, like=items if is_spark_frame(items) else candidates)
        return out

    # ----------------------------------------------------------------------------------------
    # State

    def _state_arrays(self) -> dict[str, np.ndarray]:
        assert self._rules is not None
        arrays = super()._state_arrays()
        arrays.update({f"rules.{name}": value for name, value in self._rules.items()})
        return arrays

    def _load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        super()._load_state_arrays({k: v for k, v in arrays.items() if "." not in k})
        self._rules = {
            name.removeprefix("rules."): np.asarray(value)
            for name, value in arrays.items()
            if name.startswith("rules.")
        }

    def _state_meta(self) -> dict[str, Any]:
        return {"session_count": self.session_count}

    def _load_state_meta(self, meta: dict[str, Any]) -> None:
        self.session_count = meta.get("session_count")


def _rule_metrics(
    ante: np.ndarray,
    cons: np.ndarray,
    pair_count: np.ndarray,
    pair_rel: np.ndarray,
    item_rel: np.ndarray,
    n_sessions: int,
    num_neighbours: int | None,
) -> dict[str, np.ndarray]:
    """Confidence, lift and confidence gain of every rule, cut to the top lifts per item."""
    confidence = pair_rel / item_rel[ante]
    lift = n_sessions * confidence / item_rel[cons]
    remainder = item_rel[cons] - pair_rel
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = np.where(
            remainder == 0.0, np.inf, confidence * (n_sessions - item_rel[ante]) / remainder
        )

    order = np.lexsort((-cons.astype(np.int64), -lift, ante))
    if num_neighbours is not None and len(order):
        sorted_ante = ante[order]
        rank = np.arange(len(order)) - np.searchsorted(sorted_ante, sorted_ante, side="left")
        order = order[rank < num_neighbours]
    order = order[np.lexsort((cons[order], ante[order]))]
    return {
        "antecedent": ante[order].astype(np.int32),
        "consequent": cons[order].astype(np.int32),
        "pair_count": pair_count[order],
        "confidence": confidence[order],
        "lift": lift[order],
        "confidence_gain": gain[order],
    }
