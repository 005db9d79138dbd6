"""RePlay's Spark item-KNN on MovieLens 1M: the anchor runner for ``compare_knn.py``.

Run it with the python of a separate virtualenv that has ``replay-rec[spark]`` installed (RePlay
pins its own numpy/pandas/pyspark ranges, so it does not share reclib's environment)::

    /work/replay-venv/bin/python benches/replay_knn_runner.py --child replay-spark \\
        --neighbours 100 --repeat 2 --out /tmp/replay.parquet [--data-dir DIR]

What is measured, and why
-------------------------
The same work as every other contender of ``compare_knn.py``: fit an item-item cosine KNN that
keeps ``--neighbours`` neighbours per item on all 1,000,209 ml-1m ratings with binary weights
(``use_rating=False``, ``shrink=0``, no re-weighting), then recommend the top 10 unseen items
(``filter_seen_items=True``) to all 6,040 users, and materialise the result.

* Ids are mapped to dense ints exactly as reclib's ``Indexer`` does (the position of the raw id
  in the sorted distinct raw ids), so the recommendations can be compared item by item.
* The Spark session is local, loopback-only, without UI, with the same core count, shuffle
  partitions, driver memory and time zone as reclib's Spark contender, and it is handed to
  RePlay through ``State(session)`` so that RePlay never builds its own (which would add a
  jar from a remote repository on Spark 3.x).
* The input is built as a RePlay ``Dataset`` over a cached, counted Spark DataFrame *before*
  the timer starts: reading the file and creating the DataFrame are not RePlay's work.
* Each of the ``--repeat`` timings covers ``ItemKNN.fit`` + ``ItemKNN.predict`` only, ending when
  the recommendations are materialised (RePlay's ``predict`` caches and counts them itself; if
  a version does not, the runner does). Caches of the previous repetition are dropped outside
  the timer. The last repetition's recommendations are written to ``--out`` as Parquet with
  ``user_idx`` (int64), ``item_idx`` (int64) and ``relevance`` (float64).

The last line on stdout is a JSON object ``{"name", "times", "peak_mib", "replay_version",
"pyspark_version", "jvm_peak_mib"}``. ``peak_mib`` is the driver (Python) process's
``ru_maxrss``, the same measure as reclib's Spark contender; the JVM runs in a child process
that is not counted there, so its own peak (``VmHWM``) is reported apart as ``jvm_peak_mib``
(``null`` where it cannot be read). Everything else goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from replay.data import Dataset
    from replay.models import ItemKNN

DEFAULT_DATA_DIR = "/work/shared/data"
RATINGS_FILE = Path("ml-1m") / "ratings_without_timestamps.dat.gz"
TOP_K = 10
QUERY_COL, ITEM_COL, RATING_COL = "query_id", "item_id", "rating"


def log(message: str) -> None:
    """Print a progress line to stderr (stdout is kept for the final JSON line)."""
    print(f"[replay-runner] {message}", file=sys.stderr, flush=True)


def load_ratings(data_dir: str) -> pd.DataFrame:
    """Read ml-1m ratings and map raw ids to reclib's dense ids.

    Returns a frame with ``query_id`` / ``item_id`` (int64 dense ids: the position of the raw id
    in the sorted distinct raw ids, as ``np.unique``'s inverse gives it) and ``rating``
    (float64, the raw 1-5 rating; ItemKNN ignores it with ``use_rating=False``).
    """
    path = Path(data_dir) / RATINGS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; pass --data-dir or set RECLIB_DATA")
    # "::" separated; read with sep=":" (fast C parser) and skip the empty columns between.
    raw = pd.read_csv(path, sep=":", header=None, usecols=[0, 2, 4],
                      names=["user", "_a", "item", "_b", "rating"], compression="gzip")
    _, user_idx = np.unique(raw["user"].to_numpy(), return_inverse=True)
    _, item_idx = np.unique(raw["item"].to_numpy(), return_inverse=True)
    return pd.DataFrame({
        QUERY_COL: user_idx.astype(np.int64),
        ITEM_COL: item_idx.astype(np.int64),
        RATING_COL: raw["rating"].to_numpy(dtype=np.float64),
    })


def build_session() -> SparkSession:
    """Build the local Spark session (loopback only, no UI, UTC), like reclib's contender."""
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # no guessing of a non-loopback address
    from pyspark.sql import SparkSession

    cores = os.cpu_count() or 2
    session = (
        SparkSession.builder.master(f"local[{cores}]")
        .appName("replay-knn-bench")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.default.parallelism", str(cores))
        .config("spark.driver.memory", "4g")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session


def build_dataset(session: SparkSession, ratings: pd.DataFrame) -> Dataset:
    """Wrap the ratings in a RePlay ``Dataset`` over a cached, counted Spark DataFrame."""
    from replay.data import Dataset, FeatureHint, FeatureInfo, FeatureSchema, FeatureType

    frame = session.createDataFrame(ratings).cache()
    rows = frame.count()
    log(f"input: {rows} rows cached")
    schema = FeatureSchema([
        FeatureInfo(column=QUERY_COL, feature_type=FeatureType.CATEGORICAL,
                    feature_hint=FeatureHint.QUERY_ID),
        FeatureInfo(column=ITEM_COL, feature_type=FeatureType.CATEGORICAL,
                    feature_hint=FeatureHint.ITEM_ID),
        FeatureInfo(column=RATING_COL, feature_type=FeatureType.NUMERICAL,
                    feature_hint=FeatureHint.RATING),
    ])
    return Dataset(feature_schema=schema, interactions=frame)


def fit_predict(dataset: Dataset, neighbours: int) -> tuple[float, ItemKNN, DataFrame]:
    """Time one fit + predict (top 10 unseen for every user) up to materialised recs.

    Returns ``(seconds, model, recs)``; ``recs`` is a cached Spark DataFrame.
    """
    from replay.models import ItemKNN

    start = time.perf_counter()
    model = ItemKNN(num_neighbours=neighbours, use_rating=False, shrink=0.0, weighting=None)
    model.fit(dataset)
    recs = model.predict(dataset, k=TOP_K, filter_seen_items=True)
    if not recs.is_cached:  # RePlay's predict caches and counts; make sure either way
        recs = recs.cache()
        recs.count()
    return time.perf_counter() - start, model, recs


def jvm_peak_mib(session: SparkSession) -> float | None:
    """Peak resident memory (``VmHWM``) of the Spark JVM, in MiB, or None if unreadable."""
    try:
        jvm = session.sparkContext._jvm
        if jvm is None:
            return None
        pid = int(jvm.java.lang.ProcessHandle.current().pid())
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except Exception as err:  # noqa: BLE001 - an optional extra measure
        log(f"JVM peak memory not available: {err}")
    return None


def to_dense_frame(recs: DataFrame) -> pd.DataFrame:
    """Collect RePlay's recs and name/type them as reclib does."""
    frame = pd.DataFrame(recs.select(QUERY_COL, ITEM_COL, RATING_COL).toPandas())
    return pd.DataFrame({
        "user_idx": frame[QUERY_COL].to_numpy(dtype=np.int64),
        "item_idx": frame[ITEM_COL].to_numpy(dtype=np.int64),
        "relevance": frame[RATING_COL].to_numpy(dtype=np.float64),
    })


def run(neighbours: int, repeat: int, out: str, data_dir: str) -> dict[str, Any]:
    """Load, build, time ``repeat`` fit+predict runs, write the last recs; return the result."""
    ratings = load_ratings(data_dir)
    log(f"ratings: {len(ratings)} rows, {ratings[QUERY_COL].nunique()} users, "
        f"{ratings[ITEM_COL].nunique()} items")
    session = build_session()
    from replay.utils.session_handler import State

    State(session)  # RePlay picks up this session instead of building its own
    dataset = build_dataset(session, ratings)

    elapsed, model, recs = fit_predict(dataset, neighbours)
    times = [elapsed]
    log(f"repetition 1/{repeat}: {elapsed:.2f} s")
    for rep in range(2, repeat + 1):
        recs.unpersist()  # drop the previous repetition's caches, outside the timer
        if model.similarity is not None:
            model.similarity.unpersist()
        elapsed, model, recs = fit_predict(dataset, neighbours)
        times.append(elapsed)
        log(f"repetition {rep}/{repeat}: {elapsed:.2f} s")

    result = to_dense_frame(recs)
    result.to_parquet(out, index=False)
    log(f"wrote {len(result)} recommendations for {result['user_idx'].nunique()} users to {out}")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    jvm_mib = jvm_peak_mib(session)
    session.stop()
    return {
        "name": "replay-spark",
        "times": times,
        "peak_mib": peak_mib,
        "replay_version": version("replay-rec"),
        "pyspark_version": version("pyspark"),
        "jvm_peak_mib": jvm_mib,
    }


def main() -> None:
    """Parse the command line (the ``compare_knn.py`` child protocol) and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", required=True, choices=["replay-spark"])
    parser.add_argument("--neighbours", type=int, required=True)
    parser.add_argument("--repeat", type=int, required=True)
    parser.add_argument("--out", required=True, help="Parquet file for the last recs")
    parser.add_argument("--data-dir", default=os.environ.get("RECLIB_DATA") or DEFAULT_DATA_DIR)
    args = parser.parse_args()
    if args.neighbours < 1 or args.repeat < 1:
        parser.error("--neighbours and --repeat must be at least 1")
    result = run(args.neighbours, args.repeat, args.out, args.data_dir)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
