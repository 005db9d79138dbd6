"""What every splitter shares: :class:`Splitter` and its post-processing of the test part.

A splitter turns a log into ``(train, test)`` with :meth:`Splitter.split`.  Subclasses decide
which rows are test, once for pandas (a boolean mask over the rows) and once for Spark (two lazy
frames); the base class checks the input and then applies the rules of ``EVALUATION.md`` §3 that
hold for all of them:

* test rows with ``relevance <= 0`` (or missing) are dropped; train keeps such rows;
* with ``drop_cold_users`` / ``drop_cold_items``, test rows whose user / item never occurs in
  train are dropped.

Before these drops, train and test together hold exactly the rows of the log (as a multiset).
Outputs keep the input's columns, values and dtypes; a pandas output also keeps the row index.
The input is never modified.
"""

from __future__ import annotations

import inspect
import time
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa

from reclib._logging import get_logger
from reclib.exceptions import ColumnTypeError
from reclib.splitters._checks import check_flag, check_log

__all__ = ["Splitter"]

_log = get_logger(__name__)


def arrow_columns(log: pd.DataFrame, columns: list[str]) -> pa.Table:
    """Convert the given columns of a pandas log to Arrow (those absent are skipped)."""
    present = [c for c in columns if c in log.columns]
    try:
        return pa.Table.from_pandas(log[present], preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
        msg = (
            f"columns {present} of `log` could not be read as plain values ({err}); "
            "expected integer ids and datetimes, seconds or date strings in `timestamp`"
        )
        raise ColumnTypeError(msg) from err


def draw_seed(seed: int | None) -> int:
    """``seed`` itself, or a fresh random one when it is ``None``."""
    if seed is not None:
        return seed
    drawn = int(np.random.default_rng().integers(0, 2**63))
    _log.debug("no seed given; drew seed=%d", drawn)
    return drawn


def _orderable(data_type: Any) -> bool:
    """Whether Spark can sort by a column of this type (maps and variants it cannot)."""
    from pyspark.sql import types as T

    if isinstance(data_type, T.ArrayType):
        return _orderable(data_type.elementType)
    if isinstance(data_type, T.StructType):
        return all(_orderable(f.dataType) for f in data_type.fields)
    return isinstance(data_type, T.AtomicType)


def spark_sorted_by_content(frame: Any) -> Any:
    """Sort every partition by the row contents, so that a kernel sees the same order each run.

    After a shuffle, rows reach a partition in an order that can change between two runs of the
    same plan.  Train and test are two plans, so a kernel whose choice depends on that order
    could put one row in both and lose its twin.  Sorting by every sortable column first leaves
    only rows that are equal in all of them in an arbitrary order.
    """
    # Limitation: rows equal in every sortable column but different in a map column can still
    # arrive in either order; Spark cannot sort by maps.
    keys = [f.name for f in frame.schema.fields if _orderable(f.dataType)]
    return frame.sortWithinPartitions(*keys) if keys else frame


class Splitter:
    """Base class of the splitters.

    Parameters
    ----------
    drop_cold_items
        Drop test rows whose item is absent from train.
    drop_cold_users
        Drop test rows whose user is absent from train.
    """

    _needs_timestamp: ClassVar[bool] = False

    def __init__(self, drop_cold_items: bool = False, drop_cold_users: bool = False) -> None:
        self.drop_cold_items = check_flag(drop_cold_items, "drop_cold_items")
        self.drop_cold_users = check_flag(drop_cold_users, "drop_cold_users")

    def split(self, log: Any) -> tuple[Any, Any]:
        """Split ``log`` into ``(train, test)``.

        Parameters
        ----------
        log
            A pandas or Spark DataFrame with ``user_idx`` and ``item_idx`` (integers),
            ``timestamp`` where the splitter orders by time, and optionally ``relevance``.

        Returns
        -------
        tuple
            ``(train, test)`` on the engine of ``log`` (Spark frames are lazy).

        Raises
        ------
        ColumnMissingError, ColumnTypeError, InvalidValueError
            The log lacks a column, has one of the wrong type, or holds missing ids or times.
        """
        engine = check_log(log, self._needs_timestamp)
        started = time.perf_counter()

        if engine == "pandas":
            mask = np.asarray(self._pandas_test_mask(log), dtype=bool)
            train, test = log[~mask], log[mask]
        else:
            train, test = self._spark_split(log)
            train, test = train.select(*log.columns), test.select(*log.columns)

        train, test = self._drop_test_rows(engine, train, test)
        if engine == "pandas":
            _log.debug(
                "%r: %d train rows, %d test rows in %.3f s",
                self,
                len(train),
                len(test),
                time.perf_counter() - started,
            )
        return train, test

    def _pandas_test_mask(self, log: pd.DataFrame) -> np.ndarray:
        """Boolean mask of the test rows of a pandas log (before the drops)."""
        raise NotImplementedError

    def _spark_split(self, log: Any) -> tuple[Any, Any]:
        """Lazy ``(train, test)`` of a Spark log (before the drops)."""
        raise NotImplementedError

    def _drop_test_rows(self, engine: str, train: Any, test: Any) -> tuple[Any, Any]:
        """Drop test rows with non-positive relevance, and cold ones when asked."""
        flags = {"user_idx": self.drop_cold_users, "item_idx": self.drop_cold_items}
        cold = [column for column, flag in flags.items() if flag]
        if engine == "pandas":
            if "relevance" in test.columns:
                test = test[np.asarray(test["relevance"].gt(0).fillna(False), dtype=bool)]
            for column in cold:
                test = test[test[column].isin(train[column].unique())]
            return train, test

        from pyspark.sql import functions as F
        from pyspark.sql import types as T

        if "relevance" in test.columns:
            positive = F.col("relevance") > 0
            if isinstance(test.schema["relevance"].dataType, (T.FloatType, T.DoubleType)):
                positive = positive & ~F.isnan("relevance")  # Spark orders NaN above all
            test = test.where(positive)
        columns = test.columns
        for column in cold:
            seen = train.select(column).distinct()
            test = test.join(seen, on=column, how="left_semi").select(*columns)
        return train, test

    def __repr__(self) -> str:
        """Show the class and its parameters."""
        names = list(inspect.signature(type(self).__init__).parameters)[1:]
        args = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        return f"{type(self).__name__}({args})"
