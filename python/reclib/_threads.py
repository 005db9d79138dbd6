"""The one place that sizes the thread pools reclib's work runs on.

Three pools can run a model's numbers: the Rust core's rayon pool (every ``reclib._core``
kernel), the BLAS pools of numpy and scipy (dense products of the factor models), and torch's
intra-op pool (the neural models).  Left alone, each takes every core of the machine.  That is
right for one process on a laptop, and wrong on a Spark executor, where several tasks share a
node and each would start its own full-size pools: ``tasks x threads`` runnable threads on
``cores`` cores.

:func:`set_num_threads` sizes all three at once; the user calls it (reclib never changes the
driver's pools by itself).  On executors, the Spark engine's kernels call
:func:`configure_executor_threads` first, which sizes the pools of the Python worker to the
task's CPUs (``spark.task.cpus``) unless ``RECLIB_NUM_THREADS`` is set in the executor's
environment (``spark.executorEnv.RECLIB_NUM_THREADS``), which wins.

Fork safety: Spark's Python workers are forked from a daemon.  The Rust pool remembers the
process that built it and builds a fresh one in a forked child (``rust/reclib-core/src/
parallel.rs``), so a kernel never waits on threads that exist only in the parent.

Limitation: BLAS libraries are limited through threadpoolctl, which only reaches the libraries
already loaded; one loaded later (a first ``import torch`` after the call, say) keeps its own
default until the next call.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from reclib import _core
from reclib._logging import get_logger
from reclib.exceptions import InvalidParameterError

__all__ = ["set_num_threads", "get_num_threads", "configure_executor_threads", "ENV_NUM_THREADS"]

logger = get_logger(__name__)

#: Environment variable with the default size of every pool (also read by the Rust core).
ENV_NUM_THREADS = "RECLIB_NUM_THREADS"

# Holds threadpoolctl's limiter so that its limits stay in force (they are undone only by
# `restore_original_limits`, never by garbage collection, but keeping it costs nothing).
_BLAS_LIMITS: Any = None
# (pid, threads) of the last executor configuration, so a reused Python worker sizes its pools
# once, and a forked child (another pid) sizes its own.
_EXECUTOR_CONFIG: tuple[int, int] | None = None


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def _env_threads() -> int | None:
    text = os.environ.get(ENV_NUM_THREADS, "").strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        raise InvalidParameterError(
            f"environment variable `{ENV_NUM_THREADS}` must be an integer >= 0, got {text!r}"
        ) from None
    if value < 0:
        raise InvalidParameterError(
            f"environment variable `{ENV_NUM_THREADS}` must be an integer >= 0, got {value}"
        )
    return value


def _resolve(n: int | None) -> int:
    if n is None:
        n = _env_threads()
    if n is None or n == 0:
        return _cpu_count()
    return n


def _limit_blas(n: int) -> None:
    global _BLAS_LIMITS
    try:
        import threadpoolctl
    except ImportError:
        logger.debug("threadpoolctl is not installed: BLAS thread pools left as they are")
        return
    _BLAS_LIMITS = threadpoolctl.threadpool_limits(limits=n)


def set_num_threads(n: int | None = None) -> int:
    """Size the rayon, BLAS and torch thread pools of this process to ``n`` threads.

    Parameters
    ----------
    n : int, optional
        Threads per pool; ``0`` means the number of CPUs this process may run on.  None reads
        ``RECLIB_NUM_THREADS``, else uses the number of CPUs.

    Returns
    -------
    int
        The number of threads set.

    Notes
    -----
    torch is sized only if it is already imported; BLAS only through threadpoolctl, when it is
    installed, and only for the BLAS libraries loaded so far.
    """
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 0):
        raise InvalidParameterError(f"`n` must be an integer >= 0 or None, got {n!r}")
    threads = _resolve(n)
    _core.set_num_threads(threads)
    _limit_blas(threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
    logger.debug("thread pools sized to %d (rayon, BLAS%s)", threads, ", torch" if torch else "")
    return threads


def get_num_threads() -> dict[str, Any]:
    """Current pool sizes: ``{"rayon": int, "blas": [int, ...], "torch": int or None}``.

    ``blas`` lists one entry per loaded BLAS/OpenMP library (empty without threadpoolctl).
    """
    blas: list[int] = []
    try:
        import threadpoolctl

        blas = [int(info["num_threads"]) for info in threadpoolctl.threadpool_info()]
    except ImportError:
        pass
    torch = sys.modules.get("torch")
    return {
        "rayon": int(_core.get_num_threads()),
        "blas": blas,
        "torch": int(torch.get_num_threads()) if torch is not None else None,
    }


def _task_cpus() -> int | None:
    """CPUs of the running Spark task, or None outside a task."""
    try:
        from pyspark import TaskContext
    except ImportError:  # pragma: no cover - pyspark is there whenever a task runs
        return None
    context = TaskContext.get()
    if context is None:
        return None
    return max(int(context.cpus()), 1)


def configure_executor_threads(cpus: int | None = None) -> int | None:
    """Size this Python worker's pools for one Spark task; a no-op outside a task.

    Called at the top of every Spark kernel of reclib.  ``RECLIB_NUM_THREADS`` in the executor's
    environment wins; otherwise the pools get the task's CPUs (``spark.task.cpus``), so that the
    tasks running side by side on a node use no more threads than the node has cores.  The work
    is done once per worker process and size.

    Parameters
    ----------
    cpus : int, optional
        The task's CPUs; by default read from :class:`pyspark.TaskContext`.

    Returns
    -------
    int or None
        Threads per pool, or None when not inside a task (nothing was changed).
    """
    global _EXECUTOR_CONFIG
    if cpus is None:
        cpus = _task_cpus()
        if cpus is None:
            return None
    env = _env_threads()
    threads = cpus if env is None else _resolve(env)
    key = (os.getpid(), threads)
    if _EXECUTOR_CONFIG != key:
        set_num_threads(threads)
        _EXECUTOR_CONFIG = key
    return threads
