//! Top-k selection: per row, the `k` best items of a score matrix, minus excluded items.
//!
//! Three score layouts are served: a dense row-major matrix ([`topk_dense`]), one score vector
//! shared by every row ([`topk_ranked`], e.g. popularity), and a sparse CSR matrix
//! ([`topk_csr`]). Neighbourhood scoring, which builds sparse scores on the fly, lives in
//! [`crate::scoring`] and reuses the pieces here.
//!
//! # Rules shared by every top-k kernel
//!
//! * Rank order is score descending, ties broken by item ascending. This is a strict total
//!   order on the candidates of a row (items are distinct), so results never depend on
//!   iteration order or thread count.
//! * NaN scores are never selected; `-0.0` and `0.0` tie.
//! * An [`ItemFilter`] removes, per row, the items listed in that row of `exclude` and, for all
//!   rows, the items whose `candidates` flag is false.
//! * `k == 0` gives an empty result; a row with fewer than `k` eligible items returns them all.
//! * Output is [`TopK`]: three parallel arrays, rows ascending, each row in rank order.
//!
//! Selection is bounded: `select_nth_unstable_by` moves the best `k` to the front in O(n),
//! then only those `k` are sorted, so a row costs O(n + k log k) rather than O(n log n).

use std::cmp::Ordering;

use rayon::prelude::*;

use crate::error::{CoreError, CoreResult};
use crate::parallel;
use crate::sparse::{CsrView, Pattern, MAX_INDEX_DIM};

/// Result of a top-k kernel: entry `e` says item `items[e]` is recommended to row `rows[e]`
/// with score `scores[e]`. Rows ascend; within a row entries are in rank order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TopK {
    /// Row (user) of each entry.
    pub rows: Vec<i64>,
    /// Item of each entry.
    pub items: Vec<i32>,
    /// Score of each entry.
    pub scores: Vec<f64>,
}

impl TopK {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The three arrays, for handing to Python without a copy.
    pub fn into_parts(self) -> (Vec<i64>, Vec<i32>, Vec<f64>) {
        (self.rows, self.items, self.scores)
    }

    fn push_row(&mut self, row: usize, ranked: &[(i32, f64)]) {
        for &(item, score) in ranked {
            self.rows.push(row as i64);
            self.items.push(item);
            self.scores.push(score);
        }
    }

    /// Concatenates per-block results in order.
    fn concat(parts: Vec<TopK>) -> TopK {
        let total = parts.iter().map(TopK::len).sum();
        let mut out = TopK {
            rows: Vec::with_capacity(total),
            items: Vec::with_capacity(total),
            scores: Vec::with_capacity(total),
        };
        for p in parts {
            out.rows.extend_from_slice(&p.rows);
            out.items.extend_from_slice(&p.items);
            out.scores.extend_from_slice(&p.scores);
        }
        out
    }
}

/// Which items each row may receive: not in its row of `exclude`, and flagged in `candidates`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ItemFilter<'a> {
    /// Per-row items to drop (a [`Pattern`] with one row per score row).
    pub exclude: Option<Pattern<'a>>,
    /// Per-item flag; `false` items are never returned.
    pub candidates: Option<&'a [bool]>,
}

impl<'a> ItemFilter<'a> {
    /// Checks the filter's shape against `n_rows × n_items` scores. Errors name `exclude` or
    /// `candidates`.
    pub fn validate(&self, n_rows: usize, n_items: usize) -> CoreResult<()> {
        if let Some(ex) = &self.exclude {
            if ex.n_rows() != n_rows {
                return Err(CoreError::invalid(
                    "exclude",
                    format!("a matrix with {} rows", ex.n_rows()),
                    format!("{n_rows} rows, one per row of the scores"),
                ));
            }
            if ex.n_cols() != n_items {
                return Err(CoreError::invalid(
                    "exclude",
                    format!("a matrix with {} columns", ex.n_cols()),
                    format!("{n_items} columns, one per item"),
                ));
            }
        }
        if let Some(c) = self.candidates {
            if c.len() != n_items {
                return Err(CoreError::invalid(
                    "candidates",
                    format!("length {}", c.len()),
                    format!("length n_items = {n_items}"),
                ));
            }
        }
        Ok(())
    }

