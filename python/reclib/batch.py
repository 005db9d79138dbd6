"""Batch recommendations for a user's own file: raw ids in, raw ids out.

``reclib recommend`` calls :func:`recommend_file`: read Parquet or CSV with pyarrow, index the raw
user and item ids (any type), fit the model, recommend ``k`` items to every user, map the ids
back and write Parquet with the user's own column names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from reclib.data.indexer import Indexer
from reclib.data.schema import check_columns
from reclib.exceptions import ColumnMissingError, DatasetError
from reclib.models.registry import make_model

__all__ = ["recommend_file", "read_table", "write_table"]


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a Parquet (``.parquet``, ``.pq``), CSV (``.csv``) or TSV (``.tsv``) file into pandas.

    Empty CSV fields are read as missing values, so an empty id is reported, not used as an id.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"input file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            frame = pq.read_table(path).to_pandas()
        elif suffix in (".csv", ".tsv"):
            table = pcsv.read_csv(
                path,
                parse_options=pcsv.ParseOptions(delimiter="\t" if suffix == ".tsv" else ","),
                convert_options=pcsv.ConvertOptions(strings_can_be_null=True),
            )
            frame = table.to_pandas()
        else:
            raise DatasetError(
                f"cannot read {str(path)!r}: expected a .parquet, .pq, .csv or .tsv file, "
                f"got suffix {path.suffix!r}"
            )
    except pa.ArrowException as err:
        raise DatasetError(f"cannot read {str(path)!r} as {suffix[1:]}: {err}") from None
    if len(frame) == 0:
        raise DatasetError(f"input file {str(path)!r} has no rows; expected interactions")
    return frame


def write_table(frame: pd.DataFrame, path: str | Path) -> None:
    """Write Parquet or CSV by the file's suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".pq", ".csv"):
        raise DatasetError(
            f"cannot write {str(path)!r}: expected a .parquet, .pq or .csv file name, "
            f"got suffix {path.suffix!r}"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".csv":
            frame.to_csv(path, index=False)
        else:
            frame.to_parquet(path, index=False)
    except OSError as err:
        raise DatasetError(f"cannot write {str(path)!r}: {err.strerror or err}") from None


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
    filter_seen_items: bool | None = None,
) -> int:
    """Fit ``model_name`` on a file of interactions and write top-``k`` lists; return row count.

    The output has the columns ``user_col, item_col, relevance, rank`` with the raw ids of the
    input (same dtype).  Columns other than the ids and the relevance are ignored; when the
    relevance column is absent every row counts as 1 (for models that use relevance, it must
    be there).  ``filter_seen_items=None`` keeps the model's default.
    """
    model = make_model(model_name, params)
    frame = read_table(input_path)
    check_columns(list(frame.columns), [user_col, item_col], "input")
    if model._needs_relevance() and relevance_col not in frame.columns:
        raise ColumnMissingError(
            f"{type(model).__name__} uses relevance, but the input has no column "
            f"{relevance_col!r} (--relevance-col); it has {list(frame.columns)}"
        )

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
    write_table(out, output_path)
    return len(out)
