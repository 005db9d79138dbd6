//! Cross-kernel invariants on seeded random data, checked against brute-force references:
//! bit-identity across thread counts, `item_cosine_topn == cosine_topn_from_dots ∘ cooccurrence`,
//! and agreement of every top-k kernel with a naive full sort.

// Index loops mirror the maths of the references more plainly than iterator chains.
#![allow(clippy::needless_range_loop)]

use std::collections::BTreeMap;

use rayon::ThreadPoolBuilder;
use reclib_core::similarity::shrunk_cosine;
use reclib_core::*;

struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Power-law-ish index in [0, n): squares a uniform draw, so low ids are popular.
    fn skewed(&mut self, n: u64) -> u64 {
        let u = self.unit();
        ((u * u * u) * n as f64) as u64 % n
    }
}

/// A random user × item matrix with skewed item popularity, some negative and zero values.
fn random_matrix(seed: u64, n_users: usize, n_items: usize, nnz: usize) -> Csr {
    let mut rng = SplitMix(seed);
    let mut rows = Vec::with_capacity(nnz);
    let mut cols = Vec::with_capacity(nnz);
    let mut vals = Vec::with_capacity(nnz);
    for _ in 0..nnz {
        rows.push(rng.below(n_users as u64) as i32);
        cols.push(rng.skewed(n_items as u64) as i32);
        let v = match rng.below(10) {
            0 => 0.0,
            1 => -(rng.below(5) as f64) - 0.5,
            _ => (rng.below(9) + 1) as f64 * 0.37,
        };
        vals.push(v);
    }
    Csr::from_coo(&rows, &cols, &vals, n_users, n_items, Duplicates::Sum).unwrap()
}

fn sq_norms(x: &Csr) -> Vec<f64> {
    column_stats(x.view()).unwrap().sums_of_squares
}

fn in_pool<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

/// Dense reference of the co-occurrence dots: BTreeMap per item, users ascending.
fn reference_dots(x: &Csr) -> Vec<BTreeMap<i32, f64>> {
    let xt = x.view().transpose().unwrap();
    let mut out = vec![BTreeMap::new(); x.n_cols];
    for i in 0..x.n_cols {
        for p in xt.indptr[i] as usize..xt.indptr[i + 1] as usize {
            let (u, w_ui) = (xt.indices[p] as usize, xt.data[p]);
            for q in x.indptr[u] as usize..x.indptr[u + 1] as usize {
                let j = x.indices[q];
                if j as usize != i {
                    let prod = w_ui * x.data[q];
                    out[i].entry(j).and_modify(|d| *d += prod).or_insert(prod);
                }
            }
        }
    }
    out
}

#[test]
fn cooccurrence_matches_reference_and_is_symmetric() {
    let x = random_matrix(1, 300, 120, 4000);
    let c = cooccurrence(x.view()).unwrap();
    let want = reference_dots(&x);
    for i in 0..x.n_cols {
        let r = c.indptr[i] as usize..c.indptr[i + 1] as usize;
        let got: Vec<(i32, f64)> = c.indices[r.clone()]
            .iter()
            .copied()
            .zip(c.data[r].iter().copied())
            .collect();
        let exp: Vec<(i32, f64)> = want[i].iter().map(|(&j, &d)| (j, d)).collect();
        assert_eq!(got, exp, "row {i}");
    }
    // symmetric, bit for bit
    let t = c.view().transpose().unwrap();
    assert_eq!(t, c);
}

#[test]
fn cosine_topn_equals_from_dots_bitwise() {
    let x = random_matrix(2, 500, 200, 8000);
    let sq = sq_norms(&x);
    for (shrink, n) in [(0.0, 5), (10.0, 20), (0.5, 1000), (3.0, 0)] {
        let direct = item_cosine_topn(x.view(), &sq, shrink, n).unwrap();
        let dots = cooccurrence(x.view()).unwrap();
        let via = cosine_topn_from_dots(dots.view(), &sq, shrink, n).unwrap();
        assert_eq!(direct.indptr, via.indptr);
        assert_eq!(direct.indices, via.indices);
        let a: Vec<u64> = direct.data.iter().map(|v| v.to_bits()).collect();
        let b: Vec<u64> = via.data.iter().map(|v| v.to_bits()).collect();
        assert_eq!(a, b, "shrink={shrink} n={n}");
    }
}

