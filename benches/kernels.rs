//! Criterion benches of the reclib-core kernels on a seeded synthetic power-law matrix.
//!
//! Data: 20 000 users × 5 000 items, 1 000 000 COO entries (duplicates summed, so the CSR has
//! somewhat fewer), with both user activity and item popularity heavy-tailed, as in real
//! interaction logs. A splitmix64 generator keeps it deterministic without extra dependencies.
//!
//! The model kernels get their own inputs: `slim_fit` the first 2 000 (most popular) items of
//! that matrix, `admm_slim_fit` the dense Gram matrix of its first 500 items, and `rules_count`
//! a synthetic log of 100 000 sessions of 1 to 20 distinct items each.
//!
//! Run with `cargo bench --bench kernels` (add `-- --quick` for a fast pass, or a group name to
//! filter, e.g. `-- item_cosine_topn`). Sample counts and times are kept small so the full run
//! stays around a minute on two cores. Registered from `rust/reclib-core/Cargo.toml`.

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use reclib_core::*;

const N_USERS: usize = 20_000;
const N_ITEMS: usize = 5_000;
const N_ENTRIES: usize = 1_000_000;
const SEED: u64 = 0x5EED_2024;

/// splitmix64 (Steele, Lea, Flood 2014).
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Index in [0, n) with density ∝ x^(1/power - 1): `power` > 1 makes low ids popular.
    fn power_law(&mut self, n: usize, power: f64) -> usize {
        ((self.unit().powf(power) * n as f64) as usize).min(n - 1)
    }
}

struct Data {
    rows: Vec<i32>,
    cols: Vec<i32>,
    values: Vec<f64>,
    x: Csr,
    sq_norms: Vec<f64>,
}

fn data() -> Data {
    let mut rng = SplitMix64(SEED);
    let mut rows = Vec::with_capacity(N_ENTRIES);
    let mut cols = Vec::with_capacity(N_ENTRIES);
    let mut values = Vec::with_capacity(N_ENTRIES);
    for _ in 0..N_ENTRIES {
        rows.push(rng.power_law(N_USERS, 2.0) as i32);
        cols.push(rng.power_law(N_ITEMS, 3.0) as i32);
        values.push(1.0 + (rng.next_u64() % 5) as f64);
    }
    let x = Csr::from_coo(&rows, &cols, &values, N_USERS, N_ITEMS, Duplicates::Sum)
        .unwrap_or_else(|e| panic!("bench data: {e}"));
    let sq_norms = column_stats(x.view())
        .map(|s| s.sums_of_squares)
        .unwrap_or_default();
    Data {
        rows,
        cols,
        values,
        x,
        sq_norms,
    }
}

fn quick_group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    g
}

