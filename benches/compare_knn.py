"""End-to-end item-KNN comparison on MovieLens 1M: reclib (pandas and Spark-local) vs anchors.

The work measured is the same for every contender: fit an item-item cosine model keeping
``--neighbours`` neighbours per item on all 1,000,209 ratings (binary weights), then recommend
the top 10 unseen items to every one of the 6,040 users.

Each contender runs in a fresh subprocess so that its peak RSS is its own.  The script prints,
for each: seconds (best of ``--repeat``), peak RSS, and its ratio to reclib's pandas engine; plus
the mean overlap of the top-10 lists with reclib's (|A ∩ B| / 10 averaged over users).

Anchors:

* implicit's ``CosineRecommender`` (``K = neighbours + 1``: implicit keeps the item itself among
  its K neighbours, reclib does not);
* RePlay's Spark ``ItemKNN`` when a RePlay environment is given with ``--replay-python`` (a
  separate virtualenv, since RePlay pins an older pyspark); its runner is
  ``benches/replay_knn_runner.py``.

Usage::

    python benches/compare_knn.py --data-dir ../shared/data [--neighbours 100] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def load_ml1m(data_dir: str | None) -> pd.DataFrame:
    from reclib.data.datasets import load_dataset
    from reclib.data.indexer import Indexer

    raw = load_dataset("ml-1m", data_dir=data_dir)
    log = Indexer(user_col="user_id", item_col="item_id").fit_transform(raw)
    return log[["user_idx", "item_idx", "relevance"]]


def run_reclib_pandas(log: pd.DataFrame, neighbours: int) -> tuple[float, pd.DataFrame]:
    from reclib.models import KNN

    start = time.perf_counter()
    recs = KNN(num_neighbours=neighbours).fit(log).predict(log, 10)
    return time.perf_counter() - start, recs


def run_reclib_spark(log: pd.DataFrame, neighbours: int) -> tuple[float, pd.DataFrame]:
    from reclib.engines.spark_session import local_session
    from reclib.models import KNN

    spark = local_session(cores=os.cpu_count() or 2, shuffle_partitions=4, driver_memory="4g")
    frame = spark.createDataFrame(log).cache()
    frame.count()
    start = time.perf_counter()
    recs = KNN(num_neighbours=neighbours).fit(frame).predict(frame, 10).cache()
    recs.count()
    elapsed = time.perf_counter() - start
    return elapsed, recs.toPandas()


def run_implicit(log: pd.DataFrame, neighbours: int) -> tuple[float, pd.DataFrame]:
    import scipy.sparse as sp
    from implicit.nearest_neighbours import CosineRecommender

    n_users, n_items = log["user_idx"].max() + 1, log["item_idx"].max() + 1
    start = time.perf_counter()
    matrix = sp.csr_matrix(
        (np.ones(len(log)), (log["user_idx"].to_numpy(), log["item_idx"].to_numpy())),
        shape=(n_users, n_items),
    )
    model = CosineRecommender(K=neighbours + 1)
    model.fit(matrix, show_progress=False)
    users = np.arange(n_users)
    ids, scores = model.recommend(users, matrix, N=10, filter_already_liked_items=True)
    elapsed = time.perf_counter() - start
    keep = np.isfinite(scores) & (ids >= 0)
    recs = pd.DataFrame(
        {
            "user_idx": np.repeat(users, ids.shape[1])[keep.ravel()],
            "item_idx": ids.ravel()[keep.ravel()],
            "relevance": scores.ravel()[keep.ravel()],
        }
    )
    return elapsed, recs


RUNNERS = {"reclib-pandas": run_reclib_pandas, "reclib-spark": run_reclib_spark,
           "implicit": run_implicit}


def child(name: str, data_dir: str | None, neighbours: int, repeat: int, out: str) -> None:
    """Run one contender ``repeat`` times in this process; write timings and the last recs."""
    log = load_ml1m(data_dir)
    times = []
    for _ in range(repeat):
        elapsed, recs = RUNNERS[name](log, neighbours)
        times.append(elapsed)
    recs.to_parquet(out)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"name": name, "times": times, "peak_mib": peak_kib / 1024}))


def overlap(left: pd.DataFrame, right: pd.DataFrame) -> float:
    def lists(recs: pd.DataFrame) -> dict[int, set[int]]:
        recs = recs.sort_values(["user_idx", "relevance", "item_idx"],
                                ascending=[True, False, True])
        top = recs.groupby("user_idx").head(10)
        return top.groupby("user_idx")["item_idx"].apply(set).to_dict()

    a, b = lists(left), lists(right)
    users = set(a) | set(b)
    return float(np.mean([len(a.get(u, set()) & b.get(u, set())) / 10 for u in users]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("RECLIB_DATA"))
    parser.add_argument("--neighbours", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--only", nargs="*", default=list(RUNNERS))
    parser.add_argument("--replay-python", default=None,
                        help="python of a virtualenv with replay-rec installed")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        child(args.child, args.data_dir, args.neighbours, args.repeat, args.out)
        return

    import implicit

    import reclib

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()}")
    print(f"reclib {reclib.__version__}, implicit {implicit.__version__}, "
          f"numpy {np.__version__}, python {platform.python_version()}")
    print(f"work: ml-1m, item-KNN cosine, {args.neighbours} neighbours, "
          "fit + top-10 unseen for all 6,040 users\n")

    results, recs = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        contenders = [(name, [sys.executable, __file__]) for name in args.only]
        if args.replay_python:
            contenders.append(("replay-spark", [args.replay_python,
                                                str(HERE / "replay_knn_runner.py")]))
        for name, command in contenders:
            out = str(Path(tmp) / f"{name}.parquet")
            proc = subprocess.run(
                command + ["--child", name, "--neighbours", str(args.neighbours),
                           "--repeat", str(args.repeat), "--out", out]
                + (["--data-dir", args.data_dir] if args.data_dir else []),
                capture_output=True, text=True, check=False,
            )
            if proc.returncode != 0:
                print(f"{name}: failed\n{proc.stderr[-2000:]}")
                continue
            results[name] = json.loads(proc.stdout.strip().splitlines()[-1])
            recs[name] = pd.read_parquet(out)

    base = min(results["reclib-pandas"]["times"]) if "reclib-pandas" in results else None
    header = f"{'contender':<15} {'best s':>8} {'peak MiB':>9} {'x reclib-pandas':>16} " \
             f"{'top-10 overlap':>15}"
    print(header)
    print("-" * len(header))
    for name, result in results.items():
        best = min(result["times"])
        ratio = best / base if base else float("nan")
        same = overlap(recs["reclib-pandas"], recs[name]) if "reclib-pandas" in recs else 0.0
        print(f"{name:<15} {best:>8.2f} {result['peak_mib']:>9.0f} {ratio:>16.2f} {same:>15.4f}")
    if base and "implicit" in results:
        print(f"\nimplicit / reclib-pandas time ratio: "
              f"{min(results['implicit']['times']) / base:.2f}x (reclib faster when > 1)")
    if base and "replay-spark" in results:
        print(f"RePlay ItemKNN / reclib-pandas time ratio: "
              f"{min(results['replay-spark']['times']) / base:.1f}x")


if __name__ == "__main__":
    main()
