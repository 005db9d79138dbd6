//! Neighbourhood scoring: recommend from a user's history through an item-item weight matrix.
//!
//! For a history `H` (users × items) and weights `W` (items × items), user `u`'s score of item
//! `c` is
//!
//! ```text
//! score(u, c) = Σ_{h in row u of H} H[u, h] · W[h, c]
//! ```
//!
//! summed in ascending `h` order, so the value is the same bit for bit on any thread count.
//! Only items reached structurally from some `h` get a score (a stored `0.0` counts as reached).
//! Each user's scores live in a per-thread sparse accumulator and are cut to the top `k` right
//! away, so memory is proportional to the output, never to users × items.
//!
//! Selection follows the rules of [`crate::topk`]: score descending, item ascending, NaN never
//! selected, `exclude`/`candidates` filtering.

use rayon::prelude::*;

use crate::accum::{SparseAccumulator, DENSE_MIN_VALUE};
use crate::error::{CoreError, CoreResult};
use crate::parallel;
use crate::sparse::CsrView;
use crate::topk::{collect_rows, gather_ranked, ExcludeMask, ItemFilter, TopK};

/// Top-`k` items per user of `H · W` (see the module docs).
///
/// `h` is `n_users × n_items`; `w` must be `n_items × n_items` where `n_items = h.n_cols()`.
/// Errors: `w` of another shape (names `w_indptr` or `n_items`); a filter of the wrong shape.
pub fn neighbour_topk(
    h: CsrView<'_>,
    w: CsrView<'_>,
    k: usize,
    filter: ItemFilter<'_>,
) -> CoreResult<TopK> {
    let n_items = h.n_cols();
    if w.n_rows() != n_items {
        return Err(CoreError::invalid(
            "w_indptr",
            format!("{} row pointers ({} rows)", w.n_rows() + 1, w.n_rows()),
            format!("n_items + 1 = {} row pointers", n_items + 1),
        ));
    }
    if w.n_cols() != n_items {
        return Err(CoreError::invalid(
            "n_items",
            format!(
                "{n_items} columns in the history but {} in the weights",
                w.n_cols()
            ),
            "the same number of items in both",
        ));
    }
    filter.validate(h.n_rows(), n_items)?;
    if k == 0 {
        return Ok(TopK::default());
    }
    parallel::install(|| {
        // Cost of user u: one unit per weight row entry visited, plus one per user.
        let w_len = |j: i32| {
            let r = w.row_range(j as usize);
            (r.end - r.start) as u64
        };
        let positive = |v: &f64| *v >= DENSE_MIN_VALUE;
        let dense_ok = h.data().par_iter().all(positive) && w.data().par_iter().all(positive);
        let mut cum = Vec::with_capacity(h.n_rows() + 1);
        let mut total = 0u64;
        cum.push(0u64);
        for u in 0..h.n_rows() {
            total += 1 + h.row(u).0.iter().map(|&j| w_len(j)).sum::<u64>();
            cum.push(total);
        }
        collect_rows(
            h.n_rows(),
            |u| cum[u],
            || {
                (
                    SparseAccumulator::new(n_items),
                    ExcludeMask::new(&filter, n_items),
                )
            },
            |(acc, mask), u, buf| {
                let (hist, hv) = h.row(u);
                // The dense pass adds the same products in the same order as the sparse one,
                // without per-add bookkeeping; it needs positive values (so that "non-zero"
                // means "reached") and pays off when the work is large next to `n_items`.
                let work = (cum[u + 1] - cum[u] - 1) as usize;
                if dense_ok && work * 4 >= n_items {
                    for (&j, &hw) in hist.iter().zip(hv) {
                        let (cols, ws) = w.row(j as usize);
                        acc.add_row_dense(cols, ws, hw, usize::MAX);
                    }
                    acc.collect_dense();
                } else {
                    for (&j, &hw) in hist.iter().zip(hv) {
                        let (cols, ws) = w.row(j as usize);
                        for (&c, &wv) in cols.iter().zip(ws) {
                            acc.add(c as usize, hw * wv);
                        }
                    }
                }
                mask.set(&filter, u);
                let items = acc
                    .touched()
                    .iter()
                    .map(|&c| (c, acc.value(c as usize)))
                    .filter(|&(c, s)| !s.is_nan() && mask.allows(&filter, c as usize));
                gather_ranked(buf, k, items);
                mask.unset(&filter, u);
                acc.clear();
            },
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sparse::Pattern;

    // H (3 users × 4 items):       W (4 × 4):
    //   u0: {0: 1.0, 1: 2.0}         0: {1: 0.5, 2: 1.0}
    //   u1: {3: 1.0}                 1: {0: 0.5, 2: 0.25, 3: 0.0}
    //   u2: {}                       2: {0: 1.0, 1: 0.25}
    //                                3: {}
    // u0: c1 = 1·0.5 = 0.5; c2 = 1·1.0 + 2·0.25 = 1.5; c0 = 2·0.5 = 1.0; c3 = 2·0.0 = 0.0
    //     rank: 2 (1.5), 0 (1.0), 1 (0.5), 3 (0.0)
    // u1: item 3 has no neighbours -> nothing. u2: empty history -> nothing.
    #[allow(clippy::type_complexity)]
    fn hw() -> (Vec<i64>, Vec<i32>, Vec<f64>, Vec<i64>, Vec<i32>, Vec<f64>) {
        (
            vec![0, 2, 3, 3],
            vec![0, 1, 3],
            vec![1., 2., 1.],
            vec![0, 2, 5, 7, 7],
            vec![1, 2, 0, 2, 3, 0, 1],
            vec![0.5, 1.0, 0.5, 0.25, 0.0, 1.0, 0.25],
        )
    }

    #[test]
    fn scores_by_hand() {
        let (hp, hi, hd, wp, wi, wd) = hw();
        let h = CsrView::new(&hp, &hi, &hd, 4).unwrap();
        let w = CsrView::new(&wp, &wi, &wd, 4).unwrap();
        let t = neighbour_topk(h, w, 10, ItemFilter::default()).unwrap();
        assert_eq!(t.rows, vec![0, 0, 0, 0]);
        assert_eq!(t.items, vec![2, 0, 1, 3]);
        assert_eq!(t.scores, vec![1.5, 1.0, 0.5, 0.0]);
        // k = 2
        let t = neighbour_topk(h, w, 2, ItemFilter::default()).unwrap();
        assert_eq!(t.items, vec![2, 0]);
        // k = 0
        assert!(neighbour_topk(h, w, 0, ItemFilter::default())
            .unwrap()
            .is_empty());
        // exclude the user's own history {0, 1}: 2 (1.5), 3 (0.0)
        let ex = Pattern::new(&hp, &hi, 4).unwrap();
        let t = neighbour_topk(
            h,
            w,
            10,
            ItemFilter {
                exclude: Some(ex),
                candidates: None,
            },
        )
        .unwrap();
        assert_eq!(t.items, vec![2, 3]);
        // candidates {1, 3} only
        let cand = [false, true, false, true];
        let t = neighbour_topk(
            h,
            w,
            10,
            ItemFilter {
                exclude: None,
                candidates: Some(&cand),
            },
        )
        .unwrap();
        assert_eq!((t.items, t.scores), (vec![1, 3], vec![0.5, 0.0]));
        // everything excluded by candidates
        let none = [false; 4];
        let f = ItemFilter {
            exclude: None,
            candidates: Some(&none),
        };
        assert!(neighbour_topk(h, w, 10, f).unwrap().is_empty());
    }

    #[test]
    fn ties_break_by_item_ascending() {
        // one user with history {0: 1}; W row 0 = {1: 2, 2: 2, 3: 2} -> all tie at 2.
        let h = CsrView::new(&[0, 1], &[0], &[1.], 4).unwrap();
        let w = CsrView::new(&[0, 3, 3, 3, 3], &[1, 2, 3], &[2., 2., 2.], 4).unwrap();
        let t = neighbour_topk(h, w, 2, ItemFilter::default()).unwrap();
        assert_eq!(t.items, vec![1, 2]);
    }

    #[test]
    fn shape_errors() {
        let h = CsrView::new(&[0, 1], &[0], &[1.], 4).unwrap();
        let w = CsrView::new(&[0, 0, 0], &[], &[], 4).unwrap();
        let e = neighbour_topk(h, w, 1, ItemFilter::default()).unwrap_err();
        assert!(e
            .to_string()
            .starts_with("invalid `w_indptr`: got 3 row pointers (2 rows)"));
        let w = CsrView::new(&[0, 0, 0, 0, 0], &[], &[], 3).unwrap();
        let e = neighbour_topk(h, w, 1, ItemFilter::default()).unwrap_err();
        assert!(e.to_string().starts_with("invalid `n_items`"));
    }
}
