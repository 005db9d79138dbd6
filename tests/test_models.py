"""The worked examples of MODELS.md §4.1–4.5, and the models against the float64 references."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from reference import (
    as_lists,
    assert_same_lists,
    knn_similarity,
    neighbour_recs,
    pop_scores,
    random_log,
    ranked_recs,
    userpop_scores,
    wilson_scores,
)

from reclib.exceptions import InvalidParameterError, InvalidValueError, NotFittedError
from reclib.models import KNN, PopRec, RandomRec, UserPopRec, Wilson


@pytest.fixture()
def doc_log() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_idx": [1, 1, 2, 2, 3, 4],
            "item_idx": [1, 2, 2, 3, 3, 3],
            "relevance": [0.5, 1, 0.1, 0.8, 0.7, 1],
        }
    )


@pytest.fixture()
def small_log() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_idx": [0, 1, 2, 2, 1, 2, 0],
            "item_idx": [0, 0, 1, 1, 1, 2, 2],
            "relevance": [1.0, 1, 2, 2, 2, 2, 2],
        }
    )


def triples(recs: pd.DataFrame) -> list[tuple[int, int, float]]:
    recs = recs.sort_values(["user_idx", "relevance"], ascending=[True, False])
    return [
        (int(u), int(i), round(float(r), 6))
        for u, i, r in zip(recs["user_idx"], recs["item_idx"], recs["relevance"])
    ]


# --- PopRec ------------------------------------------------------------------------------------

def test_poprec_doctest(doc_log: pd.DataFrame) -> None:
    assert triples(PopRec().fit_predict(doc_log, 1)) == [
        (1, 3, 0.75), (2, 1, 0.25), (3, 2, 0.5), (4, 2, 0.5)
    ]
    no_filter = PopRec().fit_predict(doc_log, 1, filter_seen_items=False)
    assert triples(no_filter) == [(u, 3, 0.75) for u in (1, 2, 3, 4)]
    weighted = PopRec(use_relevance=True).fit_predict(doc_log, 1)
    assert triples(weighted) == [(1, 3, 0.625), (2, 1, 0.125), (3, 2, 0.275), (4, 2, 0.275)]


def test_poprec_unit(small_log: pd.DataFrame) -> None:
    recs = PopRec().fit_predict(small_log, 1).sort_values("user_idx")
    assert recs["item_idx"].tolist() == [1, 2, 0]


def test_poprec_filter_seen(fixture_log: pd.DataFrame) -> None:
    model = PopRec().fit(fixture_log[fixture_log["user_idx"] != 0])
    assert len(model.predict(fixture_log, k=5, users=[3])) == 2
    assert len(model.predict(fixture_log, k=5, users=[0])) == 1
    assert len(model.predict(fixture_log, k=5, users=[0], filter_seen_items=False)) == 4


def test_poprec_cold_user_gets_plain_top(doc_log: pd.DataFrame) -> None:
    recs = PopRec().fit(doc_log).predict(doc_log, k=2, users=[99])
    assert triples(recs) == [(99, 3, 0.75), (99, 2, 0.5)]


# --- Wilson ------------------------------------------------------------------------------------

def test_wilson_doctest() -> None:
    log = pd.DataFrame({"user_idx": [1, 2], "item_idx": [1, 2], "relevance": [1.0, 1.0]})
    assert triples(Wilson().fit_predict(log, k=1)) == [(1, 2, 0.206549), (2, 1, 0.206549)]


def test_wilson_matches_statsmodels() -> None:
    proportion = pytest.importorskip("statsmodels.stats.proportion")
    rng = np.random.default_rng(3)
    log = random_log(rng, 30, 12, 200)
    log["relevance"] = (log["relevance"] >= 3).astype(float)
    model = Wilson(alpha=0.1).fit(log)
    table = model.item_popularity
    for item, score in zip(table["item_idx"], table["relevance"]):
        rows = log[log["item_idx"] == item]
        lower, _ = proportion.proportion_confint(
            rows["relevance"].sum(), len(rows), alpha=0.1, method="wilson"
        )
        assert score == pytest.approx(lower, rel=1e-12, abs=1e-15)


def test_wilson_rejects_non_binary(doc_log: pd.DataFrame) -> None:
    with pytest.raises(InvalidValueError, match="relevance.*0 and 1"):
        Wilson().fit(doc_log)


# --- UserPopRec --------------------------------------------------------------------------------

def test_userpoprec_doctest() -> None:
    log = pd.DataFrame({"user_idx": [1, 1, 3], "item_idx": [1, 2, 3], "relevance": [2.0, 1, 1]})
    model = UserPopRec()
    assert triples(model.fit_predict(log, 1)) == [(1, 1, 0.666667), (3, 3, 1.0)]
    assert triples(model.predict(log, 1, filter_seen_items=True)) == []


# --- RandomRec ---------------------------------------------------------------------------------

def test_randomrec_doctest(doc_log: pd.DataFrame) -> None:
    log = doc_log.drop(columns="relevance")
    model = RandomRec(distribution="popular_based", alpha=1.0, seed=777).fit(log)
    assert model.item_popularity["probability"].tolist() == [2.0, 3.0, 4.0]
    recs = model.predict(log, 2)
    assert [(u, i, r) for u, i, r in zip(recs.user_idx, recs.item_idx, recs.relevance)] == [
        (1, 3, 1 / 3), (2, 1, 0.5), (3, 2, 1.0), (3, 1, 1 / 3), (4, 2, 1.0), (4, 1, 0.5)
    ]
    cold = model.predict(log, 2, users=[1], items=[7, 8])
    assert triples(cold) == [(1, 7, 1.0), (1, 8, 0.5)]
    assert RandomRec(seed=555).fit(log).item_popularity["probability"].tolist() == [1.0] * 3


def test_randomrec_seed_repeatable(doc_log: pd.DataFrame) -> None:
    model = RandomRec(seed=1)
    first = model.fit_predict(doc_log, 2)
    second = model.fit(doc_log).predict(doc_log, 2)
    pd.testing.assert_frame_equal(first, second)
    unseeded = [RandomRec().fit_predict(random_log(np.random.default_rng(0), 50, 200, 300), 5)
                for _ in range(2)]
    assert not unseeded[0].equals(unseeded[1])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"distribution": "abracadabra"}, "distribution"),
        ({"distribution": "popular_based", "alpha": -1}, "alpha"),
        ({"seed": -3}, "seed"),
    ],
)
def test_randomrec_bad_params(kwargs: dict, match: str) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        RandomRec(**kwargs)


# --- KNN ---------------------------------------------------------------------------------------

def test_knn_unit() -> None:
    log = pd.DataFrame({"user_idx": [0, 1, 2, 2], "item_idx": [0, 1, 0, 1], "relevance": 1.0})
    recs = KNN(1).fit(log).predict(log, k=1, users=[0, 1])
    assert triples(recs) == [(0, 1, 0.5), (1, 0, 0.5)]


def test_knn_duplicates_count_twice(fixture_log: pd.DataFrame) -> None:
    """User 3's duplicated (3, 0) row adds sim(0, c) twice, as MODELS.md §4.5 says."""
    model = KNN(num_neighbours=10).fit(fixture_log)
    sim = knn_similarity(fixture_log, 10, False, 0.0)
    recs = as_lists(model.predict(fixture_log, k=3))
    assert recs[3][0][1] == pytest.approx(2 * sim[0][recs[3][0][0]] + sim[1][recs[3][0][0]])


