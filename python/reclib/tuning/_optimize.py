"""``optimize``: hyper-parameter search with optuna's TPE sampler (``MODELS.md`` §2.7)."""

from __future__ import annotations

import contextlib
import inspect
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from reclib._logging import get_logger, progress_disabled
from reclib.data.schema import ITEM_COL, USER_COL
from reclib.engines.frames import is_spark_frame, require_frame
from reclib.exceptions import InvalidParameterError, MissingDependencyError
from reclib.tuning._space import SearchSpace, build_space

if TYPE_CHECKING:
    from reclib.models.base import Recommender

__all__ = ["optimize", "score", "trial_params", "startup_trials"]

logger = get_logger(__name__)

#: User attribute of each trial holding the parameters the trial did not search.
FIXED_ATTR = "reclib_fixed_params"


def startup_trials(budget: int) -> int:
    """Random trials TPE draws before it models the results: a third of the budget, 3 to 10.

    optuna's default of 10 would make a budget of 10 a pure random search; the reference
    library keeps that default.
    """
    return int(min(10, max(3, budget // 3)))


def trial_params(trial: Any) -> dict[str, Any]:
    """Every parameter a finished trial used: the searched ones and the frozen ones."""
    return {**trial.user_attrs.get(FIXED_ATTR, {}), **trial.params}


def _import_optuna() -> Any:
    try:
        import optuna
    except ImportError as err:  # pragma: no cover - optuna is a test dependency
        raise MissingDependencyError(
            "reclib's `optimize` needs optuna, which is not installed; install it with "
            "`pip install optuna`"
        ) from err
    return optuna


def _json_value(value: Any) -> Any:
    """A parameter value as a plain Python scalar (optuna storages keep JSON)."""
    return value.item() if isinstance(value, np.generic) else value


@contextlib.contextmanager
def _quiet_optuna(optuna: Any) -> Iterator[None]:
    """Lower optuna's own verbosity for the duration of the call, then restore it."""
    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(previous)


class _Objective:
    """Fit a copy of the model with a trial's parameters and score its recommendations.

    Spark inputs that are not cached yet are cached for the duration of the call (each trial
    reads them again) and released by :meth:`close`.
    """

    def __init__(
        self,
        model: Recommender,
        train: Any,
        test: Any,
        user_features: Any,
        item_features: Any,
        criterion: Any,
        k: int,
    ) -> None:
        self._owned: list[Any] = []
        self.model = model
        self.train = self._cached(train)
        self.test = self._cached(test)
        self.criterion = criterion
        self.k = k

        if is_spark_frame(self.test):
            self.test_users = self._cached(self.test.select(USER_COL).distinct())
        else:
            self.test_users = np.unique(self.test[USER_COL].to_numpy())
        self.fit_kwargs, self.predict_kwargs = self._feature_kwargs(user_features, item_features)

    def _cached(self, frame: Any) -> Any:
        if is_spark_frame(frame) and not frame.is_cached:
            frame = frame.cache()
            self._owned.append(frame)
        return frame

    def _feature_kwargs(
        self, user_features: Any, item_features: Any
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Feature arguments of fit (restricted to train ids) and predict (as given)."""
        given = {"user_features": user_features, "item_features": item_features}
        given = {name: frame for name, frame in given.items() if frame is not None}
        if not given:
            return {}, {}

        accepted = inspect.signature(type(self.model).fit).parameters
        for name, frame in given.items():
            require_frame(frame, name)
            if name not in accepted:
                raise InvalidParameterError(
                    f"`{name}` was given but {type(self.model).__name__} does not use features; "
                    "expected None"
                )
        fit_kwargs = {
            name: _restrict(self._cached(frame), self.train, _id_column(name))
            for name, frame in given.items()
        }
        in_predict = inspect.signature(type(self.model).predict).parameters
        predict_kwargs = {name: frame for name, frame in given.items() if name in in_predict}
        return fit_kwargs, predict_kwargs

    def __call__(self, params: dict[str, Any]) -> float:
        # Limitation: every trial refits from scratch.  MODELS.md §2.7 lets KNN reuse the item
        # dot products across trials (_core.cooccurrence + cosine_topn_from_dots); on ml-100k a
        # KNN fit is ~0.1 s of a ~0.2 s pandas trial, so it is not done yet.
        candidate = type(self.model).from_config(self.model.get_config())
        candidate.set_params(**params)
        candidate.fit(self.train, **self.fit_kwargs)
        # By keyword: models that take features first (MODELS.md §2.1) name them the same way.
        recs = candidate.predict(
            log=self.train, k=self.k, users=self.test_users, filter_seen_items=True,
            **self.predict_kwargs,
        )
        value = self.criterion(recs, self.test, self.k)
        if isinstance(value, dict) or not isinstance(value, (int, float, np.number)):
            raise InvalidParameterError(
                f"`criterion` must return one number for k={self.k}, got {value!r}"
            )
        return float(value)

    def close(self) -> None:
        for frame in self._owned:
            frame.unpersist()
        self._owned.clear()


def _id_column(features_name: str) -> str:
    return USER_COL if features_name == "user_features" else ITEM_COL


def _restrict(features: Any, train: Any, column: str) -> Any:
    """The feature rows whose id occurs in ``train`` (what ``fit`` is allowed to see)."""
    if is_spark_frame(features):
        if is_spark_frame(train):
            ids = train.select(column)
        else:
            ids = features.sparkSession.createDataFrame(
                pd.DataFrame({column: np.unique(train[column].to_numpy())})
            )
        return features.join(ids.distinct(), on=column, how="left_semi")
    if is_spark_frame(train):
        ids = train.select(column).distinct().toPandas()[column].to_numpy()
    else:
        ids = train[column].to_numpy()
    return features[features[column].isin(ids)]


def score(
    model: Recommender,
    train: Any,
    test: Any,
    criterion: Any = None,
    k: int = 10,
    user_features: Any = None,
    item_features: Any = None,
) -> float:
    """The value one trial of :func:`optimize` gives the model's current parameters.

    A copy of ``model`` is fitted on ``train`` and recommends ``k`` items to every user of
    ``test`` (train items removed, every fit item a candidate); ``model`` itself is untouched.

    Parameters
    ----------
    model, train, test, criterion, k, user_features, item_features
        As for :func:`optimize`.

    Returns
    -------
    float
        ``criterion(recs, test, k)``.
    """
    from reclib.metrics import NDCG

    criterion = NDCG() if criterion is None else criterion
    _check_arguments(k, 1, True, None, None, None, criterion)
    require_frame(train, "train")
    require_frame(test, "test")
    objective = _Objective(model, train, test, user_features, item_features, criterion, int(k))
    try:
        return objective(model.get_params())
    finally:
        objective.close()


def _check_arguments(
    k: Any, budget: Any, new_study: Any, storage: Any, seed: Any, study_name: Any, criterion: Any
) -> None:
    for name, value, low in (("k", k, 1), ("budget", budget, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise InvalidParameterError(f"`{name}` must be an integer >= {low}, got {value!r}")
    if not isinstance(new_study, bool):
        raise InvalidParameterError(f"`new_study` must be True or False, got {new_study!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise InvalidParameterError(f"`seed` must be an integer or None, got {seed!r}")
    for name, value in (("storage", storage), ("study_name", study_name)):
        if value is not None and (not isinstance(value, str) or not value):
            raise InvalidParameterError(
                f"`{name}` must be a non-empty string or None, got {value!r}"
            )
    if not callable(criterion):
        raise InvalidParameterError(
            f"`criterion` must be a metric such as NDCG(), called as criterion(recs, test, k); "
            f"got {criterion!r}"
        )


def _sampler(optuna: Any, seed: int | None, budget: int, n_trials_before: int) -> Any:
    """A TPE sampler whose seed moves on with the study, so a continued study draws anew."""
    return optuna.samplers.TPESampler(
        seed=None if seed is None else int(seed) + n_trials_before,
        n_startup_trials=startup_trials(budget),
    )


def _open_study(
    optuna: Any,
    model: Recommender,
    new_study: bool,
    storage: str | None,
    study_name: str | None,
    seed: int | None,
    budget: int,
) -> Any:
    """The study the trials go to: the model's, a stored one, or a new one."""
    previous = getattr(model, "study", None)
    if not new_study and previous is not None:
        previous.sampler = _sampler(optuna, seed, budget, len(previous.trials))
        return previous
    if storage is None:
        return optuna.create_study(
            direction="maximize", sampler=_sampler(optuna, seed, budget, 0), study_name=study_name
        )

    name = study_name or f"reclib-{type(model).__name__}"
    try:
        study = optuna.create_study(
            storage=storage, study_name=name, direction="maximize",
            sampler=_sampler(optuna, seed, budget, 0), load_if_exists=True,
        )
    except Exception as err:  # SQLAlchemy and driver errors have no common base
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise InvalidParameterError(
            f"`storage` {storage!r} cannot be opened ({type(err).__name__}: {reason}); "
            "expected an optuna storage URL such as 'sqlite:///tuning.db'"
        ) from err
    study.sampler = _sampler(optuna, seed, budget, len(study.trials))
    if study.direction != optuna.study.StudyDirection.MAXIMIZE:
        raise InvalidParameterError(
            f"study {name!r} in `storage` minimises its objective; optimize maximises "
            "(pass another `study_name`)"
        )
    done = _finished(optuna, study)
    if done:
        logger.info("resuming study %r of %s: %d trial(s) finished", name, storage, done)
    return study


def _finished(optuna: Any, study: Any) -> int:
    return len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))


def _check_categoricals(optuna: Any, study: Any, space: SearchSpace) -> None:
    """optuna cannot change the choices of a categorical parameter within one study."""
    for trial in study.get_trials(deepcopy=False):
        for name, dist in trial.distributions.items():
            dim = space.dimensions.get(name)
            if dim is None or dim.kind != "categorical":
                continue
            if not isinstance(dist, optuna.distributions.CategoricalDistribution) or list(
                dist.choices
            ) != list(dim.args):
                raise InvalidParameterError(
                    f"`param_borders[{name!r}]` gives choices {list(dim.args)}, but the study "
                    f"searched {name!r} as {dist}; optuna cannot change a categorical's choices "
                    "within a study, so pass new_study=True (or another study_name)"
                )


def _tried(optuna: Any, study: Any, values: dict[str, Any]) -> bool:
    """Whether a trial of the study (finished, pruned, running or queued) used ``values``."""
    state = optuna.trial.TrialState
    for trial in study.get_trials(deepcopy=False):
        if trial.state == state.FAIL:
            continue
        if trial.state == state.WAITING:
            used = trial.system_attrs.get("fixed_params", {})
        else:
            used = trial_params(trial)
        if all(name in used and _close(used[name], value) for name, value in values.items()):
            return True
    return False


def _close(left: Any, right: Any) -> bool:
    if isinstance(left, (int, float)) and isinstance(right, (int, float)):
        if isinstance(left, bool) or isinstance(right, bool):
            return left is right
        return math.isclose(float(left), float(right), rel_tol=1e-12, abs_tol=0.0)
    return bool(left == right)


def optimize(
    model: Recommender,
    train: Any,
    test: Any,
    user_features: Any = None,
    item_features: Any = None,
    param_borders: dict[str, list[Any]] | None = None,
    criterion: Any = None,
    k: int = 10,
    budget: int = 10,
    new_study: bool = True,
    storage: str | None = None,
    seed: int | None = 0,
    study_name: str | None = None,
    show_progress: bool = True,
) -> dict[str, Any] | None:
    """Search a model's hyper-parameters with optuna's TPE sampler and set the best ones.

    Each trial builds a fresh copy of ``model`` with the trial's parameters, fits it on
    ``train``, recommends ``k`` items to every user of ``test`` with ``train`` as the history
    (seen items removed; every fit item is a candidate) and scores the list with ``criterion``
    against ``test``.  The model's current parameters run first when they lie in the searched
    space and the study has not tried them yet.  After the trials the best parameters are set
    on ``model``, which is left **unfitted** (it is not refitted with them; a fit it had is
    dropped, since it belongs to other parameters): call ``fit`` to train it.  The optuna
    study is kept as ``model.study``.

    Parameters
    ----------
    model : Recommender
        The model to tune; its current parameters are the starting point.
    train, test : pandas.DataFrame or pyspark.sql.DataFrame
        Interaction logs to fit on and to score against (``user_idx, item_idx`` and what the
        model needs, usually ``relevance``).  Spark inputs stay on Spark: the recommendations
        and the metric are computed there, and frames not cached yet are cached for the
        duration of the call (every trial reads them).
    user_features, item_features : DataFrame, optional
        For models whose ``fit`` takes features; ``fit`` gets only the rows of train's ids.
    param_borders : dict, optional
        Narrow the model's default search space (``MODELS.md`` §3): parameter name to
        ``[low, high]`` for a number, or a non-empty list of choices for a category.  When
        given, the search-space parameters it does not name stay at the model's current value.
    criterion : Metric, optional
        Called as ``criterion(recs, test, k)``; larger is better.  Default :class:`NDCG`.
    k : int, default 10
        Length of the recommendation lists and the metric's cut-off.
    budget : int, default 10
        Number of trials to run.  With ``storage`` and ``new_study=True`` it is the number
        of finished trials the stored study should reach, so rerunning a crashed call runs
        only the missing ones.
    new_study : bool, default True
        False appends the trials to ``model.study`` (or to the stored study) instead of
        starting a new one.
    storage : str, optional
        An optuna storage URL, for example ``"sqlite:///tuning.db"``: every trial is written
        there as it ends, and the study named ``study_name`` is created or, if present,
        resumed.
    seed : int, optional, default 0
        Seed of the TPE sampler; None draws one (not reproducible).  A study that already
        has ``n`` trials (continued or resumed) is sampled with ``seed + n``.
    study_name : str, optional
        Name of the study in ``storage``; default ``"reclib-<ModelClass>"``.
    show_progress : bool, default True
        A progress bar over the trials with the best value so far (also switched off by
        ``RECLIB_NO_PROGRESS=1``).

    Returns
    -------
    dict or None
        The best trial's values of the search-space parameters, or None (with a warning)
        for a model without a search space.

    Raises
    ------
    InvalidParameterError
        A bad argument or ``param_borders`` entry.
    Exception
        Whatever a trial raised; with ``storage`` the finished trials are kept and a rerun
        resumes.

    Notes
    -----
    Differences from the reference library (RePlay): the sampler is seeded; it draws
    ``min(10, max(3, budget // 3))`` random trials before modelling (optuna's default of 10
    turns a budget of 10 into a random search); every fit item is a candidate, not only the
    items of ``test`` (the reference's protocol scores against the test items only, which
    overstates every value); trials fit a copy, so ``model`` ends unfitted rather than
    holding the last trial's fit.

    Examples
    --------
    >>> model = KNN()
    >>> model.optimize(train, test, param_borders={"num_neighbours": [5, 20]})  # doctest: +SKIP
    {'num_neighbours': 7, 'shrink': 0.0}
    >>> recs = model.fit(train).predict(train, k=10)                           # doctest: +SKIP
    """
    from reclib.metrics import NDCG

    if not type(model)._search_space:
        logger.warning(
            "%s has no hyper-parameters to search; optimize returns None", type(model).__name__
        )
        return None
    criterion = NDCG() if criterion is None else criterion
    _check_arguments(k, budget, new_study, storage, seed, study_name, criterion)
    require_frame(train, "train")
    require_frame(test, "test")
    space = build_space(model, param_borders)

    optuna = _import_optuna()
    with _quiet_optuna(optuna):
        study = _open_study(optuna, model, new_study, storage, study_name, seed, int(budget))
        model.study = study
        _check_categoricals(optuna, study, space)

        start = model.get_params()
        if space.contains(start):
            values = space.as_trial_values(start)
            if values and not _tried(optuna, study, values):
                study.enqueue_trial(values)

        appending = not new_study or storage is None
        n_trials = int(budget) if appending else max(0, int(budget) - _finished(optuna, study))
        if n_trials:
            _run(optuna, model, study, space, n_trials, show_progress, train, test,
                 user_features, item_features, criterion, int(k))

    best = trial_params(study.best_trial)
    model.set_params(**best)
    # The model's fitted state (if any) belongs to other parameters: drop it.
    model._user_ids = model._item_ids = None
    logger.info(
        "%s: best %s@%d %.6f with %s after %d trial(s)",
        type(model).__name__, getattr(criterion, "name", criterion), k, study.best_value, best,
        len(study.trials),
    )
    return best


def _run(
    optuna: Any,
    model: Recommender,
    study: Any,
    space: SearchSpace,
    n_trials: int,
    show_progress: bool,
    train: Any,
    test: Any,
    user_features: Any,
    item_features: Any,
    criterion: Any,
    k: int,
) -> None:
    """Run ``n_trials`` trials of ``study`` with a progress bar."""
    from tqdm.auto import tqdm

    objective = _Objective(model, train, test, user_features, item_features, criterion, k)
    fixed = {name: _json_value(value) for name, value in space.fixed.items()}

    def run_trial(trial: Any) -> float:
        trial.set_user_attr(FIXED_ATTR, fixed)
        params = {name: dim.suggest(trial) for name, dim in space.dimensions.items()}
        return objective({**space.fixed, **params})

    metric_name = getattr(criterion, "name", type(criterion).__name__)
    bar = tqdm(
        total=n_trials, desc=f"optimize {type(model).__name__}",
        disable=progress_disabled(show_progress),
    )

    def advance(study: Any, trial: Any) -> None:
        bar.update(1)
        if trial.state == optuna.trial.TrialState.COMPLETE:
            bar.set_postfix_str(f"best {metric_name}@{k}={study.best_value:.4f}")

    try:
        study.optimize(run_trial, n_trials=n_trials, callbacks=[advance])
    finally:
        bar.close()
        objective.close()