    #[inline]
    fn is_candidate(&self, item: usize) -> bool {
        self.candidates.is_none_or(|c| c[item])
    }
}

/// Per-thread mask of the current row's excluded items.
pub(crate) struct ExcludeMask {
    excluded: Vec<bool>,
}

impl ExcludeMask {
    /// A mask over `n_items` items, or an empty one when there is nothing to exclude.
    pub(crate) fn new(filter: &ItemFilter<'_>, n_items: usize) -> Self {
        let n = if filter.exclude.is_some() { n_items } else { 0 };
        ExcludeMask {
            excluded: vec![false; n],
        }
    }

    /// Marks row `r`'s excluded items.
    #[inline]
    pub(crate) fn set(&mut self, filter: &ItemFilter<'_>, r: usize) {
        if let Some(ex) = &filter.exclude {
            for &j in ex.row(r) {
                self.excluded[j as usize] = true;
            }
        }
    }

    /// Unmarks row `r`'s excluded items.
    #[inline]
    pub(crate) fn unset(&mut self, filter: &ItemFilter<'_>, r: usize) {
        if let Some(ex) = &filter.exclude {
            for &j in ex.row(r) {
                self.excluded[j as usize] = false;
            }
        }
    }

    /// Whether `item` may be returned for the row currently set.
    #[inline]
    pub(crate) fn allows(&self, filter: &ItemFilter<'_>, item: usize) -> bool {
        !self.excluded.get(item).copied().unwrap_or(false) && filter.is_candidate(item)
    }
}

/// Rank order of the top-k kernels: score descending, then item ascending. Scores must not be
/// NaN (callers filter them), which makes this a total order.
#[inline]
pub(crate) fn rank_order(a: &(i32, f64), b: &(i32, f64)) -> Ordering {
    b.1.partial_cmp(&a.1)
        .unwrap_or(Ordering::Equal)
        .then(a.0.cmp(&b.0))
}

/// Keeps the `k` best elements of `buf` under `cmp` (best = smallest), in no particular order.
pub(crate) fn select_best<T, F>(buf: &mut Vec<T>, k: usize, mut cmp: F)
where
    F: FnMut(&T, &T) -> Ordering,
{
    if k == 0 {
        buf.clear();
    } else if buf.len() > k {
        buf.select_nth_unstable_by(k - 1, &mut cmp);
        buf.truncate(k);
    }
}

/// Keeps the `k` best `(item, score)` pairs of `buf` and sorts them in rank order.
pub(crate) fn finish_row(buf: &mut Vec<(i32, f64)>, k: usize) {
    select_best(buf, k, rank_order);
    buf.sort_unstable_by(rank_order);
}

/// Fills `buf` with the `k` best of `items` under `cmp` (best = smallest), in no particular
/// order, never holding more than `max(2k, 32)` of them.
///
/// Whenever the buffer fills up it is cut to the best `k`, and the worst of those becomes a
/// threshold: later items that do not beat it are rejected with one comparison. With `k` much
/// smaller than the row this makes a row O(n) with a small constant instead of pushing and
/// selecting over all `n`.
pub(crate) fn gather_best<F>(
    buf: &mut Vec<(i32, f64)>,
    k: usize,
    items: impl Iterator<Item = (i32, f64)>,
    mut cmp: F,
) where
    F: FnMut(&(i32, f64), &(i32, f64)) -> Ordering,
{
    buf.clear();
    if k == 0 {
        return;
    }
    let cap = (2 * k).max(32);
    let mut worst: Option<(i32, f64)> = None;
    for e in items {
        if let Some(w) = &worst {
            // Items are distinct, so "not better than the k-th best" means strictly worse.
            if cmp(&e, w) != Ordering::Less {
                continue;
            }
        }
        buf.push(e);
        if buf.len() >= cap {
            buf.select_nth_unstable_by(k - 1, &mut cmp);
            buf.truncate(k);
            worst = Some(buf[k - 1]);
        }
    }
    select_best(buf, k, cmp);
}