/// The dense accumulation paths of `item_cosine_topn` (taken for positive values, and without
/// reading values when all are 1.0) against `cooccurrence`, which always accumulates sparsely.
#[test]
fn dense_paths_equal_sparse_bitwise() {
    let mut rng = SplitMix(11);
    let (n_users, n_items, nnz) = (300, 40, 5000);
    let rows: Vec<i32> = (0..nnz).map(|_| rng.below(n_users) as i32).collect();
    let cols: Vec<i32> = (0..nnz).map(|_| rng.skewed(n_items) as i32).collect();
    let ones = vec![1.0; nnz];
    let weighted: Vec<f64> = (0..nnz).map(|_| (rng.below(9) + 1) as f64 * 0.37).collect();
    for vals in [ones, weighted] {
        let (n_u, n_i) = (n_users as usize, n_items as usize);
        let x = Csr::from_coo(&rows, &cols, &vals, n_u, n_i, Duplicates::Max).unwrap();
        let sq = sq_norms(&x);
        let direct = item_cosine_topn(x.view(), &sq, 1.5, 10).unwrap();
        let dots = cooccurrence(x.view()).unwrap();
        let via = cosine_topn_from_dots(dots.view(), &sq, 1.5, 10).unwrap();
        assert_eq!(direct.indptr, via.indptr);
        assert_eq!(direct.indices, via.indices);
        let a: Vec<u64> = direct.data.iter().map(|v| v.to_bits()).collect();
        let b: Vec<u64> = via.data.iter().map(|v| v.to_bits()).collect();
        assert_eq!(a, b);
    }
}

#[test]
fn cosine_topn_matches_brute_force() {
    let x = random_matrix(3, 200, 80, 2500);
    let sq = sq_norms(&x);
    let norms: Vec<f64> = sq.iter().map(|v| v.sqrt()).collect();
    let (shrink, n) = (2.0, 7);
    let got = item_cosine_topn(x.view(), &sq, shrink, n).unwrap();
    for (i, row) in reference_dots(&x).iter().enumerate() {
        let mut sims: Vec<(i32, f64)> = row
            .iter()
            .map(|(&j, &d)| (j, shrunk_cosine(d, norms[i], norms[j as usize], shrink)))
            .collect();
        // full sort: sim desc, then larger j first
        sims.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap().then(b.0.cmp(&a.0)));
        sims.truncate(n);
        sims.sort_by_key(|e| e.0);
        let r = got.indptr[i] as usize..got.indptr[i + 1] as usize;
        let g: Vec<(i32, f64)> = got.indices[r.clone()]
            .iter()
            .copied()
            .zip(got.data[r].iter().copied())
            .collect();
        assert_eq!(g, sims, "item {i}");
    }
}

#[test]
fn results_are_identical_across_thread_counts() {
    let x = random_matrix(4, 3000, 400, 60_000);
    let sq = sq_norms(&x);
    let h = random_matrix(5, 700, 400, 9000);
    let run = || {
        let sims = item_cosine_topn(x.view(), &sq, 1.5, 25).unwrap();
        let dots = cooccurrence(x.view()).unwrap();
        let ex = h.view().pattern();
        let f = ItemFilter {
            exclude: Some(ex),
            candidates: None,
        };
        let recs = neighbour_topk(h.view(), sims.view(), 10, f).unwrap();
        let stats = column_stats(x.view()).unwrap();
        let csr_top = topk_csr(dots.view(), 5, ItemFilter::default()).unwrap();
        (sims, dots, recs, stats, csr_top)
    };
    let base = in_pool(1, run);
    for threads in [2, 3, 4] {
        let other = in_pool(threads, run);
        assert!(base == other, "threads={threads}");
        // `==` on f64 treats 0.0 == -0.0; compare bits too
        let bits = |v: &[f64]| v.iter().map(|d| d.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&base.0.data), bits(&other.0.data));
        assert_eq!(bits(&base.1.data), bits(&other.1.data));
        assert_eq!(bits(&base.2.scores), bits(&other.2.scores));
    }
}

