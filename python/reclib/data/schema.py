"""Validation of interaction logs, and their conversion to plain numpy arrays.

A log is a DataFrame (pandas or Spark) with the columns

* ``user_idx`` — integer id of the user (any non-negative integer; int64 beyond int32 is fine),
* ``item_idx`` — integer id of the item (same rules),
* ``relevance`` — a number (how much the user liked the item; 1.0 when the model ignores it),
* ``timestamp`` — optional: datetime, integer unix time (s, ms, us or ns), or an ISO 8601 date
  string (``"2020-12-31"``, ``"2020-12-31 23:59:59+01:00"``).  Day-first and month-first strings
  such as ``"31/12/2020"`` or ``"01/02/2020"`` are refused: the second cannot be read safely.

Everything in this module only reads the user's frame: nothing is modified in place, and the
arrays returned are new.  Errors name the column, the dtype or value found and what was expected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from reclib.engines.frames import is_spark_frame, require_frame
from reclib.exceptions import (
    ColumnMissingError,
    ColumnTypeError,
    InvalidValueError,
    SchemaError,
)

__all__ = [
    "USER_COL",
    "ITEM_COL",
    "RELEVANCE_COL",
    "TIMESTAMP_COL",
    "Interactions",
    "check_columns",
    "check_spark_log",
    "check_spark_values",
    "spark_value_checks",
    "refuse_bad_values",
    "interactions_from_frame",
    "parse_iso8601",
    "frame_to_arrow",
    "timestamps_to_ns",
    "integer_time_unit",
    "iso8601_error",
]

USER_COL = "user_idx"
ITEM_COL = "item_idx"
RELEVANCE_COL = "relevance"
TIMESTAMP_COL = "timestamp"

_SPARK_INT_TYPES = {"ByteType", "ShortType", "IntegerType", "LongType"}
_SPARK_NUMERIC_TYPES = _SPARK_INT_TYPES | {"FloatType", "DoubleType", "DecimalType", "BooleanType"}


@dataclass(frozen=True)
class Interactions:
    """A validated log as parallel numpy arrays (one entry per log row, duplicates kept).

    Attributes
    ----------
    users, items : numpy.ndarray of int64
        Raw ``user_idx`` / ``item_idx`` values, as the user gave them.
    relevance : numpy.ndarray of float64
        The ``relevance`` column, or ones when the log has none and none was needed.
    timestamp : numpy.ndarray of int64, optional
        Nanoseconds since the epoch (UTC), when the log has a ``timestamp`` column.
    user_dtype, item_dtype : numpy.dtype
        The integer dtypes of the id columns, so that output can use the same ones.
    """

    users: np.ndarray
    items: np.ndarray
    relevance: np.ndarray
    timestamp: np.ndarray | None
    user_dtype: np.dtype
    item_dtype: np.dtype

    def __len__(self) -> int:
        return len(self.users)


def check_columns(columns: Sequence[str], required: Sequence[str], name: str) -> None:
    """Raise :class:`ColumnMissingError` when any of ``required`` is not in ``columns``."""
    missing = [col for col in required if col not in columns]
    if missing:
        raise ColumnMissingError(
            f"`{name}` is missing column(s) {missing}; it has {list(columns)}, "
            f"expected at least {list(required)}"
        )


# Messages shared by the pandas checks and the Spark ones (``check_spark_values``), so that both
# engines refuse the same log with the same words.


def _null_ids_message(column: str, name: str, count: int) -> str:
    return f"column `{column}` of `{name}` has {count} null id(s); expected an id on every row"


def _negative_ids_message(column: str, name: str, count: int, smallest: Any) -> str:
    return (
        f"column `{column}` of `{name}` has {count} negative id(s) (smallest {smallest}); "
        "expected ids >= 0"
    )


def _nan_relevance_message(name: str, count: int) -> str:
    return (
        f"column `{RELEVANCE_COL}` of `{name}` has {count} NaN/missing value(s); "
        "expected finite numbers (drop or fill them first)"
    )


def _inf_relevance_message(name: str) -> str:
    return f"column `{RELEVANCE_COL}` of `{name}` has infinite value(s); expected finite numbers"


def _pandas_id_array(series: pd.Series, column: str, name: str) -> np.ndarray:
    dtype = series.dtype
    if isinstance(dtype, pd.api.extensions.ExtensionDtype) and pd.api.types.is_integer_dtype(dtype):
        if series.isna().any():
            raise InvalidValueError(_null_ids_message(column, name, int(series.isna().sum())))
        return series.to_numpy(dtype=np.int64)
    if not (pd.api.types.is_integer_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)):
        raise ColumnTypeError(
            f"column `{column}` of `{name}` has dtype {dtype}; expected an integer dtype "
            "(int32 or int64). Map raw ids (strings, floats) with reclib.data.Indexer first"
        )
    values = series.to_numpy()
    if values.dtype == np.uint64 and len(values) and values.max() > np.iinfo(np.int64).max:
        raise InvalidValueError(
            f"column `{column}` of `{name}` has ids above {np.iinfo(np.int64).max}; "
            "expected ids that fit in int64"
        )
    return values.astype(np.int64, copy=True)


def _check_non_negative(values: np.ndarray, column: str, name: str) -> None:
    if len(values) and values.min() < 0:
        bad = int((values < 0).sum())
        raise InvalidValueError(_negative_ids_message(column, name, bad, values.min()))


def _relevance_array(series: pd.Series, name: str) -> np.ndarray:
    dtype = series.dtype
    is_numeric = pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)
    if not is_numeric:
        raise ColumnTypeError(
            f"column `{RELEVANCE_COL}` of `{name}` has dtype {dtype}; expected a numeric dtype "
            "(float64 or an integer)"
        )
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    n_nan = int(np.isnan(values).sum())
    if n_nan:
        raise InvalidValueError(_nan_relevance_message(name, n_nan))
    if np.isinf(values).any():
        raise InvalidValueError(_inf_relevance_message(name))
    return values


def integer_time_unit(values: np.ndarray) -> str:
    """The unit of integer epoch timestamps, told by their magnitude (``"s"`` to ``"ns"``).

    Dates between 1973 and 5138 in seconds are below 1e11; the same dates in milliseconds,
    microseconds and nanoseconds are 1e3, 1e6 and 1e9 times larger, so each unit has its own
    band.  A log in seconds before 1973 is still read as seconds (its values are small too).
    """
    finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values
    largest = float(np.abs(finite).max()) if len(finite) else 0.0
    for unit, bound in (("s", 1e11), ("ms", 1e14), ("us", 1e17)):
        if largest < bound:
            return unit
    return "ns"


#: What a date string must look like, for messages.
ISO_8601_EXPECTED = (
    "ISO 8601 date strings, year first, such as '2020-12-31', '2020-12-31 23:59:59' or "
    "'2020-12-31T23:59:59+01:00' (day-first or month-first forms such as '31/12/2020' are "
    "refused because '01/02/2020' could be either)"
)


def parse_iso8601(
    series: pd.Series,
    column: str = TIMESTAMP_COL,
    name: str = "log",
    error: type[SchemaError] = InvalidValueError,
) -> pd.Series:
    """Parse date strings as ISO 8601 only, to UTC datetimes.

    ``pandas.to_datetime`` with ``format="mixed"`` guesses each string's format on its own:
    ``"31/12/2020"`` is read day-first but ``"01/02/2020"`` month-first, so a day-first column
    is silently misread.  Year-first ISO 8601 strings are the only unambiguous form, so they are
    the only one accepted; naive ones are read as UTC and missing values become ``NaT``.

    Parameters
    ----------
    series : pandas.Series
        Strings (or None); not modified.
    column, name : str
        The column and the frame it belongs to, for the message.
    error : type
        The :class:`~reclib.exceptions.SchemaError` subclass raised for a string that is not
        ISO 8601.

    Returns
    -------
    pandas.Series
        ``datetime64[ns, UTC]`` values, same index.

    Raises
    ------
    SchemaError
        (of class ``error``) naming the column, the first offending string and the format
        expected.
    """
    try:
        return pd.to_datetime(series, utc=True, format="ISO8601")
    except (ValueError, TypeError, OverflowError) as err:
        reason = _iso8601_reason(err)
        position = re.search(r", at position (\d+)", str(err))

    # Count what did not parse (as a date, or within the datetime64 range; strings that name
    # no time, such as "", count too) and name the string pandas stopped at.
    parsed = pd.to_datetime(series, utc=True, format="ISO8601", errors="coerce")
    bad = series[series.notna() & parsed.isna()]
    if position is not None and int(position.group(1)) < len(series):
        first = series.iloc[int(position.group(1))]
    else:
        first = bad.iloc[0] if len(bad) else None
    raise iso8601_error(len(bad), first, reason, column, name, error)


def _iso8601_reason(err: Exception) -> str:
    """pandas' first line of a parse error says why ("... is not ISO8601 format", ...)."""
    return str(err).splitlines()[0].split(", at position")[0].rstrip(". ")


