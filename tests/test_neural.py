"""NeuroMF and Mult-VAE (MODELS.md §4.12, §4.13): networks, training loop, predict, both engines.

Small data and one to three epochs everywhere: these tests check behaviour, not quality (the
quality numbers come from ``reclib experiment``).  Skipped as a whole when torch is absent;
``test_neural_optional.py`` checks that case.
"""

from __future__ import annotations

import json
import logging
import math

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from engines import assert_same_recs, both_engines  # noqa: E402
from reference import random_log  # noqa: E402

from reclib.exceptions import InvalidParameterError  # noqa: E402
from reclib.models import MultVAE, NeuroMF  # noqa: E402
from reclib.models.neural import _UnseenSampler  # noqa: E402
from reclib.models.registry import make_model  # noqa: E402
from reclib.nn.multvae import MultVAENet  # noqa: E402
from reclib.nn.neuromf import NeuroMFNet  # noqa: E402
from reclib.nn.training import TrainSettings, fit_network  # noqa: E402

QUIET = {"show_progress": False}


def small_nmf(**params) -> NeuroMF:
    defaults = dict(epochs=2, embedding_gmf_dim=4, embedding_mlp_dim=4, hidden_mlp_dims=[8, 4],
                    batch_size=64, learning_rate=0.01, **QUIET)
    return NeuroMF(**{**defaults, **params})


def small_vae(**params) -> MultVAE:
    defaults = dict(epochs=2, latent_dim=4, hidden_dim=8, batch_size=16, **QUIET)
    return MultVAE(**{**defaults, **params})


@pytest.fixture()
def log(fixture_log: pd.DataFrame) -> pd.DataFrame:
    return fixture_log.drop(columns="timestamp")


@pytest.fixture()
def medium_log() -> pd.DataFrame:
    return random_log(np.random.default_rng(3), 40, 25, 300)


def weights_equal(a, b) -> bool:
    return a._weights.keys() == b._weights.keys() and all(
        np.array_equal(a._weights[name], b._weights[name]) for name in a._weights
    )


# --- Networks ----------------------------------------------------------------------------------

def test_neuromf_parameter_shapes_and_order() -> None:
    net = NeuroMFNet(3, 4, gmf_dim=2, mlp_dim=2, hidden_dims=[2])
    assert [tuple(p.shape) for p in net.parameters()] == [
        (3, 2), (4, 2), (4, 1), (3, 1), (3, 2), (4, 2), (4, 1), (3, 1), (2, 4), (2,), (1, 4), (1,)
    ]
    assert all(float(p.detach().abs().sum()) == 0 for p in (net.gmf.user_bias.weight,
                                                    net.mlp.item_bias.weight))


def test_multvae_parameter_shapes() -> None:
    net = MultVAENet(4, latent_dim=1, hidden_dim=1, dropout=0.3)
    assert [tuple(p.shape) for p in net.parameters()] == [
        (1, 4), (1,), (2, 1), (2,), (1, 1), (1,), (4, 1), (4,)
    ]


@pytest.mark.parametrize(
    "gmf, mlp, hidden", [(3, 0, []), (0, 3, []), (0, 3, [5, 2]), (4, 3, []), (4, 3, [6])]
)
def test_score_all_equals_pairwise_forward(gmf: int, mlp: int, hidden: list[int]) -> None:
    torch.manual_seed(0)
    net = NeuroMFNet(5, 7, gmf, mlp, hidden).double().eval()
    for p in net.parameters():  # non-zero biases, so that every term is exercised
        torch.nn.init.normal_(p)
    users = torch.tensor([4, 0, 2])
    with torch.no_grad():
        grid = net.score_all(users)
        pairs = net(users.repeat_interleave(7), torch.arange(7).repeat(3)).reshape(3, 7)
    np.testing.assert_allclose(grid.numpy(), pairs.numpy(), rtol=1e-12, atol=1e-12)


# --- Parameters --------------------------------------------------------------------------------

