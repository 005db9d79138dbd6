"""Fitting KNN and the popularity models on a Spark log, with the work on the executors.

``KNN``, ``PopRec``, ``Wilson`` and ``UserPopRec`` fit a Spark log here (``MODELS.md`` §4.1–4.3,
§4.5); the log never comes to the driver, only merged tables do:

* the distinct users and items (``fit_users`` / ``fit_items``): O(users + items);
* PopRec and Wilson: one row per item; KNN: the kept neighbours, O(items x num_neighbours);
* UserPopRec: one row per distinct (user, item) pair.  That table *is* its fitted state (the
  model keeps every user's share of every item), so it is O(log) however it is computed: Spark
  merges the duplicate rows and computes nothing more; the driver then divides by the users'
  sums with the pandas path's code.

Where the fit runs is chosen per session by the Spark setting ``spark.reclib.fit.location``
(:func:`fit_on_executors`): ``"executors"`` (this module), ``"driver"`` (the log's columns are
gathered as Arrow and fitted by the pandas engine's code) or ``"auto"``, the default:
executors on a cluster, the driver under a ``local[...]`` master.  On one machine the driver
*is* where the executors run, and gathering is much cheaper than shuffling partial results
between them: on a 2-core machine with 10^8 power-law rows (2M users, 100k items), KNN fit +
top-10 took 188 s gathered and 1,275 s through the executors (each user partition sends its
partial dot rows through the shuffle), PopRec 111 s against 365 s
(``benches/scale/results``).  Both give the same fitted state.

Every fit makes the pandas path's checks, in its order and with its messages:
:func:`~reclib.data.schema.check_spark_log` (columns and types, no job), then null and
negative ids, NaN and infinite relevance, then the empty log.  The value checks ride along the
per-item aggregation each model needs anyway (:func:`checked_item_table`), so they cost no
extra pass over the log (UserPopRec, which aggregates per pair, runs them as a job of their
own).  A fit reads the log in two to four jobs (per-item table, distinct users, the KNN
kernels), so a log that is expensive to compute should be cached first; one that changes
between jobs (an unseeded sample) is detected where it matters and refused with
:class:`EngineError`.

KNN (item-item shrunk cosine, top ``num_neighbours`` per item):

1. ``groupBy(item)`` gives the items, their squared norms ``sum(w^2)`` over the log's rows and
   what decides exactness (below); the items and norms are shipped to the executors as ``.npy``
   files (:func:`reclib.engines.spark.ship_arrays`).
2. The log is repartitioned by user, so each user's rows meet in one task, and
   :func:`_dots_partition` runs in ``mapInArrow``: the partition's user x item matrix
   (duplicates summed, as on pandas) goes through ``reclib._core.cooccurrence``, which gives
   the partial dot products of every item pair that shares a user of the partition.  It yields
   one row per (partition, item): the item's partial dot row packed in two binary columns (a
   binary value is copied in one piece, an array element by element).  Spark then
   moves O(partitions x items) rows, not one per pair (on ml-1m, 15 thousand rows where pairs
   would be 36 million).
3. Those rows are repartitioned by item, and :func:`_topn_partition` adds each item's partial
   rows in partition order, turns the dots into shrunk cosines and keeps the best
   ``num_neighbours`` with ``reclib._core.cosine_topn_from_dots`` (same similarity and cut as
   the pandas path's ``item_cosine_topn``).  The merge happens in the kernel rather than in a
   Spark ``groupBy`` of one row per pair, which was 20 to 40 times slower.
4. The driver collects the kept neighbours.

Exactness.  The pandas path adds each dot product over users in ascending order; here each
partition adds its users in ascending order and the partials are added in another order.  The
results are identical bit for bit whenever no sum is rounded: when every weight is an integer
(``use_relevance=False``, ratings, 0/1 labels) and each item's sum of ``|w|``, ``A``, keeps
``A^2`` within 2^53 (all dots and squared norms are then exact integers).  That is checked in
step 1; the same rule (``A`` within 2^53) covers PopRec's relevance sums, and Wilson's counts
are always exact.  Otherwise the sums are added in a fixed order (dots by partition index,
sums over the log by user), so a fit is reproducible for a given
``spark.sql.shuffle.partitions``, but may differ from the pandas engine's in the last bits.

Limitation: with non-integer relevance, two KNN neighbours (or PopRec items) whose scores are
equal on pandas may differ in the last bit on Spark (or the reverse), which can change the
``num_neighbours`` cut or the order of ties; scores agree to about 1e-15 relative.
UserPopRec adds the duplicate rows of a (user, item) pair in Spark's order, which can change
the last bit only for three or more duplicates of one pair with non-integer relevance.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reclib import _core
from reclib._ids import dense_codes, positions
from reclib._sparse import Csr
from reclib._threads import configure_executor_threads
from reclib.data.schema import (
    ITEM_COL,
    RELEVANCE_COL,
    USER_COL,
    check_spark_log,
    check_spark_values,
    refuse_bad_values,
    spark_value_checks,
)
from reclib.engines.spark import _partition_rows, _partitions, load_arrays, ship_arrays
from reclib.exceptions import EngineError, InvalidParameterError, InvalidValueError

__all__ = [
    "FIT_LOCATION_KEY",
    "SparkFitIds",
    "check_fit_log",
    "checked_item_table",
    "fit_on_executors",
    "item_counts",
    "item_table",
    "knn_neighbours",
    "user_item_sums",
    "wilson_counts",
]

_NARROW_INTS = {"ByteType", "ShortType", "IntegerType"}
_EXACT_LIMIT = float(2**53)
_BATCH_ROWS = 1 << 16

# Columns of the kernels' input (one row of the log) and output.
_USER, _ITEM, _WEIGHT = "_user", "_item", "_weight"
# A partial dot row travels as two byte strings (little-endian int32 columns, float64 dots):
# Spark copies a binary value in one piece where it would convert an array element by element.
_DOTS_SCHEMA = pa.schema([
    ("row", pa.int32()), ("part", pa.int32()), ("cols", pa.binary()), ("dots", pa.binary()),
])
_DOTS_DDL = "row int, part int, cols binary, dots binary"
_COL_TYPE, _DOT_TYPE = np.dtype("<i4"), np.dtype("<f8")
# Most pairs in one output batch of the dots kernel (binary offsets are int32).
_BATCH_ENTRIES = 1 << 22
_SIMS_SCHEMA = pa.schema([("row", pa.int32()), ("col", pa.int32()), ("sim", pa.float64())])
_SIMS_DDL = "row int, col int, sim double"


@dataclass(frozen=True)
class SparkFitIds:
    """What a model fitted on Spark keeps about its log's ids.

    Attributes
    ----------
    user_ids, item_ids : numpy.ndarray of int64
        Sorted distinct raw ids (``fit_users`` / ``fit_items``).
    user_dtype, item_dtype : numpy.dtype
        int32 for Spark ``int`` (or narrower) id columns, else int64, as on the pandas path.
    """

    user_ids: np.ndarray
    item_ids: np.ndarray
    user_dtype: np.dtype
    item_dtype: np.dtype


# The Spark setting that says where fits with a distributed path run (see the module docs).
FIT_LOCATION_KEY = "spark.reclib.fit.location"
_FIT_LOCATIONS = ("auto", "executors", "driver")


def fit_on_executors(log: Any) -> bool:
    """Whether a fit of this Spark log runs on the executors (``spark.reclib.fit.location``).

    ``"auto"`` (the default) means the executors unless the session's master is
    ``local[...]``, where gathering the log on the driver is several times faster.
    """
    session = log.sparkSession
    given = session.conf.get(FIT_LOCATION_KEY, "auto")
    location = str(given).strip().lower()
    if location not in _FIT_LOCATIONS:
        raise InvalidParameterError(
            f"Spark setting `{FIT_LOCATION_KEY}` must be one of {list(_FIT_LOCATIONS)} "
            f"(case and surrounding spaces ignored), got {given!r}"
        )
    if location == "auto":
        return not session.sparkContext.master.startswith("local")
    return location == "executors"


# ----------------------------------------------------------------------------------------------
# Shared steps


def check_fit_log(log: Any, need_relevance: bool) -> None:
    """The pandas fit path's checks of a Spark log, in its order and with its messages."""
    required = [USER_COL, ITEM_COL] + ([RELEVANCE_COL] if need_relevance else [])
    check_spark_log(log, required, "log")
    if check_spark_values(log, "log", need_relevance) == 0:
        raise InvalidValueError("`log` is empty; expected at least one interaction to fit on")


