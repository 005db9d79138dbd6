"""ALSWrap, ImplicitWrap and LightFMWrap (MODELS.md §4.6, §4.14, §4.15) on both engines.

The wrappers are checked against their libraries called directly on the same matrices (same
top-k and scores), the numpy explicit ALS against a plain per-user loop, and the feature
handling of LightFMWrap against an independent construction of LightFM's feature matrices.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from engines import assert_same_recs, sort_recs
from reclib.exceptions import (
    ColumnMissingError,
    ColumnTypeError,
    InvalidParameterError,
    InvalidValueError,
)
from reclib.models import ALSWrap, ImplicitWrap, LightFMWrap
from reclib.models.als import _RowGroups, explicit_als
from reclib.models.registry import MODELS, make_model
from reference import random_log

implicit = pytest.importorskip("implicit")
from implicit.cpu.als import AlternatingLeastSquares
from implicit.cpu.bpr import BayesianPersonalizedRanking
from implicit.cpu.lmf import LogisticMatrixFactorization
from implicit.nearest_neighbours import (
    BM25Recommender,
    CosineRecommender,
    TFIDFRecommender,
)

BIG = 2**40  # ids beyond int32


@pytest.fixture()
def log(fixture_log: pd.DataFrame) -> pd.DataFrame:
    return fixture_log.drop(columns="timestamp")


@pytest.fixture()
def small_log() -> pd.DataFrame:
    """The LightFM test log of MODELS.md §4.14."""
    return pd.DataFrame(
        {
            "user_idx": [0, 1, 2, 2, 1, 2, 0],
            "item_idx": [0, 0, 1, 1, 1, 2, 2],
            "relevance": [1.0, 1, 2, 2, 2, 2, 2],
        }
    )


@pytest.fixture()
def user_features() -> pd.DataFrame:
    return pd.DataFrame({"user_idx": [0, 1, 4], "f1": [2.0, 0, 4], "f2": [5.0, -5, 3]})


@pytest.fixture()
def item_features() -> pd.DataFrame:
    return pd.DataFrame({"item_idx": [0, 1], "g1": [4.0, 5], "g2": [5.0, 4]})


def lightfm(**params) -> LightFMWrap:
    model = LightFMWrap(**params)
    model.num_threads = 1
    return model


def no_nan(recs: pd.DataFrame) -> None:
    assert recs["relevance"].notna().all()
    assert np.isfinite(recs["relevance"]).all()


def dense(log: pd.DataFrame) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """User x item CSR of summed relevance on sorted-id positions, and the id arrays."""
    users, u = np.unique(log["user_idx"], return_inverse=True)
    items, i = np.unique(log["item_idx"], return_inverse=True)
    matrix = sp.csr_matrix(
        (log["relevance"].to_numpy(np.float32), (u, i)), shape=(len(users), len(items))
    )
    matrix.sum_duplicates()
    return matrix, users, items


def assert_same_as_library(
    recs: pd.DataFrame, ids: np.ndarray, scores: np.ndarray, users: np.ndarray,
    items: np.ndarray, rtol: float = 1e-4,
) -> None:
    """reclib's top-k per user against a library's ``(ids, scores)``: same scores in order,
    same items except where scores tie at the cut."""
    recs = sort_recs(recs)
    for row, user in enumerate(users):
        ours = recs[recs["user_idx"] == user]
        valid = np.isfinite(scores[row]) & (ids[row] >= 0) & (scores[row] > -1e30)
        theirs_ids, theirs = items[ids[row][valid]], scores[row][valid]
        assert len(ours) == len(theirs), (user, len(ours), len(theirs))
        np.testing.assert_allclose(ours["relevance"], theirs, rtol=rtol, atol=1e-5)
        distinct = np.r_[True, np.abs(np.diff(theirs)) > 1e-4 * np.abs(theirs[1:]) + 1e-6]
        boundary_tie = len(theirs) and not distinct[-1]
        if not boundary_tie:
            assert set(ours["item_idx"]) == set(theirs_ids), user


# ==============================================================================================
# ALSWrap


def test_als_unit_explicit_fixture(log: pd.DataFrame) -> None:
    recs = ALSWrap(2, implicit_prefs=False, seed=42).fit_predict(log, k=1)
    assert len(recs) == 4
    no_nan(recs)


def test_als_explicit_and_implicit_differ(log: pd.DataFrame) -> None:
    explicit = ALSWrap(2, implicit_prefs=False, seed=42).fit_predict(log, k=1)
    implicit_recs = ALSWrap(2, implicit_prefs=True, seed=42).fit_predict(log, k=1)
    assert not np.allclose(explicit["relevance"], implicit_recs["relevance"])


@pytest.mark.parametrize("implicit_prefs", [True, False])
def test_als_seed_repeats(implicit_prefs: bool) -> None:
    log = random_log(np.random.default_rng(3), 40, 30, 400)
    first = ALSWrap(4, implicit_prefs=implicit_prefs, seed=7).fit_predict(log, k=5)
    second = ALSWrap(4, implicit_prefs=implicit_prefs, seed=7).fit_predict(log, k=5)
    pd.testing.assert_frame_equal(first, second)


def test_als_params() -> None:
    for bad in (0, -3, 2.5, True, "10"):
        with pytest.raises(InvalidParameterError, match="rank"):
            ALSWrap(rank=bad).fit(pd.DataFrame({"user_idx": [0], "item_idx": [0],
                                                "relevance": [1.0]}))
    with pytest.raises(InvalidParameterError, match="rank"):
        ALSWrap().set_params(rank=0)
    with pytest.raises(InvalidParameterError, match="seed"):
        ALSWrap(seed=-1).set_params()
    assert ALSWrap._search_space == {"rank": {"type": "loguniform_int", "args": [8, 256]}}
    assert ALSWrap().get_params() == {"rank": 10, "implicit_prefs": True, "seed": None}
    assert isinstance(make_model("als", '{"rank": 3}'), ALSWrap)
    assert {"als", "implicit", "lightfm"} <= set(MODELS)


def test_als_implicit_is_implicit_library_on_spark_confidence() -> None:
    """Pandas implicit ALS = implicit's ALS on C = 1 + alpha * r (Spark's confidence)."""
    log = random_log(np.random.default_rng(1), 30, 25, 300)
    model = ALSWrap(rank=5, seed=3).fit(log)
    matrix, _, _ = dense(log)
    matrix.data = 1.0 + matrix.data
    direct = AlternatingLeastSquares(
        factors=5, regularization=0.1, iterations=10, alpha=1.0, random_state=3
    )
    direct.fit(matrix, show_progress=False)
    np.testing.assert_allclose(model._user_factors, direct.user_factors, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model._item_factors, direct.item_factors, rtol=1e-5, atol=1e-6)


def test_explicit_solver_matches_per_user_loop() -> None:
    rng = np.random.default_rng(0)
    n_users, n_items, rank, reg = 20, 15, 3, 0.1
    users = rng.integers(0, n_users, 200)
    items = rng.integers(0, n_items, 200)
    ratings = rng.integers(1, 6, 200).astype(float)
    item_factors = rng.standard_normal((n_items, rank))
    got = _RowGroups(users, items, ratings, n_users).solve(item_factors, reg)
    for u in range(n_users):
        rows = np.flatnonzero(users == u)
        if not len(rows):
            assert np.all(got[u] == 0)
            continue
        y = item_factors[items[rows]]
        a = y.T @ y + reg * len(rows) * np.eye(rank)
        np.testing.assert_allclose(got[u], np.linalg.solve(a, y.T @ ratings[rows]), rtol=1e-9)

    # The whole fit lowers the regularised loss it minimises.
    u_f, i_f = explicit_als(users, items, ratings, n_users, n_items, rank, max_iter=10, seed=1)
    fit_error = np.mean((np.sum(u_f[users] * i_f[items], axis=1) - ratings) ** 2)
    assert fit_error < np.var(ratings)


def test_als_cold_users_and_big_ids(log: pd.DataFrame) -> None:
    log = log.assign(user_idx=log["user_idx"] + BIG, item_idx=log["item_idx"] * 3 + BIG)
    model = ALSWrap(rank=3, seed=1).fit(log)
    recs = model.predict(log, k=2, users=[BIG, BIG + 1, 5, BIG + 99])
    assert set(recs["user_idx"]) == {BIG, BIG + 1}
    assert recs["user_idx"].dtype == np.int64
    no_nan(recs)
    assert set(recs["item_idx"]) <= set(log["item_idx"])


def test_als_features_pairs_nearest(log: pd.DataFrame) -> None:
    model = ALSWrap(rank=3, seed=1).fit(log)
    frame, rank = model.get_features(pd.DataFrame({"user_idx": [0, 3, 99]}))
    assert rank == 3 and list(frame.columns) == ["user_idx", "user_factors"]
    assert np.isnan(frame["user_factors"][2]).all()
    items, _ = model.get_features(pd.DataFrame({"item_idx": [0, 1]}))

    pairs = pd.DataFrame({"user_idx": [0, 3, 3, 99], "item_idx": [1, 2, 7, 0]})
    scored = model.predict_pairs(pairs)
    assert list(zip(scored["user_idx"], scored["item_idx"])) == [(0, 1), (3, 2)]
    expected = np.dot(frame["user_factors"][0], items["item_factors"][1])
    assert scored["relevance"][0] == pytest.approx(expected, rel=1e-6)

    near = model.get_nearest_items([0], k=2, metric="dot_product")
    assert len(near) == 2 and 0 not in set(near["neighbour_item_idx"])


def test_als_save_and_restore(log: pd.DataFrame) -> None:
    model = ALSWrap(rank=3, implicit_prefs=False, seed=1).fit(log)
    meta, arrays = model.export_state()
    restored = ALSWrap.from_state(meta, arrays)
    pd.testing.assert_frame_equal(model.predict(log, 2), restored.predict(log, 2))


# ==============================================================================================
# ImplicitWrap


def test_implicit_doctest() -> None:
    log = pd.DataFrame({"user_idx": [1, 1, 2, 2], "item_idx": [1, 2, 2, 3], "relevance": 1.0})
    recs = ImplicitWrap(AlternatingLeastSquares(factors=5)).fit_predict(log, 1, users=[1])
    assert recs["user_idx"].tolist() == [1] and recs["item_idx"].tolist() == [3]
    assert ImplicitWrap._search_space is None


FACTOR_MODELS = {  # one thread: BPR and LMF train with lock-free parallel SGD otherwise
    "als": lambda: AlternatingLeastSquares(
        factors=6, iterations=5, random_state=1, num_threads=1
    ),
    "bpr": lambda: BayesianPersonalizedRanking(
        factors=6, iterations=20, random_state=1, num_threads=1
    ),
    "lmf": lambda: LogisticMatrixFactorization(
        factors=6, iterations=5, random_state=1, num_threads=1
    ),
}
ITEM_MODELS = {
    "cosine": lambda: CosineRecommender(K=10),
    "bm25": lambda: BM25Recommender(K=10),
    "tfidf": lambda: TFIDFRecommender(K=10),
}


@pytest.mark.filterwarnings("ignore:Method expects CSR input")  # implicit's own conversion
@pytest.mark.parametrize("name", sorted(FACTOR_MODELS) + sorted(ITEM_MODELS))
@pytest.mark.parametrize("filter_seen", [True, False])
def test_implicit_same_topk_as_recommend(name: str, filter_seen: bool) -> None:
    """reclib's top-k = implicit's batched ``recommend`` on the same matrices."""
    log = random_log(np.random.default_rng(4), 40, 30, 350)
    make = {**FACTOR_MODELS, **ITEM_MODELS}[name]
    wrapped = ImplicitWrap(make())
    recs = wrapped.fit(log).predict(log, k=5, filter_seen_items=filter_seen)

    matrix, users, items = dense(log)
    direct = make()
    direct.fit(matrix, show_progress=False)
    rows = np.arange(len(users))
    ids, scores = direct.recommend(
        rows, matrix[rows], N=5, filter_already_liked_items=filter_seen
    )
    assert_same_as_library(recs, ids, scores, users, items)


def test_implicit_item_item_weights_history_by_relevance() -> None:
    log = random_log(np.random.default_rng(8), 30, 20, 250)
    model = ImplicitWrap(CosineRecommender(K=8)).fit(log)
    assert model.uses_history_relevance
    heavy = log.assign(relevance=np.where(log["item_idx"] % 2 == 0, 10.0, 1.0))
    assert not sort_recs(model.predict(heavy, 3)).equals(sort_recs(model.predict(log, 3)))


@pytest.mark.parametrize("name", ["als", "cosine"])
def test_implicit_config_and_state_round_trip(name: str) -> None:
    log = random_log(np.random.default_rng(2), 25, 20, 200)
    model = ImplicitWrap({**FACTOR_MODELS, **ITEM_MODELS}[name]()).fit(log)
    config = model.get_config()
    assert config["params"]["model"]["class"].startswith("implicit.")
    rebuilt = ImplicitWrap.from_config(config)
    assert isinstance(rebuilt.model, dict)
    meta, arrays = model.export_state()
    restored = ImplicitWrap.from_state(meta, arrays)
    pd.testing.assert_frame_equal(model.predict(log, 3), restored.predict(log, 3))
    refit = rebuilt.fit(log)  # the config builds a fresh implicit model
    assert refit.is_fitted


def test_implicit_factor_features_and_pairs() -> None:
    log = random_log(np.random.default_rng(2), 25, 20, 200)
    model = ImplicitWrap(FACTOR_MODELS["als"]()).fit(log)
    frame, rank = model.get_features(pd.DataFrame({"item_idx": [0, 1]}))
    assert rank == 6 and len(frame) == 2
    pairs = pd.DataFrame({"user_idx": [0, 1, 99], "item_idx": [3, 4, 3]})
    assert len(model.predict_pairs(pairs)) == 2
    knn = ImplicitWrap(ITEM_MODELS["cosine"]()).fit(log)
    assert knn.get_features(pd.DataFrame({"item_idx": [0]})) == (None, None)
    fallback = knn.predict_pairs(pairs, log)
    full = knn.predict(log, k=50, users=[0, 1], items=[3, 4], filter_seen_items=False)
    merged = fallback.merge(full, on=["user_idx", "item_idx"])
    np.testing.assert_allclose(merged["relevance_x"], merged["relevance_y"])


def test_implicit_bad_model() -> None:
    with pytest.raises(InvalidParameterError, match="implicit model"):
        ImplicitWrap(object())
    with pytest.raises(InvalidParameterError, match="required"):
        ImplicitWrap()
    with pytest.raises(InvalidParameterError, match="class"):
        ImplicitWrap({"params": {}})
    with pytest.raises(InvalidParameterError, match="implicit library"):
        ImplicitWrap({"class": "os.system", "params": {}})


def test_implicit_cold_users_and_big_ids() -> None:
    log = random_log(np.random.default_rng(6), 20, 15, 150)
    log = log.assign(user_idx=log["user_idx"] + BIG, item_idx=log["item_idx"] + BIG)
    for make in (FACTOR_MODELS["als"], ITEM_MODELS["cosine"]):
        model = ImplicitWrap(make()).fit(log)
        recs = model.predict(log, k=3, users=[BIG, BIG + 1, 7])
        assert set(recs["user_idx"]) <= {BIG, BIG + 1} and len(recs)
        no_nan(recs)


# ==============================================================================================
# LightFMWrap

requires_lightfm = pytest.mark.skipif(
    importlib.util.find_spec("lightfm") is None, reason="lightfm is not installed"
)


@requires_lightfm
@pytest.mark.parametrize("features", ["both", "items", "users", "none"])
def test_lightfm_unit(
    small_log: pd.DataFrame, user_features: pd.DataFrame, item_features: pd.DataFrame,
    features: str,
) -> None:
    kwargs = {}
    if features in ("both", "users"):
        kwargs["user_features"] = user_features
    if features in ("both", "items"):
        kwargs["item_features"] = item_features
    model = lightfm(no_components=1, random_state=42, loss="bpr").fit(small_log, **kwargs)
    recs = model.predict(small_log, k=1, filter_seen_items=True, **kwargs)
    assert recs.sort_values("user_idx")["item_idx"].tolist() == [1, 2, 0]
    assert model.can_predict_cold_users == ("user_features" in kwargs)
    assert model.can_predict_cold_items == ("item_features" in kwargs)


def reference_features(table: pd.DataFrame, column: str, fit_ids: np.ndarray,
                       ids: np.ndarray) -> sp.csr_matrix:
    """MODELS.md §4.14's feature matrix, built plainly: identity | min-max scaled, rows / sum."""
    cols = sorted(c for c in table.columns if c != column)
    fit_rows = table[table[column].isin(fit_ids)]
    low, high = fit_rows[cols].min().to_numpy(), fit_rows[cols].max().to_numpy()
    span = np.where(high > low, high - low, 1.0)
    out = np.zeros((len(ids), len(fit_ids) + len(cols)))
    for row, entity in enumerate(ids):
        where = np.flatnonzero(fit_ids == entity)
        if len(where):
            out[row, where[0]] = 1.0
        values = table.loc[table[column] == entity, cols].to_numpy()
        if len(values):
            out[row, len(fit_ids):] = (values[0] - low) / span
        if np.abs(out[row]).sum() > 0:
            out[row] /= np.abs(out[row]).sum()
    return sp.csr_matrix(out, dtype=np.float32)


