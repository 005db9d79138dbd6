"""A minimal CSR matrix that travels between numpy and the Rust core without copies.

scipy.sparse would do, but its index dtypes change with the matrix size and its constructors
sort and copy; the Rust kernels want int64 ``indptr``, int32 ``indices`` and float64 ``data``
exactly, so reclib keeps its own plain container and converts to scipy only for tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reclib import _core

__all__ = ["Csr"]


@dataclass(frozen=True)
class Csr:
    """Compressed sparse rows: row ``r`` holds ``indices[indptr[r]:indptr[r+1]]``.

    Column indices are sorted ascending within each row.
    """

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    n_cols: int

    @property
    def n_rows(self) -> int:
        return len(self.indptr) - 1

    @property
    def nnz(self) -> int:
        return len(self.indices)

    @classmethod
    def from_coo(
        cls,
        rows: np.ndarray,
        cols: np.ndarray,
        values: np.ndarray | None,
        n_rows: int,
        n_cols: int,
        duplicates: str,
    ) -> "Csr":
        """Build from (row, col, value) triples; ``duplicates`` is the Rust core's policy.

        ``"sum"``, ``"max"``, ``"first"``, ``"last"``, ``"count"`` (number of rows) or
        ``"error"``.  ``values=None`` means all ones.
        """
        rows32 = np.ascontiguousarray(rows, dtype=np.int32)
        cols32 = np.ascontiguousarray(cols, dtype=np.int32)
        if values is None:
            vals = np.ones(len(rows32), dtype=np.float64)
        else:
            vals = np.ascontiguousarray(values, dtype=np.float64)
        indptr, indices, data = _core.build_csr(rows32, cols32, vals, n_rows, n_cols, duplicates)
        return cls(indptr, indices, data, n_cols)

    @classmethod
    def empty(cls, n_rows: int, n_cols: int) -> "Csr":
        return cls(
            np.zeros(n_rows + 1, dtype=np.int64),
            np.zeros(0, dtype=np.int32),
            np.zeros(0, dtype=np.float64),
            n_cols,
        )

    def take_rows(self, rows: np.ndarray) -> "Csr":
        """A new matrix made of the given rows, in the given order (vectorised)."""
        rows = np.asarray(rows, dtype=np.int64)
        starts = self.indptr[rows]
        lengths = self.indptr[rows + 1] - starts
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        # Positions of every kept entry: each row's start repeated, plus 0..length-1.
        offsets = np.arange(indptr[-1], dtype=np.int64) - np.repeat(indptr[:-1], lengths)
        positions = np.repeat(starts, lengths) + offsets
        return Csr(indptr, self.indices[positions], self.data[positions], self.n_cols)

    def row_ids(self) -> np.ndarray:
        """The row of every stored entry (int64), i.e. the COO row array."""
        return np.repeat(np.arange(self.n_rows, dtype=np.int64), np.diff(self.indptr))

    def pattern(self) -> tuple[np.ndarray, np.ndarray]:
        """``(indptr, indices)``: the shape the Rust kernels take for ``exclude``."""
        return self.indptr, self.indices

    def to_scipy(self):  # pragma: no cover - convenience for tests and notebooks
        import scipy.sparse as sp

        shape = (self.n_rows, self.n_cols)
        return sp.csr_matrix((self.data, self.indices, self.indptr), shape=shape)
