"""SLIM and ADMM-SLIM: item-item weights learned by regression, scored like item-KNN.

Both learn a matrix ``W`` (item x item) such that ``A W`` approximates the user x item matrix
``A`` (relevance values, duplicate rows summed), and then predict exactly as item-KNN
does (``MODELS.md`` §4.5): a user's score for ``c`` is the sum of ``W[h, c]`` over the user's
history rows ``h``.

* :class:`SLIM` solves, for every item ``c`` independently (in parallel, in Rust), the elastic
  net with non-negative weights of ``MODELS.md`` §4.7 by coordinate descent over the sparse Gram
  matrix.
* :class:`ADMMSLIM` runs the ADMM iterations of ``MODELS.md`` §4.8 on the dense Gram matrix
  (``item_count ** 2`` floats, several times over), in Rust.
"""

from __future__ import annotations

import numpy as np

from reclib import _core
from reclib._logging import get_logger
from reclib._sparse import Csr
from reclib.exceptions import InvalidParameterError, InvalidValueError
from reclib.models._checks import check_float, check_int
from reclib.models.base import DenseLog
from reclib.models.knn import NeighbourRec

__all__ = ["SLIM", "ADMMSLIM"]

logger = get_logger(__name__)


def _relevance_matrix(log: DenseLog) -> Csr:
    return Csr.from_coo(log.users, log.items, log.relevance, log.n_users, log.n_items, "sum")


class SLIM(NeighbourRec):
    """Sparse LInear Method: per item, a non-negative elastic net on the other items.

    For each item ``c`` the weights ``w`` (``w >= 0``, ``w_c = 0``) minimise

        1 / (2 n) * ||A[:, c] - A w||^2 + lambda_ * ||w||_1 + beta / 2 * ||w||^2

    with ``n`` the number of fit users (scikit-learn's ``ElasticNet(positive=True)`` objective,
    which the tests compare against).  ``W[j, c] = w_j`` for the positive weights.

    Parameters
    ----------
    beta : float, default 0.01
        L2 penalty (>= 0).
    lambda_ : float, default 0.01
        L1 penalty (> 0).
    seed : int, optional
        Accepted for compatibility; the solver is deterministic (cyclic coordinate descent),
        so results do not depend on it.
    max_iter : int, default 1000
        Coordinate-descent sweeps per item.
    tol : float, default 1e-6
        A column stops when no weight moved more than ``tol * max(1, max |w|)`` in a sweep.
    """

    _search_space = {
        "beta": {"type": "loguniform", "args": [1e-6, 5.0]},
        "lambda_": {"type": "loguniform", "args": [1e-6, 2.0]},
    }

    def __init__(
        self,
        beta: float = 0.01,
        lambda_: float = 0.01,
        seed: int | None = None,
        max_iter: int = 1000,
        tol: float = 1e-6,
    ) -> None:
        super().__init__()
        self.beta = beta
        self.lambda_ = lambda_
        self.seed = seed
        self.max_iter = max_iter
        self.tol = tol
        self._validate_params()

    def _validate_params(self) -> None:
        check_float("SLIM", "beta", self.beta, low=0.0)
        check_float("SLIM", "lambda_", self.lambda_, low=0.0, low_open=True)
        check_int("SLIM", "max_iter", self.max_iter, low=1)
        check_float("SLIM", "tol", self.tol, low=0.0, low_open=True)

    def _fit_dense(self, log: DenseLog) -> None:
        if (log.relevance < 0).any():
            raise InvalidValueError(
                f"column `relevance` of `log` must be >= 0 for SLIM (non-negative weights are "
                f"fitted on a non-negative matrix), got minimum {log.relevance.min()}"
            )
        matrix = _relevance_matrix(log)
        indptr, indices, data = _core.slim_fit(
            matrix.indptr, matrix.indices, matrix.data, log.n_items,
            float(self.beta), float(self.lambda_), int(self.max_iter), float(self.tol),
        )
        self._neighbours = Csr(indptr, indices, data, log.n_items)


