//! Compressed sparse row (CSR) matrices: an owned [`Csr`], a borrowed [`CsrView`], and a
//! structure-only [`Pattern`].
//!
//! The layout is scipy's: `indptr` (`i64`, length `n_rows + 1`, starting at 0, non-decreasing,
//! ending at `nnz`), `indices` (`i32` column of each stored entry) and `data` (`f64` value).
//! A *canonical* CSR, which is what every kernel takes and returns, also has the column indices
//! of each row strictly ascending (sorted, no duplicates). [`CsrView::new`] checks all of that in
//! O(nnz), so the bindings can wrap numpy buffers without copying and every kernel can then index
//! without further checks.
//!
//! [`Csr::from_coo`] builds a canonical CSR from coordinate triples with a chosen
//! [`Duplicates`] policy, and [`CsrView::transpose`] transposes. Both are parallel stable counting
//! sorts: O(nnz + n_rows) time, and the only extra memory beyond the output is one `(i32, f64)`
//! per input entry plus, when splitting the input among threads, one counter per (chunk, row).

use std::collections::HashSet;
use std::ops::Range;
use std::str::FromStr;

use rayon::prelude::*;

use crate::error::{CoreError, CoreResult};
use crate::parallel::{self, DisjointWriter};

/// Largest number of columns (or rows, for a transpose) an `i32` index can address.
pub const MAX_INDEX_DIM: usize = i32::MAX as usize + 1;

/// Below this many entries, scatters run on one thread (splitting costs more than it saves).
const PARALLEL_SCATTER_MIN: usize = 1 << 16;

/// An owned CSR matrix. Produced by the kernels; see the module docs for the layout.
#[derive(Debug, Clone, PartialEq)]
pub struct Csr {
    /// Number of rows; `indptr.len() == n_rows + 1`.
    pub n_rows: usize,
    /// Number of columns; every index is in `[0, n_cols)`.
    pub n_cols: usize,
    /// Row pointers.
    pub indptr: Vec<i64>,
    /// Column index of each stored entry, ascending within each row.
    pub indices: Vec<i32>,
    /// Value of each stored entry.
    pub data: Vec<f64>,
}

impl Csr {
    /// An `n_rows × n_cols` matrix with no stored entries.
    pub fn empty(n_rows: usize, n_cols: usize) -> Csr {
        Csr {
            n_rows,
            n_cols,
            indptr: vec![0; n_rows + 1],
            indices: Vec::new(),
            data: Vec::new(),
        }
    }

    /// Number of stored entries.
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    /// A borrowed view of this matrix.
    pub fn view(&self) -> CsrView<'_> {
        CsrView::trusted(self.n_cols, &self.indptr, &self.indices, &self.data)
    }

    /// The three arrays, for handing to Python without a copy.
    pub fn into_parts(self) -> (Vec<i64>, Vec<i32>, Vec<f64>) {
        (self.indptr, self.indices, self.data)
    }

    /// Builds a canonical CSR from coordinate triples `(rows[p], cols[p], values[p])`.
    ///
    /// Entries of one `(row, col)` are merged by `duplicates`; "first" and "last" refer to input
    /// order, and sums add in input order. NaN values are stored like any other value.
    ///
    /// Errors: arrays of different lengths; a row outside `[0, n_rows)` or column outside
    /// `[0, n_cols)` (the first in input order, `rows` checked before `cols`); `n_cols` beyond
    /// [`MAX_INDEX_DIM`]; with [`Duplicates::Error`], the first entry (in input order) whose
    /// `(row, col)` was seen before.
    pub fn from_coo(
        rows: &[i32],
        cols: &[i32],
        values: &[f64],
        n_rows: usize,
        n_cols: usize,
        duplicates: Duplicates,
    ) -> CoreResult<Csr> {
        parallel::install(|| from_coo_impl(rows, cols, values, n_rows, n_cols, duplicates))?
    }
}

/// How [`Csr::from_coo`] merges entries that share a `(row, col)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Duplicates {
    /// Add the values (in input order).
    Sum,
    /// Keep the largest value (`f64::max`: NaN only if all are NaN).
    Max,
    /// Keep the value that comes first in the input.
    First,
    /// Keep the value that comes last in the input.
    Last,
    /// Store how many entries there were; values are ignored.
    Count,
    /// Refuse the input, naming the first repeated pair.
    Error,
}

