//! ADMM-SLIM: the dense ADMM loop of RePlay's `ADMMSLIM`, step for step (MODELS.md §4.8).
//!
//! Given the dense Gram matrix `G = XᵀX` (`n × n`, `n` items), starting matrices
//! `B₀, C₀, Γ₀`,
//! penalties `lambda_1, lambda_2` and a starting `rho`:
//!
//! ```text
//! P  = (G + (lambda_2 + rho)·I)⁻¹          once, with the starting rho (Cholesky, G is PSD)
//! Px = P·G
//! r_p = ‖B − C‖, r_d = ‖rho·C‖, eps_p = eps_d = 0, it = 0
//! while (r_p > eps_p or r_d > eps_d) and it < max_iter:
//!     it += 1
//!     B   = Px + P·(rho·C − Γ)
//!     γ_j = B[j, j] / P[j, j];  B[:, j] −= γ_j · P[:, j]        (so diag(B) = 0)
//!     C_prev = C
//!     C   = soft(B + Γ/rho, lambda_1/rho),  soft(x, t) = max(x − t, 0) − max(−x − t, 0)
//!     Γ  += rho·(B − C)
//!     r_p = ‖B − C‖,  r_d = ‖−rho·(C − C_prev)‖
//!     eps_p = 1e-3·n + 1e-3·max(‖B‖, ‖C‖),  eps_d = 1e-3·n + 1e-3·‖Γ‖
//!     if r_p > 5·r_d: rho ← 2·rho  elif 5·r_p < r_d: rho ← rho/2
//!     (P is not recomputed)
//! ```
//!
//! (norms are Frobenius). The thresholds use `n`, not `√n` as the usual ADMM rule does, and the
//! soft threshold is two-sided, so `C` may hold negative weights: both as in the original.
//!
//! # How
//!
//! The inverse and the two products per iteration (`P·G` once, `P·(rho·C − Γ)` each time) run
//! on [`faer`] with the kernel pool's threads; the element-wise steps run column-parallel, and
//! the five norms are summed per column and then over columns in column order. Matrices are
//! passed row-major (numpy's C order) and copied to column-major once on the way in and out.
//!
//! # Determinism
//!
//! The element-wise steps and the norms do not depend on the thread count. faer's products
//! split the output into blocks without splitting the inner dimension, so they do not either
//! (checked by a test, not promised by faer's docs). The results differ from numpy's
//! `np.linalg.inv` and BLAS in the last bits, which can flip a `rho` decision only at an exact tie.

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt;
use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;

use crate::error::{CoreError, CoreResult};
use crate::parallel;

/// `rho` changes when one residual exceeds this multiple of the other.
pub const THRESHOLD: f64 = 5.0;
/// Factor by which `rho` is multiplied or divided.
pub const MULTIPLICATOR: f64 = 2.0;
/// Absolute tolerance, multiplied by the number of items.
pub const EPS_ABS: f64 = 1e-3;
/// Relative tolerance, multiplied by the largest matrix norm.
pub const EPS_REL: f64 = 1e-3;

/// Relative tolerance of the symmetry check on `gram` (to the largest absolute entry).
const SYMMETRY_TOL: f64 = 1e-9;

/// The starting matrices, each `n × n` row-major.
#[derive(Debug, Clone, Copy)]
pub struct AdmmStart<'a> {
    /// `B₀`.
    pub b: &'a [f64],
    /// `C₀`.
    pub c: &'a [f64],
    /// `Γ₀`.
    pub gamma: &'a [f64],
}

/// Penalties, starting `rho` and iteration cap.
#[derive(Debug, Clone, Copy)]
pub struct AdmmParams {
    /// L1 penalty, `>= 0`.
    pub lambda_1: f64,
    /// L2 penalty, `> 0`.
    pub lambda_2: f64,
    /// Starting ADMM step, `> 0` (RePlay starts at `lambda_2` and keeps the adapted value).
    pub rho: f64,
    /// Most iterations; `0` returns `C₀` unchanged.
    pub max_iter: usize,
}

