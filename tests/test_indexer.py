"""Tests of reclib.data.indexer.Indexer on pandas and on Spark.

The pandas tests pin the contract (sorted dense order, dtypes, unknown-id policies, errors,
serialisation); the Spark tests check that Spark gives the very same ids and errors.
"""

from __future__ import annotations

import json
import logging
import pickle
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest

from reclib.data.indexer import Indexer
from reclib.exceptions import (
    ColumnMissingError,
    ColumnTypeError,
    InvalidParameterError,
    InvalidValueError,
    NotFittedError,
    SchemaError,
    UnknownIdError,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame as SparkFrame
    from pyspark.sql import SparkSession

BIG = 2**40  # beyond the int32 range


@pytest.fixture()
def log() -> pd.DataFrame:
    """Users are int64 beyond int32 (and negative), items strings; an extra column between."""
    return pd.DataFrame(
        {
            "user_id": np.array([BIG + 7, 5, -3, 5, BIG + 7, 5], dtype=np.int64),
            "relevance": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            "item_id": ["b", "a", "é", "a", "zz", "b"],
            "timestamp": pd.date_range("2020-01-01", periods=6, freq="D", tz="UTC"),
        },
        index=[10, 11, 12, 12, 14, 15],  # not a RangeIndex, with a duplicate
    )


def expected_user_idx(users: np.ndarray) -> np.ndarray:
    """Dense ids by the sorted order of the distinct raw ids, computed plainly."""
    order = {raw: k for k, raw in enumerate(sorted(set(users.tolist())))}
    return np.array([order[u] for u in users.tolist()], dtype=np.int32)


# ----------------------------------------------------------------------------------------
# pandas
# ----------------------------------------------------------------------------------------


def test_dense_ids_follow_sorted_raw_ids(log: pd.DataFrame) -> None:
    indexer = Indexer().fit(log)
    assert indexer.n_users == 3 and indexer.n_items == 4
    np.testing.assert_array_equal(indexer.user_ids, [-3, 5, BIG + 7])
    np.testing.assert_array_equal(indexer.item_ids, ["a", "b", "zz", "é"])
    assert indexer.user_ids.dtype == np.int64

    out = indexer.transform(log)
    np.testing.assert_array_equal(out["user_idx"], expected_user_idx(log["user_id"].to_numpy()))
    np.testing.assert_array_equal(out["item_idx"], [1, 0, 3, 0, 2, 1])


def test_order_of_rows_does_not_change_the_mapping(log: pd.DataFrame) -> None:
    shuffled = log.sample(frac=1.0, random_state=3)
    assert Indexer().fit(shuffled).to_dict() == Indexer().fit(log).to_dict()


def test_transform_schema_and_untouched_columns(log: pd.DataFrame) -> None:
    out = Indexer().fit_transform(log)
    assert list(out.columns) == ["user_idx", "relevance", "item_idx", "timestamp"]
    assert out["user_idx"].dtype == np.int32 and out["item_idx"].dtype == np.int32
    assert out.index.equals(log.index)
    pd.testing.assert_series_equal(out["relevance"], log["relevance"])
    pd.testing.assert_series_equal(out["timestamp"], log["timestamp"])


def test_input_is_not_modified(log: pd.DataFrame) -> None:
    before = log.copy(deep=True)
    indexer = Indexer()
    out = indexer.fit_transform(log)
    back = indexer.inverse_transform(out)
    out["relevance"] *= 10  # writing to the result must not reach the input either
    back.loc[back.index[0], "relevance"] = -1.0
    pd.testing.assert_frame_equal(log, before)


def test_round_trip_int64_beyond_int32_and_strings(log: pd.DataFrame) -> None:
    indexer = Indexer()
    back = indexer.inverse_transform(indexer.fit_transform(log))
    pd.testing.assert_frame_equal(back, log)


@pytest.mark.parametrize(
    "users",
    [
        pd.array([3, 1, 3], dtype="Int64"),
        np.array([3, 1, 3], dtype=np.int32),
        np.array([3, 1, 3], dtype=np.uint64),
        pd.array(["u3", "u1", "u3"], dtype="string"),
        pd.Categorical(["u3", "u1", "u3"]),
        np.array([3, 1, 3], dtype=object),
    ],
    ids=["Int64", "int32", "uint64", "string", "category", "object-ints"],
)
def test_round_trip_keeps_the_raw_dtype(users: object) -> None:
    df = pd.DataFrame({"user_id": users, "item_id": [10, 20, 10]})
    indexer = Indexer()
    out = indexer.fit_transform(df)
    np.testing.assert_array_equal(out["user_idx"], [1, 0, 1])
    back = indexer.inverse_transform(out)
    expected = df
    if isinstance(df["user_id"].dtype, pd.CategoricalDtype):
        # A categorical comes back as plain values of its categories' dtype.
        expected = df.astype({"user_id": df["user_id"].cat.categories.dtype})
    pd.testing.assert_frame_equal(back, expected)


def test_custom_column_names_and_partial_transform() -> None:
    df = pd.DataFrame({"u": ["x", "y"], "i": [7, 9], "w": [1.0, 2.0]})
    indexer = Indexer(user_col="u", item_col="i").fit(df)
    items = pd.DataFrame({"i": [9, 7], "feature": [0.5, 0.25]})
    out = indexer.transform(items, which="item")
    assert list(out.columns) == ["item_idx", "feature"]
    np.testing.assert_array_equal(out["item_idx"], [1, 0])
    back = indexer.inverse_transform(out, which="item")
    pd.testing.assert_frame_equal(back, items)


def test_unknown_error_lists_five_ids_and_the_counts(log: pd.DataFrame) -> None:
    indexer = Indexer().fit(log)
    new = pd.DataFrame({"user_id": [100, 101, 102, 103, 104, 105, 106, 5, 100],
                        "item_id": ["a"] * 9})
    with pytest.raises(UnknownIdError) as caught:
        indexer.transform(new)
    message = str(caught.value)
    assert "'user_id'" in message
    assert "7 id(s)" in message and "8 row(s)" in message
    assert "[100, 101, 102, 103, 104, ...]" in message
    assert "105" not in message
    assert "unknown='drop'" in message


def test_unknown_ids_are_never_mapped_onto_existing_ones(log: pd.DataFrame) -> None:
    indexer = Indexer(unknown="drop").fit(log)
    # Values next to known ones, and the int32 truncation of BIG + 7, are all new.
    new = pd.DataFrame({"user_id": [4, 6, 7, BIG + 8, 5], "item_id": ["a", "a", "a", "a", "A"]})
    assert indexer.transform(new).empty


def test_unknown_drop_drops_rows_and_logs_count(
    log: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    indexer = Indexer(unknown="drop").fit(log)
    new = pd.DataFrame(
        {"user_id": [5, 999, 5, -3], "item_id": ["a", "a", "nope", "b"], "x": [1, 2, 3, 4]},
        index=[3, 2, 1, 0],
    )
    with caplog.at_level(logging.WARNING, logger="reclib"):
        out = indexer.transform(new)
    assert list(out.index) == [3, 0]
    np.testing.assert_array_equal(out["user_idx"], [1, 0])
    np.testing.assert_array_equal(out["item_idx"], [0, 1])
    np.testing.assert_array_equal(out["x"], [1, 4])
    assert "dropped 2 of 4 rows" in caplog.text


def test_missing_columns_name_them_and_the_columns_present(log: pd.DataFrame) -> None:
    with pytest.raises(ColumnMissingError) as caught:
        Indexer(user_col="uid").fit(log)
    assert "['uid']" in str(caught.value) and "'user_id'" in str(caught.value)

    indexer = Indexer().fit(log)
    with pytest.raises(ColumnMissingError, match="item_id"):
        indexer.transform(log.drop(columns="item_id"))
    with pytest.raises(ColumnMissingError, match="item_idx"):
        indexer.inverse_transform(indexer.transform(log).drop(columns="item_idx"))


def test_null_ids_are_an_error_with_the_count(log: pd.DataFrame) -> None:
    bad = log.astype({"user_id": "Int64"})
    bad.loc[bad.index[1:3], "user_id"] = pd.NA
    with pytest.raises(InvalidValueError, match=r"'user_id' holds 3 of 6 null ids"):
        Indexer().fit(bad)

    indexer = Indexer(unknown="drop").fit(log)
    items = log.copy()
    items.loc[items.index[0], "item_id"] = None
    with pytest.raises(InvalidValueError, match="'item_id' holds 1 of 6 null"):
        indexer.transform(items)


@pytest.mark.parametrize(
    ("values", "pattern"),
    [
        ([1.0, 2.0], "float64 ids"),
        ([True, False], "booleans"),
        ([1, "a"], "mixed types"),
        (pd.to_datetime(["2020-01-01", "2020-01-02"]), "dtype datetime64"),
    ],
)
def test_unusable_id_types_are_refused(values: object, pattern: str) -> None:
    df = pd.DataFrame({"user_id": values, "item_id": [1, 2]})
    with pytest.raises(ColumnTypeError, match=pattern):
        Indexer().fit(df)


def test_kind_mismatch_between_fit_and_transform(log: pd.DataFrame) -> None:
    indexer = Indexer().fit(log)
    swapped = log.astype({"user_id": str})
    with pytest.raises(ColumnTypeError, match="fitted on integers"):
        indexer.transform(swapped)


def test_inverse_refuses_out_of_range_and_non_integer_ids(log: pd.DataFrame) -> None:
    indexer = Indexer()
    out = indexer.fit_transform(log)
    out.loc[out.index[0], "user_idx"] = 3
    out.loc[out.index[-1], "user_idx"] = -1
    pattern = r"2 row\(s\) with dense ids outside \[0, 3\): \[-1, 3\]"
    with pytest.raises(UnknownIdError, match=pattern):
        indexer.inverse_transform(out)
    with pytest.raises(ColumnTypeError, match="must be integers"):
        indexer.inverse_transform(out.astype({"user_idx": float}))


def test_existing_output_column_is_not_silently_overwritten(log: pd.DataFrame) -> None:
    indexer = Indexer().fit(log)
    with pytest.raises(SchemaError, match="user_idx"):
        indexer.transform(log.assign(user_idx=0))
    # A raw column already called user_idx is simply replaced.
    renamed = log.rename(columns={"user_id": "user_idx"})
    out = Indexer(user_col="user_idx").fit_transform(renamed)
    np.testing.assert_array_equal(out["user_idx"], expected_user_idx(log["user_id"].to_numpy()))


def test_parameters_and_fitted_state_are_checked() -> None:
    with pytest.raises(InvalidParameterError, match="unknown"):
        Indexer(unknown="ignore")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="must differ"):
        Indexer(user_col="id", item_col="id")
    indexer = Indexer()
    with pytest.raises(NotFittedError, match="call `fit`"):
        indexer.transform(pd.DataFrame({"user_id": [1], "item_id": [1]}))
    with pytest.raises(NotFittedError):
        _ = indexer.n_users
    with pytest.raises(InvalidParameterError, match="which"):
        Indexer().fit(pd.DataFrame({"user_id": [1], "item_id": [1]})).transform(
            pd.DataFrame({"user_id": [1], "item_id": [1]}), which="users"  # type: ignore[arg-type]
        )


def test_id_arrays_are_read_only(log: pd.DataFrame) -> None:
    indexer = Indexer().fit(log)
    with pytest.raises(ValueError, match="read-only"):
        indexer.user_ids[0] = 1


def test_to_dict_is_json_safe_and_round_trips(log: pd.DataFrame) -> None:
    indexer = Indexer(unknown="drop").fit(log)
    data = json.loads(json.dumps(indexer.to_dict()))
    assert data["users"] == {"kind": "int", "dtype": "int64", "ids": [-3, 5, BIG + 7]}
    assert data["items"]["kind"] == "str"

    restored = Indexer.from_dict(data)
    assert restored.unknown == "drop"
    pd.testing.assert_frame_equal(restored.transform(log), indexer.transform(log))
    pd.testing.assert_frame_equal(restored.inverse_transform(indexer.transform(log)), log)
    np.testing.assert_array_equal(restored.user_ids, indexer.user_ids)


def test_from_dict_refuses_bad_input(log: pd.DataFrame) -> None:
    data = Indexer().fit(log).to_dict()
    with pytest.raises(InvalidParameterError, match="format"):
        Indexer.from_dict({"users": []})
    with pytest.raises(InvalidParameterError, match="version"):
        Indexer.from_dict({**data, "version": 99})
    unsorted = {**data, "users": {**data["users"], "ids": [5, -3]}}
    with pytest.raises(InvalidParameterError, match="sorted"):
        Indexer.from_dict(unsorted)


def test_pickle_round_trip(log: pd.DataFrame) -> None:
    indexer = Indexer().fit(log)
    restored = pickle.loads(pickle.dumps(indexer))
    pd.testing.assert_frame_equal(restored.transform(log), indexer.transform(log))


def test_many_ids_are_mapped_without_python_loops() -> None:
    rng = np.random.default_rng(0)
    users = rng.integers(-(2**62), 2**62, size=200_000)
    df = pd.DataFrame({"user_id": users, "item_id": rng.integers(0, 50, size=200_000)})
    indexer = Indexer()
    out = indexer.fit_transform(df)
    np.testing.assert_array_equal(indexer.user_ids[out["user_idx"].to_numpy()], users)
    assert (np.diff(indexer.user_ids) > 0).all()


# ----------------------------------------------------------------------------------------
# Spark
# ----------------------------------------------------------------------------------------


def _to_spark(spark: SparkSession, df: pd.DataFrame) -> SparkFrame:
    return spark.createDataFrame(df)


@pytest.mark.spark
def test_spark_fit_gives_the_same_mapping_as_pandas(
    spark: SparkSession, log: pd.DataFrame
) -> None:
    on_spark = Indexer().fit(_to_spark(spark, log))
    on_pandas = Indexer().fit(log)
    np.testing.assert_array_equal(on_spark.user_ids, on_pandas.user_ids)
    np.testing.assert_array_equal(on_spark.item_ids, on_pandas.item_ids)
    assert on_spark.to_dict() == on_pandas.to_dict()


@pytest.mark.spark
def test_spark_transform_matches_pandas_and_round_trips(
    spark: SparkSession, log: pd.DataFrame
) -> None:
    sdf = _to_spark(spark, log)
    indexer = Indexer().fit(sdf)
    out = indexer.transform(sdf)
    assert out.columns == ["user_idx", "relevance", "item_idx", "timestamp"]
    assert dict(out.dtypes)["user_idx"] == "int" and dict(out.dtypes)["item_idx"] == "int"

    expected = Indexer().fit_transform(log).reset_index(drop=True)
    got = out.toPandas()
    key = ["timestamp"]  # unique per row: compare independent of Spark's row order
    pd.testing.assert_frame_equal(
        got.sort_values(key).reset_index(drop=True)[["user_idx", "item_idx", "relevance"]],
        expected.sort_values(key).reset_index(drop=True)[["user_idx", "item_idx", "relevance"]],
    )

    back = indexer.inverse_transform(out)
    assert dict(back.dtypes)["user_id"] == "bigint" and dict(back.dtypes)["item_id"] == "string"
    assert back.columns == list(log.columns)
    back_pd = back.toPandas().sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(back_pd[["user_id", "item_id"]],
                                  log.reset_index(drop=True)[["user_id", "item_id"]])


@pytest.mark.spark
def test_fitted_on_pandas_applied_on_spark(spark: SparkSession, log: pd.DataFrame) -> None:
    indexer = Indexer().fit(log)
    rows = indexer.transform(_to_spark(spark, log)).toPandas()
    expected = indexer.transform(log)
    assert sorted(zip(rows["user_idx"], rows["item_idx"])) == sorted(
        zip(expected["user_idx"], expected["item_idx"])
    )

    # An int32 Spark column against ids fitted as int64 on pandas.
    narrow = spark.createDataFrame([(5, "zz"), (-3, "a")], "user_id int, item_id string")
    got = indexer.transform(narrow).toPandas()
    assert sorted(zip(got["user_idx"], got["item_idx"])) == [(0, 0), (1, 2)]


@pytest.mark.spark
def test_spark_unknown_ids_error_and_drop(
    spark: SparkSession, log: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    new = pd.DataFrame(
        {"user_id": [100, 101, 102, 103, 104, 105, 5, 100], "item_id": ["a"] * 7 + ["q"]}
    )
    sdf = _to_spark(spark, new)
    with pytest.raises(UnknownIdError) as caught:
        Indexer().fit(log).transform(sdf)
    message = str(caught.value)
    assert "6 id(s)" in message and "7 row(s)" in message
    assert "[100, 101, 102, 103, 104, ...]" in message

    with caplog.at_level(logging.WARNING, logger="reclib"):
        out = Indexer(unknown="drop").fit(log).transform(sdf).toPandas()
    assert out.to_dict("list") == {"user_idx": [1], "item_idx": [0]}
    assert "dropped 7 of 8 rows" in caplog.text


@pytest.mark.spark
def test_spark_nulls_types_and_ranges(spark: SparkSession, log: pd.DataFrame) -> None:
    from pyspark.sql import types as T

    schema = T.StructType([
        T.StructField("user_id", T.LongType()), T.StructField("item_id", T.StringType()),
    ])
    with_null = spark.createDataFrame([(1, "a"), (None, "b"), (None, "c")], schema)
    with pytest.raises(InvalidValueError, match="'user_id' holds 2 null ids"):
        Indexer().fit(with_null)

    indexer = Indexer().fit(log)
    with pytest.raises(InvalidValueError, match="'user_id' holds 2 of 3 null"):
        indexer.transform(with_null)

    floats = spark.createDataFrame([(1.0, "a")], "user_id double, item_id string")
    with pytest.raises(ColumnTypeError, match="Spark type double"):
        indexer.transform(floats)

    dense = spark.createDataFrame([(0, 0), (3, 9)], "user_idx int, item_idx bigint")
    with pytest.raises(UnknownIdError, match=r"outside \[0, 3\): \[3\]"):
        indexer.inverse_transform(dense)


@pytest.mark.spark
def test_spark_odd_column_names(spark: SparkSession) -> None:
    df = pd.DataFrame({"user.id": [BIG, 1], "item id": ["x", "y"], "w": [1.0, 2.0]})
    indexer = Indexer(user_col="user.id", item_col="item id")
    out = indexer.fit_transform(_to_spark(spark, df))
    assert sorted(map(tuple, out.toPandas()[["user_idx", "item_idx"]].to_numpy())) == [
        (0, 1), (1, 0)
    ]
    back = indexer.inverse_transform(out).toPandas()
    assert back.columns.tolist() == ["user.id", "item id", "w"]
    assert sorted(back["user.id"]) == [1, BIG]


@pytest.mark.spark
@pytest.mark.slow
def test_real_data_gives_identical_ids_on_both_engines(
    spark: SparkSession, data_dir: Path
) -> None:
    from reclib.data.datasets import load_dataset

    ratings = load_dataset("ml-100k", data_dir).drop(columns="timestamp")
    ratings["item_id"] = "movie-" + ratings["item_id"].astype(str)  # strings on one side
    on_pandas = Indexer()
    expected = on_pandas.fit_transform(ratings)
    on_spark = Indexer().fit(_to_spark(spark, ratings))
    assert on_spark.to_dict() == on_pandas.to_dict()

    got = on_spark.transform(_to_spark(spark, ratings)).toPandas()
    key = ["user_idx", "item_idx"]  # (user, item) pairs are unique in ml-100k
    pd.testing.assert_frame_equal(
        got.sort_values(key).reset_index(drop=True),
        expected.sort_values(key).reset_index(drop=True),
    )
