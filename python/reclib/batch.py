"""Batch recommendations for a user's own file: raw ids in, raw ids out.

``reclib recommend`` calls :func:`recommend_file`: read Parquet or CSV with pyarrow, index the raw
user and item ids (any type), fit the model, recommend ``k`` items to every user, map the ids
back and write Parquet with the user's own column names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from reclib.data.indexer import Indexer
from reclib.data.schema import check_columns
from reclib.exceptions import DatasetError
from reclib.models.registry import make_model

__all__ = ["recommend_file", "read_table"]


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a Parquet (``.parquet``, ``.pq``) or CSV file into pandas."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"input file {str(path)!r} does not exist")
    if path.suffix.lower() in (".parquet", ".pq"):
        return pq.read_table(path).to_pandas()
    if path.suffix.lower() in (".csv", ".tsv"):
        options = pcsv.ParseOptions(delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
        return pcsv.read_csv(path, parse_options=options).to_pandas()
    raise DatasetError(
        f"cannot read {str(path)!r}: expected a .parquet, .pq, .csv or .tsv file, "
        f"got suffix {path.suffix!r}"
    )


def recommend_file(
    input_path: str | Path,
    output_path: str | Path,
    model_name: str,
    params: str | dict[str, Any] | None = None,
    k: int = 10,
    user_col: str = "user_id",
    item_col: str = "item_id",
    relevance_col: str = "relevance",
    engine: str = "pandas",
    filter_seen_items: bool = True,
) -> int:
    """Fit ``model_name`` on a file of interactions and write top-``k`` lists; return row count.

    The output has the columns ``user_col, item_col, relevance, rank`` with the raw ids of the
    input (same dtype).  Columns other than the ids and the relevance are ignored; when the
    relevance column is absent every row counts as 1.
    """
    model = make_model(model_name, params)
    frame = read_table(input_path)
    check_columns(list(frame.columns), [user_col, item_col], "input")

    indexer = Indexer(user_col=user_col, item_col=item_col)
    log = indexer.fit_transform(frame)
    if relevance_col in log.columns and relevance_col != "relevance":
        log = log.rename(columns={relevance_col: "relevance"})
    log = log[[c for c in ("user_idx", "item_idx", "relevance", "timestamp") if c in log.columns]]

    if engine == "spark":
        from reclib.engines.spark_session import local_session

        spark_log = local_session().createDataFrame(log)
        recs = model.fit(spark_log).predict(
            spark_log, k, filter_seen_items=filter_seen_items
        ).toPandas()
    else:
        recs = model.fit(log).predict(log, k, filter_seen_items=filter_seen_items)

    recs = recs.sort_values(
        ["user_idx", "relevance", "item_idx"], ascending=[True, False, True], kind="stable"
    )
    recs["rank"] = recs.groupby("user_idx").cumcount() + 1
    out = indexer.inverse_transform(recs)
    out = out[[user_col, item_col, "relevance", "rank"]]
    Path(output_path).parent.mkdir(parents=True, exist_ok=True)
    out.to_parquet(output_path, index=False)
    return len(out)