def test_neuromf_branch_defaults_and_errors() -> None:
    assert NeuroMF()._dims() == (128, 128, [])
    assert NeuroMF(embedding_gmf_dim=16)._dims() == (16, 0, [])
    assert NeuroMF(embedding_mlp_dim=8, hidden_mlp_dims=[4])._dims() == (0, 8, [4])
    with pytest.raises(InvalidParameterError, match="must be positive"):
        NeuroMF(embedding_gmf_dim=-1)
    with pytest.raises(InvalidParameterError, match="count_negative_sample"):
        NeuroMF(count_negative_sample=0)
    with pytest.raises(InvalidParameterError, match="hidden_mlp_dims"):
        NeuroMF(hidden_mlp_dims=[4, 0])
    with pytest.raises(InvalidParameterError, match="dropout"):
        MultVAE(dropout=1.0)
    with pytest.raises(InvalidParameterError, match="gamma"):
        MultVAE(gamma=0.0)


def test_config_registry_and_search_space() -> None:
    model = make_model("neuromf", {"epochs": 1, "hidden_mlp_dims": [4]})
    assert isinstance(model, NeuroMF) and model.epochs == 1
    config = json.loads(json.dumps(model.get_config()))
    assert NeuroMF.from_config(config).get_params() == model.get_params()
    assert isinstance(make_model("multvae", '{"latent_dim": 3}'), MultVAE)
    assert set(NeuroMF._search_space) <= set(NeuroMF._param_names())
    assert set(MultVAE._search_space) <= set(MultVAE._param_names())


def test_device_errors(log: pd.DataFrame) -> None:
    with pytest.raises(InvalidParameterError, match=r"`device` of NeuroMF.*got 'gpu'"):
        NeuroMF(device="gpu")
    missing = f"cuda:{torch.cuda.device_count() + 3}"
    with pytest.raises(InvalidParameterError, match=rf"`device` of MultVAE is '{missing}'"):
        small_vae(device=missing).fit(log)
    assert small_vae(device="auto", epochs=1).fit(log).is_fitted
    assert NeuroMF(device=torch.device("cpu")).device == "cpu"


# --- Negative sampling -------------------------------------------------------------------------

def test_negatives_are_uniform_among_unseen_items() -> None:
    rng = np.random.default_rng(0)
    users, items = rng.integers(0, 20, 150), rng.integers(0, 12, 150)
    users = np.append(users, [20] * 12)  # user 20 has seen every item
    items = np.append(items, np.arange(12))
    sampler = _UnseenSampler(users, items, 21, 12)
    asked = np.repeat(np.arange(21), 3000)
    drawn, valid = sampler.sample(asked, np.random.default_rng(1))

    assert not valid[asked == 20].any() and valid[asked != 20].all()
    seen = set(zip(users.tolist(), items.tolist()))
    assert not any((u, i) in seen for u, i in zip(asked[valid].tolist(), drawn[valid].tolist()))
    for user in range(20):
        unseen = sorted(set(range(12)) - {i for u, i in seen if u == user})
        counts = np.bincount(drawn[asked == user], minlength=12)
        assert sorted(np.flatnonzero(counts)) == unseen
        assert counts[unseen].min() > 3000 / len(unseen) * 0.7


def test_catalogue_smaller_than_negative_count() -> None:
    tiny = pd.DataFrame({"user_idx": [0, 1, 1, 2], "item_idx": [0, 1, 2, 0]})
    model = small_nmf(count_negative_sample=10, epochs=1).fit(tiny)
    recs = model.predict(tiny, 5)
    assert recs.groupby("user_idx").size().to_dict() == {0: 2, 1: 1, 2: 2}


# --- Fit, predict ------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [small_nmf, small_vae], ids=["neuromf", "multvae"])
def test_fit_predict_contract(log: pd.DataFrame, make) -> None:
    model = make().fit(log)
    recs = model.predict(log, 2)
    assert list(recs.columns) == ["user_idx", "item_idx", "relevance"]
    assert recs.groupby("user_idx").size().max() <= 2
    seen = set(zip(log["user_idx"], log["item_idx"]))
    assert not any((u, i) in seen for u, i in zip(recs["user_idx"], recs["item_idx"]))
    assert ((recs["relevance"] > 0) & (recs["relevance"] < 1)).all()
    assert 1 <= model.training_report["best_epoch"] <= 2

    unfiltered = model.predict(log, 4, filter_seen_items=False)
    assert unfiltered.groupby("user_idx").size().tolist() == [4, 4, 4, 4]
    pairs = model.predict_pairs(unfiltered[["user_idx", "item_idx"]], log)
    np.testing.assert_allclose(pairs["relevance"], unfiltered["relevance"], rtol=1e-12)


