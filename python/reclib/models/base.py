"""The base class every reclib model derives from, and the predict pipeline they share.

A model sees only dense ids.  When it is fitted, the base class maps the log's raw
``user_idx`` / ``item_idx`` values (any non-negative integers, int64 beyond int32 included) to
positions ``0..n-1`` in the sorted arrays of distinct ids, and every model-specific hook works on
those positions.  Outputs are mapped back to the raw ids, with the dtypes the log had.

The predict pipeline (``MODELS.md`` §2.3) lives here once, in :meth:`Recommender._recommend_block`:

1. target users: ``users`` if given, else the users of the predict ``log``, else the fit users;
2. candidate items: ``items`` if given, else the fit items;
3. cold filtering: users (items) unseen in fit are dropped unless the model can score them;
4. the predict log, restricted to fit items, becomes each target user's history;
5. the model scores candidates (``_predict_dense``), and the Rust top-k kernel removes the
   user's seen items (when ``filter_seen_items``) and keeps the best ``k``, ties broken by
   item id ascending.

The same block function runs in-process for pandas input (``reclib.engines.local``) and inside
``mapInArrow`` tasks on Spark executors (``reclib.engines.spark``); that is why both engines give
the same rows.
"""

from __future__ import annotations

import abc
import inspect
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from reclib._ids import dense_codes, positions
from reclib._logging import get_logger
from reclib._sparse import Csr
from reclib.data.schema import ITEM_COL, USER_COL, Interactions, interactions_from_frame
from reclib.engines.frames import is_spark_frame, require_frame
from reclib.exceptions import (
    ColumnMissingError,
    InvalidParameterError,
    InvalidValueError,
    NotFittedError,
)

__all__ = ["Recommender", "DenseLog", "PredictBlock", "BlockResult"]

logger = get_logger(__name__)


@dataclass(frozen=True)
class DenseLog:
    """A fit log on dense ids, as a model's ``_fit_dense`` receives it.

    Attributes
    ----------
    users, items : numpy.ndarray of int32
        Dense positions of each row's user and item (duplicates kept, in log order).
    relevance : numpy.ndarray of float64
        Each row's relevance (ones when the model does not use relevance).
    timestamp : numpy.ndarray of int64, optional
        Nanoseconds since the epoch, when the log had timestamps.
    n_users, n_items : int
        Number of distinct users and items.
    """

    users: np.ndarray
    items: np.ndarray
    relevance: np.ndarray
    timestamp: np.ndarray | None
    n_users: int
    n_items: int


@dataclass(frozen=True)
class PredictBlock:
    """What a model's ``_predict_dense`` receives for one block of target users.

    Attributes
    ----------
    users : numpy.ndarray of int64
        Dense fit position of each target user, or -1 for a user unseen in fit.
    raw_users : numpy.ndarray of int64
        The raw ``user_idx`` of each target user (what seeded models key on).
    history : Csr
        One row per target user: the number of predict-log rows of each fit item.
    exclude : tuple of numpy.ndarray, optional
        ``(indptr, indices)`` of the items to remove per user, or None when not filtering.
    candidates : numpy.ndarray of bool, optional
        Mask over fit items allowed in the output; None means every fit item.
    cold_items : numpy.ndarray of int64
        Raw ids of candidate items unseen in fit (only for models that can score them).
    k : int
        Number of items wanted per user.
    history_relevance : Csr, optional
        Like ``history`` with the sum of the rows' ``relevance`` instead of their number; set
        only for models that ask for it (``uses_history_relevance``) and when the predict log
        has a ``relevance`` column.
    """

    users: np.ndarray
    raw_users: np.ndarray
    history: Csr
    exclude: tuple[np.ndarray, np.ndarray] | None
    candidates: np.ndarray | None
    cold_items: np.ndarray
    k: int
    history_relevance: Csr | None = None


@dataclass(frozen=True)
class BlockResult:
    """Recommendations of one block, on raw ids, ordered by user then rank."""

    users: np.ndarray
    items: np.ndarray
    scores: np.ndarray