/// [`gather_best`] under the rank order, then sorted in rank order.
pub(crate) fn gather_ranked(
    buf: &mut Vec<(i32, f64)>,
    k: usize,
    items: impl Iterator<Item = (i32, f64)>,
) {
    gather_best(buf, k, items, rank_order);
    buf.sort_unstable_by(rank_order);
}

/// Runs `fill_row` for every row, in parallel blocks balanced by `cum` (cumulative cost), and
/// concatenates the rows' ranked lists in row order. `fill_row` must leave the row's final
/// ranked list in the buffer it is given (cleared before each call).
pub(crate) fn collect_rows<S, I, F>(
    n_rows: usize,
    cum: impl Fn(usize) -> u64 + Sync,
    init: I,
    fill_row: F,
) -> TopK
where
    I: Fn() -> S + Sync + Send,
    F: Fn(&mut S, usize, &mut Vec<(i32, f64)>) + Sync + Send,
{
    let blocks = parallel::split_by_cost(n_rows, parallel::n_blocks_for(n_rows), cum);
    let parts: Vec<TopK> = blocks
        .par_iter()
        .with_max_len(1)
        .map_init(
            || (init(), Vec::new()),
            |(state, buf), rows| {
                let mut out = TopK::default();
                for r in rows.clone() {
                    buf.clear();
                    fill_row(state, r, buf);
                    out.push_row(r, buf);
                }
                out
            },
        )
        .collect();
    TopK::concat(parts)
}

fn check_items(n_items: usize) -> CoreResult<()> {
    if n_items > MAX_INDEX_DIM {
        return Err(CoreError::invalid(
            "n_items",
            n_items,
            format!("at most {MAX_INDEX_DIM} (int32 item indices)"),
        ));
    }
    Ok(())
}

/// Per-row top-k of a dense row-major `n_rows × n_cols` score matrix.
///
/// Errors: `scores.len() != n_rows * n_cols` (names `scores`); a filter of the wrong shape.
pub fn topk_dense(
    scores: &[f64],
    n_rows: usize,
    n_cols: usize,
    k: usize,
    filter: ItemFilter<'_>,
) -> CoreResult<TopK> {
    check_items(n_cols)?;
    if n_rows.checked_mul(n_cols) != Some(scores.len()) {
        return Err(CoreError::invalid(
            "scores",
            format!("{} values", scores.len()),
            format!("n_rows × n_cols = {n_rows} × {n_cols} values"),
        ));
    }
    filter.validate(n_rows, n_cols)?;
    if k == 0 || n_cols == 0 {
        return Ok(TopK::default());
    }
    parallel::install(|| {
        collect_rows(
            n_rows,
            |r| (r * n_cols) as u64,
            || ExcludeMask::new(&filter, n_cols),
            |mask, r, buf| {
                mask.set(&filter, r);
                let row = &scores[r * n_cols..(r + 1) * n_cols];
                let items = row
                    .iter()
                    .enumerate()
                    .filter(|&(j, s)| !s.is_nan() && mask.allows(&filter, j))
                    .map(|(j, &s)| (j as i32, s));
                gather_ranked(buf, k, items);
                mask.unset(&filter, r);
            },
        )
    })
}

