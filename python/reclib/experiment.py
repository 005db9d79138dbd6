"""The standard experiment of ``EVALUATION.md`` §1, used by ``reclib experiment``.

1. Load a dataset and index its raw ids.
2. Split per user: the last 20 % of each user's rows (by timestamp, then item id) are test;
   test rows of users or items absent from train are dropped.
3. Fit every model on train (Wilson on ``rating >= 4`` binarised), recommend ``k`` items to
   every test user with their train items filtered out, and measure the metrics at ``k``.

With ``engine="spark"`` the same steps run on Spark DataFrames (split, fit, predict and
metrics); deterministic models then give exactly the pandas numbers.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from reclib._logging import get_logger, progress_disabled
from reclib.data.datasets import load_dataset
from reclib.data.indexer import Indexer
from reclib.exceptions import InvalidParameterError
from reclib.metrics import MAP, MRR, NDCG, Coverage, HitRate, Precision, Recall, evaluate
from reclib.models import KNN, PopRec, RandomRec, Recommender, Wilson
from reclib.splitters import UserSplitter

__all__ = [
    "ModelSpec",
    "default_models",
    "run_experiment",
    "standard_split",
    "write_report",
    "METRIC_COLUMNS",
]

logger = get_logger(__name__)


@dataclass(frozen=True)
class ModelSpec:
    """A model of the experiment: its display name, a factory, and whether it needs 0/1 input."""

    name: str
    make: Callable[[], Recommender]
    binary_relevance: bool = False


def _lightfm() -> Recommender:
    from reclib.models import LightFMWrap

    model = LightFMWrap(no_components=128, loss="warp", random_state=42)
    model.num_threads = 1  # LightFM's parallel SGD is not repeatable
    return model


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def default_models(nn_epochs: int = 5) -> list[ModelSpec]:
    """The models of the standard experiment with their default hyper-parameters.

    Seeded wherever the model draws random numbers.  UserPopRec is left out: it only
    recommends items the user already has, which the experiment filters, so it would score 0
    by construction; ClusterRec needs user features, which the standard experiment has not.
    LightFMWrap and the neural models join when lightfm and torch are installed; NeuroMF trains
    for ``nn_epochs`` epochs and MultVAE (whose epochs are about five times cheaper here) for
    ``4 * nn_epochs``.
    """
    from reclib.models import (
        ADMMSLIM,
        SLIM,
        ALSWrap,
        AssociationRulesItemRec,
        ImplicitWrap,
        Word2VecRec,
    )

    specs = [
        ModelSpec("PopRec", PopRec),
        ModelSpec("Wilson", Wilson, binary_relevance=True),
        ModelSpec("RandomRec(uniform)", lambda: RandomRec("uniform", seed=42)),
        ModelSpec("RandomRec(popular_based)", lambda: RandomRec("popular_based", seed=42)),
        ModelSpec("KNN", lambda: KNN(num_neighbours=10)),
        ModelSpec("SLIM", lambda: SLIM(beta=0.01, lambda_=0.01)),
        ModelSpec("ADMMSLIM", lambda: ADMMSLIM(seed=42)),
        ModelSpec("AssociationRules", AssociationRulesItemRec),
        ModelSpec("ALSWrap", lambda: ALSWrap(rank=10, seed=42)),
        ModelSpec("ImplicitWrap(BPR)", lambda: ImplicitWrap({
            "class": "implicit.cpu.bpr.BayesianPersonalizedRanking",
            "params": {"factors": 64, "random_state": 42, "num_threads": 1},
        })),
        ModelSpec("Word2VecRec", lambda: Word2VecRec(seed=42)),
    ]
    if _installed("lightfm"):
        specs.append(ModelSpec("LightFMWrap", _lightfm))
    if _installed("torch"):
        from reclib.models import MultVAE, NeuroMF

        # Settings for a short run: more, smaller batches than the reference defaults, which
        # take only a handful of optimiser steps in a few epochs on MovieLens.
        specs.append(ModelSpec("NeuroMF", lambda: NeuroMF(
            learning_rate=0.002, epochs=nn_epochs, batch_size=1024, count_negative_sample=4,
            seed=42, show_progress=False,
        )))
        specs.append(ModelSpec("MultVAE", lambda: MultVAE(
            learning_rate=0.01, epochs=4 * nn_epochs, batch_size=128, patience=None, seed=42,
            show_progress=False,
        )))
    return specs


def _metric_set(k: int, train: Any) -> list[Any]:
    return [NDCG(), HitRate(), Precision(), Recall(), MAP(), MRR(), Coverage(train)]


METRIC_COLUMNS = ["NDCG", "HitRate", "Precision", "Recall", "MAP", "MRR", "Coverage"]


def _binarise(frame: Any) -> Any:
    if isinstance(frame, pd.DataFrame):
        return frame.assign(relevance=(frame["relevance"] >= 4).astype("float64"))
    from pyspark.sql import functions as sf

    return frame.withColumn("relevance", (sf.col("relevance") >= 4).cast("double"))


def _materialise(recs: Any) -> Any:
    """Force a lazy Spark result so that the predict time is measured, and keep it cached."""
    if isinstance(recs, pd.DataFrame):
        return recs
    recs = recs.cache()
    recs.count()
    return recs


def standard_split(
    dataset: str = "ml-100k",
    data_dir: str | Path | None = None,
    engine: str = "pandas",
    spark: Any = None,
) -> tuple[Any, Any]:
    """Steps 1–2 of the standard experiment: load, index and split a dataset.

    Parameters
    ----------
    dataset, data_dir, engine, spark
        As for :func:`run_experiment`.

    Returns
    -------
    tuple
        ``(train, test)`` as pandas DataFrames, or cached Spark DataFrames for ``"spark"``.
    """
    if engine not in ("pandas", "spark"):
        raise InvalidParameterError(f"`engine` must be 'pandas' or 'spark', got {engine!r}")
    raw = load_dataset(dataset, data_dir=data_dir)
    log = Indexer(user_col="user_id", item_col="item_id").fit_transform(raw)
    if engine == "spark":
        if spark is None:
            from reclib.engines.spark_session import local_session

            spark = local_session()
        log = spark.createDataFrame(log)

    train, test = UserSplitter(
        0.2, drop_cold_users=True, drop_cold_items=True
    ).split(log)
    if engine == "spark":
        train, test = train.cache(), test.cache()
    return train, test


def run_experiment(
    dataset: str = "ml-100k",
    data_dir: str | Path | None = None,
    engine: str = "pandas",
    k: int = 10,
    models: list[ModelSpec] | None = None,
    spark: Any = None,
    show_progress: bool = True,
    nn_epochs: int = 5,
) -> pd.DataFrame:
    """Run the standard experiment and return one row per model.

    Parameters
    ----------
    dataset : str
        A name :func:`reclib.data.datasets.load_dataset` knows (``ml-100k``, ``ml-1m``, ...).
    data_dir : str or Path, optional
        Where the datasets are; default ``RECLIB_DATA``.
    engine : {"pandas", "spark"}
        Run in-process, or through Spark (``spark`` or a new local session).
    k : int
        Recommendation list length and metric cut-off.
    models : list of ModelSpec, optional
        Default: :func:`default_models`.
    spark : pyspark.sql.SparkSession, optional
        Session for ``engine="spark"``.
    show_progress : bool
        A progress bar over the models.
    nn_epochs : int
        Training epochs of the neural models of :func:`default_models` (kept low by default,
        so that the experiment stays quick).

    Returns
    -------
    pandas.DataFrame
        Columns ``model, fit_s, predict_s`` and ``<metric>@k`` for each metric.
    """
    from tqdm.auto import tqdm

    if engine not in ("pandas", "spark"):
        raise InvalidParameterError(f"`engine` must be 'pandas' or 'spark', got {engine!r}")
    models = default_models(nn_epochs) if models is None else models

    train, test = standard_split(dataset, data_dir, engine, spark)
    test_users = test.select("user_idx").distinct() if engine == "spark" else (
        test["user_idx"].unique()
    )

    rows = []
    bar = tqdm(models, desc=f"{dataset} ({engine})", disable=progress_disabled(show_progress))
    for spec in bar:
        bar.set_postfix_str(spec.name)
        fit_log = _binarise(train) if spec.binary_relevance else train
        model = spec.make()

        start = time.perf_counter()
        model.fit(fit_log)
        fit_s = time.perf_counter() - start

        start = time.perf_counter()
        recs = _materialise(model.predict(train, k, users=test_users, filter_seen_items=True))
        predict_s = time.perf_counter() - start

        values = evaluate(recs, test, k, metrics=_metric_set(k, train), train=train)
        row = {"model": spec.name, "fit_s": fit_s, "predict_s": predict_s}
        row.update({f"{name}@{k}": _value_of(values, name) for name in METRIC_COLUMNS})
        rows.append(row)
        logger.info("%s: fit %.2fs, predict %.2fs, %s", spec.name, fit_s, predict_s, values)
    return pd.DataFrame(rows)


def _value_of(values: dict[str, Any], name: str) -> float:
    for key, value in values.items():
        if key.split("@")[0].lower() == name.lower():
            return float(value)
    raise KeyError(f"metric {name} missing from {sorted(values)}")


def format_table(table: pd.DataFrame) -> str:
    """The result table as fixed-width text (times to 2 decimals, metrics to 4)."""
    formatters = {col: "{:.2f}".format for col in ("fit_s", "predict_s")}
    for col in table.columns:
        if "@" in col:
            formatters[col] = "{:.4f}".format
    return table.to_string(index=False, formatters=formatters)


def write_report(table: pd.DataFrame, output_dir: str | Path, stem: str) -> tuple[Path, Path]:
    """Write ``<stem>.csv`` and a grouped bar chart ``<stem>.png``; return both paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    csv_path, png_path = output / f"{stem}.csv", output / f"{stem}.png"
    table.to_csv(csv_path, index=False)

    metric_cols = [c for c in table.columns if "@" in c]
    fig, ax = plt.subplots(figsize=(11, 5))
    width = 0.8 / max(len(table), 1)
    for index, (_, row) in enumerate(table.iterrows()):
        positions = [m + index * width for m in range(len(metric_cols))]
        ax.bar(positions, [row[c] for c in metric_cols], width=width, label=row["model"])
    ax.set_xticks([m + 0.4 - width / 2 for m in range(len(metric_cols))])
    ax.set_xticklabels(metric_cols)
    ax.set_ylabel("value")
    ax.set_title(stem)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)
    plt.close(fig)
    return csv_path, png_path
