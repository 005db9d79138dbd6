"""Factor-model wrappers against their libraries called directly: quality and overhead.

Two measurements, both in one run on one machine (``EVALUATION.md`` §1, §6, §7):

1. **Quality** on MovieLens 100k, standard experiment split (per-user last 20 %, cold test rows
   dropped; train relevance = rating), top-10 unseen items for every test user, NDCG@10 from
   ``reclib.metrics.NDCG``; mean over ``--seeds`` seeds, each side with the same seed:

   * ``ALSWrap(rank=10)`` (pandas: implicit's ALS on Spark's confidence ``1 + r``) against
     implicit's ``AlternatingLeastSquares(factors=10, regularization=0.1, iterations=10,
     alpha=1.0)`` on the rating matrix (implicit's confidence ``r``), and on ``1 + r``;
   * ``ImplicitWrap(AlternatingLeastSquares(...))`` and ``ImplicitWrap(CosineRecommender(K=20))``
     against the same implicit model's batched ``recommend``;
   * ``LightFMWrap(no_components=128, loss="warp")`` (10 epochs, one thread) against
     ``LightFM`` fitted on the same matrix, ranked by its representations.

   With ``--spark``, also ``ALSWrap`` fitted on a Spark log (Spark ML's ALS, local[2]) and
   predicted on Spark, against Spark ML's ALS fitted with the same parameters and ranked by
   its own ``recommendForUserSubset`` (seen items removed afterwards, then cut to 10).

   With ``--spark``, also ``Word2VecRec()`` (defaults) on the pandas engine, whose skip-gram
   is reclib's Rust port of Spark ML's training loop, against ``Word2VecRec()`` fitted on a
   Spark log, whose vectors come from Spark ML's ``Word2Vec`` itself (same sentences, same
   scoring).  Spark's result depends on the order in which ``groupBy`` hands it the
   sentences (``spark.sql.shuffle.partitions``), so both sides are printed per seed.

   The check: reclib's NDCG@10 >= the library's * 0.98.

2. **Overhead** on MovieLens 1M (all 1,000,209 ratings): fit + top-10 unseen items for all
   6,040 users, reclib (pandas engine) time / library time, best of ``--repeat``; the
   library side builds its CSR from the same arrays and ranks with its own tools (implicit's
   batched ``recommend``; LightFM's representations, one matrix product, ``argpartition``).
   Target: ratio < 1.20.

Usage::

    python benches/compare_factor.py --data-dir ../shared/data [--seeds 3] [--repeat 1]
        [--skip-quality] [--skip-speed] [--lightfm-components 128] [--spark]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

K = 10


# --------------------------------------------------------------------------------------------
# Data


def indexed(name: str, data_dir: str | None) -> pd.DataFrame:
    from reclib.data.datasets import load_dataset
    from reclib.data.indexer import Indexer

    raw = load_dataset(name, data_dir=data_dir)
    return Indexer(user_col="user_id", item_col="item_id").fit_transform(raw)


def matrix_of(log: pd.DataFrame, values: np.ndarray | None = None) -> tuple[sp.csr_matrix, ...]:
    """User x item CSR (duplicates summed) on sorted-id positions, and the two id arrays."""
    users, u = np.unique(log["user_idx"].to_numpy(), return_inverse=True)
    items, i = np.unique(log["item_idx"].to_numpy(), return_inverse=True)
    data = log["relevance"].to_numpy(np.float32) if values is None else values
    matrix = sp.csr_matrix((data, (u, i)), shape=(len(users), len(items)), dtype=np.float32)
    matrix.sum_duplicates()
    return matrix, users, items


def frame_of(users: np.ndarray, ids: np.ndarray, scores: np.ndarray, items: np.ndarray) -> Any:
    """A library's ``(ids, scores)`` per user as a recommendation frame on raw ids."""
    rows = np.repeat(users, ids.shape[1])
    keep = (ids.ravel() >= 0) & np.isfinite(scores.ravel()) & (scores.ravel() > -1e30)
    return pd.DataFrame(
        {
            "user_idx": rows[keep],
            "item_idx": items[ids.ravel()[keep]],
            "relevance": scores.ravel()[keep].astype(np.float64),
        }
    )


