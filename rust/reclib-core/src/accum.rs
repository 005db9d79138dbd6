//! A sparse accumulator: a dense `f64` buffer plus the list of slots touched so far.
//!
//! Used per thread by the sparse-times-sparse kernels (item co-occurrence, neighbourhood
//! scoring): adding is O(1), and clearing costs only the touched slots, so one buffer of
//! `n_items` serves every row a thread processes.

/// Smallest value for which callers take the dense accumulation path: products of two such
/// values cannot underflow to zero, so "non-zero" and "reached by some product" agree.
pub(crate) const DENSE_MIN_VALUE: f64 = 1e-150;

/// Dense buffer with a touched list; see the module docs.
pub(crate) struct SparseAccumulator {
    values: Vec<f64>,
    seen: Vec<bool>,
    touched: Vec<i32>,
    /// Integer counts of [`add_ones_dense`](Self::add_ones_dense); empty until first used.
    counts: Vec<u32>,
}

impl SparseAccumulator {
    /// An accumulator over slots `0..n` (`n <= i32::MAX + 1`, guaranteed by the callers).
    pub(crate) fn new(n: usize) -> Self {
        SparseAccumulator {
            values: vec![0.0; n],
            seen: vec![false; n],
            touched: Vec::new(),
            counts: Vec::new(),
        }
    }

    /// Adds `v` to slot `j`. The first value of a slot is stored as is (not `0.0 + v`), so a
    /// single `-0.0` stays `-0.0`; later values are added in call order.
    #[inline]
    pub(crate) fn add(&mut self, j: usize, v: f64) {
        if self.seen[j] {
            self.values[j] += v;
        } else {
            self.seen[j] = true;
            self.values[j] = v;
            self.touched.push(j as i32);
        }
    }

    /// Slots touched since the last [`clear`](Self::clear), in first-touch order.
    #[inline]
    pub(crate) fn touched(&self) -> &[i32] {
        &self.touched
    }

    /// Current value of slot `j` (meaningful only for touched slots).
    #[inline]
    pub(crate) fn value(&self, j: usize) -> f64 {
        self.values[j]
    }

    /// Sorts the touched list ascending.
    pub(crate) fn sort_touched(&mut self) {
        self.touched.sort_unstable();
    }

    /// Adds `scale * v` for every `(j, v)` of a row, without tracking touched slots, except
    /// for `skip`. For rows with positive values only, where work is large next to `n`: pair
    /// it with [`collect_dense`](Self::collect_dense). Slots must be zero on entry (they are
    /// after [`clear`](Self::clear)), so the sums equal [`add`](Self::add)'s bit for bit.
    #[inline]
    pub(crate) fn add_row_dense(&mut self, cols: &[i32], vals: &[f64], scale: f64, skip: usize) {
        for (&j, &v) in cols.iter().zip(vals) {
            let j = j as usize;
            if j != skip {
                self.values[j] += scale * v;
            }
        }
    }

    /// [`add_row_dense`](Self::add_row_dense) for rows whose values and scale are all `1.0`:
    /// counts, in integers, how many of `rows` hold each column (`skip` included; it is
    /// dropped by [`collect_counts`](Self::collect_counts)). No value is read, and an integer
    /// add is cheaper than a float one; the counts equal the float sums bit for bit, as sums
    /// of ones below 2^32 are exact. The caller guarantees fewer than 2^32 rows in all.
    #[inline]
    pub(crate) fn add_ones_dense<'a>(&mut self, rows: impl Iterator<Item = &'a [i32]>) {
        if self.counts.len() != self.values.len() {
            self.counts = vec![0; self.values.len()];
        }
        for cols in rows {
            for &j in cols {
                self.counts[j as usize] += 1;
            }
        }
    }

    /// Moves the counts of [`add_ones_dense`](Self::add_ones_dense) into the values (as
    /// `f64`), except slot `skip`, and marks the non-zero slots as touched in ascending order.
    pub(crate) fn collect_counts(&mut self, skip: usize) {
        for (j, c) in self.counts.iter_mut().enumerate() {
            if *c != 0 && j != skip {
                self.values[j] = f64::from(*c);
                self.seen[j] = true;
                self.touched.push(j as i32);
            }
            *c = 0;
        }
    }

    /// Marks every non-zero slot as touched, in ascending order (after `add_row_dense`).
    pub(crate) fn collect_dense(&mut self) {
        for (j, &v) in self.values.iter().enumerate() {
            if v != 0.0 {
                self.seen[j] = true;
                self.touched.push(j as i32);
            }
        }
    }

    /// Forgets every touched slot (and zeroes it).
    pub(crate) fn clear(&mut self) {
        for &j in &self.touched {
            self.seen[j as usize] = false;
            self.values[j as usize] = 0.0;
        }
        self.touched.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_in_order_and_clears() {
        let mut a = SparseAccumulator::new(4);
        a.add(2, 1.5);
        a.add(0, -0.0);
        a.add(2, 2.0);
        assert_eq!(a.touched(), &[2, 0]);
        assert_eq!(a.value(2), 3.5);
        assert!(a.value(0).is_sign_negative()); // first value stored as is
        a.sort_touched();
        assert_eq!(a.touched(), &[0, 2]);
        a.clear();
        assert!(a.touched().is_empty());
        a.add(2, 7.0); // not 3.5 + 7
        assert_eq!(a.value(2), 7.0);
    }

    #[test]
    fn counts_ones_skipping_one_slot() {
        let mut a = SparseAccumulator::new(5);
        let rows: [&[i32]; 3] = [&[0, 2, 4], &[2, 4], &[1, 2]];
        a.add_ones_dense(rows.iter().copied());
        a.collect_counts(4);
        assert_eq!(a.touched(), &[0, 1, 2]);
        assert_eq!((a.value(0), a.value(1), a.value(2)), (1.0, 1.0, 3.0));
        a.clear();
        a.add_ones_dense([&[3][..]].into_iter());
        a.collect_counts(0);
        assert_eq!(a.touched(), &[3]); // earlier counts were reset
        assert_eq!(a.value(3), 1.0);
    }
}
