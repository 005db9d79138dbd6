"""Run a model through both engines and compare (the helper ARCHITECTURE.md asks for)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def sort_recs(recs: pd.DataFrame) -> pd.DataFrame:
    return recs.sort_values(
        ["user_idx", "relevance", "item_idx"], ascending=[True, False, True], kind="stable"
    ).reset_index(drop=True)


def spark_to_pandas(frame) -> pd.DataFrame:
    return frame.toPandas()


def assert_same_recs(pandas_recs: pd.DataFrame, spark_recs: pd.DataFrame) -> None:
    """Identical (user, item) rows in rank order; scores equal to 1e-6 relative."""
    left, right = sort_recs(pandas_recs), sort_recs(spark_recs)
    assert len(left) == len(right), (len(left), len(right))
    assert list(left.columns) == list(right.columns) == ["user_idx", "item_idx", "relevance"]
    np.testing.assert_array_equal(left["user_idx"].to_numpy(), right["user_idx"].to_numpy())
    np.testing.assert_array_equal(left["item_idx"].to_numpy(), right["item_idx"].to_numpy())
    np.testing.assert_allclose(left["relevance"], right["relevance"], rtol=1e-6, atol=1e-12)


def both_engines(spark, make_model, log: pd.DataFrame, k: int, **predict_kwargs):
    """Fit + predict on pandas and on Spark; assert equality; return the pandas result."""
    pandas_recs = make_model().fit(log).predict(log, k, **predict_kwargs)
    spark_log = spark.createDataFrame(log)
    spark_recs = make_model().fit(spark_log).predict(spark_log, k, **predict_kwargs)
    assert_same_recs(pandas_recs, spark_to_pandas(spark_recs))
    return pandas_recs