/// Naive top-k of a list of (item, score): full sort, score desc, item asc, NaN dropped.
fn naive_top(mut v: Vec<(i32, f64)>, k: usize) -> Vec<(i32, f64)> {
    v.retain(|e| !e.1.is_nan());
    v.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap().then(a.0.cmp(&b.0)));
    v.truncate(k);
    v
}

fn rows_of(t: &TopK, n_rows: usize) -> Vec<Vec<(i32, f64)>> {
    let mut out = vec![Vec::new(); n_rows];
    for e in 0..t.len() {
        out[t.rows[e] as usize].push((t.items[e], t.scores[e]));
    }
    // rows must come out ascending
    assert!(t.rows.windows(2).all(|w| w[0] <= w[1]));
    out
}

#[test]
fn neighbour_topk_matches_brute_force() {
    let (n_users, n_items) = (150, 90);
    let h = random_matrix(6, n_users, n_items, 1500);
    let w = random_matrix(7, n_items, n_items, 2000);
    let ex = random_matrix(8, n_users, n_items, 600);
    let mut rng = SplitMix(9);
    let cand: Vec<bool> = (0..n_items).map(|_| rng.below(4) != 0).collect();
    let k = 6;
    let f = ItemFilter {
        exclude: Some(ex.view().pattern()),
        candidates: Some(&cand),
    };
    let got = rows_of(&neighbour_topk(h.view(), w.view(), k, f).unwrap(), n_users);
    for u in 0..n_users {
        let mut acc: BTreeMap<i32, f64> = BTreeMap::new();
        for p in h.indptr[u] as usize..h.indptr[u + 1] as usize {
            let (j, hv) = (h.indices[p] as usize, h.data[p]);
            for q in w.indptr[j] as usize..w.indptr[j + 1] as usize {
                let prod = hv * w.data[q];
                acc.entry(w.indices[q])
                    .and_modify(|s| *s += prod)
                    .or_insert(prod);
            }
        }
        let excluded: Vec<i32> =
            ex.indices[ex.indptr[u] as usize..ex.indptr[u + 1] as usize].to_vec();
        let v = acc
            .into_iter()
            .filter(|(c, _)| !excluded.contains(c) && cand[*c as usize])
            .collect();
        assert_eq!(got[u], naive_top(v, k), "user {u}");
    }
}