impl Duplicates {
    /// The names accepted by [`FromStr`], in documentation order.
    pub const NAMES: [&'static str; 6] = ["sum", "max", "first", "last", "count", "error"];
}

impl FromStr for Duplicates {
    type Err = CoreError;

    fn from_str(s: &str) -> CoreResult<Duplicates> {
        Ok(match s {
            "sum" => Duplicates::Sum,
            "max" => Duplicates::Max,
            "first" => Duplicates::First,
            "last" => Duplicates::Last,
            "count" => Duplicates::Count,
            "error" => Duplicates::Error,
            other => {
                let allowed: Vec<String> = Duplicates::NAMES
                    .iter()
                    .map(|n| format!("\"{n}\""))
                    .collect();
                return Err(CoreError::invalid(
                    "duplicates",
                    format!("{other:?}"),
                    format!("one of {}", allowed.join(", ")),
                ));
            }
        })
    }
}

/// A borrowed, validated, canonical CSR matrix (see the module docs).
///
/// Built with [`CsrView::new`], which checks the structure once; afterwards rows can be read
/// without bounds surprises.
#[derive(Debug, Clone, Copy)]
pub struct CsrView<'a> {
    n_rows: usize,
    n_cols: usize,
    indptr: &'a [i64],
    indices: &'a [i32],
    data: &'a [f64],
}

impl<'a> CsrView<'a> {
    /// Wraps and validates a CSR triple with `n_cols` columns (`n_rows` is `indptr.len() - 1`).
    ///
    /// Checks: `indptr` non-empty, starts at 0, non-decreasing, ends at `indices.len()`;
    /// `indices` and `data` of equal length; every index in `[0, n_cols)` and strictly ascending
    /// within its row; `n_cols <= MAX_INDEX_DIM`. Errors name `indptr`, `indices`, `data` or
    /// `n_cols`.
    pub fn new(
        indptr: &'a [i64],
        indices: &'a [i32],
        data: &'a [f64],
        n_cols: usize,
    ) -> CoreResult<CsrView<'a>> {
        if indices.len() != data.len() {
            return Err(CoreError::length_mismatch(
                "indices",
                indices.len(),
                "data",
                data.len(),
            ));
        }
        let pattern = Pattern::new_checked(indptr, indices, n_cols, true)?;
        Ok(CsrView {
            n_rows: pattern.n_rows,
            n_cols,
            indptr,
            indices,
            data,
        })
    }

    /// Wraps arrays that are known to be canonical (produced by this crate).
    pub(crate) fn trusted(
        n_cols: usize,
        indptr: &'a [i64],
        indices: &'a [i32],
        data: &'a [f64],
    ) -> CsrView<'a> {
        debug_assert!(CsrView::new(indptr, indices, data, n_cols).is_ok());
        CsrView {
            n_rows: indptr.len().saturating_sub(1),
            n_cols,
            indptr,
            indices,
            data,
        }
    }

    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    /// Number of columns.
    pub fn n_cols(&self) -> usize {
        self.n_cols
    }

    /// Number of stored entries.
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    /// Row pointers.
    pub fn indptr(&self) -> &'a [i64] {
        self.indptr
    }

    /// Column indices.
    pub fn indices(&self) -> &'a [i32] {
        self.indices
    }

    /// Values.
    pub fn data(&self) -> &'a [f64] {
        self.data
    }

    /// Position range of row `r` in `indices`/`data`.
    #[inline]
    pub fn row_range(&self, r: usize) -> Range<usize> {
        self.indptr[r] as usize..self.indptr[r + 1] as usize
    }

    /// Column indices and values of row `r` (panics if `r >= n_rows`, like slice indexing).
    #[inline]
    pub fn row(&self, r: usize) -> (&'a [i32], &'a [f64]) {
        let range = self.row_range(r);
        (&self.indices[range.clone()], &self.data[range])
    }

    /// The structure of this matrix, without values.
    pub fn pattern(&self) -> Pattern<'a> {
        Pattern {
            n_rows: self.n_rows,
            n_cols: self.n_cols,
            indptr: self.indptr,
            indices: self.indices,
        }
    }

    /// The transpose (`n_cols × n_rows`), canonical: each output row lists source rows ascending.
    ///
    /// Errors if `n_rows` exceeds [`MAX_INDEX_DIM`] (row numbers become `i32` column indices).
    pub fn transpose(&self) -> CoreResult<Csr> {
        parallel::install(|| transpose_impl(self))?
    }

    /// Owned copy.
    pub fn to_owned(&self) -> Csr {
        Csr {
            n_rows: self.n_rows,
            n_cols: self.n_cols,
            indptr: self.indptr.to_vec(),
            indices: self.indices.to_vec(),
            data: self.data.to_vec(),
        }
    }
}

