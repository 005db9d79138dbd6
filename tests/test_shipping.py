"""reclib.spark's argument checks (the shipping itself runs in tests/test_cluster.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import reclib.spark
from reclib.exceptions import EngineError, InvalidParameterError


class _Builder:
    """Stands in for ``SparkSession.Builder``: the options dict and ``config``."""

    def __init__(self, **options: str) -> None:
        self._options = dict(options)

    def config(self, key: str, value: str) -> "_Builder":
        self._options[key] = value
        return self


@pytest.fixture()
def no_session(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hide the shared local session from ``ship`` (which refuses to run beside one)."""
    pytest.importorskip("pyspark")
    from pyspark import SparkContext

    monkeypatch.setattr(SparkContext, "_active_spark_context", None)


def test_pack_environment_refuses_a_plain_tar(tmp_path: Path) -> None:
    pytest.importorskip("venv_pack")
    with pytest.raises(InvalidParameterError, match=r"\.tar\.gz"):
        reclib.spark.pack_environment(tmp_path / "env.tar")


def test_pack_environment_refuses_to_overwrite(tmp_path: Path) -> None:
    pytest.importorskip("venv_pack")
    existing = tmp_path / "env.tar.gz"
    existing.write_bytes(b"")
    with pytest.raises(InvalidParameterError, match="force=True"):
        reclib.spark.pack_environment(existing)


def test_ship_sets_archives_and_python(no_session, tmp_path: Path, monkeypatch) -> None:
    archive = tmp_path / "env.tar.gz"
    archive.write_bytes(b"")
    # setenv (not delenv, which records nothing for an absent variable) makes monkeypatch put
    # the variable back as it was, so `ship`'s change cannot leak into later Spark tests.
    monkeypatch.setenv("PYSPARK_PYTHON", "unset-by-the-test")
    builder = _Builder(**{"spark.master": "spark://127.0.0.1:7077", "spark.archives": "a.zip"})
    reclib.spark.ship(builder, archive)
    assert builder._options["spark.archives"] == f"a.zip,{archive}#environment"
    assert builder._options["spark.pyspark.python"] == "./environment/bin/python"
    assert os.environ["PYSPARK_PYTHON"] == "./environment/bin/python"


@pytest.mark.parametrize("master", ["local", "local[2]"])
def test_ship_refuses_local_masters(no_session, tmp_path: Path, master: str) -> None:
    archive = tmp_path / "env.tar.gz"
    archive.write_bytes(b"")
    with pytest.raises(EngineError, match="cluster master"):
        reclib.spark.ship(_Builder(**{"spark.master": master}), archive)


def test_ship_refuses_a_missing_archive(no_session, tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match="not a file"):
        reclib.spark.ship(_Builder(**{"spark.master": "yarn"}), tmp_path / "nope.tar.gz")


def test_ship_refuses_a_running_session(spark, tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="already running"):
        reclib.spark.ship(_Builder(**{"spark.master": "yarn"}), tmp_path / "env.tar.gz")
