//! Skip-gram word2vec with hierarchical softmax, trained one (context, centre) pair at a time
//! exactly as Spark MLlib's `Word2Vec` (and the original `word2vec.c` with `-cbow 0 -hs 1
//! -negative 0`) does it (MODELS.md §4.9).
//!
//! # The model, for a newcomer
//!
//! Every vocabulary word `w` has an *input vector* `syn0[w]` (what the caller keeps in the end)
//! and the vocabulary is the leaf set of a Huffman tree whose `n_words - 1` inner nodes each
//! have an *output vector* `syn1[node]`. A word's *path* is the list of inner nodes from the
//! root down to its leaf, with the bit (`code`, left 0 / right 1) taken at each node. The
//! probability of seeing `centre` near `context` is the product over the centre's path of
//! `σ(syn0[context] · syn1[node])` for bit 0 and `1 − σ(...)` for bit 1, and training is plain
//! SGD on its log.
//!
//! # One pass
//!
//! Sentences are taken in order. Each position `pos` of a sentence has a random *shrink*
//! `b ∈ [0, window)` (drawn by the caller, see [`skipgram_hs_pass`]); the context words are the
//! ones at offsets `−(window − b) ..= window − b`, except `0`, that fall inside the sentence,
//! taken by ascending offset. For every such pair (context `c`, centre `w`) and every node `d`
//! of `w`'s path, in order from the root:
//!
//! ```text
//! f  = syn0[c] · syn1[d]                         (f32)
//! if −6 < f < 6:                                 (MAX_EXP: no update beyond it)
//!     s  = TABLE[⌊(f + 6) · 83⌋]                 (word2vec.c's sigmoid table, see below)
//!     g  = (1 − code − s) · alpha                (rounded to f32)
//!     e += g · syn1[d]                           (e starts at 0 for every pair)
//!     syn1[d] += g · syn0[c]
//! syn0[c] += e                                   (after the whole path)
//! ```
//!
//! `TABLE[i] = σ((2i / 1000 − 1) · 6)` for `i < 1000`, stored as f32. It is indexed with the
//! scale `1000 / 6 / 2 = 83` (an integer division in the original, not 83.33), so it reads the
//! sigmoid at about `f − 0.03`; that shift is part of the reference's behaviour and is kept.
//!
//! # Learning rate
//!
//! Each pass starts at `step_size`. At the start of a sentence, when more than 10 000 words of
//! this pass were processed since the last change, the rate becomes
//! `step_size · (1 − done / (max_iter · n_tokens + 1))` but at least `1e-4 · step_size`, where
//! `done` counts the words of the earlier sentences of this pass plus `iteration · n_tokens`
//! for the earlier passes (Spark's schedule with its default single partition).
//!
//! # What the caller does
//!
//! The caller builds the vocabulary (ids by count descending), removes out-of-vocabulary tokens,
//! cuts sentences to the maximum sentence length (Spark ML's `maxSentenceLength`, 1000 by
//! default) and builds the Huffman paths; this kernel takes the sentences as given (each CSR
//! row is one sentence; an empty row is allowed and changes nothing). The caller also fills the
//! initial input vectors (uniform in `[−0.5, 0.5) / rank` in Spark; inner-node vectors at zero)
//! and draws the shrinks, so that its own random generator decides every random number and a
//! reimplementation can reproduce the run exactly. One call runs one pass; the caller passes
//! the vectors a pass returns to the next one.
//!
//! The loop is sequential on purpose: every step reads the vectors the previous step wrote,
//! which is what Spark does with its default `numPartitions = 1`. The result is deterministic.

use crate::error::{CoreError, CoreResult};
use crate::sparse::Pattern;

/// Dot products at or beyond this magnitude give no update (word2vec.c's `MAX_EXP`).
pub const MAX_EXP: f32 = 6.0;

/// Entries of the sigmoid table (word2vec.c's `EXP_TABLE_SIZE`).
pub const EXP_TABLE_SIZE: usize = 1000;

