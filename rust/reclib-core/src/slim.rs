//! SLIM item-item weights: one non-negative elastic-net regression per item, solved by
//! covariance (Gram) coordinate descent.
//!
//! Input is a user × item matrix `A` (canonical CSR, duplicates already summed), `n` users and
//! `n_items` columns. For every target item `c` the kernel minimises, over `w ∈ R^{n_items}` with
//! `w ≥ 0` and `w_c = 0`,
//!
//! ```text
//! f(w) = 1/(2n) · ‖A[:, c] − A w‖² + lambda · ‖w‖₁ + beta/2 · ‖w‖²
//! ```
//!
//! which is scikit-learn's `ElasticNet(alpha = beta + lambda, l1_ratio = lambda / (beta + lambda),
//! positive=True, fit_intercept=False)` objective with column `c` of the design zeroed. The
//! result is `W[j, c] = w_j` for every `w_j > 0` (row = history item, column = target item).
//!
//! # How
//!
//! `f` depends on `A` only through the Gram matrix `G = AᵀA`: `‖A[:, c] − A w‖²` is
//! `G[c, c] − 2 wᵀ G[:, c] + wᵀ G w`. `G` is built once, sparse, by [`cooccurrence`]
//! (off-diagonal) and [`column_stats`] (diagonal = squared column norms), and is stored dense
//! instead when at least half of its entries are stored and it fits in 512 MiB (typical of a
//! catalogue cut to items with enough ratings: a plain `axpy` then beats the scatter).
//!
//! For column `c`, cyclic coordinate descent runs over the working set
//! `S = {j ≠ c : G[j, c] ≠ 0}` in ascending `j`, keeping `q = G w` up to date in a dense
//! per-thread buffer (`q += Δw_j · G[:, j]` when `w_j` moves). The update of coordinate `j`,
//! multiplied through by `n` as scikit-learn does, is
//!
//! ```text
//! w_j ← max(0, G[j, c] − q_j + G[j, j] · w_j − n · lambda) / (G[j, j] + n · beta)
//! ```
//!
//! and `w_j ← 0` when the denominator is 0 (an all-zero column with `beta = 0`). A *sweep* visits
//! every coordinate of `S` once; the column stops after the first sweep whose largest change
//! `max |Δw_j|` is at most `tol · max(1, max_j w_j)`, or after `max_iter` sweeps.
//!
//! # Why coordinates outside `S` stay at zero
//!
//! For `j ∉ S ∪ {c}`, `G[j, c] = 0`, and `w_j = 0` is optimal given the others exactly when the
//! update above leaves it at 0, i.e. when `−q_j ≤ n · lambda` (the KKT condition of
//! `w_j ≥ 0` with the `‖w‖₁` term; `f` is convex, so KKT at every coordinate means a global
//! minimum).
//! When `A ≥ 0` every entry of `G` is `≥ 0`, and with `w ≥ 0` so is `q_j = Σ_k G[j, k] w_k`;
//! since `lambda > 0` the condition always holds and the restriction to `S` is exact. For `A`
//! with negative entries `q_j` can be negative, so after `S` converges the kernel checks the
//! condition at every `j` outside `S` and, if some coordinates violate it, adds them to `S` and
//! continues sweeping (within the same `max_iter` budget). Stored zeros of `G[:, c]` are left
//! out of `S` at first for the same reason.
//!
//! # Determinism
//!
//! Each column is solved by one thread in a fixed order from `w = 0`; `G` itself is
//! thread-independent, and the dense and sparse forms update `q` with the same products. So `W`
//! is bit-identical across runs, thread counts and storage forms.

use rayon::prelude::*;

use crate::error::{CoreError, CoreResult};
use crate::parallel;
use crate::popularity::column_stats;
use crate::similarity::cooccurrence;
use crate::sparse::{Csr, CsrView};

/// Phrase of `reclib`'s SLIM constructor error, kept in the messages about `beta` and `lambda_`.
const BAD_REGULARIZATION: &str = "invalid regularization parameters";

