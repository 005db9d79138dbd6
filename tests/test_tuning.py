"""``optimize`` and ``reclib tune``: configs, search spaces, borders, studies, real-data gains."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from zoo import ZOO_NAMES, make_zoo_model

from reclib.cli.main import main
from reclib.exceptions import InvalidParameterError
from reclib.experiment import standard_split
from reclib.metrics import NDCG, HitRate
from reclib.models import KNN, PopRec, RandomRec
from reclib.models.registry import MODELS
from reclib.tuning import build_space, score, startup_trials, trial_params

#: Narrowed KNN ranges of the real-data checks (the defaults, 10 and 0, lie inside).
KNN_BORDERS = {"num_neighbours": [5, 20], "shrink": [0, 10]}


@pytest.fixture(scope="module")
def split() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A small synthetic train/test pair with some item structure for KNN to find."""
    rng = np.random.default_rng(3)
    rows = []
    for user in range(60):
        group = user % 3
        items = rng.choice(np.arange(group * 10, group * 10 + 14) % 36, size=9, replace=False)
        rows += [(user, int(item), float(rng.integers(1, 6))) for item in items]
    log = pd.DataFrame(rows, columns=["user_idx", "item_idx", "relevance"])
    test_mask = log.groupby("user_idx").cumcount() >= 7
    return log[~test_mask].reset_index(drop=True), log[test_mask].reset_index(drop=True)


@pytest.fixture(scope="module")
def ml100k(data_dir) -> tuple[pd.DataFrame, pd.DataFrame]:
    return standard_split("ml-100k", data_dir, "pandas")


def _searched(study: optuna.Study) -> list[dict]:
    return [trial_params(t) for t in study.trials]


# --- configs and search spaces -----------------------------------------------------------------

@pytest.mark.parametrize("name", ZOO_NAMES)
def test_config_round_trips_through_json(name: str) -> None:
    model = make_zoo_model(name)
    text = json.dumps(model.get_config())
    rebuilt = type(model).from_config(json.loads(text))
    assert type(rebuilt) is type(model)
    assert rebuilt.get_config() == model.get_config()
    assert json.loads(json.dumps(rebuilt.get_config())) == json.loads(text)


@pytest.mark.parametrize(
    "name", [name for name in ZOO_NAMES if MODELS[name]._search_space]
)
def test_default_search_space_is_accepted_by_the_model(name: str) -> None:
    model = make_zoo_model(name)
    space = type(model)._search_space
    # As borders, the default ranges are validated end point by end point against the model.
    full = build_space(model, {p: list(entry["args"]) for p, entry in space.items()})
    assert set(full.dimensions) == set(space) and full.fixed == {}
    assert set(build_space(model, None).dimensions) == set(space)


def test_model_without_search_space_warns_and_returns_none(split, caplog) -> None:
    train, test = split
    with caplog.at_level(logging.WARNING, logger="reclib"):
        assert PopRec().optimize(train, test, budget=2) is None
    assert "PopRec has no hyper-parameters to search" in caplog.text


# --- bad arguments -----------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("borders", "message"),
    [
        ({"neighbours": [1, 5]}, r"unknown parameter\(s\) \['neighbours'\] of KNN; its search "
                                 r"space has \['num_neighbours', 'shrink'\]"),
        ({"use_relevance": [True]}, r"unknown parameter\(s\) \['use_relevance'\]"),
        ({"num_neighbours": 5}, r"`param_borders\['num_neighbours'\]` of KNN must be a list, "
                                r"got 5 .*expected \[low, high\]"),
        ({"num_neighbours": [1, 5, 9]},
         r"must be \[low, high\] for the int parameter, got \[1, 5, 9\]"),
        ({"num_neighbours": [20, 5]}, r"must have low <= high, got \[20, 5\]"),
        ({"num_neighbours": [1.5, 5]}, r"must hold two integers .* got \[1.5, 5\]"),
        ({"shrink": ["a", 5]}, r"must hold two finite numbers"),
        ({"num_neighbours": [0, 5]}, r"holds 0, which the model refuses: `num_neighbours` of KNN "
                                     r"must be >= 1"),
        ([("num_neighbours", [1, 5])], r"`param_borders` must be a dict"),
    ],
)
def test_bad_borders(split, borders, message: str) -> None:
    train, test = split
    with pytest.raises(InvalidParameterError, match=message):
        KNN().optimize(train, test, param_borders=borders, budget=1)