/// The table index scale, `EXP_TABLE_SIZE / MAX_EXP / 2` with Spark's integer division: 83.
const TABLE_SCALE: f64 = (EXP_TABLE_SIZE / 6) as f64 / 2.0;

/// The learning rate is recomputed at the first sentence that starts more than this many words
/// after the last change.
pub const ALPHA_EVERY: u64 = 10_000;

/// The learning rate never falls below this fraction of `step_size`.
const MIN_ALPHA_FRACTION: f64 = 1e-4;

/// The sentences of a corpus as a CSR pattern: sentence `s` is
/// `words[indptr[s]..indptr[s + 1]]`, each word a vocabulary id in `[0, n_words)`.
#[derive(Debug, Clone, Copy)]
pub struct Sentences<'a> {
    /// Row pointers, `n_sentences + 1` of them, starting at 0.
    pub indptr: &'a [i64],
    /// The vocabulary id of every token, sentence after sentence.
    pub words: &'a [i32],
}

/// The Huffman path of every vocabulary word: word `w`'s inner nodes, from the root down, are
/// `nodes[indptr[w]..indptr[w + 1]]` and the bits taken at them are the same range of `codes`.
#[derive(Debug, Clone, Copy)]
pub struct HuffmanPaths<'a> {
    /// Row pointers, `n_words + 1` of them, starting at 0.
    pub indptr: &'a [i64],
    /// Inner-node ids in `[0, n_words - 1)`.
    pub nodes: &'a [i32],
    /// The bit taken at each node of the path (`true` = 1).
    pub codes: &'a [bool],
}

/// The scalar settings of one pass of [`skipgram_hs_pass`].
#[derive(Debug, Clone, Copy)]
pub struct SkipGramPass {
    /// Vector size (>= 1): `syn0` holds `n_words × rank` values, `syn1` `(n_words − 1) × rank`.
    pub rank: usize,
    /// Largest distance between a centre word and its context (>= 1).
    pub window: usize,
    /// Initial learning rate (finite, > 0).
    pub step_size: f64,
    /// Which pass this is, from 0 (< `max_iter`).
    pub iteration: usize,
    /// Number of passes of the whole training (>= 1), for the learning-rate schedule.
    pub max_iter: usize,
}

/// Spark's learning-rate schedule within one pass (see the module documentation).
#[derive(Debug, Clone)]
struct AlphaSchedule {
    step_size: f64,
    /// Words of the earlier passes: `iteration · n_tokens`.
    before: u64,
    /// `max_iter · n_tokens + 1`.
    denominator: f64,
    /// Words of this pass done at the last change.
    last: u64,
    alpha: f64,
}

impl AlphaSchedule {
    fn new(step_size: f64, iteration: u64, max_iter: u64, n_tokens: u64) -> Self {
        AlphaSchedule {
            step_size,
            before: iteration.saturating_mul(n_tokens),
            denominator: max_iter.saturating_mul(n_tokens).saturating_add(1) as f64,
            last: 0,
            alpha: step_size,
        }
    }

    /// The rate of a sentence that starts after `done` words of this pass.
    fn at_sentence(&mut self, done: u64) -> f64 {
        if done - self.last > ALPHA_EVERY {
            self.last = done;
            let progress = (done + self.before) as f64 / self.denominator;
            self.alpha = self.step_size * (1.0 - progress);
            let floor = self.step_size * MIN_ALPHA_FRACTION;
            if self.alpha < floor {
                self.alpha = floor;
            }
        }
        self.alpha
    }
}

/// word2vec.c's sigmoid table: `σ((2i / 1000 − 1) · 6)` as f32, computed as Spark does.
fn sigmoid_table() -> Vec<f32> {
    (0..EXP_TABLE_SIZE)
        .map(|i| {
            let x = (2.0 * i as f64 / EXP_TABLE_SIZE as f64 - 1.0) * f64::from(MAX_EXP);
            let e = x.exp();
            (e / (e + 1.0)) as f32
        })
        .collect()
}

