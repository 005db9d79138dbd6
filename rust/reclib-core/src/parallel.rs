//! The thread pool every kernel runs on, and small helpers for splitting work.
//!
//! # Why not rayon's global pool
//!
//! Spark runs Python workers as *forked* children of a daemon process. A forked child has only
//! the thread that called `fork`; the worker threads of any pool created before the fork do not
//! exist there, yet rayon's global pool would still believe they do and every parallel call
//! would hang. So the core keeps its own [`rayon::ThreadPool`] in a static, tagged with the id of
//! the process that built it. [`install`] checks the id on every kernel call: in a forked child
//! it builds a fresh pool and deliberately *leaks* the inherited one (its threads are gone, so
//! touching it, even to drop it, could block forever).
//!
//! # Size
//!
//! The pool size is, in order of precedence: the last [`set_num_threads`] call, the environment
//! variable `RECLIB_NUM_THREADS`, or [`std::thread::available_parallelism`]. Zero means "number
//! of CPUs" in both places.
//!
//! # Determinism
//!
//! No kernel's *result* depends on the pool size: work is split into blocks whose sums are
//! computed in a fixed order, and blocks are concatenated in order.

use std::marker::PhantomData;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use rayon::{ThreadPool, ThreadPoolBuilder};

use crate::error::{CoreError, CoreResult};

/// Most threads [`set_num_threads`] accepts; guards against typos like `set_num_threads(10**6)`.
pub const MAX_THREADS: usize = 4096;

/// Name of the environment variable read for the default pool size.
pub const ENV_NUM_THREADS: &str = "RECLIB_NUM_THREADS";

struct PoolState {
    /// Process that built `pool`; a different current pid means we are in a forked child.
    pid: u32,
    /// Size asked for (already resolved: never 0), kept so a forked child rebuilds the same size.
    threads: usize,
    pool: Arc<ThreadPool>,
}

static POOL: Mutex<Option<PoolState>> = Mutex::new(None);

fn lock() -> std::sync::MutexGuard<'static, Option<PoolState>> {
    // A panic while holding the lock cannot leave the state half-written (it is replaced whole),
    // so a poisoned lock is safe to keep using.
    POOL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn resolve(name: &str, n: usize) -> CoreResult<usize> {
    match n {
        0 => Ok(cpus()),
        n if n > MAX_THREADS => Err(CoreError::invalid(
            name,
            n,
            format!("an integer in [0, {MAX_THREADS}]"),
        )),
        n => Ok(n),
    }
}

fn default_threads() -> CoreResult<usize> {
    match std::env::var(ENV_NUM_THREADS) {
        Ok(text) if !text.trim().is_empty() => {
            let n: usize = text.trim().parse().map_err(|_| {
                CoreError::invalid(
                    ENV_NUM_THREADS,
                    format!("{text:?}"),
                    "a non-negative integer",
                )
            })?;
            resolve(ENV_NUM_THREADS, n)
        }
        _ => Ok(cpus()),
    }
}

fn build(threads: usize) -> CoreResult<Arc<ThreadPool>> {
    ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("reclib-{i}"))
        .build()
        .map(Arc::new)
        .map_err(|e| CoreError::ThreadPool(e.to_string()))
}

/// Replaces the state, leaking the old pool if it was inherited through `fork`.
fn replace(slot: &mut Option<PoolState>, new: PoolState) {
    if let Some(old) = slot.replace(new) {
        if old.pid != std::process::id() {
            // The old pool's threads live only in the parent; dropping it would signal and
            // possibly wait on them. Leak it instead.
            std::mem::forget(old.pool);
        }
    }
}

/// The pool kernels run on, built (or rebuilt after `fork`) on first use.
pub fn pool() -> CoreResult<Arc<ThreadPool>> {
    let mut slot = lock();
    let pid = std::process::id();
    let threads = match slot.as_ref() {
        Some(state) if state.pid == pid => return Ok(Arc::clone(&state.pool)),
        Some(state) => state.threads,
        None => default_threads()?,
    };
    let pool = build(threads)?;
    replace(
        &mut slot,
        PoolState {
            pid,
            threads,
            pool: Arc::clone(&pool),
        },
    );
    Ok(pool)
}

/// Sizes the pool used by all kernels; `0` means the number of CPUs.
///
/// Kernels already running keep the pool they started on.
pub fn set_num_threads(n: usize) -> CoreResult<()> {
    let threads = resolve("n", n)?;
    let pool = build(threads)?;
    let mut slot = lock();
    replace(
        &mut slot,
        PoolState {
            pid: std::process::id(),
            threads,
            pool,
        },
    );
    Ok(())
}

/// Number of threads of the pool kernels run on (building it if needed).
pub fn get_num_threads() -> CoreResult<usize> {
    Ok(pool()?.current_num_threads())
}

/// Runs `op` on the kernel pool and returns its result.
///
/// If the calling thread already is a rayon worker (a kernel calling another, or a caller that
/// deliberately runs kernels inside its own pool), `op` runs right there instead.
pub fn install<R, F>(op: F) -> CoreResult<R>
where
    F: FnOnce() -> R + Send,
    R: Send,
{
    if rayon::current_thread_index().is_some() {
        return Ok(op());
    }
    Ok(pool()?.install(op))
}