def test_seeded_fit_is_repeatable(medium_log: pd.DataFrame) -> None:
    for make in (small_nmf, small_vae):
        first, second = make().fit(medium_log), make().fit(medium_log)
        assert weights_equal(first, second)
        pd.testing.assert_frame_equal(first.predict(medium_log, 5), second.predict(medium_log, 5))
        assert not weights_equal(first, make(seed=43).fit(medium_log))
    state = torch.random.get_rng_state()
    small_nmf(epochs=1).fit(medium_log)
    assert torch.equal(state, torch.random.get_rng_state())  # the caller's RNG is untouched


def test_fit_does_not_depend_on_row_order(medium_log: pd.DataFrame) -> None:
    shuffled = medium_log.sample(frac=1.0, random_state=4)
    for make in (small_nmf, small_vae):
        assert weights_equal(make().fit(medium_log), make().fit(shuffled))


def test_multvae_new_users_from_history(log: pd.DataFrame) -> None:
    """MODELS.md §4.13's test: user 0 unseen in fit is served from history; 7 has none."""
    model = MultVAE(learning_rate=0.5, epochs=1, latent_dim=1, hidden_dim=1, **QUIET)
    model.fit(log[log["user_idx"] != 0])
    recs = model.predict(log, k=1, users=[0, 1, 7])
    assert sorted(recs["user_idx"]) == [0, 1]
    assert model.predict(None, k=3).empty  # no log: nobody has a history
    pairs = pd.DataFrame({"user_idx": [0, 7], "item_idx": [3, 3]})
    assert model.predict_pairs(pairs, log)["user_idx"].tolist() == [0]


def test_neuromf_drops_unseen_users(log: pd.DataFrame, caplog) -> None:
    model = small_nmf(epochs=1).fit(log[log["user_idx"] != 0])
    with caplog.at_level(logging.WARNING, logger="reclib"):
        recs = model.predict(log, 2, users=[0, 1, 2])
    assert sorted(recs["user_idx"].unique()) == [1, 2]
    assert "unseen in fit" in caplog.text
    assert len(model.predict(None, 1)) == 3  # no log needed: every fit user gets a row


def test_single_user() -> None:
    one = pd.DataFrame({"user_idx": [5, 5, 5], "item_idx": [1, 2, 3]})
    for make in (small_nmf, small_vae):
        model = make().fit(one)  # NeuroMF: no unseen item, so no negatives at all
        assert model.predict(one, 3).empty  # every item seen
        recs = model.predict(one.iloc[:1], 3)
        assert recs["user_idx"].tolist() == [5, 5] and set(recs["item_idx"]) == {2, 3}


def test_nan_relevance_is_ignored(log: pd.DataFrame) -> None:
    """Neither model reads relevance, so a NaN there cannot change (or break) the fit."""
    bad = log.copy()
    bad.loc[2, "relevance"] = np.nan
    for make in (small_nmf, small_vae):
        assert weights_equal(make().fit(bad), make().fit(log.drop(columns="relevance")))


def test_save_load_round_trip(medium_log: pd.DataFrame) -> None:
    for make in (small_nmf, small_vae):
        model = make().fit(medium_log)
        meta, arrays = model.export_state()
        meta = json.loads(json.dumps(meta))
        weights = {k: v for k, v in arrays.items() if k.startswith("model.net.")}
        assert weights and all(v.dtype == np.float32 for v in weights.values())
        copied = {k: np.array(v) for k, v in arrays.items()}
        loaded = type(model).from_state(meta, copied)
        pd.testing.assert_frame_equal(loaded.predict(medium_log, 5), model.predict(medium_log, 5))
        assert loaded.training_report["best_epoch"] == model.training_report["best_epoch"]


