"""Type stubs of ``reclib._core``, the Rust kernels (crate ``rust/reclib-py`` over ``reclib-core``).

Array arguments must be numpy arrays of exactly the dtype named (indptr int64; indices, rows,
cols and items int32; data, values and scores float64; masks bool) and C-contiguous; they are
read in place, never copied. Every returned array is new. A "CSR triple" is
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

def set_num_threads(n: int) -> None:
    """Size the thread pool every kernel runs on; 0 means the number of CPUs."""

def get_num_threads() -> int:
    """Number of threads of the kernel pool (``RECLIB_NUM_THREADS`` or the CPU count by default)."""