/// Splits `0..n` into at most `n_blocks` contiguous ranges of roughly equal cost.
///
/// `cum(i)` is the cumulative cost of items `0..i` and must be non-decreasing, with `cum(0) = 0`.
/// Empty ranges are never returned; for `n == 0` the result is empty.
pub(crate) fn split_by_cost(
    n: usize,
    n_blocks: usize,
    cum: impl Fn(usize) -> u64,
) -> Vec<Range<usize>> {
    if n == 0 {
        return Vec::new();
    }
    let n_blocks = n_blocks.clamp(1, n);
    let total = cum(n);
    let mut out = Vec::with_capacity(n_blocks);
    let mut start = 0usize;
    for b in 1..n_blocks {
        // ceil(total * b / n_blocks) without overflow for realistic totals.
        let target = ((u128::from(total) * b as u128).div_ceil(n_blocks as u128)) as u64;
        // First i in start..=n with cum(i) >= target.
        let (mut lo, mut hi) = (start, n);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if cum(mid) < target {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        if lo > start && lo < n {
            out.push(start..lo);
            start = lo;
        }
    }
    out.push(start..n);
    out
}

/// Number of blocks to split a kernel's work into: several per thread, for work stealing.
pub(crate) fn n_blocks_for(n: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    (threads * 8).min(n.max(1))
}

/// A raw view of a mutable slice that several tasks may write to at *disjoint* positions.
///
/// Used by the counting-sort scatters, where the set of positions each task writes is computed
/// up front and never overlaps.
pub(crate) struct DisjointWriter<'a, T> {
    ptr: *mut T,
    len: usize,
    /// Ties the writer to the exclusive borrow of the slice it writes into.
    _borrow: PhantomData<&'a mut [T]>,
}

// SAFETY: the writer only hands out writes to distinct positions (caller contract of `write`),
// so sharing it between threads cannot create overlapping accesses; `T: Send` makes moving the
// written values to the slice's owner thread sound.
unsafe impl<T: Send> Sync for DisjointWriter<'_, T> {}
// SAFETY: as above; the lifetime `'a` keeps the slice exclusively borrowed while the writer
// exists, so the pointer stays valid and nothing else reads or writes the slice meanwhile.
unsafe impl<T: Send> Send for DisjointWriter<'_, T> {}

impl<'a, T> DisjointWriter<'a, T> {
    /// Wraps `slice`, borrowing it exclusively for as long as the writer lives.
    pub(crate) fn new(slice: &'a mut [T]) -> Self {
        DisjointWriter {
            ptr: slice.as_mut_ptr(),
            len: slice.len(),
            _borrow: PhantomData,
        }
    }

    /// Writes `value` at `index`; out-of-range writes are ignored (they cannot happen when the
    /// offsets were computed from the same counts).
    ///
    /// # Safety
    ///
    /// No two calls, from any threads, may use the same `index` (the slice's liveness and
    /// exclusivity are guaranteed by the borrow held in `'a`).
    #[inline]
    pub(crate) unsafe fn write(&self, index: usize, value: T) {
        debug_assert!(
            index < self.len,
            "scatter index {index} out of {}",
            self.len
        );
        if index < self.len {
            // SAFETY: `index < len` keeps the pointer inside the slice, which `'a` keeps alive
            // and exclusively borrowed; no other call writes this position (caller contract).
            // The slot holds an initialised `T`, so assigning (which drops it) is sound.
            unsafe { *self.ptr.add(index) = value };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_by_cost_balances_and_covers() {
        // cost of item i is 1 except item 2 which costs 10: cum = [0,1,2,12,13,14]
        let costs = [1u64, 1, 10, 1, 1];
        let cum = |i: usize| costs[..i].iter().sum::<u64>();
        let blocks = split_by_cost(5, 3, cum);
        // targets ceil(14*1/3)=5 -> first i with cum>=5 is 3; ceil(28/3)=10 -> also 3 (skipped)
        assert_eq!(blocks, vec![0..3, 3..5]);
        assert!(split_by_cost(0, 4, |_| 0).is_empty());
        assert_eq!(split_by_cost(3, 10, |i| i as u64), vec![0..1, 1..2, 2..3]);
        // all-zero cost: a single block
        assert_eq!(split_by_cost(4, 3, |_| 0), vec![0..4]);
    }

    #[test]
    fn pool_size_round_trips() {
        // Other tests may run concurrently; they only ever see a working pool of some size.
        set_num_threads(3).unwrap();
        assert_eq!(get_num_threads().unwrap(), 3);
        set_num_threads(0).unwrap();
        assert_eq!(get_num_threads().unwrap(), cpus());
        assert!(matches!(
            set_num_threads(MAX_THREADS + 1),
            Err(CoreError::InvalidArgument { .. })
        ));
        let inside = install(rayon::current_num_threads).unwrap();
        assert_eq!(inside, cpus());
    }

    #[test]
    fn install_runs_inline_on_a_caller_pool() {
        let mine = ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let n = mine.install(|| install(rayon::current_num_threads).unwrap());
        assert_eq!(n, 2);
    }
}