/// Result of [`admm_slim_fit`].
#[derive(Debug, Clone, PartialEq)]
pub struct AdmmFit {
    /// Final `C`, `n × n` row-major.
    pub c: Vec<f64>,
    /// `rho` after the last adaptation.
    pub rho: f64,
    /// Number of iterations run.
    pub iterations: usize,
}

fn check_matrix(name: &str, m: &[f64], n: usize) -> CoreResult<()> {
    if m.len() != n * n {
        return Err(CoreError::invalid(
            name,
            format!("{} values", m.len()),
            format!("n·n = {} values ({n} × {n}, the shape of `gram`)", n * n),
        ));
    }
    if let Some(p) = m.par_iter().position_first(|v| !v.is_finite()) {
        return Err(CoreError::invalid_value(name, p, m[p], "a finite number"));
    }
    Ok(())
}

fn check_params(p: &AdmmParams) -> CoreResult<()> {
    if !(p.lambda_1.is_finite() && p.lambda_1 >= 0.0) {
        return Err(CoreError::invalid(
            "lambda_1",
            p.lambda_1,
            "a finite number >= 0 (invalid regularization parameters)",
        ));
    }
    if !(p.lambda_2.is_finite() && p.lambda_2 > 0.0) {
        return Err(CoreError::invalid(
            "lambda_2",
            p.lambda_2,
            "a finite number > 0 (invalid regularization parameters)",
        ));
    }
    if !(p.rho.is_finite() && p.rho > 0.0) {
        return Err(CoreError::invalid("rho", p.rho, "a finite number > 0"));
    }
    Ok(())
}

/// Refuses a `gram` that is not symmetric up to rounding (position of the first offender).
fn check_symmetric(g: &[f64], n: usize) -> CoreResult<()> {
    let scale = g
        .par_iter()
        .fold(|| 0.0f64, |m, v| m.max(v.abs()))
        .reduce(|| 0.0, f64::max);
    let tol = SYMMETRY_TOL * scale;
    let bad = (0..n)
        .into_par_iter()
        .find_first(|&i| (0..i).any(|j| (g[i * n + j] - g[j * n + i]).abs() > tol));
    match bad {
        Some(i) => {
            let j = (0..i)
                .find(|&j| (g[i * n + j] - g[j * n + i]).abs() > tol)
                .unwrap_or(0);
            Err(CoreError::invalid_value(
                "gram",
                i * n + j,
                format!(
                    "{} (row {i}, column {j}) while gram[{j}, {i}] = {}",
                    g[i * n + j],
                    g[j * n + i]
                ),
                "a symmetric matrix such as XᵀX",
            ))
        }
        None => Ok(()),
    }
}

/// Column-major copy of a row-major `n × n` matrix.
fn col_major(row_major: &[f64], n: usize) -> Vec<f64> {
    let mut out = vec![0.0; n * n];
    out.par_chunks_mut(n.max(1))
        .enumerate()
        .for_each(|(j, col)| {
            for (i, x) in col.iter_mut().enumerate() {
                *x = row_major[i * n + j];
            }
        });
    out
}

/// Row-major copy of a column-major `n × n` matrix (the transpose of [`col_major`]).
fn row_major(col_major: &[f64], n: usize) -> Vec<f64> {
    // The same index shuffle in the other direction.
    self::col_major(col_major, n)
}

fn view(m: &[f64], n: usize) -> MatRef<'_, f64> {
    MatRef::from_column_major_slice(m, n, n)
}

fn view_mut(m: &mut [f64], n: usize) -> MatMut<'_, f64> {
    MatMut::from_column_major_slice_mut(m, n, n)
}

