"""RePlay's Spark ``ItemKNN`` on a power-law Parquet log: the anchor of ``run_scale.py``.

Run with the Python of the RePlay virtualenv (RePlay pins its own package ranges)::

    /work/replay-venv/bin/python benches/scale/replay_scale_runner.py \\
        --data /tmp/reclib-scale/powerlaw_1M.parquet --neighbours 10

The session, the ``Dataset`` schema and the timed ``fit`` + ``predict`` (top 10 unseen items for
every user, materialised by RePlay's cache + count) are those of ``benches/replay_knn_runner.py``;
only the input differs: the Parquet file is read by Spark itself (``query_id``, ``item_id`` as
bigint, ``rating`` as double), cached and counted before the timer starts.

Prints one JSON line last: ``read_s``, ``fit_s`` (0: RePlay's fit and predict are timed together
and reported as ``predict_s``), ``predict_s``, ``rows_out``, ``peak_self_mib`` (the driver's
``ru_maxrss``) and ``jvm_peak_mib``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import replay_knn_runner as base  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--neighbours", type=int, default=10)
    args = parser.parse_args()

    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = base.build_session()
    from pyspark.sql import functions as sf
    from replay.data import Dataset, FeatureHint, FeatureInfo, FeatureSchema, FeatureType
    from replay.utils.session_handler import State

    State(session)
    start = time.perf_counter()
    frame = session.read.parquet(args.data).select(
        sf.col("user_idx").cast("bigint").alias(base.QUERY_COL),
        sf.col("item_idx").cast("bigint").alias(base.ITEM_COL),
        sf.col("relevance").cast("double").alias(base.RATING_COL),
    ).cache()
    rows = frame.count()
    read_s = time.perf_counter() - start
    base.log(f"input: {rows} rows cached in {read_s:.1f} s")
    schema = FeatureSchema([
        FeatureInfo(column=base.QUERY_COL, feature_type=FeatureType.CATEGORICAL,
                    feature_hint=FeatureHint.QUERY_ID),
        FeatureInfo(column=base.ITEM_COL, feature_type=FeatureType.CATEGORICAL,
                    feature_hint=FeatureHint.ITEM_ID),
        FeatureInfo(column=base.RATING_COL, feature_type=FeatureType.NUMERICAL,
                    feature_hint=FeatureHint.RATING),
    ])
    dataset = Dataset(feature_schema=schema, interactions=frame)
    elapsed, _, recs = base.fit_predict(dataset, args.neighbours)
    result = {
        "read_s": read_s, "fit_s": 0.0, "predict_s": elapsed, "rows_out": recs.count(),
        "peak_self_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "jvm_peak_mib": base.jvm_peak_mib(session),
    }
    session.stop()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
