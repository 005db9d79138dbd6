//! Column statistics of a sparse matrix: stored-entry count, sum and sum of squares per column.
//!
//! These feed popularity models (how many users touched an item, and with what total weight)
//! and the squared norms of the item-item similarity.
//!
//! # Order of summation
//!
//! Rows are split into at most [`STAT_CHUNKS`] contiguous chunks chosen from the matrix alone
//! (never from the thread count); each chunk sums its rows in ascending order, and the chunk
//! partials are added in chunk order. Results are therefore identical across thread counts.
//! Small matrices use one chunk, which is plain ascending-row summation.

use rayon::prelude::*;

use crate::error::CoreResult;
use crate::parallel;
use crate::sparse::CsrView;

/// Most row chunks summed in parallel (fixed, so that results do not depend on threads).
pub const STAT_CHUNKS: usize = 8;

/// Below this many entries a single chunk is used.
const CHUNK_MIN_NNZ: usize = 1 << 20;

/// Per-column statistics; each vector has one entry per column.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnStats {
    /// Number of stored entries in the column.
    pub nnz: Vec<i64>,
    /// Sum of the stored values.
    pub sums: Vec<f64>,
    /// Sum of the squared stored values.
    pub sums_of_squares: Vec<f64>,
}

impl ColumnStats {
    fn zeros(n: usize) -> Self {
        ColumnStats {
            nnz: vec![0; n],
            sums: vec![0.0; n],
            sums_of_squares: vec![0.0; n],
        }
    }

    fn add_rows(&mut self, x: &CsrView<'_>, rows: std::ops::Range<usize>) {
        for r in rows {
            let (cols, vals) = x.row(r);
            for (&c, &v) in cols.iter().zip(vals) {
                let c = c as usize;
                self.nnz[c] += 1;
                self.sums[c] += v;
                self.sums_of_squares[c] += v * v;
            }
        }
    }

    fn merge(mut self, other: ColumnStats) -> Self {
        for c in 0..self.nnz.len() {
            self.nnz[c] += other.nnz[c];
            self.sums[c] += other.sums[c];
            self.sums_of_squares[c] += other.sums_of_squares[c];
        }
        self
    }
}

/// Count, sum and sum of squares of the stored values of every column of `x`.
pub fn column_stats(x: CsrView<'_>) -> CoreResult<ColumnStats> {
    let n_cols = x.n_cols();
    let nnz = x.nnz();
    // Chunks only when the matrix is big and the partials (chunks × n_cols) stay small.
    let chunks = if nnz < CHUNK_MIN_NNZ {
        1
    } else {
        STAT_CHUNKS.min(nnz / n_cols.max(1)).max(1)
    };
    if chunks == 1 {
        let mut s = ColumnStats::zeros(n_cols);
        s.add_rows(&x, 0..x.n_rows());
        return Ok(s);
    }
    parallel::install(|| {
        let indptr = x.indptr();
        let blocks = parallel::split_by_cost(x.n_rows(), chunks, |r| indptr[r] as u64);
        let partials: Vec<ColumnStats> = blocks
            .par_iter()
            .with_max_len(1)
            .map(|rows| {
                let mut s = ColumnStats::zeros(n_cols);
                s.add_rows(&x, rows.clone());
                s
            })
            .collect();
        // Fold in chunk order (a plain sequential fold: deterministic).
        partials
            .into_iter()
            .reduce(ColumnStats::merge)
            .unwrap_or_else(|| ColumnStats::zeros(n_cols))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_by_hand() {
        // rows: r0 {0: 1, 2: -2}, r1 {}, r2 {2: 3, 3: 0}
        // col 0: nnz 1, sum 1, sq 1; col 1: 0, 0, 0; col 2: nnz 2, sum 1, sq 4 + 9 = 13;
        // col 3: nnz 1 (a stored zero counts), sum 0, sq 0
        let x = CsrView::new(&[0, 2, 2, 4], &[0, 2, 2, 3], &[1., -2., 3., 0.], 4).unwrap();
        let s = column_stats(x).unwrap();
        assert_eq!(s.nnz, vec![1, 0, 2, 1]);
        assert_eq!(s.sums, vec![1., 0., 1., 0.]);
        assert_eq!(s.sums_of_squares, vec![1., 0., 13., 0.]);
    }

    #[test]
    fn empty_matrix() {
        let s = column_stats(CsrView::new(&[0], &[], &[], 3).unwrap()).unwrap();
        assert_eq!(s, ColumnStats::zeros(3));
        let s = column_stats(CsrView::new(&[0, 0], &[], &[], 0).unwrap()).unwrap();
        assert!(s.nnz.is_empty());
    }

    #[test]
    fn chunked_path_is_thread_independent() {
        // 2^20 + entries over 16 columns: takes the chunked path.
        let n_rows = 70_000usize;
        let mut indptr = vec![0i64];
        let mut indices = Vec::new();
        let mut data = Vec::new();
        for r in 0..n_rows {
            for c in 0..16 {
                indices.push(c);
                data.push(((r * 31 + c as usize) % 97) as f64 / 3.0);
            }
            indptr.push(indices.len() as i64);
        }
        let x = CsrView::new(&indptr, &indices, &data, 16).unwrap();
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let four = rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .unwrap();
        let a = one.install(|| column_stats(x)).unwrap();
        let b = four.install(|| column_stats(x)).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.nnz, vec![n_rows as i64; 16]);
        let exact: f64 = (0..n_rows).map(|r| ((r * 31) % 97) as f64 / 3.0).sum();
        assert!((a.sums[0] - exact).abs() < 1e-6 * exact);
    }
}
