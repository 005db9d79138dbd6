//! Item-item similarity: co-occurrence dot products and shrunk cosine, cut to the top neighbours.
//!
//! Input is a user × item matrix `X` (canonical CSR; duplicates already merged). For items
//! `i ≠ j`:
//!
//! ```text
//! dot(i, j) = Σ_u X[u, i] · X[u, j]                       (ascending u)
//! sim(i, j) = dot(i, j) / (sqrt(sq_norms[i]) · sqrt(sq_norms[j]) + shrink)   (0 if that is 0)
//! ```
//!
//! A pair exists when `i` and `j` are both stored in at least one row of `X`, even if its dot
//! is `0`. `sq_norms` comes from the caller because it is taken over the raw (unmerged) ratings.
//!
//! # How
//!
//! `X` is transposed once to item × user. For item `i`, every user `u` of `i` (ascending) and
//! every item `j` of `u` adds `X[u, i] · X[u, j]` into a per-thread sparse accumulator. The
//! item × item matrix is never materialised by [`item_cosine_topn`]: each row is cut to its top
//! neighbours as soon as it is complete. Items are processed in parallel in blocks balanced by
//! their work (Σ over their users of the users' row lengths), which matters for power-law data.
//!
//! # Determinism
//!
//! Each dot is summed in ascending user order whatever the thread count, and the top-n cut is a
//! strict total order (sim descending, then *larger* `j` first), so results are bit-identical
//! across runs and thread counts, and `item_cosine_topn(X)` equals
//! `cosine_topn_from_dots(cooccurrence(X))` bit for bit. `dot(i, j)` and `dot(j, i)` are equal
//! too, since both add the same products in the same order.
//!
//! NaN similarities (from NaN data) are dropped; diagonal entries of a dot matrix are ignored.

use std::cmp::Ordering;

use rayon::prelude::*;

use crate::accum::{SparseAccumulator, DENSE_MIN_VALUE};
use crate::error::{CoreError, CoreResult};
use crate::parallel;
use crate::sparse::{Csr, CsrView};
use crate::topk::gather_best;

/// Shrunk cosine of one pair from its dot product and the two norms (`sqrt` of `sq_norms`).
#[inline]
pub fn shrunk_cosine(dot: f64, norm_i: f64, norm_j: f64, shrink: f64) -> f64 {
    let denom = norm_i * norm_j + shrink;
    if denom == 0.0 {
        0.0
    } else {
        dot / denom
    }
}

/// Neighbour order: similarity descending, then larger item first. NaN is filtered before.
#[inline]
fn neighbour_order(a: &(i32, f64), b: &(i32, f64)) -> Ordering {
    b.1.partial_cmp(&a.1)
        .unwrap_or(Ordering::Equal)
        .then(b.0.cmp(&a.0))
}

/// Checks `sq_norms` (length `n_items`, finite, ≥ 0) and `shrink` (finite, ≥ 0) and returns the
/// norms (square roots).
fn norms(sq_norms: &[f64], n_items: usize, shrink: f64) -> CoreResult<Vec<f64>> {
    if sq_norms.len() != n_items {
        return Err(CoreError::invalid(
            "sq_norms",
            format!("length {}", sq_norms.len()),
            format!("length n_items = {n_items}"),
        ));
    }
    if !(shrink.is_finite() && shrink >= 0.0) {
        return Err(CoreError::invalid("shrink", shrink, "a finite number >= 0"));
    }
    if let Some(p) = sq_norms
        .par_iter()
        .position_first(|v| !(v.is_finite() && *v >= 0.0))
    {
        return Err(CoreError::invalid_value(
            "sq_norms",
            p,
            sq_norms[p],
            "a finite number >= 0",
        ));
    }
    Ok(sq_norms.par_iter().map(|v| v.sqrt()).collect())
}

/// Rows of a CSR produced block by block, concatenated at the end.
#[derive(Default)]
struct RowsOut {
    lens: Vec<usize>,
    indices: Vec<i32>,
    data: Vec<f64>,
}

impl RowsOut {
    fn push_row(&mut self, row: impl Iterator<Item = (i32, f64)>) {
        let before = self.indices.len();
        for (j, v) in row {
            self.indices.push(j);
            self.data.push(v);
        }
        self.lens.push(self.indices.len() - before);
    }

