"""The Spark engine: Spark DataFrames in, Spark DataFrames out, kernels on the executors.

How a fitted model predicts on Spark (``SPARK.md`` has the measurements behind each choice):

0. The inputs are refused where the pandas engine refuses them, with its errors: the predict
   log's (or pairs') columns and types without a job, then null or negative ids in one
   aggregate job (:func:`reclib.data.schema.check_spark_values`); a Spark ``users`` frame's
   null or negative ids in another small one.
1. The model's fitted state (``Recommender.export_state``) is written once per call as ``.npy``
   files plus a JSON manifest, which ``SparkContext.addFile`` ships file by file (a directory
   is refused outside local mode) to every executor (:func:`ship_arrays`, also used by the
   Spark fits of ``reclib.engines.spark_fit``).  Executors open the arrays with ``mmap``
   (shared between Python workers of a node) and rebuild the model once per worker process.
2. The target users and their history rows become one DataFrame of ``(user_idx, item_idx)``
   rows (``item_idx`` null for a target-user marker), repartitioned by ``user_idx`` so that each
   user's rows meet in one task.
3. ``mapInArrow`` runs :func:`_predict_partition` over each partition: the same block function
   the pandas engine calls, so both engines return the same rows.  Empty partitions yield
   nothing; output batches are cast to the declared schema (``mapInArrow`` does not cast).
"""

from __future__ import annotations

import atexit
import functools
import importlib
import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa

from reclib._logging import get_logger
from reclib._threads import configure_executor_threads
from reclib.data.schema import (
    ITEM_COL,
    RELEVANCE_COL,
    USER_COL,
    check_columns,
    check_spark_log,
    check_spark_values,
)
from reclib.engines.frames import is_spark_frame
from reclib.engines.spark_session import require_pyspark
from reclib.exceptions import ColumnTypeError, EngineError, InvalidParameterError

if TYPE_CHECKING:
    from reclib.models.base import BlockResult, Recommender

__all__ = [
    "predict", "predict_pairs", "to_spark", "ship_model", "ship_arrays", "load_arrays",
    "session_of",
]

logger = get_logger(__name__)

_SHIP_ROOT: Path | None = None
_EXECUTOR_MODELS: dict[str, "Recommender"] = {}
_EXECUTOR_CACHE_SIZE = 4

#: Test hook (not an API): when the driver sets this Spark local property to a file path with
#: ``sparkContext.setLocalProperty``, the first Python worker that finds the file there in the
#: middle of a predict task, after part of its output went out, deletes it and exits at once,
#: as a crashed worker would.  Spark then retries the task; the cluster tests use it to check
#: that the retried job loses and duplicates no rows.  Deleting first makes it fire once.
_FAULT_MARKER = "reclib.test.faultMarker"


def session_of(*frames: Any) -> Any:
    """The Spark session of the first Spark DataFrame among ``frames``, else the active one."""
    for frame in frames:
        if is_spark_frame(frame):
            return frame.sparkSession
    sql = require_pyspark()
    session = sql.SparkSession.getActiveSession()
    if session is None:
        raise EngineError("no Spark DataFrame was given and no Spark session is active")
    return session


def to_spark(frame: pd.DataFrame, like: Any = None) -> Any:
    """A pandas frame as a Spark DataFrame in the session of ``like`` (or the active one)."""
    session = session_of(like)
    return session.createDataFrame(frame)


def _spark_type(dtype: np.dtype) -> str:
    return "int" if np.dtype(dtype) == np.int32 else "bigint"


def _ship_root() -> Path:
    global _SHIP_ROOT
    if _SHIP_ROOT is None:
        _SHIP_ROOT = Path(tempfile.mkdtemp(prefix="reclib-ship-"))
        atexit.register(shutil.rmtree, _SHIP_ROOT, True)
    return _SHIP_ROOT


def ship_arrays(
    session: Any,
    arrays: dict[str, np.ndarray],
    meta: dict[str, Any] | None = None,
    prefix: str = "reclib-arrays",
) -> str:
    """Write arrays as ``.npy`` files, ``addFile`` each of them; return their common name.

    Every file is added on its own: Spark refuses to add a directory outside local mode
    (``UNSUPPORTED_ADD_FILE.LOCAL_DIRECTORY``), and as ``SparkFiles`` is one flat namespace,
    each file name starts with the unique name returned.  ``meta`` (JSON-safe) travels in the
    manifest.  Executors read them back with :func:`load_arrays`.
    """
    name = f"{prefix}-{uuid.uuid4().hex}"
    directory = _ship_root() / name
    directory.mkdir()
    for key, array in arrays.items():
        np.save(directory / f"{name}.{key}.npy", np.ascontiguousarray(array), allow_pickle=False)
    manifest = {"meta": meta, "arrays": sorted(arrays)}
    (directory / f"{name}.json").write_text(json.dumps(manifest))
    for path in sorted(directory.iterdir()):
        session.sparkContext.addFile(str(path))
    return name