@pytest.mark.parametrize(
    ("borders", "message"),
    [
        ({"distribution": []}, r"must be a non-empty list of choices, got \[\]"),
        ({"distribution": ["uniform", "zipf"]}, r"holds 'zipf', which the model refuses"),
        ({"alpha": [-3.0, 1.0]}, None),
    ],
)
def test_bad_categorical_borders(split, borders, message: str | None) -> None:
    train, test = split
    model = RandomRec("popular_based", seed=1)
    if message is None:  # alpha <= -1 is refused with popular_based (distribution frozen)
        message = r"holds -3.0, which the model refuses: `alpha` of RandomRec must be > -1"
    with pytest.raises(InvalidParameterError, match=message):
        model.optimize(train, test, param_borders=borders, budget=1)


def test_log_borders_must_be_positive() -> None:
    als = MODELS["als"]()
    with pytest.raises(InvalidParameterError, match=r"must have low > 0 .*\(log scale\)"):
        build_space(als, {"rank": [0, 16]})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"budget": 0}, r"`budget` must be an integer >= 1, got 0"),
        ({"k": 0}, r"`k` must be an integer >= 1, got 0"),
        ({"criterion": "ndcg"}, r"`criterion` must be a metric"),
        ({"new_study": "yes"}, r"`new_study` must be True or False"),
        ({"storage": ""}, r"`storage` must be a non-empty string"),
        ({"storage": "nonsense"}, r"`storage` 'nonsense' cannot be opened .*sqlite:///"),
        ({"item_features": pd.DataFrame({"item_idx": [0]})}, r"does not use features"),
    ],
)
def test_bad_arguments(split, kwargs: dict, message: str) -> None:
    train, test = split
    with pytest.raises(InvalidParameterError, match=message):
        KNN().optimize(train, test, **kwargs)


# --- behaviour ---------------------------------------------------------------------------------

def test_optimize_searches_and_leaves_the_model_configured_unfitted(split) -> None:
    train, test = split
    model = KNN(num_neighbours=4).fit(train)
    best = model.optimize(train, test, budget=5, show_progress=False)

    assert set(best) == {"num_neighbours", "shrink"}
    assert model.get_params() == {**best, "use_relevance": False}
    assert not model.is_fitted
    study = model.study
    assert len(study.trials) == 5
    # The starting parameters run first; the best value is the best trial's, and it is the
    # value the parameters give when scored on their own.
    assert _searched(study)[0] == {"num_neighbours": 4, "shrink": 0}
    assert study.best_value == max(t.value for t in study.trials)
    assert score(KNN(**best), train, test) == pytest.approx(study.best_value, abs=1e-12)


def test_seeded_search_is_reproducible(split) -> None:
    train, test = split
    first, second = KNN(), KNN()
    first.optimize(train, test, budget=6, seed=11, show_progress=False)
    second.optimize(train, test, budget=6, seed=11, show_progress=False)
    assert _searched(first.study) == _searched(second.study)
    assert [t.value for t in first.study.trials] == [t.value for t in second.study.trials]


def test_borders_freeze_the_parameters_they_do_not_name(split) -> None:
    train, test = split
    model = KNN(num_neighbours=3, shrink=2.5)
    best = model.optimize(
        train, test, param_borders={"num_neighbours": [2, 6]}, budget=4, show_progress=False
    )
    assert best["shrink"] == 2.5
    searched = _searched(model.study)
    assert all(p["shrink"] == 2.5 and 2 <= p["num_neighbours"] <= 6 for p in searched)
    assert searched[0]["num_neighbours"] == 3


