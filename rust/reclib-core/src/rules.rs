//! Association-rule counts: how many sessions hold each item and each pair of items, and with
//! what total weight (MODELS.md §4.10).
//!
//! Input is a session × item matrix `X` (canonical CSR) whose stored value `w` is the weight of
//! the item in the session (1 without relevance; the caller merges repeats, e.g. with "max").
//! Then, over sessions `s`:
//!
//! ```text
//! item_count(i) = #{s : X[s, i] stored}          item_rel(i) = Σ_s X[s, i]
//! frequent(i)   = item_count(i) ≥ min_item_count
//! for frequent a ≠ b:  pair_count(a, b) = #{s holding both}
//!                      pair_rel(a, b)   = Σ_{s holding both} min(X[s, a], X[s, b])
//! ```
//!
//! Pairs with `pair_count ≥ min_pair_count` are returned in both directions (`a → b` and
//! `b → a` carry the same numbers), sorted by antecedent then consequent. A stored zero weight
//! still counts as an occurrence. `min_item_count = 0` and `min_pair_count = 0` (or 1) turn the
//! filters off.
//!
//! # Merging partial counts
//!
//! Every output is a sum over sessions, so counts of disjoint sets of sessions (Spark
//! partitions) can be added: run each part with both minimums at 0, add `item_count`,
//! `item_rel`, `pair_count` and `pair_rel` by key, then keep pairs whose two items have a merged
//! `item_count ≥ min_item_count` and whose merged `pair_count ≥ min_pair_count`. That equals a
//! single run on all sessions, because the item filter only removes pairs and never changes
//! the numbers of the pairs it keeps. Filtering items per part before merging would be wrong.
//!
//! # How and determinism
//!
//! `X` is transposed once. For each frequent antecedent `a` (items in parallel blocks balanced
//! by work), every session `s` of `a` in ascending order and every frequent item `b ≠ a` of `s`
//! add `1` and `min(w_a, w_b)` into a per-thread sparse accumulator. Each sum therefore runs in
//! ascending session order whatever the thread count, and `pair_rel(a, b)` and `pair_rel(b, a)`
//! add the same terms in the same order: the results are bit-identical across thread counts
//! and exactly symmetric. `item_rel` is also summed in ascending session order, so when every
//! session of `c` holds `a` with a weight at least `w_c`, `item_rel(c) − pair_rel(a, c)` is
//! exactly 0 (the infinite confidence gain of MODELS.md).

use rayon::prelude::*;

use crate::error::{CoreError, CoreResult};
use crate::parallel;
use crate::sparse::CsrView;

/// Output of [`rules_count`]: per-item statistics for all items, and the kept pairs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RuleCounts {
    /// Sessions holding each item (length `n_items`, not filtered).
    pub item_count: Vec<i64>,
    /// Sum of each item's weights (length `n_items`, not filtered).
    pub item_rel: Vec<f64>,
    /// Antecedent of each kept pair.
    pub ante: Vec<i32>,
    /// Consequent of each kept pair.
    pub cons: Vec<i32>,
    /// Sessions holding both items.
    pub pair_count: Vec<i64>,
    /// Sum over those sessions of the smaller of the two weights.
    pub pair_rel: Vec<f64>,
}

/// Pairs produced by one block of antecedents.
#[derive(Default)]
struct PairsOut {
    ante: Vec<i32>,
    cons: Vec<i32>,
    count: Vec<i64>,
    rel: Vec<f64>,
}

/// Dense count and weight per consequent, plus the list of consequents touched.
struct PairAccumulator {
    count: Vec<i64>,
    rel: Vec<f64>,
    touched: Vec<i32>,
}

impl PairAccumulator {
    fn new(n: usize) -> Self {
        PairAccumulator {
            count: vec![0; n],
            rel: vec![0.0; n],
            touched: Vec::new(),
        }
    }

    #[inline]
    fn add(&mut self, b: i32, w: f64) {
        let j = b as usize;
        if self.count[j] == 0 {
            self.touched.push(b);
            self.rel[j] = w;
        } else {
            self.rel[j] += w;
        }
        self.count[j] += 1;
    }

    /// Appends the touched pairs of antecedent `a` with count ≥ `min_count` to `out`, ascending
    /// consequent, and clears the accumulator.
    fn drain(&mut self, a: i32, min_count: i64, out: &mut PairsOut) {
        self.touched.sort_unstable();
        for &b in &self.touched {
            let j = b as usize;
            if self.count[j] >= min_count {
                out.ante.push(a);
                out.cons.push(b);
                out.count.push(self.count[j]);
                out.rel.push(self.rel[j]);
            }
            self.count[j] = 0;
        }
        self.touched.clear();
    }
}

