"""The ``reclib`` command: the standard experiment and the batch ``recommend`` job."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reclib.cli.main import main
from reclib.experiment import run_experiment


@pytest.fixture(scope="module")
def pandas_table(data_dir) -> pd.DataFrame:
    return run_experiment(
        "ml-100k", data_dir=data_dir, engine="pandas", show_progress=False, nn_epochs=1
    )


def test_experiment_table(pandas_table: pd.DataFrame) -> None:
    table = pandas_table
    assert table["model"].tolist()[:11] == [
        "PopRec", "Wilson", "RandomRec(uniform)", "RandomRec(popular_based)", "KNN", "SLIM",
        "ADMMSLIM", "AssociationRules", "ALSWrap", "ImplicitWrap(BPR)", "Word2VecRec",
    ]
    metrics = [c for c in table.columns if c.endswith("@10")]
    assert len(metrics) == 7
    assert ((table[metrics] >= 0) & (table[metrics] <= 1)).all().all()
    ndcg = dict(zip(table["model"], table["NDCG@10"]))
    # On MovieLens both popularity and item-KNN are far above a uniform random draw.
    assert ndcg["PopRec"] > 5 * ndcg["RandomRec(uniform)"]
    assert ndcg["KNN"] > 5 * ndcg["RandomRec(uniform)"]
    assert ndcg["SLIM"] > ndcg["PopRec"] and ndcg["ALSWrap"] > ndcg["PopRec"]


@pytest.mark.spark
@pytest.mark.slow
def test_experiment_same_metrics_on_spark(spark, data_dir, pandas_table: pd.DataFrame) -> None:
    spark_table = run_experiment(
        "ml-100k", data_dir=data_dir, engine="spark", spark=spark, show_progress=False,
        nn_epochs=1,
    )
    metrics = [c for c in pandas_table.columns if c.endswith("@10")]
    assert spark_table["model"].tolist() == pandas_table["model"].tolist()
    # ALS and Word2Vec are fitted by Spark ML on Spark (another algorithm's numerics than the
    # in-process fit): same quality band only.  Every other model is fitted by the same code on
    # both engines and must give the same numbers.
    distributed = pandas_table["model"].isin(["ALSWrap", "Word2VecRec"]).to_numpy()
    np.testing.assert_allclose(
        spark_table.loc[~distributed, metrics].to_numpy(),
        pandas_table.loc[~distributed, metrics].to_numpy(),
        rtol=0, atol=1e-9,
    )
    np.testing.assert_allclose(
        spark_table.loc[distributed, "NDCG@10"].to_numpy(),
        pandas_table.loc[distributed, "NDCG@10"].to_numpy(),
        rtol=0.1,
    )


def test_cli_experiment_writes_csv_and_png(data_dir, tmp_path: Path, capsys) -> None:
    status = main(["experiment", "--dataset", "ml-100k", "--data-dir", str(data_dir),
                   "--output-dir", str(tmp_path), "--no-progress", "--nn-epochs", "1"])
    assert status == 0
    printed = capsys.readouterr().out
    assert "NDCG@10" in printed and "KNN" in printed
    csv = pd.read_csv(tmp_path / "experiment-ml-100k-pandas.csv")
    assert len(csv) == len(pd.read_csv(tmp_path / "experiment-ml-100k-pandas.csv"))
    assert {"PopRec", "KNN", "SLIM"} <= set(csv["model"])
    png = (tmp_path / "experiment-ml-100k-pandas.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_cli_recommend_raw_ids(tmp_path: Path) -> None:
    ratings = pd.DataFrame(
        {
            "user_id": ["ann", "ann", "bob", "bob", "cy", "cy", "cy"],
            "item_id": [10**12, 7, 7, 3, 10**12, 3, 99],
            "relevance": [5.0, 3, 4, 2, 1, 5, 4],
        }
    )
    source, target = tmp_path / "ratings.parquet", tmp_path / "recs.parquet"
    ratings.to_parquet(source)
    status = main(["recommend", "--model", "knn", "--input", str(source), "--k", "2",
                   "--output", str(target), "--params", '{"num_neighbours": 5}'])
    assert status == 0
    recs = pd.read_parquet(target)
    assert recs.columns.tolist() == ["user_id", "item_id", "relevance", "rank"]
    assert set(recs["user_id"]) <= {"ann", "bob", "cy"}
    assert recs["item_id"].dtype == np.int64
    seen = set(zip(ratings["user_id"], ratings["item_id"]))
    assert not any((u, i) in seen for u, i in zip(recs["user_id"], recs["item_id"]))
    assert (recs.groupby("user_id")["rank"].max() <= 2).all()


def test_cli_reports_bad_input(tmp_path: Path, capsys) -> None:
    source = tmp_path / "ratings.csv"
    pd.DataFrame({"u": [1], "i": [2]}).to_csv(source, index=False)
    status = main(["recommend", "--model", "knn", "--input", str(source),
                   "--output", str(tmp_path / "out.parquet")])
    assert status == 2
    assert "user_id" in capsys.readouterr().err
    status = main(["recommend", "--model", "nope", "--input", str(source),
                   "--output", str(tmp_path / "out.parquet")])
    assert status == 2


def test_cli_recommend_file_problems(tmp_path: Path, capsys) -> None:
    """Unreadable, empty, unwritable and id-less inputs give one-line errors, not tracebacks."""
    fake = tmp_path / "ratings.parquet"
    fake.write_text("not parquet")
    empty = tmp_path / "empty.csv"
    empty.write_text("user_id,item_id,relevance\n")
    blank_id = tmp_path / "blank.csv"
    blank_id.write_text("user_id,item_id,relevance\nann,1,5\n,2,4\n")
    good = tmp_path / "good.csv"
    good.write_text("user_id,item_id\nann,1\nbob,2\nann,2\n")
    cases = [
        (fake, tmp_path / "o.parquet", "cannot read"),
        (empty, tmp_path / "o.parquet", "no rows"),
        (blank_id, tmp_path / "o.parquet", "user_id"),
        (good, tmp_path / "o.txt", "suffix"),
        (good, Path("/proc/nope/o.parquet"), "cannot write"),
    ]
    for source, target, message in cases:
        assert main(["recommend", "--model", "pop", "--input", str(source),
                     "--output", str(target)]) == 2
        assert message in capsys.readouterr().err
    assert main(["recommend", "--model", "wilson", "--input", str(good),
                 "--output", str(tmp_path / "o.csv")]) == 2
    assert "--relevance-col" in capsys.readouterr().err
    # UserPopRec keeps its own default (seen items are its recommendations).
    rated = tmp_path / "rated.csv"
    rated.write_text("user_id,item_id,stars\nann,1,5\nbob,2,3\nann,2,1\n")
    assert main(["recommend", "--model", "userpop", "--input", str(rated), "--relevance-col",
                 "stars", "--output", str(tmp_path / "u.csv")]) == 0
    assert len(pd.read_csv(tmp_path / "u.csv")) == 3