def _id_dtype(log: Any, column: str) -> np.dtype:
    kind = type(log.schema[column].dataType).__name__
    return np.dtype(np.int32 if kind in _NARROW_INTS else np.int64)


def _fit_ids(log: Any, user_ids: np.ndarray, item_ids: np.ndarray) -> SparkFitIds:
    return SparkFitIds(
        user_ids=user_ids,
        item_ids=item_ids,
        user_dtype=_id_dtype(log, USER_COL),
        item_dtype=_id_dtype(log, ITEM_COL),
    )


def _rows(log: Any, use_relevance: bool) -> Any:
    """``(_user, _item, _weight)`` of every log row: ids as bigint, weight relevance or 1."""
    from pyspark.sql import functions as sf

    weight = sf.col(RELEVANCE_COL).cast("double") if use_relevance else sf.lit(1.0)
    return log.select(
        sf.col(USER_COL).cast("bigint").alias(_USER),
        sf.col(ITEM_COL).cast("bigint").alias(_ITEM),
        weight.alias(_WEIGHT),
    )


def _distinct_users(rows: Any) -> np.ndarray:
    table = rows.select(_USER).distinct().toArrow()
    return np.sort(table.column(0).to_numpy().astype(np.int64))


def _exact(all_integer: bool, largest_abs_sum: float, power: int) -> bool:
    """Whether sums of integer-valued terms are exact in any order (see the module docs)."""
    return bool(all_integer) and largest_abs_sum**power <= _EXACT_LIMIT


