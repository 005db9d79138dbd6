"""Tests of reclib.metrics: hand-computed cases, a plain per-user reference, both engines."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest
from reclib.exceptions import (
    ColumnMissingError,
    ColumnTypeError,
    InvalidParameterError,
    InvalidValueError,
)
from reclib.metrics import (
    MAP,
    MRR,
    NDCG,
    Coverage,
    HitRate,
    Precision,
    Recall,
    evaluate,
)

RANKING = [HitRate, Precision, Recall, MAP, NDCG, MRR]
NAMES = [cls.name for cls in RANKING]


# ---------------------------------------------------------------------------------------------
# A plain reference: one user at a time, written straight from EVALUATION.md §2.


def reference_lists(recs: pd.DataFrame) -> dict[int, list[int]]:
    """Each user's list: relevance DESC, item ASC, a repeated item kept once."""
    lists: dict[int, list[int]] = {}
    for user, rows in recs.groupby("user_idx"):
        ordered = sorted(zip(rows["relevance"], rows["item_idx"]), key=lambda p: (-p[0], p[1]))
        items: list[int] = []
        for _, item in ordered:
            if item not in items:
                items.append(int(item))
        lists[int(user)] = items
    return lists


def reference_value(name: str, rec: list[int], gt: set[int], k: int) -> float:
    top = rec[:k]
    hits = [1 if item in gt else 0 for item in top]
    if name == "HitRate":
        return float(any(hits))
    if name == "Precision":
        return sum(hits) / k
    if name == "Recall":
        return sum(hits) / len(gt)
    if name == "MAP":
        total = sum(sum(hits[:i]) / i for i in range(1, len(top) + 1) if hits[i - 1])
        return total / min(k, len(gt))
    if name == "NDCG":
        dcg = sum(h / math.log2(i + 2) for i, h in enumerate(hits))
        idcg = sum(1 / math.log2(i + 2) for i in range(min(k, len(gt))))
        return dcg / idcg
    if name == "MRR":
        return next((1 / (i + 1) for i, h in enumerate(hits) if h), 0.0)
    raise ValueError(name)


def reference(recs: pd.DataFrame, gt: pd.DataFrame, name: str, k: int) -> dict[int, float]:
    lists = reference_lists(recs)
    relevant: dict[int, set[int]] = defaultdict(set)
    for user, item in zip(gt["user_idx"], gt["item_idx"]):
        relevant[int(user)].add(int(item))
    return {u: reference_value(name, lists.get(u, []), relevant[u], k) for u in relevant}


