"""The numpy code every splitter shares, and the Arrow kernels that run it on Spark.

Splits must come out the same on pandas and on Spark, row for row, for the same seed.  Two
things make that hard and are settled here, once, for both engines:

* **Time.**  A ``timestamp`` column may hold datetimes (any unit, with or without a time zone),
  dates, integer (or float) seconds since the epoch, or strings.  :func:`timestamp_key` turns
  any of them into int64 microseconds since the epoch, UTC, used only for ordering and
  comparing; the user's column itself is never changed.  Microseconds are Spark's resolution,
  so a pandas frame and the Spark frame made from it get the same keys.  Strings must be
  ISO 8601 (year first; ``"31/12/2020"`` is refused, not guessed) and are parsed with pandas on
  both engines (inside the Spark kernel too), so they are read identically.
* **Chance.**  Spark gives rows no stable position, so "shuffle" cannot mean a permutation of
  row numbers.  Randomness is a hash instead: :func:`uniform_hash` mixes the seed with values
  of the row (user, item, time key) through the splitmix64 finaliser and maps the result to
  ``[0, 1)``.  The same row gets the same number on any engine, in any partition, every time.

The pandas engine calls the functions on the whole frame; the Spark engine calls them through
the ``*_kernel`` functions inside ``mapInArrow``, on one partition at a time (all rows of a user
in one partition where the decision is per user).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from reclib.data.schema import integer_time_unit, iso8601_error, parse_iso8601
from reclib.exceptions import ColumnTypeError, InvalidValueError

__all__ = [
    "TEST_FLAG",
    "TIME_KEY",
    "HASH",
    "timestamp_key",
    "tail_count",
    "tail_count_of",
    "uniform_hash",
    "user_tail_mask",
    "user_tail_mask_of_table",
    "user_tail_kernel",
    "row_values",
    "row_key_kernel",
    "spark_time_checks",
    "time_strings_kernel",
    "spark_schema_with",
]

# Helper columns the Spark kernels append; removed before frames are returned.
TEST_FLAG = "__reclib_is_test"
TIME_KEY = "__reclib_time_key"
HASH = "__reclib_hash"

_MICROS = 1_000_000
# Microseconds in one unit of an integer epoch time.
_PER_UNIT = {"s": 1_000_000, "ms": 1_000, "us": 1}
_GOLDEN = 0x9E3779B97F4A7C15
_MASK64 = (1 << 64) - 1


def _parse_strings(values: pa.Array, column: str) -> np.ndarray:
    """Parse ISO 8601 date strings with pandas and return int64 microseconds, UTC.

    Only year-first ISO 8601 is read (:func:`reclib.data.schema.parse_iso8601`): a per-string
    guess would read ``"31/12/2020"`` day-first and ``"01/02/2020"`` month-first.
    """
    series = pd.Series(values.to_numpy(zero_copy_only=False), dtype=object)
    parsed = parse_iso8601(series, column, "log", error=InvalidValueError)
    missing = parsed.isna()
    if missing.any():
        # Strings pandas reads as "no time" ("", "NaT"): refused like nulls, not sorted first.
        blanks = series[missing.to_numpy()]
        raise _blank_times_error(len(blanks), set(blanks), column)
    return parsed.dt.tz_convert(None).to_numpy(dtype="datetime64[us]").view(np.int64)


def _missing_times_error(count: int, column: str) -> InvalidValueError:
    return InvalidValueError(
        f"column `{column}` holds {count} missing values; every row needs a time to be "
        "ordered by"
    )


def _nan_times_error(column: str) -> InvalidValueError:
    return InvalidValueError(f"column `{column}` holds NaN; every row needs a time")


def _blank_times_error(count: int, strings: set[str], column: str) -> InvalidValueError:
    examples = sorted(repr(v) for v in strings)[:3]
    return InvalidValueError(
        f"column `{column}` holds {count} strings that name no time ({', '.join(examples)}); "
        "every row needs a time to be ordered by"
    )


def timestamp_key(
    values: pa.Array | pa.ChunkedArray, column: str = "timestamp", unit: str | None = None
) -> np.ndarray:
    """Int64 microseconds since the epoch (UTC) for a column of times in any accepted form.

    Parameters
    ----------
    values
        The column as Arrow: timestamp (any unit, any zone), date, integer or float unix time
        (s, ms, us or ns, told apart by magnitude), or strings.
    column
        The column's name, for messages.

    Returns
    -------
    numpy.ndarray
        One int64 per row.

    Raises
    ------
    ColumnTypeError
        The column has another type.
    InvalidValueError
        It holds nulls, NaN, or strings that are not dates.
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if values.null_count:
        raise _missing_times_error(values.null_count, column)
    kind = values.type

    if pa.types.is_timestamp(kind):
        micros = values.cast(pa.timestamp("us", tz=kind.tz), safe=False)
        return np.asarray(micros.cast(pa.int64()).to_numpy(), dtype=np.int64)
    if pa.types.is_date(kind):
        micros = values.cast(pa.timestamp("us"))
        return np.asarray(micros.cast(pa.int64()).to_numpy(), dtype=np.int64)
    if pa.types.is_integer(kind):
        # Unix times in s, ms, us or ns, told apart by magnitude as everywhere in reclib.
        ints = np.asarray(values.to_numpy(), dtype=np.int64)
        unit = unit or integer_time_unit(ints)
        if unit == "ns":
            return ints // 1000
        return ints * _PER_UNIT[unit]
    if pa.types.is_floating(kind):
        times = np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)
        if np.isnan(times).any():
            raise _nan_times_error(column)
        unit = unit or integer_time_unit(times)
        factor = 1e-3 if unit == "ns" else float(_PER_UNIT[unit])
        return np.round(times * factor).astype(np.int64)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return _parse_strings(values, column)
    msg = (
        f"column `{column}` has type {kind}; expected datetimes, dates, "
        "seconds since the epoch (int or float) or ISO 8601 date strings"
    )
    raise ColumnTypeError(msg)