def iso8601_error(
    count: int,
    first: Any,
    reason: str | None = None,
    column: str = TIMESTAMP_COL,
    name: str = "log",
    error: type[SchemaError] = InvalidValueError,
) -> SchemaError:
    """The error of :func:`parse_iso8601` for ``count`` bad values, ``first`` the first of them.

    ``first`` None means a value that is not a string.  ``reason`` None: pandas' reason is found
    by parsing ``first`` again (the Spark engine counts bad values on the executors and builds
    the pandas engine's message on the driver).
    """
    if reason is None:
        try:
            pd.to_datetime(pd.Series([first]), utc=True, format="ISO8601")
            reason = "not a date"
        except (ValueError, TypeError, OverflowError) as err:
            reason = _iso8601_reason(err)
    got = repr(first) if first is not None else "a value that is not a string"
    return error(
        f"column `{column}` of `{name}` holds {count} value(s) that are not ISO 8601 dates, "
        f"the first {got} ({reason}); expected {ISO_8601_EXPECTED}"
    )


def timestamps_to_ns(series: pd.Series, name: str = "log") -> np.ndarray:
    """Convert a timestamp column to int64 nanoseconds since the epoch (UTC).

    Accepts datetimes (naive ones are read as UTC), integer or float unix times (seconds,
    milliseconds, microseconds or nanoseconds, told apart by :func:`integer_time_unit`), and
    ISO 8601 strings (:func:`parse_iso8601`; others raise :class:`ColumnTypeError` naming the
    first one).  Missing values become the smallest int64 (they sort first).  The input series
    is not modified.
    """
    dtype = series.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        stamps = pd.to_datetime(series, utc=True)
    elif pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        unit = integer_time_unit(series.to_numpy(dtype=np.float64, na_value=np.nan))
        stamps = pd.to_datetime(series, unit=unit, utc=True)
    elif pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
        stamps = parse_iso8601(series, TIMESTAMP_COL, name, error=ColumnTypeError)
    else:
        raise ColumnTypeError(
            f"column `{TIMESTAMP_COL}` of `{name}` has dtype {dtype}; expected datetimes, "
            "integer unix times or ISO 8601 date strings"
        )
    return stamps.to_numpy(dtype="datetime64[ns]").view(np.int64).copy()