def topk_dense_numpy(
    user_vectors: np.ndarray, item_vectors: np.ndarray, user_bias: np.ndarray,
    item_bias: np.ndarray, seen: sp.csr_matrix, k: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Plain numpy top-k of ``U V^T + biases`` with seen items removed (by blocks of users)."""
    out_ids = np.zeros((len(user_vectors), k), dtype=np.int64)
    out_scores = np.zeros((len(user_vectors), k))
    step = max(1, (1 << 24) // max(len(item_vectors), 1))
    for start in range(0, len(user_vectors), step):
        stop = min(start + step, len(user_vectors))
        scores = user_vectors[start:stop] @ item_vectors.T + item_bias[None, :]
        scores += user_bias[start:stop, None]
        block = seen[start:stop].tocoo()
        scores[block.row, block.col] = -np.inf
        part = np.argpartition(-scores, k, axis=1)[:, :k]
        part_scores = np.take_along_axis(scores, part, axis=1)
        order = np.argsort(-part_scores, axis=1)
        out_ids[start:stop] = np.take_along_axis(part, order, axis=1)
        out_scores[start:stop] = np.take_along_axis(part_scores, order, axis=1)
    return out_ids, out_scores


# --------------------------------------------------------------------------------------------
# The contenders (each returns a recommendation frame for `users` of `train`)


def implicit_als(rank: int, seed: int, threads: int = 0) -> Any:
    from implicit.cpu.als import AlternatingLeastSquares

    return AlternatingLeastSquares(
        factors=rank, regularization=0.1, iterations=10, alpha=1.0, random_state=seed,
        num_threads=threads,
    )


def direct_implicit(make: Callable[[], Any], train: pd.DataFrame, users: np.ndarray,
                    confidence: str = "r") -> pd.DataFrame:
    from threadpoolctl import threadpool_limits

    seen, fit_users, items = matrix_of(train)
    matrix = seen
    if confidence == "1+r":
        matrix = seen.copy()
        matrix.data = 1.0 + matrix.data
    model = make()
    with threadpool_limits(1, "blas"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Method expects CSR input")  # implicit's own
        model.fit(matrix, show_progress=False)
    rows = np.searchsorted(fit_users, users)
    ids, scores = model.recommend(rows, seen[rows], N=K, filter_already_liked_items=True)
    return frame_of(users, ids, scores, items)


def direct_lightfm(train: pd.DataFrame, users: np.ndarray, components: int, seed: int
                   ) -> pd.DataFrame:
    from lightfm import LightFM

    matrix, fit_users, items = matrix_of(train)
    model = LightFM(no_components=components, loss="warp", random_state=seed)
    model.fit(matrix.tocoo(), epochs=10, num_threads=1)
    user_bias, user_vectors = model.get_user_representations()
    item_bias, item_vectors = model.get_item_representations()
    rows = np.searchsorted(fit_users, users)
    ids, scores = topk_dense_numpy(
        user_vectors[rows].astype(np.float64), item_vectors.astype(np.float64),
        user_bias[rows].astype(np.float64), item_bias.astype(np.float64), matrix[rows], K,
    )
    return frame_of(users, ids, scores, items)


def reclib_model(model: Any, train: pd.DataFrame, users: np.ndarray) -> pd.DataFrame:
    return model.fit(train).predict(train, K, users=users, filter_seen_items=True)


# --------------------------------------------------------------------------------------------
# 1. Quality on ml-100k


def quality(data_dir: str | None, seeds: list[int], components: int) -> pd.DataFrame:
    from implicit.nearest_neighbours import CosineRecommender
    from reclib.metrics import NDCG
    from reclib.models import ALSWrap, ImplicitWrap, LightFMWrap
    from reclib.splitters import UserSplitter

    log = indexed("ml-100k", data_dir)
    train, test = UserSplitter(0.2, drop_cold_users=True, drop_cold_items=True).split(log)
    train = train[["user_idx", "item_idx", "relevance"]]
    print(f"ml-100k split: {len(train)} train rows, {len(test)} test rows "
          "(EVALUATION.md §1 expects 80000 / 19912)")
    users = np.unique(test["user_idx"].to_numpy())
    ndcg = NDCG()

    def lightfm_wrap(seed: int) -> Any:
        model = LightFMWrap(no_components=components, loss="warp", random_state=seed)
        model.num_threads = 1
        return model

    pairs: list[tuple[str, Callable[[int], pd.DataFrame], Callable[[int], pd.DataFrame]]] = [
        ("ALSWrap(rank=10) vs implicit ALS on r",
         lambda s: reclib_model(ALSWrap(10, seed=s), train, users),
         lambda s: direct_implicit(lambda: implicit_als(10, s), train, users)),
        ("ALSWrap(rank=10) vs implicit ALS on 1+r",
         lambda s: reclib_model(ALSWrap(10, seed=s), train, users),
         lambda s: direct_implicit(lambda: implicit_als(10, s), train, users, "1+r")),
        ("ImplicitWrap(ALS factors=10)",
         lambda s: reclib_model(ImplicitWrap(implicit_als(10, s)), train, users),
         lambda s: direct_implicit(lambda: implicit_als(10, s), train, users)),
        ("ImplicitWrap(CosineRecommender K=20)",
         lambda s: reclib_model(ImplicitWrap(CosineRecommender(K=20)), train, users),
         lambda s: direct_implicit(lambda: CosineRecommender(K=20), train, users)),
        (f"LightFMWrap({components}, warp)",
         lambda s: reclib_model(lightfm_wrap(s), train, users),
         lambda s: direct_lightfm(train, users, components, s)),
    ]
    rows = []
    for name, ours, theirs in pairs:
        seeds_here = seeds[:1] if "Cosine" in name else seeds  # deterministic
        mine = [ndcg(ours(s), test, K) for s in seeds_here]
        lib = [ndcg(theirs(s), test, K) for s in seeds_here]
        ratio = np.mean(mine) / np.mean(lib)
        rows.append({"comparison": name, "reclib NDCG@10": np.mean(mine),
                     "library NDCG@10": np.mean(lib), "ratio": ratio,
                     "ok (>= 0.98)": bool(ratio >= 0.98), "seeds": len(seeds_here)})
        print(f"  {name}: reclib {np.mean(mine):.4f} library {np.mean(lib):.4f} "
              f"ratio {ratio:.3f}", flush=True)
    return pd.DataFrame(rows)


def spark_quality(data_dir: str | None, seeds: list[int]) -> pd.DataFrame:
    """ALSWrap and Word2VecRec against Spark ML's own ALS and Word2Vec."""
    from pyspark.ml.recommendation import ALS
    from pyspark.sql import functions as sf
    from reclib.engines.spark_session import local_session
    from reclib.metrics import NDCG
    from reclib.models import ALSWrap, Word2VecRec
    from reclib.splitters import UserSplitter

    spark = local_session(cores=2, shuffle_partitions=4)
    log = indexed("ml-100k", data_dir)
    train, test = UserSplitter(0.2, drop_cold_users=True, drop_cold_items=True).split(log)
    timed_train = train[["user_idx", "item_idx", "relevance", "timestamp"]]
    train = train[["user_idx", "item_idx", "relevance"]]
    users = np.unique(test["user_idx"].to_numpy())
    spark_train = spark.createDataFrame(train).cache()
    max_seen = int(train.groupby("user_idx").size().max())
    ndcg = NDCG()

    def ours(seed: int) -> pd.DataFrame:
        model = ALSWrap(10, seed=seed).fit(spark_train)
        return model.predict(spark_train, K, users=users.tolist()).toPandas()

    def theirs(seed: int) -> pd.DataFrame:
        als = ALS(rank=10, implicitPrefs=True, seed=seed, userCol="user_idx",
                  itemCol="item_idx", ratingCol="relevance", coldStartStrategy="drop")
        fitted = als.fit(spark_train)
        subset = spark.createDataFrame(pd.DataFrame({"user_idx": users}))
        recs = fitted.recommendForUserSubset(subset, K + max_seen).select(
            "user_idx", sf.explode("recommendations").alias("r")
        ).select("user_idx", sf.col("r.item_idx").alias("item_idx"),
                 sf.col("r.rating").cast("double").alias("relevance")).toPandas()
        seen = train[["user_idx", "item_idx"]].drop_duplicates().assign(_seen=True)
        recs = recs.merge(seen, on=["user_idx", "item_idx"], how="left")
        recs = recs[recs["_seen"].isna()].drop(columns="_seen")
        recs = recs.sort_values(["user_idx", "relevance"], ascending=[True, False])
        return recs.groupby("user_idx").head(K)

    spark_timed = spark.createDataFrame(timed_train).cache()

    def w2v_pandas(seed: int) -> pd.DataFrame:
        return reclib_model(Word2VecRec(seed=seed), timed_train, users)

    def w2v_spark_ml(seed: int) -> pd.DataFrame:
        model = Word2VecRec(seed=seed).fit(spark_timed)
        return model.predict(spark_timed, K, users=users.tolist()).toPandas()

    comparisons = [
        ("ALSWrap(rank=10), Spark engine vs Spark ML ALS", ours, theirs),
        ("Word2VecRec(), pandas (Rust skip-gram) vs Spark engine (Spark ML Word2Vec)",
         w2v_pandas, w2v_spark_ml),
    ]
    rows = []
    for name, mine_of, lib_of in comparisons:
        mine = [ndcg(mine_of(s), test, K) for s in seeds]
        lib = [ndcg(lib_of(s), test, K) for s in seeds]
        ratio = np.mean(mine) / np.mean(lib)
        per_seed = ", ".join(f"{a:.4f}/{b:.4f}" for a, b in zip(mine, lib))
        print(f"  {name}: reclib {np.mean(mine):.4f} library {np.mean(lib):.4f} "
              f"ratio {ratio:.3f} (per seed reclib/library: {per_seed})", flush=True)
        rows.append({"comparison": name, "reclib NDCG@10": np.mean(mine),
                     "library NDCG@10": np.mean(lib), "ratio": ratio,
                     "ok (>= 0.98)": bool(ratio >= 0.98), "seeds": len(seeds)})
    spark.stop()
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# 2. Overhead on ml-1m


def timed(run: Callable[[], Any], repeat: int) -> float:
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def speed(data_dir: str | None, repeat: int, components: int) -> pd.DataFrame:
    from reclib.models import ALSWrap, LightFMWrap

    log = indexed("ml-1m", data_dir)[["user_idx", "item_idx", "relevance"]]
    users = np.unique(log["user_idx"].to_numpy())
    print(f"ml-1m: {len(log)} rows, {len(users)} users")

    def reclib_lightfm() -> Any:
        model = LightFMWrap(no_components=components, loss="warp", random_state=0)
        model.num_threads = 1
        return model.fit(log).predict(log, K)

    contenders = [
        ("ALS implicit rank=10",
         lambda: ALSWrap(10, seed=0).fit(log).predict(log, K),
         lambda: direct_implicit(lambda: implicit_als(10, 0), log, users, "1+r")),
        (f"LightFM {components} warp, 1 thread",
         reclib_lightfm,
         lambda: direct_lightfm(log, users, components, 0)),
    ]
    rows = []
    for name, ours, theirs in contenders:
        library_s = timed(theirs, repeat)
        reclib_s = timed(ours, repeat)
        rows.append({"model": name, "reclib_s": reclib_s, "library_s": library_s,
                     "ratio": reclib_s / library_s,
                     "ok (< 1.20)": bool(reclib_s / library_s < 1.20)})
        print(f"  {name}: reclib {reclib_s:.2f}s library {library_s:.2f}s "
              f"ratio {reclib_s / library_s:.3f}", flush=True)
    return pd.DataFrame(rows)


def machine() -> str:
    import implicit
    import lightfm

    load = os.getloadavg()
    return (
        f"{platform.platform()}, {os.cpu_count()} cores, python {platform.python_version()}, "
        f"numpy {np.__version__}, implicit {implicit.__version__}, "
        f"lightfm {lightfm.__version__}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--lightfm-components", type=int, default=128)
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--spark", action="store_true")
    args = parser.parse_args()

    print(machine())
    pd.set_option("display.width", 140)
    if not args.skip_quality:
        print("\nQuality, ml-100k (NDCG@10, mean over seeds):")
        table = quality(args.data_dir, list(range(args.seeds)), args.lightfm_components)
        print(table.to_string(index=False, float_format="{:.4f}".format))
    if args.spark:
        print("\nQuality, ml-100k, Spark engine (NDCG@10, mean over seeds):")
        table = spark_quality(args.data_dir, list(range(args.seeds)))
        print(table.to_string(index=False, float_format="{:.4f}".format))
    if not args.skip_speed:
        print("\nOverhead, ml-1m (fit + top-10 for all users):")
        table = speed(args.data_dir, args.repeat, args.lightfm_components)
        print(table.to_string(index=False, float_format="{:.3f}".format))
    print(f"\nload average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