@pytest.mark.parametrize("num_neighbours, use_relevance, shrink", [
    (1, False, 0.0), (5, True, 0.0), (10, False, 3.0), (50, True, 10.0),
])
def test_knn_matches_reference(num_neighbours: int, use_relevance: bool, shrink: float) -> None:
    rng = np.random.default_rng(num_neighbours)
    log = random_log(rng, 60, 40, 700, integer_relevance=False)
    model = KNN(num_neighbours, use_relevance, shrink).fit(log)
    sim = knn_similarity(log, num_neighbours, use_relevance, shrink)

    table = model.similarity
    got = {(int(a), int(b)): s for a, b, s in zip(*(table[c] for c in table.columns))}
    expected = {(i, j): s for i, row in sim.items() for j, s in row.items()}
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-12)

    users = sorted(log["user_idx"].unique())
    assert_same_lists(as_lists(model.predict(log, 7)), neighbour_recs(sim, log, users, 7))


# --- Popularity family against references ------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1])
def test_popularity_family_matches_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    log = random_log(rng, 40, 30, 400)
    users = sorted(log["user_idx"].unique())

    for use_relevance in (False, True):
        got = PopRec(use_relevance).fit_predict(log, 8)
        expected = ranked_recs(pop_scores(log, use_relevance), log, users, 8)
        assert_same_lists(as_lists(got), expected)

    binary = log.assign(relevance=(log["relevance"] >= 3).astype(float))
    got = Wilson().fit_predict(binary, 8)
    assert_same_lists(as_lists(got), ranked_recs(wilson_scores(binary), binary, users, 8))

    shares = userpop_scores(log)
    got = as_lists(UserPopRec().fit_predict(log, 4))
    expected = {
        u: sorted(s.items(), key=lambda p: (-p[1], p[0]))[:4] for u, s in shares.items()
    }
    assert_same_lists(got, expected)


