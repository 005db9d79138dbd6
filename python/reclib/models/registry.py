"""Models by name, for the CLI and for loading saved models."""

from __future__ import annotations

import json
from typing import Any

from reclib.exceptions import InvalidParameterError
from reclib.models.base import Recommender
from reclib.models.knn import KNN
from reclib.models.popularity import PopRec, UserPopRec, Wilson
from reclib.models.random_rec import RandomRec

__all__ = ["MODELS", "make_model"]

#: Short names accepted by ``reclib recommend --model`` and ``reclib experiment --models``.
MODELS: dict[str, type[Recommender]] = {
    "pop": PopRec,
    "userpop": UserPopRec,
    "wilson": Wilson,
    "random": RandomRec,
    "knn": KNN,
}


def make_model(name: str, params: str | dict[str, Any] | None = None) -> Recommender:
    """Build a model from its short name and parameters (a dict or a JSON object string)."""
    if name not in MODELS:
        raise InvalidParameterError(f"unknown model {name!r}; expected one of {sorted(MODELS)}")
    if isinstance(params, str):
        try:
            params = json.loads(params)
        except json.JSONDecodeError as err:
            raise InvalidParameterError(
                f"`params` must be a JSON object, got {params!r} ({err.msg})"
            ) from None
    params = params or {}
    if not isinstance(params, dict):
        raise InvalidParameterError(f"`params` must be a JSON object, got {params!r}")
    cls = MODELS[name]
    known = cls._param_names()
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise InvalidParameterError(
            f"{cls.__name__} has no parameter(s) {unknown}; expected some of {known}"
        )
    model = cls(**params)
    model._validate_params()
    return model
