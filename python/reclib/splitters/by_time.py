"""Splits by time over the whole log: :class:`DateSplitter` and :class:`NewUsersSplitter`.

Both compare times across users, so they first turn the ``timestamp`` column into the common
key of :func:`reclib.splitters._kernels.timestamp_key` (microseconds since the epoch, UTC).  On
Spark the key is computed by a row-wise ``mapInArrow`` kernel with the same code as on pandas;
the comparisons and aggregations after it are plain Spark.
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from reclib.exceptions import InvalidParameterError
from reclib.splitters._checks import check_fraction, check_size
from reclib.splitters._kernels import (
    TIME_KEY,
    row_key_kernel,
    spark_schema_with,
    spark_time_checks,
    tail_count_of,
    timestamp_key,
)
from reclib.splitters.base import Splitter, arrow_columns

__all__ = ["DateSplitter", "NewUsersSplitter"]

_MICROS = 1_000_000


def _time_keys(log: pd.DataFrame) -> np.ndarray:
    return timestamp_key(arrow_columns(log, ["timestamp"])["timestamp"])


def _spark_with_time_key(frame: Any) -> Any:
    """``frame`` plus the int64 column :data:`TIME_KEY`."""
    kernel = partial(row_key_kernel, time_key=True, seed=None, unit=spark_time_checks(frame))
    return frame.mapInArrow(kernel, spark_schema_with(frame.schema, {TIME_KEY: "long"}))


def _instant_micros(value: Any) -> int:
    """Microseconds since the epoch (UTC) of a timestamp-like parameter value."""
    if isinstance(value, numbers.Integral):
        return int(value) * _MICROS  # seconds since the epoch, like an integer column
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError) as err:
        msg = (
            f"`test_start` must be a float in (0, 1), an int (seconds since the epoch) or "
            f"a timestamp, got {value!r} ({err})"
        )
        raise InvalidParameterError(msg) from err
    if stamp is pd.NaT:
        msg = "`test_start` must be a time, got a missing value (NaT)"
        raise InvalidParameterError(msg)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.value // 1000


class DateSplitter(Splitter):
    """Send every row at or after a point in time to test.

    Parameters
    ----------
    test_start
        Where test begins.  A float in (0, 1) is a fraction of the log's time range:
        ``min + test_start * (max - min)``.  An int is seconds since the epoch.  A string,
        ``datetime``, ``date``, ``numpy.datetime64`` or ``pandas.Timestamp`` is a point in time
        (without a time zone it is read as UTC).
    drop_cold_items, drop_cold_users
        Drop test rows whose item / user is absent from train.
    """

    _needs_timestamp = True

    def __init__(
        self, test_start: Any, drop_cold_items: bool = False, drop_cold_users: bool = False
    ) -> None:
        super().__init__(drop_cold_items, drop_cold_users)
        self.test_start = test_start
        self._fraction: float | None = None
        self._start: int | None = None
        if isinstance(test_start, bool) or isinstance(test_start, np.bool_):
            msg = (
                f"`test_start` must be a float in (0, 1), an int (seconds since the epoch) or "
                f"a timestamp, got {test_start!r}"
            )
            raise InvalidParameterError(msg)
        if isinstance(test_start, numbers.Real) and not isinstance(test_start, numbers.Integral):
            self._fraction = check_fraction(test_start, "test_start")
        elif isinstance(test_start, (numbers.Integral, str, dt.date, np.datetime64)):
            self._start = _instant_micros(test_start)
        else:
            msg = (
                f"`test_start` must be a float in (0, 1), an int (seconds since the epoch) or "
                f"a timestamp, got {test_start!r} of type {type(test_start).__name__}"
            )
            raise InvalidParameterError(msg)

    def _threshold(self, low: int | None, high: int | None) -> int:
        """Return the first time key that belongs to test."""
        if self._start is not None:
            return self._start
        if low is None or high is None:  # empty log
            return 0
        assert self._fraction is not None
        return math.ceil(low + self._fraction * (high - low))

    def _pandas_test_mask(self, log: pd.DataFrame) -> np.ndarray:
        keys = _time_keys(log)
        if len(keys) == 0:
            return np.zeros(0, dtype=bool)
        return keys >= self._threshold(int(keys.min()), int(keys.max()))

    def _spark_split(self, log: Any) -> tuple[Any, Any]:
        from pyspark.sql import functions as F

        keyed = _spark_with_time_key(log)
        low = high = None
        if self._fraction is not None:
            row = keyed.agg(F.min(TIME_KEY).alias("low"), F.max(TIME_KEY).alias("high")).first()
            low, high = row["low"], row["high"]
        threshold = self._threshold(low, high)
        return keyed.where(F.col(TIME_KEY) < threshold), keyed.where(F.col(TIME_KEY) >= threshold)


class NewUsersSplitter(Splitter):
    """Send the users who appeared last in time to test, with all their rows.

    Users are ordered by their first timestamp (ties by user id); the last ones go to test.
    Every test user is new to train, so there is no ``drop_cold_users``.

    Parameters
    ----------
    test_size
        Users that go to test: an int >= 1, or a float in (0, 1), the fraction
        ``round(test_size * n_users)`` (half to even) of the users.
    drop_cold_items
        Drop test rows whose item is absent from train.
    """

    _needs_timestamp = True

    def __init__(self, test_size: int | float, drop_cold_items: bool = False) -> None:
        super().__init__(drop_cold_items, drop_cold_users=False)
        self.test_size = check_size(test_size, "test_size")

    def _pandas_test_mask(self, log: pd.DataFrame) -> np.ndarray:
        keys = _time_keys(log)
        user = log["user_idx"].to_numpy(dtype=np.int64)
        users, code = np.unique(user, return_inverse=True)

        first = np.full(len(users), np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(first, code, keys)
        order = np.lexsort((users, first))
        n_test = tail_count_of(self.test_size, len(users))

        return np.isin(user, users[order[len(users) - n_test :]])

    def _spark_split(self, log: Any) -> tuple[Any, Any]:
        from pyspark.sql import functions as F

        keyed = _spark_with_time_key(log.select("user_idx", "timestamp"))
        firsts = keyed.groupBy("user_idx").agg(F.min(TIME_KEY).alias("first"))
        n_test = tail_count_of(self.test_size, firsts.count())
        chosen = firsts.orderBy(F.desc("first"), F.desc("user_idx")).limit(n_test)
        chosen = chosen.select("user_idx")
        train = log.join(chosen, on="user_idx", how="left_anti")
        return train, log.join(chosen, on="user_idx", how="left_semi")
