"""What ``reclib tune`` shows: the trials of a study as a table and as a PNG curve."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from reclib.tuning._optimize import trial_params

__all__ = ["trials_table", "plot_trials"]


def trials_table(study: Any) -> pd.DataFrame:
    """One row per trial of an optuna study.

    Returns
    -------
    pandas.DataFrame
        ``trial`` (1-based), ``state``, ``value`` (NaN unless complete), ``best_so_far`` and one
        column per parameter.
    """
    rows = []
    best = -math.inf
    for trial in study.get_trials(deepcopy=False):
        complete = trial.state.name == "COMPLETE" and trial.value is not None
        value = float(trial.value) if complete else math.nan
        if complete:
            best = max(best, value)
        rows.append(
            {
                "trial": trial.number + 1,
                "state": trial.state.name,
                "value": value,
                "best_so_far": best if best > -math.inf else math.nan,
                **trial_params(trial),
            }
        )
    return pd.DataFrame(rows)


def plot_trials(
    table: pd.DataFrame,
    path: str | Path,
    metric: str,
    title: str,
    default_value: float | None = None,
) -> Path:
    """Write a PNG of each trial's value, the running best and the default's value.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`trials_table`'s output.
    path : str or Path
        The PNG to write (its folder is created).
    metric : str
        Label of the y axis, e.g. ``"NDCG@10"``.
    title : str
        Title of the chart.
    default_value : float, optional
        Drawn as a dashed line: the value of the model's starting parameters.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    # A bare Figure draws with Agg and leaves pyplot's global state (and backend) alone.
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(8, 4.5))
    ax = fig.subplots()
    ax.plot(table["trial"], table["value"], "o", color="tab:blue", label="trial")
    ax.step(table["trial"], table["best_so_far"], where="post", color="tab:orange",
            label="best so far")
    if default_value is not None:
        ax.axhline(default_value, color="grey", linestyle="--", linewidth=1,
                   label=f"default ({default_value:.4f})")

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial")
    ax.set_ylabel(metric)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path