fn benches(c: &mut Criterion) {
    let d = data();
    let x = d.x.view();
    let nnz = x.nnz() as u64;
    eprintln!(
        "bench matrix: {N_USERS} x {N_ITEMS}, {} COO entries -> {nnz} nnz",
        N_ENTRIES
    );

    let mut g = quick_group(c, "build_csr");
    g.throughput(Throughput::Elements(N_ENTRIES as u64));
    for policy in [Duplicates::Sum, Duplicates::Last] {
        g.bench_function(format!("{policy:?}").to_lowercase(), |b| {
            b.iter(|| {
                Csr::from_coo(
                    &d.rows,
                    &d.cols,
                    &d.values,
                    N_USERS,
                    N_ITEMS,
                    black_box(policy),
                )
            })
        });
    }
    g.finish();

    let mut g = quick_group(c, "transpose_csr");
    g.throughput(Throughput::Elements(nnz));
    g.bench_function("user_item", |b| b.iter(|| black_box(x).transpose()));
    g.finish();

    let mut g = quick_group(c, "column_stats");
    g.throughput(Throughput::Elements(nnz));
    g.bench_function("user_item", |b| b.iter(|| column_stats(black_box(x))));
    g.finish();

    let mut g = quick_group(c, "item_cosine_topn");
    g.throughput(Throughput::Elements(nnz));
    g.bench_function("n50_shrink10", |b| {
        b.iter(|| item_cosine_topn(black_box(x), &d.sq_norms, 10.0, 50))
    });
    g.finish();

    let mut g = quick_group(c, "cooccurrence");
    g.throughput(Throughput::Elements(nnz));
    g.bench_function("user_item", |b| b.iter(|| cooccurrence(black_box(x))));
    g.finish();

    let dots = cooccurrence(x).unwrap_or_else(|e| panic!("{e}"));
    let mut g = quick_group(c, "cosine_topn_from_dots");
    g.throughput(Throughput::Elements(dots.nnz() as u64));
    g.bench_function("n50_shrink10", |b| {
        b.iter(|| cosine_topn_from_dots(black_box(dots.view()), &d.sq_norms, 10.0, 50))
    });
    g.finish();
    drop(dots);

    let w = item_cosine_topn(x, &d.sq_norms, 10.0, 50).unwrap_or_else(|e| panic!("{e}"));
    let seen = ItemFilter {
        exclude: Some(x.pattern()),
        candidates: None,
    };
    let mut g = quick_group(c, "neighbour_topk");
    g.throughput(Throughput::Elements(N_USERS as u64));
    g.bench_function("k10_exclude_seen", |b| {
        b.iter(|| neighbour_topk(black_box(x), w.view(), 10, seen))
    });
    g.finish();

    let dense_rows = 1_000usize;
    let mut rng = SplitMix64(SEED ^ 1);
    let dense: Vec<f64> = (0..dense_rows * N_ITEMS).map(|_| rng.unit()).collect();
    let mut g = quick_group(c, "topk_dense");
    g.throughput(Throughput::Elements(dense.len() as u64));
    g.bench_function("1000x5000_k10", |b| {
        b.iter(|| {
            topk_dense(
                black_box(&dense),
                dense_rows,
                N_ITEMS,
                10,
                ItemFilter::default(),
            )
        })
    });
    g.finish();
    drop(dense);

    let popularity: Vec<f64> = column_stats(x).map(|s| s.sums).unwrap_or_default();
    let mut g = quick_group(c, "topk_ranked");
    g.throughput(Throughput::Elements(N_USERS as u64));
    g.bench_function("k10_exclude_seen", |b| {
        b.iter(|| topk_ranked(black_box(&popularity), N_USERS, 10, seen))
    });
    g.finish();

    let mut g = quick_group(c, "topk_csr");
    g.throughput(Throughput::Elements(nnz));
    g.bench_function("user_item_k10", |b| {
        b.iter(|| topk_csr(black_box(x), 10, ItemFilter::default()))
    });
    g.finish();

    let m = 1_000_000usize;
    let totals: Vec<f64> = (0..m).map(|_| (rng.next_u64() % 1000) as f64).collect();
    let positives: Vec<f64> = totals.iter().map(|&n| (n * rng.unit()).floor()).collect();
    let mut g = quick_group(c, "wilson_lower_bound");
    g.throughput(Throughput::Elements(m as u64));
    g.bench_function("1M", |b| {
        b.iter(|| wilson_lower_bound(black_box(&positives), &totals, 1.959963984540054))
    });
    g.finish();
}

/// The first `n_items` columns of `d`'s log (duplicates summed).
fn first_items(d: &Data, n_items: usize) -> Csr {
    let keep: Vec<usize> = (0..d.cols.len())
        .filter(|&p| (d.cols[p] as usize) < n_items)
        .collect();
    let pick = |v: &[i32]| keep.iter().map(|&p| v[p]).collect::<Vec<i32>>();
    let values: Vec<f64> = keep.iter().map(|&p| d.values[p]).collect();
    Csr::from_coo(
        &pick(&d.rows),
        &pick(&d.cols),
        &values,
        N_USERS,
        n_items,
        Duplicates::Sum,
    )
    .unwrap_or_else(|e| panic!("bench data: {e}"))
}

