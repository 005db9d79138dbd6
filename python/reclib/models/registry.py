"""Models by name, for the CLI and for loading saved models."""

from __future__ import annotations

import json
from typing import Any

from reclib.exceptions import InvalidParameterError
from reclib.models.als import ALSWrap
from reclib.models.base import Recommender
from reclib.models.cluster import ClusterRec
from reclib.models.implicit_wrap import ImplicitWrap
from reclib.models.knn import KNN
from reclib.models.lightfm_wrap import LightFMWrap
from reclib.models.neural import MultVAE, NeuroMF  # torch is imported only when they run
from reclib.models.popularity import PopRec, UserPopRec, Wilson
from reclib.models.random_rec import RandomRec
from reclib.models.rules import AssociationRulesItemRec
from reclib.models.slim import ADMMSLIM, SLIM
from reclib.models.word2vec import Word2VecRec

__all__ = ["MODELS", "make_model", "model_classes"]

#: Short names accepted by ``reclib recommend --model`` and ``reclib experiment --models``.
MODELS: dict[str, type[Recommender]] = {
    "pop": PopRec,
    "userpop": UserPopRec,
    "wilson": Wilson,
    "random": RandomRec,
    "knn": KNN,
    "slim": SLIM,
    "admm_slim": ADMMSLIM,
    "rules": AssociationRulesItemRec,
    "word2vec": Word2VecRec,
    "cluster": ClusterRec,
    "als": ALSWrap,
    "implicit": ImplicitWrap,
    "lightfm": LightFMWrap,
    "neuromf": NeuroMF,
    "multvae": MultVAE,
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


def model_classes() -> dict[str, type[Recommender]]:
    """The registered model classes by class name (``"KNN"``): what ``reclib.load`` may build.

    A saved model names its class by this short name; ``reclib.load`` instantiates only a class
    of this table and never imports a module path read from a file.
    """
    return {cls.__name__: cls for cls in MODELS.values()}