/// `P = (G + shift·I)⁻¹` (column-major; G symmetric), by Cholesky.
fn shifted_inverse(g: &[f64], n: usize, shift: f64, par: Par) -> CoreResult<Vec<f64>> {
    let mut l = g.to_vec();
    for i in 0..n {
        l[i * n + i] += shift;
    }
    let mut mem = MemBuffer::new(
        llt::factor::cholesky_in_place_scratch::<f64>(n, par, Default::default())
            .or(llt::inverse::inverse_scratch::<f64>(n, par)),
    );
    let stack = MemStack::new(&mut mem);
    let factored = llt::factor::cholesky_in_place(
        view_mut(&mut l, n),
        Default::default(),
        par,
        stack,
        Default::default(),
    );
    if let Err(llt::factor::LltError::NonPositivePivot { index }) = factored {
        return Err(CoreError::invalid(
            "gram",
            format!(
                "a matrix for which gram + (lambda_2 + rho)·I is not positive definite \
                 (pivot {index})"
            ),
            "a positive semi-definite matrix such as XᵀX",
        ));
    }
    // The factor is in the lower triangle; clear what is left above it.
    for j in 1..n {
        l[j * n..j * n + j].fill(0.0);
    }
    let mut p = vec![0.0; n * n];
    llt::inverse::inverse(view_mut(&mut p, n), view(&l, n), par, stack);
    // `inverse` writes the lower triangle only: mirror it.
    for j in 0..n {
        for i in 0..j {
            p[j * n + i] = p[i * n + j];
        }
    }
    Ok(p)
}

/// Soft threshold, two-sided, written as the original: `max(x − t, 0) − max(−x − t, 0)`.
#[inline]
fn soft(x: f64, t: f64) -> f64 {
    (x - t).max(0.0) - (-x - t).max(0.0)
}

/// Squared Frobenius norms gathered by one iteration.
#[derive(Default, Clone, Copy)]
struct Norms {
    primal: f64,
    dual: f64,
    b: f64,
    c: f64,
    gamma: f64,
}

impl Norms {
    fn add(mut self, o: Norms) -> Norms {
        self.primal += o.primal;
        self.dual += o.dual;
        self.b += o.b;
        self.c += o.c;
        self.gamma += o.gamma;
        self
    }
}

/// Frobenius norm, summed per column then over columns in order.
fn norm(m: &[f64], n: usize, f: impl Fn(f64) -> f64 + Sync) -> f64 {
    let cols: Vec<f64> = m
        .par_chunks(n.max(1))
        .map(|col| col.iter().map(|&x| f(x) * f(x)).sum())
        .collect();
    cols.iter().sum::<f64>().sqrt()
}

/// Runs the ADMM-SLIM loop (module docs) on the row-major `n × n` Gram matrix `gram`.
///
/// Errors: `gram`, `b0`, `c0` or `gamma0` without `n·n` values or with a non-finite value;
/// `gram` not symmetric, or `gram + (lambda_2 + rho)·I` not positive definite; `lambda_1`
/// negative, `lambda_2` or `rho` not > 0, any of them not finite.
pub fn admm_slim_fit(
    gram: &[f64],
    n: usize,
    start: AdmmStart<'_>,
    params: AdmmParams,
) -> CoreResult<AdmmFit> {
    check_params(&params)?;
    parallel::install(|| {
        check_matrix("gram", gram, n)?;
        check_matrix("b0", start.b, n)?;
        check_matrix("c0", start.c, n)?;
        check_matrix("gamma0", start.gamma, n)?;
        check_symmetric(gram, n)?;
        run(gram, n, start, params)
    })?
}

