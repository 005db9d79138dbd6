"""Search spaces of ``optimize``: the model's default space, narrowed by ``param_borders``.

A space maps a parameter name to a :class:`Dimension`.  ``param_borders`` may narrow the
dimensions of the model's ``_search_space`` (``MODELS.md`` §3); every dimension it does not
mention is frozen at the model's current value and is not searched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from reclib.exceptions import InvalidParameterError, ReclibError

__all__ = ["Dimension", "SearchSpace", "build_space"]

_NUMERIC = ("int", "loguniform_int", "uniform", "loguniform")
_TYPES = (*_NUMERIC, "categorical")


@dataclass(frozen=True)
class Dimension:
    """One searched parameter.

    Attributes
    ----------
    name : str
        The model's parameter name.
    kind : {"int", "loguniform_int", "uniform", "loguniform", "categorical"}
        How values are drawn (``log`` kinds draw on a log scale).
    args : tuple
        ``(low, high)`` for numeric kinds, the choices for ``categorical``.
    """

    name: str
    kind: str
    args: tuple[Any, ...]

    @property
    def is_int(self) -> bool:
        return self.kind in ("int", "loguniform_int")

    @property
    def is_log(self) -> bool:
        return self.kind in ("loguniform", "loguniform_int")

    def contains(self, value: Any) -> bool:
        """Whether ``value`` could be drawn from this dimension."""
        if self.kind == "categorical":
            return any(_same(value, choice) for choice in self.args)
        if not _is_number(value):
            return False
        if self.is_int and not float(value).is_integer():
            return False
        low, high = self.args
        return bool(low <= value <= high)

    def suggest(self, trial: Any) -> Any:
        """Draw a value with an optuna trial."""
        if self.kind == "categorical":
            return trial.suggest_categorical(self.name, list(self.args))
        low, high = self.args
        if self.is_int:
            return trial.suggest_int(self.name, int(low), int(high), log=self.is_log)
        return trial.suggest_float(self.name, float(low), float(high), log=self.is_log)

    def describe(self) -> str:
        if self.kind == "categorical":
            return f"one of {list(self.args)}"
        return f"{self.kind} in [{self.args[0]}, {self.args[1]}]"


@dataclass(frozen=True)
class SearchSpace:
    """What one ``optimize`` call searches, and what it keeps fixed.

    Attributes
    ----------
    dimensions : dict of str to Dimension
        The searched parameters.
    fixed : dict
        Parameters of the default space that stay at the model's current value.
    """

    dimensions: dict[str, Dimension]
    fixed: dict[str, Any]

    def contains(self, params: dict[str, Any]) -> bool:
        """Whether every searched parameter's value in ``params`` lies in its dimension."""
        return all(dim.contains(params.get(name)) for name, dim in self.dimensions.items())

    def as_trial_values(self, params: dict[str, Any]) -> dict[str, Any]:
        """``params`` restricted to the searched names, with ints where a dimension is int."""
        values = {}
        for name, dim in self.dimensions.items():
            value = params[name]
            if dim.kind != "categorical":
                value = int(value) if dim.is_int else float(value)
            values[name] = value
        return values


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, (int, float, np.integer, np.floating))
        and not isinstance(value, (bool, np.bool_))
        and math.isfinite(float(value))
    )


def _same(left: Any, right: Any) -> bool:
    """Equality that keeps ``True`` apart from ``1`` (a categorical of booleans and ints)."""
    if isinstance(left, (bool, np.bool_)) != isinstance(right, (bool, np.bool_)):
        return False
    return bool(left == right)


def _default_space(model: Any) -> dict[str, Dimension]:
    """The model's ``_search_space`` as dimensions (a malformed one is a programming error)."""
    owner = type(model).__name__
    dimensions = {}
    for name, entry in (type(model)._search_space or {}).items():
        if entry.get("type") not in _TYPES:
            raise ReclibError(
                f"{owner}._search_space[{name!r}] has type {entry.get('type')!r}; "
                f"expected one of {list(_TYPES)}"
            )
        dimensions[name] = Dimension(name, entry["type"], tuple(entry["args"]))
    return dimensions


