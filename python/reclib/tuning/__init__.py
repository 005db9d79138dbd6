"""Hyper-parameter search: :func:`optimize` (optuna, TPE), as ``Recommender.optimize`` calls it.

>>> best = KNN().optimize(train, test, budget=10)       # doctest: +SKIP
>>> best
{'num_neighbours': 9, 'shrink': 2}

The search space of each model is its ``_search_space`` (``MODELS.md`` §3), which
``param_borders`` can narrow.  optuna is imported only when a search runs.
"""

from reclib.tuning._optimize import optimize, score, startup_trials, trial_params
from reclib.tuning._space import Dimension, SearchSpace, build_space

__all__ = [
    "optimize",
    "score",
    "build_space",
    "SearchSpace",
    "Dimension",
    "trial_params",
    "startup_trials",
]