@requires_lightfm
@pytest.mark.parametrize("loss", ["warp", "logistic"])
def test_lightfm_scores_are_lightfm_predict(loss: str) -> None:
    """Same fit as LightFM called directly on the reference matrices; same scores, cold
    users and items included."""
    from lightfm import LightFM

    rng = np.random.default_rng(9)
    log = random_log(rng, 30, 25, 300)
    users_table = pd.DataFrame({"user_idx": np.arange(34), "a": rng.random(34),
                                "b": rng.integers(0, 3, 34)})
    items_table = pd.DataFrame({"item_idx": np.arange(28), "c": rng.random(28)})
    model = lightfm(no_components=4, loss=loss, random_state=5).fit(
        log, user_features=users_table, item_features=items_table
    )

    matrix, fit_users, fit_items = dense(log)
    uf = reference_features(users_table, "user_idx", fit_users, fit_users)
    itf = reference_features(items_table, "item_idx", fit_items, fit_items)
    direct = LightFM(no_components=4, loss=loss, random_state=5)
    direct.fit(matrix.tocoo(), user_features=uf, item_features=itf, epochs=10, num_threads=1)

    all_users, all_items = np.arange(34), np.arange(28)
    uf_all = reference_features(users_table, "user_idx", fit_users, all_users)
    itf_all = reference_features(items_table, "item_idx", fit_items, all_items)
    u_idx, i_idx = np.meshgrid(all_users, all_items, indexing="ij")
    pairs = pd.DataFrame({"user_idx": u_idx.ravel(), "item_idx": i_idx.ravel()})
    expected = direct.predict(
        pairs["user_idx"].to_numpy(np.int32), pairs["item_idx"].to_numpy(np.int32),
        user_features=uf_all, item_features=itf_all,
    )
    got = model.predict_pairs(pairs, user_features=users_table, item_features=items_table)
    assert len(got) == len(pairs)
    got = got.merge(pairs.assign(expected=expected), on=["user_idx", "item_idx"])
    np.testing.assert_allclose(got["relevance"], got["expected"], rtol=1e-4, atol=1e-5)

    recs = model.predict(log, k=3, users=[0, 31, 33], items=list(range(28)),
                         user_features=users_table, item_features=items_table)
    assert set(recs["user_idx"]) == {0, 31, 33}
    assert recs["item_idx"].isin(range(25, 28)).any() or len(recs) == 9
    no_nan(recs)