def test_save_load_through_files(medium_log: pd.DataFrame, tmp_path) -> None:
    io = pytest.importorskip("reclib.io")
    for make in (small_nmf, small_vae):
        model = make().fit(medium_log)
        path = io.save(model, tmp_path / type(model).__name__)
        assert not list(path.glob("*.pt")) and not list(path.glob("*.pkl"))
        loaded = io.load(path)
        pd.testing.assert_frame_equal(loaded.predict(medium_log, 5), model.predict(medium_log, 5))


def test_early_stopping_keeps_the_best_epoch() -> None:
    losses = iter([3.0, 1.0, 2.0, 2.5, 2.7, 0.5])
    snapshots = []

    def loss_of(net, batch):
        snapshots.append(net.weight.detach().clone())
        return (net(batch[0]) ** 2).mean() * 1e-3 + next(losses), 1.0

    settings = TrainSettings(name="toy", epochs=6, learning_rate=0.1, weight_decay=0.0,
                             gamma=0.9, patience=2, seed=0, device=torch.device("cpu"),
                             show_progress=False)
    data = np.ones((4, 2), dtype=np.float32)
    net, report = fit_network(lambda: torch.nn.Linear(2, 1), loss_of,
                              lambda rng: [(data,)], None, settings)
    assert report.epochs_run == 4 and report.best_epoch == 2
    assert torch.equal(net.weight, snapshots[2])  # the weights at the end of epoch 2
    assert not net.training


def test_divergence_is_reported(caplog) -> None:
    settings = TrainSettings(name="toy", epochs=3, learning_rate=0.1, weight_decay=0.0,
                             gamma=1.0, patience=None, seed=0, device=torch.device("cpu"),
                             show_progress=False)
    data = np.ones((2, 2), dtype=np.float32)
    with pytest.raises(InvalidParameterError, match="diverged.*learning_rate"):
        fit_network(lambda: torch.nn.Linear(2, 1),
                    lambda net, batch: (net(batch[0]).sum() * math.nan, 1.0),
                    lambda rng: [(data,)], None, settings)


def test_epoch_timings_logged(log: pd.DataFrame, caplog) -> None:
    with caplog.at_level(logging.DEBUG, logger="reclib"):
        small_vae(epochs=2).fit(log)
    assert "MultVAE epoch 2/2: train loss" in caplog.text


# --- Both engines ------------------------------------------------------------------------------

@pytest.mark.spark
@pytest.mark.parametrize("make", [small_nmf, small_vae], ids=["neuromf", "multvae"])
def test_both_engines_same_recs(spark, medium_log: pd.DataFrame, make) -> None:
    """Fitting on a Spark log gives the pandas fit's weights; both engines give its top-k."""
    both_engines(spark, make, medium_log, k=5)


@pytest.mark.spark
def test_fitted_model_scored_on_spark(spark, medium_log: pd.DataFrame) -> None:
    """One fitted model, scored by executors and in-process, with users, items and new users."""
    fit_log = medium_log[medium_log["user_idx"] % 5 != 0]
    new_user = pd.DataFrame({"user_idx": [99], "item_idx": [1], "relevance": [1.0]})
    history = pd.concat([medium_log, new_user], ignore_index=True)
    users = [0, 1, 2, 3, 5, 99, 500]  # 0 and 5 unseen in fit, 99 new with history, 500 none
    items = list(range(0, 30, 2))
    spark_history = spark.createDataFrame(history)
    for model in (small_nmf().fit(fit_log), small_vae().fit(fit_log)):
        local = model.predict(history, 4, users=users, items=items)
        remote = model.predict(spark_history, 4, users=users, items=items).toPandas()
        assert_same_recs(local, remote)
        assert len(local)

        pairs = pd.DataFrame({"user_idx": [1, 2, 99, 500], "item_idx": [4, 6, 8, 2]})
        local_pairs = model.predict_pairs(pairs, history)
        remote_pairs = model.predict_pairs(spark.createDataFrame(pairs), spark_history)
        assert_same_recs(local_pairs, remote_pairs.toPandas())