def _check_border(model: Any, dim: Dimension, border: Any) -> Dimension:
    """Validate one entry of ``param_borders`` against its default dimension."""
    where = f"`param_borders[{dim.name!r}]` of {type(model).__name__}"
    if not isinstance(border, (list, tuple)):
        raise InvalidParameterError(
            f"{where} must be a list, got {border!r} ({type(border).__name__}); expected "
            + ("a non-empty list of choices" if dim.kind == "categorical" else "[low, high]")
        )
    values = tuple(border)

    if dim.kind == "categorical":
        if not values:
            raise InvalidParameterError(
                f"{where} must be a non-empty list of choices, got [] (default {dim.describe()})"
            )
        for value in values:
            _probe(model, dim.name, value, where)
        return Dimension(dim.name, dim.kind, values)

    if len(values) != 2:
        raise InvalidParameterError(
            f"{where} must be [low, high] for the {dim.kind} parameter, got {list(values)!r}"
        )
    low, high = values
    for value in values:
        if not _is_number(value):
            raise InvalidParameterError(
                f"{where} must hold two finite numbers [low, high], got {list(values)!r}"
            )
        if dim.is_int and not isinstance(value, (int, np.integer)):
            raise InvalidParameterError(
                f"{where} must hold two integers for the {dim.kind} parameter "
                f"`{dim.name}`, got {list(values)!r}"
            )
    if low > high:
        raise InvalidParameterError(f"{where} must have low <= high, got {list(values)!r}")
    if dim.is_log and low <= 0:
        raise InvalidParameterError(
            f"{where} must have low > 0 for the {dim.kind} (log scale) parameter "
            f"`{dim.name}`, got {list(values)!r}"
        )

    low, high = (int(low), int(high)) if dim.is_int else (float(low), float(high))
    for value in (low, high):
        _probe(model, dim.name, value, where)
    return Dimension(dim.name, dim.kind, (low, high))


def _probe(model: Any, name: str, value: Any, where: str) -> None:
    """Refuse a border value the model itself would refuse (with the other params as now)."""
    probe = type(model).from_config(model.get_config())
    try:
        probe.set_params(**{name: value})
    except InvalidParameterError as err:
        raise InvalidParameterError(
            f"{where} holds {value!r}, which the model refuses: {err}"
        ) from err


def build_space(model: Any, param_borders: dict[str, Any] | None) -> SearchSpace:
    """The space one ``optimize`` call searches.

    Parameters
    ----------
    model : Recommender
        A model whose class has a ``_search_space``.
    param_borders : dict, optional
        Parameter name to ``[low, high]`` (numbers) or a list of choices (categories).  When
        given, the default-space parameters it does not name are frozen at their current value.

    Returns
    -------
    SearchSpace

    Raises
    ------
    InvalidParameterError
        ``param_borders`` is not a dict, names a parameter outside the model's search space,
        or holds a border of the wrong form or with values the model refuses.
    """
    default = _default_space(model)
    if param_borders is None:
        return SearchSpace(default, {})
    if not isinstance(param_borders, dict):
        raise InvalidParameterError(
            f"`param_borders` must be a dict of parameter name to border, got "
            f"{param_borders!r} ({type(param_borders).__name__})"
        )

    unknown = sorted(set(param_borders) - set(default), key=str)
    if unknown:
        raise InvalidParameterError(
            f"`param_borders` names unknown parameter(s) {unknown} of {type(model).__name__}; "
            f"its search space has {sorted(default)}"
        )
    params = model.get_params()
    dimensions = {
        name: _check_border(model, default[name], border)
        for name, border in param_borders.items()
    }
    fixed = {name: params[name] for name in default if name not in dimensions}
    return SearchSpace(dimensions, fixed)