    fn assemble(parts: Vec<RowsOut>, n_rows: usize, n_cols: usize) -> Csr {
        let nnz: usize = parts.iter().map(|p| p.indices.len()).sum();
        let mut out = Csr {
            n_rows,
            n_cols,
            indptr: Vec::with_capacity(n_rows + 1),
            indices: Vec::with_capacity(nnz),
            data: Vec::with_capacity(nnz),
        };
        out.indptr.push(0);
        let mut total = 0i64;
        for p in parts {
            for len in p.lens {
                total += len as i64;
                out.indptr.push(total);
            }
            out.indices.extend_from_slice(&p.indices);
            out.data.extend_from_slice(&p.data);
        }
        out
    }
}

/// Accumulates `dot(i, ·)` for item `i` into `acc` (no diagonal), users ascending.
#[inline]
fn accumulate_item(x: &CsrView<'_>, xt: &CsrView<'_>, i: usize, acc: &mut SparseAccumulator) {
    let (users, wi) = xt.row(i);
    for (&u, &w_ui) in users.iter().zip(wi) {
        let (items, wu) = x.row(u as usize);
        for (&j, &w_uj) in items.iter().zip(wu) {
            if j as usize != i {
                acc.add(j as usize, w_ui * w_uj);
            }
        }
    }
}

/// Like [`accumulate_item`], choosing per item between the sparse accumulator and a dense pass
/// (no per-add bookkeeping, one scan of `n_items` slots at the end). The dense pass is taken
/// when `dense` allows it (see [`DensePath`]) and the item's work is at least a quarter of
/// `n_items`. Every path gives the same sums bit for bit, so the result does not depend on the
/// choice.
#[inline]
fn accumulate_item_adaptive(
    x: &CsrView<'_>,
    xt: &CsrView<'_>,
    i: usize,
    dense: DensePath,
    acc: &mut SparseAccumulator,
) {
    let (users, wi) = xt.row(i);
    let n_items = x.n_cols();
    let work: usize = users.iter().map(|&u| x.row_range(u as usize).len()).sum();
    if dense == DensePath::No || work * 4 < n_items {
        accumulate_item(x, xt, i, acc);
        return;
    }
    if dense == DensePath::Ones {
        acc.add_ones_dense(users.iter().map(|&u| x.row(u as usize).0));
        acc.collect_counts(i);
        return;
    }
    for (&u, &w_ui) in users.iter().zip(wi) {
        let (items, wu) = x.row(u as usize);
        acc.add_row_dense(items, wu, w_ui, i);
    }
    acc.collect_dense();
}

/// Which dense accumulation [`accumulate_item_adaptive`] may use, decided once per matrix.
#[derive(Clone, Copy, PartialEq, Eq)]
enum DensePath {
    /// Some value is below [`DENSE_MIN_VALUE`] (or NaN): sparse accumulation only.
    No,
    /// Every value is at least [`DENSE_MIN_VALUE`].
    Weighted,
    /// Every value is exactly `1.0` (binary interactions): co-occurrences are counted in
    /// integers and no value is read, which halves the memory traffic of the dominant loop.
    Ones,
}

impl DensePath {
    fn of(x: &CsrView<'_>) -> DensePath {
        // Counts are u32: at most one per user.
        if x.n_rows() <= u32::MAX as usize && x.data().par_iter().all(|&v| v == 1.0) {
            DensePath::Ones
        } else if x.data().par_iter().all(|&v| v >= DENSE_MIN_VALUE) {
            DensePath::Weighted
        } else {
            DensePath::No
        }
    }
}