/// The structure of a CSR matrix (no values), with indices in range but not necessarily sorted
/// or unique within a row. Used for "exclude these items" lists.
#[derive(Debug, Clone, Copy)]
pub struct Pattern<'a> {
    n_rows: usize,
    n_cols: usize,
    indptr: &'a [i64],
    indices: &'a [i32],
}

impl<'a> Pattern<'a> {
    /// Wraps and validates `(indptr, indices)` with `n_cols` columns: like [`CsrView::new`]
    /// except that indices within a row may come in any order and repeat.
    pub fn new(indptr: &'a [i64], indices: &'a [i32], n_cols: usize) -> CoreResult<Pattern<'a>> {
        Pattern::new_checked(indptr, indices, n_cols, false)
    }

    fn new_checked(
        indptr: &'a [i64],
        indices: &'a [i32],
        n_cols: usize,
        require_sorted: bool,
    ) -> CoreResult<Pattern<'a>> {
        if n_cols > MAX_INDEX_DIM {
            return Err(CoreError::invalid(
                "n_cols",
                n_cols,
                format!("at most {MAX_INDEX_DIM} (int32 column indices)"),
            ));
        }
        let Some(&first) = indptr.first() else {
            return Err(CoreError::invalid(
                "indptr",
                "an empty array",
                "n_rows + 1 >= 1 row pointers starting with 0",
            ));
        };
        if first != 0 {
            return Err(CoreError::invalid_value("indptr", 0, first, "0"));
        }
        let n_rows = indptr.len() - 1;
        parallel::install(|| -> CoreResult<()> {
            if let Some(p) = indptr.par_windows(2).position_first(|w| w[0] > w[1]) {
                return Err(CoreError::invalid_value(
                    "indptr",
                    p + 1,
                    indptr[p + 1],
                    format!("non-decreasing row pointers (indptr[{p}] = {})", indptr[p]),
                ));
            }
            let last = indptr[n_rows];
            if last != indices.len() as i64 {
                return Err(CoreError::invalid_value(
                    "indptr",
                    n_rows,
                    last,
                    format!("len(indices) = {} as the last row pointer", indices.len()),
                ));
            }
            let bound = n_cols as i64;
            if let Some(p) = indices
                .par_iter()
                .position_first(|&c| c < 0 || i64::from(c) >= bound)
            {
                return Err(CoreError::IndexOutOfRange {
                    name: "indices".into(),
                    position: p,
                    index: i64::from(indices[p]),
                    bound: n_cols,
                });
            }
            if require_sorted {
                let unsorted = (0..n_rows)
                    .into_par_iter()
                    .with_min_len(256)
                    .find_map_first(|r| {
                        let (a, b) = (indptr[r] as usize, indptr[r + 1] as usize);
                        indices[a..b]
                            .windows(2)
                            .position(|w| w[0] >= w[1])
                            .map(|q| (r, a + q + 1))
                    });
                if let Some((r, p)) = unsorted {
                    return Err(CoreError::invalid_value(
                        "indices",
                        p,
                        indices[p],
                        format!(
                            "column indices strictly ascending within each row (row {r} has {} \
                             before it; sum duplicates and sort each row first)",
                            indices[p - 1]
                        ),
                    ));
                }
            }
            Ok(())
        })??;
        Ok(Pattern {
            n_rows,
            n_cols,
            indptr,
            indices,
        })
    }

    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    /// Number of columns.
    pub fn n_cols(&self) -> usize {
        self.n_cols
    }

    /// Indices of row `r`.
    #[inline]
    pub fn row(&self, r: usize) -> &'a [i32] {
        &self.indices[self.indptr[r] as usize..self.indptr[r + 1] as usize]
    }

    /// Length of the longest row.
    pub fn max_row_len(&self) -> usize {
        self.indptr
            .windows(2)
            .map(|w| (w[1] - w[0]) as usize)
            .max()
            .unwrap_or(0)
    }
}