def _integer_flag(weight: Any) -> Any:
    """1 where a weight is an integer, else 0; ``min`` of it says whether all are."""
    from pyspark.sql import functions as sf

    # rint stays a double: floor's cast to a long would overflow (an error under ANSI mode).
    return (weight == sf.rint(weight)).cast("int")


def _ordered_sum(order: list[str], value: str) -> Any:
    """Sum of ``value`` over a group, added in ascending ``order`` (reproducible rounding)."""
    from pyspark.sql import functions as sf

    fields = order + ([value] if value not in order else [])
    terms = sf.array_sort(sf.collect_list(sf.struct(*fields)))
    return sf.aggregate(terms, sf.lit(0.0), lambda acc, term: acc + term[value])


def item_table(frame: Any, **aggregates: Any) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``groupBy(item)`` of the kernel rows with the named aggregates, collected and sorted.

    Returns the sorted distinct items and one array per aggregate, aligned with them.
    """
    table = frame.groupBy(_ITEM).agg(
        *[column.alias(name) for name, column in aggregates.items()]
    ).toArrow()
    items = table.column(_ITEM).to_numpy().astype(np.int64)
    order = np.argsort(items, kind="stable")
    columns = {
        name: table.column(name).to_numpy(zero_copy_only=False)[order] for name in aggregates
    }
    return items[order], columns


def checked_item_table(
    log: Any, use_relevance: bool, **aggregates: Any
) -> tuple[Any, np.ndarray, dict[str, np.ndarray]]:
    """The pandas fit path's checks and a per-item table, in one job over the log.

    The checks of :func:`~reclib.data.schema.check_spark_values` are taken per item (a null
    or negative ``item_idx`` is a group of its own) and merged on the driver, then refused in
    the pandas path's order, then the empty log; a separate check job would read the log once
    more.  Returns the kernel rows (:func:`_rows`), the sorted items and the aggregates.
    """
    required = [USER_COL, ITEM_COL] + ([RELEVANCE_COL] if use_relevance else [])
    check_spark_log(log, required, "log")
    rows = _rows(log, use_relevance)
    checks = spark_value_checks(
        use_relevance, {USER_COL: _USER, ITEM_COL: _ITEM, RELEVANCE_COL: _WEIGHT}
    )
    table = rows.groupBy(_ITEM).agg(
        *checks, *[column.alias(name) for name, column in aggregates.items()]
    ).toArrow()

    counts = {}
    for name in table.column_names:
        if name == _ITEM or name in aggregates:
            continue
        merge = pc.min if name.startswith("min_") else pc.sum
        counts[name] = merge(table.column(name)).as_py()
    if refuse_bad_values(counts, "log", use_relevance) == 0:
        raise InvalidValueError("`log` is empty; expected at least one interaction to fit on")

    items = table.column(_ITEM).to_numpy().astype(np.int64)  # no null: refused above
    order = np.argsort(items, kind="stable")
    columns = {
        name: table.column(name).to_numpy(zero_copy_only=False)[order] for name in aggregates
    }
    return rows, items[order], columns


# ----------------------------------------------------------------------------------------------
# Popularity


def item_counts(log: Any, use_relevance: bool) -> tuple[SparkFitIds, np.ndarray]:
    """PopRec's numerator per item: distinct users, or (``use_relevance``) relevance sums."""
    from pyspark.sql import functions as sf

    if not use_relevance:
        rows, items, columns = checked_item_table(log, False, users=sf.countDistinct(_USER))
        user_ids = _distinct_users(rows)
        return _fit_ids(log, user_ids, items), columns["users"].astype(np.float64)

    weight = sf.col(_WEIGHT)
    rows, items, columns = checked_item_table(
        log,
        True,
        total=sf.sum(weight),
        abs_total=sf.sum(sf.abs(weight)),
        integer=sf.min(_integer_flag(weight)),
    )
    user_ids = _distinct_users(rows)
    totals = columns["total"].astype(np.float64)
    if not _exact(columns["integer"].min() == 1, float(columns["abs_total"].max()), 1):
        # As the pandas path: duplicates of a (user, item) first, then users in ascending order.
        merged = rows.groupBy(_USER, _ITEM).agg(
            _ordered_sum([_WEIGHT], _WEIGHT).alias(_WEIGHT)
        )
        ordered, sums = item_table(merged, total=_ordered_sum([_USER], _WEIGHT))
        _same_items(items, ordered)
        totals = sums["total"].astype(np.float64)
    return _fit_ids(log, user_ids, items), totals


