"""Bad and awkward input (issue 2's list), on both engines where it applies.

Each case gives the right value or a clear error naming what was wrong; the user's frames are
never modified in place.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from engines import assert_same_recs

from reclib.data.schema import timestamps_to_ns
from reclib.exceptions import (
    ColumnMissingError,
    ColumnTypeError,
    InvalidParameterError,
    InvalidValueError,
    ReclibError,
)
from reclib.models import KNN, PopRec, RandomRec, UserPopRec, Wilson


@pytest.fixture()
def log() -> pd.DataFrame:
    return pd.DataFrame(
        {"user_idx": [0, 0, 1, 1, 2], "item_idx": [0, 1, 1, 2, 0], "relevance": [1.0, 2, 3, 4, 5]}
    )


@pytest.fixture(params=["pandas", pytest.param("spark", marks=pytest.mark.spark)])
def engine(request):
    return request.param


def as_engine(request, engine: str, frame: pd.DataFrame):
    if engine == "spark":
        return request.getfixturevalue("spark").createDataFrame(frame)
    return frame


def test_missing_column_named(request, engine: str, log: pd.DataFrame) -> None:
    bad = as_engine(request, engine, log.rename(columns={"item_idx": "item"}))
    with pytest.raises(ColumnMissingError, match=r"item_idx.*expected at least"):
        KNN().fit(bad)
    with pytest.raises(ColumnMissingError, match="relevance"):
        PopRec(use_relevance=True).fit(as_engine(request, engine, log.drop(columns="relevance")))


def test_string_relevance(request, engine: str, log: pd.DataFrame) -> None:
    bad = as_engine(request, engine, log.assign(relevance=log["relevance"].astype(str)))
    with pytest.raises(ColumnTypeError, match=r"`relevance`.*expected a numeric"):
        PopRec(use_relevance=True).fit(bad)


def test_float_ids(request, engine: str, log: pd.DataFrame) -> None:
    bad = as_engine(request, engine, log.assign(user_idx=log["user_idx"] + 0.5))
    with pytest.raises(ColumnTypeError, match=r"`user_idx`.*expected an integer"):
        KNN().fit(bad)


def test_nan_relevance(request, engine: str, log: pd.DataFrame) -> None:
    bad = log.copy()
    bad.loc[2, "relevance"] = np.nan
    with pytest.raises(InvalidValueError, match=r"`relevance`.*1 NaN"):
        KNN(use_relevance=True).fit(as_engine(request, engine, bad))


def test_negative_relevance_is_used_as_given(log: pd.DataFrame) -> None:
    negative = log.assign(relevance=[-1.0, 2, 3, 4, -5])
    pop = PopRec(use_relevance=True).fit(negative).item_popularity
    assert pop["relevance"].tolist() == pytest.approx([-6 / 3, 5 / 3, 4 / 3])
    with pytest.raises(InvalidValueError, match="0 and 1"):
        Wilson().fit(negative)
    with pytest.raises(InvalidValueError, match=">= 0"):
        RandomRec("relevance").fit(negative)


def test_negative_ids(log: pd.DataFrame) -> None:
    with pytest.raises(InvalidValueError, match=r"`item_idx`.*negative"):
        KNN().fit(log.assign(item_idx=[0, -1, 1, 2, 0]))


def test_duplicates_documented_handling() -> None:
    dup = pd.DataFrame({"user_idx": [0, 0, 1], "item_idx": [5, 5, 6], "relevance": [1.0, 1, 0]})
    # PopRec counts distinct users; with relevance, duplicates add up.
    assert PopRec().fit(dup).item_popularity["relevance"].tolist() == [0.5, 0.5]
    assert PopRec(True).fit(dup).item_popularity["relevance"].tolist() == [1.0, 0.0]
    # Wilson: every row is a trial.
    w = Wilson().fit(dup).item_popularity["relevance"].tolist()
    assert w[0] > w[1]
    # UserPopRec: shares of the summed relevance.
    shares = UserPopRec().fit(dup.assign(relevance=[1.0, 1, 2])).predict(dup, 5)
    assert shares["relevance"].tolist() == [1.0, 1.0]


def test_ids_beyond_int32(request, engine: str) -> None:
    big = 2**40
    frame = pd.DataFrame(
        {"user_idx": [big, big, big + 7, 3], "item_idx": [big * 2, 5, 5, big * 2],
         "relevance": 1.0}
    )
    engine_frame = as_engine(request, engine, frame)
    recs = KNN().fit(engine_frame).predict(engine_frame, 3)
    if engine == "spark":
        recs = recs.toPandas()
    got = sorted(zip(recs["user_idx"], recs["item_idx"]))
    assert got == [(3, 5), (big + 7, big * 2)]
    assert recs["user_idx"].dtype == np.int64


def test_empty_log(request, engine: str, log: pd.DataFrame) -> None:
    empty = log.iloc[:0]
    with pytest.raises(InvalidValueError, match="empty"):
        PopRec().fit(as_engine(request, engine, empty) if engine == "pandas" else
                     request.getfixturevalue("spark").createDataFrame(empty, schema=
                     "user_idx bigint, item_idx bigint, relevance double"))
    model = PopRec().fit(log)
    assert len(model.predict(empty, 3)) == 0  # no users in the predict log: no rows


@pytest.mark.parametrize("k", [0, 2, 100])
def test_k_values(log: pd.DataFrame, k: int) -> None:
    recs = PopRec().fit(log).predict(log, k, filter_seen_items=False)
    assert len(recs) == 3 * min(k, 3)


@pytest.mark.parametrize("k", [-1, 1.5, "3", True])
def test_bad_k(log: pd.DataFrame, k) -> None:
    with pytest.raises(InvalidParameterError, match="`k`"):
        PopRec().fit(log).predict(log, k)


def test_unseen_users(log: pd.DataFrame) -> None:
    assert set(PopRec().fit(log).predict(log, 2, users=[0, 42])["user_idx"]) == {0, 42}
    # KNN scores from history: a user without history gets nothing.
    assert set(KNN().fit(log).predict(log, 2, users=[0, 42])["user_idx"]) == {0}
    assert set(UserPopRec().fit(log).predict(log, 2, users=[0, 42])["user_idx"]) == {0}


def test_user_who_saw_everything(log: pd.DataFrame) -> None:
    everything = pd.concat(
        [log, pd.DataFrame({"user_idx": [9, 9, 9], "item_idx": [0, 1, 2], "relevance": 1.0})]
    )
    for model in (PopRec(), KNN(), RandomRec(seed=1)):
        recs = model.fit(everything).predict(everything, 5)
        assert 9 not in set(recs["user_idx"])


@pytest.mark.parametrize(
    "stamps",
    [
        pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-03", "2020-01-04", "2020-01-05"]),
        [1577836800, 1577923200, 1578009600, 1578096000, 1578182400],
        ["2020-01-01", "2020-01-02", "2020-01-03 10:00", "2020-01-04", "2020-01-05"],
    ],
    ids=["datetime", "seconds", "strings"],
)
def test_timestamp_forms(log: pd.DataFrame, stamps) -> None:
    expected = KNN().fit(log).predict(log, 2)
    with_time = log.assign(timestamp=stamps)
    pd.testing.assert_frame_equal(KNN().fit(with_time).predict(with_time, 2), expected)


def test_unparseable_timestamp_strings(log: pd.DataFrame) -> None:
    bad = log.assign(timestamp=["yesterday", "x", "y", "z", "w"])
    # KNN does not use time, so the column is not read and cannot fail its fit...
    pd.testing.assert_frame_equal(KNN().fit(bad).predict(log, 2), KNN().fit(log).predict(log, 2))
    # ...while reading it (as models and splitters that order by time do) names the column.
    with pytest.raises(ColumnTypeError, match="timestamp"):
        timestamps_to_ns(bad["timestamp"])


@pytest.mark.parametrize(
    "strings",
    [
        ["31/12/2020", "30/12/2020"],  # day-first: once read day-first, by guess
        ["2020-01-01", "01/02/2020"],  # day- or month-first: once read as 2 January
        ["12/31/2020"],  # month-first
        ["31.12.2020"],
    ],
    ids=["day_first", "ambiguous", "month_first", "dotted"],
)
def test_non_iso_timestamp_strings_refused(strings: list[str]) -> None:
    """Tester finding: day-first strings were misread; only year-first ISO 8601 is read."""
    bad = next(s for s in strings if not s.startswith("2020-"))
    with pytest.raises(ColumnTypeError) as err:
        timestamps_to_ns(pd.Series(strings))
    message = str(err.value)
    assert "`timestamp`" in message and repr(bad) in message and "ISO 8601" in message


def test_iso_timestamp_strings_read_exactly() -> None:
    strings = pd.Series(["2020-12-31", "2020-12-31 23:59:59", "2020-12-31T23:59:59+01:00", None])
    expected = pd.to_datetime(
        ["2020-12-31 00:00:00", "2020-12-31 23:59:59", "2020-12-31 22:59:59"], utc=True
    ).as_unit("ns").asi8
    got = timestamps_to_ns(strings)
    np.testing.assert_array_equal(got[:3], expected)
    assert got[3] == np.iinfo(np.int64).min  # missing sorts first


def test_day_first_timestamps_refused_by_splitters(request, engine: str, log: pd.DataFrame) -> None:
    """Splitters parse time strings on both engines (in the executors on Spark) the same way."""
    from reclib.splitters import UserSplitter

    frame = log.assign(
        timestamp=["2020-01-01", "31/12/2020", "2020-01-03", "2020-01-04", "01/02/2020"]
    )
    pattern = r"`timestamp` of `log` holds 2 value\(s\) that are not ISO 8601 dates, the first "
    # Spark's split is lazy, but the times are checked by a job of their own at split().
    first = "'31/12/2020'" if engine == "pandas" else r"'(31/12|01/02)/2020'"
    with pytest.raises(InvalidValueError, match=pattern + first):
        UserSplitter(1).split(as_engine(request, engine, frame))


@pytest.mark.parametrize("scale", [1, 1_000, 1_000_000, 1_000_000_000], ids=["s", "ms", "us", "ns"])
def test_integer_timestamps_in_any_unit(scale: int) -> None:
    seconds = np.array([1577836800, 1577923200, 946684800], dtype=np.int64)
    got = timestamps_to_ns(pd.Series(seconds * scale))
    np.testing.assert_array_equal(got, seconds * 1_000_000_000)


def test_inputs_not_modified(log: pd.DataFrame) -> None:
    frame = log.assign(timestamp=["2020-01-01"] * 5)
    before = frame.copy(deep=True)
    users = [0, 1]
    for model in (PopRec(True), Wilson(), UserPopRec(), RandomRec(seed=2), KNN(use_relevance=True)):
        fit_log = frame.assign(relevance=1.0) if isinstance(model, Wilson) else frame
        model.fit(fit_log).predict(frame, 2, users=users)
        model.predict_pairs(frame[["user_idx", "item_idx"]], frame)
    pd.testing.assert_frame_equal(frame, before)
    assert users == [0, 1]


def test_not_a_dataframe() -> None:
    with pytest.raises(ReclibError, match="`log` must be a pandas or Spark DataFrame"):
        PopRec().fit([(0, 1, 1.0)])


def test_bad_users_argument(log: pd.DataFrame) -> None:
    with pytest.raises(InvalidParameterError, match="`users`"):
        PopRec().fit(log).predict(log, 2, users=["a", "b"])


@pytest.mark.spark
def test_spark_predict_with_users_frame(spark, log: pd.DataFrame) -> None:
    spark_log = spark.createDataFrame(log)
    users = spark.createDataFrame(pd.DataFrame({"user_idx": [0, 42]}))
    remote = PopRec().fit(spark_log).predict(spark_log, 2, users=users).toPandas()
    local = PopRec().fit(log).predict(log, 2, users=[0, 42])
    assert_same_recs(local, remote)


@pytest.mark.parametrize(
    "ids",
    [[2**63 + 5], np.array([3, 2**63 + 5], dtype=np.uint64), [2**64 - 1]],
    ids=["list", "uint64_array", "uint64_max"],
)
@pytest.mark.parametrize("argument", ["users", "items"])
def test_ids_beyond_int64_refused_not_wrapped(ids, argument: str) -> None:
    """Tester finding: 2**63 + 5 was cast to int64 and became user 5 (or a negative id)."""
    log = pd.DataFrame({"user_idx": [0, 1, 5], "item_idx": [10, 11, 10], "relevance": 1.0})
    model = PopRec().fit(log)
    with pytest.raises(InvalidParameterError) as err:
        model.predict(log, 1, **{argument: ids})
    assert str(err.value) == (
        f"`{argument}` must hold ids <= 9223372036854775807 (int64), got {max(ids)}"
    )


@pytest.mark.parametrize("blank", ["", "NaT"])
def test_timestamp_strings_naming_no_time_refused_by_splitters(blank: str) -> None:
    """Tester finding: "" and "NaT" were read as the earliest time where None is refused."""
    from reclib.splitters import DateSplitter

    frame = pd.DataFrame({"user_idx": [0, 1], "item_idx": [0, 1], "relevance": 1.0,
                          "timestamp": ["2020-12-31", blank]})
    expected = f"holds 1 strings that name no time \\({blank!r}\\)"
    with pytest.raises(InvalidValueError, match=expected):
        DateSplitter("2020-06-01").split(frame)


@pytest.mark.spark
def test_string_ids_on_spark_point_to_the_indexer(spark) -> None:
    """Both engines refuse string ids with ColumnTypeError and the same advice."""
    log = pd.DataFrame({"user_idx": ["a", "b"], "item_idx": [1, 2], "relevance": 1.0})
    for frame in (log, spark.createDataFrame(log)):
        with pytest.raises(ColumnTypeError, match="`user_idx` of `log` has .*Map raw ids "
                           r"\(strings, floats\) with reclib.data.Indexer first"):
            PopRec().fit(frame)


@pytest.mark.spark
@pytest.mark.parametrize(
    "times",
    [
        ["2020-01-01", None, "2020-01-03", "2020-01-04", "2020-01-05"],
        ["2020-01-01", "", "2020-01-03", "NaT", "2020-01-05"],
        ["2020-01-01", "", "31/12/2020", "NaT", "2020-01-05"],
        np.array([1.0, np.nan, 3.0, 4.0, 5.0]),
        pd.array([1, None, 3, 4, 5], dtype="Int64"),
    ],
    ids=["null_string", "blank_strings", "blank_and_day_first", "nan_float", "null_int"],
)
@pytest.mark.parametrize("splitter", ["user", "date", "random"])
def test_bad_times_refused_at_split_on_both_engines(spark, log, times, splitter: str) -> None:
    """Tester finding: on Spark a bad time surfaced lazily as a worker error, not a reclib one."""
    from reclib.splitters import DateSplitter, RandomSplitter, UserSplitter

    make = {"user": lambda: UserSplitter(1), "date": lambda: DateSplitter(0.5),
            "random": lambda: RandomSplitter(0.5, seed=1)}[splitter]
    frame = log.assign(timestamp=times)
    with pytest.raises(InvalidValueError) as on_pandas:
        make().split(frame)
    with pytest.raises(InvalidValueError) as on_spark:
        make().split(spark.createDataFrame(frame).repartition(3))
    assert str(on_spark.value) == str(on_pandas.value)