/// Per-row top-k of one score vector shared by all `n_rows` rows (`scores[j]` is item `j`'s).
///
/// The vector is ranked once (only as deep as `k` plus the longest exclude row can reach);
/// each row then walks the ranking, skipping its own excluded items.
///
/// Errors: a filter of the wrong shape (`exclude` must have `n_rows` rows).
pub fn topk_ranked(
    scores: &[f64],
    n_rows: usize,
    k: usize,
    filter: ItemFilter<'_>,
) -> CoreResult<TopK> {
    let n_items = scores.len();
    check_items(n_items)?;
    filter.validate(n_rows, n_items)?;
    if k == 0 {
        return Ok(TopK::default());
    }
    parallel::install(|| {
        let mut ranking: Vec<(i32, f64)> = scores
            .par_iter()
            .enumerate()
            .filter(|&(j, s)| !s.is_nan() && filter.is_candidate(j))
            .map(|(j, &s)| (j as i32, s))
            .collect();
        let depth = k.saturating_add(filter.exclude.map_or(0, |ex| ex.max_row_len()));
        finish_row(&mut ranking, depth);
        let ranking = &ranking;
        collect_rows(
            n_rows,
            |r| r as u64,
            || ExcludeMask::new(&filter, n_items),
            |mask, r, buf| {
                mask.set(&filter, r);
                buf.extend(
                    ranking
                        .iter()
                        .filter(|&&(j, _)| mask.allows(&filter, j as usize))
                        .take(k),
                );
                mask.unset(&filter, r);
            },
        )
    })
}

