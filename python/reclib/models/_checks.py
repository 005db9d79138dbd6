"""Parameter checks shared by the models' ``_validate_params``."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from reclib.exceptions import InvalidParameterError

__all__ = ["check_int", "check_float", "check_choice", "check_bool"]


def _where(owner: str, name: str) -> str:
    return f"`{name}` of {owner}" if owner else f"`{name}`"


def check_int(owner: str, name: str, value: Any, low: int | None = None) -> None:
    """An integer (not a bool), at least ``low`` when given."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise InvalidParameterError(
            f"{_where(owner, name)} must be an integer, got {value!r} ({type(value).__name__})"
        )
    if low is not None and value < low:
        raise InvalidParameterError(f"{_where(owner, name)} must be >= {low}, got {value}")


def check_float(
    owner: str,
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """A finite real number within ``[low, high]`` (or open ends)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ) or not math.isfinite(value):
        raise InvalidParameterError(f"{_where(owner, name)} must be a finite number, got {value!r}")
    left = "(" if low_open else "["
    right = ")" if high_open else "]"
    interval = f"{left}{'-inf' if low is None else low}, {'inf' if high is None else high}{right}"
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        raise InvalidParameterError(f"{_where(owner, name)} must be in {interval}, got {value}")


def check_choice(owner: str, name: str, value: Any, choices: list[Any]) -> None:
    """One of ``choices``."""
    if value not in choices:
        raise InvalidParameterError(
            f"{_where(owner, name)} must be one of {choices}, got {value!r}"
        )


def check_bool(owner: str, name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise InvalidParameterError(f"{_where(owner, name)} must be True or False, got {value!r}")