def load_arrays(name: str) -> tuple[Any, dict[str, np.ndarray]]:
    """On an executor: the ``meta`` and the arrays :func:`ship_arrays` shipped (``mmap``-ed)."""
    from pyspark import SparkFiles

    manifest = json.loads(Path(SparkFiles.get(f"{name}.json")).read_text())
    arrays = {
        key: np.load(SparkFiles.get(f"{name}.{key}.npy"), mmap_mode="r", allow_pickle=False)
        for key in manifest["arrays"]
    }
    return manifest["meta"], arrays


def ship_model(
    model: "Recommender", session: Any, extra: dict[str, np.ndarray] | None = None
) -> str:
    """Ship the model's state with :func:`ship_arrays`; return the state's name.

    ``extra`` arrays (for example the candidate items of one call) travel beside the state
    under ``extra.<name>``.
    """
    meta, arrays = model.export_state()
    arrays = {**arrays, **{f"extra.{k}": v for k, v in (extra or {}).items()}}
    return ship_arrays(session, arrays, meta, prefix="reclib-model")


def _load_shipped(name: str) -> tuple["Recommender", dict[str, np.ndarray]]:
    """On an executor: the shipped model (cached per worker process) and its extra arrays."""
    meta, arrays = load_arrays(name)
    extra = {k.removeprefix("extra."): v for k, v in arrays.items() if k.startswith("extra.")}
    if name not in _EXECUTOR_MODELS:
        module_name, _, class_name = meta["class"].rpartition(".")
        cls = getattr(importlib.import_module(module_name), class_name)
        state = {k: v for k, v in arrays.items() if not k.startswith("extra.")}
        _EXECUTOR_MODELS[name] = cls.from_state(meta, state)
        # A long-lived worker serves many predicts (tuning runs one per trial): keep the few
        # most recent models only.
        while len(_EXECUTOR_MODELS) > _EXECUTOR_CACHE_SIZE:
            _EXECUTOR_MODELS.pop(next(iter(_EXECUTOR_MODELS)))
    return _EXECUTOR_MODELS[name], extra


def _result_batch(result: "BlockResult", schema: pa.Schema) -> pa.RecordBatch:
    batch = pa.RecordBatch.from_arrays(
        [pa.array(result.users), pa.array(result.items), pa.array(result.scores)],
        names=[USER_COL, ITEM_COL, RELEVANCE_COL],
    )
    return batch.cast(schema)


def _partition_rows(batches: Iterator[pa.RecordBatch]) -> pa.Table | None:
    collected = list(batches)
    if not collected:
        return None
    table = pa.Table.from_batches(collected)
    return table if table.num_rows else None


def _fault_point() -> None:
    """Exit this Python worker once if the test hook :data:`_FAULT_MARKER` asks for it."""
    from pyspark import TaskContext

    context = TaskContext.get()
    marker = context.getLocalProperty(_FAULT_MARKER) if context is not None else None
    if not marker:
        return
    try:
        os.remove(marker)
    except FileNotFoundError:
        return
    os._exit(1)


def _predict_partition(
    batches: Iterator[pa.RecordBatch],
    name: str,
    k: int,
    filter_seen_items: bool,
    has_candidates: bool,
    schema: pa.Schema,
) -> Iterator[pa.RecordBatch]:
    """``mapInArrow`` kernel: recommendations for every target user of one partition."""
    table = _partition_rows(batches)
    if table is None:
        return
    configure_executor_threads()
    model, extra = _load_shipped(name)
    users = table.column(USER_COL).to_numpy(zero_copy_only=False).astype(np.int64)
    items_col = table.column(ITEM_COL)
    is_history = items_col.is_valid().to_numpy(zero_copy_only=False)
    items = items_col.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)

    candidates = np.asarray(extra["candidates"]) if has_candidates else None
    result = model._recommend_block(
        np.unique(users),
        users[is_history],
        items[is_history],
        candidates,
        k,
        filter_seen_items,
        _history_relevance(table, is_history),
    )
    if len(result.users):
        # Two batches with the fault point between them: a worker that dies there has
        # already yielded rows, which Spark must drop when it retries the task.
        batch = _result_batch(result, schema)
        half = batch.num_rows // 2
        if half:
            yield batch.slice(0, half)
        _fault_point()
        yield batch.slice(half)