def frame_to_arrow(df: Any, columns: Sequence[str]) -> pa.Table:
    """Select ``columns`` of a pandas or Spark frame as an Arrow table (Spark: on the driver)."""
    if is_spark_frame(df):
        return df.select(*columns).toArrow()
    return pa.Table.from_pandas(df[list(columns)], preserve_index=False)


def _spark_types(df: Any) -> dict[str, str]:
    return {field.name: type(field.dataType).__name__ for field in df.schema.fields}


def check_spark_log(df: Any, required: Sequence[str], name: str) -> None:
    """Check the columns and column types of a Spark log without running a job."""
    types = _spark_types(df)
    check_columns(list(types), required, name)
    for column in (USER_COL, ITEM_COL):
        if column in types and types[column] not in _SPARK_INT_TYPES:
            raise ColumnTypeError(
                f"column `{column}` of `{name}` has Spark type {types[column]}; expected an "
                "integer type (IntegerType or LongType). Map raw ids (strings, floats) with "
                "reclib.data.Indexer first"
            )
    if RELEVANCE_COL in required and types.get(RELEVANCE_COL) not in _SPARK_NUMERIC_TYPES:
        raise ColumnTypeError(
            f"column `{RELEVANCE_COL}` of `{name}` has Spark type {types.get(RELEVANCE_COL)}; "
            "expected a numeric type (DoubleType or an integer type)"
        )


def spark_value_checks(
    need_relevance: bool, columns: Mapping[str, str] | None = None
) -> list[Any]:
    """The aggregates :func:`refuse_bad_values` reads, as Spark columns.

    ``columns`` maps ``user_idx`` / ``item_idx`` / ``relevance`` to the names they have in the
    frame aggregated (by default their own).  The aggregates are counts and minimums, so they
    may also be taken per group (for example per item, in a job that computes more) and merged
    on the driver: counts add up, minimums take the minimum.
    """
    from pyspark.sql import functions as sf

    names = {USER_COL: USER_COL, ITEM_COL: ITEM_COL, RELEVANCE_COL: RELEVANCE_COL}
    names.update(columns or {})

    def total(condition: Any) -> Any:
        return sf.sum(condition.cast("long"))

    aggregates = [sf.count(sf.lit(1)).alias("rows")]
    for column in (USER_COL, ITEM_COL):
        ids = sf.col(names[column])
        aggregates += [
            total(ids.isNull()).alias(f"null_{column}"),
            total(ids < 0).alias(f"neg_{column}"),
            sf.min(ids).alias(f"min_{column}"),
        ]
    if need_relevance:
        relevance = sf.col(names[RELEVANCE_COL]).cast("double")
        aggregates += [
            total(relevance.isNull() | sf.isnan(relevance)).alias("nan_rel"),
            total(sf.abs(relevance) == float("inf")).alias("inf_rel"),
        ]
    return aggregates


