"""Tests of reclib.splitters: the rules of EVALUATION.md §3 on pandas, the same rows on Spark."""

from __future__ import annotations

import inspect
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from reclib.exceptions import (
    ColumnMissingError,
    ColumnTypeError,
    InvalidParameterError,
    InvalidValueError,
)
from reclib.splitters import (
    ColdUserRandomSplitter,
    DateSplitter,
    NewUsersSplitter,
    RandomSplitter,
    Splitter,
    UserSplitter,
)

COLUMNS = ["user_idx", "item_idx", "timestamp", "relevance"]


def rows(frame: pd.DataFrame) -> Counter:
    """The rows of a frame as a multiset of tuples (NaN written as None, so it compares)."""
    clean = frame[COLUMNS].astype(object).where(frame[COLUMNS].notna(), None)
    return Counter(map(tuple, clean.itertuples(index=False)))


def random_log(seed: int, n: int = 600, positive: bool = True) -> pd.DataFrame:
    """A random log with repeated (user, item) pairs and ties in time."""
    rng = np.random.default_rng(seed)
    low = 1 if positive else -1
    return pd.DataFrame(
        {
            "user_idx": rng.integers(0, 30, n),
            "item_idx": rng.integers(0, 50, n),
            "timestamp": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 40, n), "D"),
            "relevance": rng.integers(low, 6, n).astype(float),
        }
    )


def read_ml100k(data_dir: Path) -> pd.DataFrame:
    return pd.read_csv(
        data_dir / "ml-100k" / "u.data",
        sep="\t",
        header=None,
        names=["user_idx", "item_idx", "relevance", "timestamp"],
    )


ALL_SPLITTERS = [
    UserSplitter(0.3),
    UserSplitter(2, shuffle=True, seed=5),
    DateSplitter(0.6),
    DateSplitter("2020-01-20"),
    RandomSplitter(0.25, seed=1),
    NewUsersSplitter(0.2),
    ColdUserRandomSplitter(7, seed=2),
]


# ---------------------------------------------------------------------------------------------
# The headline check of EVALUATION.md §1.


def test_ml100k_user_split(data_dir: Path) -> None:
    log = read_ml100k(data_dir)
    train, test = UserSplitter(0.2, drop_cold_users=True, drop_cold_items=True).split(log)
    assert (len(train), len(test)) == (80_000, 19_912)


@pytest.mark.spark
def test_ml100k_user_split_spark(spark, data_dir: Path) -> None:
    log = read_ml100k(data_dir)
    splitter = UserSplitter(0.2, drop_cold_users=True, drop_cold_items=True)
    train, test = splitter.split(spark.createDataFrame(log))
    assert (train.count(), test.count()) == (80_000, 19_912)

    pandas_train, pandas_test = splitter.split(log)
    assert rows(test.toPandas()) == rows(pandas_test)
    assert rows(train.toPandas()) == rows(pandas_train)


# ---------------------------------------------------------------------------------------------
# Rules every splitter follows.


@pytest.mark.parametrize("splitter", ALL_SPLITTERS, ids=repr)
def test_no_row_lost_or_duplicated(splitter: Splitter) -> None:
    log = random_log(0)
    train, test = splitter.split(log)
    assert rows(train) + rows(test) == rows(log)
    assert len(test) > 0
    assert len(train) > 0


@pytest.mark.parametrize("splitter", ALL_SPLITTERS, ids=repr)
def test_input_not_modified_and_dtypes_kept(splitter: Splitter) -> None:
    log = random_log(1).assign(timestamp=lambda f: f["timestamp"].dt.strftime("%Y-%m-%d"))
    before = log.copy()
    train, test = splitter.split(log)
    pd.testing.assert_frame_equal(log, before)
    assert (train.dtypes == log.dtypes).all()
    assert (test.dtypes == log.dtypes).all()
    assert list(test.columns) == list(log.columns)
    pd.testing.assert_frame_equal(test, log.loc[test.index])  # original values and index


@pytest.mark.parametrize("splitter", ALL_SPLITTERS, ids=repr)
def test_non_positive_relevance_leaves_test_only(splitter: Splitter) -> None:
    log = random_log(2, positive=False)
    log.loc[log.index[:5], "relevance"] = np.nan
    train, test = splitter.split(log)
    assert (test["relevance"] > 0).all()
    assert rows(train) + rows(test) <= rows(log)
    kept = Counter({r: c for r, c in rows(log).items() if r[3] is not None and r[3] > 0})
    dropped = rows(log) - rows(train)
    assert rows(test) == dropped & kept
    assert (train["relevance"] <= 0).any()