/// Number of input chunks for a parallel counting sort of `n` entries into `n_keys` buckets:
/// one per thread, but only while the per-chunk counters (`chunks × n_keys`) stay below `n`.
fn scatter_chunks(n: usize, n_keys: usize) -> usize {
    if n < PARALLEL_SCATTER_MIN {
        return 1;
    }
    rayon::current_num_threads().min(n / (n_keys + 1)).max(1)
}

/// Stable counting-sort offsets.
///
/// `counts[t * n_keys + k]` holds how many entries of chunk `t` have key `k`; on return it holds
/// where chunk `t`'s first entry with key `k` goes. Returns the bucket starts (`n_keys + 1`).
fn counts_to_offsets(counts: &mut [usize], n_chunks: usize, n_keys: usize) -> Vec<i64> {
    let mut starts = Vec::with_capacity(n_keys + 1);
    let mut running = 0usize;
    for k in 0..n_keys {
        starts.push(running as i64);
        for t in 0..n_chunks {
            let c = &mut counts[t * n_keys + k];
            let here = *c;
            *c = running;
            running += here;
        }
    }
    starts.push(running as i64);
    starts
}

fn from_coo_impl(
    rows: &[i32],
    cols: &[i32],
    values: &[f64],
    n_rows: usize,
    n_cols: usize,
    duplicates: Duplicates,
) -> CoreResult<Csr> {
    if rows.len() != cols.len() {
        return Err(CoreError::length_mismatch(
            "rows",
            rows.len(),
            "cols",
            cols.len(),
        ));
    }
    if rows.len() != values.len() {
        return Err(CoreError::length_mismatch(
            "rows",
            rows.len(),
            "values",
            values.len(),
        ));
    }
    if n_cols > MAX_INDEX_DIM {
        return Err(CoreError::invalid(
            "n_cols",
            n_cols,
            format!("at most {MAX_INDEX_DIM} (int32 column indices)"),
        ));
    }
    for (name, arr, bound) in [("rows", rows, n_rows), ("cols", cols, n_cols)] {
        let b = bound as i64;
        if let Some(p) = arr
            .par_iter()
            .position_first(|&v| v < 0 || i64::from(v) >= b)
        {
            return Err(CoreError::IndexOutOfRange {
                name: name.into(),
                position: p,
                index: i64::from(arr[p]),
                bound,
            });
        }
    }
    let n = rows.len();

    // 1. Stable counting sort by row into `tmp` (input order kept within each row).
    let n_chunks = scatter_chunks(n, n_rows);
    let chunk_len = n.div_ceil(n_chunks).max(1);
    let mut counts = vec![0usize; n_chunks * n_rows];
    counts
        .par_chunks_mut(n_rows.max(1))
        .enumerate()
        .for_each(|(t, cnt)| {
            let lo = (t * chunk_len).min(n);
            let hi = ((t + 1) * chunk_len).min(n);
            for &r in &rows[lo..hi] {
                cnt[r as usize] += 1;
            }
        });
    let raw_indptr = counts_to_offsets(&mut counts, n_chunks, n_rows);
    let mut tmp: Vec<(i32, f64)> = vec![(0, 0.0); n];
    {
        let writer = DisjointWriter::new(&mut tmp);
        counts
            .par_chunks_mut(n_rows.max(1))
            .enumerate()
            .for_each(|(t, next)| {
                let lo = (t * chunk_len).min(n);
                let hi = ((t + 1) * chunk_len).min(n);
                for p in lo..hi {
                    let slot = &mut next[rows[p] as usize];
                    // SAFETY: chunk t owns positions [offset(t, r), offset(t, r) + count(t, r))
                    // of every row r, disjoint from every other chunk's by construction of the
                    // offsets, and each position is used once because `slot` is bumped after
                    // every write.
                    unsafe { writer.write(*slot, (cols[p], values[p])) };
                    *slot += 1;
                }
            });
    }
    drop(counts);

    // 2. Per row: stable sort by column, merge duplicates in place; `kept[r]` = merged length.
    let blocks = parallel::split_by_cost(n_rows, parallel::n_blocks_for(n_rows), |r| {
        raw_indptr[r] as u64 + r as u64
    });
    let mut block_slices = split_rows_mut(&mut tmp, &raw_indptr, &blocks);
    let mut kept = vec![0usize; n_rows];
    let mut kept_blocks = split_mut(&mut kept, &blocks);
    let collect = duplicates == Duplicates::Error;
    let repeated: Vec<(i32, i32)> = block_slices
        .par_iter_mut()
        .zip(kept_blocks.par_iter_mut())
        .zip(blocks.par_iter())
        .flat_map_iter(|((entries, kept), rows_range)| {
            let base = raw_indptr[rows_range.start] as usize;
            let mut repeated = Vec::new();
            for (i, r) in rows_range.clone().enumerate() {
                let a = raw_indptr[r] as usize - base;
                let b = raw_indptr[r + 1] as usize - base;
                kept[i] = merge_row(&mut entries[a..b], duplicates, |c| {
                    if collect {
                        repeated.push((r as i32, c));
                    }
                });
            }
            repeated
        })
        .collect();
    drop(block_slices);
    drop(kept_blocks);

    if !repeated.is_empty() {
        return Err(first_duplicate(rows, cols, repeated));
    }

    // 3. Compact the merged rows into the output arrays.
    let mut indptr = Vec::with_capacity(n_rows + 1);
    let mut total = 0i64;
    indptr.push(0);
    for &k in &kept {
        total += k as i64;
        indptr.push(total);
    }
    let nnz = total as usize;
    let mut indices = vec![0i32; nnz];
    let mut data = vec![0f64; nnz];
    {
        let mut idx_blocks = split_rows_mut(&mut indices, &indptr, &blocks);
        let mut dat_blocks = split_rows_mut(&mut data, &indptr, &blocks);
        idx_blocks
            .par_iter_mut()
            .zip(dat_blocks.par_iter_mut())
            .zip(blocks.par_iter())
            .for_each(|((idx, dat), rows_range)| {
                let mut w = 0usize;
                for r in rows_range.clone() {
                    let a = raw_indptr[r] as usize;
                    for &(c, v) in &tmp[a..a + kept[r]] {
                        idx[w] = c;
                        dat[w] = v;
                        w += 1;
                    }
                }
            });
    }
    Ok(Csr {
        n_rows,
        n_cols,
        indptr,
        indices,
        data,
    })
}