def refuse_bad_values(counts: Mapping[str, Any], name: str, need_relevance: bool) -> int:
    """Raise the pandas path's error for the first kind of bad value counted; return the rows.

    ``counts`` holds the values of :func:`spark_value_checks` (None counts as 0).  The order is
    the pandas path's: null ids, negative ids, then missing or NaN and infinite relevance.
    """
    for column in (USER_COL, ITEM_COL):
        if counts[f"null_{column}"]:
            raise InvalidValueError(_null_ids_message(column, name, counts[f"null_{column}"]))
    for column in (USER_COL, ITEM_COL):
        if counts[f"neg_{column}"]:
            raise InvalidValueError(_negative_ids_message(
                column, name, counts[f"neg_{column}"], counts[f"min_{column}"]
            ))
    if need_relevance:
        if counts["nan_rel"]:
            raise InvalidValueError(_nan_relevance_message(name, counts["nan_rel"]))
        if counts["inf_rel"]:
            raise InvalidValueError(_inf_relevance_message(name))
    return int(counts["rows"] or 0)


def check_spark_values(df: Any, name: str, need_relevance: bool) -> int:
    """Refuse the values the pandas path refuses, in one aggregate Spark job; return the rows.

    Checked in the pandas path's order and with its messages: null ids, negative ids, then
    (with ``need_relevance``) missing or NaN relevance and infinite relevance.  An empty frame
    passes: whether that is an error is the caller's decision.  Run :func:`check_spark_log`
    first (it checks the column types without a job).

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        A log, predict log or pairs frame with integer ``user_idx`` and ``item_idx``.
    name : str
        How the frame is called in error messages (the parameter name).
    need_relevance : bool
        Whether ``relevance`` is read, and so checked.

    Returns
    -------
    int
        The number of rows.

    Raises
    ------
    InvalidValueError
        For the first kind of bad value found, with how many rows have it.
    """
    row = df.agg(*spark_value_checks(need_relevance)).first()
    return refuse_bad_values(row.asDict(), name, need_relevance)


def interactions_from_frame(
    df: Any,
    name: str = "log",
    need_relevance: bool = True,
    need_timestamp: bool = False,
) -> Interactions:
    """Validate a log and return its columns as numpy arrays.

    Parameters
    ----------
    df : pandas.DataFrame or pyspark.sql.DataFrame
        The log.  A Spark log's needed columns are brought to the driver as Arrow.
    name : str
        How the frame is called in error messages (the parameter name).
    need_relevance : bool
        Whether ``relevance`` is read (it must then be present); otherwise ones are used and
        the column, if any, is ignored.
    need_timestamp : bool
        Whether ``timestamp`` is read (it must then be present); otherwise it is ignored.

    Returns
    -------
    Interactions
        New arrays; the frame itself is not modified.
    """
    require_frame(df, name)
    required = [USER_COL, ITEM_COL]
    if need_relevance:
        required.append(RELEVANCE_COL)
    if need_timestamp:
        required.append(TIMESTAMP_COL)

    if is_spark_frame(df):
        check_spark_log(df, required, name)
        pdf = _spark_columns(df, required, name)
    else:
        check_columns(list(df.columns), required, name)
        pdf = df

    users = _pandas_id_array(pdf[USER_COL], USER_COL, name)
    items = _pandas_id_array(pdf[ITEM_COL], ITEM_COL, name)
    _check_non_negative(users, USER_COL, name)
    _check_non_negative(items, ITEM_COL, name)

    # Columns a model does not use are not read, so they cannot fail its fit.
    if need_relevance:
        relevance = _relevance_array(pdf[RELEVANCE_COL], name)
    else:
        relevance = np.ones(len(users), dtype=np.float64)
    timestamp = timestamps_to_ns(pdf[TIMESTAMP_COL], name) if need_timestamp else None

    return Interactions(
        users=users,
        items=items,
        relevance=relevance,
        timestamp=timestamp,
        user_dtype=_id_dtype(pdf[USER_COL]),
        item_dtype=_id_dtype(pdf[ITEM_COL]),
    )


def _spark_columns(df: Any, required: Sequence[str], name: str) -> pd.DataFrame:
    """The ``required`` columns of a Spark log on the driver, with nulls in ids refused."""
    from pyspark.sql import functions as sf

    types = _spark_types(df)
    selected = [
        sf.col(c).cast("double").alias(c) if types[c] == "DecimalType" else sf.col(c)
        for c in required
    ]
    table = df.select(*selected).toArrow()
    for column in (USER_COL, ITEM_COL):
        nulls = table.column(column).null_count
        if nulls:
            raise InvalidValueError(_null_ids_message(column, name, nulls))
    return table.to_pandas()


def _id_dtype(series: pd.Series) -> np.dtype:
    """int32 when the column's ids are stored in 32 bits or fewer (signed), else int64."""
    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind == "i" and dtype.itemsize <= 4:
        return np.dtype(np.int32)
    return np.dtype(np.int64)