def _mix(x: np.ndarray) -> np.ndarray:
    """Apply the splitmix64 finaliser to a uint64 array (wrapping arithmetic)."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def uniform_hash(seed: int, columns: list[np.ndarray]) -> np.ndarray:
    """Map each row to a number in ``[0, 1)``, a fixed function of the seed and its values.

    Parameters
    ----------
    seed
        Any non-negative int (taken modulo 2**64).
    columns
        Equal-length integer arrays (ids, time keys).

    Returns
    -------
    numpy.ndarray
        float64 values with 53 random bits each.
    """
    n = len(columns[0]) if columns else 0
    start = ((seed & _MASK64) * _GOLDEN + _GOLDEN) & _MASK64
    h = _mix(np.full(n, start, dtype=np.uint64))
    for values in columns:
        v = np.ascontiguousarray(values, dtype=np.int64).view(np.uint64)
        h = _mix(h ^ _mix(v + np.uint64(_GOLDEN)))
    return (h >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def _position_in_group(sorted_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """0-based position of each element in its run of equal keys, and the run's length."""
    n = len(sorted_keys)
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    starts = np.r_[0, np.flatnonzero(sorted_keys[1:] != sorted_keys[:-1]) + 1]
    lengths = np.diff(np.r_[starts, n])
    position = np.arange(n, dtype=np.int64) - np.repeat(starts, lengths)
    return position, np.repeat(lengths, lengths)


def tail_count(size: int | float, n_rows: np.ndarray) -> np.ndarray:
    """Count the rows (or users) that go to test out of each ``n_rows``.

    ``size`` is an int (capped at ``n_rows``) or a fraction, rounded as Python's ``round``
    does, half to even (``round(0.5 * 5) == 2``, ``round(0.1 * 5) == 0``).
    """
    if isinstance(size, float):
        return np.rint(size * n_rows).astype(np.int64)
    return np.minimum(np.int64(size), n_rows)


def tail_count_of(size: int | float, n_rows: int) -> int:
    """:func:`tail_count` for a single total, as a Python int."""
    return int(tail_count(size, np.array([n_rows], dtype=np.int64))[0])


def user_tail_mask(
    user: np.ndarray,
    item: np.ndarray,
    time_key: np.ndarray,
    relevance: np.ndarray,
    size: int | float,
    shuffle_hash: np.ndarray | None = None,
) -> np.ndarray:
    """Which rows are among the last ``size`` of their user.

    Rows of a user are ordered by (time, item, relevance), or with ``shuffle_hash`` by
    (hash, time, item, relevance); the last ``size`` rows (an int, or a fraction of the user's
    rows) are marked.  Rows still tied are equal on every key, so the choice among them does
    not change which values end up in test.

    Returns
    -------
    numpy.ndarray
        Boolean mask aligned with the input rows.
    """
    keys = [relevance, item, time_key]
    if shuffle_hash is not None:
        keys.append(shuffle_hash)
    order = np.lexsort((*keys, user))

    position, length = _position_in_group(user[order])
    in_test = position >= length - tail_count(size, length)

    mask = np.empty(len(user), dtype=bool)
    mask[order] = in_test
    return mask