@pytest.mark.parametrize(
    "splitter",
    [
        UserSplitter(0.5, drop_cold_items=True, drop_cold_users=True),
        DateSplitter(0.5, drop_cold_items=True, drop_cold_users=True),
        RandomSplitter(0.5, drop_cold_items=True, drop_cold_users=True, seed=3),
        NewUsersSplitter(0.5, drop_cold_items=True),
        ColdUserRandomSplitter(0.5, drop_cold_items=True, seed=3),
    ],
    ids=repr,
)
def test_cold_rows_dropped(splitter: Splitter) -> None:
    log = random_log(3, n=120)
    train, test = splitter.split(log)
    assert test["item_idx"].isin(train["item_idx"]).all()
    if splitter.drop_cold_users:
        assert test["user_idx"].isin(train["user_idx"]).all()
    without = type(splitter)(**{**_params(splitter), "drop_cold_items": False})
    _, full_test = without.split(log)
    assert len(full_test) > len(test)  # something cold was there to drop


def _params(splitter: Splitter) -> dict:
    names = inspect.signature(type(splitter)).parameters
    return {name: getattr(splitter, name) for name in names}


# ---------------------------------------------------------------------------------------------
# UserSplitter.


def test_user_splitter_on_fixture(fixture_log: pd.DataFrame) -> None:
    train, test = UserSplitter(1).split(fixture_log)
    # Last row by (timestamp, item_idx) per user; user 2 and 3 have all rows at one time.
    assert sorted(zip(test["user_idx"], test["item_idx"])) == [(0, 1), (1, 0), (2, 2), (3, 1)]
    assert len(train) == 7


def test_user_splitter_fraction_rounds_half_to_even() -> None:
    sizes = {0: 5, 1: 3, 2: 1, 3: 7, 4: 10}
    log = pd.DataFrame(
        [(u, i, i, 1.0) for u, n in sizes.items() for i in range(n)], columns=COLUMNS
    )
    for fraction in (0.5, 0.1, 0.3, 0.25):
        _, test = UserSplitter(fraction).split(log)
        counts = test.groupby("user_idx").size().reindex(list(sizes), fill_value=0)
        assert counts.to_dict() == {u: round(fraction * n) for u, n in sizes.items()}
        # The last rows in time, ties by item: here items are the times themselves.
        for user, n_test in counts.items():
            assert sorted(test.loc[test["user_idx"] == user, "item_idx"]) == list(
                range(sizes[user] - n_test, sizes[user])
            )


def test_user_splitter_int_size_caps_at_user_rows() -> None:
    log = pd.DataFrame([(0, 1, 1, 1.0), (0, 2, 2, 1.0), (1, 3, 1, 1.0)], columns=COLUMNS)
    train, test = UserSplitter(5).split(log)
    assert len(train) == 0
    assert len(test) == 3