/// Splits `v` into one mutable slice per block of rows, using row pointers `indptr`.
fn split_rows_mut<'v, T>(
    v: &'v mut [T],
    indptr: &[i64],
    blocks: &[Range<usize>],
) -> Vec<&'v mut [T]> {
    let mut out = Vec::with_capacity(blocks.len());
    let mut rest = v;
    for b in blocks {
        let len = (indptr[b.end] - indptr[b.start]) as usize;
        let (head, tail) = rest.split_at_mut(len);
        out.push(head);
        rest = tail;
    }
    out
}

/// Splits `v` (one element per row) into one mutable slice per block.
fn split_mut<'v, T>(v: &'v mut [T], blocks: &[Range<usize>]) -> Vec<&'v mut [T]> {
    let mut out = Vec::with_capacity(blocks.len());
    let mut rest = v;
    for b in blocks {
        let (head, tail) = rest.split_at_mut(b.len());
        out.push(head);
        rest = tail;
    }
    out
}

/// Sorts one row's `(col, value)` entries by column (stably) and merges equal columns in place.
/// Returns the merged length; `on_repeat(col)` is called once for every column that repeats.
fn merge_row(
    entries: &mut [(i32, f64)],
    duplicates: Duplicates,
    mut on_repeat: impl FnMut(i32),
) -> usize {
    if entries.windows(2).any(|w| w[0].0 > w[1].0) {
        entries.sort_by_key(|e| e.0); // stable: input order kept among equal columns
    }
    let len = entries.len();
    let mut write = 0usize;
    let mut read = 0usize;
    while read < len {
        let col = entries[read].0;
        let mut end = read + 1;
        while end < len && entries[end].0 == col {
            end += 1;
        }
        let run = &entries[read..end];
        let value = match duplicates {
            Duplicates::Sum => run[1..].iter().fold(run[0].1, |acc, e| acc + e.1),
            Duplicates::Max => run[1..].iter().fold(run[0].1, |acc, e| acc.max(e.1)),
            Duplicates::First | Duplicates::Error => run[0].1,
            Duplicates::Last => run[run.len() - 1].1,
            Duplicates::Count => run.len() as f64,
        };
        if run.len() > 1 {
            on_repeat(col);
        }
        entries[write] = (col, value);
        write += 1;
        read = end;
    }
    write
}

