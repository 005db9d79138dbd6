"""reclib on a real Spark standalone cluster whose executors get reclib only from the archive.

One master and one worker (2 cores) run on 127.0.0.1 as separate JVMs (``tests/cluster.py``).
The executors' Python is ``./environment/bin/python`` from an archive that
:func:`reclib.spark.pack_environment` builds from this checkout's installed reclib (or from
``RECLIB_TEST_WHEEL``; ``RECLIB_TEST_ENV_ARCHIVE`` reuses a ready archive), shipped with
:func:`reclib.spark.ship`.  The tests fit and predict on that cluster, compare with the pandas
engine, and crash a Python worker in the middle of a predict to check Spark's retry.

A process has one SparkContext, so these tests run last (``conftest.py`` orders them) and stop
the shared local session first.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cluster import StandaloneCluster
from engines import assert_same_recs, both_engines
from reference import random_log

import reclib
import reclib.spark
from reclib.engines import spark as spark_engine
from reclib.models import KNN, ALSWrap, PopRec

pytestmark = pytest.mark.spark_cluster

MODELS = {
    "knn": lambda: KNN(num_neighbours=8, shrink=1.0),
    "pop": lambda: PopRec(),
}


@pytest.fixture(scope="session")
def env_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped environment: ``RECLIB_TEST_ENV_ARCHIVE``, else packed now (gzip level 1)."""
    pytest.importorskip("venv_pack")
    ready = os.environ.get("RECLIB_TEST_ENV_ARCHIVE")
    if ready:
        return Path(ready)
    out = tmp_path_factory.mktemp("env") / "reclib_env.tar.gz"
    return reclib.spark.pack_environment(
        out, wheel=os.environ.get("RECLIB_TEST_WHEEL"), compress_level=1
    )


def _stop_running_sessions() -> None:
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession() or SparkSession._instantiatedSession
    if session is not None:
        session.stop()
    if SparkContext._active_spark_context is not None:
        SparkContext._active_spark_context.stop()


@pytest.fixture(scope="session")
def cluster_spark(tmp_path_factory: pytest.TempPathFactory, env_archive: Path):
    """A session on a fresh standalone cluster, executors running the shipped archive."""
    pytest.importorskip("pyspark")
    from pyspark.sql import SparkSession

    _stop_running_sessions()
    saved_python = os.environ.get("PYSPARK_PYTHON")
    root = tmp_path_factory.mktemp("standalone")
    cluster = StandaloneCluster(root, cores=2, memory="2g")
    session = None
    try:
        cluster.start()
        builder = (
            SparkSession.builder.master(cluster.url)
            .appName("reclib-cluster-tests")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.shuffle.partitions", "2")
            .config("spark.default.parallelism", "2")
            .config("spark.sql.adaptive.enabled", "false")
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .config("spark.executor.cores", "2")
            .config("spark.executor.memory", "1g")
            .config("spark.cores.max", "2")
            .config("spark.local.dir", str(root / "driver-local"))
        )
        session = reclib.spark.ship(builder, env_archive).getOrCreate()
        session.sparkContext.setLogLevel("ERROR")
        yield session
    finally:
        if session is not None:
            session.stop()
        cluster.stop()
        if saved_python is None:
            os.environ.pop("PYSPARK_PYTHON", None)
        else:
            os.environ["PYSPARK_PYTHON"] = saved_python


def _log(seed: int = 17) -> pd.DataFrame:
    log = random_log(np.random.default_rng(seed), 60, 40, 700, integer_relevance=False)
    return log.drop(columns=[c for c in log.columns if c == "timestamp"])


def test_archive_holds_reclib_and_no_test_suites(env_archive: Path) -> None:
    # The tar command lists a 130 MB .tar.gz several times faster than the tarfile module.
    listing = subprocess.run(
        ["tar", "-tzf", str(env_archive)], capture_output=True, text=True, check=True
    )
    names = [name.removeprefix("./") for name in listing.stdout.splitlines()]
    site = "lib/python{}.{}/site-packages/".format(*sys.version_info[:2])
    assert f"{site}reclib/_core.abi3.so" in names
    assert f"{site}reclib/spark/__init__.py" in names
    for package in ("numpy", "pandas", "pyarrow", "scipy"):
        assert f"{site}{package}/__init__.py" in names, package
    assert not [n for n in names if "/pandas/tests/" in n or "/numpy/_core/tests/" in n]
    assert not [n for n in names if n.endswith(".pth")]