/// Runs `row_fn(acc, buf, i)` for every item in parallel blocks balanced by co-occurrence work
/// and concatenates the rows each call leaves in `out`.
fn per_item<F>(x: &CsrView<'_>, xt: &CsrView<'_>, row_fn: F) -> Csr
where
    F: Fn(&mut SparseAccumulator, &mut Vec<(i32, f64)>, usize, &mut RowsOut) + Sync + Send,
{
    let n_items = x.n_cols();
    let work: Vec<u64> = (0..n_items)
        .into_par_iter()
        .map(|i| {
            let users = xt.row(i).0;
            1 + users
                .iter()
                .map(|&u| x.row_range(u as usize).len() as u64)
                .sum::<u64>()
        })
        .collect();
    let mut cum = Vec::with_capacity(n_items + 1);
    let mut total = 0u64;
    cum.push(0u64);
    for w in &work {
        total += w;
        cum.push(total);
    }
    drop(work);
    let blocks = parallel::split_by_cost(n_items, parallel::n_blocks_for(n_items), |i| cum[i]);
    let parts: Vec<RowsOut> = blocks
        .par_iter()
        .with_max_len(1)
        .map_init(
            || (SparseAccumulator::new(n_items), Vec::new()),
            |(acc, buf), items| {
                let mut out = RowsOut::default();
                for i in items.clone() {
                    row_fn(acc, buf, i, &mut out);
                }
                out
            },
        )
        .collect();
    RowsOut::assemble(parts, n_items, n_items)
}

/// Keeps the `num_neighbours` best `(j, sim)` of `sims` (NaN dropped) and writes them to `out`
/// sorted by `j`.
fn cut_row(
    buf: &mut Vec<(i32, f64)>,
    num_neighbours: usize,
    sims: impl Iterator<Item = (i32, f64)>,
    out: &mut RowsOut,
) {
    gather_best(
        buf,
        num_neighbours,
        sims.filter(|e| !e.1.is_nan()),
        neighbour_order,
    );
    buf.sort_unstable_by_key(|e| e.0);
    out.push_row(buf.iter().copied());
}

/// The full item × item co-occurrence dot-product matrix of a user × item matrix `x`.
///
/// `n_items = x.n_cols()`; no diagonal; a pair is stored when the two items share a row.
pub fn cooccurrence(x: CsrView<'_>) -> CoreResult<Csr> {
    parallel::install(|| {
        let xt = x.transpose()?;
        let xt = xt.view();
        Ok(per_item(&x, &xt, |acc, _buf, i, out| {
            accumulate_item(&x, &xt, i, acc);
            acc.sort_touched();
            out.push_row(acc.touched().iter().map(|&j| (j, acc.value(j as usize))));
            acc.clear();
        }))
    })?
}

/// Top-`num_neighbours` shrunk-cosine neighbours of every item of a user × item matrix `x`.
///
/// Returns an `n_items × n_items` canonical CSR (`n_items = x.n_cols()`), each row holding the
/// kept neighbours sorted by column. Errors: `sq_norms` of the wrong length or with a negative
/// or non-finite value; `shrink` negative or non-finite.
pub fn item_cosine_topn(
    x: CsrView<'_>,
    sq_norms: &[f64],
    shrink: f64,
    num_neighbours: usize,
) -> CoreResult<Csr> {
    let n_items = x.n_cols();
    parallel::install(|| {
        let norms = norms(sq_norms, n_items, shrink)?;
        if num_neighbours == 0 {
            return Ok(Csr::empty(n_items, n_items));
        }
        let xt = x.transpose()?;
        let xt = xt.view();
        let dense = DensePath::of(&x);
        Ok(per_item(&x, &xt, |acc, buf, i, out| {
            accumulate_item_adaptive(&x, &xt, i, dense, acc);
            let sims = acc.touched().iter().map(|&j| {
                (
                    j,
                    shrunk_cosine(acc.value(j as usize), norms[i], norms[j as usize], shrink),
                )
            });
            cut_row(buf, num_neighbours, sims, out);
            acc.clear();
        }))
    })?
}