/// Finds the first input position whose `(row, col)` occurred earlier, given the set of pairs
/// that repeat. Runs only on invalid input; memory is proportional to the repeated pairs.
fn first_duplicate(rows: &[i32], cols: &[i32], repeated: Vec<(i32, i32)>) -> CoreError {
    let repeated: HashSet<(i32, i32)> = repeated.into_iter().collect();
    let mut seen: HashSet<(i32, i32)> = HashSet::with_capacity(repeated.len());
    for (p, (&r, &c)) in rows.iter().zip(cols).enumerate() {
        if repeated.contains(&(r, c)) && !seen.insert((r, c)) {
            return CoreError::Duplicate {
                row: r,
                col: c,
                position: p,
            };
        }
    }
    // Not reachable: every repeated pair occurs at least twice in the input.
    CoreError::invalid("duplicates", "\"error\"", "no repeated (row, col) pairs")
}

fn transpose_impl(x: &CsrView<'_>) -> CoreResult<Csr> {
    let (n_rows, n_cols, nnz) = (x.n_rows, x.n_cols, x.nnz());
    if n_rows > MAX_INDEX_DIM {
        return Err(CoreError::invalid(
            "indptr",
            format!("{n_rows} rows"),
            format!("at most {MAX_INDEX_DIM} rows to transpose (int32 column indices)"),
        ));
    }
    let n_chunks = scatter_chunks(nnz, n_cols);
    let chunks = parallel::split_by_cost(n_rows, n_chunks, |r| x.indptr[r] as u64);
    let n_chunks = chunks.len().max(1);
    let mut counts = vec![0usize; n_chunks * n_cols];
    counts
        .par_chunks_mut(n_cols.max(1))
        .zip(chunks.par_iter())
        .for_each(|(cnt, rows)| {
            let lo = x.indptr[rows.start] as usize;
            let hi = x.indptr[rows.end] as usize;
            for &c in &x.indices[lo..hi] {
                cnt[c as usize] += 1;
            }
        });
    let indptr = counts_to_offsets(&mut counts, n_chunks, n_cols);
    let mut indices = vec![0i32; nnz];
    let mut data = vec![0f64; nnz];
    {
        let w_idx = DisjointWriter::new(&mut indices);
        let w_dat = DisjointWriter::new(&mut data);
        counts
            .par_chunks_mut(n_cols.max(1))
            .zip(chunks.par_iter())
            .for_each(|(next, rows)| {
                for r in rows.clone() {
                    let (cols, vals) = x.row(r);
                    for (&c, &v) in cols.iter().zip(vals) {
                        let slot = &mut next[c as usize];
                        // SAFETY: chunk t owns positions [offset(t, c), offset(t, c) + count(t, c))
                        // of every output row c, disjoint across chunks by construction, and each
                        // position is written once since `slot` advances after every write.
                        unsafe {
                            w_idx.write(*slot, r as i32);
                            w_dat.write(*slot, v);
                        }
                        *slot += 1;
                    }
                }
            });
    }
    Ok(Csr {
        n_rows: n_cols,
        n_cols: n_rows,
        indptr,
        indices,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coo(
        rows: &[i32],
        cols: &[i32],
        vals: &[f64],
        n_rows: usize,
        n_cols: usize,
        d: &str,
    ) -> CoreResult<Csr> {
        Csr::from_coo(rows, cols, vals, n_rows, n_cols, d.parse()?)
    }

    #[test]
    fn build_sorts_rows_and_columns() {
        // entries (row,col,val): (1,2,5) (0,1,1) (1,0,2) (0,0,3)
        // row 0: cols 0,1 -> [3,1]; row 1: cols 0,2 -> [2,5]; row 2 empty.
        let m = coo(
            &[1, 0, 1, 0],
            &[2, 1, 0, 0],
            &[5., 1., 2., 3.],
            3,
            3,
            "error",
        )
        .unwrap();
        assert_eq!(m.indptr, vec![0, 2, 4, 4]);
        assert_eq!(m.indices, vec![0, 1, 0, 2]);
        assert_eq!(m.data, vec![3., 1., 2., 5.]);
    }

    #[test]
    fn duplicate_policies_by_hand() {
        // (0,1) appears with values 4, -1, 2 in input order; (0,0) once with 7; (1,1) with 1, 1.
        let rows = [0, 0, 1, 0, 0, 1];
        let cols = [1, 0, 1, 1, 1, 1];
        let vals = [4., 7., 1., -1., 2., 1.];
        let get = |d: &str| coo(&rows, &cols, &vals, 2, 2, d).unwrap();
        // every policy keeps the structure row0 = {0, 1}, row1 = {1}
        for d in Duplicates::NAMES.iter().filter(|d| **d != "error") {
            let m = get(d);
            assert_eq!(m.indptr, vec![0, 2, 3], "{d}");
            assert_eq!(m.indices, vec![0, 1, 1], "{d}");
        }
        assert_eq!(get("sum").data, vec![7., 4. - 1. + 2., 2.]); // 5, 1+1
        assert_eq!(get("max").data, vec![7., 4., 1.]);
        assert_eq!(get("first").data, vec![7., 4., 1.]);
        assert_eq!(get("last").data, vec![7., 2., 1.]);
        assert_eq!(get("count").data, vec![1., 3., 2.]);
        // "error": (0,1) at position 0 is seen again at position 3 -> first repeat is position 3
        // ((1,1) repeats only at position 5).
        let e = coo(&rows, &cols, &vals, 2, 2, "error").unwrap_err();
        assert_eq!(
            e,
            CoreError::Duplicate {
                row: 0,
                col: 1,
                position: 3
            }
        );
        assert!(e.to_string().contains("(row 0, col 1)"));
    }

    #[test]
    fn nan_values_are_kept() {
        let m = coo(&[0], &[0], &[f64::NAN], 1, 1, "sum").unwrap();
        assert!(m.data[0].is_nan());
        // max ignores a NaN when a number is present: max(NaN, 2) = 2
        let m = coo(&[0, 0], &[0, 0], &[f64::NAN, 2.], 1, 1, "max").unwrap();
        assert_eq!(m.data, vec![2.]);
    }

    #[test]
    fn build_empty_and_bad_input() {
        let m = coo(&[], &[], &[], 0, 0, "sum").unwrap();
        assert_eq!(m, Csr::empty(0, 0));
        let m = coo(&[], &[], &[], 3, 2, "sum").unwrap();
        assert_eq!(m, Csr::empty(3, 2));
        let e = coo(&[0, 5], &[0, 0], &[1., 1.], 3, 2, "sum").unwrap_err();
        assert_eq!(
            e,
            CoreError::IndexOutOfRange {
                name: "rows".into(),
                position: 1,
                index: 5,
                bound: 3
            }
        );
        let e = coo(&[0, 0], &[0, -1], &[1., 1.], 3, 2, "sum").unwrap_err();
        assert_eq!(
            e.to_string(),
            "`cols`[1] = -1 is out of range, expected a value in [0, 2)"
        );
        let e = coo(&[0], &[0, 1], &[1.], 3, 2, "sum").unwrap_err();
        assert_eq!(e, CoreError::length_mismatch("rows", 1, "cols", 2));
        let e = coo(&[0], &[0], &[1., 2.], 3, 2, "sum").unwrap_err();
        assert_eq!(e, CoreError::length_mismatch("rows", 1, "values", 2));
        let e = "median".parse::<Duplicates>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid `duplicates`: got \"median\", expected one of \"sum\", \"max\", \"first\", \
             \"last\", \"count\", \"error\""
        );
    }

    /// Reference: per-row BTreeMap, values summed in input order.
    fn reference_sum(rows: &[i32], cols: &[i32], vals: &[f64], n_rows: usize) -> Csr {
        let mut per_row = vec![std::collections::BTreeMap::<i32, f64>::new(); n_rows];
        for ((&r, &c), &v) in rows.iter().zip(cols).zip(vals) {
            per_row[r as usize]
                .entry(c)
                .and_modify(|a| *a += v)
                .or_insert(v);
        }
        let mut m = Csr::empty(n_rows, 0);
        m.indptr.clear();
        m.indptr.push(0);
        for row in per_row {
            for (c, v) in row {
                m.indices.push(c);
                m.data.push(v);
            }
            m.indptr.push(m.indices.len() as i64);
        }
        m
    }

    fn lcg(seed: &mut u64) -> u64 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        *seed >> 33
    }

    #[test]
    fn parallel_build_matches_reference_and_thread_counts() {
        // Large enough to take the multi-chunk scatter path (n >= 2^16, n_rows small).
        let (n, n_rows, n_cols) = (200_000usize, 300usize, 50usize);
        let mut s = 7u64;
        let rows: Vec<i32> = (0..n)
            .map(|_| (lcg(&mut s) % n_rows as u64) as i32)
            .collect();
        let cols: Vec<i32> = (0..n)
            .map(|_| (lcg(&mut s) % n_cols as u64) as i32)
            .collect();
        let vals: Vec<f64> = (0..n).map(|_| (lcg(&mut s) % 1000) as f64 / 7.0).collect();
        let want = reference_sum(&rows, &cols, &vals, n_rows);
        for threads in [1, 2, 4] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let got = pool
                .install(|| coo(&rows, &cols, &vals, n_rows, n_cols, "sum"))
                .unwrap();
            assert_eq!(got.indptr, want.indptr);
            assert_eq!(got.indices, want.indices);
            // bit-identical: sums in input order on every thread count
            assert_eq!(got.data, want.data, "threads={threads}");
            let t = pool.install(|| got.view().transpose()).unwrap();
            let tt = pool.install(|| t.view().transpose()).unwrap();
            assert_eq!(tt.indptr, got.indptr);
            assert_eq!(tt.indices, got.indices);
            assert_eq!(tt.data, got.data);
        }
    }

    #[test]
    fn transpose_by_hand() {
        // [[1, 0, 2],
        //  [0, 0, 3]]  -> transpose [[1, 0], [0, 0], [2, 3]]
        let x = CsrView::new(&[0, 2, 3], &[0, 2, 2], &[1., 2., 3.], 3).unwrap();
        let t = x.transpose().unwrap();
        assert_eq!((t.n_rows, t.n_cols), (3, 2));
        assert_eq!(t.indptr, vec![0, 1, 1, 3]);
        assert_eq!(t.indices, vec![0, 0, 1]);
        assert_eq!(t.data, vec![1., 2., 3.]);
        // empty matrices
        let e = CsrView::new(&[0], &[], &[], 4)
            .unwrap()
            .transpose()
            .unwrap();
        assert_eq!(e, Csr::empty(4, 0));
        let e = CsrView::new(&[0, 0, 0], &[], &[], 0)
            .unwrap()
            .transpose()
            .unwrap();
        assert_eq!(e, Csr::empty(0, 2));
    }

    #[test]
    fn view_validation_names_the_problem() {
        let err = |p: &[i64], i: &[i32], d: &[f64], n: usize| {
            CsrView::new(p, i, d, n).unwrap_err().to_string()
        };
        assert!(err(&[], &[], &[], 1).contains("`indptr`"));
        assert_eq!(err(&[1, 1], &[0], &[1.], 1), "`indptr`[0] = 1, expected 0");
        assert!(err(&[0, 2, 1], &[0, 0], &[1., 1.], 1).contains("non-decreasing"));
        assert!(err(&[0, 1], &[0, 0], &[1., 1.], 1).contains("len(indices) = 2"));
        assert_eq!(
            err(&[0, 1], &[0], &[1., 2.], 1),
            "`indices` and `data` must have the same length, got 1 and 2"
        );
        assert_eq!(
            err(&[0, 2], &[0, 3], &[1., 1.], 3),
            "`indices`[1] = 3 is out of range, expected a value in [0, 3)"
        );
        assert!(err(&[0, 2], &[1, 0], &[1., 1.], 3).contains("strictly ascending"));
        assert!(err(&[0, 2], &[1, 1], &[1., 1.], 3).contains("strictly ascending"));
        // a pattern accepts unsorted and repeated indices
        let p = Pattern::new(&[0, 3], &[2, 0, 2], 3).unwrap();
        assert_eq!(p.row(0), &[2, 0, 2]);
        assert_eq!(p.max_row_len(), 3);
        let e = Pattern::new(&[0, 1], &[3], 3)
            .unwrap_err()
            .with_prefix("exclude.");
        assert!(e.to_string().starts_with("`exclude.indices`[0] = 3"));
    }
}
