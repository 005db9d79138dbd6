"""Type stubs of ``reclib._core``, the Rust kernels (crate ``rust/reclib-py`` over ``reclib-core``).

Array arguments must be numpy arrays of exactly the dtype named (indptr int64; indices, rows,
cols and items int32; data, values and scores float64; word vectors float32; masks bool) and
C-contiguous; they are read in place, never copied. Every returned array is new. A "CSR triple" is
``(indptr int64[n_rows + 1], indices int32[nnz], data float64[nnz])`` with column indices strictly
ascending within each row. ``exclude`` is ``(indptr, indices)`` of a CSR with one row per score
row (indices in any order; a full triple is accepted and its data ignored). Top-k results are
``(row int64[m], item int32[m], score float64[m])``: rows ascending, each row ranked by score
descending then item ascending; NaN scores are never selected. ``k < 0`` is refused; ``k == 0``
gives empty arrays. Every refusal raises :class:`reclib.exceptions.KernelError` naming the
argument, what was got and what was expected. The GIL is released while a kernel runs.
"""

from typing import Literal

import numpy as np
import numpy.typing as npt

_I64 = npt.NDArray[np.int64]
_I32 = npt.NDArray[np.int32]
_F64 = npt.NDArray[np.float64]
_F32 = npt.NDArray[np.float32]
_Bool = npt.NDArray[np.bool_]
_CsrTriple = tuple[_I64, _I32, _F64]
_TopK = tuple[_I64, _I32, _F64]
_Exclude = tuple[_I64, _I32] | tuple[_I64, _I32, _F64] | None

def build_csr(
    rows: _I32,
    cols: _I32,
    values: _F64,
    n_rows: int,
    n_cols: int,
    duplicates: Literal["sum", "max", "first", "last", "count", "error"],
) -> _CsrTriple:
    """Build a CSR triple from COO entries, merging repeated (row, col) by ``duplicates``."""

def transpose_csr(indptr: _I64, indices: _I32, data: _F64, n_cols: int) -> _CsrTriple:
    """Transpose a CSR triple with ``n_cols`` columns (result has ``n_cols`` rows)."""

def column_stats(
    indptr: _I64, indices: _I32, data: _F64, n_cols: int
) -> tuple[_I64, _F64, _F64]:
    """Per column: number of stored entries, sum and sum of squares of the stored values."""

def item_cosine_topn(
    indptr: _I64,
    indices: _I32,
    data: _F64,
    n_items: int,
    sq_norms: _F64,
    shrink: float,
    num_neighbours: int,
) -> _CsrTriple:
    """Top-n item neighbours by dot / (sqrt(sq_i) * sqrt(sq_j) + shrink) of a user x item CSR."""

def cooccurrence(indptr: _I64, indices: _I32, data: _F64, n_items: int) -> _CsrTriple:
    """Full item x item dot-product CSR (pairs sharing a row; no diagonal) of a user x item CSR."""

def cosine_topn_from_dots(
    dot_indptr: _I64,
    dot_indices: _I32,
    dot_data: _F64,
    sq_norms: _F64,
    shrink: float,
    num_neighbours: int,
) -> _CsrTriple:
    """Same similarity and top-n cut as ``item_cosine_topn``, from a precomputed dot CSR."""

def neighbour_topk(
    h_indptr: _I64,
    h_indices: _I32,
    h_data: _F64,
    w_indptr: _I64,
    w_indices: _I32,
    w_data: _F64,
    n_items: int,
    k: int,
    exclude: _Exclude = None,
    candidates: _Bool | None = None,
) -> _TopK:
    """Per-user top-k of scores H @ W (history x item-item weights), filtered."""

def topk_dense(
    scores: npt.NDArray[np.float64],
    k: int,
    exclude: _Exclude = None,
    candidates: _Bool | None = None,
) -> _TopK:
    """Per-row top-k of a C-contiguous 2-D float64 score matrix, filtered."""

def topk_ranked(
    scores: _F64,
    n_rows: int,
    k: int,
    exclude: _Exclude = None,
    candidates: _Bool | None = None,
) -> _TopK:
    """For each of ``n_rows`` rows, the top-k of one shared item score vector, filtered."""

def topk_csr(
    indptr: _I64,
    indices: _I32,
    data: _F64,
    n_cols: int,
    k: int,
    exclude: _Exclude = None,
    candidates: _Bool | None = None,
) -> _TopK:
    """Per-row top-k of the stored entries of a sparse score CSR, filtered."""

def wilson_lower_bound(positives: _F64, totals: _F64, z: float) -> _F64:
    """Wilson score interval lower bound per (positives, totals); 0.0 where totals is 0."""