/// Checks the scalar arguments of [`slim_fit`].
fn check_params(beta: f64, lambda: f64, max_iter: usize, tol: f64) -> CoreResult<()> {
    if !(beta.is_finite() && beta >= 0.0) {
        return Err(CoreError::invalid(
            "beta",
            beta,
            format!("a finite number >= 0 ({BAD_REGULARIZATION})"),
        ));
    }
    if !(lambda.is_finite() && lambda > 0.0) {
        return Err(CoreError::invalid(
            "lambda_",
            lambda,
            format!("a finite number > 0 ({BAD_REGULARIZATION})"),
        ));
    }
    if max_iter < 1 {
        return Err(CoreError::invalid("max_iter", max_iter, "an integer >= 1"));
    }
    if !(tol.is_finite() && tol > 0.0) {
        return Err(CoreError::invalid("tol", tol, "a finite number > 0"));
    }
    Ok(())
}

/// Dense storage of `G` is used when it holds at least this share of the `n_items²` entries…
const DENSE_MIN_DENSITY: f64 = 0.5;
/// …and has at most this many entries (512 MiB of `f64`, 8192 items).
const DENSE_MAX_ENTRIES: usize = 1 << 26;

/// The Gram matrix `G = AᵀA`, sparse or dense, with its diagonal apart.
struct Gram {
    n: usize,
    /// Off-diagonal entries; row `j` is also column `j` (the matrix is symmetric, bit for bit).
    /// Empty when `dense` is used.
    off: Csr,
    /// All of `G`, column after column, when dense enough (see [`DENSE_MIN_DENSITY`]).
    dense: Option<Vec<f64>>,
    /// `G[j, j]`, the squared norm of column `j` of `A`.
    diag: Vec<f64>,
}

impl Gram {
    /// Builds `G` from the off-diagonal co-occurrences and the diagonal, densified if that pays
    /// (and `allow_dense`).
    fn new(off: Csr, diag: Vec<f64>, allow_dense: bool) -> Gram {
        let n = diag.len();
        let entries = n.saturating_mul(n);
        let dense_pays = allow_dense
            && entries <= DENSE_MAX_ENTRIES
            && (off.nnz() + n) as f64 >= DENSE_MIN_DENSITY * entries as f64;
        if !dense_pays {
            return Gram {
                n,
                off,
                dense: None,
                diag,
            };
        }
        let mut dense = vec![0.0; entries];
        let v = off.view();
        dense.par_chunks_mut(n).enumerate().for_each(|(j, col)| {
            let (rows, vals) = v.row(j);
            for (&i, &x) in rows.iter().zip(vals) {
                col[i as usize] = x;
            }
            col[j] = diag[j];
        });
        Gram {
            n,
            off: Csr::empty(0, 0),
            dense: Some(dense),
            diag,
        }
    }

    /// The working set of column `c`: `(j, G[j, c])` for `j ≠ c` with `G[j, c] ≠ 0`, ascending.
    fn working_set(&self, c: usize, set: &mut Vec<(usize, f64)>) {
        set.clear();
        match &self.dense {
            Some(d) => set.extend(
                d[c * self.n..(c + 1) * self.n]
                    .iter()
                    .enumerate()
                    .filter(|&(j, &v)| j != c && v != 0.0)
                    .map(|(j, &v)| (j, v)),
            ),
            None => {
                let (cols, vals) = self.off.view().row(c);
                set.extend(
                    cols.iter()
                        .zip(vals)
                        .filter(|&(_, &v)| v != 0.0)
                        .map(|(&j, &v)| (j as usize, v)),
                );
            }
        }
    }

    /// `q += delta · G[:, j]`. Entries of `q` where `G[:, j]` is not stored are left as they
    /// are, so the dense and the sparse forms give the same `q`.
    #[inline]
    fn add_column(&self, j: usize, delta: f64, q: &mut [f64]) {
        match &self.dense {
            Some(d) => {
                for (qi, &g) in q.iter_mut().zip(&d[j * self.n..(j + 1) * self.n]) {
                    *qi += g * delta;
                }
            }
            None => {
                let (cols, vals) = self.off.view().row(j);
                for (&i, &v) in cols.iter().zip(vals) {
                    q[i as usize] += v * delta;
                }
                q[j] += self.diag[j] * delta;
            }
        }
    }
}