/// Counts items and pairs of a session × item matrix `x` (see the module docs).
///
/// `n_items = x.n_cols()`. Errors: a non-finite value in `data`; `n_sessions` beyond `i32`
/// range (from the transpose).
pub fn rules_count(
    x: CsrView<'_>,
    min_item_count: usize,
    min_pair_count: usize,
) -> CoreResult<RuleCounts> {
    let n_items = x.n_cols();
    parallel::install(|| {
        let data = x.data();
        if let Some(p) = data.par_iter().position_first(|v| !v.is_finite()) {
            return Err(CoreError::invalid_value(
                "data",
                p,
                data[p],
                "a finite number",
            ));
        }
        let xt = x.transpose()?;
        let xt = xt.view();
        let (item_count, item_rel): (Vec<i64>, Vec<f64>) = (0..n_items)
            .into_par_iter()
            .map(|i| {
                let (sessions, w) = xt.row(i);
                (sessions.len() as i64, w.iter().sum::<f64>())
            })
            .unzip();
        let min_item = i64::try_from(min_item_count).unwrap_or(i64::MAX);
        let min_pair = i64::try_from(min_pair_count).unwrap_or(i64::MAX);
        let frequent: Vec<bool> = item_count.iter().map(|&n| n > 0 && n >= min_item).collect();

        // Work of antecedent a: the lengths of its sessions.
        let mut cum = Vec::with_capacity(n_items + 1);
        let mut total = 0u64;
        cum.push(0u64);
        for (a, &is_frequent) in frequent.iter().enumerate() {
            total += 1;
            if is_frequent {
                let sessions = xt.row(a).0;
                total += sessions
                    .iter()
                    .map(|&s| x.row_range(s as usize).len() as u64)
                    .sum::<u64>();
            }
            cum.push(total);
        }
        let blocks = parallel::split_by_cost(n_items, parallel::n_blocks_for(n_items), |i| cum[i]);
        let parts: Vec<PairsOut> = blocks
            .par_iter()
            .with_max_len(1)
            .map_init(
                || PairAccumulator::new(n_items),
                |acc, items| {
                    let mut out = PairsOut::default();
                    for a in items.clone().filter(|&a| frequent[a]) {
                        let (sessions, wa) = xt.row(a);
                        for (&s, &w_a) in sessions.iter().zip(wa) {
                            let (bs, wb) = x.row(s as usize);
                            for (&b, &w_b) in bs.iter().zip(wb) {
                                if b as usize != a && frequent[b as usize] {
                                    acc.add(b, w_a.min(w_b));
                                }
                            }
                        }
                        acc.drain(a as i32, min_pair, &mut out);
                    }
                    out
                },
            )
            .collect();

        let m: usize = parts.iter().map(|p| p.ante.len()).sum();
        let mut r = RuleCounts {
            item_count,
            item_rel,
            ante: Vec::with_capacity(m),
            cons: Vec::with_capacity(m),
            pair_count: Vec::with_capacity(m),
            pair_rel: Vec::with_capacity(m),
        };
        for p in parts {
            r.ante.extend_from_slice(&p.ante);
            r.cons.extend_from_slice(&p.cons);
            r.pair_count.extend_from_slice(&p.count);
            r.pair_rel.extend_from_slice(&p.rel);
        }
        Ok(r)
    })?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sparse::{Csr, Duplicates};

    /// The 11-row fixture of MODELS.md §12.1 with sessions = users, one entry per (user, item):
    /// weight 1, or the relevance merged with "max" (user 3, item 0: max(5, 1) = 5).
    ///   u0: {0: 4, 1: 2, 2: 3}   u1: {0: 4, 3: 3}   u2: {0: 5, 1: 5, 2: 3}   u3: {0: 5, 1: 5}
    fn fixture(use_relevance: bool) -> Csr {
        let log: [(i32, i32, f64); 11] = [
            (0, 0, 4.0),
            (0, 2, 3.0),
            (0, 1, 2.0),
            (1, 3, 3.0),
            (1, 0, 4.0),
            (2, 1, 5.0),
            (2, 0, 5.0),
            (2, 2, 3.0),
            (3, 1, 5.0),
            (3, 0, 5.0),
            (3, 0, 1.0),
        ];
        let rows: Vec<i32> = log.iter().map(|e| e.0).collect();
        let cols: Vec<i32> = log.iter().map(|e| e.1).collect();
        let vals: Vec<f64> = log
            .iter()
            .map(|e| if use_relevance { e.2 } else { 1.0 })
            .collect();
        Csr::from_coo(&rows, &cols, &vals, 4, 4, Duplicates::Max).unwrap()
    }

    fn pairs(r: &RuleCounts) -> Vec<(i32, i32, i64, f64)> {
        (0..r.ante.len())
            .map(|k| (r.ante[k], r.cons[k], r.pair_count[k], r.pair_rel[k]))
            .collect()
    }

    #[test]
    fn fixture_without_relevance() {
        // item sessions: 0 → {0,1,2,3}, 1 → {0,2,3}, 2 → {0,2}, 3 → {1}
        // pairs: (0,1) in sessions 0,2,3 → 3; (0,2) in 0,2 → 2; (0,3) in 1 → 1;
        // (1,2) in 0,2 → 2.
        // MODELS.md: S = 4, rel(2) = 2, rel(1) = 3, pair_rel(2,1) = 2.
        let r = rules_count(fixture(false).view(), 1, 1).unwrap();
        assert_eq!(r.item_count, vec![4, 3, 2, 1]);
        assert_eq!(r.item_rel, vec![4.0, 3.0, 2.0, 1.0]);
        assert_eq!(
            pairs(&r),
            vec![
                (0, 1, 3, 3.0),
                (0, 2, 2, 2.0),
                (0, 3, 1, 1.0),
                (1, 0, 3, 3.0),
                (1, 2, 2, 2.0),
                (2, 0, 2, 2.0),
                (2, 1, 2, 2.0),
                (3, 0, 1, 1.0),
            ]
        );
        // min 0 means the same as min 1 here.
        assert_eq!(rules_count(fixture(false).view(), 0, 0).unwrap(), r);
    }

    #[test]
    fn fixture_with_relevance() {
        // rel(0) = 4 + 4 + 5 + 5 = 18, rel(1) = 2 + 5 + 5 = 12, rel(2) = 3 + 3 = 6, rel(3) = 3.
        // pair_rel(2,1) = min(3, 2) + min(3, 5) = 5 (MODELS.md); (0,1) = min(4,2) + min(5,5) +
        // min(5,5) = 12; (0,2) = 3 + 3 = 6; (0,3) = min(4, 3) = 3.
        let r = rules_count(fixture(true).view(), 1, 1).unwrap();
        assert_eq!(r.item_rel, vec![18.0, 12.0, 6.0, 3.0]);
        assert_eq!(
            pairs(&r),
            vec![
                (0, 1, 3, 12.0),
                (0, 2, 2, 6.0),
                (0, 3, 1, 3.0),
                (1, 0, 3, 12.0),
                (1, 2, 2, 5.0),
                (2, 0, 2, 6.0),
                (2, 1, 2, 5.0),
                (3, 0, 1, 3.0),
            ]
        );
        // Item 2 only ever appears with item 0 weighing more: rel(2) − pair_rel(0, 2) = 0.
        assert_eq!(r.item_rel[2] - r.pair_rel[1], 0.0);
    }

    #[test]
    fn filters() {
        // min_item_count 3: frequent {0 (4), 1 (3)}; the only pair is (0,1) with count 3.
        let r = rules_count(fixture(false).view(), 3, 1).unwrap();
        assert_eq!(r.item_count, vec![4, 3, 2, 1]); // item stats are never filtered
        assert_eq!(pairs(&r), vec![(0, 1, 3, 3.0), (1, 0, 3, 3.0)]);
        let r = rules_count(fixture(false).view(), 1, 2).unwrap();
        assert_eq!(r.ante, vec![0, 0, 1, 1, 2, 2]);
        assert_eq!(r.cons, vec![1, 2, 0, 2, 0, 1]);
        let r = rules_count(fixture(false).view(), 1, 4).unwrap();
        assert!(r.ante.is_empty() && r.pair_rel.is_empty());
        let r = rules_count(fixture(false).view(), 5, 1).unwrap();
        assert!(r.ante.is_empty());
    }

    /// A seeded random session × item matrix.
    fn random(n_sessions: usize, n_items: usize, seed: u64) -> Csr {
        let mut s = seed;
        let mut next = || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            s >> 33
        };
        let (mut rows, mut cols, mut vals) = (Vec::new(), Vec::new(), Vec::new());
        for r in 0..n_sessions {
            let len = 1 + next() as usize % 8;
            for _ in 0..len {
                rows.push(r as i32);
                // squared: low ids popular
                let u = (next() % 1000) as f64 / 1000.0;
                cols.push((u * u * n_items as f64) as i32);
                vals.push((next() % 7) as f64 / 3.0);
            }
        }
        Csr::from_coo(&rows, &cols, &vals, n_sessions, n_items, Duplicates::Max).unwrap()
    }

    #[test]
    fn matches_pair_enumeration_and_threads() {
        let x = random(500, 40, 9);
        let (min_item, min_pair) = (5, 2);
        let r = rules_count(x.view(), min_item, min_pair).unwrap();
        // Reference: enumerate a < b per session.
        let mut count = vec![vec![0i64; 40]; 40];
        let mut rel = vec![vec![0.0f64; 40]; 40];
        let v = x.view();
        let freq: Vec<bool> = r.item_count.iter().map(|&c| c >= min_item as i64).collect();
        for s in 0..v.n_rows() {
            let (items, w) = v.row(s);
            for p in 0..items.len() {
                for q in p + 1..items.len() {
                    let (a, b) = (items[p] as usize, items[q] as usize);
                    if freq[a] && freq[b] {
                        count[a][b] += 1;
                        rel[a][b] += w[p].min(w[q]);
                    }
                }
            }
        }
        let mut expected = Vec::new();
        for a in 0..40 {
            for b in 0..40 {
                let (lo, hi) = (a.min(b), a.max(b));
                if a != b && count[lo][hi] >= min_pair as i64 {
                    expected.push((a as i32, b as i32, count[lo][hi], rel[lo][hi]));
                }
            }
        }
        let got = pairs(&r);
        assert_eq!(got.len(), expected.len());
        assert!(!got.is_empty());
        for (g, e) in got.iter().zip(&expected) {
            assert_eq!((g.0, g.1, g.2), (e.0, e.1, e.2));
            assert!((g.3 - e.3).abs() < 1e-9);
        }
        let run = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| rules_count(x.view(), min_item, min_pair).unwrap())
        };
        assert_eq!(run(1), r);
        assert_eq!(run(3), r);
    }

    #[test]
    fn partitions_merge_then_filter() {
        // Sessions split in two halves, counted without filters, summed, then filtered: the same
        // pairs and counts as one filtered run.
        let x = random(300, 30, 5);
        let v = x.view();
        let half = |range: std::ops::Range<usize>| {
            let base = v.indptr()[range.start];
            let indptr: Vec<i64> = v.indptr()[range.start..=range.end]
                .iter()
                .map(|p| p - base)
                .collect();
            let (lo, hi) = (base as usize, v.indptr()[range.end] as usize);
            Csr {
                n_rows: range.len(),
                n_cols: 30,
                indptr,
                indices: v.indices()[lo..hi].to_vec(),
                data: v.data()[lo..hi].to_vec(),
            }
        };
        let (p1, p2) = (half(0..120), half(120..300));
        let r1 = rules_count(p1.view(), 0, 0).unwrap();
        let r2 = rules_count(p2.view(), 0, 0).unwrap();
        let item_count: Vec<i64> = r1
            .item_count
            .iter()
            .zip(&r2.item_count)
            .map(|(a, b)| a + b)
            .collect();
        let mut merged = std::collections::BTreeMap::new();
        for r in [&r1, &r2] {
            for (a, b, c, w) in pairs(r) {
                let e = merged.entry((a, b)).or_insert((0i64, 0.0f64));
                e.0 += c;
                e.1 += w;
            }
        }
        let (min_item, min_pair) = (8i64, 3i64);
        let filtered: Vec<(i32, i32, i64)> = merged
            .into_iter()
            .filter(|&((a, b), (c, _))| {
                item_count[a as usize] >= min_item
                    && item_count[b as usize] >= min_item
                    && c >= min_pair
            })
            .map(|((a, b), (c, _))| (a, b, c))
            .collect();
        let whole = rules_count(v, min_item as usize, min_pair as usize).unwrap();
        assert_eq!(whole.item_count, item_count);
        let whole_pairs: Vec<(i32, i32, i64)> = pairs(&whole)
            .into_iter()
            .map(|(a, b, c, _)| (a, b, c))
            .collect();
        assert_eq!(whole_pairs, filtered);
        assert!(!filtered.is_empty());
    }

    #[test]
    fn empty_and_errors() {
        let x = CsrView::new(&[0, 0], &[], &[], 3).unwrap();
        let r = rules_count(x, 1, 1).unwrap();
        assert_eq!(r.item_count, vec![0, 0, 0]);
        assert!(r.ante.is_empty());
        let x = CsrView::new(&[0, 2], &[0, 1], &[1.0, f64::NAN], 2).unwrap();
        assert_eq!(
            rules_count(x, 1, 1).unwrap_err().to_string(),
            "`data`[1] = NaN, expected a finite number"
        );
    }
}