def _ints(table: pa.Table, column: str) -> np.ndarray:
    return np.asarray(table[column].to_numpy(), dtype=np.int64)


def user_tail_mask_of_table(
    table: pa.Table, size: int | float, seed: int | None, unit: str | None = None
) -> np.ndarray:
    """:func:`user_tail_mask` for an Arrow table of log rows (``seed`` given = shuffle).

    The table needs ``user_idx, item_idx, timestamp`` and may have ``relevance``; ``unit`` is
    that of numeric timestamps when the caller knows it (:func:`spark_time_unit`).
    """
    user, item = _ints(table, "user_idx"), _ints(table, "item_idx")
    time_key = timestamp_key(table["timestamp"], unit=unit)
    if "relevance" in table.column_names:
        relevance = np.asarray(table["relevance"].to_numpy(zero_copy_only=False), dtype=np.float64)
    else:
        relevance = np.zeros(len(user), dtype=np.float64)
    shuffle_hash = None if seed is None else uniform_hash(seed, [user, item, time_key])
    return user_tail_mask(user, item, time_key, relevance, size, shuffle_hash)


def row_values(
    table: pa.Table, time_key: bool, seed: int | None, unit: str | None = None
) -> dict[str, np.ndarray]:
    """Per-row helper values: the time key and/or the row hash of (user, item, time key)."""
    out: dict[str, np.ndarray] = {}
    has_time = "timestamp" in table.column_names
    key = timestamp_key(table["timestamp"], unit=unit) if has_time else None
    if time_key:
        if key is None:
            msg = "the log has no `timestamp` column"
            raise ColumnTypeError(msg)  # guarded by callers
        out[TIME_KEY] = key
    if seed is not None:
        if key is None:
            key = np.zeros(table.num_rows, dtype=np.int64)
        columns = [_ints(table, "user_idx"), _ints(table, "item_idx"), key]
        out[HASH] = uniform_hash(seed, columns)
    return out


def spark_time_checks(frame: Any) -> str | None:
    """Refuse, at split time, the ``timestamp`` values the kernels would refuse; return the unit.

    The split itself is lazy, so without this a bad time would surface only when its rows are
    computed, as a Spark worker error.  Here the driver runs one job over the column and raises
    the pandas engine's :class:`~reclib.exceptions.InvalidValueError`: nulls, NaN, and for
    strings those that are not ISO 8601 or that name no time (parsed on the executors with the
    pandas engine's code, :func:`time_strings_kernel`).  The counts are the pandas engine's;
    the string named as the first may be another bad one, as Spark rows have no order.

    It also returns the unit of numeric timestamps, told from the whole column: integer and
    float times are read as s, ms, us or ns by their magnitude
    (:func:`~reclib.data.schema.integer_time_unit`), and a kernel seeing one partition could
    pick another band than the column's (milliseconds before 1973 look like seconds).  None
    when the column is absent or not numeric.
    """
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    if "timestamp" not in frame.columns:
        return None
    column = F.col("timestamp")
    kind = frame.schema["timestamp"].dataType
    if isinstance(kind, T.StringType):
        _check_spark_time_strings(frame)
        return None

    numeric = isinstance(kind, (T.IntegralType, T.FloatType, T.DoubleType))
    value = column.cast("double")
    nan = F.isnan(value) if numeric else F.lit(False)
    row = frame.agg(
        F.count(F.when(column.isNull(), 1)).alias("nulls"),
        F.count(F.when(nan, 1)).alias("nans"),
        F.max(F.when(~nan, F.abs(value)) if numeric else F.lit(None)).alias("largest"),
    ).first()
    if row["nulls"]:
        raise _missing_times_error(row["nulls"], "timestamp")
    if row["nans"]:
        raise _nan_times_error("timestamp")
    if not numeric:
        return None
    return integer_time_unit(np.array([row["largest"] or 0.0], dtype=np.float64))


# The most distinct failing strings of a partition checked one by one (they are few in practice:
# "", "NaT" and the like name no time; anything else is not ISO 8601).
_DISTINCT_FAILURES = 64
_TIME_STRINGS_DDL = "nulls long, failed long, hard long, first_hard string, blanks array<string>"


