"""KNN and the popularity models fit a Spark log on the executors (``reclib.engines.spark_fit``).

The log must never come to the driver: the driver-gather path is made to fail, and every
collect is counted.  The fitted state must be the pandas engine's, bit for bit where the sums
are exact (integer weights), to 1e-12 otherwise.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from reference import random_log

import reclib.data.schema as schema
import reclib.models.base as base
from reclib.engines.frames import is_spark_frame
from reclib.engines.spark_fit import FIT_LOCATION_KEY
from reclib.exceptions import InvalidParameterError, InvalidValueError, ReclibError
from reclib.models import KNN, PopRec, UserPopRec, Wilson

pytestmark = pytest.mark.spark


@pytest.fixture(autouse=True)
def on_executors(spark):
    """This module tests the executors' path, which local sessions skip by default."""
    spark.conf.set(FIT_LOCATION_KEY, "executors")
    yield
    spark.conf.unset(FIT_LOCATION_KEY)


@pytest.fixture()
def no_gather(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Make the driver-gather path fail and count the rows every Spark collect brings back."""
    from pyspark.sql import DataFrame

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the Spark log was gathered on the driver")

    def pandas_only(frame: Any, *args: Any, **kwargs: Any) -> Any:
        if is_spark_frame(frame):
            refuse()
        return gather(frame, *args, **kwargs)

    gather = base.interactions_from_frame
    monkeypatch.setattr(base, "interactions_from_frame", pandas_only)
    monkeypatch.setattr(schema, "_spark_columns", refuse)

    collected = {"rows": 0, "largest": 0}

    def counting(method: Any) -> Any:
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            result = method(self, *args, **kwargs)
            n = result.num_rows if hasattr(result, "num_rows") else len(result)
            collected["rows"] += n
            collected["largest"] = max(collected["largest"], n)
            return result

        return wrapper

    for name in ("toArrow", "collect", "toPandas"):
        monkeypatch.setattr(DataFrame, name, counting(getattr(DataFrame, name)))
    return collected


def wide_log(integer_relevance: bool = True, seed: int = 3) -> pd.DataFrame:
    """1500 rows over 60 users and 40 items, with duplicate (user, item) rows."""
    log = random_log(np.random.default_rng(seed), 60, 40, 1500, integer_relevance)
    log["user_idx"] = log["user_idx"] * 7 + 3  # sparse raw ids
    return log


def many_partitions(spark: Any, log: pd.DataFrame) -> Any:
    """The log spread over 24 partitions, several of them empty."""
    return spark.createDataFrame(log).repartition(24, "user_idx")


def assert_same_neighbours(local: KNN, remote: KNN, exact: bool) -> None:
    np.testing.assert_array_equal(local.fit_users, remote.fit_users)
    np.testing.assert_array_equal(local.fit_items, remote.fit_items)
    assert (local._user_dtype, local._item_dtype) == (remote._user_dtype, remote._item_dtype)
    left, right = local._neighbours, remote._neighbours
    np.testing.assert_array_equal(left.indptr, right.indptr)
    np.testing.assert_array_equal(left.indices, right.indices)
    if exact:
        np.testing.assert_array_equal(left.data, right.data)
    else:
        np.testing.assert_allclose(left.data, right.data, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(
    "params",
    [
        {"num_neighbours": 5},
        {"num_neighbours": 3, "use_relevance": True, "shrink": 2.0},
        {"num_neighbours": 100, "shrink": 0.5},
    ],
    ids=["plain", "relevance_shrink", "all_neighbours"],
)
def test_knn_fits_on_executors_bit_identical(spark, no_gather, params) -> None:
    log = wide_log()
    local = KNN(**params).fit(log)
    remote = KNN(**params).fit(many_partitions(spark, log))
    assert_same_neighbours(local, remote, exact=True)

    # Nothing of the size of the log came back: ids, items and the kept neighbours only.
    assert no_gather["largest"] <= max(remote._neighbours.nnz, len(remote.fit_users))
    assert no_gather["rows"] < len(log)

    # And the Spark-fitted model predicts like the pandas one.
    pd.testing.assert_frame_equal(remote.predict(log, 4), local.predict(log, 4))


def test_knn_non_integer_relevance_close_and_reproducible(spark, no_gather) -> None:
    log = wide_log(integer_relevance=False)
    frame = many_partitions(spark, log)
    local = KNN(num_neighbours=6, use_relevance=True, shrink=1.0).fit(log)
    first = KNN(num_neighbours=6, use_relevance=True, shrink=1.0).fit(frame)
    second = KNN(num_neighbours=6, use_relevance=True, shrink=1.0).fit(frame)
    assert_same_neighbours(local, first, exact=False)
    assert_same_neighbours(first, second, exact=True)


def test_knn_single_partition_empty_partitions_and_single_item_users(spark, no_gather) -> None:
    # Users with one item give no pair; item 30 meets no other item at all.
    log = pd.DataFrame({"user_idx": [1, 1, 2, 2, 3, 4, 5], "item_idx": [10, 11, 10, 12, 30, 11, 11],
                        "relevance": 1.0})
    local = KNN().fit(log)
    for frame in (spark.createDataFrame(log).coalesce(1),
                  spark.createDataFrame(log).repartition(16)):
        assert_same_neighbours(local, KNN().fit(frame), exact=True)
    lonely = pd.DataFrame({"user_idx": [1, 2], "item_idx": [5, 6], "relevance": 1.0})
    remote = KNN().fit(spark.createDataFrame(lonely))
    assert remote._neighbours.nnz == 0 and remote.fit_items.tolist() == [5, 6]


def test_knn_ids_and_dtypes(spark, no_gather) -> None:
    big = 2**40
    log = pd.DataFrame({"user_idx": np.array([5, 5, 9, 9], dtype=np.int32),
                        "item_idx": np.array([big, 3, 3, big + 1], dtype=np.int64),
                        "relevance": 1.0})
    local = KNN().fit(log)
    remote = KNN().fit(spark.createDataFrame(log))
    assert_same_neighbours(local, remote, exact=True)
    assert remote._user_dtype == np.int32 and remote._item_dtype == np.int64
    short = spark.createDataFrame(log.astype({"user_idx": np.int16}))
    assert KNN().fit(short)._user_dtype == np.int32


@pytest.mark.parametrize(
    "make",
    [PopRec, lambda: PopRec(use_relevance=True), UserPopRec],
    ids=["pop", "pop_relevance", "userpop"],
)
def test_popularity_fits_on_executors(spark, no_gather, make) -> None:
    log = wide_log()
    local, remote = make().fit(log), make().fit(many_partitions(spark, log))
    np.testing.assert_array_equal(local.fit_users, remote.fit_users)
    np.testing.assert_array_equal(local.fit_items, remote.fit_items)
    state, got = local._state_arrays(), remote._state_arrays()
    assert state.keys() == got.keys()
    for key in state:
        np.testing.assert_array_equal(state[key], got[key])
    pd.testing.assert_frame_equal(remote.predict(log, 5), local.predict(log, 5))
    if not isinstance(local, UserPopRec):
        # One row per item (and the distinct users) came back, never the log.
        assert no_gather["largest"] <= len(local.fit_users)


def test_wilson_fits_on_executors(spark, no_gather) -> None:
    log = wide_log()
    log["relevance"] = (log["relevance"] >= 3).astype(float)
    local, remote = Wilson().fit(log), Wilson().fit(many_partitions(spark, log))
    np.testing.assert_array_equal(local.item_popularity, remote.item_popularity)
    assert no_gather["rows"] < len(log)


def test_pop_non_integer_relevance(spark, no_gather) -> None:
    log = wide_log(integer_relevance=False)
    local = PopRec(use_relevance=True).fit(log)
    remote = PopRec(use_relevance=True).fit(many_partitions(spark, log))
    np.testing.assert_allclose(remote._item_scores, local._item_scores, rtol=1e-13)


def test_duplicates_as_documented_on_spark(spark, no_gather) -> None:
    dup = pd.DataFrame({"user_idx": [0, 0, 1], "item_idx": [5, 5, 6], "relevance": [1.0, 1, 0]})
    frame = spark.createDataFrame(dup)
    assert PopRec().fit(frame).item_popularity["relevance"].tolist() == [0.5, 0.5]
    assert PopRec(True).fit(frame).item_popularity["relevance"].tolist() == [1.0, 0.0]
    wilson = Wilson().fit(frame).item_popularity["relevance"].tolist()
    assert wilson == Wilson().fit(dup).item_popularity["relevance"].tolist()
    # KNN sums duplicates in the matrix and counts both rows in the norm (MODELS.md §4.5).
    knn_dup = pd.DataFrame({"user_idx": [0, 0, 0, 1, 1], "item_idx": [5, 5, 6, 5, 6],
                            "relevance": [1.0, 2.0, 3.0, 1.0, 1.0]})
    for use_relevance in (False, True):
        assert_same_neighbours(
            KNN(use_relevance=use_relevance).fit(knn_dup),
            KNN(use_relevance=use_relevance).fit(spark.createDataFrame(knn_dup)),
            exact=True,
        )


def nullable(values: list[Any]) -> pd.Series:
    return pd.Series(values, dtype="Int64")


BAD_LOGS = {
    "null_user": lambda log: log.assign(user_idx=nullable([0, None, 1, 1, 2])),
    "null_item": lambda log: log.assign(item_idx=nullable([0, 1, None, None, 0])),
    "negative_user": lambda log: log.assign(user_idx=[0, -4, 1, -1, 2]),
    "negative_item": lambda log: log.assign(item_idx=[0, 1, 1, -2, 0]),
    "nan_relevance": lambda log: log.assign(relevance=[1.0, np.nan, 3, 4, 5]),
    "inf_relevance": lambda log: log.assign(relevance=[1.0, np.inf, 3, 4, 5]),
    "non_binary": lambda log: log.assign(relevance=[1.0, 0.5, 3, 0, 1]),
}


def outcome(fit: Any) -> tuple[type, str] | None:
    """None when ``fit()`` succeeds, else the class and message of the reclib error."""
    try:
        fit()
    except ReclibError as err:
        return type(err), str(err)
    return None


@pytest.mark.parametrize("case", sorted(BAD_LOGS))
@pytest.mark.parametrize(
    "make",
    [KNN, lambda: KNN(use_relevance=True), PopRec, Wilson, UserPopRec],
    ids=["knn", "knn_relevance", "pop", "wilson", "userpop"],
)
def test_bad_values_same_outcome_on_both_engines(spark, case: str, make) -> None:
    """The same error class and message on both engines, or success on both (unused column)."""
    log = pd.DataFrame(
        {"user_idx": [0, 0, 1, 1, 2], "item_idx": [0, 1, 1, 2, 0], "relevance": [1.0, 2, 3, 4, 5]}
    )
    bad = BAD_LOGS[case](log)
    on_pandas = outcome(lambda: make().fit(bad))
    on_spark = outcome(lambda: make().fit(spark.createDataFrame(bad)))
    assert on_spark == on_pandas
    if case in ("null_user", "null_item", "negative_user", "negative_item"):
        assert on_pandas is not None and on_pandas[0] is InvalidValueError


def test_bad_values_accepted_where_unused(spark) -> None:
    log = pd.DataFrame({"user_idx": [0, 1], "item_idx": [0, 1], "relevance": [np.nan, 2.0]})
    for engine_log in (log, spark.createDataFrame(log)):
        assert PopRec().fit(engine_log).items_count == 2  # relevance is not read
        assert KNN().fit(engine_log).items_count == 2


def test_empty_log_on_spark(spark) -> None:
    empty = spark.createDataFrame([], "user_idx bigint, item_idx bigint, relevance double")
    for model in (KNN(), KNN(use_relevance=True), PopRec(), PopRec(True), Wilson(), UserPopRec()):
        with pytest.raises(InvalidValueError, match="`log` is empty"):
            model.fit(empty)


# --- predict-side checks (tester findings b and c) ----------------------------------------------


def test_null_ids_in_spark_predict_log_refused_as_on_pandas(spark) -> None:
    log = pd.DataFrame({"user_idx": [0, 0, 1], "item_idx": [0, 1, 1], "relevance": 1.0})
    model = PopRec().fit(log)
    for column in ("item_idx", "user_idx"):
        bad = log.assign(**{column: nullable([0, None, 1])})
        with pytest.raises(InvalidValueError) as on_pandas:
            model.predict(bad, 2)
        with pytest.raises(InvalidValueError) as on_spark:
            model.predict(spark.createDataFrame(bad), 2)
        assert str(on_spark.value) == str(on_pandas.value)
        assert f"`{column}` of `log` has 1 null id(s)" in str(on_spark.value)
        with pytest.raises(InvalidValueError, match="null id"):
            model.predict_pairs(spark.createDataFrame(bad[["user_idx", "item_idx"]]), None)
    knn = KNN().fit(log)
    with pytest.raises(InvalidValueError, match="null id"):
        knn.predict_pairs(spark.createDataFrame(log[["user_idx", "item_idx"]]),
                          spark.createDataFrame(log.assign(item_idx=nullable([0, None, 1]))))


def test_negative_ids_in_spark_predict_inputs_refused_as_on_pandas(spark) -> None:
    log = pd.DataFrame({"user_idx": [0, 0, 1], "item_idx": [0, 1, 1], "relevance": 1.0})
    model = PopRec().fit(log)
    users = pd.DataFrame({"user_idx": [0, -3, -1]})
    with pytest.raises(InvalidParameterError) as on_pandas:
        model.predict(log, 2, users=users)
    with pytest.raises(InvalidParameterError) as on_spark:
        model.predict(spark.createDataFrame(log), 2, users=spark.createDataFrame(users))
    assert str(on_spark.value) == str(on_pandas.value) == "`users` must hold ids >= 0, got -3"

    null_users = spark.createDataFrame(pd.DataFrame({"user_idx": nullable([0, None])}))
    with pytest.raises(InvalidParameterError, match="`users` must hold integer ids, got 1 null"):
        model.predict(spark.createDataFrame(log), 2, users=null_users)

    negative_log = log.assign(item_idx=[0, -1, 1])
    with pytest.raises(InvalidValueError) as on_pandas:
        model.predict(negative_log, 2)
    with pytest.raises(InvalidValueError) as on_spark:
        model.predict(spark.createDataFrame(negative_log), 2)
    assert str(on_spark.value) == str(on_pandas.value)


# --- where the fit runs (spark.reclib.fit.location) ---------------------------------------------


def test_fit_location_setting(spark, monkeypatch) -> None:
    """``auto`` gathers under a local master, ``executors`` never gathers; bad values refused."""
    log = wide_log()
    frame = spark.createDataFrame(log)
    gathered = []
    gather = base.interactions_from_frame

    def counting(frame_: Any, *args: Any, **kwargs: Any) -> Any:
        gathered.append(is_spark_frame(frame_))
        return gather(frame_, *args, **kwargs)

    monkeypatch.setattr(base, "interactions_from_frame", counting)
    expected = KNN(num_neighbours=5).fit(log)
    gathered.clear()
    for location, gathers in [("auto", True), ("driver", True), ("EXECUTORS", False)]:
        spark.conf.set(FIT_LOCATION_KEY, location)
        model = KNN(num_neighbours=5).fit(frame)
        assert any(gathered) == gathers, location
        assert_same_neighbours(expected, model, exact=True)
        gathered.clear()

    spark.conf.set(FIT_LOCATION_KEY, "cluster")
    with pytest.raises(InvalidParameterError) as err:
        PopRec().fit(frame)
    message = str(err.value)
    assert FIT_LOCATION_KEY in message and "'cluster'" in message and "executors" in message
