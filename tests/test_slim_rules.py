"""SLIM, ADMM-SLIM and association rules (MODELS.md §4.7, §4.8, §4.10) on both engines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from engines import assert_same_recs, both_engines
from reference import random_log

from reclib.exceptions import (
    ColumnMissingError,
    ColumnTypeError,
    InvalidParameterError,
)
from reclib.models.rules import AssociationRulesItemRec
from reclib.models.slim import ADMMSLIM, SLIM


def similarity_dict(model) -> dict[tuple[int, int], float]:
    table = model.similarity
    return {
        (int(a), int(b)): float(s)
        for a, b, s in zip(table["item_idx_one"], table["item_idx_two"], table["similarity"])
    }


# --- SLIM --------------------------------------------------------------------------------------

def test_slim_worked_example(fixture_log: pd.DataFrame) -> None:
    model = SLIM(0.0, 0.01, seed=42).fit(fixture_log)
    expected = {
        (0, 1): 0.60048005, (0, 2): 0.12882786, (0, 3): 0.12860215, (1, 0): 1.06810235,
        (1, 2): 0.23784898, (2, 0): 0.25165837, (2, 1): 0.26372437, (3, 0): 1.32888889,
    }
    got = similarity_dict(model)
    assert set(got) == set(expected)
    for key, value in expected.items():
        # MODELS.md: beta = 0 has flat optima; the reference stopped early. Agree to ~1e-3.
        assert got[key] == pytest.approx(value, abs=2e-3), key

    recs = model.predict(fixture_log, k=1).sort_values("user_idx", ascending=False)
    assert recs["relevance"].tolist() == pytest.approx(
        [0.4955047, 0.12860215, 0.60048005, 0.12860215], abs=3e-3
    )


@pytest.mark.parametrize("beta, lambda_", [(0.01, 0.01), (0.5, 0.05), (0.0, 0.1)])
def test_slim_matches_sklearn_elastic_net(beta: float, lambda_: float) -> None:
    linear_model = pytest.importorskip("sklearn.linear_model")
    rng = np.random.default_rng(4)
    log = random_log(rng, 40, 12, 250)
    model = SLIM(beta, lambda_).fit(log)
    got = similarity_dict(model)

    users, items = log["user_idx"].to_numpy(), log["item_idx"].to_numpy()
    dense = np.zeros((users.max() + 1, items.max() + 1))
    np.add.at(dense, (users, items), log["relevance"].to_numpy())
    for c in range(dense.shape[1]):
        design = dense.copy()
        design[:, c] = 0.0
        solver = linear_model.ElasticNet(
            alpha=beta + lambda_, l1_ratio=lambda_ / (beta + lambda_), positive=True,
            fit_intercept=False, tol=1e-12, max_iter=200_000,
        )
        solver.fit(design, dense[:, c])
        for j, weight in enumerate(solver.coef_):
            assert got.get((j, c), 0.0) == pytest.approx(weight, abs=1e-4), (j, c)


@pytest.mark.parametrize("kwargs, name", [
    ({"beta": -1.0}, "beta"), ({"lambda_": 0.0}, "lambda_"), ({"lambda_": -2.0}, "lambda_"),
])
def test_slim_bad_penalties(kwargs: dict, name: str) -> None:
    with pytest.raises(InvalidParameterError, match=f"`{name}`"):
        SLIM(**kwargs)


def test_slim_single_item_and_no_cooccurrence() -> None:
    one = pd.DataFrame({"user_idx": [0, 1], "item_idx": [5, 5], "relevance": 1.0})
    assert len(SLIM().fit(one).predict(one, 3, filter_seen_items=False)) == 0
    apart = pd.DataFrame({"user_idx": [0, 1], "item_idx": [5, 6], "relevance": 1.0})
    assert len(SLIM().fit(apart).similarity) == 0


# --- ADMM-SLIM ---------------------------------------------------------------------------------

def test_admm_slim_worked_example() -> None:
    log = pd.DataFrame(
        {"user_idx": [0, 1, 2, 1, 2, 0, 3], "item_idx": [0, 0, 1, 1, 2, 2, 0],
         "relevance": [1.0, 1, 2, 2, 2, 2, 2]}
    )
    model = ADMMSLIM(1, 10, 42).fit(log)
    expected = {
        (0, 1): 0.03095617860316846, (0, 2): 0.030967752554031502,
        (1, 0): 0.031891083964224354, (1, 2): 0.1073860741574666,
        (2, 0): 0.031883667509449376, (2, 1): 0.10739028463512135,
    }
    got = similarity_dict(model)
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-12), key
    assert model.iterations == 5 and model.rho == pytest.approx(0.3125)
    assert len(model.predict(log, k=1)) == 4


def test_admm_slim_refuses_huge_catalogue() -> None:
    log = pd.DataFrame({"user_idx": np.arange(3000), "item_idx": np.arange(3000),
                        "relevance": 1.0})
    with pytest.raises(InvalidParameterError, match=r"3000 items needs about .* GiB"):
        ADMMSLIM(memory_limit_gb=0.1).fit(log)


@pytest.mark.parametrize("kwargs, name", [({"lambda_1": -1}, "lambda_1"),
                                          ({"lambda_2": 0}, "lambda_2")])
def test_admm_slim_bad_penalties(kwargs: dict, name: str) -> None:
    with pytest.raises(InvalidParameterError, match=f"`{name}`"):
        ADMMSLIM(**kwargs)


# --- Association rules -------------------------------------------------------------------------

def rules(**kwargs) -> AssociationRulesItemRec:
    return AssociationRulesItemRec(min_item_count=1, min_pair_count=1, **kwargs)


def test_rules_worked_example(fixture_log: pd.DataFrame) -> None:
    model = rules().fit(fixture_log)
    assert model.session_count == 4
    pairs = model.get_pair_metrics
    row = pairs[(pairs.antecedent == 2) & (pairs.consequent == 1)].iloc[0]
    assert (row.confidence, row.lift, row.confidence_gain) == pytest.approx((1.0, 4 / 3, 2.0))

    near = model.get_nearest_items([2], k=10, metric="confidence_gain", candidates=[1, 3])
    assert near["neighbour_item_idx"].tolist() == [1]
    assert near[["confidence_gain", "lift"]].iloc[0].tolist() == pytest.approx([2.0, 4 / 3])
    assert len(model.get_nearest_items([2], k=10, metric="lift")) == 2


def test_rules_worked_example_with_relevance(fixture_log: pd.DataFrame) -> None:
    pairs = rules(use_relevance=True).fit(fixture_log).get_pair_metrics
    row = pairs[(pairs.antecedent == 2) & (pairs.consequent == 1)].iloc[0]
    assert row.confidence == pytest.approx(5 / 6)
    assert row.lift == pytest.approx((5 / 6) / (12 / 4))
    assert row.confidence_gain == pytest.approx((5 / 6) * (4 - 6) / (12 - 5))


def test_rules_confidence_never_above_one() -> None:
    log = pd.DataFrame({"user_idx": [0, 0, 0, 1], "item_idx": [1, 1, 2, 2],
                        "relevance": [5.0, 1.0, 5.0, 1.0]})
    pairs = rules(use_relevance=True).fit(log).get_pair_metrics
    assert (pairs["confidence"] <= 1.0 + 1e-12).all()


def test_rules_predict_sums_confidence(fixture_log: pd.DataFrame) -> None:
    model = rules().fit(fixture_log)
    pairs = model.get_pair_metrics
    confidence = {(a, c): v for a, c, v in zip(pairs.antecedent, pairs.consequent,
                                               pairs.confidence)}
    recs = model.predict(fixture_log, k=5)
    user1 = recs[recs.user_idx == 1].set_index("item_idx")["relevance"]
    for item, score in user1.items():
        assert score == pytest.approx(confidence.get((3, item), 0) + confidence.get((0, item), 0))


def test_rules_empty_when_no_pair_is_frequent(fixture_log: pd.DataFrame) -> None:
    model = AssociationRulesItemRec(min_item_count=1, min_pair_count=100).fit(fixture_log)
    assert len(model.get_pair_metrics) == 0
    assert len(model.predict(fixture_log, k=3)) == 0


def test_rules_session_column(fixture_log: pd.DataFrame) -> None:
    by_day = fixture_log.assign(session=fixture_log["timestamp"].dt.strftime("%d"))
    model = rules(session_col="session").fit(by_day)
    assert model.session_count == by_day["session"].nunique()
    with pytest.raises(ColumnMissingError, match="session"):
        rules(session_col="basket").fit(fixture_log)
    with pytest.raises(ColumnTypeError, match="session"):
        rules(session_col="relevance").fit(fixture_log)


def test_rules_bad_params() -> None:
    with pytest.raises(InvalidParameterError, match="min_pair_count"):
        AssociationRulesItemRec(min_pair_count=0)
    with pytest.raises(InvalidParameterError, match="metric"):
        rules().fit(pd.DataFrame({"user_idx": [0, 0], "item_idx": [1, 2]})).get_nearest_items(
            [1], 2, metric="support"
        )


# --- Both engines ------------------------------------------------------------------------------

@pytest.mark.spark
@pytest.mark.parametrize("make", [
    lambda: SLIM(0.01, 0.01), lambda: ADMMSLIM(1, 10, 42), lambda: rules(),
    lambda: rules(use_relevance=True, similarity_metric="lift"),
], ids=["slim", "admm", "rules", "rules_lift"])
def test_same_on_both_engines(spark, fixture_log: pd.DataFrame, make) -> None:
    both_engines(spark, make, fixture_log.drop(columns="timestamp"), k=3)


@pytest.mark.spark
@pytest.mark.slow
def test_ml100k_top10_identical_between_engines(spark, data_dir) -> None:
    from reclib.splitters import UserSplitter

    raw = pd.read_csv(data_dir / "ml-100k" / "u.data", sep="\t",
                      names=["user_idx", "item_idx", "relevance", "timestamp"])
    train, test = UserSplitter(0.2, drop_cold_users=True, drop_cold_items=True).split(raw)
    train = train.drop(columns="timestamp")
    users = sorted(test["user_idx"].unique())
    spark_train = spark.createDataFrame(train)
    for make in (lambda: SLIM(0.01, 0.01), lambda: ADMMSLIM(seed=1),
                 lambda: AssociationRulesItemRec()):
        local = make().fit(train).predict(train, 10, users=users)
        remote = make().fit(spark_train).predict(spark_train, 10, users=users).toPandas()
        assert_same_recs(local, remote)


def _assert_same_rules(local: AssociationRulesItemRec, remote: AssociationRulesItemRec) -> None:
    """Same ids, dtypes and pair table: counts exact, metrics to 1e-12 relative."""
    assert remote.session_count == local.session_count
    np.testing.assert_array_equal(remote.fit_users, local.fit_users)
    np.testing.assert_array_equal(remote.fit_items, local.fit_items)
    assert remote.fit_users.dtype == local.fit_users.dtype
    assert remote.fit_items.dtype == local.fit_items.dtype
    assert (remote._user_dtype, remote._item_dtype) == (local._user_dtype, local._item_dtype)
    for name in ("antecedent", "consequent", "pair_count"):
        assert remote._rules[name].dtype == local._rules[name].dtype, name
        np.testing.assert_array_equal(remote._rules[name], local._rules[name], err_msg=name)
    for name in ("confidence", "lift", "confidence_gain"):
        got, want = remote._rules[name], local._rules[name]
        np.testing.assert_array_equal(np.isinf(got), np.isinf(want), err_msg=name)
        finite = np.isfinite(want)
        np.testing.assert_allclose(got[finite], want[finite], rtol=1e-12, atol=0, err_msg=name)
    pd.testing.assert_frame_equal(remote.get_pair_metrics[["antecedent", "consequent"]],
                                  local.get_pair_metrics[["antecedent", "consequent"]])


@pytest.mark.spark
@pytest.mark.parametrize("use_relevance, weights", [
    (False, "any"), (True, "integer"), (True, "fractional"),
])
def test_spark_fit_pair_table_equals_pandas(spark, use_relevance: bool, weights: str) -> None:
    """Counted per partition on the executors, merged by Spark: the pandas path's table."""
    rng = np.random.default_rng(11)
    n_rows = 700
    log = pd.DataFrame({
        "user_idx": rng.integers(0, 50, n_rows).astype(np.int32),
        "item_idx": (rng.zipf(1.6, n_rows) % 30 + 10**10).astype(np.int64),
        "relevance": (rng.integers(0, 6, n_rows).astype(float) if weights == "integer"
                      else rng.uniform(0.0, 5.0, n_rows)),
    })
    # 6 string sessions over 8 partitions (some empty), each user spread over several
    # sessions; repeated (session, item) rows keep their largest relevance.
    log["session"] = [f"basket-{v}" for v in (log["user_idx"] + rng.integers(0, 3, n_rows)) % 6]
    log = pd.concat([log, log.iloc[:50].assign(relevance=0.25)], ignore_index=True)

    previous = spark.conf.get("spark.sql.shuffle.partitions")
    spark.conf.set("spark.sql.shuffle.partitions", "8")
    try:
        spark_log = spark.createDataFrame(log)
        sizes = spark_log.repartition(8, "session").rdd.glom().map(len).collect()
        assert sum(s > 0 for s in sizes) >= 3 and sum(s == 0 for s in sizes) >= 2, sizes
        settings = [{"min_item_count": 1, "min_pair_count": 1, "num_neighbours": None}]
        if weights != "fractional":
            # Non-integer weight sums differ in the last bits, which can reorder rules of
            # equal lift at the neighbour cut (spark_rules' documented limitation).
            settings.append({"min_item_count": 5, "min_pair_count": 3, "num_neighbours": 4})
        for kwargs in settings:
            make = lambda: AssociationRulesItemRec(  # noqa: E731
                session_col="session", use_relevance=use_relevance, **kwargs)
            local, remote = make().fit(log), make().fit(spark_log)
            assert len(local._rules["antecedent"]) > 0
            _assert_same_rules(local, remote)
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", previous)