def wilson_counts(log: Any) -> tuple[SparkFitIds, np.ndarray, np.ndarray]:
    """Wilson's ``(positives, rows)`` per item; relevance must be 0 or 1 (as on pandas)."""
    from pyspark.sql import functions as sf

    weight = sf.col(_WEIGHT)
    not_binary = (weight != 0.0) & (weight != 1.0)
    rows, items, columns = checked_item_table(
        log,
        True,
        positives=sf.sum(weight),
        trials=sf.count(sf.lit(1)),
        not_binary=sf.sum(not_binary.cast("long")),
    )
    bad = int(columns["not_binary"].sum())
    if bad:
        examples = rows.where(not_binary).select(_WEIGHT).distinct().orderBy(_WEIGHT).limit(5)
        values = sorted(examples.toArrow().column(0).to_pylist())
        raise InvalidValueError(
            f"column `{RELEVANCE_COL}` of `log` must hold only 0 and 1 for Wilson, got "
            f"{bad} other value(s), e.g. {values}; binarise it first"
        )
    user_ids = _distinct_users(rows)
    positives = columns["positives"].astype(np.float64)
    return _fit_ids(log, user_ids, items), positives, columns["trials"].astype(np.float64)


def user_item_sums(log: Any) -> tuple[SparkFitIds, Csr]:
    """UserPopRec's user x item relevance sums (duplicates added), on dense ids.

    The one table collected is the model's own state: one row per distinct (user, item).
    """
    from pyspark.sql import functions as sf

    check_fit_log(log, need_relevance=True)
    rows = _rows(log, use_relevance=True)
    table = rows.groupBy(_USER, _ITEM).agg(sf.sum(_WEIGHT).alias(_WEIGHT)).toArrow()
    user_ids, users = dense_codes(table.column(_USER).to_numpy().astype(np.int64))
    item_ids, items = dense_codes(table.column(_ITEM).to_numpy().astype(np.int64))
    sums = table.column(_WEIGHT).to_numpy().astype(np.float64)
    matrix = Csr.from_coo(users, items, sums, len(user_ids), len(item_ids), "error")
    return _fit_ids(log, user_ids, item_ids), matrix


def _same_items(expected: np.ndarray, got: np.ndarray) -> None:
    if not np.array_equal(expected, got):
        raise EngineError(
            "the Spark log gave different items in two jobs of one fit; fitting needs a "
            "deterministic log: cache or checkpoint it first"
        )


# ----------------------------------------------------------------------------------------------
# KNN


