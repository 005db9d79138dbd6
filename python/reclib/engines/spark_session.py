"""Building a Spark session the way reclib's Spark engine expects it.

The engine itself works with any session the user already has; this helper exists for the CLI
(``--engine spark``) and the tests.  It sets what ``SPARK.md`` found necessary: the executors'
Python (``PYSPARK_PYTHON``, which ``spark.pyspark.python`` does not replace outside
spark-submit), loopback-only networking, UTC as the session time zone, and no web UI.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from reclib.exceptions import EngineError

__all__ = ["local_session", "require_pyspark"]


def require_pyspark() -> Any:
    """Import :mod:`pyspark.sql` or explain how to install it."""
    try:
        import pyspark.sql
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise EngineError(
            "the Spark engine needs pyspark, which is not installed; "
            "install it with `pip install 'reclib[spark]'`"
        ) from err
    return pyspark.sql


def local_session(
    cores: int = 2,
    shuffle_partitions: int = 4,
    driver_memory: str = "2g",
    local_dir: str | None = None,
    extra_conf: dict[str, str] | None = None,
) -> Any:
    """Create (or return the running) local Spark session on 127.0.0.1.

    Parameters
    ----------
    cores : int
        Worker threads of ``local[cores]``.
    shuffle_partitions : int
        ``spark.sql.shuffle.partitions``; small data wants a small number.
    driver_memory : str
        ``spark.driver.memory``; only honoured when no JVM runs yet.
    local_dir : str, optional
        ``spark.local.dir`` for shuffle and ``addFile`` copies.
    extra_conf : dict, optional
        Further settings, applied last.
    """
    sql = require_pyspark()

    # Spark's executors start `python3` from PATH unless told otherwise (SPARK.md, P1).
    if "PYSPARK_PYTHON" not in os.environ:
        os.environ["PYSPARK_PYTHON"] = sys.executable
    # Bind to loopback without Spark first guessing (and printing) a public interface.
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

    builder = (
        sql.SparkSession.builder.master(f"local[{cores}]")
        .appName("reclib")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.default.parallelism", str(cores))
        .config("spark.driver.memory", driver_memory)
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
    )
    if local_dir is not None:
        builder = builder.config("spark.local.dir", local_dir)
    for key, value in (extra_conf or {}).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session
