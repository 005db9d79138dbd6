"""``reclib tune``: search a model's hyper-parameters on the standard split of a dataset.

The split is the one of ``reclib experiment`` (``EVALUATION.md`` §1), and the trials are scored
on its test part, as ``optimize(train, test)`` does: the tuned value is therefore an optimistic
estimate of what the parameters give on new data.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from reclib._logging import get_logger
from reclib.exceptions import InvalidParameterError
from reclib.tuning._optimize import score, trial_params
from reclib.tuning._space import build_space
from reclib.tuning.report import plot_trials, trials_table

__all__ = ["run_tune", "tune_borders"]

logger = get_logger(__name__)


def _json_object(text: str | None, name: str) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise InvalidParameterError(
            f"`{name}` must be a JSON object, got {text!r} ({err.msg})"
        ) from None
    if not isinstance(value, dict):
        raise InvalidParameterError(f"`{name}` must be a JSON object, got {text!r}")
    return value


def tune_borders(
    model: Any, fixed: dict[str, Any] | None, borders: dict[str, Any] | None
) -> dict[str, Any] | None:
    """The ``param_borders`` of ``reclib tune``: ``--borders``, minus what ``--params`` fixes.

    Without ``--params`` naming a search-space parameter this is ``borders`` unchanged (None:
    the whole default space).  Otherwise the fixed parameters are left out of the search (every
    other default-space parameter keeps its default range unless ``borders`` narrows it).
    """
    space = type(model)._search_space or {}
    pinned = sorted(set(fixed or {}) & set(space))
    if not pinned:
        return borders
    both = sorted(set(pinned) & set(borders or {}))
    if both:
        raise InvalidParameterError(
            f"`--params` fixes {both} but `--borders` searches them; name each parameter in "
            "only one of the two"
        )
    searched = {
        name: list(entry["args"]) for name, entry in space.items() if name not in pinned
    }
    searched.update(borders or {})
    if not searched:
        raise InvalidParameterError(
            f"`--params` fixes every searched parameter of {type(model).__name__} "
            f"({sorted(space)}); nothing is left to tune"
        )
    return searched


def _start_value(study: Any, start: dict[str, Any]) -> float | None:
    """The value of the trial that ran the starting parameters, if one did."""
    for trial in study.trials:
        if trial.state.name != "COMPLETE":
            continue
        used = trial_params(trial)
        if all(used.get(name) == value for name, value in start.items() if name in used):
            return float(trial.value)
    return None


def run_tune(
    model_name: str,
    dataset: str = "ml-100k",
    data_dir: str | Path | None = None,
    engine: str = "pandas",
    budget: int = 20,
    k: int = 10,
    params: str | None = None,
    borders: str | None = None,
    storage: str | None = None,
    study_name: str | None = None,
    seed: int | None = 0,
    output_dir: str | Path = "reclib-out",
    show_progress: bool = True,
) -> int:
    """Tune a model on the standard split, print the outcome, write a CSV and a PNG.

    Parameters
    ----------
    model_name : str
        A short name of ``reclib.models.registry.MODELS`` whose model has a search space.
    dataset, data_dir, engine
        As for :func:`reclib.experiment.run_experiment`.
    budget, k, storage, study_name, seed, show_progress
        As for :func:`reclib.tuning.optimize` (the criterion is NDCG@k); the default study
        name in ``storage`` is ``"reclib-<ModelClass>-<dataset>"``.
    params : str, optional
        JSON object of parameters to set and keep fixed.
    borders : str, optional
        JSON object of search ranges (``param_borders``).
    output_dir : str or Path
        Where ``tune-<model>-<dataset>-<engine>.csv`` and ``.png`` go.

    Returns
    -------
    int
        The exit status (0).
    """
    from reclib.experiment import standard_split
    from reclib.metrics import NDCG
    from reclib.models.registry import MODELS, make_model

    model = make_model(model_name, params)
    if not type(model)._search_space:
        tunable = sorted(name for name, cls in MODELS.items() if cls._search_space)
        raise InvalidParameterError(
            f"model {model_name!r} ({type(model).__name__}) has no hyper-parameters to tune; "
            f"models with a search space: {tunable}"
        )
    param_borders = tune_borders(
        model, _json_object(params, "params"), _json_object(borders, "borders")
    )
    build_space(model, param_borders)  # refuse bad borders before loading any data

    if storage is not None and study_name is None:
        study_name = f"reclib-{type(model).__name__}-{dataset}"
    train, test = standard_split(dataset, data_dir, engine)
    start = model.get_params()
    best = model.optimize(
        train, test, param_borders=param_borders, criterion=NDCG(), k=k, budget=budget,
        storage=storage, study_name=study_name, seed=seed, show_progress=show_progress,
    )
    study = model.study
    default_value = _start_value(study, start)
    if default_value is None:
        default_value = score(type(model)(**start), train, test, NDCG(), k)

    metric = f"NDCG@{k}"
    best_value = float(study.best_value)
    print(f"best parameters of {type(model).__name__}: {json.dumps(best)}")
    print(
        f"{metric}: default {default_value:.4f} -> tuned {best_value:.4f} "
        f"({best_value - default_value:+.4f}) over {len(study.trials)} trial(s)"
    )

    table = trials_table(study)
    stem = f"tune-{model_name}-{dataset}-{engine}"
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    csv_path = output / f"{stem}.csv"
    table.to_csv(csv_path, index=False)
    png_path = plot_trials(
        table, output / f"{stem}.png", metric,
        f"{type(model).__name__} on {dataset} ({engine}): {metric} per trial",
        default_value=None if math.isnan(default_value) else default_value,
    )
    print(f"wrote {csv_path} and {png_path}")
    return 0
