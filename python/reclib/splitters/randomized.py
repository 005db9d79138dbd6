"""Seeded random splits: RandomSplitter (rows) and ColdUserRandomSplitter (whole users).

Randomness is a hash, not a random generator's stream: each row (or user) gets the number
:func:`reclib.splitters._kernels.uniform_hash` computes from the seed and its values, so a split
is the same on pandas and on Spark and does not depend on row order or partitioning.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from reclib.splitters._checks import check_fraction, check_seed, check_size
from reclib.splitters._kernels import (
    HASH,
    row_key_kernel,
    row_values,
    spark_schema_with,
    spark_time_checks,
    tail_count_of,
    uniform_hash,
)
from reclib.splitters.base import Splitter, arrow_columns, draw_seed

__all__ = ["RandomSplitter", "ColdUserRandomSplitter", "user_hash_kernel"]


class RandomSplitter(Splitter):
    """Send each row to test with probability ``test_size``, independently.

    A row's draw is a seeded hash of (user_idx, item_idx, timestamp), so the share of test rows
    is ``test_size`` on average, not exactly, and rows equal in those three values always land
    on the same side.

    Parameters
    ----------
    test_size
        Probability of a row going to test, a float in (0, 1).
    drop_cold_items, drop_cold_users
        Drop test rows whose item / user is absent from train.
    seed
        An int >= 0; ``None`` draws a fresh one per call.
    """

    def __init__(
        self,
        test_size: float,
        drop_cold_items: bool = False,
        drop_cold_users: bool = False,
        seed: int | None = None,
    ) -> None:
        super().__init__(drop_cold_items, drop_cold_users)
        self.test_size = check_fraction(test_size, "test_size")
        self.seed = check_seed(seed)

    def _pandas_test_mask(self, log: pd.DataFrame) -> np.ndarray:
        table = arrow_columns(log, ["user_idx", "item_idx", "timestamp"])
        return row_values(table, time_key=False, seed=draw_seed(self.seed))[HASH] < self.test_size

    def _spark_split(self, log: Any) -> tuple[Any, Any]:
        from pyspark.sql import functions as F

        kernel = partial(
            row_key_kernel, time_key=False, seed=draw_seed(self.seed), unit=spark_time_checks(log)
        )
        hashed = log.mapInArrow(kernel, spark_schema_with(log.schema, {HASH: "double"}))
        draw = F.col(HASH)
        return hashed.where(draw >= self.test_size), hashed.where(draw < self.test_size)


def user_hash_kernel(batches: Any, seed: int) -> Any:
    """Spark kernel: ``user_idx`` (int64) in, ``user_idx`` and :data:`HASH` out."""
    parts = list(batches)
    if not parts:
        return
    users = pa.Table.from_batches(parts)["user_idx"].to_numpy()
    users = np.asarray(users, dtype=np.int64)
    draws = uniform_hash(seed, [users])
    yield pa.RecordBatch.from_arrays(
        [pa.array(users, pa.int64()), pa.array(draws, pa.float64())], names=["user_idx", HASH]
    )


class ColdUserRandomSplitter(Splitter):
    """Send a random set of users to test, with all their rows.

    Users are ordered by a seeded hash of their id and the first ones go to test, so the number
    of test users is exact.  Every test user is new to train, so there is no
    ``drop_cold_users``.

    Parameters
    ----------
    test_size
        Users that go to test: an int >= 1, or a float in (0, 1), the fraction
        ``round(test_size * n_users)`` (half to even) of the users.
    drop_cold_items
        Drop test rows whose item is absent from train.
    seed
        An int >= 0; ``None`` draws a fresh one per call.
    """

    def __init__(
        self, test_size: int | float, drop_cold_items: bool = False, seed: int | None = None
    ) -> None:
        super().__init__(drop_cold_items, drop_cold_users=False)
        self.test_size = check_size(test_size, "test_size")
        self.seed = check_seed(seed)

    def _pandas_test_mask(self, log: pd.DataFrame) -> np.ndarray:
        user = log["user_idx"].to_numpy(dtype=np.int64)
        users = np.unique(user)
        order = np.lexsort((users, uniform_hash(draw_seed(self.seed), [users])))
        n_test = tail_count_of(self.test_size, len(users))
        return np.isin(user, users[order[:n_test]])

    def _spark_split(self, log: Any) -> tuple[Any, Any]:
        from pyspark.sql import functions as F

        user_type = log.schema["user_idx"].dataType
        users = log.select(F.col("user_idx").cast("long").alias("user_idx")).distinct()
        kernel = partial(user_hash_kernel, seed=draw_seed(self.seed))
        hashed = users.mapInArrow(kernel, f"user_idx long, {HASH} double")
        n_test = tail_count_of(self.test_size, users.count())
        chosen = hashed.orderBy(HASH, "user_idx").limit(n_test)
        chosen = chosen.select(F.col("user_idx").cast(user_type).alias("user_idx"))
        train = log.join(chosen, on="user_idx", how="left_anti")
        return train, log.join(chosen, on="user_idx", how="left_semi")
