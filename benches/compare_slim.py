"""End-to-end SLIM and ADMM-SLIM comparison on MovieLens 1M: reclib vs plain reference solvers.

The data is the same for every contender: all ml-1m ratings, keeping only the items with at
least ``--min-item-ratings`` ratings (20 by default), users and items re-indexed densely after
the filter; ``A`` is the user x item matrix of rating values (duplicates summed; ml-1m has none).

Two pieces of work are measured, each contender timed best of ``--repeat`` in this one process,
one after the other (nothing runs concurrently):

1. **SLIM** (``beta=0.01, lambda_=0.01``): ``reclib.models.SLIM(beta, lambda_, tol=1e-4)``'s
   ``fit`` (all item columns, in Rust) against the plain scikit-learn reference of
   ``MODELS.md`` §4.7: per target column ``c`` an ``ElasticNet(alpha=beta + lambda_,
   l1_ratio=lambda_ / (beta + lambda_), positive=True, fit_intercept=False, tol=1e-4,
   max_iter=5000, selection="cyclic")`` of ``A[:, c]`` on ``A`` (scipy CSC) with column ``c``
   zeroed.  The full reference takes minutes, so it is timed on a seeded random sample of
   ``--sample-columns`` target columns and extrapolated linearly to all columns (the one-off
   matrix build is added once, not scaled).  Agreement is the max abs difference and the relative
   Frobenius difference between the two weight matrices on the sampled columns, plus each
   solution's elastic-net objective.  scikit-learn's ``tol=1e-4`` stops early, so the first
   ``--tight-columns`` sampled columns are solved again with ``tol=1e-10`` to show that the
   difference to reclib's weights shrinks as scikit-learn converges.
2. **ADMM-SLIM** (``lambda_1=5, lambda_2=5000, seed=42``): ``reclib.models.ADMMSLIM``'s ``fit``
   against a plain numpy transcription of the iterations of ``MODELS.md`` §4.8 (dense Gram
   matrix, ``P`` inverted once, ``B, C, Gamma`` drawn by ``RandomState(seed)``, two-sided soft
   threshold, residuals with thresholds in the item count ``n``, ``rho`` doubled or halved when
   the residuals are 5x apart), both capped at ``--max-iter`` iterations (100 as in the spec;
   a smaller cap keeps the run short).  Reported: times, iterations, final ``rho`` and the max
   abs difference between reclib's weights and numpy's ``C`` (its non-zero entries).

Every timed region starts from the same pandas log (``user_idx, item_idx, relevance``) and
includes building the matrices from it.  Thread pools are left at their defaults (reclib's Rust
pool, OpenBLAS and OpenMP each use every core of the machine); they are printed.

Usage::

    python benches/compare_slim.py --data-dir ../shared/data \
        [--sample-columns 100] [--max-iter 100] [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

#: SLIM penalties of the comparison (MODELS.md §4.7 defaults).
SLIM_BETA = 0.01
SLIM_LAMBDA = 0.01
#: ADMM-SLIM parameters of the comparison (MODELS.md §4.8 defaults, seeded).
ADMM_LAMBDA_1 = 5.0
ADMM_LAMBDA_2 = 5000.0
ADMM_SEED = 42
#: ADMM-SLIM constants of MODELS.md §4.8.
ADMM_THRESHOLD = 5.0
ADMM_MULTIPLICATOR = 2.0
ADMM_EPS_ABS = 1e-3
ADMM_EPS_REL = 1e-3


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------


def load_log(data_dir: str | None, min_item_ratings: int) -> pd.DataFrame:
    """Load ml-1m, keep the items with enough ratings, and re-index users and items densely.

    Parameters
    ----------
    data_dir : str, optional
        Directory holding the ``ml-1m`` folder.
    min_item_ratings : int
        Items with fewer ratings than this are dropped (before re-indexing).

    Returns
    -------
    pandas.DataFrame
        ``user_idx``, ``item_idx`` (dense from 0 after the filter) and ``relevance``.
    """
    from reclib.data import Indexer, load_dataset

    raw = load_dataset("ml-1m", data_dir=data_dir)
    log = Indexer(user_col="user_id", item_col="item_id").fit_transform(raw)
    counts = log["item_idx"].value_counts()
    kept = log[log["item_idx"].isin(counts.index[counts >= min_item_ratings])]
    # Re-index after the filter: the first dense ids become the raw ids of a second indexer.
    kept = kept.rename(columns={"user_idx": "user_id", "item_idx": "item_id"})
    log = Indexer(user_col="user_id", item_col="item_id").fit_transform(kept)
    return log[["user_idx", "item_idx", "relevance"]].reset_index(drop=True)


def rating_matrix(log: pd.DataFrame, fmt: str) -> sp.spmatrix:
    """User x item matrix of relevance values, duplicates summed (scipy's constructor rule)."""
    n_users = int(log["user_idx"].max()) + 1
    n_items = int(log["item_idx"].max()) + 1
    coo = sp.coo_matrix(
        (log["relevance"].to_numpy(np.float64),
         (log["user_idx"].to_numpy(np.int64), log["item_idx"].to_numpy(np.int64))),
        shape=(n_users, n_items),
    )
    return coo.asformat(fmt)


def similarity_columns(frame: pd.DataFrame, n_items: int, columns: np.ndarray) -> np.ndarray:
    """Dense ``W[:, columns]`` (``n_items x len(columns)``) of a reclib similarity frame."""
    weights = sp.csc_matrix(
        (frame["similarity"].to_numpy(np.float64),
         (frame["item_idx_one"].to_numpy(np.int64), frame["item_idx_two"].to_numpy(np.int64))),
        shape=(n_items, n_items),
    )
    return weights[:, columns].toarray()


def best_of(repeat: int, func: Any, *args: Any) -> tuple[float, Any]:
    """Run ``func(*args)`` ``repeat`` times; return the smallest wall time and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = func(*args)
        times.append(time.perf_counter() - start)
    return min(times), result


# --------------------------------------------------------------------------------------------
# SLIM
# --------------------------------------------------------------------------------------------


def fit_reclib_slim(log: pd.DataFrame, tol: float = 1e-4) -> Any:
    """Fit ``reclib.models.SLIM(beta, lambda_, tol=tol)`` on ``log``; return the model."""
    from reclib.models import SLIM

    return SLIM(beta=SLIM_BETA, lambda_=SLIM_LAMBDA, tol=tol).fit(log)


@dataclass
class ReferenceRun:
    """Outcome of the scikit-learn reference on some target columns."""

    build_s: float
    """Seconds spent building ``A`` (CSC) from the log."""
    columns_s: float
    """Seconds spent in the per-column loop."""
    weights: np.ndarray
    """``W[:, columns]``: row ``j`` holds the weight of item ``j`` for each target column."""
    not_converged: int
    """Columns for which scikit-learn warned that it did not converge."""


def fit_reference_columns(
    log: pd.DataFrame, columns: np.ndarray, tol: float, max_iter: int
) -> ReferenceRun:
    """Solve the SLIM elastic net of each target column with scikit-learn's ``ElasticNet``.

    Parameters
    ----------
    log : pandas.DataFrame
        ``user_idx, item_idx, relevance``.
    columns : numpy.ndarray
        Target item columns.
    tol, max_iter : float, int
        scikit-learn's stopping rule (``tol`` on the duality gap, relative to ``||y||^2``).

    Returns
    -------
    ReferenceRun
        Timings and the positive weights (``w_j > 0`` kept, as the spec stores them).
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import ElasticNet

    start = time.perf_counter()
    matrix = rating_matrix(log, "csc")
    matrix.sort_indices()
    build_s = time.perf_counter() - start

    start = time.perf_counter()
    weights = np.zeros((matrix.shape[1], len(columns)))
    not_converged = 0
    for out, c in enumerate(columns):
        lo, hi = matrix.indptr[c], matrix.indptr[c + 1]
        target = matrix[:, [c]].toarray().ravel()
        saved = matrix.data[lo:hi].copy()
        matrix.data[lo:hi] = 0.0  # forbid the trivial self-weight; restored below
        model = ElasticNet(
            alpha=SLIM_BETA + SLIM_LAMBDA,
            l1_ratio=SLIM_LAMBDA / (SLIM_BETA + SLIM_LAMBDA),
            positive=True,
            fit_intercept=False,
            tol=tol,
            max_iter=max_iter,
            selection="cyclic",
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            model.fit(matrix, target)
        not_converged += any(issubclass(w.category, ConvergenceWarning) for w in caught)
        matrix.data[lo:hi] = saved
        coef = model.coef_
        weights[:, out] = np.where(coef > 0.0, coef, 0.0)
    columns_s = time.perf_counter() - start
    return ReferenceRun(build_s, columns_s, weights, not_converged)


def slim_objective(
    matrix: sp.csc_matrix, columns: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """Elastic-net objective of each target column (scikit-learn's, with ``1 / (2 n)``).

    ``1/(2n) ||A[:, c] - A_{-c} w||^2 + lambda_ ||w||_1 + beta/2 ||w||^2`` with ``n`` users.
    """
    n_users = matrix.shape[0]
    values = np.empty(len(columns))
    for out, c in enumerate(columns):
        w = weights[:, out].copy()
        w[c] = 0.0
        residual = matrix[:, [c]].toarray().ravel() - matrix @ w
        values[out] = (residual @ residual / (2 * n_users) + SLIM_LAMBDA * np.abs(w).sum()
                       + SLIM_BETA / 2 * (w @ w))
    return values


def difference(left: np.ndarray, right: np.ndarray) -> tuple[float, float]:
    """Max abs difference and Frobenius difference relative to ``right``'s norm."""
    diff = left - right
    return float(np.abs(diff).max()), float(np.linalg.norm(diff) / np.linalg.norm(right))


def compare_slim(log: pd.DataFrame, args: argparse.Namespace) -> None:
    """Time reclib's SLIM against the scikit-learn reference and print the comparison."""
    n_items = int(log["item_idx"].max()) + 1
    rng = np.random.default_rng(args.seed)
    sample = np.sort(rng.choice(n_items, size=min(args.sample_columns, n_items), replace=False))
    tight = sample[: min(args.tight_columns, len(sample))]

    print(f"== 1. SLIM (beta={SLIM_BETA}, lambda_={SLIM_LAMBDA}) ==")
    reclib_s, model = best_of(args.repeat, fit_reclib_slim, log)
    ours = similarity_columns(model.similarity, n_items, sample)
    print(f"reclib SLIM(tol=1e-4).fit, all {n_items} columns: {reclib_s:.2f} s "
          f"(best of {args.repeat}); {len(model.similarity):,} positive weights")

    runs = []
    for _ in range(args.repeat):
        runs.append(fit_reference_columns(log, sample, tol=1e-4, max_iter=5000))
    ref = min(runs, key=lambda run: run.build_s + run.columns_s)
    measured_s = ref.build_s + ref.columns_s
    extrapolated_s = ref.build_s + ref.columns_s * n_items / len(sample)
    print(f"sklearn ElasticNet(tol=1e-4, cyclic) reference, MEASURED on {len(sample)} sampled "
          f"columns (seed {args.seed}): {measured_s:.2f} s (best of {args.repeat}; "
          f"{ref.build_s:.3f} s building A, {ref.columns_s / len(sample) * 1e3:.1f} ms/column; "
          f"{ref.not_converged} not converged)")
    print(f"sklearn reference EXTRAPOLATED to all {n_items} columns: {extrapolated_s:.1f} s "
          f"(build + per-column time x {n_items})")
    print(f"ratio extrapolated sklearn / reclib: {extrapolated_s / reclib_s:.1f}x "
          "(reclib faster when > 1)")

    matrix = rating_matrix(log, "csc")
    max_abs, rel_fro = difference(ours, ref.weights)
    print(f"agreement on the {len(sample)} sampled columns, reclib vs sklearn tol=1e-4: "
          f"max abs diff {max_abs:.3e}, relative Frobenius diff {rel_fro:.3e}")
    obj_ours = slim_objective(matrix, sample, ours)
    obj_ref = slim_objective(matrix, sample, ref.weights)
    print(f"  summed objective over the sampled columns: reclib {obj_ours.sum():.9f}, "
          f"sklearn tol=1e-4 {obj_ref.sum():.9f} (reclib lower on "
          f"{int((obj_ours < obj_ref).sum())} of {len(sample)} columns)")

    start = time.perf_counter()
    tight_run = fit_reference_columns(log, tight, tol=1e-10, max_iter=args.tight_max_iter)
    tight_s = time.perf_counter() - start
    in_tight = np.searchsorted(sample, tight)
    loose_abs, loose_fro = difference(ours[:, in_tight], ref.weights[:, in_tight])
    tight_abs, tight_fro = difference(ours[:, in_tight], tight_run.weights)
    sk_abs, sk_fro = difference(ref.weights[:, in_tight], tight_run.weights)
    print(f"on the first {len(tight)} sampled columns, sklearn re-run with tol=1e-10 "
          f"(max_iter={args.tight_max_iter}, {tight_s:.1f} s, "
          f"{tight_run.not_converged} not converged):")
    print(f"  reclib vs sklearn tol=1e-4 : max abs diff {loose_abs:.3e}, "
          f"relative Frobenius diff {loose_fro:.3e}")
    print(f"  reclib vs sklearn tol=1e-10: max abs diff {tight_abs:.3e}, "
          f"relative Frobenius diff {tight_fro:.3e}")
    print(f"  sklearn tol=1e-4 vs tol=1e-10: max abs diff {sk_abs:.3e}, "
          f"relative Frobenius diff {sk_fro:.3e}")
    obj_tight = slim_objective(matrix, tight, tight_run.weights)
    print(f"  summed objective: reclib {obj_ours[in_tight].sum():.12f}, "
          f"sklearn tol=1e-4 {obj_ref[in_tight].sum():.12f}, "
          f"sklearn tol=1e-10 {obj_tight.sum():.12f}")

    if args.reclib_tight_tol > 0:
        # reclib's tol bounds the largest weight change of a sweep, not the duality gap, so the
        # same number means a different stopping point; a smaller one shows where reclib goes.
        start = time.perf_counter()
        tight_model = fit_reclib_slim(log, args.reclib_tight_tol)
        fit_s = time.perf_counter() - start
        ours_tight = similarity_columns(tight_model.similarity, n_items, sample)
        t_abs, t_fro = difference(ours_tight[:, in_tight], tight_run.weights)
        obj_ours_tight = slim_objective(matrix, tight, ours_tight[:, in_tight])
        print(f"reclib SLIM(tol={args.reclib_tight_tol:g}).fit for context (single run, not "
              f"part of the ratio): {fit_s:.2f} s; on the same {len(tight)} columns vs sklearn "
              f"tol=1e-10: max abs diff {t_abs:.3e}, relative Frobenius diff {t_fro:.3e}, "
              f"summed objective {obj_ours_tight.sum():.12f}")
    print()


# --------------------------------------------------------------------------------------------
# ADMM-SLIM
# --------------------------------------------------------------------------------------------


def fit_reclib_admm(log: pd.DataFrame, max_iter: int) -> Any:
    """Fit ``reclib.models.ADMMSLIM`` capped at ``max_iter`` iterations; return the model."""
    from reclib.models import ADMMSLIM

    model = ADMMSLIM(lambda_1=ADMM_LAMBDA_1, lambda_2=ADMM_LAMBDA_2, seed=ADMM_SEED,
                     memory_limit_gb=8)
    model.max_iteration = max_iter
    return model.fit(log)


def soft_threshold(x: np.ndarray, threshold: float) -> np.ndarray:
    """Two-sided soft threshold ``max(x - t, 0) - max(-x - t, 0)``."""
    return np.maximum(x - threshold, 0.0) - np.maximum(-x - threshold, 0.0)


@dataclass
class AdmmResult:
    """Outcome of the numpy ADMM-SLIM."""

    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    """The non-zero entries of ``C`` (row, column, value)."""
    rho: float
    iterations: int


def fit_numpy_admm(log: pd.DataFrame, max_iter: int) -> AdmmResult:
    """ADMM-SLIM of ``MODELS.md`` §4.8 written out in plain numpy.

    Parameters
    ----------
    log : pandas.DataFrame
        ``user_idx, item_idx, relevance``.
    max_iter : int
        Cap on the iterations (100 in the spec).

    Returns
    -------
    AdmmResult
        Non-zero entries of the final ``C``, the final ``rho`` and the iteration count.
    """
    lambda_1, lambda_2 = ADMM_LAMBDA_1, ADMM_LAMBDA_2
    rho = lambda_2
    matrix = rating_matrix(log, "csr")
    n = matrix.shape[1]
    gram = (matrix.T @ matrix).toarray()
    p = np.linalg.inv(gram + (lambda_2 + rho) * np.eye(n))
    p_x = p @ gram
    rng = np.random.RandomState(ADMM_SEED)
    b = rng.random_sample((n, n))
    c = rng.random_sample((n, n))
    gamma = rng.random_sample((n, n))
    r_primal = np.linalg.norm(b - c)
    r_dual = np.linalg.norm(rho * c)
    eps_primal = eps_dual = 0.0
    it = 0
    p_diag = np.diag(p).copy()
    while (r_primal > eps_primal or r_dual > eps_dual) and it < max_iter:
        it += 1
        b = p_x + p @ (rho * c - gamma)
        scale = np.diag(b) / p_diag
        b -= p * scale[np.newaxis, :]  # P diag(gamma): column j of P scaled by gamma_j
        c_prev = c
        c = soft_threshold(b + gamma / rho, lambda_1 / rho)
        gamma = gamma + rho * (b - c)
        r_primal = np.linalg.norm(b - c)
        r_dual = np.linalg.norm(-rho * (c - c_prev))
        eps_primal = ADMM_EPS_ABS * n + ADMM_EPS_REL * max(np.linalg.norm(b), np.linalg.norm(c))
        eps_dual = ADMM_EPS_ABS * n + ADMM_EPS_REL * np.linalg.norm(gamma)
        if r_primal > ADMM_THRESHOLD * r_dual:
            rho *= ADMM_MULTIPLICATOR
        elif ADMM_THRESHOLD * r_primal < r_dual:
            rho /= ADMM_MULTIPLICATOR
    rows, cols = np.nonzero(c)
    return AdmmResult(rows, cols, c[rows, cols], float(rho), it)


def compare_admm(log: pd.DataFrame, args: argparse.Namespace) -> None:
    """Time reclib's ADMMSLIM against the numpy transcription and print the comparison."""
    n_items = int(log["item_idx"].max()) + 1
    print(f"== 2. ADMM-SLIM (lambda_1={ADMM_LAMBDA_1:g}, lambda_2={ADMM_LAMBDA_2:g}, "
          f"seed={ADMM_SEED}, at most {args.max_iter} iterations) ==")
    reclib_s, model = best_of(args.repeat, fit_reclib_admm, log, args.max_iter)
    numpy_s, ref = best_of(args.repeat, fit_numpy_admm, log, args.max_iter)
    sim = model.similarity
    print(f"reclib ADMMSLIM.fit: {reclib_s:.2f} s (best of {args.repeat}); "
          f"{model.iterations} iterations, final rho {model.rho:g}, {len(sim):,} non-zeros")
    print(f"numpy reference    : {numpy_s:.2f} s (best of {args.repeat}); "
          f"{ref.iterations} iterations, final rho {ref.rho:g}, {len(ref.values):,} non-zeros")
    print(f"ratio numpy / reclib: {numpy_s / reclib_s:.2f}x (reclib faster when > 1)")

    ours = sp.coo_matrix(
        (sim["similarity"].to_numpy(np.float64),
         (sim["item_idx_one"].to_numpy(np.int64), sim["item_idx_two"].to_numpy(np.int64))),
        shape=(n_items, n_items),
    ).toarray()
    theirs = np.zeros((n_items, n_items))
    theirs[ref.rows, ref.cols] = ref.values
    same_pattern = bool(np.array_equal(ours != 0.0, theirs != 0.0))
    max_abs = float(np.abs(ours - theirs).max())
    scale = float(np.abs(theirs).max())
    print(f"agreement: max abs diff {max_abs:.3e} (largest |C| entry {scale:.3e}); "
          f"same non-zero pattern: {same_pattern}")


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------


def thread_pools() -> str:
    """One line naming the thread pools of this process and their sizes."""
    from reclib import _core

    parts = [f"reclib rayon {_core.get_num_threads()}"]
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            parts.append(f"{pool['internal_api']} ({pool['prefix']}) {pool['num_threads']}")
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        pass
    return ", ".join(parts)


def main() -> None:
    """Parse the arguments, load the data and run the two comparisons."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("RECLIB_DATA"))
    parser.add_argument("--min-item-ratings", type=int, default=20)
    parser.add_argument("--sample-columns", type=int, default=100,
                        help="target columns the sklearn SLIM reference is timed on")
    parser.add_argument("--tight-columns", type=int, default=10,
                        help="sampled columns re-solved by sklearn with tol=1e-10")
    parser.add_argument("--tight-max-iter", type=int, default=100_000,
                        help="max_iter of the tol=1e-10 sklearn run")
    parser.add_argument("--reclib-tight-tol", type=float, default=1e-6,
                        help="also fit reclib's SLIM once with this tol (its default; 0: skip)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the column sample")
    parser.add_argument("--max-iter", type=int, default=100,
                        help="cap on ADMM-SLIM iterations (the spec's is 100)")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--only", nargs="*", default=["slim", "admm"],
                        choices=["slim", "admm"])
    args = parser.parse_args()

    import scipy
    import sklearn

    import reclib

    print(f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()}")
    print(f"reclib {reclib.__version__}, scikit-learn {sklearn.__version__}, "
          f"scipy {scipy.__version__}, numpy {np.__version__}, pandas {pd.__version__}, "
          f"python {platform.python_version()}")
    print(f"threads: {thread_pools()}")

    start = time.perf_counter()
    log = load_log(args.data_dir, args.min_item_ratings)
    print(f"data: ml-1m, items with >= {args.min_item_ratings} ratings: "
          f"{log['user_idx'].nunique():,} users x {log['item_idx'].nunique():,} items, "
          f"{len(log):,} ratings (loaded in {time.perf_counter() - start:.1f} s)\n")

    if "slim" in args.only:
        compare_slim(log, args)
    if "admm" in args.only:
        compare_admm(log, args)
    print(f"load average at the end {os.getloadavg()}")


if __name__ == "__main__":
    main()
