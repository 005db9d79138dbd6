"""Parameter and column checks of the splitters.

Every splitter validates its parameters when it is built (so a bad configuration fails before
any data is touched) and the log's columns when :meth:`split` is called.  Messages name the
parameter or column, show what was given and say what is allowed.
"""

from __future__ import annotations

import numbers
from typing import Any

import pandas as pd

from reclib.engines.frames import require_frame
from reclib.exceptions import (
    ColumnMissingError,
    ColumnTypeError,
    InvalidParameterError,
    InvalidValueError,
)

__all__ = ["check_size", "check_fraction", "check_flag", "check_seed", "check_log"]


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool) or type(value).__name__ == "bool_"


def check_size(value: Any, name: str) -> int | float:
    """Accept an int >= 1 (a count) or a float strictly between 0 and 1 (a fraction).

    Raises
    ------
    InvalidParameterError
        Any other value or type.
    """
    if _is_int(value):
        if value < 1:
            msg = f"`{name}` must be an int >= 1 or a float in (0, 1), got {value!r}"
            raise InvalidParameterError(msg)
        return int(value)
    return check_fraction(value, name, allow_int=True)


def check_fraction(value: Any, name: str, allow_int: bool = False) -> float:
    """Accept a float strictly between 0 and 1 (an int too when ``allow_int``).

    Raises
    ------
    InvalidParameterError
        Any other value or type.
    """
    allowed = "an int >= 1 or a float in (0, 1)" if allow_int else "a float in (0, 1)"
    if _is_bool(value) or not isinstance(value, numbers.Real):
        msg = f"`{name}` must be {allowed}, got {value!r} of type {type(value).__name__}"
        raise InvalidParameterError(msg)
    if not 0.0 < float(value) < 1.0:
        msg = f"`{name}` must be {allowed}, got {value!r}"
        raise InvalidParameterError(msg)
    return float(value)


def check_flag(value: Any, name: str) -> bool:
    """Accept a bool (``True``/``False``, numpy bools included)."""
    if not _is_bool(value):
        msg = f"`{name}` must be True or False, got {value!r} of type {type(value).__name__}"
        raise InvalidParameterError(msg)
    return bool(value)


def check_seed(value: Any) -> int | None:
    """Accept ``None`` or an int >= 0."""
    if value is None:
        return None
    if not _is_int(value) or value < 0:
        msg = f"`seed` must be None or an int >= 0, got {value!r} of type {type(value).__name__}"
        raise InvalidParameterError(msg)
    return int(value)


def _pandas_kind(dtype: Any) -> str:
    types = pd.api.types
    if types.is_bool_dtype(dtype):
        return "bool"
    if types.is_integer_dtype(dtype):
        return "integer"
    if types.is_numeric_dtype(dtype):
        return "numeric"
    if types.is_datetime64_any_dtype(dtype):
        return "time"
    if types.is_object_dtype(dtype) or types.is_string_dtype(dtype):
        return "time"  # strings or date objects; parsed (and checked) when split
    return "other"


def _spark_kind(data_type: Any) -> str:
    from pyspark.sql import types as T

    if isinstance(data_type, T.BooleanType):
        return "bool"
    if isinstance(data_type, T.IntegralType):
        return "integer"
    if isinstance(data_type, (T.FloatType, T.DoubleType)):
        return "numeric"
    if isinstance(data_type, T.DecimalType):
        return "decimal"
    if isinstance(data_type, (T.TimestampType, T.TimestampNTZType, T.DateType, T.StringType)):
        return "time"
    return "other"


# Column name to (kinds it may have, words for the message).
_RULES = {
    "user_idx": ({"integer"}, "an integer type"),
    "item_idx": ({"integer"}, "an integer type"),
    "relevance": ({"integer", "numeric", "decimal", "bool"}, "a numeric type"),
    "timestamp": (
        {"integer", "numeric", "time"},
        "datetimes, dates, seconds since the epoch or ISO 8601 date strings",
    ),
}


def check_log(log: Any, needs_timestamp: bool) -> str:
    """Check the columns of a log and return its engine (``"pandas"`` or ``"spark"``).

    ``user_idx`` and ``item_idx`` are required and must be integers; ``timestamp`` is required
    when ``needs_timestamp``; ``relevance`` is optional but must be numeric when present.

    Raises
    ------
    ColumnMissingError, ColumnTypeError, InvalidValueError
        A column is absent, of the wrong type, or (pandas) an id is missing.
    """
    engine = require_frame(log, "log")
    if engine == "spark":
        kinds = {f.name: _spark_kind(f.dataType) for f in log.schema.fields}
        types = {f.name: f.dataType for f in log.schema.fields}
    else:
        kinds = {name: _pandas_kind(dtype) for name, dtype in log.dtypes.items()}
        types = dict(log.dtypes.items())

    required = ["user_idx", "item_idx"] + (["timestamp"] if needs_timestamp else [])
    for column in required:
        if column not in kinds:
            msg = (
                f"`log` has no column `{column}`; it has {sorted(map(str, kinds))}, "
                f"and needs {required}"
            )
            raise ColumnMissingError(msg)
    for column, (allowed, words) in _RULES.items():
        if column in kinds and kinds[column] not in allowed:
            msg = f"column `{column}` of `log` has type {types[column]}, expected {words}"
            raise ColumnTypeError(msg)

    if engine == "pandas":
        for column in ("user_idx", "item_idx"):
            if log[column].isna().any():
                msg = f"column `{column}` of `log` holds missing values; ids must all be present"
                raise InvalidValueError(msg)
    return engine
