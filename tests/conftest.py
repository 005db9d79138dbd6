"""Shared fixtures: the fixture log of EVALUATION.md §5, real data paths, one Spark session."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]


def _default_data_dir() -> Path:
    """``RECLIB_DATA``, else the project's ``shared/data`` beside the checkout."""
    env = os.environ.get("RECLIB_DATA")
    if env:
        return Path(env)
    for candidate in (REPO.parent / "shared" / "data", Path("/work/shared/data")):
        if (candidate / "ml-100k").is_dir():
            return candidate
    return REPO.parent / "shared" / "data"


DATA_DIR = _default_data_dir()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Directory holding ml-100k/, ml-1m/, ... (``RECLIB_DATA`` or ``../shared/data``)."""
    if not (DATA_DIR / "ml-100k" / "u.data").exists():
        if os.environ.get("RECLIB_SKIP_REAL_DATA") == "1":
            pytest.skip(f"real datasets not found under {DATA_DIR} (RECLIB_SKIP_REAL_DATA=1)")
        pytest.fail(
            f"real datasets not found under {DATA_DIR}: set RECLIB_DATA to the folder holding "
            "ml-100k/, ml-1m/, ... (or RECLIB_SKIP_REAL_DATA=1 to skip these tests)"
        )
    return DATA_DIR


@pytest.fixture()
def fixture_log() -> pd.DataFrame:
    """The 11-row log of EVALUATION.md §5 (with its duplicate (3, 0) pair)."""
    return pd.DataFrame(
        {
            "user_idx": [0, 0, 0, 1, 1, 2, 2, 2, 3, 3, 3],
            "item_idx": [0, 2, 1, 3, 0, 1, 0, 2, 1, 0, 0],
            "timestamp": pd.to_datetime(
                [
                    "2019-08-22", "2019-08-23", "2019-08-27", "2019-08-24", "2019-08-25",
                    "2019-08-26", "2019-08-26", "2019-08-26", "2019-08-26", "2019-08-26",
                    "2019-08-26",
                ]
            ),
            "relevance": [4.0, 3.0, 2.0, 3.0, 4.0, 5.0, 5.0, 3.0, 5.0, 5.0, 1.0],
        }
    )


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory):
    """One local Spark session (local[2], UTC, loopback) shared by the whole test run."""
    pytest.importorskip("pyspark")
    from reclib.engines.spark_session import local_session

    session = local_session(
        cores=2,
        shuffle_partitions=2,
        driver_memory="2g",
        local_dir=str(tmp_path_factory.mktemp("spark-local")),
        extra_conf={"spark.sql.adaptive.enabled": "false"},
    )
    yield session
    session.stop()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the real-cluster tests last: their fixture stops the shared local Spark session."""
    # A process has one SparkContext; the cluster session replaces the local one for good.
    items.sort(key=lambda item: item.get_closest_marker("spark_cluster") is not None)