def slim_fit(
    indptr: _I64,
    indices: _I32,
    data: _F64,
    n_items: int,
    beta: float,
    lambda_: float,
    max_iter: int,
    tol: float,
) -> _CsrTriple:
    """SLIM weights of a user x item CSR (duplicates summed): an ``n_items x n_items`` CSR W.

    For each target item c, minimises over w >= 0 with w_c = 0
    ``1/(2 n_users) ||A[:, c] - A w||^2 + lambda_ ||w||_1 + beta/2 ||w||^2`` (scikit-learn's
    positive ``ElasticNet`` with ``alpha = beta + lambda_``, ``l1_ratio = lambda_ / alpha``,
    no intercept) by cyclic coordinate descent on the Gram matrix, from w = 0, items ascending.
    A column stops after the first sweep whose largest weight change is at most
    ``tol * max(1, max(w))``, or after ``max_iter`` sweeps (no warning is raised then).
    ``W[j, c] = w_j`` for every ``w_j > 0`` (row = history item, column = target).
    Refuses ``beta < 0``, ``lambda_ <= 0`` (messages say "invalid regularization parameters"),
    ``max_iter < 1``, ``tol`` not finite and > 0, and non-finite data.
    """

def admm_slim_fit(
    gram: npt.NDArray[np.float64],
    b0: npt.NDArray[np.float64],
    c0: npt.NDArray[np.float64],
    gamma0: npt.NDArray[np.float64],
    lambda_1: float,
    lambda_2: float,
    rho: float,
    max_iter: int,
) -> tuple[npt.NDArray[np.float64], float, int]:
    """The ADMM-SLIM loop of MODELS.md 4.8 on a dense symmetric Gram matrix ``X^T X`` (n x n).

    ``b0``, ``c0``, ``gamma0`` are the starting B, C, Gamma (n x n, C-contiguous float64; read,
    not modified). ``P = (gram + (lambda_2 + rho) I)^-1`` is computed once with the given
    ``rho``. Returns ``(C, rho_final, iterations)``: C is a new n x n array (it may hold negative
    entries), ``rho_final`` the adapted rho to pass to the next fit. ``max_iter = 0`` returns
    a copy of ``c0``. Refuses ``lambda_1 < 0``, ``lambda_2 <= 0``, ``rho <= 0``, non-finite
    values, shapes other than ``gram``'s, a non-symmetric ``gram`` (relative tolerance 1e-9)
    and a ``gram + (lambda_2 + rho) I`` that is not positive definite.
    """

def rules_count(
    indptr: _I64,
    indices: _I32,
    data: _F64,
    n_items: int,
    min_item_count: int,
    min_pair_count: int,
) -> tuple[_I64, _F64, _I32, _I32, _I64, _F64]:
    """Association-rule counts of a session x item CSR (one entry per session and item).

    Returns ``(item_count, item_rel, ante, cons, pair_count, pair_rel)``: per item (all
    ``n_items``, never filtered) the number of sessions holding it and the sum of its weights;
    per kept pair of distinct frequent items (``item_count >= min_item_count``) held together by
    ``pair_count >= min_pair_count`` sessions, the sessions holding both and the sum of
    ``min(w_a, w_b)`` over them. Pairs come in both directions with equal numbers, sorted by
    (ante, cons). Minimums of 0 turn the filters off: counts of disjoint session sets run that
    way can be summed by key and filtered afterwards (never filter items before merging).
    """

def skipgram_hs_pass(
    sentence_indptr: _I64,
    sentence_indices: _I32,
    path_indptr: _I64,
    path_indices: _I32,
    path_codes: _Bool,
    shrinks: _I32,
    syn0: _F32,
    syn1: _F32,
    window: int,
    step_size: float,
    iteration: int,
    max_iter: int,
) -> tuple[_F32, _F32]:
    """One pass of skip-gram word2vec with hierarchical softmax, Spark MLlib's sequential loop.

    Sentences are the rows of ``(sentence_indptr, sentence_indices)`` (vocabulary ids in
    ``[0, n_words)``, already without out-of-vocabulary tokens and cut to the maximum sentence
    length); word ``w``'s Huffman path is ``path_indices[path_indptr[w]:path_indptr[w + 1]]``
    (inner nodes in ``[0, n_words - 1)``, root first) with the bits ``path_codes`` of the same
    range. ``shrinks`` holds one window shrink in ``[0, window)`` per token. ``syn0`` is the
    ``(n_words, rank)`` float32 input vectors, ``syn1`` the ``(n_words - 1, rank)`` inner-node
    vectors. Every (context, centre) pair is one SGD step, in Spark's order, with the sigmoid
    table (index scale 83, no update where ``|dot| >= 6``) and the learning-rate schedule of
    pass ``iteration`` of ``max_iter`` (``reclib.models._skipgram``). Single-threaded and
    deterministic. Returns new ``(syn0, syn1)`` after the pass; the inputs are not modified.
    Refuses ``window``, ``max_iter`` or rank below 1, ``iteration`` outside ``[0, max_iter)``,
    ``step_size`` not finite and > 0, non-finite vectors, and ids, pointers, codes or shrinks
    that do not fit.
    """

def set_num_threads(n: int) -> None:
    """Size the thread pool every kernel runs on; 0 means the number of CPUs."""

def get_num_threads() -> int:
    """Number of threads of the kernel pool (``RECLIB_NUM_THREADS`` or the CPU count by default)."""