# --- Shared API behaviour ----------------------------------------------------------------------

def test_predict_before_fit() -> None:
    with pytest.raises(NotFittedError, match="fit"):
        KNN().predict(pd.DataFrame({"user_idx": [0], "item_idx": [0]}), 1)


def test_set_params_rejects_unknown() -> None:
    with pytest.raises(InvalidParameterError, match="neighbours_count"):
        KNN().set_params(neighbours_count=3)
    with pytest.raises(InvalidParameterError, match="num_neighbours"):
        KNN(num_neighbours=0).fit(pd.DataFrame({"user_idx": [0], "item_idx": [0]}))


def test_get_nearest_items_knn() -> None:
    log = pd.DataFrame(
        {"user_idx": [0, 0, 0, 1, 1, 2, 2], "item_idx": [0, 1, 2, 0, 1, 0, 2], "relevance": 1.0}
    )
    model = KNN(num_neighbours=5).fit(log)
    near = model.get_nearest_items([0], k=5)
    assert near.columns.tolist() == ["item_idx", "neighbour_item_idx", "similarity"]
    # sim(0,1) = 2/(sqrt(3)*sqrt(2)), sim(0,2) = 2/(sqrt(3)*sqrt(2)): a tie, larger id first.
    assert near["neighbour_item_idx"].tolist() == [2, 1]
    assert near["similarity"].tolist() == pytest.approx([2 / np.sqrt(6)] * 2)
    only = model.get_nearest_items([0], k=5, candidates=[1])
    assert only["neighbour_item_idx"].tolist() == [1]
    with pytest.raises(InvalidParameterError, match="cannot compare items"):
        PopRec().fit(log).get_nearest_items([0], k=1)


def test_predict_pairs(doc_log: pd.DataFrame) -> None:
    pairs = pd.DataFrame({"user_idx": [1, 2, 9], "item_idx": [3, 3, 1]})
    scores = PopRec().fit(doc_log).predict_pairs(pairs)
    assert triples(scores) == [(1, 3, 0.75), (2, 3, 0.75), (9, 1, 0.25)]
    knn = KNN().fit(doc_log)
    pair_scores = knn.predict_pairs(pd.DataFrame({"user_idx": [1], "item_idx": [3]}), doc_log)
    expected = knn.predict(doc_log, k=5, users=[1], filter_seen_items=False)
    assert pair_scores["relevance"].iloc[0] == pytest.approx(
        expected[expected.item_idx == 3]["relevance"].iloc[0]
    )
    with pytest.raises(ValueError, match="exactly the columns"):
        knn.predict_pairs(doc_log, doc_log)
    fallback = UserPopRec().fit(doc_log).predict_pairs(pairs)
    assert triples(fallback) == [(2, 3, 0.888889)]  # user 2: 0.8 of 0.9
    fallback = UserPopRec().fit(doc_log).predict_pairs(
        pd.DataFrame({"user_idx": [1], "item_idx": [2]})
    )
    assert triples(fallback) == [(1, 2, round(1 / 1.5, 6))]
