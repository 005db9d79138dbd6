"""The Spark engine: Spark DataFrames in, Spark DataFrames out, kernels on the executors.

How a fitted model predicts on Spark (``SPARK.md`` has the measurements behind each choice):

1. The model's fitted state (``Recommender.export_state``) is written once per call as ``.npy``
   files plus a JSON manifest into a temporary directory, which ``SparkContext.addFile`` ships to
   every executor.  Executors open the arrays with ``mmap`` (shared between Python workers of a
   node) and rebuild the model once per worker process.
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
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa

from reclib._logging import get_logger
from reclib.data.schema import (
    ITEM_COL,
    RELEVANCE_COL,
    USER_COL,
    check_columns,
    check_spark_log,
)
from reclib.engines.frames import is_spark_frame
from reclib.engines.spark_session import require_pyspark
from reclib.exceptions import EngineError

if TYPE_CHECKING:
    from reclib.models.base import BlockResult, Recommender

__all__ = ["predict", "predict_pairs", "to_spark", "ship_model", "session_of"]

logger = get_logger(__name__)

_SHIP_ROOT: Path | None = None
_EXECUTOR_MODELS: dict[str, "Recommender"] = {}


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


def ship_model(
    model: "Recommender", session: Any, extra: dict[str, np.ndarray] | None = None
) -> str:
    """Write the model's state to a fresh directory and ``addFile`` it; return its name.

    ``extra`` arrays (for example the candidate items of one call) travel in the same
    directory under ``extra.<name>``.
    """
    meta, arrays = model.export_state()
    name = f"reclib-model-{uuid.uuid4().hex}"
    directory = _ship_root() / name
    directory.mkdir()
    for key, array in {**arrays, **{f"extra.{k}": v for k, v in (extra or {}).items()}}.items():
        np.save(directory / f"{key}.npy", np.ascontiguousarray(array), allow_pickle=False)
    (directory / "meta.json").write_text(json.dumps(meta))
    session.sparkContext.addFile(str(directory), recursive=True)
    return name


def _load_shipped(name: str) -> tuple["Recommender", dict[str, np.ndarray]]:
    """On an executor: the shipped model (cached per worker process) and its extra arrays."""
    from pyspark import SparkFiles

    root = Path(SparkFiles.get(name))
    arrays = {
        path.stem: np.load(path, mmap_mode="r", allow_pickle=False)
        for path in root.glob("*.npy")
    }
    extra = {k.removeprefix("extra."): v for k, v in arrays.items() if k.startswith("extra.")}
    if name not in _EXECUTOR_MODELS:
        meta = json.loads((root / "meta.json").read_text())
        module_name, _, class_name = meta["class"].rpartition(".")
        cls = getattr(importlib.import_module(module_name), class_name)
        state = {k: v for k, v in arrays.items() if not k.startswith("extra.")}
        _EXECUTOR_MODELS[name] = cls.from_state(meta, state)
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
    )
    if len(result.users):
        yield _result_batch(result, schema)


def _pairs_partition(
    batches: Iterator[pa.RecordBatch], name: str, schema: pa.Schema
) -> Iterator[pa.RecordBatch]:
    """``mapInArrow`` kernel: scores of the pairs of one partition."""
    table = _partition_rows(batches)
    if table is None:
        return
    model, _ = _load_shipped(name)
    users = table.column(USER_COL).to_numpy(zero_copy_only=False).astype(np.int64)
    items = table.column(ITEM_COL).to_numpy(zero_copy_only=False).astype(np.int64)
    is_pair = table.column("_is_pair").to_numpy(zero_copy_only=False).astype(bool)
    result = model._pairs_block(
        users[is_pair], items[is_pair], users[~is_pair], items[~is_pair]
    )
    if len(result.users):
        yield _result_batch(result, schema)


def _output_schema(model: "Recommender") -> tuple[pa.Schema, str]:
    user_type, item_type = _spark_type(model._user_dtype), _spark_type(model._item_dtype)
    arrow = pa.schema(
        [
            (USER_COL, pa.int32() if user_type == "int" else pa.int64()),
            (ITEM_COL, pa.int32() if item_type == "int" else pa.int64()),
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
        frame = users.select(sf.col(USER_COL).cast("bigint").alias(USER_COL))
    elif users is not None:
        ids = ids_argument(users, "users", USER_COL)
        frame = session.createDataFrame(pd.DataFrame({USER_COL: ids}))
    elif log is not None:
        frame = log.select(sf.col(USER_COL).cast("bigint").alias(USER_COL))
    else:
        frame = session.createDataFrame(pd.DataFrame({USER_COL: model.fit_users}))
    return frame.distinct()


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
        check_spark_log(log, [USER_COL, ITEM_COL], "log")

    targets = _target_users(model, session, log, users)
    rows = targets.select(USER_COL, sf.lit(None).cast("bigint").alias(ITEM_COL))
    if log is not None:
        history = log.select(
            sf.col(USER_COL).cast("bigint").alias(USER_COL),
            sf.col(ITEM_COL).cast("bigint").alias(ITEM_COL),
        )
        if users is not None:
            history = history.join(targets, on=USER_COL, how="left_semi")
        rows = rows.unionByName(history)

    candidates = ids_argument(items, "items", ITEM_COL)
    extra = {"candidates": candidates} if candidates is not None else None
    name = ship_model(model, session, extra)
    arrow_schema, ddl = _output_schema(model)
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
    rows = pairs.select(
        sf.col(USER_COL).cast("bigint").alias(USER_COL),
        sf.col(ITEM_COL).cast("bigint").alias(ITEM_COL),
        sf.lit(True).alias("_is_pair"),
    )
    if log is not None:
        if not is_spark_frame(log):
            log = session.createDataFrame(log)
        check_spark_log(log, [USER_COL, ITEM_COL], "log")
        history = log.select(
            sf.col(USER_COL).cast("bigint").alias(USER_COL),
            sf.col(ITEM_COL).cast("bigint").alias(ITEM_COL),
            sf.lit(False).alias("_is_pair"),
        ).join(pairs.select(sf.col(USER_COL).cast("bigint").alias(USER_COL)).distinct(),
               on=USER_COL, how="left_semi")
        rows = rows.unionByName(history)

    name = ship_model(model, session)
    arrow_schema, ddl = _output_schema(model)
    kernel = functools.partial(_pairs_partition, name=name, schema=arrow_schema)
    return rows.repartition(_partitions(session), USER_COL).mapInArrow(kernel, ddl)