def test_timestamp_forms_give_the_same_split() -> None:
    log = random_log(4)
    seconds = log.assign(timestamp=log["timestamp"].astype("int64") // 10**9)
    forms = {
        "datetime": log,
        "seconds": seconds,
        "strings": log.assign(timestamp=log["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S")),
        "aware": log.assign(timestamp=log["timestamp"].dt.tz_localize("UTC")),
        "float": seconds.assign(timestamp=seconds["timestamp"].astype(float)),
    }
    for splitter in (UserSplitter(0.3), UserSplitter(0.3, shuffle=True, seed=9), DateSplitter(0.5)):
        indexes = {name: list(splitter.split(frame)[1].index) for name, frame in forms.items()}
        assert len({tuple(v) for v in indexes.values()}) == 1, (splitter, indexes)


def test_seeded_shuffle_is_repeatable() -> None:
    log = random_log(5)
    first = UserSplitter(3, shuffle=True, seed=1).split(log)[1]
    again = UserSplitter(3, shuffle=True, seed=1).split(log.sample(frac=1.0, random_state=0))[1]
    other = UserSplitter(3, shuffle=True, seed=2).split(log)[1]
    assert rows(first) == rows(again)
    assert rows(first) != rows(other)
    assert (first.groupby("user_idx").size() <= 3).all()


# ---------------------------------------------------------------------------------------------
# The other splitters.


def test_date_splitter() -> None:
    log = random_log(6)
    start = pd.Timestamp("2020-01-25")
    train, test = DateSplitter(start).split(log)
    assert (test["timestamp"] >= start).all()
    assert (train["timestamp"] < start).all()
    assert rows(DateSplitter("2020-01-25").split(log)[1]) == rows(test)

    seconds = log.assign(timestamp=log["timestamp"].astype("int64") // 10**9)
    as_int = DateSplitter(int(start.timestamp())).split(seconds)[1]
    assert list(as_int.index) == list(test.index)

    low, high = log["timestamp"].min(), log["timestamp"].max()
    by_fraction = DateSplitter(0.25).split(log)[1]
    assert (by_fraction["timestamp"] >= low + 0.25 * (high - low)).all()
    assert len(by_fraction) == (log["timestamp"] >= low + 0.25 * (high - low)).sum()


def test_new_users_splitter() -> None:
    log = random_log(7)
    train, test = NewUsersSplitter(5).split(log)
    firsts = log.groupby("user_idx")["timestamp"].min().reset_index()
    latest = firsts.sort_values(["timestamp", "user_idx"]).tail(5)["user_idx"]
    assert set(test["user_idx"]) == set(latest)
    assert not set(test["user_idx"]) & set(train["user_idx"])


def test_cold_user_random_splitter() -> None:
    log = random_log(8)
    n_users = log["user_idx"].nunique()
    train, test = ColdUserRandomSplitter(0.3, seed=4).split(log)
    assert test["user_idx"].nunique() == round(0.3 * n_users)
    assert not set(test["user_idx"]) & set(train["user_idx"])
    again = ColdUserRandomSplitter(0.3, seed=4).split(log)[1]
    assert rows(again) == rows(test)


def test_random_splitter_share() -> None:
    rng = np.random.default_rng(0)
    n = 20_000
    log = pd.DataFrame(
        {
            "user_idx": rng.integers(0, 1000, n),
            "item_idx": rng.integers(0, 1000, n),
            "timestamp": rng.integers(0, 10**9, n),
            "relevance": np.ones(n),
        }
    )
    _, test = RandomSplitter(0.2, seed=7).split(log)
    assert abs(len(test) / n - 0.2) < 0.015
    assert rows(RandomSplitter(0.2, seed=7).split(log)[1]) == rows(test)


# ---------------------------------------------------------------------------------------------
# Errors.


@pytest.mark.parametrize(
    ("make", "parameter"),
    [
        (lambda: UserSplitter(-1), "item_test_size"),
        (lambda: UserSplitter(0), "item_test_size"),
        (lambda: UserSplitter(1.0), "item_test_size"),
        (lambda: UserSplitter(1.5), "item_test_size"),
        (lambda: UserSplitter("0.2"), "item_test_size"),
        (lambda: UserSplitter(True), "item_test_size"),
        (lambda: UserSplitter(0.2, shuffle="yes"), "shuffle"),
        (lambda: UserSplitter(0.2, seed=-1), "seed"),
        (lambda: UserSplitter(0.2, seed=1.5), "seed"),
        (lambda: UserSplitter(0.2, drop_cold_items=1), "drop_cold_items"),
        (lambda: DateSplitter(1.5), "test_start"),
        (lambda: DateSplitter(0.0), "test_start"),
        (lambda: DateSplitter("not a date"), "test_start"),
        (lambda: DateSplitter(None), "test_start"),
        (lambda: RandomSplitter(0), "test_size"),
        (lambda: RandomSplitter(2), "test_size"),
        (lambda: NewUsersSplitter(-0.5), "test_size"),
        (lambda: ColdUserRandomSplitter(1.0), "test_size"),
        (lambda: ColdUserRandomSplitter(0.2, seed="x"), "seed"),
    ],
)
def test_bad_parameters(make: object, parameter: str) -> None:
    with pytest.raises(InvalidParameterError, match=f"`{parameter}`"):
        make()


def test_bad_logs() -> None:
    log = random_log(9, n=20)
    with pytest.raises(ColumnMissingError, match="timestamp"):
        UserSplitter(0.2).split(log.drop(columns="timestamp"))
    with pytest.raises(ColumnTypeError, match="user_idx"):
        UserSplitter(0.2).split(log.assign(user_idx=log["user_idx"].astype(str)))
    with pytest.raises(ColumnTypeError, match="relevance"):
        RandomSplitter(0.2, seed=1).split(log.assign(relevance="high"))
    with pytest.raises(InvalidValueError, match="timestamp"):
        UserSplitter(0.2).split(log.assign(timestamp="yesterday-ish"))
    with pytest.raises(InvalidValueError, match="timestamp"):
        DateSplitter(0.5).split(log.assign(timestamp=pd.NaT))
    with pytest.raises(ColumnTypeError, match="log"):
        UserSplitter(0.2).split(log.to_dict())

    # RandomSplitter needs no time; without one it hashes (user, item) only.
    train, test = RandomSplitter(0.5, seed=1).split(log.drop(columns="timestamp"))
    assert len(train) + len(test) == len(log)


# ---------------------------------------------------------------------------------------------
# Spark: the same rows as pandas (few tests, tiny data).


@pytest.mark.spark
@pytest.mark.parametrize("splitter", ALL_SPLITTERS, ids=repr)
def test_spark_gives_the_same_rows(spark, splitter: Splitter) -> None:
    log = random_log(10, n=300, positive=False)
    spark_log = spark.createDataFrame(log)
    train, test = splitter.split(spark_log)
    assert train.schema == spark_log.schema
    assert test.schema == spark_log.schema

    expected_train, expected_test = splitter.split(log)
    assert rows(test.toPandas()) == rows(expected_test)
    assert rows(train.toPandas()) == rows(expected_train)


@pytest.mark.spark
def test_spark_string_and_second_timestamps(spark) -> None:
    log = random_log(11, n=200)
    splitter = UserSplitter(0.4, shuffle=True, seed=3, drop_cold_items=True)
    for form in (
        log.assign(timestamp=log["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S")),
        log.assign(timestamp=log["timestamp"].astype("int64") // 10**9),
    ):
        spark_log = spark.createDataFrame(form)
        test = splitter.split(spark_log)[1]
        assert test.schema == spark_log.schema  # strings stay strings, ints stay ints
        assert rows(test.toPandas()) == rows(splitter.split(form)[1])


@pytest.mark.parametrize("scale", [1, 1_000, 1_000_000, 1_000_000_000], ids=["s", "ms", "us", "ns"])
def test_integer_timestamps_in_any_unit_split_alike(scale: int) -> None:
    """Integer epoch times in s, ms, us or ns order the rows the same way."""
    from reclib.splitters import DateSplitter, UserSplitter

    seconds = np.array([100, 300, 200, 50, 400, 150], dtype=np.int64) + 1_577_836_800
    log = pd.DataFrame({"user_idx": [0, 0, 0, 1, 1, 1], "item_idx": [1, 2, 3, 1, 2, 3],
                        "relevance": 1.0, "timestamp": seconds * scale})
    _, test = UserSplitter(1).split(log)
    assert sorted(zip(test.user_idx, test.item_idx)) == [(0, 2), (1, 2)]
    _, test = DateSplitter(pd.Timestamp(1_577_836_800 + 200, unit="s", tz="UTC")).split(log)
    assert sorted(zip(test.user_idx, test.item_idx)) == [(0, 2), (0, 3), (1, 2)]


@pytest.mark.spark
@pytest.mark.parametrize(
    "make",
    [
        lambda: DateSplitter(1_000_000_000),
        lambda: DateSplitter(0.5),
        lambda: RandomSplitter(0.5, seed=3),
        lambda: UserSplitter(1, shuffle=True, seed=3),
    ],
    ids=["date_seconds", "date_fraction", "random", "user_shuffled"],
)
def test_integer_time_unit_decided_over_the_whole_column_on_spark(spark, make) -> None:
    """Tester finding: each Spark partition guessed its own unit, so splits differed.

    Milliseconds before 1973 look like seconds when a partition holds only them; the unit is
    the whole column's (here ms), as on pandas, whatever the partitioning.
    """
    log = pd.DataFrame({
        "user_idx": [0, 0, 1, 1],
        "item_idx": [1, 2, 1, 2],
        "relevance": 1.0,
        "timestamp": np.array(
            [5_000_000_000, 6_000_000_000, 1_600_000_000_000, 1_600_000_100_000], dtype=np.int64
        ),
    })
    train, test = make().split(log)
    frame = spark.createDataFrame(log).repartitionByRange(2, "user_idx")
    assert frame.rdd.glom().map(len).collect() == [2, 2]  # one user per partition
    spark_train, spark_test = make().split(frame)

    def rows(df: pd.DataFrame) -> list[tuple[int, int]]:
        return sorted(zip(df["user_idx"].tolist(), df["item_idx"].tolist()))

    assert rows(spark_test.toPandas()) == rows(test)
    assert rows(spark_train.toPandas()) == rows(train)
    if isinstance(make(), DateSplitter) and make().test_start == 1_000_000_000:
        assert rows(test) == [(1, 1), (1, 2)]  # user 0's rows are 1970 in milliseconds