@requires_lightfm
def test_lightfm_seed_repeats(small_log: pd.DataFrame, user_features: pd.DataFrame) -> None:
    runs = [
        lightfm(no_components=3, random_state=1).fit(small_log, user_features=user_features)
        .predict(small_log, 2, user_features=user_features)
        for _ in range(2)
    ]
    pd.testing.assert_frame_equal(*runs)


@requires_lightfm
def test_lightfm_feature_errors(
    small_log: pd.DataFrame, user_features: pd.DataFrame, item_features: pd.DataFrame
) -> None:
    model = lightfm(no_components=2, random_state=1)
    with pytest.raises(InvalidValueError, match="features for users from log are absent"):
        model.fit(small_log, user_features=user_features.assign(user_idx=[7, 8, 9]))
    with pytest.raises(ColumnMissingError, match="user_idx"):
        model.fit(small_log, user_features=user_features.rename(columns={"user_idx": "id"}))
    with pytest.raises(InvalidValueError, match="f2"):
        model.fit(small_log, user_features=user_features.assign(f2=[1.0, np.nan, 2.0]))
    with pytest.raises(ColumnTypeError, match="'f3'"):
        model.fit(small_log, user_features=user_features.assign(f3=["a", "b", "c"]))
    with pytest.raises(InvalidValueError, match=r"repeated id\(s\) \[1\]"):
        model.fit(small_log, user_features=user_features.assign(user_idx=[0, 1, 1]))
    with pytest.raises(InvalidValueError, match="feature column"):
        model.fit(small_log, user_features=user_features[["user_idx"]])

    # Extra ids (4 is not in the log) are fine at fit and give cold users at predict.
    model.fit(small_log, user_features=user_features)
    with pytest.raises(InvalidParameterError, match="User features are missing for predict"):
        model.predict(small_log, 1)
    with pytest.raises(InvalidParameterError, match="item_features"):
        model.predict(small_log, 1, user_features=user_features, item_features=item_features)
    with pytest.raises(ColumnMissingError, match=r"missing \['f2'\]"):
        model.predict(small_log, 1, user_features=user_features.drop(columns="f2"))
    with pytest.raises(InvalidParameterError, match="no_components"):
        LightFMWrap(no_components=0).fit(small_log)
    with pytest.raises(InvalidParameterError, match="loss"):
        LightFMWrap(loss="hinge").fit(small_log)