fn run(gram: &[f64], n: usize, start: AdmmStart<'_>, params: AdmmParams) -> CoreResult<AdmmFit> {
    let threads = rayon::current_num_threads();
    let par = if threads > 1 {
        Par::rayon(threads)
    } else {
        Par::Seq
    };
    let nn = n.max(1);
    let nf = n as f64;
    let mut rho = params.rho;
    let lambda_1 = params.lambda_1;

    let g = col_major(gram, n);
    let p = shifted_inverse(&g, n, params.lambda_2 + rho, par)?;
    let mut px = vec![0.0; n * n];
    matmul(
        view_mut(&mut px, n),
        Accum::Replace,
        view(&p, n),
        view(&g, n),
        1.0,
        par,
    );
    drop(g);

    let mut b = col_major(start.b, n);
    let mut c = col_major(start.c, n);
    let mut gamma = col_major(start.gamma, n);
    let mut other = vec![0.0; n * n];

    let mut r_primal = b
        .iter()
        .zip(&c)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f64>()
        .sqrt();
    let mut r_dual = norm(&c, n, |x| rho * x);
    let (mut eps_primal, mut eps_dual) = (0.0, 0.0);
    let mut it = 0;
    while (r_primal > eps_primal || r_dual > eps_dual) && it < params.max_iter {
        it += 1;

        // B = Px + P·(rho·C − Γ), with rho·C − Γ in `other`.
        other
            .par_iter_mut()
            .zip(c.par_iter().zip(gamma.par_iter()))
            .for_each(|(t, (&cv, &gv))| *t = rho * cv - gv);
        matmul(
            view_mut(&mut b, n),
            Accum::Replace,
            view(&p, n),
            view(&other, n),
            1.0,
            par,
        );
        // γ_j = B[j,j] / P[j,j]; B[:, j] −= γ_j·P[:, j].
        b.par_chunks_mut(nn)
            .zip(px.par_chunks(nn).zip(p.par_chunks(nn)))
            .enumerate()
            .for_each(|(j, (bcol, (pxcol, pcol)))| {
                for (bv, &xv) in bcol.iter_mut().zip(pxcol) {
                    *bv += xv; // Px + P·(…), as numpy: the product first, then the sum
                }
                let g_j = bcol[j] / pcol[j];
                for (bv, &pv) in bcol.iter_mut().zip(pcol) {
                    *bv -= pv * g_j;
                }
            });

        // C = soft(B + Γ/rho, lambda_1/rho) into `other`; Γ += rho·(B − C); norms per column.
        let coef = lambda_1 / rho;
        let per_col: Vec<Norms> = other
            .par_chunks_mut(nn)
            .zip(gamma.par_chunks_mut(nn))
            .zip(b.par_chunks(nn).zip(c.par_chunks(nn)))
            .map(|((cnew, gcol), (bcol, cprev))| {
                let mut s = Norms::default();
                for (((cv, gv), &bv), &pv) in cnew.iter_mut().zip(gcol).zip(bcol).zip(cprev) {
                    *cv = soft(bv + *gv / rho, coef);
                    *gv += rho * (bv - *cv);
                    let (dp, dd) = (bv - *cv, -rho * (*cv - pv));
                    s.primal += dp * dp;
                    s.dual += dd * dd;
                    s.b += bv * bv;
                    s.c += *cv * *cv;
                    s.gamma += *gv * *gv;
                }
                s
            })
            .collect();
        std::mem::swap(&mut c, &mut other);
        let s = per_col.into_iter().fold(Norms::default(), Norms::add);

        r_primal = s.primal.sqrt();
        r_dual = s.dual.sqrt();
        eps_primal = EPS_ABS * nf + EPS_REL * s.b.sqrt().max(s.c.sqrt());
        eps_dual = EPS_ABS * nf + EPS_REL * s.gamma.sqrt();
        if r_primal > THRESHOLD * r_dual {
            rho *= MULTIPLICATOR;
        } else if THRESHOLD * r_primal < r_dual {
            rho /= MULTIPLICATOR;
        }
    }
    Ok(AdmmFit {
        c: row_major(&c, n),
        rho,
        iterations: it,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // MODELS.md §4.8: log (u, i, r) = (0,0,1),(1,0,1),(2,1,2),(1,1,2),(2,2,2),(0,2,2),(3,0,2):
    //   X = [[1, 0, 2], [1, 2, 0], [0, 2, 2], [2, 0, 0]]  →  G = XᵀX = [[6, 2, 2], [2, 8, 4],
    //   [2, 4, 8]]. Starting matrices: np.random.seed(42); B, C, Γ = np.random.rand(3, 3) × 3
    //   (values printed with repr by numpy 2.4.6).
    const G: [f64; 9] = [6.0, 2.0, 2.0, 2.0, 8.0, 4.0, 2.0, 4.0, 8.0];
    const B0: [f64; 9] = [
        0.3745401188473625,
        0.9507143064099162,
        0.7319939418114051,
        0.5986584841970366,
        0.15601864044243652,
        0.15599452033620265,
        0.05808361216819946,
        0.8661761457749352,
        0.6011150117432088,
    ];
    const C0: [f64; 9] = [
        0.7080725777960455,
        0.020584494295802447,
        0.9699098521619943,
        0.8324426408004217,
        0.21233911067827616,
        0.18182496720710062,
        0.18340450985343382,
        0.3042422429595377,
        0.5247564316322378,
    ];
    const GAMMA0: [f64; 9] = [
        0.43194501864211576,
        0.2912291401980419,
        0.6118528947223795,
        0.13949386065204183,
        0.29214464853521815,
        0.3663618432936917,
        0.45606998421703593,
        0.7851759613930136,
        0.19967378215835974,
    ];

    fn start() -> AdmmStart<'static> {
        AdmmStart {
            b: &B0,
            c: &C0,
            gamma: &GAMMA0,
        }
    }

    fn params(max_iter: usize) -> AdmmParams {
        AdmmParams {
            lambda_1: 1.0,
            lambda_2: 10.0,
            rho: 10.0,
            max_iter,
        }
    }

    #[test]
    fn reproduces_models_md_example() {
        let fit = admm_slim_fit(&G, 3, start(), params(100)).unwrap();
        let expected = [
            0.0,
            0.03095617860316846,
            0.030967752554031502,
            0.031891083964224354,
            0.0,
            0.1073860741574666,
            0.031883667509449376,
            0.10739028463512135,
            0.0,
        ];
        for (k, (&got, &want)) in fit.c.iter().zip(&expected).enumerate() {
            if want == 0.0 {
                assert_eq!(got, 0.0, "C[{k}]");
            } else {
                assert!(
                    (got - want).abs() < 1e-12 * want,
                    "C[{k}] = {got}, expected {want}"
                );
            }
        }
        assert_eq!(fit.iterations, 5);
        assert_eq!(fit.rho, 0.3125);
    }

    #[test]
    fn first_iteration_by_hand() {
        // One iteration from B0, C0, Γ0 with rho = 10, lambda_1 = 1, lambda_2 = 10, written with
        // plain loops: P = inverse of G + 20·I (Gauss-Jordan), then the steps of the docs.
        let n = 3;
        let mut a = [[0.0; 6]; 3];
        for i in 0..n {
            for j in 0..n {
                a[i][j] = G[i * n + j] + if i == j { 20.0 } else { 0.0 };
            }
            a[i][n + i] = 1.0;
        }
        for k in 0..n {
            let d = a[k][k];
            for v in a[k].iter_mut() {
                *v /= d;
            }
            for i in 0..n {
                if i != k {
                    let f = a[i][k];
                    let row_k = a[k];
                    for (v, rk) in a[i].iter_mut().zip(row_k) {
                        *v -= f * rk;
                    }
                }
            }
        }
        let p = |i: usize, j: usize| a[i][n + j];
        let at = |m: &[f64], i: usize, j: usize| m[i * n + j];
        let mut b = [0.0; 9];
        for i in 0..n {
            for j in 0..n {
                b[i * n + j] = (0..n)
                    .map(|k| p(i, k) * (at(&G, k, j) + 10.0 * at(&C0, k, j) - at(&GAMMA0, k, j)))
                    .sum();
            }
        }
        let gam: Vec<f64> = (0..n).map(|j| b[j * n + j] / p(j, j)).collect();
        for i in 0..n {
            for j in 0..n {
                b[i * n + j] -= p(i, j) * gam[j];
            }
        }
        let c: Vec<f64> = (0..9).map(|k| soft(b[k] + GAMMA0[k] / 10.0, 0.1)).collect();
        let fit = admm_slim_fit(&G, 3, start(), params(1)).unwrap();
        assert_eq!(fit.iterations, 1);
        for (k, (got, want)) in fit.c.iter().zip(&c).enumerate() {
            assert!((got - want).abs() < 1e-13, "C[{k}] = {got} vs {want}");
        }
        // diag(B) = 0 after the correction, up to rounding.
        for j in 0..n {
            assert!(b[j * n + j].abs() < 1e-15);
        }
    }

    #[test]
    fn zero_iterations_and_empty() {
        let fit = admm_slim_fit(&G, 3, start(), params(0)).unwrap();
        assert_eq!(
            (fit.c.as_slice(), fit.rho, fit.iterations),
            (&C0[..], 10.0, 0)
        );
        let empty = AdmmStart {
            b: &[],
            c: &[],
            gamma: &[],
        };
        let fit = admm_slim_fit(&[], 0, empty, params(10)).unwrap();
        assert_eq!((fit.c.len(), fit.rho, fit.iterations), (0, 10.0, 0));
    }

    #[test]
    fn bit_identical_across_thread_counts() {
        // n = 300 is large enough for faer to split the products among threads.
        let n = 300;
        let mut s = 1u64;
        let mut next = || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 11) as f64 / (1u64 << 53) as f64
        };
        let x: Vec<f64> = (0..n * 40)
            .map(|_| if next() < 0.3 { 1.0 } else { 0.0 })
            .collect();
        let mut g = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                g[i * n + j] = (0..40).map(|u| x[i * 40 + u] * x[j * 40 + u]).sum();
            }
        }
        let m: Vec<Vec<f64>> = (0..3)
            .map(|_| (0..n * n).map(|_| next()).collect())
            .collect();
        let st = AdmmStart {
            b: &m[0],
            c: &m[1],
            gamma: &m[2],
        };
        let prm = AdmmParams {
            lambda_1: 0.5,
            lambda_2: 20.0,
            rho: 20.0,
            max_iter: 20,
        };
        let run = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| admm_slim_fit(&g, n, st, prm).unwrap())
        };
        let one = run(1);
        assert!(one.iterations > 1);
        assert_eq!(one, run(2));
        assert_eq!(one, run(4));
    }

    #[test]
    fn argument_errors() {
        let msg = |r: CoreResult<AdmmFit>| r.unwrap_err().to_string();
        let mut p = params(10);
        p.lambda_1 = -1.0;
        assert_eq!(
            msg(admm_slim_fit(&G, 3, start(), p)),
            "invalid `lambda_1`: got -1, expected a finite number >= 0 (invalid regularization \
             parameters)"
        );
        let mut p = params(10);
        p.lambda_2 = 0.0;
        assert!(msg(admm_slim_fit(&G, 3, start(), p)).starts_with("invalid `lambda_2`: got 0"));
        let mut p = params(10);
        p.rho = f64::NAN;
        assert!(msg(admm_slim_fit(&G, 3, start(), p)).starts_with("invalid `rho`: got NaN"));
        let short = AdmmStart {
            c: &C0[..8],
            ..start()
        };
        assert_eq!(
            msg(admm_slim_fit(&G, 3, short, params(10))),
            "invalid `c0`: got 8 values, expected n·n = 9 values (3 × 3, the shape of `gram`)"
        );
        let mut bad = GAMMA0;
        bad[4] = f64::INFINITY;
        let st = AdmmStart {
            gamma: &bad,
            ..start()
        };
        assert_eq!(
            msg(admm_slim_fit(&G, 3, st, params(10))),
            "`gamma0`[4] = inf, expected a finite number"
        );
        let mut asym = G;
        asym[5] = 4.5; // G[1, 2] != G[2, 1]
        assert!(msg(admm_slim_fit(&asym, 3, start(), params(10)))
            .starts_with("`gram`[7] = 4 (row 2, column 1) while gram[1, 2] = 4.5"));
        // Not positive semi-definite enough: G = −100·I.
        let neg = [-100.0, 0.0, 0.0, 0.0, -100.0, 0.0, 0.0, 0.0, -100.0];
        assert!(msg(admm_slim_fit(&neg, 3, start(), params(10)))
            .contains("is not positive definite (pivot 0)"));
    }
}