def test_start_outside_the_borders_is_not_enqueued(split) -> None:
    train, test = split
    model = KNN(num_neighbours=50)
    model.optimize(
        train, test, param_borders={"num_neighbours": [2, 6]}, budget=3, show_progress=False
    )
    assert all(2 <= p["num_neighbours"] <= 6 for p in _searched(model.study))


def test_new_study_false_appends(split) -> None:
    train, test = split
    model = KNN()
    first_best = model.optimize(train, test, budget=3, show_progress=False)
    study = model.study
    model.optimize(train, test, budget=2, new_study=False, show_progress=False)
    assert model.study is study and len(study.trials) == 5
    # The new starting point, the best so far, was tried already: it is not queued again.
    assert _searched(study)[3] != first_best

    model.optimize(train, test, budget=2, show_progress=False)
    assert model.study is not study and len(model.study.trials) == 2


def test_categorical_and_float_dimensions(split) -> None:
    train, test = split
    model = RandomRec(seed=5)
    best = model.optimize(train, test, budget=4, criterion=HitRate(), k=5, show_progress=False)
    assert best["distribution"] in ("popular_based", "relevance", "uniform")
    assert -0.5 <= best["alpha"] <= 100
    assert model.seed == 5 and model.get_params()["distribution"] == best["distribution"]


def test_optuna_verbosity_is_restored_and_logging_untouched(split) -> None:
    train, test = split
    optuna.logging.set_verbosity(optuna.logging.DEBUG)
    root_handlers = list(logging.getLogger().handlers)
    try:
        KNN().optimize(train, test, budget=2, show_progress=False)
        assert optuna.logging.get_verbosity() == optuna.logging.DEBUG
        assert logging.getLogger().handlers == root_handlers
    finally:
        optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_features_reach_fit_restricted_to_train_ids(split) -> None:
    train, test = split
    seen: list[pd.DataFrame] = []

    class FeaturePop(PopRec):
        _search_space = {"use_relevance": {"type": "categorical", "args": [False, True]}}

        def fit(self, log, item_features=None):  # type: ignore[override]
            seen.append(item_features)
            return super().fit(log)

    features = pd.DataFrame({"item_idx": [0, 1, 999], "f": [0.1, 0.2, 0.3]})
    FeaturePop().optimize(train, test, item_features=features, budget=2, show_progress=False)
    assert len(seen) == 2
    assert all(sorted(frame["item_idx"]) == [0, 1] for frame in seen)


