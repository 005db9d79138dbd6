"""The model zoo as the save/load and tuning tests build it: every model of the registry."""

from __future__ import annotations

from typing import Any

import pytest

from reclib.models.registry import MODELS

#: Models that cannot be built from defaults alone: the parameters the zoo tests give them.
ZOO_PARAMS: dict[str, dict[str, Any]] = {
    "ImplicitWrap": {
        "model": {
            "class": "implicit.cpu.als.AlternatingLeastSquares",
            "params": {"factors": 4, "iterations": 3, "random_state": 0},
        }
    },
}

#: Optional packages a model needs, by class name.
ZOO_NEEDS: dict[str, str] = {"ImplicitWrap": "implicit", "LightFMWrap": "lightfm"}

ZOO_NAMES = sorted(MODELS)

#: User recommenders (MODELS.md §2.1): they fit and predict with a user feature table.
ZOO_USER_FEATURES = {"ClusterRec"}


def make_zoo_model(name: str) -> Any:
    """The registry model ``name`` with small parameters, seeded when it takes a seed."""
    cls = MODELS[name]
    if cls.__name__ in ZOO_NEEDS:
        pytest.importorskip(ZOO_NEEDS[cls.__name__])
    params = dict(ZOO_PARAMS.get(cls.__name__, {}))
    for seed_name in ("seed", "random_state"):
        if seed_name in cls._param_names():
            params.setdefault(seed_name, 0)
    return cls(**params)


def zoo_user_features(log: Any) -> Any:
    """Two numeric features per user of ``log``, derived from the user id (deterministic)."""
    import pandas as pd

    users = pd.unique(log["user_idx"])
    return pd.DataFrame({"user_idx": users, "age": 18 + users % 50, "group": users % 3})


def zoo_fit(model: Any, log: Any) -> Any:
    """``model.fit(log)``, with the zoo's user features for a user recommender."""
    if type(model).__name__ in ZOO_USER_FEATURES:
        return model.fit(log, zoo_user_features(log))
    return model.fit(log)


def zoo_predict(model: Any, log: Any, k: int) -> Any:
    """``model.predict(log, k=k)``, with the zoo's user features for a user recommender."""
    if type(model).__name__ in ZOO_USER_FEATURES:
        return model.predict(zoo_user_features(log), k=k, log=log)
    return model.predict(log, k=k)