@requires_lightfm
def test_lightfm_cold_users_items_and_big_ids(
    small_log: pd.DataFrame, user_features: pd.DataFrame, item_features: pd.DataFrame
) -> None:
    shift = BIG
    log = small_log.assign(user_idx=small_log["user_idx"] + shift,
                           item_idx=small_log["item_idx"] + shift)
    users = user_features.assign(user_idx=user_features["user_idx"] + shift)
    items = pd.concat([item_features, pd.DataFrame({"item_idx": [2, 5], "g1": [1.0, 9.0],
                                                    "g2": [0.0, 3.0]})])
    items = items.assign(item_idx=items["item_idx"] + shift)
    model = lightfm(no_components=2, random_state=3).fit(
        log, user_features=users, item_features=items
    )
    candidates = [shift, shift + 1, shift + 2, shift + 5, shift + 6]  # 5 cold, 6 featureless
    recs = model.predict(log, k=4, users=[shift, shift + 4, shift + 8], items=candidates,
                         user_features=users, item_features=items)
    assert set(recs["user_idx"]) == {shift, shift + 4}  # shift + 8 has no features
    assert shift + 5 in set(recs["item_idx"]) and shift + 6 not in set(recs["item_idx"])
    no_nan(recs)

    frame, rank = model.get_features(pd.DataFrame({"item_idx": [shift, shift + 5]}), items)
    assert rank == 2 and list(frame.columns) == ["item_idx", "item_bias", "item_factors"]
    assert np.isfinite(np.stack(frame["item_factors"])).all()
    warm_only, _ = model.get_features(pd.DataFrame({"item_idx": [shift, shift + 5]}))
    assert np.isnan(warm_only["item_factors"][1]).all()