def knn_neighbours(
    log: Any, use_relevance: bool, shrink: float, num_neighbours: int
) -> tuple[SparkFitIds, Csr]:
    """KNN's item x item neighbour matrix of a Spark log, computed on the executors.

    Returns the ids and the ``n_items x n_items`` CSR the pandas path's
    ``reclib._core.item_cosine_topn`` gives (see the module docs for when it is bit-identical).
    """
    from pyspark.sql import functions as sf

    # 1. The checks, the items, squared norms over the rows (duplicates count), and whether
    # sums are exact.
    weight = sf.col(_WEIGHT)
    rows, items, columns = checked_item_table(
        log,
        use_relevance,
        sq_norm=sf.sum(weight * weight),
        abs_total=sf.sum(sf.abs(weight)),
        integer=sf.min(_integer_flag(weight)),
    )
    sq_norms = columns["sq_norm"].astype(np.float64)
    exact = _exact(columns["integer"].min() == 1, float(columns["abs_total"].max()), 2)
    if not exact:
        square = rows.select(_USER, _ITEM, (weight * weight).alias(_WEIGHT))
        ordered, sums = item_table(square, sq_norm=_ordered_sum([_USER, _WEIGHT], _WEIGHT))
        _same_items(items, ordered)
        sq_norms = sums["sq_norm"].astype(np.float64)
    user_ids = _distinct_users(rows)
    n_items = len(items)

    # 2-3. Partial dots per user partition, as one row per (partition, item) holding the
    # item's partial dot row; merged and cut per item partition.
    session = log.sparkSession
    name = ship_arrays(session, {"item_ids": items, "sq_norms": sq_norms})
    n_parts = _partitions(session)
    partials = rows.repartition(n_parts, _USER).mapInArrow(
        functools.partial(_dots_partition, name=name, ordered=not exact), _DOTS_DDL
    )
    kept = partials.repartition(n_parts, "row").mapInArrow(
        functools.partial(
            _topn_partition, name=name, shrink=float(shrink), num_neighbours=int(num_neighbours)
        ),
        _SIMS_DDL,
    )

    # 4. The kept neighbours, O(items x num_neighbours), on the driver.
    table = kept.toArrow()
    neighbours = Csr.from_coo(
        table.column("row").to_numpy(),
        table.column("col").to_numpy(),
        table.column("sim").to_numpy(),
        n_items,
        n_items,
        "error",
    )
    return _fit_ids(log, user_ids, items), neighbours


def _part_id() -> int:
    from pyspark import TaskContext

    context = TaskContext.get()
    return context.partitionId() if context is not None else 0


def _slices(batch: pa.RecordBatch) -> Iterator[pa.RecordBatch]:
    for start in range(0, batch.num_rows, _BATCH_ROWS):
        yield batch.slice(start, _BATCH_ROWS)


def _dots_partition(
    batches: Iterator[pa.RecordBatch], name: str, ordered: bool
) -> Iterator[pa.RecordBatch]:
    """``mapInArrow`` kernel: partial dot products of the item pairs of one user partition.

    Yields one row per item ``row`` with a pair in the partition: this partition's index and
    the item's partial dot row, packed (:func:`_packed`): ``cols`` (dense item codes,
    ascending) and ``dots`` (sums of ``X[u, row] * X[u, col]`` over the partition's users
    ``u`` in ascending order).  One row per item keeps Spark's per-row work at O(items) per
    partition where a row per pair would be O(pairs).
    """
    table = _partition_rows(batches)
    if table is None:
        return
    configure_executor_threads()
    _, arrays = load_arrays(name)
    users = table.column(_USER).to_numpy().astype(np.int64)
    items = positions(arrays["item_ids"], table.column(_ITEM).to_numpy())
    weights = table.column(_WEIGHT).to_numpy().astype(np.float64)
    if (items < 0).any():
        raise EngineError(
            "the Spark log gave an item the fit's item table lacks; fitting needs a "
            "deterministic log: cache or checkpoint it first"
        )
    if ordered:
        # Duplicates of a (user, item) are summed in input order: make that order fixed.
        order = np.lexsort((weights, items, users))
        users, items, weights = users[order], items[order], weights[order]

    # The partition's own small matrix: users ascending (as on pandas), its items only.
    _, user_codes = dense_codes(users)
    local_items, item_codes = dense_codes(items)
    matrix = Csr.from_coo(
        user_codes, item_codes, weights, int(user_codes.max()) + 1, len(local_items), "sum"
    )
    indptr, indices, dots = _core.cooccurrence(
        matrix.indptr, matrix.indices, matrix.data, len(local_items)
    )
    part = _part_id()
    has_pairs = np.flatnonzero(np.diff(indptr))
    global_cols = local_items[indices].astype(np.int32)

    # Batches of whole item rows, each with at most about _BATCH_ENTRIES pairs.
    start = 0
    while start < len(has_pairs):
        first = indptr[has_pairs[start]]
        stop = int(np.searchsorted(indptr[has_pairs + 1], first + _BATCH_ENTRIES, "right"))
        stop = max(stop, start + 1)
        chosen = has_pairs[start:stop]
        lo, hi = int(indptr[chosen[0]]), int(indptr[chosen[-1] + 1])
        offsets = np.r_[indptr[chosen] - lo, hi - lo]
        yield pa.RecordBatch.from_arrays(
            [
                pa.array(local_items[chosen].astype(np.int32)),
                pa.array(np.full(len(chosen), part, dtype=np.int32)),
                _packed(offsets, global_cols[lo:hi].astype(_COL_TYPE)),
                _packed(offsets, dots[lo:hi].astype(_DOT_TYPE)),
            ],
            schema=_DOTS_SCHEMA,
        )
        start = stop