def test_executors_run_the_shipped_environment(cluster_spark) -> None:
    info = reclib.spark.executor_info(cluster_spark, tasks=2)
    assert len(info) == 2
    assert (info["pid"] != os.getpid()).all()
    for core, prefix in zip(info["reclib_core"], info["prefix"]):
        # ./environment, unpacked in the executor's directory under the worker's work dir.
        assert "/environment/lib/python" in core and core.endswith("_core.abi3.so"), core
        assert Path(prefix).name == "environment", prefix
        assert not core.startswith(str(Path(reclib.__file__).parent)), core
    # spark.task.cpus is 1: each task's rayon pool has one thread, whatever the node has.
    assert (info["task_cpus"] == 1).all()
    assert (info["rayon_threads"] == 1).all()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_fit_predict_on_cluster_equals_pandas(cluster_spark, name: str) -> None:
    recs = both_engines(cluster_spark, MODELS[name], _log(), k=10)
    assert len(recs) > 0


def test_als_fit_on_cluster_predicts_as_on_pandas(cluster_spark) -> None:
    """ALS fitted by Spark ML on the cluster; its predictions on executors equal pandas'."""
    log = _log(seed=5)
    model = ALSWrap(rank=4, seed=3).fit(cluster_spark.createDataFrame(log))
    on_pandas = model.predict(log, k=10)
    on_cluster = model.predict(cluster_spark.createDataFrame(log), k=10).toPandas()
    assert on_pandas.groupby("user_idx").size().eq(10).all()
    assert_same_recs(on_pandas, on_cluster)


def test_worker_crash_mid_predict_is_retried_without_loss(cluster_spark, tmp_path: Path) -> None:
    log = _log(seed=23)
    expected = KNN(num_neighbours=8).fit(log).predict(log, k=7)
    model = KNN(num_neighbours=8).fit(log)

    sc = cluster_spark.sparkContext
    marker = tmp_path / "crash-once"
    marker.touch()
    sc.setJobGroup("reclib-fault", "predict with one crashing Python worker")
    sc.setLocalProperty(spark_engine._FAULT_MARKER, str(marker))
    try:
        spark_log = cluster_spark.createDataFrame(log)
        got = model.predict(spark_log, k=7).toPandas()
    finally:
        sc.setLocalProperty(spark_engine._FAULT_MARKER, None)
        sc.setJobGroup(None, None)  # type: ignore[arg-type]

    assert not marker.exists(), "no Python worker reached the fault point"
    tracker = sc.statusTracker()
    stages = [
        tracker.getStageInfo(stage)
        for job in tracker.getJobIdsForGroup("reclib-fault")
        for stage in (tracker.getJobInfo(job).stageIds if tracker.getJobInfo(job) else [])
    ]
    assert sum(s.numFailedTasks for s in stages if s is not None) >= 1, "no task failed"
    assert not got.duplicated(["user_idx", "item_idx"]).any()
    assert_same_recs(expected, got)


def test_wheel_on_pyfiles_cannot_load_the_extension(tmp_path: Path) -> None:
    """What ``pyFiles`` gives a worker: the archive itself on ``sys.path``.

    Spark adds ``.zip``/``.egg``/``.jar`` pyFiles to the workers' ``sys.path`` (a ``.whl`` not at
    all); Python's zipimport then finds the pure-Python modules but cannot load ``_core``'s
    shared library.  Checked here with the same layout a wheel has.
    """
    from pyspark import SparkContext

    assert ".whl" not in SparkContext.PACKAGE_EXTENSIONS
    package = Path(reclib.__file__).parent
    wheel_like = tmp_path / "reclib-as-pyfile.zip"
    with zipfile.ZipFile(wheel_like, "w") as archive:
        for path in package.rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, Path("reclib") / path.relative_to(package))
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); import reclib; "
        "assert reclib.__file__.startswith(sys.argv[1]), reclib.__file__; import reclib._core"
    )
    # -I: isolated, so the installed reclib is not found instead; the venv's numpy still is.
    result = subprocess.run(
        [sys.executable, "-I", "-c", probe, str(wheel_like)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert result.returncode != 0
    assert "No module named 'reclib._core'" in result.stderr, result.stderr