class ADMMSLIM(NeighbourRec):
    """ADMM-SLIM (Steck et al., 2020): SLIM's weights by ADMM on the dense Gram matrix.

    Runs the iterations of ``MODELS.md`` §4.8 exactly (``rho`` starts at ``lambda_2``; it is
    doubled or halved when the primal and dual residuals are more than 5x apart; at most 100
    iterations), from ``B, C, Gamma`` drawn uniformly in [0, 1) by
    ``numpy.random.RandomState(seed)`` in that order.  The weights are the non-zero entries of
    ``C`` (they may be negative: the soft threshold is two-sided, as in the reference; for the same
reason the diagonal may hold small values, which only ever score items the user has seen).

    Unlike the reference, every ``fit`` starts from ``rho = lambda_2``; the reference kept the
    adapted ``rho`` of the previous fit, so a refit (each optuna trial) depended on history.

    Parameters
    ----------
    lambda_1 : float, default 5
        L1 penalty (>= 0).
    lambda_2 : float, default 5000
        L2 penalty (> 0); also the initial ``rho``.
    seed : int, optional
        Seed of the initial matrices.
    memory_limit_gb : float, default 4.0
        The fit holds about eight ``item_count x item_count`` float64 matrices; a catalogue
        needing more than this is refused with an error saying how much it would take.
    """

    _search_space = {
        "lambda_1": {"type": "loguniform", "args": [1e-9, 50.0]},
        "lambda_2": {"type": "loguniform", "args": [1e-9, 5000.0]},
    }

    max_iteration = 100
    #: float64 matrices of item_count ** 2 alive at once during the fit (G, P, P G, B, C, C_prev,
    #: Gamma and one temporary).
    matrices_in_memory = 8

    def __init__(
        self,
        lambda_1: float = 5.0,
        lambda_2: float = 5000.0,
        seed: int | None = None,
        memory_limit_gb: float = 4.0,
    ) -> None:
        super().__init__()
        self.lambda_1 = lambda_1
        self.lambda_2 = lambda_2
        self.seed = seed
        self.memory_limit_gb = memory_limit_gb
        self.rho: float | None = None
        self.iterations: int | None = None
        self._validate_params()

    def _validate_params(self) -> None:
        check_float("ADMMSLIM", "lambda_1", self.lambda_1, low=0.0)
        check_float("ADMMSLIM", "lambda_2", self.lambda_2, low=0.0, low_open=True)
        check_float("ADMMSLIM", "memory_limit_gb", self.memory_limit_gb, low=0.0, low_open=True)
        if self.seed is not None:
            check_int("ADMMSLIM", "seed", self.seed, low=0)

    def _fit_dense(self, log: DenseLog) -> None:
        n = log.n_items
        needed_gb = self.matrices_in_memory * n * n * 8 / 2**30
        if needed_gb > self.memory_limit_gb:
            raise InvalidParameterError(
                f"ADMMSLIM on {n} items needs about {needed_gb:.1f} GiB "
                f"({self.matrices_in_memory} dense {n} x {n} float64 matrices), above "
                f"`memory_limit_gb`={self.memory_limit_gb}; raise the limit or reduce the "
                "catalogue (for example keep items with enough interactions)"
            )
        matrix = _relevance_matrix(log).to_scipy()
        gram = np.ascontiguousarray((matrix.T @ matrix).toarray(), dtype=np.float64)

        rng = np.random.RandomState(self.seed)
        b0 = rng.random_sample((n, n))
        c0 = rng.random_sample((n, n))
        gamma0 = rng.random_sample((n, n))
        weights, rho, iterations = _core.admm_slim_fit(
            gram, b0, c0, gamma0, float(self.lambda_1), float(self.lambda_2),
            float(self.lambda_2), self.max_iteration,
        )
        self.rho, self.iterations = float(rho), int(iterations)
        logger.debug("ADMMSLIM converged in %d iterations, final rho %g", iterations, rho)

        rows, cols = np.nonzero(weights)
        self._neighbours = Csr.from_coo(rows, cols, weights[rows, cols], n, n, "error")

    def _state_meta(self) -> dict[str, float | int | None]:
        return {"rho": self.rho, "iterations": self.iterations}

    def _load_state_meta(self, meta: dict) -> None:
        self.rho, self.iterations = meta.get("rho"), meta.get("iterations")
