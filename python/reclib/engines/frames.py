"""Telling the two kinds of DataFrame apart without importing Spark.

reclib accepts a pandas DataFrame (runs in-process, returns pandas) or a Spark DataFrame (runs
on Spark executors, returns Spark).  These helpers decide which engine an input belongs to.
They never import :mod:`pyspark`, so that pandas-only users need no JVM and no pyspark.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from reclib.exceptions import ColumnTypeError

__all__ = ["is_spark_frame", "is_pandas_frame", "engine_of", "require_frame"]


def is_spark_frame(obj: Any) -> bool:
    """Whether ``obj`` is a Spark DataFrame (classic or Spark Connect)."""
    module = type(obj).__module__
    return module.startswith("pyspark.sql") and type(obj).__name__ == "DataFrame"


def is_pandas_frame(obj: Any) -> bool:
    """Whether ``obj`` is a pandas DataFrame."""
    return isinstance(obj, pd.DataFrame)


def engine_of(obj: Any) -> str:
    """Return ``"spark"`` or ``"pandas"`` for a DataFrame; raise for anything else."""
    if is_spark_frame(obj):
        return "spark"
    if is_pandas_frame(obj):
        return "pandas"
    raise ColumnTypeError(
        f"expected a pandas or Spark DataFrame, got {type(obj).__module__}.{type(obj).__name__}"
    )


def require_frame(obj: Any, name: str) -> str:
    """Like :func:`engine_of`, with the parameter ``name`` in the error message."""
    try:
        return engine_of(obj)
    except ColumnTypeError:
        raise ColumnTypeError(
            f"`{name}` must be a pandas or Spark DataFrame, "
            f"got {type(obj).__module__}.{type(obj).__name__}"
        ) from None
