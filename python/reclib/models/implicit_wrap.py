"""ImplicitWrap: any model of the ``implicit`` library behind reclib's API (``MODELS.md`` §4.15).

Fit builds the user x item CSR matrix of relevance (duplicate rows summed) on dense positions
and calls ``model.fit(user_items)`` (implicit >= 0.5 takes user x item).  Then the fitted
state is exported to numpy, so that predict runs on reclib's shared kernels, in-process for
pandas and on Spark executors for Spark input, without the implicit object:

* **factor models** (ALS, BPR, LMF: anything with ``user_factors`` / ``item_factors``): the
  factors, scored by :class:`~reclib.models.factor.FactorRec` (``score = x_u . y_i``, which is
  what implicit's ``recommend`` ranks by; BPR's item bias rides in its last factor column);
* **item-item models** (``CosineRecommender``, ``BM25Recommender``, ``TFIDFRecommender``, any
  ``ItemItemRecommender``): the item x item ``similarity`` matrix, scored by
  :class:`~reclib.models.knn.NeighbourRec`'s kernel with the history weighted by the predict
  log's relevance, as implicit's ``recommend`` does with ``user_items``:
  ``score(u, c) = sum_h r_uh * S[h, c]``.

Either way the top-k equals implicit's own ``recommend`` on the same matrices (ties broken by
item id here, arbitrarily there).
"""

from __future__ import annotations

import importlib
import inspect
import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp

from reclib._logging import get_logger
from reclib._sparse import Csr
from reclib.exceptions import InvalidParameterError, MissingDependencyError
from reclib.models.base import DenseLog, PredictBlock, Recommender
from reclib.models.factor import FactorRec
from reclib.models.knn import NeighbourRec

__all__ = ["ImplicitWrap"]

logger = get_logger(__name__)

_FACTOR, _NEIGHBOUR = "factor", "neighbour"


