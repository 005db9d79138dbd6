"""One place sizes the rayon, BLAS and torch pools; executors follow spark.task.cpus; fork works."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

from reclib import _core, _threads
from reclib.exceptions import InvalidParameterError


@pytest.fixture()
def restore_threads(monkeypatch: pytest.MonkeyPatch):
    """Put every pool back to its default (and forget executor state) after the test."""
    monkeypatch.delenv(_threads.ENV_NUM_THREADS, raising=False)
    yield
    monkeypatch.delenv(_threads.ENV_NUM_THREADS, raising=False)
    _threads._EXECUTOR_CONFIG = None
    _threads.set_num_threads(0)


def _cosine(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A kernel with enough work to be split across the pool: item cosine of a random matrix."""
    rng = np.random.default_rng(seed)
    n_users, n_items, nnz = 400, 300, 8000
    rows = rng.integers(0, n_users, nnz).astype(np.int32)
    cols = rng.integers(0, n_items, nnz).astype(np.int32)
    indptr, indices, data = _core.build_csr(
        rows, cols, np.ones(nnz), n_users, n_items, "sum"
    )
    sq = np.bincount(cols, minlength=n_items).astype(np.float64)
    return _core.item_cosine_topn(indptr, indices, data, n_items, sq, 0.0, 10)


def test_set_num_threads_sizes_rayon_and_blas(restore_threads) -> None:
    assert _threads.set_num_threads(1) == 1
    sizes = _threads.get_num_threads()
    assert sizes["rayon"] == 1
    assert all(n == 1 for n in sizes["blas"])
    assert _threads.set_num_threads(0) == len(os.sched_getaffinity(0))


def test_set_num_threads_reads_the_environment(restore_threads, monkeypatch) -> None:
    monkeypatch.setenv(_threads.ENV_NUM_THREADS, "3")
    assert _threads.set_num_threads() == 3
    assert _core.get_num_threads() == 3
    monkeypatch.setenv(_threads.ENV_NUM_THREADS, "many")
    with pytest.raises(InvalidParameterError, match="RECLIB_NUM_THREADS"):
        _threads.set_num_threads()


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2"])
def test_set_num_threads_refuses_bad_values(bad) -> None:
    with pytest.raises(InvalidParameterError, match="`n`"):
        _threads.set_num_threads(bad)


def test_executor_threads_follow_task_cpus_unless_the_env_says(restore_threads, monkeypatch):
    # Outside a Spark task nothing changes.
    _threads.set_num_threads(2)
    assert _threads.configure_executor_threads() is None
    assert _core.get_num_threads() == 2

    assert _threads.configure_executor_threads(cpus=1) == 1
    assert _threads.get_num_threads()["rayon"] == 1
    monkeypatch.setenv(_threads.ENV_NUM_THREADS, "2")
    assert _threads.configure_executor_threads(cpus=1) == 2
    assert _core.get_num_threads() == 2


def _wait(pid: int, timeout: float) -> int | None:
    """Exit status of child ``pid``, or None (after killing it) if it runs past ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None


def test_kernels_run_in_a_forked_child_after_the_parent_used_the_pool(restore_threads) -> None:
    """Spark forks its Python workers; a pool built before the fork must not hang the child."""
    _threads.set_num_threads(2)
    expected = _cosine()  # the parent's pool now has live worker threads
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child, which reports by exit status
        code = 1
        try:
            got = _cosine()
            same = all(np.array_equal(a, b) for a, b in zip(got, expected))
            code = 0 if same and _core.get_num_threads() == 2 else 2
        finally:
            os._exit(code)
    status = _wait(pid, timeout=60)
    assert status is not None, "the forked child hung in a kernel"
    assert status == 0, f"the forked child failed with status {status}"
    # And the parent's pool still works.
    assert all(np.array_equal(a, b) for a, b in zip(_cosine(), expected))


@pytest.mark.spark
def test_spark_tasks_size_their_pools_to_task_cpus(spark) -> None:
    import reclib.spark

    info = reclib.spark.executor_info(spark, tasks=2)
    assert len(info) == 2
    assert (info["task_cpus"] == 1).all()
    assert (info["rayon_threads"] == 1).all()
