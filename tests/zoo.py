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