#[test]
fn dense_ranked_and_csr_topk_agree_with_naive() {
    let (n_rows, n_items) = (60, 40);
    let mut rng = SplitMix(10);
    // coarse scores so that ties are frequent; a few NaNs
    let dense: Vec<f64> = (0..n_rows * n_items)
        .map(|_| {
            if rng.below(25) == 0 {
                f64::NAN
            } else {
                rng.below(6) as f64
            }
        })
        .collect();
    let ex = random_matrix(11, n_rows, n_items, 300);
    let cand: Vec<bool> = (0..n_items).map(|_| rng.below(5) != 0).collect();
    let f = ItemFilter {
        exclude: Some(ex.view().pattern()),
        candidates: Some(&cand),
    };
    let allowed = |r: usize, j: usize| {
        cand[j]
            && !ex.indices[ex.indptr[r] as usize..ex.indptr[r + 1] as usize].contains(&(j as i32))
    };
    for k in [0, 1, 3, 40, 100] {
        let got = rows_of(&topk_dense(&dense, n_rows, n_items, k, f).unwrap(), n_rows);
        for r in 0..n_rows {
            let v = (0..n_items)
                .filter(|&j| allowed(r, j))
                .map(|j| (j as i32, dense[r * n_items + j]))
                .collect();
            assert_eq!(got[r], naive_top(v, k), "dense k={k} row {r}");
        }
        // ranked: one score vector (row 0 of dense) for every row
        let global = &dense[..n_items];
        let got = rows_of(&topk_ranked(global, n_rows, k, f).unwrap(), n_rows);
        for r in 0..n_rows {
            let v = (0..n_items)
                .filter(|&j| allowed(r, j))
                .map(|j| (j as i32, global[j]))
                .collect();
            assert_eq!(got[r], naive_top(v, k), "ranked k={k} row {r}");
        }
        // csr: the random matrix as sparse scores
        let s = random_matrix(12, n_rows, n_items, 700);
        let got = rows_of(&topk_csr(s.view(), k, f).unwrap(), n_rows);
        for r in 0..n_rows {
            let v = (s.indptr[r] as usize..s.indptr[r + 1] as usize)
                .filter(|&p| allowed(r, s.indices[p] as usize))
                .map(|p| (s.indices[p], s.data[p]))
                .collect();
            assert_eq!(got[r], naive_top(v, k), "csr k={k} row {r}");
        }
    }
}

#[test]
fn build_csr_policies_match_reference() {
    let (n, n_rows, n_cols) = (100_000usize, 200usize, 30usize);
    let mut rng = SplitMix(13);
    let rows: Vec<i32> = (0..n).map(|_| rng.below(n_rows as u64) as i32).collect();
    let cols: Vec<i32> = (0..n).map(|_| rng.below(n_cols as u64) as i32).collect();
    let vals: Vec<f64> = (0..n).map(|_| rng.unit() - 0.5).collect();
    for (name, policy) in [
        ("sum", Duplicates::Sum),
        ("max", Duplicates::Max),
        ("first", Duplicates::First),
        ("last", Duplicates::Last),
        ("count", Duplicates::Count),
    ] {
        let mut want: Vec<BTreeMap<i32, f64>> = vec![BTreeMap::new(); n_rows];
        for p in 0..n {
            let e = want[rows[p] as usize].entry(cols[p]);
            let v = vals[p];
            match policy {
                Duplicates::Sum => *e.or_insert(0.0) += v,
                Duplicates::Max => {
                    let m = e.or_insert(f64::NEG_INFINITY);
                    *m = m.max(v);
                }
                Duplicates::First => {
                    e.or_insert(v);
                }
                Duplicates::Last => *e.or_insert(v) = v,
                Duplicates::Count => *e.or_insert(0.0) += 1.0,
                Duplicates::Error => unreachable!(),
            }
        }
        for threads in [1, 3] {
            let got = in_pool(threads, || {
                Csr::from_coo(&rows, &cols, &vals, n_rows, n_cols, policy).unwrap()
            });
            for r in 0..n_rows {
                let rr = got.indptr[r] as usize..got.indptr[r + 1] as usize;
                let g: Vec<(i32, f64)> = got.indices[rr.clone()]
                    .iter()
                    .copied()
                    .zip(got.data[rr].iter().copied())
                    .collect();
                let w: Vec<(i32, f64)> = want[r].iter().map(|(&c, &v)| (c, v)).collect();
                // exact: the reference's `0.0 + v` equals `v` (and 0.0 == -0.0)
                assert_eq!(g, w, "{name} row {r} threads {threads}");
            }
        }
    }
    // "error" names the first repeated pair in input order
    let e = Csr::from_coo(&rows, &cols, &vals, n_rows, n_cols, Duplicates::Error).unwrap_err();
    let mut seen = std::collections::HashSet::new();
    let first = (0..n).find(|&p| !seen.insert((rows[p], cols[p]))).unwrap();
    assert_eq!(
        e,
        CoreError::Duplicate {
            row: rows[first],
            col: cols[first],
            position: first
        }
    );
}
