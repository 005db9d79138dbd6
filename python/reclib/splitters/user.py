"""Per-user splits: :class:`UserSplitter` takes the last (or random) rows of every user.

This is the split of the standard experiment (``EVALUATION.md`` §1): per user, order the rows
by (timestamp, item id) and send the last ``round(0.2 * n_user)`` to test.  The per-user work is
:func:`reclib.splitters._kernels.user_tail_mask`; on Spark it runs inside ``mapInArrow`` after
repartitioning by user, so both engines choose the same rows.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from reclib.splitters._checks import check_flag, check_seed, check_size
from reclib.splitters._kernels import (
    TEST_FLAG,
    spark_schema_with,
    spark_time_checks,
    user_tail_kernel,
    user_tail_mask_of_table,
)
from reclib.splitters.base import Splitter, arrow_columns, draw_seed, spark_sorted_by_content

__all__ = ["UserSplitter"]

_KEY_COLUMNS = ["user_idx", "item_idx", "timestamp", "relevance"]


class UserSplitter(Splitter):
    """Send the last (or, with ``shuffle``, random) rows of every user to test.

    Rows of a user are ordered by (timestamp, item_idx, relevance); ties in time are broken by
    item id, so the split is deterministic.  With ``shuffle=True`` the order is a seeded hash of
    (user, item, timestamp) instead, the same on pandas and Spark.

    Parameters
    ----------
    item_test_size
        Rows per user that go to test: an int >= 1 (a user with fewer rows sends all of them),
        or a float in (0, 1), the fraction ``round(item_test_size * n_user)`` with Python's
        rounding (half to even).
    shuffle
        Choose the test rows of each user at random instead of the latest ones.
    drop_cold_items, drop_cold_users
        Drop test rows whose item / user is absent from train.
    seed
        Seed of the shuffle (an int >= 0); ``None`` draws a fresh one per call.  Ignored
        without ``shuffle``.

    Examples
    --------
    >>> train, test = UserSplitter(0.2, drop_cold_users=True).split(log)   # doctest: +SKIP
    """

    _needs_timestamp = True

    def __init__(
        self,
        item_test_size: int | float,
        shuffle: bool = False,
        drop_cold_items: bool = False,
        drop_cold_users: bool = False,
        seed: int | None = None,
    ) -> None:
        super().__init__(drop_cold_items, drop_cold_users)
        self.item_test_size = check_size(item_test_size, "item_test_size")
        self.shuffle = check_flag(shuffle, "shuffle")
        self.seed = check_seed(seed)

    def _shuffle_seed(self) -> int | None:
        return draw_seed(self.seed) if self.shuffle else None

    def _pandas_test_mask(self, log: pd.DataFrame) -> np.ndarray:
        table = arrow_columns(log, _KEY_COLUMNS)
        return user_tail_mask_of_table(table, self.item_test_size, self._shuffle_seed())

    def _spark_split(self, log: Any) -> tuple[Any, Any]:
        from pyspark.sql import functions as F

        kernel = partial(
            user_tail_kernel,
            size=self.item_test_size,
            seed=self._shuffle_seed(),
            unit=spark_time_checks(log),
        )
        grouped = spark_sorted_by_content(log.repartition("user_idx"))
        labelled = grouped.mapInArrow(kernel, spark_schema_with(log.schema, {TEST_FLAG: "boolean"}))
        return labelled.where(~F.col(TEST_FLAG)), labelled.where(F.col(TEST_FLAG))