/// Settings shared by every column, with the penalties already multiplied by `n`.
#[derive(Clone, Copy)]
struct Settings {
    n_lambda: f64,
    n_beta: f64,
    max_iter: usize,
    tol: f64,
}

/// Per-thread scratch: `q = G w` over all items, plus the working set of the current column.
struct Solver {
    q: Vec<f64>,
    in_set: Vec<bool>,
    /// Working set: `(j, G[j, c])`, ascending `j`.
    set: Vec<(usize, f64)>,
    /// `w_j` of each working-set entry.
    w: Vec<f64>,
}

impl Solver {
    fn new(n_items: usize) -> Self {
        Solver {
            q: vec![0.0; n_items],
            in_set: vec![false; n_items],
            set: Vec::new(),
            w: Vec::new(),
        }
    }

    /// One cyclic sweep over the working set; returns `(max |Δw|, max w)`.
    fn sweep(&mut self, g: &Gram, s: &Settings) -> (f64, f64) {
        let (mut max_change, mut max_w) = (0.0f64, 0.0f64);
        for k in 0..self.set.len() {
            let (j, g_jc) = self.set[k];
            let g_jj = g.diag[j];
            let denom = g_jj + s.n_beta;
            let old = self.w[k];
            let new = if denom > 0.0 {
                let tmp = g_jc - self.q[j] + g_jj * old;
                (tmp - s.n_lambda).max(0.0) / denom
            } else {
                0.0
            };
            if new != old {
                let delta = new - old;
                g.add_column(j, delta, &mut self.q);
                self.w[k] = new;
                max_change = max_change.max(delta.abs());
            }
            max_w = max_w.max(new);
        }
        (max_change, max_w)
    }

    /// Coordinates outside the working set whose zero violates the optimality condition
    /// (see the module docs), ascending. Never any when `A ≥ 0`.
    fn violations(&self, g: &Gram, c: usize, s: &Settings) -> Vec<usize> {
        (0..g.n)
            .filter(|&j| {
                j != c && !self.in_set[j] && g.diag[j] + s.n_beta > 0.0 && -self.q[j] > s.n_lambda
            })
            .collect()
    }

    /// Solves column `c` and appends `(j, w_j)` for `w_j > 0`, ascending `j`, to `out`.
    fn solve(&mut self, g: &Gram, c: usize, s: &Settings, out: &mut RowsOut) {
        g.working_set(c, &mut self.set);
        for &(j, _) in &self.set {
            self.in_set[j] = true;
        }
        self.w.clear();
        self.w.resize(self.set.len(), 0.0);

        let mut sweeps = 0;
        while sweeps < s.max_iter {
            let mut converged = false;
            while sweeps < s.max_iter {
                sweeps += 1;
                let (max_change, max_w) = self.sweep(g, s);
                if max_change <= s.tol * max_w.max(1.0) {
                    converged = true;
                    break;
                }
            }
            let extra = if converged {
                self.violations(g, c, s)
            } else {
                Vec::new()
            };
            if extra.is_empty() {
                break;
            }
            // Outside S, G[j, c] = 0; merge keeping ascending j (the cyclic order).
            let mut merged = Vec::with_capacity(self.set.len() + extra.len());
            let mut merged_w = Vec::with_capacity(merged.capacity());
            let mut it = extra.into_iter().peekable();
            for (k, &(j, v)) in self.set.iter().enumerate() {
                while let Some(&e) = it.peek().filter(|&&e| e < j) {
                    merged.push((e, 0.0));
                    merged_w.push(0.0);
                    self.in_set[e] = true;
                    it.next();
                }
                merged.push((j, v));
                merged_w.push(self.w[k]);
            }
            for e in it {
                merged.push((e, 0.0));
                merged_w.push(0.0);
                self.in_set[e] = true;
            }
            self.set = merged;
            self.w = merged_w;
        }

        out.push_row(
            self.set
                .iter()
                .zip(&self.w)
                .filter(|&(_, &w)| w > 0.0)
                .map(|(&(j, _), &w)| (j as i32, w)),
        );
        for &(j, _) in &self.set {
            self.in_set[j] = false;
        }
        self.q.fill(0.0);
    }
}