/// Per-row top-k of a sparse score matrix; only stored entries are candidates.
///
/// Errors: a filter of the wrong shape.
pub fn topk_csr(x: CsrView<'_>, k: usize, filter: ItemFilter<'_>) -> CoreResult<TopK> {
    let n_items = x.n_cols();
    filter.validate(x.n_rows(), n_items)?;
    if k == 0 {
        return Ok(TopK::default());
    }
    let indptr = x.indptr();
    parallel::install(|| {
        collect_rows(
            x.n_rows(),
            |r| indptr[r] as u64 + r as u64,
            || ExcludeMask::new(&filter, n_items),
            |mask, r, buf| {
                mask.set(&filter, r);
                let (cols, vals) = x.row(r);
                let items = cols
                    .iter()
                    .zip(vals)
                    .filter(|&(&j, s)| !s.is_nan() && mask.allows(&filter, j as usize))
                    .map(|(&j, &s)| (j, s));
                gather_ranked(buf, k, items);
                mask.unset(&filter, r);
            },
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAN: f64 = f64::NAN;

    fn parts(t: &TopK) -> (Vec<i64>, Vec<i32>, Vec<f64>) {
        t.clone().into_parts()
    }

    #[test]
    fn dense_by_hand_with_ties_and_nan() {
        // row 0: [0.5, NaN, 0.9, 0.5]  -> rank: item 2 (0.9), item 0 (0.5, tie won by lower id),
        //                                  item 3 (0.5); NaN item 1 never selected.
        // row 1: [1, 1, 1, 1] all tied  -> items 0, 1 for k=2.
        let s = [0.5, NAN, 0.9, 0.5, 1., 1., 1., 1.];
        let t = topk_dense(&s, 2, 4, 2, ItemFilter::default()).unwrap();
        assert_eq!(
            parts(&t),
            (vec![0, 0, 1, 1], vec![2, 0, 0, 1], vec![0.9, 0.5, 1., 1.])
        );
        // k larger than the row: all non-NaN items of each row, in rank order
        let t = topk_dense(&s, 2, 4, 10, ItemFilter::default()).unwrap();
        assert_eq!(t.items, vec![2, 0, 3, 0, 1, 2, 3]);
        assert_eq!(t.rows, vec![0, 0, 0, 1, 1, 1, 1]);
        // k = 0 and empty inputs
        assert!(topk_dense(&s, 2, 4, 0, ItemFilter::default())
            .unwrap()
            .is_empty());
        assert!(topk_dense(&[], 0, 4, 3, ItemFilter::default())
            .unwrap()
            .is_empty());
        assert!(topk_dense(&[], 3, 0, 3, ItemFilter::default())
            .unwrap()
            .is_empty());
        // all NaN row gives nothing
        assert!(topk_dense(&[NAN, NAN], 1, 2, 1, ItemFilter::default())
            .unwrap()
            .is_empty());
        // -0.0 and 0.0 tie: item order decides
        let t = topk_dense(&[0.0, -0.0], 1, 2, 1, ItemFilter::default()).unwrap();
        assert_eq!(t.items, vec![0]);
        let t = topk_dense(&[-0.0, 0.0], 1, 2, 1, ItemFilter::default()).unwrap();
        assert_eq!(t.items, vec![0]);
    }

    #[test]
    fn dense_exclude_and_candidates() {
        // row 0: [3, 2, 1], exclude {0}      -> items 1 (2), 2 (1)
        // row 1: [1, 2, 3], exclude {2, 1}   -> item 0 (1)
        // candidates [T, T, F] then removes item 2 everywhere.
        let s = [3., 2., 1., 1., 2., 3.];
        let ex = Pattern::new(&[0, 1, 3], &[0, 2, 1], 3).unwrap();
        let f = ItemFilter {
            exclude: Some(ex),
            candidates: None,
        };
        let t = topk_dense(&s, 2, 3, 5, f).unwrap();
        assert_eq!(parts(&t), (vec![0, 0, 1], vec![1, 2, 0], vec![2., 1., 1.]));
        let cand = [true, true, false];
        let f = ItemFilter {
            exclude: Some(ex),
            candidates: Some(&cand),
        };
        let t = topk_dense(&s, 2, 3, 5, f).unwrap();
        assert_eq!(parts(&t), (vec![0, 1], vec![1, 0], vec![2., 1.]));
        // all items excluded -> empty
        let all = Pattern::new(&[0, 3, 6], &[0, 1, 2, 2, 1, 0], 3).unwrap();
        let f = ItemFilter {
            exclude: Some(all),
            candidates: None,
        };
        assert!(topk_dense(&s, 2, 3, 5, f).unwrap().is_empty());
    }

    #[test]
    fn dense_shape_errors() {
        let e = topk_dense(&[1., 2., 3.], 2, 2, 1, ItemFilter::default()).unwrap_err();
        assert!(e.to_string().starts_with("invalid `scores`: got 3 values"));
        let ex = Pattern::new(&[0, 0], &[], 2).unwrap();
        let f = ItemFilter {
            exclude: Some(ex),
            candidates: None,
        };
        let e = topk_dense(&[1., 2., 3., 4.], 2, 2, 1, f).unwrap_err();
        assert_eq!(
            e.to_string(),
            concat!(
                "invalid `exclude`: got a matrix with 1 rows, expected 2 rows, ",
                "one per row of the scores"
            )
        );
        let cand = [true];
        let f = ItemFilter {
            exclude: None,
            candidates: Some(&cand),
        };
        let e = topk_dense(&[1., 2., 3., 4.], 2, 2, 1, f).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid `candidates`: got length 1, expected length n_items = 2"
        );
    }

    #[test]
    fn ranked_by_hand() {
        // scores [0.2, 0.9, NaN, 0.9, 0.5]: ranking 1 (0.9), 3 (0.9, tie -> higher id later),
        // 4 (0.5), 0 (0.2); item 2 is NaN.
        let s = [0.2, 0.9, NAN, 0.9, 0.5];
        let t = topk_ranked(&s, 2, 2, ItemFilter::default()).unwrap();
        assert_eq!(
            parts(&t),
            (vec![0, 0, 1, 1], vec![1, 3, 1, 3], vec![0.9, 0.9, 0.9, 0.9])
        );
        // row 0 excludes {1, 3} -> 4, 0; row 1 excludes {} -> 1, 3; row 2 excludes all -> none
        let ex = Pattern::new(&[0, 2, 2, 5], &[3, 1, 0, 1, 2], 5).unwrap();
        let ex2 = Pattern::new(&[0, 2, 2, 7], &[3, 1, 0, 1, 2, 3, 4], 5).unwrap();
        let t = topk_ranked(
            &s,
            3,
            2,
            ItemFilter {
                exclude: Some(ex),
                candidates: None,
            },
        )
        .unwrap();
        // row 2 excludes {0,1,2} -> 3, 4
        assert_eq!(
            parts(&t),
            (
                vec![0, 0, 1, 1, 2, 2],
                vec![4, 0, 1, 3, 3, 4],
                vec![0.5, 0.2, 0.9, 0.9, 0.9, 0.5]
            )
        );
        let t = topk_ranked(
            &s,
            3,
            9,
            ItemFilter {
                exclude: Some(ex2),
                candidates: None,
            },
        )
        .unwrap();
        assert_eq!(t.rows, vec![0, 0, 1, 1, 1, 1]); // row 2: everything excluded
        assert_eq!(t.items, vec![4, 0, 1, 3, 4, 0]);
        // candidates: only 0 and 3
        let cand = [true, false, false, true, false];
        let t = topk_ranked(
            &s,
            1,
            5,
            ItemFilter {
                exclude: None,
                candidates: Some(&cand),
            },
        )
        .unwrap();
        assert_eq!(t.items, vec![3, 0]);
        // k = 0, no rows, no items
        assert!(topk_ranked(&s, 2, 0, ItemFilter::default())
            .unwrap()
            .is_empty());
        assert!(topk_ranked(&s, 0, 3, ItemFilter::default())
            .unwrap()
            .is_empty());
        assert!(topk_ranked(&[], 4, 3, ItemFilter::default())
            .unwrap()
            .is_empty());
    }

    #[test]
    fn csr_by_hand() {
        // row 0: {0: 1.0, 2: 3.0, 4: 3.0}; row 1: {}; row 2: {1: NaN, 3: -1.0}
        // k=2: row 0 -> 2 (3.0), 4 (3.0 tie, higher id second); row 2 -> 3 (-1.0)
        let x = CsrView::new(&[0, 3, 3, 5], &[0, 2, 4, 1, 3], &[1., 3., 3., NAN, -1.], 5).unwrap();
        let t = topk_csr(x, 2, ItemFilter::default()).unwrap();
        assert_eq!(parts(&t), (vec![0, 0, 2], vec![2, 4, 3], vec![3., 3., -1.]));
        // exclude item 2 in row 0 -> 4, 0
        let ex = Pattern::new(&[0, 1, 1, 1], &[2], 5).unwrap();
        let t = topk_csr(
            x,
            2,
            ItemFilter {
                exclude: Some(ex),
                candidates: None,
            },
        )
        .unwrap();
        assert_eq!(t.items, vec![4, 0, 3]);
        assert!(topk_csr(x, 0, ItemFilter::default()).unwrap().is_empty());
        let empty = CsrView::new(&[0], &[], &[], 5).unwrap();
        assert!(topk_csr(empty, 3, ItemFilter::default())
            .unwrap()
            .is_empty());
    }

    #[test]
    fn gather_best_matches_full_sort() {
        // scores j % 7 over 1000 items: many ties; the threshold path runs many times.
        let items = (0..1000).map(|j| (j, f64::from(j % 7)));
        for k in [1, 5, 16, 17, 40, 999, 1000, 5000] {
            let mut got = Vec::new();
            gather_ranked(&mut got, k, items.clone());
            let mut want: Vec<(i32, f64)> = items.clone().collect();
            want.sort_by(rank_order);
            want.truncate(k);
            assert_eq!(got, want, "k={k}");
        }
        let mut got = vec![(1, 1.0)];
        gather_ranked(&mut got, 0, items);
        assert!(got.is_empty());
    }

    #[test]
    fn select_best_is_bounded_and_exact() {
        let mut v: Vec<(i32, f64)> = (0..100).map(|j| (j, f64::from(j % 10))).collect();
        finish_row(&mut v, 3);
        // score 9 is held by items 9, 19, 29, ... -> the three lowest ids win
        assert_eq!(v, vec![(9, 9.), (19, 9.), (29, 9.)]);
    }
}
