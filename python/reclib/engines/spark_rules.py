"""Association-rule counts of a Spark log, counted on the executors (``MODELS.md`` §4.10).

:class:`reclib.models.rules.AssociationRulesItemRec` fits a Spark log here; only merged
tables come to the driver:

1. One aggregate job validates the log (the errors of the pandas path: empty log, null or
   negative ids, null sessions, relevance missing, not finite or negative) and counts the
   distinct sessions ``S`` (``countDistinct``); a second small job collects the distinct users.
2. The log is repartitioned by the session column, so each session's rows meet in one task, and
   :func:`_rules_partition` runs in ``mapInArrow``: it builds the partition's session x item
   matrix (an item repeated in a session keeps its largest weight, as the pandas path's "max")
   and calls ``reclib._core.rules_count`` with both minimums at 0.  It yields partial counts:
   one row per item of the partition and one per pair ``a < b`` of items meeting there.
3. ``groupBy`` adds the partials by key; pairs under ``min_pair_count`` are dropped there (the
   merged counts are exact), and the driver collects the item table (every distinct item of the
   log, which is also how ``fit_items`` is found) and the remaining pairs.  It then keeps pairs
   of two frequent items, as one filtered ``rules_count`` run on the whole log would.

Counts are exact.  Weight sums (``use_relevance``) are sums of per-partition sums, so they may
differ from the pandas path's in the last bits when the relevance is not integer-valued.  They
are added in a fixed order (sessions by id within a partition, partitions by index), so a
Spark fit is reproducible for a given ``spark.sql.shuffle.partitions``, and this keeps one
property of the kernel: when every session of
``c`` holds ``a`` with a weight at least ``w_c``, ``rel(c) - pair_rel(a, c)`` is exactly 0 (an
infinite confidence gain), as on pandas.  Pairs travel once (``a < b``) and are mirrored on the
driver, so ``a -> b`` and ``b -> a`` share one ``pair_rel`` exactly.

Limitation: with non-integer relevance, two rules whose lifts are equal on pandas may differ in
the last bit on Spark (or the reverse), which can change which of them the ``num_neighbours``
cut keeps and how ties are ordered.  Without ``use_relevance`` every sum is a count and both
engines give identical rules.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reclib import _core
from reclib._sparse import Csr
from reclib._threads import configure_executor_threads
from reclib.data.schema import ITEM_COL, RELEVANCE_COL, USER_COL, check_spark_log
from reclib.engines.spark import _partition_rows, _partitions
from reclib.exceptions import ColumnMissingError, ColumnTypeError, InvalidValueError

__all__ = ["SparkRuleCounts", "count_rules"]

_SESSION_TYPES = {
    "ByteType", "ShortType", "IntegerType", "LongType", "StringType", "VarcharType", "CharType",
}
_NARROW_INTS = {"ByteType", "ShortType", "IntegerType"}

# Columns of the kernel's input and output.  An output row with a null `cons` is an item row:
# `ante` is the item, `n` its sessions and `w` its weight sum in the partition.
_SESSION, _ITEM, _WEIGHT = "_session", "_item", "_weight"
_PARTIAL_SCHEMA = pa.schema([
    ("ante", pa.int64()),
    ("cons", pa.int64()),
    ("part", pa.int32()),
    ("n", pa.int64()),
    ("w", pa.float64()),
])
_PARTIAL_DDL = "ante bigint, cons bigint, part int, n bigint, w double"
_BATCH_ROWS = 1 << 16


@dataclass(frozen=True)
class SparkRuleCounts:
    """Merged counts of a Spark log, on the driver.

    Attributes
    ----------
    user_ids, item_ids : numpy.ndarray of int64
        Sorted distinct raw ids of the log (the model's ``fit_users`` / ``fit_items``).
    user_dtype, item_dtype : numpy.dtype
        int32 for Spark ``int`` (or narrower) id columns, else int64.
    n_sessions : int
        Number of distinct sessions.
    item_rel : numpy.ndarray of float64
        Weight sum of each item of ``item_ids`` (not filtered).
    ante, cons : numpy.ndarray of int32
        Positions in ``item_ids`` of each kept pair, both directions.
    pair_count : numpy.ndarray of int64
    pair_rel : numpy.ndarray of float64
    """

    user_ids: np.ndarray
    item_ids: np.ndarray
    user_dtype: np.dtype
    item_dtype: np.dtype
    n_sessions: int
    item_rel: np.ndarray
    ante: np.ndarray
    cons: np.ndarray
    pair_count: np.ndarray
    pair_rel: np.ndarray


def count_rules(
    log: Any,
    session_col: str,
    use_relevance: bool,
    min_item_count: int,
    min_pair_count: int,
) -> SparkRuleCounts:
    """Validate a Spark log and count its items and pairs on the executors."""
    from pyspark.sql import functions as sf

    types = {field.name: type(field.dataType).__name__ for field in log.schema.fields}
    _check_session_type(types, session_col)
    required = [USER_COL, ITEM_COL] + ([RELEVANCE_COL] if use_relevance else [])
    check_spark_log(log, required, "log")
    n_sessions = _check_values(log, session_col, use_relevance)
    user_ids = (
        log.select(sf.col(USER_COL).cast("bigint")).distinct().toArrow().column(0)
        .to_numpy().astype(np.int64)
    )
    user_ids.sort()

    rows = log.select(
        sf.col(session_col).alias(_SESSION),
        sf.col(ITEM_COL).cast("bigint").alias(_ITEM),
        *([sf.col(RELEVANCE_COL).cast("double").alias(_WEIGHT)] if use_relevance else []),
    )
    kernel = functools.partial(_rules_partition, use_relevance=use_relevance)
    partials = rows.repartition(_partitions(log.sparkSession), _SESSION).mapInArrow(
        kernel, _PARTIAL_DDL
    )
    if use_relevance:
        # Partition order, so that equal partials give equal sums (see the module docs).
        ordered = sf.array_sort(sf.collect_list(sf.struct("part", "w")))
        weight = sf.aggregate(ordered, sf.lit(0.0), lambda acc, x: acc + x["w"])
    else:
        weight = sf.sum("w")  # sums of ones: exact in any order
    merged = partials.groupBy("ante", "cons").agg(
        sf.sum("n").alias("n"), weight.alias("w")
    ).where(sf.col("cons").isNull() | (sf.col("n") >= min_pair_count))
    table = merged.toArrow()

    ante = table.column("ante").to_numpy().astype(np.int64)
    cons_col = table.column("cons")
    is_item = cons_col.is_null().to_numpy(zero_copy_only=False)
    cons = cons_col.fill_null(0).to_numpy().astype(np.int64)
    count = table.column("n").to_numpy().astype(np.int64)
    rel = table.column("w").to_numpy().astype(np.float64)

    order = np.argsort(ante[is_item], kind="stable")
    item_ids = ante[is_item][order]
    item_count, item_rel = count[is_item][order], rel[is_item][order]

    is_pair = ~is_item
    a = np.searchsorted(item_ids, ante[is_pair])
    b = np.searchsorted(item_ids, cons[is_pair])
    pair_count, pair_rel = count[is_pair], rel[is_pair]
    keep = (
        (item_count[a] >= min_item_count)
        & (item_count[b] >= min_item_count)
        & (pair_count >= min_pair_count)
    )
    a, b, pair_count, pair_rel = a[keep], b[keep], pair_count[keep], pair_rel[keep]
    return SparkRuleCounts(
        user_ids=user_ids,
        item_ids=item_ids,
        user_dtype=np.dtype(np.int32 if types[USER_COL] in _NARROW_INTS else np.int64),
        item_dtype=np.dtype(np.int32 if types[ITEM_COL] in _NARROW_INTS else np.int64),
        n_sessions=n_sessions,
        item_rel=item_rel,
        ante=np.concatenate([a, b]).astype(np.int32),
        cons=np.concatenate([b, a]).astype(np.int32),
        pair_count=np.concatenate([pair_count, pair_count]),
        pair_rel=np.concatenate([pair_rel, pair_rel]),
    )


def _check_session_type(types: dict[str, str], column: str) -> None:
    if column not in types:
        raise ColumnMissingError(
            f"`log` has no session column `{column}` (session_col); it has {list(types)}"
        )
    if types[column] not in _SESSION_TYPES:
        raise ColumnTypeError(
            f"session column `{column}` of `log` has Spark type {types[column]}; expected "
            "integer or string session ids"
        )


def _check_values(log: Any, session_col: str, use_relevance: bool) -> int:
    """The pandas path's value checks in one Spark job; returns the number of sessions."""
    from pyspark.sql import functions as sf

    def total(condition: Any) -> Any:
        return sf.sum(condition.cast("long"))

    aggregates = [
        sf.count(sf.lit(1)).alias("rows"),
        total(sf.col(session_col).isNull()).alias("null_sessions"),
        sf.countDistinct(sf.col(session_col)).alias("sessions"),
    ]
    for name, column in (("users", USER_COL), ("items", ITEM_COL)):
        aggregates += [
            total(sf.col(column).isNull()).alias(f"null_{name}"),
            total(sf.col(column) < 0).alias(f"neg_{name}"),
            sf.min(sf.col(column)).alias(f"min_{name}"),
        ]
    if use_relevance:
        relevance = sf.col(RELEVANCE_COL).cast("double")
        aggregates += [
            total(relevance.isNull() | sf.isnan(relevance)).alias("nan_rel"),
            total(sf.abs(relevance) == float("inf")).alias("inf_rel"),
            sf.min(relevance).alias("min_rel"),
        ]
    row = log.agg(*aggregates).first()

    if row["null_sessions"]:
        raise InvalidValueError(
            f"session column `{session_col}` of `log` has {row['null_sessions']} missing "
            "value(s); expected a session id on every row"
        )
    if not row["rows"]:
        raise InvalidValueError("`log` is empty; expected at least one interaction to fit on")
    for name, column in (("users", USER_COL), ("items", ITEM_COL)):
        if row[f"null_{name}"]:
            raise InvalidValueError(
                f"column `{column}` of `log` has {row[f'null_{name}']} null id(s); expected an "
                "id on every row"
            )
    for name, column in (("users", USER_COL), ("items", ITEM_COL)):
        if row[f"neg_{name}"]:
            raise InvalidValueError(
                f"column `{column}` of `log` has {row[f'neg_{name}']} negative id(s) (smallest "
                f"{row[f'min_{name}']}); expected ids >= 0"
            )
    if use_relevance:
        if row["nan_rel"]:
            raise InvalidValueError(
                f"column `{RELEVANCE_COL}` of `log` has {row['nan_rel']} NaN/missing value(s); "
                "expected finite numbers (drop or fill them first)"
            )
        if row["inf_rel"]:
            raise InvalidValueError(
                f"column `{RELEVANCE_COL}` of `log` has infinite value(s); expected finite "
                "numbers"
            )
        if row["min_rel"] < 0:
            raise InvalidValueError(
                f"column `{RELEVANCE_COL}` of `log` must be >= 0 for association rules with "
                f"use_relevance=True, got minimum {row['min_rel']}"
            )
    return int(row["sessions"])


def _rules_partition(
    batches: Iterator[pa.RecordBatch], use_relevance: bool
) -> Iterator[pa.RecordBatch]:
    """``mapInArrow`` kernel: partial item and pair counts of the sessions of one partition."""
    from pyspark import TaskContext

    table = _partition_rows(batches)
    if table is None:
        return
    configure_executor_threads()
    context = TaskContext.get()
    part = context.partitionId() if context is not None else 0

    # Sessions in ascending order of their ids (as on pandas), whatever order the shuffle
    # delivered the rows in: each weight sum of the partition is then the same in every run.
    ranks = pc.rank(table.column(_SESSION).combine_chunks(), tiebreaker="dense")
    session_codes = ranks.to_numpy(zero_copy_only=False).astype(np.int32) - 1
    raw_items = table.column(_ITEM).to_numpy().astype(np.int64)
    item_ids, item_codes = np.unique(raw_items, return_inverse=True)
    weights = (
        table.column(_WEIGHT).to_numpy().astype(np.float64) if use_relevance else None
    )
    n_sessions = int(session_codes.max()) + 1
    baskets = Csr.from_coo(
        session_codes, item_codes, weights, n_sessions, len(item_ids), "max"
    )
    item_count, item_rel, ante, cons, pair_count, pair_rel = _core.rules_count(
        baskets.indptr, baskets.indices, baskets.data, len(item_ids), 0, 0
    )
    once = ante < cons  # the kernel gives both directions with equal numbers
    ante, cons = ante[once], cons[once]

    def batch(n_rows: int, **columns: np.ndarray) -> pa.RecordBatch:
        arrays = [
            pa.array(columns[f.name], type=f.type) if f.name in columns
            else pa.nulls(n_rows, f.type)
            for f in _PARTIAL_SCHEMA
        ]
        return pa.RecordBatch.from_arrays(arrays, schema=_PARTIAL_SCHEMA)

    yield from _slices(batch(
        len(item_ids), ante=item_ids, part=np.full(len(item_ids), part, dtype=np.int32),
        n=item_count, w=item_rel,
    ))
    if len(ante):
        yield from _slices(batch(
            len(ante), ante=item_ids[ante], cons=item_ids[cons],
            part=np.full(len(ante), part, dtype=np.int32), n=pair_count[once], w=pair_rel[once],
        ))


def _slices(batch: pa.RecordBatch) -> Iterator[pa.RecordBatch]:
    for start in range(0, batch.num_rows, _BATCH_ROWS):
        yield batch.slice(start, _BATCH_ROWS)