def _unique_ids(values: Any, name: str, column: str) -> np.ndarray:
    """Distinct ids from a list, array, Series or pandas DataFrame with ``column``."""
    if isinstance(values, pd.DataFrame):
        if column not in values.columns:
            raise ColumnMissingError(
                f"`{name}` has no column `{column}`; it has {list(values.columns)}"
            )
        values = values[column]
    if np.isscalar(values) or isinstance(values, (str, bytes)):
        raise InvalidParameterError(
            f"`{name}` must be a list, an array or a DataFrame with `{column}`, got {values!r}"
        )
    array = np.asarray(list(values) if not hasattr(values, "__array__") else values)
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)
    if array.dtype.kind not in "iu":
        raise InvalidParameterError(
            f"`{name}` must hold integer ids, got values of dtype {array.dtype}"
        )
    if array.min() < 0:
        raise InvalidParameterError(f"`{name}` must hold ids >= 0, got {array.min()}")
    largest = np.iinfo(np.int64).max
    if array.dtype.kind == "u" and array.max() > largest:
        # uint64 ids beyond int64 would wrap to other (or negative) ids in the cast below.
        raise InvalidParameterError(
            f"`{name}` must hold ids <= {largest} (int64), got {array.max()}"
        )
    return np.unique(array.astype(np.int64))


