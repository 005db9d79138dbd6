"""Every model through both engines: the Spark engine must return the pandas engine's rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from engines import assert_same_recs, both_engines, sort_recs
from reference import random_log

from reclib.models import KNN, PopRec, RandomRec, UserPopRec, Wilson

pytestmark = pytest.mark.spark

MODELS = {
    "pop": lambda: PopRec(),
    "pop_rel": lambda: PopRec(use_relevance=True),
    "userpop": lambda: UserPopRec(),
    "random_uniform": lambda: RandomRec(seed=7),
    "random_pop": lambda: RandomRec("popular_based", alpha=0.5, seed=7),
    "random_rel": lambda: RandomRec("relevance", seed=7),
    "knn": lambda: KNN(num_neighbours=5),
    "knn_rel_shrink": lambda: KNN(num_neighbours=3, use_relevance=True, shrink=2.0),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_fixture_log_same_on_both_engines(spark, fixture_log: pd.DataFrame, name: str) -> None:
    log = fixture_log.drop(columns="timestamp")
    recs = both_engines(spark, MODELS[name], log, k=3)
    assert recs.groupby("user_idx").size().max() <= 3


def test_wilson_both_engines(spark) -> None:
    log = random_log(np.random.default_rng(5), 30, 20, 300)
    log["relevance"] = (log["relevance"] >= 3).astype(float)
    both_engines(spark, Wilson, log, k=5)


@pytest.mark.parametrize("name", ["pop", "knn_rel_shrink", "random_pop"])
def test_random_log_with_users_and_items(spark, name: str) -> None:
    rng = np.random.default_rng(11)
    log = random_log(rng, 80, 50, 900, integer_relevance=False)
    users = [0, 3, 5, 77, 1000]  # 1000 is unseen in fit
    items = list(range(0, 60, 2))  # 50..58 are unseen in fit
    both_engines(spark, MODELS[name], log, k=6, users=users, items=items)


def test_predict_pairs_and_nearest_on_spark(spark, fixture_log: pd.DataFrame) -> None:
    log = fixture_log.drop(columns="timestamp")
    model = KNN(num_neighbours=5).fit(log)
    pairs = pd.DataFrame({"user_idx": [0, 1, 3, 9], "item_idx": [3, 2, 2, 0]})
    local = model.predict_pairs(pairs, log)
    remote = model.predict_pairs(spark.createDataFrame(pairs), spark.createDataFrame(log))
    assert_same_recs(local, remote.toPandas())

    near = model.get_nearest_items(spark.createDataFrame(pd.DataFrame({"item_idx": [0, 1]})), 2)
    pd.testing.assert_frame_equal(
        near.toPandas(), model.get_nearest_items([0, 1], 2), check_dtype=False
    )


def test_empty_partitions_and_single_partition(spark) -> None:
    log = pd.DataFrame({"user_idx": [1, 1, 2], "item_idx": [10, 11, 10], "relevance": 1.0})
    pandas_recs = KNN().fit(log).predict(log, 2)
    many = spark.createDataFrame(log).repartition(16)  # most partitions are empty
    one = spark.createDataFrame(log).coalesce(1)
    for frame in (many, one):
        assert_same_recs(pandas_recs, KNN().fit(frame).predict(frame, 2).toPandas())


def test_spark_output_schema_follows_input(spark) -> None:
    log = pd.DataFrame({"user_idx": np.array([1, 2], dtype=np.int32),
                        "item_idx": np.array([5, 6], dtype=np.int64), "relevance": [1.0, 1.0]})
    recs = PopRec().fit(spark.createDataFrame(log)).predict(spark.createDataFrame(log), 1)
    assert [f.dataType.simpleString() for f in recs.schema.fields] == ["int", "bigint", "double"]
    local = PopRec().fit(log).predict(log, 1)
    assert local.dtypes.astype(str).tolist() == ["int32", "int64", "float64"]


@pytest.mark.slow
def test_ml100k_top10_identical_and_match_reference(spark, data_dir) -> None:
    """MovieLens 100k, standard split: four deterministic models, both engines, one reference."""
    from reference import as_lists, assert_same_lists, knn_similarity, neighbour_recs
    from reference import pop_scores, ranked_recs, wilson_scores

    from reclib.splitters import UserSplitter

    raw = pd.read_csv(data_dir / "ml-100k" / "u.data", sep="\t",
                      names=["user_idx", "item_idx", "relevance", "timestamp"])
    train, test = UserSplitter(0.2, drop_cold_users=True, drop_cold_items=True).split(raw)
    users = sorted(test["user_idx"].unique())
    binary = train.assign(relevance=(train["relevance"] >= 4).astype(float))
    spark_train, spark_binary = spark.createDataFrame(train), spark.createDataFrame(binary)

    cases = [
        (PopRec, train, spark_train, ranked_recs(pop_scores(train), train, users, 10)),
        (Wilson, binary, spark_binary, ranked_recs(wilson_scores(binary), binary, users, 10)),
        (lambda: KNN(10), train, spark_train,
         neighbour_recs(knn_similarity(train, 10, False, 0.0), train, users, 10)),
    ]
    for make, local_log, remote_log, expected in cases:
        local = make().fit(local_log).predict(local_log, 10, users=users)
        remote = make().fit(remote_log).predict(remote_log, 10, users=users).toPandas()
        assert_same_recs(local, remote)
        assert_same_lists(as_lists(local), expected, rel=1e-9)

    local = UserPopRec().fit(train).predict(train, 10, users=users)
    remote = UserPopRec().fit(spark_train).predict(spark_train, 10, users=users).toPandas()
    assert_same_recs(local, remote)
    assert sort_recs(local).groupby("user_idx").size().max() == 10