class ImplicitWrap(FactorRec, NeighbourRec):
    """Wrap a model of the ``implicit`` library.

    Parameters
    ----------
    model : implicit model or dict
        An unfitted implicit model, for example
        ``implicit.cpu.als.AlternatingLeastSquares(factors=64)`` or
        ``implicit.nearest_neighbours.CosineRecommender(K=50)``; GPU models are moved to the
        CPU after fit.  Or its description ``{"class": "<module>.<Class>", "params": {...}}``
        (what :meth:`get_config` and saved models record), from which the model is built.

    Notes
    -----
    No search space (``optimize`` returns None).  Cold users and items are not scored.
    ``predict_pairs`` is native for factor models and the base class's fallback (predict over
    the pairs' items, then keep the pairs) for item-item models.  The fitted state is plain
    arrays, so save/load and the Spark engine never pickle the implicit object.

    Examples
    --------
    >>> import pandas as pd
    >>> from implicit.cpu.als import AlternatingLeastSquares
    >>> log = pd.DataFrame({"user_idx": [1, 1, 2, 2], "item_idx": [1, 2, 2, 3],
    ...                     "relevance": [1.0, 1.0, 1.0, 1.0]})
    >>> model = ImplicitWrap(AlternatingLeastSquares(factors=5, random_state=0))
    >>> model.fit_predict(log, k=1, users=[1])["item_idx"].tolist()
    [3]
    """

    can_predict_cold_users = False
    can_predict_cold_items = False
    can_predict_item_to_item = True

    def __init__(self, model: Any = None) -> None:
        super().__init__()
        self.model = model
        self._kind: str | None = None
        _model_spec(model)

    def _validate_params(self) -> None:
        _model_spec(self.model)

    def get_config(self) -> dict[str, Any]:
        """``{"model": "ImplicitWrap", "params": {"model": {"class": ..., "params": ...}}}``."""
        return {"model": type(self).__name__, "params": {"model": _model_spec(self.model)}}

    def export_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta, arrays = super().export_state()
        meta["params"] = {"model": _model_spec(self.model)}
        return meta, arrays

    def __repr__(self) -> str:
        spec = _model_spec(self.model)
        args = ", ".join(f"{k}={v!r}" for k, v in spec["params"].items())
        return f"ImplicitWrap({spec['class'].rpartition('.')[2]}({args}))"

    # ----------------------------------------------------------------------------------------
    # Fit

    def _fit_dense(self, log: DenseLog) -> None:
        model = _build_model(self.model)
        user_items = sp.csr_matrix(
            (log.relevance.astype(np.float32), (log.users, log.items)),
            shape=(log.n_users, log.n_items),
        )
        user_items.sum_duplicates()
        from threadpoolctl import threadpool_limits  # a dependency of implicit

        # One BLAS thread while implicit runs its own (implicit's advice); its item-item fit
        # converts a matrix it built itself and warns about that: not the caller's concern.
        with threadpool_limits(1, "blas"), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Method expects CSR input")
            model.fit(user_items, show_progress=False)
        # Limitation: the GPU branch is untested here (PyPI's implicit wheels have no CUDA).
        if hasattr(model, "to_cpu") and type(model).__module__.startswith("implicit.gpu"):
            model = model.to_cpu()

        self._user_factors = self._item_factors = None
        self._neighbours = None
        if getattr(model, "item_factors", None) is not None and getattr(
            model, "user_factors", None
        ) is not None:
            self._set_kind(_FACTOR)
            self._user_factors = np.asarray(model.user_factors, dtype=np.float32)
            self._item_factors = np.asarray(model.item_factors, dtype=np.float32)
        elif getattr(model, "similarity", None) is not None:
            self._set_kind(_NEIGHBOUR)
            similarity = sp.csr_matrix(model.similarity, dtype=np.float64)
            similarity.sort_indices()
            self._neighbours = Csr(
                similarity.indptr.astype(np.int64),
                similarity.indices.astype(np.int32),
                similarity.data.astype(np.float64),
                log.n_items,
            )
        else:
            raise InvalidParameterError(
                f"`model` of ImplicitWrap must be an implicit factor model (with user_factors "
                f"and item_factors) or item-item model (with similarity); got "
                f"{type(model).__module__}.{type(model).__name__} with neither after fit"
            )

    def _set_kind(self, kind: str) -> None:
        self._kind = kind
        # Item-item scores weight the history by relevance, as implicit's recommend does, and
        # come only from that history: then predict needs a log.
        self.uses_history_relevance = kind == _NEIGHBOUR
        self.needs_log_at_predict = kind == _NEIGHBOUR

    # ----------------------------------------------------------------------------------------
    # Predict: dispatch to the shared kernels

    def _predict_dense(self, block: PredictBlock) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._kind == _FACTOR:
            return FactorRec._predict_dense(self, block)
        if block.history_relevance is not None:
            block = _with_history(block, block.history_relevance)
        return NeighbourRec._predict_dense(self, block)

    def _has_native_pairs(self) -> bool:
        return self._kind == _FACTOR

    def _score_pairs_dense(
        self,
        users: np.ndarray,
        history: Csr,
        pair_rows: np.ndarray,
        pair_items: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        return FactorRec._score_pairs_dense(self, users, history, pair_rows, pair_items)

    def _nearest_dense(
        self,
        items: np.ndarray,
        k: int,
        metric: str | None,
        candidates: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
        if self._kind == _FACTOR:
            return FactorRec._nearest_dense(self, items, k, metric, candidates)
        return NeighbourRec._nearest_dense(self, items, k, metric, candidates)

    def get_features(self, ids: Any) -> tuple[Any, int | None]:
        """Factors of users or items for factor models; ``(None, None)`` for item-item ones."""
        self._check_fitted()
        if self._kind == _FACTOR:
            return FactorRec.get_features(self, ids)
        return Recommender.get_features(self, ids)

    # ----------------------------------------------------------------------------------------
    # State

    def _state_arrays(self) -> dict[str, np.ndarray]:
        if self._kind == _FACTOR:
            return FactorRec._state_arrays(self)
        return NeighbourRec._state_arrays(self)

    def _load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        if self._kind == _FACTOR:
            FactorRec._load_state_arrays(self, arrays)
        else:
            NeighbourRec._load_state_arrays(self, arrays)

    def _state_meta(self) -> dict[str, Any]:
        return {**FactorRec._state_meta(self), "kind": self._kind}

    def _load_state_meta(self, meta: dict[str, Any]) -> None:
        FactorRec._load_state_meta(self, meta)
        self._set_kind(meta["kind"])


def _with_history(block: PredictBlock, history: Csr) -> PredictBlock:
    import dataclasses

    return dataclasses.replace(block, history=history)


# --------------------------------------------------------------------------------------------
# The implicit model and its JSON description


def _model_spec(model: Any) -> dict[str, Any]:
    """``{"class": "<module>.<Class>", "params": {...}}`` of an implicit model or spec."""
    if model is None:
        raise InvalidParameterError(
            "`model` of ImplicitWrap is required: an implicit model (for example "
            "implicit.cpu.als.AlternatingLeastSquares(factors=64)) or "
            "{'class': '<module>.<Class>', 'params': {...}}"
        )
    if isinstance(model, dict):
        if not isinstance(model.get("class"), str) or not isinstance(model.get("params", {}), dict):
            raise InvalidParameterError(
                "`model` of ImplicitWrap given as a dict must be {'class': '<module>.<Class>', "
                f"'params': {{...}}}}, got {model!r}"
            )
        if not model["class"].startswith("implicit."):
            raise InvalidParameterError(
                f"`model` of ImplicitWrap must be a class of the implicit library, got "
                f"{model['class']!r}"
            )
        return {"class": model["class"], "params": dict(model.get("params", {}))}

    cls = type(model)
    if not cls.__module__.startswith("implicit.") or not hasattr(model, "fit"):
        raise InvalidParameterError(
            "`model` of ImplicitWrap must be an implicit model (for example "
            "implicit.cpu.als.AlternatingLeastSquares(factors=64)), got "
            f"{cls.__module__}.{cls.__qualname__}"
        )
    params = {}
    for name in inspect.signature(cls.__init__).parameters:
        if name == "self" or not hasattr(model, name):
            continue
        params[name] = _json_value(name, getattr(model, name))
    return {"class": f"{cls.__module__}.{cls.__qualname__}", "params": params}


def _json_value(name: str, value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (type, np.dtype)):
        try:
            return np.dtype(value).name
        except TypeError:
            pass
    # Limitation: objects such as a numpy Generator passed as random_state cannot be written
    # to JSON; the recorded config then rebuilds the model with None.
    logger.warning(
        "ImplicitWrap: parameter %s=%r cannot be recorded in the config; recording None",
        name, value,
    )
    return None


def _build_model(model: Any) -> Any:
    """The implicit object to fit: a fresh one for a spec, else the given object."""
    if not isinstance(model, dict):
        return model
    spec = _model_spec(model)
    module_name, _, class_name = spec["class"].rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except ImportError as err:
        raise MissingDependencyError(
            f"ImplicitWrap needs the `implicit` package to build {spec['class']} "
            f"(pip install implicit): {err}"
        ) from None
    except AttributeError:
        raise InvalidParameterError(
            f"`model` of ImplicitWrap names {spec['class']!r}, which implicit does not have"
        ) from None
    params = dict(spec["params"])
    if "dtype" in params and isinstance(params["dtype"], str):
        params["dtype"] = np.dtype(params["dtype"])
    return cls(**params)