def time_strings_kernel(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """``mapInArrow`` kernel: one row per partition on its ``timestamp`` strings.

    ``nulls``; ``failed``, the strings pandas cannot read as ISO 8601 times (counted as
    :func:`~reclib.data.schema.parse_iso8601` counts them); ``hard``, those of them that are
    not ISO 8601 at all (the rest name no time, such as ``""``), with the first one; the
    distinct strings that name no time.
    """
    table = _whole(batches)
    if table is None:
        return
    values = table["timestamp"].combine_chunks()
    series = pd.Series(values.to_numpy(zero_copy_only=False), dtype=object)
    present = series[series.notna()]
    parsed = pd.to_datetime(present, utc=True, format="ISO8601", errors="coerce")
    failed = present[parsed.isna().to_numpy()]

    blanks: list[str] = []
    for value in failed.unique()[:_DISTINCT_FAILURES]:
        try:
            pd.to_datetime(pd.Series([value]), utc=True, format="ISO8601")
            blanks.append(value)
        except (ValueError, TypeError, OverflowError):
            pass
    hard = failed[~failed.isin(blanks)]
    yield pa.RecordBatch.from_pydict(
        {
            "nulls": [values.null_count],
            "failed": [len(failed)],
            "hard": [len(hard)],
            "first_hard": [hard.iloc[0] if len(hard) else None],
            "blanks": [blanks],
        },
        schema=pa.schema([
            ("nulls", pa.int64()), ("failed", pa.int64()), ("hard", pa.int64()),
            ("first_hard", pa.string()), ("blanks", pa.list_(pa.string())),
        ]),
    )


def _check_spark_time_strings(frame: Any) -> None:
    """Run :func:`time_strings_kernel` and raise the pandas engine's error, if any."""
    rows = frame.select("timestamp").mapInArrow(time_strings_kernel, _TIME_STRINGS_DDL).collect()
    nulls = sum(r["nulls"] for r in rows)
    if nulls:
        raise _missing_times_error(nulls, "timestamp")
    failed = sum(r["failed"] for r in rows)
    hard = [r["first_hard"] for r in rows if r["hard"]]
    if hard:
        raise iso8601_error(failed, hard[0], None, "timestamp", "log", InvalidValueError)
    if failed:
        blanks = {b for r in rows for b in (r["blanks"] or [])}
        raise _blank_times_error(failed, blanks, "timestamp")


# --------------------------------------------------------------------------------------------
# Arrow kernels for Spark's ``mapInArrow``: module-level, so executors unpickle them by
# reference from the installed package, and each returns nothing for an empty partition.


def _whole(batches: Iterator[pa.RecordBatch]) -> pa.Table | None:
    parts = list(batches)
    return pa.Table.from_batches(parts) if parts else None


def user_tail_kernel(
    batches: Iterator[pa.RecordBatch], size: int | float, seed: int | None, unit: str | None
) -> Iterator[pa.RecordBatch]:
    """Append :data:`TEST_FLAG` (from :func:`user_tail_mask_of_table`) to a partition's rows.

    All rows of a user must be in the partition.
    """
    table = _whole(batches)
    if table is None:
        return
    mask = user_tail_mask_of_table(table, size, seed, unit)
    yield from table.append_column(TEST_FLAG, pa.array(mask, type=pa.bool_())).to_batches()


def row_key_kernel(
    batches: Iterator[pa.RecordBatch], time_key: bool, seed: int | None, unit: str | None
) -> Iterator[pa.RecordBatch]:
    """Append the columns of :func:`row_values` (:data:`TIME_KEY` and/or :data:`HASH`)."""
    table = _whole(batches)
    if table is None:
        return
    for name, values in row_values(table, time_key, seed, unit).items():
        kind = pa.int64() if name == TIME_KEY else pa.float64()
        table = table.append_column(name, pa.array(values, type=kind))
    yield from table.to_batches()


def spark_schema_with(schema: Any, extra: dict[str, str]) -> Any:
    """Extend ``schema`` by nullable columns ``extra`` (name to ``"boolean"``, ``"long"``...)."""
    from pyspark.sql import types as T

    kinds = {"boolean": T.BooleanType(), "long": T.LongType(), "double": T.DoubleType()}
    out = T.StructType(list(schema.fields))
    for name, kind in extra.items():
        out = out.add(name, kinds[kind], nullable=True)
    return out