def _pairs_partition(
    batches: Iterator[pa.RecordBatch], name: str, schema: pa.Schema
) -> Iterator[pa.RecordBatch]:
    """``mapInArrow`` kernel: scores of the pairs of one partition."""
    table = _partition_rows(batches)
    if table is None:
        return
    configure_executor_threads()
    model, _ = _load_shipped(name)
    users = table.column(USER_COL).to_numpy(zero_copy_only=False).astype(np.int64)
    items = table.column(ITEM_COL).to_numpy(zero_copy_only=False).astype(np.int64)
    is_pair = table.column("_is_pair").to_numpy(zero_copy_only=False).astype(bool)
    result = model._pairs_block(
        users[is_pair], items[is_pair], users[~is_pair], items[~is_pair],
        _history_relevance(table, ~is_pair),
    )
    if len(result.users):
        yield _result_batch(result, schema)


def _history_relevance(table: pa.Table, is_history: np.ndarray) -> np.ndarray | None:
    """The history rows' relevance, when the rows carry it (``uses_history_relevance``)."""
    if RELEVANCE_COL not in table.column_names:
        return None
    column = table.column(RELEVANCE_COL).fill_null(0.0)
    return column.to_numpy(zero_copy_only=False).astype(np.float64)[is_history]


def _relevance_column(model: "Recommender", log: Any, marker: bool) -> list[Any]:
    """``[relevance]`` to add to the rows when the model reads the history's relevance.

    ``marker`` rows (target users, pairs) get null; history rows get the log's relevance.
    """
    from pyspark.sql import functions as sf

    if not model.uses_history_relevance or log is None or RELEVANCE_COL not in log.columns:
        return []
    value = sf.lit(None) if marker else sf.col(RELEVANCE_COL)
    return [value.cast("double").alias(RELEVANCE_COL)]


_INT32_MAX = np.iinfo(np.int32).max
_NARROW_SPARK_INTS = {"ByteType", "ShortType", "IntegerType"}


def _narrow(fit_dtype: np.dtype, sources: list[Any]) -> bool:
    """Whether output ids fit Spark ``int``: the fit ids did and so does every other source.

    A source is a Spark column type name (``"IntegerType"``, ...) or an array of raw ids.
    Ids that cannot fit int32 widen the output to ``bigint`` instead of wrapping around.
    """
    if np.dtype(fit_dtype) != np.int32:
        return False
    for source in sources:
        if isinstance(source, str):
            if source not in _NARROW_SPARK_INTS:
                return False
        elif source is not None and len(source) and int(np.max(source)) > _INT32_MAX:
            return False
    return True


def _column_type(frame: Any, column: str) -> str | None:
    if not is_spark_frame(frame):
        return None
    field = frame.schema[column]
    return type(field.dataType).__name__


def _output_schema(narrow_users: bool, narrow_items: bool) -> tuple[pa.Schema, str]:
    """Arrow schema and Spark DDL of a recommendation frame."""
    user_type, item_type = ("int" if narrow_users else "bigint"), (
        "int" if narrow_items else "bigint"
    )
    arrow = pa.schema(
        [
            (USER_COL, pa.int32() if narrow_users else pa.int64()),
            (ITEM_COL, pa.int32() if narrow_items else pa.int64()),
            (RELEVANCE_COL, pa.float64()),
        ]
    )
    ddl = f"{USER_COL} {user_type}, {ITEM_COL} {item_type}, {RELEVANCE_COL} double"
    return arrow, ddl


def _partitions(session: Any) -> int:
    return int(session.conf.get("spark.sql.shuffle.partitions", "4"))


def _target_users(model: "Recommender", session: Any, log: Any, users: Any) -> Any:
    from pyspark.sql import functions as sf

    from reclib.models.base import ids_argument

    if is_spark_frame(users):
        check_columns(users.columns, [USER_COL], "users")
        if _column_type(users, USER_COL) not in _NARROW_SPARK_INTS | {"LongType"}:
            raise ColumnTypeError(
                f"column `{USER_COL}` of `users` has Spark type "
                f"{_column_type(users, USER_COL)}; expected an integer type"
            )
        _check_id_frame(users, "users", USER_COL)
        frame = users.select(sf.col(USER_COL).cast("bigint").alias(USER_COL))
    elif users is not None:
        ids = ids_argument(users, "users", USER_COL)
        frame = session.createDataFrame(pd.DataFrame({USER_COL: ids}))
    elif log is not None:
        frame = log.select(sf.col(USER_COL).cast("bigint").alias(USER_COL))
    else:
        frame = session.createDataFrame(pd.DataFrame({USER_COL: model.fit_users}))
    return frame.distinct()