/// Rows produced block by block, concatenated in block order.
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

    fn assemble(parts: Vec<RowsOut>, n: usize) -> Csr {
        let mut out = Csr::empty(n, n);
        out.indptr.truncate(1);
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

/// SLIM weights of a user × item matrix `a` (see the module docs for the problem solved).
///
/// Returns the `n_items × n_items` canonical CSR `W` with `W[j, c] = w_j > 0` of target `c`
/// (`n_items = a.n_cols()`); a catalogue of at most one item gives an empty `W`.
///
/// Errors: `beta` negative or not finite, `lambda_` not a finite number > 0 (both messages say
/// "invalid regularization parameters"), `max_iter` 0, `tol` not a finite number > 0, a
/// non-finite value in `data`.
pub fn slim_fit(
    a: CsrView<'_>,
    beta: f64,
    lambda: f64,
    max_iter: usize,
    tol: f64,
) -> CoreResult<Csr> {
    slim_impl(a, beta, lambda, max_iter, tol, true)
}

fn slim_impl(
    a: CsrView<'_>,
    beta: f64,
    lambda: f64,
    max_iter: usize,
    tol: f64,
    allow_dense: bool,
) -> CoreResult<Csr> {
    check_params(beta, lambda, max_iter, tol)?;
    let n_items = a.n_cols();
    parallel::install(|| {
        let data = a.data();
        if let Some(p) = data.par_iter().position_first(|v| !v.is_finite()) {
            return Err(CoreError::invalid_value(
                "data",
                p,
                data[p],
                "a finite number",
            ));
        }
        if n_items <= 1 {
            return Ok(Csr::empty(n_items, n_items));
        }
        let g = Gram::new(
            cooccurrence(a)?,
            column_stats(a)?.sums_of_squares,
            allow_dense,
        );
        let n = a.n_rows() as f64;
        let settings = Settings {
            n_lambda: n * lambda,
            n_beta: n * beta,
            max_iter,
            tol,
        };
        // Cost of a column grows with its working set; `+ c` keeps empty columns from piling up.
        let blocks = match &g.dense {
            Some(_) => {
                parallel::split_by_cost(n_items, parallel::n_blocks_for(n_items), |c| c as u64)
            }
            None => {
                let indptr = &g.off.indptr;
                parallel::split_by_cost(n_items, parallel::n_blocks_for(n_items), |c| {
                    indptr[c] as u64 + c as u64
                })
            }
        };
        let parts: Vec<RowsOut> = blocks
            .par_iter()
            .with_max_len(1)
            .map_init(
                || Solver::new(n_items),
                |solver, cols| {
                    let mut out = RowsOut::default();
                    for c in cols.clone() {
                        solver.solve(&g, c, &settings, &mut out);
                    }
                    out
                },
            )
            .collect();
        // Rows of `parts` are target items c; W wants them as columns.
        RowsOut::assemble(parts, n_items).view().transpose()
    })?
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dense `W` (row j, column c) of a CSR result.
    fn dense(w: &Csr) -> Vec<Vec<f64>> {
        let mut out = vec![vec![0.0; w.n_cols]; w.n_rows];
        let v = w.view();
        for (j, row) in out.iter_mut().enumerate() {
            let (cols, vals) = v.row(j);
            for (&c, &x) in cols.iter().zip(vals) {
                row[c as usize] = x;
            }
        }
        out
    }

    // A (3 users × 3 items), all ones on a cycle:
    //   u0: {0, 1}   u1: {1, 2}   u2: {0, 2}
    // G = AᵀA = [[2, 1, 1], [1, 2, 1], [1, 1, 2]], n = 3.
    fn cycle() -> (Vec<i64>, Vec<i32>, Vec<f64>) {
        (vec![0, 2, 4, 6], vec![0, 1, 1, 2, 0, 2], vec![1.0; 6])
    }

    #[test]
    fn first_sweep_by_hand() {
        // beta = 0.5, lambda = 1/12: n·lambda = 0.25, n·beta = 1.5, G[j,j] + n·beta = 3.5.
        // Column c = 0, S = {1, 2}, q = 0:
        //   w1 = max(0, G[1,0] − q1 + 0 − 0.25) / 3.5 = 0.75 / 3.5 = 3/14
        //   q += (3/14)·G[:,1] → q2 = 3/14
        //   w2 = max(0, 1 − 3/14 − 0.25) / 3.5 = (15/28) / 3.5 = 15/98
        // By the symmetry of G every column gives the same pair: W[first, c] = 3/14 and
        // W[second, c] = 15/98, where first < second are the two items other than c.
        let (p, i, d) = cycle();
        let a = CsrView::new(&p, &i, &d, 3).unwrap();
        let w = dense(&slim_fit(a, 0.5, 1.0 / 12.0, 1, 1e-12).unwrap());
        let w1: f64 = 0.75 / 3.5;
        let w2: f64 = (1.0 - w1 - 0.25) / 3.5;
        assert!((w1 - 3.0 / 14.0).abs() < 1e-15 && (w2 - 15.0 / 98.0).abs() < 1e-15);
        assert_eq!(w[1][0], w1);
        assert_eq!(w[2][0], w2);
        assert_eq!(w[0][1], w1);
        assert_eq!(w[2][1], w2);
        assert_eq!(w[0][2], w1);
        assert_eq!(w[1][2], w2);
        assert_eq!((w[0][0], w[1][1], w[2][2]), (0.0, 0.0, 0.0));
    }

    #[test]
    fn converges_to_the_stationary_point_by_hand() {
        // Same data. With both weights of a column positive, the optimum solves
        //   (G_SS w − g)/n + lambda + beta·w = 0,  G_SS = [[2, 1], [1, 2]], g = (1, 1);
        // by symmetry w1 = w2 = w: (3w − 1)/3 + 1/12 + w/2 = 0 → 1.5·w = 1/3 − 1/12 = 1/4
        // → w = 1/6 everywhere off the diagonal.
        let (p, i, d) = cycle();
        let a = CsrView::new(&p, &i, &d, 3).unwrap();
        let w = slim_fit(a, 0.5, 1.0 / 12.0, 1000, 1e-14).unwrap();
        assert_eq!(w.indptr, vec![0, 2, 4, 6]);
        assert_eq!(w.indices, vec![1, 2, 0, 2, 0, 1]);
        for &x in &w.data {
            assert!((x - 1.0 / 6.0).abs() < 1e-12, "{x}");
        }
        // A lambda above G[j,c]/n = 1/3 makes every update of a zero start 0: empty W.
        let w = slim_fit(a, 0.5, 0.34, 1000, 1e-14).unwrap();
        assert_eq!(w, Csr::empty(3, 3));
    }

    /// Minimises f for column c by projected gradient descent on the dense problem.
    fn brute_force(a: &[Vec<f64>], c: usize, beta: f64, lambda: f64) -> Vec<f64> {
        let (n, m) = (a.len(), a[0].len());
        let g: Vec<Vec<f64>> = (0..m)
            .map(|i| {
                (0..m)
                    .map(|j| (0..n).map(|u| a[u][i] * a[u][j]).sum())
                    .collect()
            })
            .collect();
        // Step 1/L with L ≥ largest eigenvalue of G/n + beta (Frobenius bound).
        let fro: f64 = g.iter().flatten().map(|x| x * x).sum::<f64>().sqrt();
        let step = 1.0 / (fro / n as f64 + beta);
        let mut w = vec![0.0; m];
        for _ in 0..200_000 {
            let grad: Vec<f64> = (0..m)
                .map(|j| {
                    let gw: f64 = (0..m).map(|k| g[j][k] * w[k]).sum();
                    (gw - g[j][c]) / n as f64 + lambda + beta * w[j]
                })
                .collect();
            for j in 0..m {
                w[j] = if j == c {
                    0.0
                } else {
                    (w[j] - step * grad[j]).max(0.0)
                };
            }
        }
        w
    }

    /// A seeded dense matrix with about half its entries zero and values in [lo, lo + 4).
    fn random_dense(n: usize, m: usize, seed: u64, lo: f64) -> Vec<Vec<f64>> {
        let mut s = seed;
        let mut next = || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 33) as f64 / (1u64 << 31) as f64
        };
        (0..n)
            .map(|_| {
                (0..m)
                    .map(|_| {
                        let keep = next() < 0.5;
                        let v = lo + 4.0 * next();
                        if keep {
                            v
                        } else {
                            0.0
                        }
                    })
                    .collect()
            })
            .collect()
    }

    fn to_csr(a: &[Vec<f64>]) -> Csr {
        let (mut rows, mut cols, mut vals) = (Vec::new(), Vec::new(), Vec::new());
        for (u, row) in a.iter().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                if v != 0.0 {
                    rows.push(u as i32);
                    cols.push(j as i32);
                    vals.push(v);
                }
            }
        }
        Csr::from_coo(
            &rows,
            &cols,
            &vals,
            a.len(),
            a[0].len(),
            crate::Duplicates::Error,
        )
        .unwrap()
    }

    fn check_against_brute_force(a: &[Vec<f64>], beta: f64, lambda: f64) {
        let x = to_csr(a);
        let w = dense(&slim_fit(x.view(), beta, lambda, 10_000, 1e-13).unwrap());
        for c in 0..a[0].len() {
            let reference = brute_force(a, c, beta, lambda);
            for (j, (row, want)) in w.iter().zip(&reference).enumerate() {
                assert!(
                    (row[c] - want).abs() < 1e-7,
                    "W[{j}, {c}] = {} but brute force gives {want}",
                    row[c]
                );
            }
        }
    }

    #[test]
    fn matches_projected_gradient_on_random_data() {
        // Non-negative A: working sets alone are exact.
        let a = random_dense(12, 6, 7, 0.5);
        check_against_brute_force(&a, 0.3, 0.05);
        check_against_brute_force(&a, 0.0, 0.2);
    }

    #[test]
    fn negative_data_uses_the_optimality_check() {
        // Items 0 and 2 never share a user, so G[0, 2] = 0 and item 0 is not in the working
        // set of column 2; but item 1 (in it) anti-correlates with item 0, so -q_0 > n·lambda
        // once w_1 > 0, and item 0 must be added.
        //   u0: {0: -2, 1: 1}   u1: {1: 1, 2: 1}   u2: {1: 1, 2: 1}
        let a = vec![
            vec![-2.0, 1.0, 0.0],
            vec![0.0, 1.0, 1.0],
            vec![0.0, 1.0, 1.0],
        ];
        check_against_brute_force(&a, 0.1, 0.01);
        let w = dense(&slim_fit(to_csr(&a).view(), 0.1, 0.01, 10_000, 1e-13).unwrap());
        assert!(w[0][2] > 0.0);
        // Random data with negatives.
        check_against_brute_force(&random_dense(10, 5, 11, -2.0), 0.2, 0.05);
    }

    #[test]
    fn fixture_of_models_md() {
        // MODELS.md §4.7: the 11-row log, duplicates summed (user 3 item 0: 5 + 1 = 6),
        // SLIM(beta = 0, lambda = 0.01). Converged values: W[0,1] = 0.600381, W[1,0] = 1.068023;
        // W[0,3] = 0.12860215 and W[3,0] = 1.32888889 (single-candidate columns, unique).
        let x = to_csr(&[
            vec![4.0, 2.0, 3.0, 0.0],
            vec![4.0, 0.0, 0.0, 3.0],
            vec![5.0, 5.0, 3.0, 0.0],
            vec![6.0, 5.0, 0.0, 0.0],
        ]);
        let w = dense(&slim_fit(x.view(), 0.0, 0.01, 100_000, 1e-12).unwrap());
        assert!((w[0][1] - 0.600381).abs() < 1e-5, "{}", w[0][1]);
        assert!((w[1][0] - 1.068023).abs() < 1e-5, "{}", w[1][0]);
        assert!((w[0][3] - 0.12860215).abs() < 1e-5, "{}", w[0][3]);
        assert!((w[3][0] - 1.32888889).abs() < 1e-5, "{}", w[3][0]);
    }

    #[test]
    fn bit_identical_across_thread_counts() {
        let a = random_dense(60, 40, 3, 0.0);
        let x = to_csr(&a);
        let run = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| slim_fit(x.view(), 0.01, 0.02, 200, 1e-6).unwrap())
        };
        let one = run(1);
        assert!(one.nnz() > 0);
        assert_eq!(one, run(3));
        // The same with G kept sparse (this G is dense enough to be densified otherwise).
        let sparse = slim_impl(x.view(), 0.01, 0.02, 200, 1e-6, false).unwrap();
        assert_eq!(one, sparse);
    }

    #[test]
    fn sparse_gram_path_matches_brute_force() {
        // Three blocks of 4 items that never share a user: G is at most 48/144 full, so kept
        // sparse.
        let mut a = Vec::new();
        for (block, (lo, seed)) in [(0.5, 21), (0.0, 22), (1.0, 23)].into_iter().enumerate() {
            for row in random_dense(8, 4, seed, lo) {
                let mut full = vec![0.0; 12];
                full[4 * block..4 * block + 4].copy_from_slice(&row);
                a.push(full);
            }
        }
        let x = to_csr(&a);
        let g = Gram::new(
            cooccurrence(x.view()).unwrap(),
            column_stats(x.view()).unwrap().sums_of_squares,
            true,
        );
        assert!(g.dense.is_none());
        check_against_brute_force(&a, 0.1, 0.03);
        assert_eq!(
            slim_fit(x.view(), 0.1, 0.03, 500, 1e-9).unwrap(),
            slim_impl(x.view(), 0.1, 0.03, 500, 1e-9, false).unwrap()
        );
    }

    #[test]
    fn small_catalogues_and_empty_logs() {
        let a = CsrView::new(&[0, 1, 2], &[0, 0], &[1.0, 2.0], 1).unwrap();
        assert_eq!(slim_fit(a, 0.1, 0.1, 10, 1e-4).unwrap(), Csr::empty(1, 1));
        let a = CsrView::new(&[0], &[], &[], 0).unwrap();
        assert_eq!(slim_fit(a, 0.1, 0.1, 10, 1e-4).unwrap(), Csr::empty(0, 0));
        let a = CsrView::new(&[0], &[], &[], 4).unwrap();
        assert_eq!(slim_fit(a, 0.1, 0.1, 10, 1e-4).unwrap(), Csr::empty(4, 4));
        // beta = 0 with an all-zero (stored) column: denominator 0 → weight 0.
        let a = CsrView::new(&[0, 2], &[0, 1], &[1.0, 0.0], 2).unwrap();
        assert_eq!(slim_fit(a, 0.0, 0.1, 10, 1e-4).unwrap(), Csr::empty(2, 2));
    }

    #[test]
    fn argument_errors() {
        let (p, i, d) = cycle();
        let a = CsrView::new(&p, &i, &d, 3).unwrap();
        let msg = |r: CoreResult<Csr>| r.unwrap_err().to_string();
        assert_eq!(
            msg(slim_fit(a, -1.0, 0.1, 10, 1e-4)),
            "invalid `beta`: got -1, expected a finite number >= 0 (invalid regularization \
             parameters)"
        );
        assert_eq!(
            msg(slim_fit(a, 0.1, 0.0, 10, 1e-4)),
            "invalid `lambda_`: got 0, expected a finite number > 0 (invalid regularization \
             parameters)"
        );
        let nan = msg(slim_fit(a, 0.1, f64::NAN, 10, 1e-4));
        assert!(nan.starts_with("invalid `lambda_`: got NaN"));
        assert!(
            msg(slim_fit(a, f64::INFINITY, 0.1, 10, 1e-4)).starts_with("invalid `beta`: got inf")
        );
        assert_eq!(
            msg(slim_fit(a, 0.1, 0.1, 0, 1e-4)),
            "invalid `max_iter`: got 0, expected an integer >= 1"
        );
        assert_eq!(
            msg(slim_fit(a, 0.1, 0.1, 10, 0.0)),
            "invalid `tol`: got 0, expected a finite number > 0"
        );
        let bad = [1.0, 1.0, f64::NAN, 1.0, 1.0, 1.0];
        let a = CsrView::new(&p, &i, &bad, 3).unwrap();
        assert_eq!(
            msg(slim_fit(a, 0.1, 0.1, 10, 1e-4)),
            "`data`[2] = NaN, expected a finite number"
        );
    }
}