def check_k(k: Any) -> int:
    """Validate ``k``: a non-negative integer (0 gives empty recommendations)."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise InvalidParameterError(f"`k` must be an integer >= 0, got {k!r}")
    if k < 0:
        raise InvalidParameterError(f"`k` must be an integer >= 0, got {k}")
    return int(k)


class Recommender(abc.ABC):
    """Base of all recommenders: the public API and the shared predict pipeline.

    Subclasses set the capability flags and implement ``_fit_dense`` and ``_predict_dense``;
    they may implement ``_score_pairs_dense`` (native ``predict_pairs``) and
    ``_nearest_dense`` (``get_nearest_items``).  Their fitted state is exported by
    ``_state_arrays`` / restored by ``_load_state_arrays``, which is how the state reaches Spark
    executors and how models are saved.
    """

    can_predict_cold_users: ClassVar[bool] = False
    can_predict_cold_items: ClassVar[bool] = False
    can_predict_item_to_item: ClassVar[bool] = False
    #: Whether ``predict`` filters seen items unless told otherwise (UserPopRec: False).
    default_filter_seen_items: ClassVar[bool] = True
    #: Whether the predict log's ``relevance`` reaches ``PredictBlock.history_relevance``
    #: (ImplicitWrap's item-item models weight the history by it).  Engines read it only then.
    uses_history_relevance: ClassVar[bool] = False
    #: Default hyper-parameter search space of ``optimize`` (MODELS.md §3): parameter name to
    #: ``{"type": "int" | "uniform" | "loguniform" | "loguniform_int" | "categorical",
    #: "args": [low, high] or [choices...]}``.  None: the model has nothing to tune.
    _search_space: ClassVar[dict[str, dict[str, Any]] | None] = None
    #: Whether predictions are computed from the predict log (neighbour models, Word2Vec, ...):
    #: such a model refuses ``predict`` and ``predict_pairs`` without ``log``.
    needs_log_at_predict: ClassVar[bool] = False

    def __init__(self) -> None:
        self._user_ids: np.ndarray | None = None
        self._item_ids: np.ndarray | None = None
        self._user_dtype = np.dtype(np.int64)
        self._item_dtype = np.dtype(np.int64)

    # ----------------------------------------------------------------------------------------
    # Parameters

    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [name for name in signature.parameters if name != "self"]

    def get_params(self) -> dict[str, Any]:
        """The constructor parameters and their current values."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> "Recommender":
        """Change constructor parameters; unknown names raise :class:`InvalidParameterError`."""
        known = self._param_names()
        for name, value in params.items():
            if name not in known:
                raise InvalidParameterError(
                    f"{type(self).__name__} has no parameter `{name}`; expected one of {known}"
                )
            setattr(self, name, value)
        self._validate_params()
        return self

    def _validate_params(self) -> None:
        """Raise :class:`InvalidParameterError` for out-of-range parameters (override)."""

    def get_config(self) -> dict[str, Any]:
        """The model's configuration as a JSON-safe dict: ``{"model": name, "params": {...}}``."""
        return {"model": type(self).__name__, "params": self.get_params()}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Recommender":
        """Build an unfitted model from :meth:`get_config`'s output."""
        if not isinstance(config, dict) or "params" not in config:
            raise InvalidParameterError(
                f"a model config must be a dict with a `params` entry, got {config!r}"
            )
        if config.get("model", cls.__name__) != cls.__name__:
            raise InvalidParameterError(
                f"config is for model {config.get('model')!r}, not {cls.__name__!r}"
            )
        unknown = sorted(set(config["params"]) - set(cls._param_names()))
        if unknown:
            raise InvalidParameterError(
                f"{cls.__name__} has no parameter(s) {unknown}; expected some of "
                f"{cls._param_names()}"
            )
        model = cls(**config["params"])
        model._validate_params()
        return model

    def optimize(
        self,
        train: Any,
        test: Any,
        user_features: Any = None,
        item_features: Any = None,
        param_borders: dict[str, list[Any]] | None = None,
        criterion: Any = None,
        k: int = 10,
        budget: int = 10,
        new_study: bool = True,
        storage: str | None = None,
        seed: int | None = 0,
        study_name: str | None = None,
        show_progress: bool = True,
    ) -> dict[str, Any] | None:
        """Search hyper-parameters with optuna (TPE) and set the best ones on the model.

        See :func:`reclib.tuning.optimize` for the parameters.  Returns the best parameters, or
        None (with a warning) for a model without a search space.  The model is left
        configured with them but not refitted.
        """
        from reclib.tuning import optimize

        return optimize(
            self, train, test, user_features=user_features, item_features=item_features,
            param_borders=param_borders, criterion=criterion, k=k, budget=budget,
            new_study=new_study, storage=storage, seed=seed, study_name=study_name,
            show_progress=show_progress,
        )

    def __repr__(self) -> str:
        args = ", ".join(f"{name}={value!r}" for name, value in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # ----------------------------------------------------------------------------------------
    # Fitted state

    @property
    def is_fitted(self) -> bool:
        return self._user_ids is not None

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(f"{type(self).__name__} is not fitted; call `fit(log)` first")

    @property
    def fit_users(self) -> np.ndarray:
        """Raw ids of the users seen in fit, sorted."""
        self._check_fitted()
        assert self._user_ids is not None
        return self._user_ids

    @property
    def fit_items(self) -> np.ndarray:
        """Raw ids of the items seen in fit, sorted."""
        self._check_fitted()
        assert self._item_ids is not None
        return self._item_ids

    @property
    def users_count(self) -> int:
        return len(self.fit_users)

    @property
    def items_count(self) -> int:
        return len(self.fit_items)

    def _state_arrays(self) -> dict[str, np.ndarray]:
        """The model-specific fitted arrays (override); ids are handled by the base class."""
        return {}

    def _load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore what ``_state_arrays`` returned (override)."""

    def _state_meta(self) -> dict[str, Any]:
        """JSON-safe fitted scalars beyond the parameters (override)."""
        return {}

    def _load_state_meta(self, meta: dict[str, Any]) -> None:
        """Restore what ``_state_meta`` returned (override)."""

    def export_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The fitted model as ``(JSON-safe metadata, named numpy arrays)``.

        Used to ship a model to Spark executors and to save it; :meth:`from_state` inverts it.
        """
        self._check_fitted()
        meta = {
            "class": f"{type(self).__module__}.{type(self).__qualname__}",
            "params": self.get_params(),
            "user_dtype": self._user_dtype.str,
            "item_dtype": self._item_dtype.str,
            "model": self._state_meta(),
        }
        arrays = {"user_ids": self.fit_users, "item_ids": self.fit_items}
        for name, array in self._state_arrays().items():
            arrays[f"model.{name}"] = array
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> "Recommender":
        """Rebuild a fitted model from :meth:`export_state`'s output."""
        model = cls(**meta["params"])
        model._user_ids = np.asarray(arrays["user_ids"])
        model._item_ids = np.asarray(arrays["item_ids"])
        model._user_dtype = np.dtype(meta["user_dtype"])
        model._item_dtype = np.dtype(meta["item_dtype"])
        model._load_state_meta(meta.get("model", {}))
        own = {
            name.removeprefix("model."): array
            for name, array in arrays.items()
            if name.startswith("model.")
        }
        model._load_state_arrays(own)
        return model

    # ----------------------------------------------------------------------------------------
    # Fit

    def _needs_relevance(self) -> bool:
        """Whether ``fit`` needs the ``relevance`` column (override)."""
        return True

    def _needs_timestamp(self) -> bool:
        return False

    def fit(self, log: Any) -> "Recommender":
        """Fit the model on an interaction log.

        Parameters
        ----------
        log : pandas.DataFrame or pyspark.sql.DataFrame
            Columns ``user_idx``, ``item_idx`` and (when the model uses it) ``relevance``;
            duplicates are kept and handled as the model documents.  A Spark log is fitted on
            the executors by the models that can (:meth:`_fit_spark`) when the Spark setting
            ``spark.reclib.fit.location`` says so (by default: on a cluster, not under a
            ``local[...]`` master; see ``reclib.engines.spark_fit``), else on the driver.

        Returns
        -------
        Recommender
            ``self``, fitted.
        """
        self._validate_params()
        if require_frame(log, "log") == "spark" and self._has_spark_fit():
            from reclib.engines.spark_fit import fit_on_executors

            if fit_on_executors(log):
                self._fit_spark(log)
                return self

        # Limitation: a model without `_fit_spark` gathers a Spark log's id and relevance
        # columns (and timestamps, if it uses them) on the driver as Arrow, about 16 bytes a
        # row, and fits there with the pandas engine's kernels; only its predict runs on the
        # executors.  Fitted on the executors: KNN, PopRec, Wilson and UserPopRec
        # (`_fit_spark`, where `spark.reclib.fit.location` allows; see
        # `reclib.engines.spark_fit`), ALSWrap and AssociationRulesItemRec
        # (their own `fit`); Word2VecRec trains its vectors with Spark ML but gathers the ids
        # and timestamps through this path first.  Still gathered: RandomRec (it needs only
        # per-item counts and could follow PopRec; not done yet), SLIM and ADMMSLIM (their
        # solvers run over the whole Gram matrix in one process, though that matrix could be
        # built like KNN's dot products), ClusterRec (per-cluster counts, after assigning
        # users on the driver), ImplicitWrap and LightFMWrap (single-process libraries), and
        # NeuroMF and MultVAE (torch training in one process).
        interactions = interactions_from_frame(
            log,
            name="log",
            need_relevance=self._needs_relevance(),
            need_timestamp=self._needs_timestamp(),
        )
        if len(interactions) == 0:
            raise InvalidValueError("`log` is empty; expected at least one interaction to fit on")
        self._fit_interactions(interactions)
        return self

    def _has_spark_fit(self) -> bool:
        return type(self)._fit_spark is not Recommender._fit_spark

    def _fit_spark(self, log: Any) -> None:
        """Fit a Spark log on the executors (override; record the ids with :meth:`_set_fit_ids`).

        Models that implement it must refuse what the pandas path refuses, with the same
        errors, and end with the state the pandas path would give.  The parameters are
        validated before it is called.
        """
        raise NotImplementedError

    def _set_fit_ids(
        self,
        user_ids: np.ndarray,
        item_ids: np.ndarray,
        user_dtype: np.dtype,
        item_dtype: np.dtype,
    ) -> None:
        """Record the sorted distinct raw ids of the fit log and the dtypes of its columns."""
        self._user_ids, self._item_ids = user_ids, item_ids
        self._user_dtype, self._item_dtype = np.dtype(user_dtype), np.dtype(item_dtype)

    def _fit_interactions(self, interactions: Interactions) -> None:
        user_ids, users = dense_codes(interactions.users)
        item_ids, items = dense_codes(interactions.items)
        dense = DenseLog(
            users=users,
            items=items,
            relevance=interactions.relevance,
            timestamp=interactions.timestamp,
            n_users=len(user_ids),
            n_items=len(item_ids),
        )
        logger.debug(
            "fitting %s on %d rows, %d users, %d items",
            type(self).__name__, len(users), dense.n_users, dense.n_items,
        )
        self._fit_dense(dense)
        self._set_fit_ids(user_ids, item_ids, interactions.user_dtype, interactions.item_dtype)

    @abc.abstractmethod
    def _fit_dense(self, log: DenseLog) -> None:
        """Fit on dense ids (implemented by each model)."""

    # ----------------------------------------------------------------------------------------
    # Predict

    def predict(
        self,
        log: Any = None,
        k: int = 10,
        users: Any = None,
        items: Any = None,
        filter_seen_items: bool | None = None,
    ) -> Any:
        """Recommend ``k`` items per user.

        Parameters
        ----------
        log : pandas.DataFrame or pyspark.sql.DataFrame, optional
            The users' histories: their items are removed when ``filter_seen_items`` and, for
            neighbour models, they are what the scores are computed from.
        k : int
            Items per user (0 gives an empty result; more than the catalogue gives all of it).
        users : list, array or DataFrame with ``user_idx``, optional
            Whom to recommend to; by default the users of ``log``, else every fit user.
        items : list, array or DataFrame with ``item_idx``, optional
            Candidate items; by default every fit item.
        filter_seen_items : bool, optional
            Remove the items each user has in ``log``; default True (UserPopRec: False).

        Returns
        -------
        pandas.DataFrame or pyspark.sql.DataFrame
            ``user_idx, item_idx, relevance``, at most ``k`` rows per user, on the engine of the
            input (Spark if ``log``, ``users`` or ``items`` is a Spark DataFrame), sorted by user
            and rank on pandas.
        """
        self._check_fitted()
        k = check_k(k)
        if filter_seen_items is None:
            filter_seen_items = self.default_filter_seen_items
        if not isinstance(filter_seen_items, (bool, np.bool_)):
            raise InvalidParameterError(
                f"`filter_seen_items` must be True, False or None, got {filter_seen_items!r}"
            )
        if log is not None:
            require_frame(log, "log")
        self._require_log(log)

        if any(is_spark_frame(x) for x in (log, users, items)):
            from reclib.engines import spark as engine
        else:
            from reclib.engines import local as engine  # type: ignore[no-redef]
        return engine.predict(self, log, k, users, items, bool(filter_seen_items))

    def fit_predict(
        self,
        log: Any,
        k: int = 10,
        users: Any = None,
        items: Any = None,
        filter_seen_items: bool | None = None,
    ) -> Any:
        """``fit(log)`` then ``predict(log, k, users, items, filter_seen_items)``."""
        return self.fit(log).predict(log, k, users, items, filter_seen_items)

    def _require_log(self, log: Any) -> None:
        if log is None and self.needs_log_at_predict:
            raise InvalidParameterError(
                f"`log` is not provided: {type(self).__name__} scores users from their "
                "interactions, so pass them (for example the train log) as `log`"
            )

    def _recommend_block(
        self,
        target_users: np.ndarray,
        hist_users: np.ndarray,
        hist_items: np.ndarray,
        candidates: np.ndarray | None,
        k: int,
        filter_seen_items: bool,
        hist_relevance: np.ndarray | None = None,
    ) -> BlockResult:
        """Steps 3–5 of the pipeline for one block of users (both engines call this).

        Parameters
        ----------
        target_users : numpy.ndarray of int64
            Distinct raw ids of the users to recommend to.
        hist_users, hist_items : numpy.ndarray of int64
            The predict log's rows (raw ids) for these users; may include other users' rows.
        candidates : numpy.ndarray of int64, optional
            Distinct raw ids of candidate items; None for every fit item.
        k : int
            Items per user.
        filter_seen_items : bool
            Whether each user's history items are removed.
        hist_relevance : numpy.ndarray of float64, optional
            The relevance of each history row, for models with ``uses_history_relevance``.
        """
        target_users = np.unique(target_users)
        user_pos = self._positions(self.fit_users, target_users)
        if not self.can_predict_cold_users and (user_pos < 0).any():
            logger.warning(
                "%s cannot recommend to users unseen in fit: dropping %d of %d target users",
                type(self).__name__, int((user_pos < 0).sum()), len(user_pos),
            )
            target_users = target_users[user_pos >= 0]
            user_pos = user_pos[user_pos >= 0]

        # The history of every target user, over fit items only (MODELS.md §2.3 step 3).
        # Positions are int32 (the CSR kernels' index type) and the kept rows are copied only
        # when some row is dropped: on a log of 10^8 rows each int64 copy would be 800 MB.
        row = positions(target_users, hist_users, np.int32)
        col = positions(self.fit_items, hist_items, np.int32)
        keep = (row >= 0) & (col >= 0)
        kept = slice(None) if keep.all() else keep
        history = Csr.from_coo(
            row[kept], col[kept], None, len(target_users), self.items_count, "count"
        )
        history_relevance = None
        if hist_relevance is not None and self.uses_history_relevance:
            history_relevance = Csr.from_coo(
                row[kept], col[kept], np.asarray(hist_relevance)[kept], len(target_users),
                self.items_count, "sum",
            )

        mask = None
        cold_items = np.zeros(0, dtype=np.int64)
        if candidates is not None:
            item_pos = self._positions(self.fit_items, candidates)
            mask = np.zeros(self.items_count, dtype=bool)
            mask[item_pos[item_pos >= 0]] = True
            if self.can_predict_cold_items:
                cold_items = candidates[item_pos < 0]

        if k == 0 or len(target_users) == 0:
            empty = np.zeros(0, dtype=np.int64)
            return BlockResult(empty, empty, np.zeros(0, dtype=np.float64))

        exclude = history.pattern() if filter_seen_items else None
        if filter_seen_items and len(cold_items):
            # Seen cold candidates are excluded too: columns past the catalogue are cold items.
            cold_col = positions(cold_items, hist_items)
            seen_cold = (row >= 0) & (cold_col >= 0)
            all_rows = np.concatenate([row[kept], row[seen_cold]])
            all_cols = np.concatenate(
                [col[kept], self.items_count + cold_col[seen_cold].astype(np.int32)]
            )
            exclude = Csr.from_coo(
                all_rows, all_cols, None, len(target_users),
                self.items_count + len(cold_items), "count",
            ).pattern()

        block = PredictBlock(
            users=user_pos,
            raw_users=target_users,
            history=history,
            exclude=exclude,
            candidates=mask,
            cold_items=cold_items,
            k=k,
            history_relevance=history_relevance,
        )
        rows, cols, scores = self._predict_dense(block)
        return BlockResult(
            users=target_users[rows],
            items=self._item_raw(cols, cold_items),
            scores=np.asarray(scores, dtype=np.float64),
        )

    def _item_raw(self, cols: np.ndarray, cold_items: np.ndarray) -> np.ndarray:
        """Map model columns back to raw item ids (columns past the catalogue are cold items)."""
        cols = np.asarray(cols, dtype=np.int64)
        n_items = self.items_count
        if len(cold_items) == 0:
            return self.fit_items[cols]
        raw = np.empty(len(cols), dtype=np.int64)
        warm = cols < n_items
        raw[warm] = self.fit_items[cols[warm]]
        raw[~warm] = cold_items[cols[~warm] - n_items]
        return raw

    @staticmethod
    def _positions(sorted_ids: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Position of each value in ``sorted_ids``, or -1 where absent."""
        return positions(sorted_ids, values)

    @abc.abstractmethod
    def _predict_dense(self, block: PredictBlock) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Score and cut one block: return ``(row, column, score)`` ordered by row then rank.

        ``row`` indexes ``block.users``; ``column`` indexes the fit items, or, from
        ``items_count`` on, ``block.cold_items``.  Implementations apply ``block.exclude`` and
        ``block.candidates`` and keep at most ``block.k`` entries per row.
        """

    # ----------------------------------------------------------------------------------------
    # Pairs, features, neighbours

    def predict_pairs(self, pairs: Any, log: Any = None) -> Any:
        """Score given (user, item) pairs.

        Parameters
        ----------
        pairs : pandas.DataFrame or pyspark.sql.DataFrame
            Exactly the columns ``user_idx`` and ``item_idx``.
        log : DataFrame, optional
            Histories, for models that score from them (neighbour models need it).

        Returns
        -------
        DataFrame
            ``user_idx, item_idx, relevance`` for the pairs the model can score (others are
            absent), on the engine of ``pairs``; not cut to any k.
        """
        self._check_fitted()
        engine_name = require_frame(pairs, "pairs")
        if set(pairs.columns) != {USER_COL, ITEM_COL}:
            raise ColumnMissingError(
                f"`pairs` must have exactly the columns ['{USER_COL}', '{ITEM_COL}'], "
                f"got {list(pairs.columns)}"
            )
        if log is not None:
            require_frame(log, "log")
        self._require_log(log)
        if engine_name == "spark" or is_spark_frame(log):
            from reclib.engines import spark as engine
        else:
            from reclib.engines import local as engine  # type: ignore[no-redef]
        return engine.predict_pairs(self, pairs, log)

    def _pairs_block(
        self,
        pair_users: np.ndarray,
        pair_items: np.ndarray,
        hist_users: np.ndarray,
        hist_items: np.ndarray,
        hist_relevance: np.ndarray | None = None,
    ) -> BlockResult:
        """Score the pairs of one block (both engines call this)."""
        pair_users = np.asarray(pair_users, dtype=np.int64)
        pair_items = np.asarray(pair_items, dtype=np.int64)
        if self._has_native_pairs():
            return self._pairs_native(pair_users, pair_items, hist_users, hist_items)
        return self._pairs_fallback(
            pair_users, pair_items, hist_users, hist_items, hist_relevance
        )

    def _has_native_pairs(self) -> bool:
        return type(self)._score_pairs_dense is not Recommender._score_pairs_dense

    def _pairs_native(
        self,
        pair_users: np.ndarray,
        pair_items: np.ndarray,
        hist_users: np.ndarray,
        hist_items: np.ndarray,
    ) -> BlockResult:
        target_users = np.unique(pair_users)
        user_pos = self._positions(self.fit_users, target_users)
        if not self.can_predict_cold_users:
            target_users = target_users[user_pos >= 0]
            user_pos = user_pos[user_pos >= 0]
        item_pos = self._positions(self.fit_items, pair_items)
        row = positions(target_users, pair_users)
        keep = (row >= 0) & (item_pos >= 0)

        h_row = positions(target_users, hist_users)
        h_col = self._positions(self.fit_items, hist_items)
        h_keep = (h_row >= 0) & (h_col >= 0)
        history = Csr.from_coo(
            h_row[h_keep], h_col[h_keep], None, len(target_users), self.items_count, "count"
        )

        scores, valid = self._score_pairs_dense(
            user_pos, history, row[keep].astype(np.int64), item_pos[keep]
        )
        users = pair_users[keep][valid]
        items = pair_items[keep][valid]
        return BlockResult(users, items, np.asarray(scores, dtype=np.float64)[valid])

    def _pairs_fallback(
        self,
        pair_users: np.ndarray,
        pair_items: np.ndarray,
        hist_users: np.ndarray,
        hist_items: np.ndarray,
        hist_relevance: np.ndarray | None = None,
    ) -> BlockResult:
        """Predict for the pairs' users over the pairs' items, then keep the asked pairs."""
        logger.warning(
            "%s has no native predict_pairs: scoring every user of `pairs` against every item "
            "of `pairs`, then keeping the requested pairs",
            type(self).__name__,
        )
        items = np.unique(pair_items)
        result = self._recommend_block(
            np.unique(pair_users), hist_users, hist_items, items, len(items), False,
            hist_relevance,
        )
        wanted = pd.MultiIndex.from_arrays([pair_users, pair_items])
        got = pd.MultiIndex.from_arrays([result.users, result.items])
        hit = got.isin(wanted)
        return BlockResult(result.users[hit], result.items[hit], result.scores[hit])

    def _score_pairs_dense(
        self,
        users: np.ndarray,
        history: Csr,
        pair_rows: np.ndarray,
        pair_items: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Native pair scores (override): ``(scores, valid mask)`` per pair.

        ``users`` are the dense positions of the distinct pair users (-1 if cold), ``history``
        has one row per such user, ``pair_rows`` indexes ``users`` and ``pair_items`` are dense
        fit-item positions.
        """
        raise NotImplementedError

    def get_features(self, ids: Any) -> tuple[Any, int | None]:
        """Learned vectors of users or items; models without them return ``(None, None)``."""
        logger.info("%s has no learned features; returning (None, None)", type(self).__name__)
        return None, None

    def get_nearest_items(
        self,
        items: Any,
        k: int,
        metric: str | None = None,
        candidates: Any = None,
    ) -> Any:
        """The ``k`` most similar items of each given item.

        Parameters
        ----------
        items : list, array or DataFrame with ``item_idx``
            Query items (raw ids); unknown ones give no rows.
        k : int
            Neighbours per item.
        metric : str, optional
            How to compare items; neighbour models use their stored similarity and ignore it.
        candidates : list, array or DataFrame with ``item_idx``, optional
            Restrict the neighbours to these items.

        Returns
        -------
        DataFrame
            ``item_idx, neighbour_item_idx`` and the metric column, per query item ordered by the
            metric descending, ties by neighbour id descending; Spark if ``items`` was.
        """
        self._check_fitted()
        if not self.can_predict_item_to_item:
            raise InvalidParameterError(
                f"{type(self).__name__} cannot compare items; get_nearest_items is available for "
                "models with item-to-item similarity (KNN, SLIM, ADMMSLIM, ALSWrap, Word2VecRec, "
                "AssociationRulesItemRec)"
            )
        k = check_k(k)
        spark_input = is_spark_frame(items) or is_spark_frame(candidates)
        query = self._ids_from(items, "items", ITEM_COL)
        cand = None if candidates is None else self._ids_from(candidates, "candidates", ITEM_COL)

        query_pos = self._positions(self.fit_items, query)
        query_pos = np.unique(query_pos[query_pos >= 0])
        mask = None
        if cand is not None:
            cand_pos = self._positions(self.fit_items, cand)
            mask = np.zeros(self.items_count, dtype=bool)
            mask[cand_pos[cand_pos >= 0]] = True
        rows, cols, values, metric_name = self._nearest_dense(query_pos, k, metric, mask)

        out = pd.DataFrame(
            {
                ITEM_COL: self.fit_items[query_pos[rows]].astype(self._item_dtype),
                "neighbour_item_idx": self.fit_items[cols].astype(self._item_dtype),
                metric_name: np.asarray(values, dtype=np.float64),
            }
        )
        if spark_input:
            from reclib.engines.spark import to_spark

            return to_spark(out, like=items if is_spark_frame(items) else candidates)
        return out

    def _nearest_dense(
        self,
        items: np.ndarray,
        k: int,
        metric: str | None,
        candidates: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
        """``(row into items, neighbour column, value, metric column name)`` (override)."""
        raise NotImplementedError

    @staticmethod
    def _ids_from(values: Any, name: str, column: str) -> np.ndarray:
        if is_spark_frame(values):
            from reclib.data.schema import frame_to_arrow

            values = frame_to_arrow(values, [column]).column(0).to_numpy()
        return _unique_ids(values, name, column)


def ids_argument(values: Any, name: str, column: str) -> np.ndarray | None:
    """Normalise a ``users`` / ``items`` argument (None, iterable or DataFrame) to raw ids."""
    if values is None:
        return None
    return Recommender._ids_from(values, name, column)