/// Same similarity and cut as [`item_cosine_topn`], from a precomputed dot-product matrix.
///
/// `dots` must be square with `n_items = sq_norms.len()` rows (its columns were validated
/// against the same bound when the view was built). Diagonal entries are ignored.
/// Errors: `dots` with another number of rows (names `dot_indptr`); bad `sq_norms`/`shrink`.
pub fn cosine_topn_from_dots(
    dots: CsrView<'_>,
    sq_norms: &[f64],
    shrink: f64,
    num_neighbours: usize,
) -> CoreResult<Csr> {
    let n_items = sq_norms.len();
    if dots.n_rows() != n_items || dots.n_cols() != n_items {
        return Err(CoreError::invalid(
            "dot_indptr",
            format!("a {} × {} dot matrix", dots.n_rows(), dots.n_cols()),
            format!("len(sq_norms) = {n_items} rows and columns"),
        ));
    }
    parallel::install(|| {
        let norms = norms(sq_norms, n_items, shrink)?;
        if num_neighbours == 0 {
            return Ok(Csr::empty(n_items, n_items));
        }
        let indptr = dots.indptr();
        let blocks = parallel::split_by_cost(n_items, parallel::n_blocks_for(n_items), |i| {
            indptr[i] as u64 + i as u64
        });
        let parts: Vec<RowsOut> = blocks
            .par_iter()
            .with_max_len(1)
            .map_init(Vec::new, |buf, rows| {
                let mut out = RowsOut::default();
                for i in rows.clone() {
                    let (cols, vals) = dots.row(i);
                    let sims = cols
                        .iter()
                        .zip(vals)
                        .filter(|&(&j, _)| j as usize != i)
                        .map(|(&j, &d)| (j, shrunk_cosine(d, norms[i], norms[j as usize], shrink)));
                    cut_row(buf, num_neighbours, sims, &mut out);
                }
                out
            })
            .collect();
        Ok(RowsOut::assemble(parts, n_items, n_items))
    })?
}

#[cfg(test)]
mod tests {
    use super::*;

    // X (3 users × 4 items), values w:
    //   u0: {0: 1, 1: 2}
    //   u1: {0: 3, 1: 1, 2: 1}
    //   u2: {2: 2, 3: 0}
    // dots (ascending u):
    //   d01 = 1·2 + 3·1 = 5      d02 = 3·1 = 3      d12 = 1·1 = 1      d23 = 2·0 = 0
    //   item 3 co-occurs only with 2 (dot 0, but the pair exists); 0-3, 1-3 never co-occur.
    // sq_norms: n0 = 1+9 = 10, n1 = 4+1 = 5, n2 = 1+4 = 5, n3 = 0
    fn x() -> (Vec<i64>, Vec<i32>, Vec<f64>) {
        (
            vec![0, 2, 5, 7],
            vec![0, 1, 0, 1, 2, 2, 3],
            vec![1., 2., 3., 1., 1., 2., 0.],
        )
    }
    const SQ: [f64; 4] = [10., 5., 5., 0.];

    #[test]
    fn cooccurrence_by_hand() {
        let (p, i, d) = x();
        let c = cooccurrence(CsrView::new(&p, &i, &d, 4).unwrap()).unwrap();
        assert_eq!(c.indptr, vec![0, 2, 4, 7, 8]);
        assert_eq!(c.indices, vec![1, 2, 0, 2, 0, 1, 3, 2]);
        assert_eq!(c.data, vec![5., 3., 5., 1., 3., 1., 0., 0.]);
    }

    #[test]
    fn cosine_by_hand_shrink_zero() {
        // shrink 0: sim01 = 5/(√10·√5) = 5/√50 = 0.7071..., sim02 = 3/√50 = 0.4243...,
        // sim12 = 1/(√5·√5) = 0.2 (√5·√5 may round, compute it the same way),
        // sim23: denominator √5·0 = 0 -> 0.
        let (p, i, d) = x();
        let xv = CsrView::new(&p, &i, &d, 4).unwrap();
        let s = item_cosine_topn(xv, &SQ, 0.0, 10).unwrap();
        let r = |a: f64, b: f64| a.sqrt() * b.sqrt();
        assert_eq!(s.indptr, vec![0, 2, 4, 7, 8]);
        assert_eq!(s.indices, vec![1, 2, 0, 2, 0, 1, 3, 2]);
        let (s01, s02, s12) = (5. / r(10., 5.), 3. / r(10., 5.), 1. / r(5., 5.));
        assert_eq!(s.data, vec![s01, s02, s01, s12, s02, s12, 0., 0.]);
        assert!((s01 - 0.7071067811865475).abs() < 1e-15);
        assert!((s12 - 0.2).abs() < 1e-15);
    }