/// `a · b` in f32 with eight running partial sums (a fixed order, so the result is
/// deterministic; it lets the compiler use SIMD where a single running sum could not).
#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut partial = [0.0f32; 8];
    let (a_blocks, a_rest) = a.split_at(a.len() - a.len() % 8);
    let (b_blocks, b_rest) = b.split_at(a_blocks.len());
    for (x, y) in a_blocks.chunks_exact(8).zip(b_blocks.chunks_exact(8)) {
        for k in 0..8 {
            partial[k] += x[k] * y[k];
        }
    }
    let mut sum = ((partial[0] + partial[4]) + (partial[1] + partial[5]))
        + ((partial[2] + partial[6]) + (partial[3] + partial[7]));
    for (x, y) in a_rest.iter().zip(b_rest) {
        sum += x * y;
    }
    sum
}

/// Checks that a row-pointer array has exactly `rows + 1` entries.
fn rows_of(name: &str, indptr: &[i64], rows: usize, what: &str) -> CoreResult<()> {
    if indptr.len() == rows + 1 {
        return Ok(());
    }
    Err(CoreError::invalid(
        name,
        format!("{} row pointers", indptr.len()),
        format!("{} ({what} + 1)", rows + 1),
    ))
}

/// Checks that every value of a vector array is finite.
fn finite(name: &str, values: &[f32]) -> CoreResult<()> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(p) => Err(CoreError::invalid_value(
            name,
            p,
            values[p],
            "a finite number",
        )),
        None => Ok(()),
    }
}

/// Validates every argument of [`skipgram_hs_pass`]; returns `n_words`.
fn validate(
    sentences: Sentences<'_>,
    paths: HuffmanPaths<'_>,
    shrinks: &[i32],
    params: SkipGramPass,
    syn0: &[f32],
    syn1: &[f32],
) -> CoreResult<usize> {
    let rank = params.rank;
    if rank == 0 {
        return Err(CoreError::invalid("rank", 0, "an integer >= 1"));
    }
    if syn0.len() % rank != 0 {
        return Err(CoreError::invalid(
            "syn0",
            format!("{} values", syn0.len()),
            format!("n_words x rank values (a multiple of rank = {rank})"),
        ));
    }
    let n_words = syn0.len() / rank;
    let n_inner = n_words.saturating_sub(1);
    if syn1.len() != n_inner * rank {
        return Err(CoreError::invalid(
            "syn1",
            format!("{} values", syn1.len()),
            format!("(n_words - 1) x rank = {n_inner} x {rank} values"),
        ));
    }
    if params.window == 0 {
        return Err(CoreError::invalid("window", 0, "an integer >= 1"));
    }
    if !(params.step_size.is_finite() && params.step_size > 0.0) {
        return Err(CoreError::invalid(
            "step_size",
            params.step_size,
            "a finite number > 0",
        ));
    }
    if params.max_iter == 0 {
        return Err(CoreError::invalid("max_iter", 0, "an integer >= 1"));
    }
    if params.iteration >= params.max_iter {
        return Err(CoreError::invalid(
            "iteration",
            params.iteration,
            format!("a pass number in [0, max_iter = {})", params.max_iter),
        ));
    }

    Pattern::new(sentences.indptr, sentences.words, n_words)
        .map_err(|e| e.with_prefix("sentence_"))?;
    rows_of("path_indptr", paths.indptr, n_words, "n_words")?;
    Pattern::new(paths.indptr, paths.nodes, n_inner).map_err(|e| e.with_prefix("path_"))?;
    if paths.codes.len() != paths.nodes.len() {
        return Err(CoreError::length_mismatch(
            "path_indices",
            paths.nodes.len(),
            "path_codes",
            paths.codes.len(),
        ));
    }

    if shrinks.len() != sentences.words.len() {
        return Err(CoreError::length_mismatch(
            "sentence_indices",
            sentences.words.len(),
            "shrinks",
            shrinks.len(),
        ));
    }
    let window = params.window;
    if let Some(p) = shrinks.iter().position(|&b| b < 0 || b as usize >= window) {
        return Err(CoreError::invalid_value(
            "shrinks",
            p,
            shrinks[p],
            format!("a value in [0, window = {window})"),
        ));
    }
    finite("syn0", syn0)?;
    finite("syn1", syn1)?;
    Ok(n_words)
}