@requires_lightfm
def test_lightfm_state_round_trip(
    small_log: pd.DataFrame, user_features: pd.DataFrame
) -> None:
    model = lightfm(no_components=2, random_state=3).fit(small_log, user_features=user_features)
    restored = LightFMWrap.from_state(*model.export_state())
    assert restored.can_predict_cold_users
    pd.testing.assert_frame_equal(
        model.predict(small_log, 2, users=[0, 4], user_features=user_features),
        restored.predict(small_log, 2, users=[0, 4], user_features=user_features),
    )


# ==============================================================================================
# Spark


@pytest.mark.spark
@pytest.mark.parametrize("implicit_prefs", [False, True])
def test_als_spark(spark, log: pd.DataFrame, implicit_prefs: bool) -> None:
    spark_log = spark.createDataFrame(log)
    model = ALSWrap(2, implicit_prefs=implicit_prefs, seed=42).fit(spark_log)
    recs = model.predict(spark_log, k=1).toPandas()
    assert len(recs) == 4
    no_nan(recs)
    again = ALSWrap(2, implicit_prefs=implicit_prefs, seed=42).fit(spark_log)
    np.testing.assert_allclose(model._user_factors, again._user_factors, rtol=1e-6)

    # One fitted model scores the same through both engines (pairs too).
    assert_same_recs(model.predict(log, 2), model.predict(spark_log, 2).toPandas())
    pairs = pd.DataFrame({"user_idx": [0, 1, 9], "item_idx": [3, 2, 0]})
    assert_same_recs(model.predict_pairs(pairs),
                     model.predict_pairs(spark.createDataFrame(pairs)).toPandas())