    #[test]
    fn cosine_cut_shrink_and_ties() {
        // shrink 1: sim01 = 5/(√10·√5+1) = 0.6188, sim02 = 3/(√10·√5+1) = 0.3713,
        // sim12 = 1/(5+1)
        // = 0.1667, sim23 = 0/(0+1) = 0.
        // num_neighbours = 1: row 0 -> {1}; row 1 -> {0}; row 2 -> {0} (0.37 > 0.17 > 0);
        // row 3 -> {2}.
        let (p, i, d) = x();
        let xv = CsrView::new(&p, &i, &d, 4).unwrap();
        let s = item_cosine_topn(xv, &SQ, 1.0, 1).unwrap();
        assert_eq!(s.indptr, vec![0, 1, 2, 3, 4]);
        assert_eq!(s.indices, vec![1, 0, 0, 2]);
        let den = 10f64.sqrt() * 5f64.sqrt() + 1.0;
        assert_eq!(s.data, vec![5. / den, 5. / den, 3. / den, 0.]);
        // num_neighbours = 0 -> empty rows
        let s = item_cosine_topn(xv, &SQ, 1.0, 0).unwrap();
        assert_eq!(s, Csr::empty(4, 4));
    }

    #[test]
    fn ties_keep_larger_item() {
        // one user holding items 0..4 with weight 1; all norms 1 -> every sim = 1/(1+0) = 1.
        // num_neighbours 2: row 0 keeps the two largest j: {2, 3}; row 3 keeps {1, 2}.
        let xv = CsrView::new(&[0, 4], &[0, 1, 2, 3], &[1.; 4], 4).unwrap();
        let s = item_cosine_topn(xv, &[1.; 4], 0.0, 2).unwrap();
        assert_eq!(s.indices, vec![2, 3, 2, 3, 1, 3, 1, 2]);
        assert_eq!(s.data, vec![1.; 8]);
    }

    #[test]
    fn zero_norms_with_shrink_zero_give_zero() {
        // u0: {0: 0, 1: 0} -> dot 0, norms 0 -> denominator 0 -> sim 0 (not NaN)
        let xv = CsrView::new(&[0, 2], &[0, 1], &[0., 0.], 2).unwrap();
        let s = item_cosine_topn(xv, &[0., 0.], 0.0, 5).unwrap();
        assert_eq!(s.indices, vec![1, 0]);
        assert_eq!(s.data, vec![0., 0.]);
    }

    #[test]
    fn empty_inputs() {
        let xv = CsrView::new(&[0, 0], &[], &[], 3).unwrap();
        assert_eq!(
            item_cosine_topn(xv, &[0.; 3], 0.0, 5).unwrap(),
            Csr::empty(3, 3)
        );
        assert_eq!(cooccurrence(xv).unwrap(), Csr::empty(3, 3));
        let none = CsrView::new(&[0], &[], &[], 0).unwrap();
        assert_eq!(
            item_cosine_topn(none, &[], 0.0, 5).unwrap(),
            Csr::empty(0, 0)
        );
    }

    #[test]
    fn argument_errors() {
        let (p, i, d) = x();
        let xv = CsrView::new(&p, &i, &d, 4).unwrap();
        let e = item_cosine_topn(xv, &[1.; 3], 0.0, 5).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid `sq_norms`: got length 3, expected length n_items = 4"
        );
        let e = item_cosine_topn(xv, &[1., -1., 1., 1.], 0.0, 5).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`sq_norms`[1] = -1, expected a finite number >= 0"
        );
        let e = item_cosine_topn(xv, &SQ, -0.5, 5).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid `shrink`: got -0.5, expected a finite number >= 0"
        );
        let e = item_cosine_topn(xv, &SQ, f64::NAN, 5).unwrap_err();
        assert!(e.to_string().starts_with("invalid `shrink`: got NaN"));
        let dots = CsrView::new(&[0, 0, 0], &[], &[], 4).unwrap();
        let e = cosine_topn_from_dots(dots, &SQ, 0.0, 5).unwrap_err();
        assert!(e
            .to_string()
            .starts_with("invalid `dot_indptr`: got a 2 × 4 dot matrix"));
    }

    #[test]
    fn from_dots_ignores_diagonal() {
        // dots [[9, 2], [2, 9]] with norms 1: diagonal skipped, sims 2/(1+0) = 2
        let dots = CsrView::new(&[0, 2, 4], &[0, 1, 0, 1], &[9., 2., 2., 9.], 2).unwrap();
        let s = cosine_topn_from_dots(dots, &[1., 1.], 0.0, 5).unwrap();
        assert_eq!((s.indices, s.data), (vec![1, 0], vec![2., 2.]));
    }
}