/// One training pass of skip-gram with hierarchical softmax over `sentences`, in place.
///
/// `syn0` holds the input vectors (`n_words × rank`, row-major; `n_words` is
/// `syn0.len() / rank`), `syn1` the inner-node vectors (`(n_words − 1) × rank`); both are
/// updated. `shrinks[t]` is the window shrink `b ∈ [0, window)` of token `t` (corpus order):
/// that position's context reaches `window − b` words to each side. See the module
/// documentation for the algorithm, the learning-rate schedule and what the caller prepares.
///
/// Errors (nothing is changed then): `rank`, `window` or `max_iter` of 0; `step_size` not
/// finite and > 0; `iteration >= max_iter`; `syn0` not a multiple of `rank` or `syn1` not
/// `(n_words − 1) × rank` values; non-finite vector values; sentence or path pointers that do
/// not form a CSR pattern (names prefixed `sentence_` and `path_`), word ids outside
/// `[0, n_words)`, node ids outside `[0, n_words − 1)`, `path_indptr` not `n_words + 1` long,
/// `path_codes` not as long as the nodes; `shrinks` not one per token or outside `[0, window)`.
pub fn skipgram_hs_pass(
    sentences: Sentences<'_>,
    paths: HuffmanPaths<'_>,
    shrinks: &[i32],
    params: SkipGramPass,
    syn0: &mut [f32],
    syn1: &mut [f32],
) -> CoreResult<()> {
    validate(sentences, paths, shrinks, params, syn0, syn1)?;

    let rank = params.rank;
    let window = params.window;
    let table = sigmoid_table();
    let n_tokens = sentences.words.len() as u64;
    let mut schedule = AlphaSchedule::new(
        params.step_size,
        params.iteration as u64,
        params.max_iter as u64,
        n_tokens,
    );
    let mut neu1e = vec![0.0f32; rank];
    let mut done: u64 = 0;

    // Validation made every pointer non-negative, non-decreasing and within its array, and
    // every id within its range, so the casts and slices below cannot fail.
    for bounds in sentences.indptr.windows(2) {
        let (start, end) = (bounds[0] as usize, bounds[1] as usize);
        let alpha = schedule.at_sentence(done);
        done += (end - start) as u64;
        let sentence = &sentences.words[start..end];
        let shrink = &shrinks[start..end];

        for (pos, &centre) in sentence.iter().enumerate() {
            let reach = window - shrink[pos] as usize;
            let path =
                paths.indptr[centre as usize] as usize..paths.indptr[centre as usize + 1] as usize;
            let first = pos.saturating_sub(reach);
            let last = pos.saturating_add(reach).min(sentence.len() - 1);

            for (other, &context) in sentence.iter().enumerate().take(last + 1).skip(first) {
                if other == pos {
                    continue;
                }

                // Hierarchical softmax along the centre word's path; the context's input
                // vector is read as it is and only updated after the whole path.
                let l1 = context as usize * rank;
                let input = &syn0[l1..l1 + rank];
                neu1e.fill(0.0);
                for at in path.clone() {
                    let l2 = paths.nodes[at] as usize * rank;
                    let output = &mut syn1[l2..l2 + rank];
                    let f = dot(input, output);
                    if !(f > -MAX_EXP && f < MAX_EXP) {
                        continue;
                    }
                    let index = (f64::from(f + MAX_EXP) * TABLE_SCALE) as usize;
                    let sigmoid = table[index.min(EXP_TABLE_SIZE - 1)];
                    let code = if paths.codes[at] { 1.0f32 } else { 0.0 };
                    let g = (f64::from(1.0 - code - sigmoid) * alpha) as f32;
                    for ((e, o), i) in neu1e.iter_mut().zip(output.iter_mut()).zip(input) {
                        *e += g * *o;
                        *o += g * *i;
                    }
                }
                for (v, e) in syn0[l1..l1 + rank].iter_mut().zip(&neu1e) {
                    *v += *e;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two words with one inner node (the root): word 0 takes bit 0 there, word 1 bit 1.
    const TWO_PATHS: HuffmanPaths<'static> = HuffmanPaths {
        indptr: &[0, 1, 2],
        nodes: &[0, 0],
        codes: &[false, true],
    };

    fn params(rank: usize, window: usize, step_size: f64) -> SkipGramPass {
        SkipGramPass {
            rank,
            window,
            step_size,
            iteration: 0,
            max_iter: 1,
        }
    }

    fn sigma(x: f64) -> f64 {
        1.0 / (1.0 + (-x).exp())
    }

    fn close(got: &[f32], expected: &[f64], tol: f64) {
        assert_eq!(got.len(), expected.len());
        for (k, (&g, &e)) in got.iter().zip(expected).enumerate() {
            assert!(
                (f64::from(g) - e).abs() <= tol,
                "[{k}]: got {g}, expected {e}"
            );
        }
    }

    /// One pass, rank 2, window 1, step 0.5, over the one sentence [0, 1] (both words through
    /// the root node of `TWO_PATHS`).
    fn one_pair_pass(syn0: &mut [f32], syn1: &mut [f32]) {
        let sentences = Sentences {
            indptr: &[0, 2],
            words: &[0, 1],
        };
        skipgram_hs_pass(sentences, TWO_PATHS, &[0, 0], params(2, 1, 0.5), syn0, syn1).unwrap();
    }

    #[test]
    fn table_reads_the_sigmoid_slightly_left() {
        let table = sigmoid_table();
        // f = 0 reads entry ⌊6 · 83⌋ = 498, which holds
        // σ((2 · 498 / 1000 − 1) · 6) = σ(−0.024).
        assert_eq!((f64::from(0.0f32 + MAX_EXP) * TABLE_SCALE) as usize, 498);
        assert!((f64::from(table[498]) - sigma(-0.024)).abs() < 1e-7);
        assert!((f64::from(table[0]) - sigma(-6.0)).abs() < 1e-9);
        assert_eq!(TABLE_SCALE, 83.0);
    }

    #[test]
    fn two_pairs_by_hand() {
        // One sentence [0, 1], window 1: the pairs are (context 1, centre 0) then
        // (context 0, centre 1), both through the root node.
        let mut syn0 = vec![0.1f32, 0.2, 0.3, -0.1];
        let mut syn1 = vec![0.0f32; 2];
        one_pair_pass(&mut syn0, &mut syn1);

        // Pair 1: f = syn0[1] · 0 = 0, so s = σ(−0.024) and g1 = (1 − 0 − s) · 0.5; the input
        // update g1 · syn1 is 0, and syn1 becomes g1 · syn0[1].
        let s = sigma(-0.024);
        let g1 = (1.0 - s) * 0.5;
        // Pair 2: f = syn0[0] · g1 syn0[1] = g1 · (0.03 − 0.02) ≈ 0.0025, still entry 498, so
        // g2 = (1 − 1 − s) · 0.5; syn0[0] += g2 · syn1 and syn1 += g2 · syn0[0] (old value).
        let g2 = -s * 0.5;
        let syn1_mid = [g1 * 0.3, g1 * -0.1];
        close(
            &syn0,
            &[0.1 + g2 * syn1_mid[0], 0.2 + g2 * syn1_mid[1], 0.3, -0.1],
            1e-7,
        );
        close(
            &syn1,
            &[syn1_mid[0] + g2 * 0.1, syn1_mid[1] + g2 * 0.2],
            1e-7,
        );
    }

    #[test]
    fn products_beyond_max_exp_give_no_update() {
        // syn0[1] · syn1 = 7 and syn0[0] · syn1 = −6.5: neither pair updates anything.
        let mut syn0 = vec![-0.65f32, 0.0, 0.7, 0.0];
        let mut syn1 = vec![10.0f32, 0.0];
        let (before0, before1) = (syn0.clone(), syn1.clone());
        one_pair_pass(&mut syn0, &mut syn1);
        assert_eq!((syn0, syn1), (before0, before1));
    }

    #[test]
    fn learning_rate_steps_like_spark() {
        // Sentences starting at these word counts in a pass over 30000 words.
        let starts = [0u64, 6000, 9000, 12000, 20000, 23000];
        let mut one = AlphaSchedule::new(0.1, 0, 1, 30000);
        let alpha: Vec<f64> = starts.iter().map(|&d| one.at_sentence(d)).collect();
        assert_eq!(&alpha[..3], &[0.1, 0.1, 0.1]);
        assert!((alpha[3] - 0.1 * (1.0 - 12000.0 / 30001.0)).abs() < 1e-15);
        assert_eq!(alpha[4], alpha[3]); // 20000 − 12000 is not more than 10000
        assert!((alpha[5] - 0.1 * (1.0 - 23000.0 / 30001.0)).abs() < 1e-15);

        // The second of two passes counts the first pass's words and starts at step_size.
        let mut second = AlphaSchedule::new(0.1, 1, 2, 30000);
        let alpha: Vec<f64> = starts.iter().map(|&d| second.at_sentence(d)).collect();
        assert_eq!(alpha[0], 0.1);
        assert!((alpha[3] - 0.1 * (1.0 - 42000.0 / 60001.0)).abs() < 1e-15);

        // Never below 1e-4 · step_size.
        let mut end = AlphaSchedule::new(0.1, 0, 1, 20000);
        assert_eq!(end.at_sentence(19999), 0.1 * 1e-4); // 1 − 19999 / 20001 < 1e-4
    }

    /// A corpus of `n_words` words over a few sentences, with its (any) paths and vectors.
    struct Toy {
        indptr: Vec<i64>,
        words: Vec<i32>,
        path_indptr: Vec<i64>,
        nodes: Vec<i32>,
        codes: Vec<bool>,
        syn0: Vec<f32>,
        rank: usize,
    }

    impl Toy {
        fn new(rank: usize) -> Toy {
            // 4 words; a balanced tree: root 2, node 0 over words 0 and 1, node 1 over 2 and 3.
            let words = vec![0, 1, 2, 0, 3, 1, 1, 0, 2, 2, 3, 0, 1];
            let indptr = vec![0, 5, 5, 9, 10, 13]; // one empty and one single-word sentence
            let path_indptr = vec![0, 2, 4, 6, 8];
            let nodes = vec![2, 0, 2, 0, 2, 1, 2, 1];
            let codes = vec![false, false, false, true, true, false, true, true];
            let syn0 = (0..4 * rank)
                .map(|k| ((k * 37 % 101) as f32 / 101.0 - 0.5) / rank as f32)
                .collect();
            Toy {
                indptr,
                words,
                path_indptr,
                nodes,
                codes,
                syn0,
                rank,
            }
        }

        fn run(&self, window: usize, shrinks: &[i32], step: f64) -> (Vec<f32>, Vec<f32>) {
            let mut syn0 = self.syn0.clone();
            let mut syn1 = vec![0.0f32; 3 * self.rank];
            let sentences = Sentences {
                indptr: &self.indptr,
                words: &self.words,
            };
            let paths = HuffmanPaths {
                indptr: &self.path_indptr,
                nodes: &self.nodes,
                codes: &self.codes,
            };
            let p = params(self.rank, window, step);
            skipgram_hs_pass(sentences, paths, shrinks, p, &mut syn0, &mut syn1).unwrap();
            (syn0, syn1)
        }
    }

    #[test]
    fn invariants_of_windows_and_sentences() {
        let toy = Toy::new(11);
        let n = toy.words.len();

        // A window of 3 shrunk by 2 everywhere is a window of 1, bit for bit.
        let narrow = toy.run(1, &vec![0; n], 0.05);
        assert_eq!(toy.run(3, &vec![2; n], 0.05), narrow);

        // Deterministic, and a wider window changes the result.
        assert_eq!(toy.run(1, &vec![0; n], 0.05), narrow);
        assert_ne!(toy.run(2, &vec![0; n], 0.05), narrow);

        // Windows never cross sentences: a corpus whose sentences hold one word each (here
        // the same tokens, each its own sentence) trains nothing.
        let alone = Toy {
            indptr: (0..=n as i64).collect(),
            ..Toy::new(11)
        };
        let (syn0, syn1) = alone.run(3, &vec![0; n], 0.05);
        assert_eq!(syn0, toy.syn0);
        assert!(syn1.iter().all(|&v| v == 0.0));

        // Every word of the toy corpus has a neighbour, so every input vector moves, and
        // every inner node lies on some path, so every output vector moves.
        let (syn0, syn1) = narrow;
        for w in 0..4 {
            let r = w * toy.rank..(w + 1) * toy.rank;
            assert_ne!(&syn0[r.clone()], &toy.syn0[r]);
        }
        for node in syn1.chunks(toy.rank) {
            assert!(node.iter().any(|&v| v != 0.0));
        }
    }

    #[test]
    fn dot_matches_a_plain_sum() {
        let a: Vec<f32> = (0..19).map(|k| k as f32 * 0.25 - 2.0).collect();
        let b: Vec<f32> = (0..19).map(|k| 1.0 - k as f32 * 0.125).collect();
        let plain: f64 = a
            .iter()
            .zip(&b)
            .map(|(x, y)| f64::from(*x) * f64::from(*y))
            .sum();
        assert!((f64::from(dot(&a, &b)) - plain).abs() < 1e-5);
        assert_eq!(dot(&[], &[]), 0.0);
    }

    #[test]
    fn bad_arguments_are_named() {
        let toy = Toy::new(2);
        let n = toy.words.len();
        let zeros = vec![0i32; n];
        let sentences = Sentences {
            indptr: &toy.indptr,
            words: &toy.words,
        };
        let paths = HuffmanPaths {
            indptr: &toy.path_indptr,
            nodes: &toy.nodes,
            codes: &toy.codes,
        };
        let run = |s: Sentences<'_>, p: HuffmanPaths<'_>, b: &[i32], q: SkipGramPass, s1: usize| {
            let mut syn0 = toy.syn0.clone();
            let mut syn1 = vec![0.0f32; s1];
            let result = skipgram_hs_pass(s, p, b, q, &mut syn0, &mut syn1);
            assert_eq!(syn0, toy.syn0, "nothing changes on an error");
            result.unwrap_err().to_string()
        };
        let ok = params(2, 1, 0.1);

        assert_eq!(
            run(sentences, paths, &zeros, SkipGramPass { rank: 0, ..ok }, 6),
            "invalid `rank`: got 0, expected an integer >= 1"
        );
        assert!(
            run(sentences, paths, &zeros, SkipGramPass { rank: 3, ..ok }, 6)
                .starts_with("invalid `syn0`: got 8 values")
        );
        assert!(run(sentences, paths, &zeros, ok, 4).starts_with("invalid `syn1`: got 4 values"));
        assert!(run(
            sentences,
            paths,
            &zeros,
            SkipGramPass { window: 0, ..ok },
            6
        )
        .starts_with("invalid `window`"));
        assert!(run(
            sentences,
            paths,
            &zeros,
            SkipGramPass {
                step_size: f64::NAN,
                ..ok
            },
            6
        )
        .starts_with("invalid `step_size`"));
        assert!(run(
            sentences,
            paths,
            &zeros,
            SkipGramPass { iteration: 1, ..ok },
            6
        )
        .starts_with("invalid `iteration`: got 1"));

        let words = [0, 1, 4];
        let bad = Sentences {
            indptr: &[0, 3],
            words: &words,
        };
        assert_eq!(
            run(bad, paths, &[0, 0, 0], ok, 6),
            "`sentence_indices`[2] = 4 is out of range, expected a value in [0, 4)"
        );
        let bad = Sentences {
            indptr: &[0, 3, 2],
            words: &words[..2],
        };
        assert!(run(bad, paths, &[0, 0], ok, 6).starts_with("`sentence_indptr`[2] = 2"));

        let short = HuffmanPaths {
            indptr: &toy.path_indptr[..4],
            ..paths
        };
        assert_eq!(
            run(sentences, short, &zeros, ok, 6),
            "invalid `path_indptr`: got 4 row pointers, expected 5 (n_words + 1)"
        );
        let nodes = [2, 0, 2, 0, 2, 1, 2, 3];
        let bad_node = HuffmanPaths {
            nodes: &nodes,
            ..paths
        };
        assert_eq!(
            run(sentences, bad_node, &zeros, ok, 6),
            "`path_indices`[7] = 3 is out of range, expected a value in [0, 3)"
        );
        let few_codes = HuffmanPaths {
            codes: &toy.codes[..7],
            ..paths
        };
        assert_eq!(
            run(sentences, few_codes, &zeros, ok, 6),
            "`path_indices` and `path_codes` must have the same length, got 8 and 7"
        );

        assert!(run(sentences, paths, &zeros[1..], ok, 6).starts_with("`sentence_indices` and"));
        let mut shrinks = zeros.clone();
        shrinks[4] = 1;
        assert_eq!(
            run(sentences, paths, &shrinks, ok, 6),
            "`shrinks`[4] = 1, expected a value in [0, window = 1)"
        );
        shrinks[4] = -1;
        assert!(run(sentences, paths, &shrinks, ok, 6).starts_with("`shrinks`[4] = -1"));

        let mut syn0 = toy.syn0.clone();
        syn0[3] = f32::NAN;
        let mut syn1 = vec![0.0f32; 6];
        let e = skipgram_hs_pass(sentences, paths, &zeros, ok, &mut syn0, &mut syn1).unwrap_err();
        assert_eq!(e.to_string(), "`syn0`[3] = NaN, expected a finite number");
    }

    #[test]
    fn a_one_word_vocabulary_and_an_empty_corpus_train_nothing() {
        let paths = HuffmanPaths {
            indptr: &[0, 0],
            nodes: &[],
            codes: &[],
        };
        let sentences = Sentences {
            indptr: &[0, 3],
            words: &[0, 0, 0],
        };
        let mut syn0 = vec![0.25f32, -0.5];
        let mut syn1: Vec<f32> = Vec::new();
        skipgram_hs_pass(
            sentences,
            paths,
            &[0, 1, 0],
            params(2, 2, 0.1),
            &mut syn0,
            &mut syn1,
        )
        .unwrap();
        assert_eq!(syn0, vec![0.25, -0.5]);

        let empty = Sentences {
            indptr: &[0],
            words: &[],
        };
        let mut syn0 = vec![0.1f32, 0.2, 0.3, 0.4];
        let mut syn1 = vec![0.0f32; 2];
        skipgram_hs_pass(
            empty,
            TWO_PATHS,
            &[],
            params(2, 1, 0.1),
            &mut syn0,
            &mut syn1,
        )
        .unwrap();
        assert_eq!(syn0, vec![0.1, 0.2, 0.3, 0.4]);
    }
}
