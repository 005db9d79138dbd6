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
//! | [`slim`] | SLIM weights: non-negative elastic net per item by Gram coordinate descent |
//! | [`admm`] | ADMM-SLIM: the dense ADMM loop of the original implementation |
//! | [`rules`] | association-rule counts: per-item and per-pair session counts and weights |
//! | [`word2vec`] | skip-gram word2vec with hierarchical softmax, Spark MLlib's sequential loop |
//! | [`parallel`] | the fork-safe thread pool every kernel runs on |
//!
//! Conventions: indices are `i32`, row pointers `i64`, values `f64`; CSR rows have strictly
//! ascending column indices; results never depend on the number of threads.

#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod accum;
pub mod admm;
pub mod error;
pub mod parallel;
pub mod popularity;
pub mod rules;
pub mod scoring;
pub mod similarity;
pub mod slim;
pub mod sparse;
pub mod topk;
pub mod wilson;
pub mod word2vec;

pub use admm::{admm_slim_fit, AdmmFit, AdmmParams, AdmmStart};
pub use error::{CoreError, CoreResult};
pub use popularity::{column_stats, ColumnStats};
pub use rules::{rules_count, RuleCounts};
pub use scoring::neighbour_topk;
pub use similarity::{cooccurrence, cosine_topn_from_dots, item_cosine_topn};
pub use slim::slim_fit;
pub use sparse::{Csr, CsrView, Duplicates, Pattern};
pub use topk::{topk_csr, topk_dense, topk_ranked, ItemFilter, TopK};
pub use wilson::wilson_lower_bound;
pub use word2vec::{skipgram_hs_pass, HuffmanPaths, Sentences, SkipGramPass};
