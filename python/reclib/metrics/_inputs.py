"""Checking and lining up the inputs of the metrics.

Three small jobs, done before any arithmetic:

* :func:`check_columns` makes sure a frame has the columns a metric reads, with usable dtypes
  (a light check, on the schema only, so that it costs nothing on Spark);
* :func:`parse_k` turns the ``k`` argument (an int or a list of ints) into a tuple;
* :func:`align_engines` puts all frames on one engine: when any of them is a Spark DataFrame,
  the pandas ones are converted to Spark with that frame's session.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from reclib.engines.frames import is_spark_frame, require_frame
from reclib.exceptions import (
    ColumnMissingError,
    ColumnTypeError,
    InvalidParameterError,
    InvalidValueError,
)

__all__ = ["check_columns", "parse_k", "align_engines", "to_spark"]

_INTEGER = "integer"
_NUMERIC = "numeric"


def _spark_kind_ok(data_type: Any, kind: str) -> bool:
    from pyspark.sql import types as T

    if kind == _INTEGER:
        return isinstance(data_type, T.IntegralType)
    return isinstance(data_type, (T.NumericType, T.BooleanType))


def _pandas_kind_ok(dtype: Any, kind: str) -> bool:
    if kind == _INTEGER:
        return pd.api.types.is_integer_dtype(dtype)
    return pd.api.types.is_numeric_dtype(dtype)


def check_columns(frame: Any, name: str, required: dict[str, str]) -> str:
    """Check that ``frame`` has the ``required`` columns and return its engine.

    Parameters
    ----------
    frame
        A pandas or Spark DataFrame.
    name
        The parameter name, used in messages (``"recs"``, ``"ground_truth"``, ``"train"``).
    required
        Column name to the kind it must have: ``"integer"`` or ``"numeric"``.

    Returns
    -------
    str
        ``"pandas"`` or ``"spark"``.

    Raises
    ------
    ColumnMissingError
        A required column is absent.
    ColumnTypeError
        A column has a dtype of the wrong kind, or ``frame`` is not a DataFrame.
    InvalidValueError
        An id column of a pandas frame holds missing values.
    """
    engine = require_frame(frame, name)
    if engine == "spark":
        types = {field.name: field.dataType for field in frame.schema.fields}
    else:
        types = dict(frame.dtypes.items())

    for column, kind in required.items():
        if column not in types:
            msg = (
                f"`{name}` has no column `{column}`; it has {sorted(map(str, types))}, "
                f"and needs {sorted(required)}"
            )
            raise ColumnMissingError(msg)
        ok = _spark_kind_ok if engine == "spark" else _pandas_kind_ok
        if not ok(types[column], kind):
            msg = f"column `{column}` of `{name}` has type {types[column]}, expected an {kind} type"
            raise ColumnTypeError(msg)
        if engine == "pandas" and kind == _INTEGER and frame[column].isna().any():
            msg = f"column `{column}` of `{name}` holds missing values; ids must all be present"
            raise InvalidValueError(msg)
    return engine


def parse_k(k: Any) -> tuple[tuple[int, ...], bool]:
    """Validate ``k`` and return ``(ks, many)``; ``many`` tells whether a list was given.

    Raises
    ------
    InvalidParameterError
        ``k`` is not a positive int nor a non-empty sequence of positive ints.
    """
    many = isinstance(k, Sequence) and not isinstance(k, (str, bytes))
    values = list(k) if many else [k]
    if not values:
        msg = "`k` is an empty list; expected at least one positive int"
        raise InvalidParameterError(msg)
    for value in values:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            msg = (
                f"`k` must be a positive int or a list of them, got {value!r} "
                f"of type {type(value).__name__}"
            )
            raise InvalidParameterError(msg)
        if value < 1:
            msg = f"`k` must be >= 1, got {value!r}"
            raise InvalidParameterError(msg)
    return tuple(dict.fromkeys(int(v) for v in values)), many


def to_spark(frame: pd.DataFrame, session: Any, columns: list[str]) -> Any:
    """Send the given columns of a pandas frame to Spark."""
    return session.createDataFrame(frame[columns].reset_index(drop=True))


def align_engines(
    frames: dict[str, Any], columns: dict[str, list[str]]
) -> tuple[str, dict[str, Any]]:
    """Put every frame on one engine: Spark if any of them is Spark, else pandas.

    Parameters
    ----------
    frames
        Parameter name to frame (``None`` values are passed through).
    columns
        Parameter name to the columns to keep when a pandas frame is sent to Spark.

    Returns
    -------
    tuple
        The engine name and the frames, converted where needed.
    """
    spark_frames = [f for f in frames.values() if f is not None and is_spark_frame(f)]
    if not spark_frames:
        return "pandas", dict(frames)
    session = spark_frames[0].sparkSession
    out = {}
    for name, frame in frames.items():
        if frame is None or is_spark_frame(frame):
            out[name] = frame
        else:
            out[name] = to_spark(frame, session, columns[name])
    return "spark", out