@pytest.mark.spark
def test_spark_fit_checks_like_pandas(spark, fixture_log: pd.DataFrame) -> None:
    from reclib.exceptions import InvalidValueError

    log = fixture_log.drop(columns="timestamp").assign(day=fixture_log["timestamp"].dt.day)
    spark_log = spark.createDataFrame(log)
    with pytest.raises(ColumnMissingError, match="session"):
        rules(session_col="basket").fit(spark_log)
    for column in ("relevance", "timestamp"):
        frame = spark.createDataFrame(fixture_log)
        with pytest.raises(ColumnTypeError, match="session"):
            rules(session_col=column).fit(frame)
    with_null = spark.createDataFrame(log.assign(day=log["day"].astype(object).where(
        log.index != 3, None)))
    with pytest.raises(InvalidValueError, match="session column `day`.* 1 missing"):
        rules(session_col="day").fit(with_null)
    with pytest.raises(InvalidValueError, match="empty"):
        rules().fit(spark_log.limit(0))
    negative = spark.createDataFrame(log.assign(relevance=-log["relevance"]))
    with pytest.raises(InvalidValueError, match=">= 0"):
        rules(use_relevance=True).fit(negative)
    # Without use_relevance the relevance column is neither needed nor read.
    rules().fit(negative.drop("relevance"))

    local, remote = rules(session_col="day").fit(log), rules(session_col="day").fit(spark_log)
    assert remote.session_count == local.session_count == log["day"].nunique()
    _assert_same_rules(local, remote)