@pytest.mark.spark
def test_als_spark_partitions_big_ids_and_missing_factors(spark, log: pd.DataFrame) -> None:
    big = log.assign(user_idx=log["user_idx"] + BIG, item_idx=log["item_idx"] + 5)
    for frame in (spark.createDataFrame(big).coalesce(1),
                  spark.createDataFrame(big).repartition(16)):
        model = ALSWrap(3, implicit_prefs=False, seed=1).fit(frame)
        recs = model.predict(frame, 2).toPandas()
        assert set(recs["user_idx"]) == set(big["user_idx"])
        no_nan(recs)

    # A fit user without factors (as when Spark drops all its rows) gets nothing, never NaN.
    from reclib.models.als import _collect_factors

    factors = spark.createDataFrame(
        pd.DataFrame({"id": [0, 2], "features": [[1.0, 0.5], [0.2, 0.1]]})
    )
    dense_factors, valid = _collect_factors(factors, np.array([0, 1, 2]), False, 2)
    assert valid.tolist() == [True, False, True] and not np.isnan(dense_factors).any()
    model = ALSWrap(2, seed=1).fit(log.drop(columns=[]))
    model._user_valid = np.array([True, False, True, True])
    recs = model.predict(log, 2)
    assert 1 not in set(recs["user_idx"])
    assert_same_recs(recs, model.predict(spark.createDataFrame(log), 2).toPandas())