def _packed(offsets: np.ndarray, values: np.ndarray) -> pa.Array:
    """A binary array whose value ``r`` is the bytes of ``values[offsets[r]:offsets[r + 1]]``."""
    byte_offsets = (offsets * values.itemsize).astype(np.int32)
    return pa.Array.from_buffers(
        pa.binary(),
        len(offsets) - 1,
        [None, pa.py_buffer(byte_offsets), pa.py_buffer(np.ascontiguousarray(values))],
    )


def _unpacked(column: pa.ChunkedArray, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`_packed` for a whole column: ``(values, length of each row)``."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    _, offsets_buffer, data_buffer = array.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int32)[
        array.offset : array.offset + len(array) + 1
    ]
    values = np.frombuffer(
        data_buffer, dtype=dtype, count=int(offsets[-1] - offsets[0]) // dtype.itemsize,
        offset=int(offsets[0]),
    )
    return values, np.diff(offsets) // dtype.itemsize


def _topn_partition(
    batches: Iterator[pa.RecordBatch], name: str, shrink: float, num_neighbours: int
) -> Iterator[pa.RecordBatch]:
    """``mapInArrow`` kernel: the kept neighbours of the items of one partition.

    Its rows hold every partial dot row of its items; they are added up in partition order
    (fixed rounding), then the shrunk cosine and the cut are those of the pandas path
    (``cosine_topn_from_dots``), row by row.
    """
    table = _partition_rows(batches)
    if table is None:
        return
    configure_executor_threads()
    _, arrays = load_arrays(name)
    order = np.lexsort((
        table.column("part").to_numpy(), table.column("row").to_numpy(),
    ))
    table = table.take(pa.array(order))
    cols, lengths = _unpacked(table.column("cols"), _COL_TYPE)
    dots, _ = _unpacked(table.column("dots"), _DOT_TYPE)
    rows = np.repeat(table.column("row").to_numpy().astype(np.int64), lengths)
    cols = cols.astype(np.int64)
    dots = dots.astype(np.float64)

    # A square matrix over the partition's items only (rows and their neighbours); local codes
    # keep the global order, so ties (larger item first) are cut as on the whole catalogue.
    # Each (row, col) is summed over its partitions in partition order ("sum" keeps the input
    # order of duplicates).
    local_items, codes = dense_codes(np.concatenate([rows, cols]))
    n_local = len(local_items)
    merged = Csr.from_coo(codes[: len(rows)], codes[len(rows):], dots, n_local, n_local, "sum")
    sq_norms = np.ascontiguousarray(arrays["sq_norms"][local_items], dtype=np.float64)
    indptr, indices, sims = _core.cosine_topn_from_dots(
        merged.indptr, merged.indices, merged.data, sq_norms, shrink, num_neighbours
    )
    if not len(indices):
        return
    kept_rows = np.repeat(np.arange(n_local), np.diff(indptr))
    batch = pa.RecordBatch.from_arrays(
        [
            pa.array(local_items[kept_rows].astype(np.int32)),
            pa.array(local_items[indices].astype(np.int32)),
            pa.array(sims),
        ],
        schema=_SIMS_SCHEMA,
    )
    yield from _slices(batch)