def test_resume_from_sqlite_after_a_crash(split, tmp_path: Path) -> None:
    train, test = split
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    calls = {"n": 0}

    def crashing(recs, ground_truth, k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("machine lost")
        return NDCG()(recs, ground_truth, k)

    with pytest.raises(RuntimeError, match="machine lost"):
        KNN().optimize(train, test, criterion=crashing, budget=6, storage=storage,
                       show_progress=False)

    stored = optuna.load_study(study_name="reclib-KNN", storage=storage)
    states = [t.state.name for t in stored.trials]
    assert states == ["COMPLETE", "COMPLETE", "FAIL"]

    model = KNN()
    best = model.optimize(train, test, budget=6, storage=storage, show_progress=False)
    study = optuna.load_study(study_name="reclib-KNN", storage=storage)
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(complete) == 6 and len(study.trials) == 7
    # The starting parameters ran once, before the crash; the resumed run did not repeat them.
    assert [trial_params(t) for t in complete].count({"num_neighbours": 10, "shrink": 0}) == 1
    assert best == trial_params(study.best_trial)

    # A finished study is not run again; another name starts afresh.
    KNN().optimize(train, test, budget=6, storage=storage, show_progress=False)
    assert len(optuna.load_study(study_name="reclib-KNN", storage=storage).trials) == 7
    other = KNN()
    other.optimize(train, test, budget=2, storage=storage, study_name="other",
                   show_progress=False)
    assert len(other.study.trials) == 2


def test_startup_trials() -> None:
    assert [startup_trials(b) for b in (1, 10, 20, 30, 100)] == [3, 3, 6, 10, 10]


# --- real data ---------------------------------------------------------------------------------

@pytest.mark.slow
def test_optimize_improves_knn_on_ml100k_pandas(ml100k) -> None:
    train, test = ml100k
    default = score(KNN(), train, test)
    model = KNN()
    best = model.optimize(train, test, param_borders=KNN_BORDERS, budget=10, show_progress=False)
    assert model.study.trials[0].value == pytest.approx(default, abs=1e-12)
    assert model.study.best_value > default
    assert score(KNN(**best), train, test) == pytest.approx(model.study.best_value, abs=1e-12)


@pytest.mark.spark
@pytest.mark.slow
def test_optimize_on_spark_matches_pandas(spark, data_dir, ml100k) -> None:
    train, test = standard_split("ml-100k", data_dir, "spark", spark)
    on_spark = KNN()
    best = on_spark.optimize(
        train, test, param_borders=KNN_BORDERS, budget=10, show_progress=False
    )
    on_pandas = KNN()
    on_pandas.optimize(*ml100k, param_borders=KNN_BORDERS, budget=10, show_progress=False)

    assert best == trial_params(on_pandas.study.best_trial)
    np.testing.assert_allclose(
        [t.value for t in on_spark.study.trials], [t.value for t in on_pandas.study.trials],
        rtol=0, atol=1e-9,
    )
    assert on_spark.study.best_value > on_spark.study.trials[0].value
    train.unpersist()
    test.unpersist()


def test_cli_tune(data_dir, tmp_path: Path, capsys) -> None:
    status = main(["tune", "--model", "knn", "--dataset", "ml-100k", "--data-dir",
                   str(data_dir), "--budget", "3", "--borders", json.dumps(KNN_BORDERS),
                   "--output-dir", str(tmp_path), "--no-progress"])
    assert status == 0
    printed = capsys.readouterr().out
    assert "best parameters of KNN: {" in printed
    assert "NDCG@10: default 0.1886 -> tuned" in printed
    table = pd.read_csv(tmp_path / "tune-knn-ml-100k-pandas.csv")
    assert len(table) == 3 and {"value", "best_so_far", "num_neighbours"} <= set(table.columns)
    png = (tmp_path / "tune-knn-ml-100k-pandas.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_tune_fixed_params(data_dir, tmp_path: Path, capsys) -> None:
    status = main(["tune", "--model", "knn", "--data-dir", str(data_dir), "--budget", "2",
                   "--params", '{"shrink": 3}', "--borders", '{"num_neighbours": [5, 12]}',
                   "--output-dir", str(tmp_path), "--no-progress"])
    assert status == 0
    table = pd.read_csv(tmp_path / "tune-knn-ml-100k-pandas.csv")
    assert (table["shrink"] == 3).all()
    assert "NDCG@10: default" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "pop"], "has no hyper-parameters to tune; models with a search space"),
        (["--model", "knn", "--borders", "[1, 2]"], "`borders` must be a JSON object"),
        (["--model", "knn", "--borders", '{"k": [1, 2]}'], r"unknown parameter\(s\) \['k'\]"),
        (["--model", "knn", "--params", '{"shrink": 1}', "--borders", '{"shrink": [0, 2]}'],
         r"`--params` fixes \['shrink'\] but `--borders` searches them"),
    ],
)
def test_cli_tune_errors(args: list[str], message: str, tmp_path: Path, capsys) -> None:
    status = main(["tune", *args, "--budget", "1", "--output-dir", str(tmp_path),
                   "--data-dir", str(tmp_path)])
    assert status == 2
    assert re.search(message, capsys.readouterr().err)