@pytest.mark.spark
@pytest.mark.parametrize("name", ["als", "cosine"])
def test_implicit_spark(spark, name: str) -> None:
    log = random_log(np.random.default_rng(12), 30, 20, 250, integer_relevance=False)
    spark_log = spark.createDataFrame(log)
    make = lambda: ImplicitWrap({**FACTOR_MODELS, **ITEM_MODELS}[name]())
    local = make().fit(log).predict(log, 4)
    remote = make().fit(spark_log).predict(spark_log, 4).toPandas()
    assert_same_recs(local, remote)
    pairs = pd.DataFrame({"user_idx": [0, 1, 99], "item_idx": [3, 4, 3]})
    model = make().fit(log)
    assert_same_recs(model.predict_pairs(pairs, log),
                     model.predict_pairs(spark.createDataFrame(pairs), spark_log).toPandas())


@requires_lightfm
@pytest.mark.spark
def test_lightfm_spark(
    spark, small_log: pd.DataFrame, user_features: pd.DataFrame, item_features: pd.DataFrame
) -> None:
    model = lightfm(no_components=3, random_state=2).fit(
        spark.createDataFrame(small_log), user_features=spark.createDataFrame(user_features),
        item_features=item_features,
    )
    kwargs = {"user_features": user_features, "item_features": item_features}
    local = model.predict(small_log, 2, users=[0, 1, 4], items=[0, 1, 2], **kwargs)
    remote = model.predict(spark.createDataFrame(small_log), 2, users=[0, 1, 4],
                           items=[0, 1, 2], **kwargs).toPandas()
    assert_same_recs(local, remote)
    assert 4 in set(remote["user_idx"])
    pairs = pd.DataFrame({"user_idx": [0, 4, 9], "item_idx": [1, 0, 0]})
    assert_same_recs(model.predict_pairs(pairs, **kwargs),
                     model.predict_pairs(spark.createDataFrame(pairs), **kwargs).toPandas())


@pytest.mark.parametrize("name", ["als", "implicit_als", "implicit_cosine", "lightfm"])
def test_save_and_load(tmp_path, small_log: pd.DataFrame, user_features: pd.DataFrame,
                       name: str) -> None:
    """reclib.save / reclib.load: arrays and JSON only; the loaded model predicts the same."""
    import reclib

    if name == "lightfm" and importlib.util.find_spec("lightfm") is None:
        pytest.skip("lightfm is not installed")
    fit_kwargs, predict_kwargs = {}, {}
    if name == "als":
        model = ALSWrap(rank=2, seed=3)
    elif name == "implicit_als":
        model = ImplicitWrap(FACTOR_MODELS["als"]())
    elif name == "implicit_cosine":
        model = ImplicitWrap(ITEM_MODELS["cosine"]())
    else:
        model = lightfm(no_components=2, random_state=3)
        fit_kwargs = predict_kwargs = {"user_features": user_features}
    model.fit(small_log, **fit_kwargs)
    reclib.save(model, tmp_path / "model")
    loaded = reclib.load(tmp_path / "model")
    assert type(loaded) is type(model)
    pd.testing.assert_frame_equal(
        model.predict(small_log, 2, users=[0, 1, 2, 4], **predict_kwargs),
        loaded.predict(small_log, 2, users=[0, 1, 2, 4], **predict_kwargs),
    )