def random_inputs(seed: int, n_users: int = 40, n_items: int = 30) -> tuple[pd.DataFrame, ...]:
    """Random recs (with repeated items and tied scores) and ground truth (with repeats)."""
    rng = np.random.default_rng(seed)
    n_recs = int(rng.integers(50, 400))
    recs = pd.DataFrame(
        {
            "user_idx": rng.integers(0, n_users, n_recs),
            "item_idx": rng.integers(0, n_items, n_recs),
            "relevance": rng.integers(0, 8, n_recs) / 4.0,  # many ties
        }
    )
    n_gt = int(rng.integers(20, 200))
    gt = pd.DataFrame(
        {
            "user_idx": rng.integers(n_users // 4, n_users + 10, n_gt),  # some without recs
            "item_idx": rng.integers(0, n_items, n_gt),
        }
    )
    return recs, gt


# ---------------------------------------------------------------------------------------------
# Hand-computed cases.


@pytest.fixture()
def small() -> tuple[pd.DataFrame, pd.DataFrame]:
    """User 0: list [1, 2, 3, 4], relevant {2, 4, 7}; user 1: no recs, relevant {5}."""
    recs = pd.DataFrame(
        {
            "user_idx": [0, 0, 0, 0, 9],
            "item_idx": [3, 1, 4, 2, 2],
            "relevance": [0.7, 0.9, 0.6, 0.8, 1.0],
        }
    )
    gt = pd.DataFrame({"user_idx": [0, 0, 0, 1], "item_idx": [2, 4, 7, 5]})
    return recs, gt


L2 = math.log2
SMALL_USER0_AT_4 = {
    "HitRate": 1.0,
    "Precision": 2 / 4,
    "Recall": 2 / 3,
    "MAP": (1 / 2 + 2 / 4) / 3,
    "NDCG": (1 / L2(3) + 1 / L2(5)) / (1 + 1 / L2(3) + 1 / L2(4)),
    "MRR": 1 / 2,
}
SMALL_USER0_AT_2 = {
    "HitRate": 1.0,
    "Precision": 1 / 2,
    "Recall": 1 / 3,
    "MAP": (1 / 2) / 2,
    "NDCG": (1 / L2(3)) / (1 + 1 / L2(3)),
    "MRR": 1 / 2,
}


@pytest.mark.parametrize("cls", RANKING)
def test_hand_computed_values(cls: type, small: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    recs, gt = small
    metric = cls()

    # User 1 has no recommendations: it scores 0 and still counts in the mean.
    assert metric(recs, gt, 4) == pytest.approx(SMALL_USER0_AT_4[cls.name] / 2, abs=1e-12)
    assert metric(recs, gt, 1) == 0.0
    both = metric(recs, gt, k=[2, 4])
    assert set(both) == {2, 4}
    assert both[2] == pytest.approx(SMALL_USER0_AT_2[cls.name] / 2, abs=1e-12)

    per_user = metric.per_user(recs, gt, 4)
    assert list(per_user.columns) == ["user_idx", "value"]
    assert per_user["user_idx"].tolist() == [0, 1]  # only ground-truth users, sorted
    assert per_user["value"].tolist() == pytest.approx([SMALL_USER0_AT_4[cls.name], 0.0])


def test_ties_and_duplicates() -> None:
    # Ties in relevance go by item id; the second copy of item 3 is dropped and takes no rank.
    recs = pd.DataFrame(
        {"user_idx": [0, 0, 0, 0], "item_idx": [5, 3, 3, 9], "relevance": [1.0, 1.0, 0.5, 0.4]}
    )
    gt = pd.DataFrame({"user_idx": [0, 0], "item_idx": [9, 9], "extra": ["a", "b"]})
    assert MRR()(recs, gt, 3) == pytest.approx(1 / 3)
    assert HitRate()(recs, gt, 2) == 0.0
    assert Recall()(recs, gt, 3) == 1.0  # the repeated relevant item counts once
    assert Precision()(recs, gt, 10) == pytest.approx(1 / 10)  # still divided by k

    # A duplicate whose later copy has the higher score: the higher score ranks it.
    recs2 = pd.DataFrame(
        {"user_idx": [0, 0, 0], "item_idx": [9, 4, 9], "relevance": [0.1, 0.5, 0.9]}
    )
    assert MRR()(recs2, gt, 1) == 1.0


def test_coverage_hand_computed() -> None:
    recs = pd.DataFrame(
        {
            "user_idx": [0, 0, 0, 1, 1],
            "item_idx": [1, 2, 3, 1, 8],
            "relevance": [3.0, 2.0, 1.0, 5.0, 4.0],
        }
    )
    train = pd.DataFrame({"user_idx": [0, 0, 1, 2], "item_idx": [1, 2, 3, 4]})
    coverage = Coverage(train)
    # Top 1: {1}; top 2: {1, 2, 8}, 8 is not a train item; top 3: {1, 2, 3, 8}.
    assert coverage(recs, None, 1) == pytest.approx(1 / 4)
    assert coverage(recs, None, [2, 3]) == pytest.approx({2: 2 / 4, 3: 3 / 4})


# ---------------------------------------------------------------------------------------------
# Against the reference on random inputs.


@pytest.mark.parametrize("seed", range(6))
def test_matches_reference_on_random_inputs(seed: int) -> None:
    recs, gt = random_inputs(seed)
    ks = [1, 3, 10]
    result = evaluate(recs, gt, ks)
    for name, cls in zip(NAMES, RANKING):
        for k in ks:
            expected = reference(recs, gt, name, k)
            per_user = cls().per_user(recs, gt, k).set_index("user_idx")["value"]
            assert per_user.between(0.0, 1.0).all(), (name, k)
            assert per_user.to_dict() == pytest.approx(expected, abs=1e-12), (name, k)
            mean = float(np.mean(list(expected.values())))
            assert result[f"{name}@{k}"] == pytest.approx(mean, abs=1e-12)
            assert cls()(recs, gt, k) == pytest.approx(mean, abs=1e-12)


def test_evaluate_names_order_and_coverage(small: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    recs, gt = small
    train = pd.DataFrame({"item_idx": [1, 2, 3, 4, 5]})
    result = evaluate(recs, gt, [2, 4], metrics=["ndcg", MRR(), Coverage(train)])
    assert list(result) == ["NDCG@2", "NDCG@4", "MRR@2", "MRR@4", "Coverage@2", "Coverage@4"]
    assert result["NDCG@4"] == NDCG()(recs, gt, 4)
    assert result["Coverage@4"] == pytest.approx(4 / 5)

    everything = evaluate(recs, gt, 4, train=train)
    assert list(everything) == [f"{n}@4" for n in NAMES] + ["Coverage@4"]
    assert evaluate(recs, gt, 4, metrics=["Coverage"], train=train) == {"Coverage@4": 4 / 5}


def test_inputs_are_not_modified(small: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    recs, gt = small
    before = recs.copy(), gt.copy()
    evaluate(recs, gt, [1, 4], train=gt)
    pd.testing.assert_frame_equal(recs, before[0])
    pd.testing.assert_frame_equal(gt, before[1])


# ---------------------------------------------------------------------------------------------
# Errors.


@pytest.mark.parametrize("k", [0, -3, True, 2.0, "10", [], [5, 0], None])
def test_bad_k(k: object, small: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    recs, gt = small
    with pytest.raises(InvalidParameterError, match="`k`"):
        NDCG()(recs, gt, k)


def test_bad_inputs(small: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    recs, gt = small
    with pytest.raises(ColumnMissingError, match="relevance"):
        NDCG()(recs.drop(columns="relevance"), gt, 5)
    with pytest.raises(ColumnTypeError, match="relevance"):
        NDCG()(recs.assign(relevance="x"), gt, 5)
    with pytest.raises(ColumnTypeError, match="ground_truth"):
        NDCG()(recs, gt.to_dict(), 5)
    with pytest.raises(InvalidValueError, match="ground_truth"):
        NDCG()(recs, gt.iloc[:0], 5)
    with pytest.raises(InvalidParameterError, match="per_user"):
        NDCG().per_user(recs, gt, [1, 2])
    with pytest.raises(InvalidParameterError, match="unknown name"):
        evaluate(recs, gt, 5, metrics=["nDCGG"])
    with pytest.raises(InvalidParameterError, match="train"):
        evaluate(recs, gt, 5, metrics=["coverage"])
    with pytest.raises(InvalidValueError, match="train"):
        Coverage(gt.iloc[:0])(recs, None, 5)


# ---------------------------------------------------------------------------------------------
# Spark: the same numbers (few tests, tiny data).


@pytest.mark.spark
def test_spark_matches_pandas(spark) -> None:
    recs, gt = random_inputs(11, n_users=60)
    train = pd.DataFrame({"item_idx": np.arange(0, 40, 2)})
    ks = [1, 5, 10]
    expected = evaluate(recs, gt, ks, train=train)

    spark_recs, spark_gt = spark.createDataFrame(recs), spark.createDataFrame(gt)
    for got in (
        evaluate(spark_recs, spark_gt, ks, train=spark.createDataFrame(train)),
        evaluate(spark_recs, gt, ks, train=train),  # mixed inputs run on Spark
        evaluate(recs, spark_gt, ks, train=train),
    ):
        assert list(got) == list(expected)
        for label, value in expected.items():
            assert got[label] == pytest.approx(value, abs=1e-9), label


@pytest.mark.spark
def test_spark_per_user_and_single_metric(spark, small) -> None:
    recs, gt = small
    spark_recs = spark.createDataFrame(recs)
    spark_gt = spark.createDataFrame(gt.astype({"user_idx": "int32"}))

    assert NDCG()(spark_recs, spark_gt, 4) == pytest.approx(SMALL_USER0_AT_4["NDCG"] / 2)
    assert MAP()(spark_recs, gt, [2, 4]) == pytest.approx(
        {2: SMALL_USER0_AT_2["MAP"] / 2, 4: SMALL_USER0_AT_4["MAP"] / 2}
    )

    per_user = Recall().per_user(spark_recs, spark_gt, 4)
    assert type(per_user).__name__ == "DataFrame"
    assert hasattr(per_user, "sparkSession")
    assert per_user.schema["user_idx"].dataType.typeName() == "integer"
    rows = sorted((r["user_idx"], r["value"]) for r in per_user.collect())
    assert rows == [(0, pytest.approx(2 / 3)), (1, 0.0)]


def test_evaluate_accepts_a_single_metric() -> None:
    from reclib.metrics import NDCG, evaluate

    recs = pd.DataFrame({"user_idx": [1, 1], "item_idx": [5, 6], "relevance": [2.0, 1.0]})
    truth = pd.DataFrame({"user_idx": [1], "item_idx": [6]})
    expected = 1 / np.log2(3)
    assert evaluate(recs, truth, 2, metrics="ndcg") == {"NDCG@2": pytest.approx(expected)}
    assert evaluate(recs, truth, 2, metrics=NDCG()) == {"NDCG@2": pytest.approx(expected)}