/// Dense row-major Gram matrix `XᵀX` of a user × item matrix.
fn dense_gram(x: &Csr) -> Vec<f64> {
    let n = x.n_cols;
    let mut g = vec![0.0; n * n];
    let dots = cooccurrence(x.view()).unwrap_or_else(|e| panic!("{e}"));
    let dv = dots.view();
    for i in 0..n {
        let (cols, vals) = dv.row(i);
        for (&j, &v) in cols.iter().zip(vals) {
            g[i * n + j as usize] = v;
        }
    }
    let sq = column_stats(x.view())
        .map(|s| s.sums_of_squares)
        .unwrap_or_else(|e| panic!("{e}"));
    for (i, v) in sq.into_iter().enumerate() {
        g[i * n + i] = v;
    }
    g
}

/// 100 000 sessions of 1 to 20 distinct items out of 5 000, popularity heavy-tailed, weight 1.
fn sessions() -> Csr {
    let n_sessions = 100_000usize;
    let mut rng = SplitMix64(SEED ^ 2);
    let (mut rows, mut cols) = (Vec::new(), Vec::new());
    for s in 0..n_sessions {
        let len = 1 + rng.power_law(20, 2.0);
        for _ in 0..len {
            rows.push(s as i32);
            cols.push(rng.power_law(N_ITEMS, 3.0) as i32);
        }
    }
    let ones = vec![1.0; rows.len()];
    Csr::from_coo(&rows, &cols, &ones, n_sessions, N_ITEMS, Duplicates::Max)
        .unwrap_or_else(|e| panic!("bench data: {e}"))
}

fn model_benches(c: &mut Criterion) {
    let d = data();

    let x = first_items(&d, 2_000);
    let w = slim_fit(x.view(), 0.01, 0.05, 5_000, 1e-4).unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "slim_fit bench: {} x {}, {} nnz -> W with {} nnz",
        N_USERS,
        x.n_cols,
        x.nnz(),
        w.nnz()
    );
    let mut g = quick_group(c, "slim_fit");
    g.sample_size(10);
    g.throughput(Throughput::Elements(x.n_cols as u64));
    g.bench_function("2000_items_beta0.01_lambda0.05_tol1e-4", |b| {
        b.iter(|| slim_fit(black_box(x.view()), 0.01, 0.05, 5_000, 1e-4))
    });
    g.finish();

    let n = 500usize;
    let gram = dense_gram(&first_items(&d, n));
    let mut rng = SplitMix64(SEED ^ 3);
    let mut draw = || (0..n * n).map(|_| rng.unit()).collect::<Vec<f64>>();
    let (b0, c0, gamma0) = (draw(), draw(), draw());
    let start = AdmmStart {
        b: &b0,
        c: &c0,
        gamma: &gamma0,
    };
    let params = AdmmParams {
        lambda_1: 5.0,
        lambda_2: 5_000.0,
        rho: 5_000.0,
        max_iter: 20,
    };
    let fit = admm_slim_fit(&gram, n, start, params).unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "admm_slim_fit bench: {} iterations, final rho {}",
        fit.iterations, fit.rho
    );
    let mut g = quick_group(c, "admm_slim_fit");
    g.throughput(Throughput::Elements(params.max_iter as u64));
    g.bench_function("500_items_20_iterations", |b| {
        b.iter(|| admm_slim_fit(black_box(&gram), n, start, params))
    });
    g.finish();

    let s = sessions();
    let r = rules_count(s.view(), 5, 5).unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "rules_count bench: {} sessions, {} nnz -> {} rules",
        s.n_rows,
        s.nnz(),
        r.ante.len()
    );
    let mut g = quick_group(c, "rules_count");
    g.throughput(Throughput::Elements(s.nnz() as u64));
    g.bench_function("100k_sessions_min5_min5", |b| {
        b.iter(|| rules_count(black_box(s.view()), 5, 5))
    });
    g.finish();
}

criterion_group!(kernels, benches, model_benches);
criterion_main!(kernels);
