//! # reclib-core
//!
//! The compute kernels of reclib, in plain Rust (no Python types): the `reclib-py` crate wraps
//! them for Python as `reclib._core`, borrowing numpy buffers as slices.
//!
//! | module | what |
//! | --- | --- |
//! | [`error`] | [`CoreError`], the one error type; every kernel returns `Result` |
//! | [`sparse`] | CSR matrices: owned [`Csr`], borrowed [`CsrView`], build from COO, transpose |
//! | [`similarity`] | item-item co-occurrence and shrunk cosine, cut to the top neighbours |
//! | [`scoring`] | neighbourhood scoring `H · W` with per-user top-k |
//! | [`topk`] | top-k selection over dense, ranked and sparse scores |
//! | [`wilson`] | Wilson score interval lower bound |
//! | [`popularity`] | per-column count, sum and sum of squares |
//! | [`parallel`] | the fork-safe thread pool every kernel runs on |
//!
//! Conventions: indices are `i32`, row pointers `i64`, values `f64`; CSR rows have strictly
//! ascending column indices; results never depend on the number of threads.

#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod accum;
pub mod error;
pub mod parallel;
pub mod popularity;
pub mod scoring;
pub mod similarity;
pub mod sparse;
pub mod topk;
pub mod wilson;

pub use error::{CoreError, CoreResult};
pub use popularity::{column_stats, ColumnStats};
pub use scoring::neighbour_topk;
pub use similarity::{cooccurrence, cosine_topn_from_dots, item_cosine_topn};
pub use sparse::{Csr, CsrView, Duplicates, Pattern};
pub use topk::{topk_csr, topk_dense, topk_ranked, ItemFilter, TopK};
pub use wilson::wilson_lower_bound;