def _check_id_frame(frame: Any, name: str, column: str) -> None:
    """Refuse null or negative ids in a Spark ``users`` / ``items`` frame, as pandas does.

    One small aggregate job; the messages are those of a list or pandas frame given instead.
    """
    from pyspark.sql import functions as sf

    ids = sf.col(column)
    row = frame.agg(
        sf.sum(ids.isNull().cast("long")).alias("nulls"), sf.min(ids).alias("smallest")
    ).first()
    if row["nulls"]:
        raise InvalidParameterError(
            f"`{name}` must hold integer ids, got {row['nulls']} null value(s) in column "
            f"`{column}`"
        )
    if row["smallest"] is not None and row["smallest"] < 0:
        raise InvalidParameterError(f"`{name}` must hold ids >= 0, got {row['smallest']}")


def _check_history(model: "Recommender", log: Any) -> None:
    """The pandas engine's checks of a predict log (types, then values in one job).

    Null or negative ids are refused (a null ``item_idx`` would otherwise pass for a target-user
    marker row); ``relevance`` is checked only where the pandas engine reads it.
    """
    read = model.uses_history_relevance and RELEVANCE_COL in log.columns
    check_spark_log(log, [USER_COL, ITEM_COL] + ([RELEVANCE_COL] if read else []), "log")
    check_spark_values(log, "log", need_relevance=read)


def predict(
    model: "Recommender",
    log: Any,
    k: int,
    users: Any,
    items: Any,
    filter_seen_items: bool,
) -> Any:
    """Run the predict pipeline on Spark executors; returns a Spark DataFrame."""
    from pyspark.sql import functions as sf

    from reclib.models.base import ids_argument

    session = session_of(log, users, items)
    if log is not None and not is_spark_frame(log):
        log = session.createDataFrame(log)
    if log is not None:
        _check_history(model, log)

    targets = _target_users(model, session, log, users)
    rows = targets.select(
        USER_COL,
        sf.lit(None).cast("bigint").alias(ITEM_COL),
        *_relevance_column(model, log, marker=True),
    )
    if log is not None:
        history = log.select(
            sf.col(USER_COL).cast("bigint").alias(USER_COL),
            sf.col(ITEM_COL).cast("bigint").alias(ITEM_COL),
            *_relevance_column(model, log, marker=False),
        )
        if users is not None:
            history = history.join(targets, on=USER_COL, how="left_semi")
        rows = rows.unionByName(history)

    candidates = ids_argument(items, "items", ITEM_COL)
    user_ids = None if is_spark_frame(users) else ids_argument(users, "users", USER_COL)
    narrow_users = _narrow(model._user_dtype, [
        _column_type(users, USER_COL) if is_spark_frame(users) else user_ids,
        _column_type(log, USER_COL) if users is None and log is not None else None,
    ])
    narrow_items = _narrow(model._item_dtype, [candidates])
    extra = {"candidates": candidates} if candidates is not None else None
    name = ship_model(model, session, extra)
    arrow_schema, ddl = _output_schema(narrow_users, narrow_items)
    kernel = functools.partial(
        _predict_partition,
        name=name,
        k=k,
        filter_seen_items=filter_seen_items,
        has_candidates=candidates is not None,
        schema=arrow_schema,
    )
    return rows.repartition(_partitions(session), USER_COL).mapInArrow(kernel, ddl)


def predict_pairs(model: "Recommender", pairs: Any, log: Any) -> Any:
    """Score pairs on Spark executors; returns a Spark DataFrame."""
    from pyspark.sql import functions as sf

    session = session_of(pairs, log)
    if not is_spark_frame(pairs):
        pairs = session.createDataFrame(pairs)
    check_spark_log(pairs, [USER_COL, ITEM_COL], "pairs")
    check_spark_values(pairs, "pairs", need_relevance=False)
    if log is not None and not is_spark_frame(log):
        log = session.createDataFrame(log)
    rows = pairs.select(
        sf.col(USER_COL).cast("bigint").alias(USER_COL),
        sf.col(ITEM_COL).cast("bigint").alias(ITEM_COL),
        sf.lit(True).alias("_is_pair"),
        *_relevance_column(model, log, marker=True),
    )
    if log is not None:
        _check_history(model, log)
        history = log.select(
            sf.col(USER_COL).cast("bigint").alias(USER_COL),
            sf.col(ITEM_COL).cast("bigint").alias(ITEM_COL),
            sf.lit(False).alias("_is_pair"),
            *_relevance_column(model, log, marker=False),
        ).join(pairs.select(sf.col(USER_COL).cast("bigint").alias(USER_COL)).distinct(),
               on=USER_COL, how="left_semi")
        rows = rows.unionByName(history)

    name = ship_model(model, session)
    arrow_schema, ddl = _output_schema(
        _narrow(model._user_dtype, [_column_type(pairs, USER_COL)]),
        _narrow(model._item_dtype, [_column_type(pairs, ITEM_COL)]),
    )
    kernel = functools.partial(_pairs_partition, name=name, schema=arrow_schema)
    return rows.repartition(_partitions(session), USER_COL).mapInArrow(kernel, ddl)
