"""Skip-gram word2vec with hierarchical softmax: Spark MLlib's sequential loop, in Rust.

This is the algorithm Spark MLlib's ``Word2Vec`` runs (the one of the original ``word2vec.c``
with ``-cbow 0 -hs 1 -negative 0``), so that :class:`~reclib.models.word2vec.Word2VecRec` learns
the same kind of vectors on pandas as on Spark:

* vocabulary: the words with at least ``min_count`` occurrences, sorted by count descending;
  out-of-vocabulary tokens are removed from the sentences before windows are taken, and
  sentences are cut into pieces of at most ``max_sentence_length`` tokens (both done by the
  caller);
* a Huffman tree over the vocabulary; each word's output is its path of inner nodes and the
  left/right bits on the way;
* for every position, a random shrink ``b`` in ``[0, window)`` and the context words at offsets
  ``1 .. window - b`` on both sides; each (context, centre) pair is one step: the context word's
  input vector is pushed towards the centre word's path (sigmoid of the dot product with each
  inner node's vector, gradient ``(1 - bit - sigmoid) * alpha``; products beyond +-6 are skipped,
  as word2vec.c and Spark do);
* input vectors start uniform in ``[-0.5, 0.5) / rank``, inner-node vectors at zero;
* the sigmoid is read from word2vec.c's 1000-entry table with its index scale of 83 (not
  83.3), which evaluates it at about ``dot - 0.03``;
* the learning rate starts each pass at ``step_size`` and is recomputed as
  ``step_size * (1 - words_done / (max_iter * n_words + 1))`` (at least ``1e-4 * step_size``) at
  the first sentence that begins more than 10000 words after the previous change.

The last two details matter: with a continuous learning-rate decay and an exact sigmoid, the
vectors of frequent items come out about 25 % shorter and NDCG@10 on ml-100k about 10 % lower.

The steps run one pair at a time, in Spark's order, in the Rust kernel
``reclib._core.skipgram_hs_pass`` (one call per pass, single-threaded like Spark's default
``numPartitions=1``).  Python keeps every random number: numpy's ``default_rng(seed)`` draws the
initial vectors and, per pass, the shrinks of all positions.  What differs from Spark is
therefore only the random numbers (Spark draws them with its own generators, so a fixed seed
gives other vectors than Spark's) and the order of float additions in a dot product.  Results
are repeatable for a fixed seed.

The order of the sentences is the caller's, and it matters: one pass of SGD with a decaying
learning rate depends on it.  Spark ML trains the sentences in the order its ``groupBy`` yields
them, which changes with ``spark.sql.shuffle.partitions``; on ml-100k (seeds 1-7) Spark ML's
own NDCG@10 is 0.1068, 0.1038 and 0.1096 with 1, 8 and 200 shuffle partitions, and this
trainer, given each of those sentence orders, gives 0.1067, 0.1030 and 0.1090.

A vectorised numpy version of the same pass is kept as an independent reference
(``batch_pairs``): it applies the steps in mini-batches of consecutive pairs whose gradients
are computed from the same parameters; with one pair per batch it gives the kernel's vectors
to float precision (ml-100k: largest difference 4e-7).  Larger batches make it faster than a
Python loop but shrink the vectors of the most frequent items (ml-100k: -3 % at 128 pairs),
which costs about 1 % of NDCG@10 there.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from reclib import _core
from reclib._logging import get_logger

__all__ = ["MAX_WINDOW", "huffman_paths", "train_skipgram"]

logger = get_logger(__name__)

#: Dot products beyond this magnitude give no update (word2vec.c's MAX_EXP).
_MAX_EXP = 6.0
#: Spark's sigmoid table: 1000 entries over [-6, 6), indexed with the scale 1000 // 6 / 2.
_TABLE_SIZE = 1000
_TABLE_SCALE = (_TABLE_SIZE // 6) / 2.0
_TABLE_X = (2.0 * np.arange(_TABLE_SIZE) / _TABLE_SIZE - 1.0) * _MAX_EXP
#: Its values, as float32 like Spark's (``exp(x) / (exp(x) + 1)``).
_TABLE = (np.exp(_TABLE_X) / (np.exp(_TABLE_X) + 1.0)).astype(np.float32)
#: The learning rate is recomputed once more than this many words were processed since the
#: last change, at the start of a sentence (Spark's schedule).
_ALPHA_EVERY = 10000
#: Largest window: the shrinks are drawn as int32 (Spark's ``windowSize`` is a Java int too).
MAX_WINDOW = 2**31 - 1
#: Entries of the window matrix built at once by the numpy reference (positions x 2 * window).
_WINDOW_CELLS = 1 << 21


def huffman_paths(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Huffman codes of a vocabulary sorted by count descending.

    Parameters
    ----------
    counts : numpy.ndarray of int64
        Occurrences of each word, in non-increasing order; at least two words.

    Returns
    -------
    indptr : numpy.ndarray of int64
        Word ``w``'s path is ``points[indptr[w]:indptr[w + 1]]``.
    points : numpy.ndarray of int64
        Inner nodes (``0 .. n_words - 2``, the root is ``n_words - 2``) from the root down.
    codes : numpy.ndarray of float32
        The bit taken at each node of the path (0 or 1).
    """
    n_words = len(counts)

    # word2vec.c's linear-time construction: leaves are read from the end of the sorted
    # counts, merged nodes from the start of the second half.
    count = np.concatenate([counts.astype(np.int64), np.full(n_words - 1, np.iinfo(np.int64).max)])
    parent = np.zeros(2 * n_words - 1, dtype=np.int64)
    binary = np.zeros(2 * n_words - 1, dtype=np.int8)
    pos1, pos2 = n_words - 1, n_words
    for node in range(n_words, 2 * n_words - 1):
        picked = []
        for _ in range(2):
            if pos1 >= 0 and count[pos1] < count[pos2]:
                picked.append(pos1)
                pos1 -= 1
            else:
                picked.append(pos2)
                pos2 += 1
        count[node] = count[picked[0]] + count[picked[1]]
        parent[picked[0]] = node
        parent[picked[1]] = node
        binary[picked[1]] = 1

    # Walk every word up to the root at once, one level per step.
    root = 2 * n_words - 2
    steps_points, steps_codes = [], []
    current = np.arange(n_words, dtype=np.int64)
    active = np.ones(n_words, dtype=bool)
    while active.any():
        steps_codes.append(np.where(active, binary[current], -1))
        current = np.where(active, parent[current], current)
        steps_points.append(np.where(active, current - n_words, -1))
        active = active & (current != root)
    points_up = np.stack(steps_points, axis=1)  # leaf side first
    codes_up = np.stack(steps_codes, axis=1)
    lengths = (points_up >= 0).sum(axis=1)

    # Reverse each path so that it starts at the root.
    depth = points_up.shape[1]
    index = lengths[:, None] - 1 - np.arange(depth)[None, :]
    valid = index >= 0
    rows = np.repeat(np.arange(n_words), depth).reshape(n_words, depth)
    points = points_up[rows[valid], index[valid]]
    codes = codes_up[rows[valid], index[valid]].astype(np.float32)
    indptr = np.zeros(n_words + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    return indptr, points, codes


def _window_pairs(
    tokens: np.ndarray,
    sentence: np.ndarray,
    shrinks: np.ndarray,
    begin: int,
    end: int,
    window: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pairs whose centre lies in ``[begin, end)``, in corpus order (numpy reference).

    Returns ``(context word, centre word, centre position)``; ``position`` counts from 0 in the
    whole corpus.
    """
    n = len(tokens)
    centres = np.arange(begin, end)
    reach = window - shrinks[begin:end].astype(np.int64)
    offsets = np.concatenate([np.arange(-window, 0), np.arange(1, window + 1)])
    other = centres[:, None] + offsets[None, :]
    inside = (other >= 0) & (other < n) & (np.abs(offsets)[None, :] <= reach[:, None])
    other = np.clip(other, 0, n - 1)
    inside &= sentence[other] == sentence[centres][:, None]
    row, slot = np.nonzero(inside)  # row-major: by centre, then offset ascending
    return tokens[other[row, slot]], tokens[centres[row]], centres[row]


def _sigmoid_table(dots: np.ndarray) -> np.ndarray:
    """Spark's (and word2vec.c's) table sigmoid as float32, valid for ``|dots| < 6``.

    The table holds ``sigmoid(-6 + 12 * i / 1000)``, but it is indexed with ``(dot + 6) * 83``
    (an integer division in the original), so it reads the sigmoid at about ``dot - 0.03``.
    This small negative shift is part of the reference's behaviour and is kept.  As in Spark,
    ``dot + 6`` is a float32 sum and the product with 83 is taken in float64.
    """
    shifted = dots.astype(np.float32) + np.float32(_MAX_EXP)
    index = (shifted.astype(np.float64) * _TABLE_SCALE).astype(np.int64)
    return _TABLE[np.clip(index, 0, _TABLE_SIZE - 1)]


def _alpha_schedule(
    starts: np.ndarray, total: int, iteration: int, max_iter: int, step_size: float
) -> np.ndarray:
    """The learning rate of every sentence in one pass, as Spark MLlib computes it.

    Each pass starts at ``step_size``; at the first sentence that begins more than 10000 words
    after the last change, the rate becomes ``step_size * (1 - done / (max_iter * total + 1))``
    (``done`` counts the words of earlier passes too), never below ``1e-4 * step_size``.
    """
    alpha = np.full(len(starts), step_size, dtype=np.float64)
    last = 0
    while True:
        at = int(np.searchsorted(starts, last + _ALPHA_EVERY, side="right"))
        if at >= len(starts):
            return alpha
        last = int(starts[at])
        done = last + iteration * total
        alpha[at:] = step_size * max(1e-4, 1.0 - done / (max_iter * total + 1))


def _sgd_batch(
    syn0: np.ndarray,
    syn1: np.ndarray,
    context: np.ndarray,
    centre: np.ndarray,
    alpha: np.ndarray,
    paths: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    """One mini-batch of hierarchical-softmax steps (``alpha`` per pair), applied in place.

    The numpy reference of the Rust kernel: every gradient of the batch is computed from the
    parameters as they were before it, then the updates are summed into them.
    """
    indptr, points, codes = paths
    starts = indptr[centre]
    lengths = indptr[centre + 1] - starts
    entry_ptr = np.zeros(len(centre) + 1, dtype=np.int64)
    np.cumsum(lengths, out=entry_ptr[1:])
    pair = np.repeat(np.arange(len(centre)), lengths)
    offset = np.arange(entry_ptr[-1]) - np.repeat(entry_ptr[:-1], lengths)
    entry = np.repeat(starts, lengths) + offset
    node = points[entry]

    # Forward: one dot product per (pair, node of the centre word's path).
    hidden = syn0[context]
    out = syn1[node]
    dots = np.einsum("ed,ed->e", hidden[pair], out)
    gradient = (1.0 - codes[entry] - _sigmoid_table(dots)) * alpha[pair]
    gradient[np.abs(dots) >= _MAX_EXP] = 0.0
    gradient = gradient.astype(np.float32)

    # Input side: the sum over each pair's path (a pair's entries are contiguous).
    delta_in = np.add.reduceat(gradient[:, None] * out, entry_ptr[:-1])

    # Output side: per inner node, the sum over the entries that reach it.
    nodes, node_row = np.unique(node, return_inverse=True)
    scatter = sp.csr_matrix(
        (gradient, (node_row, pair)), shape=(len(nodes), len(centre)), dtype=np.float32
    )
    syn1[nodes] += scatter @ hidden

    words, word_row = np.unique(context, return_inverse=True)
    gather = sp.csr_matrix(
        (np.ones(len(context), np.float32), (word_row, np.arange(len(context)))),
        shape=(len(words), len(context)),
    )
    syn0[words] += gather @ delta_in


def _draw_shrinks(rng: np.random.Generator, n_tokens: int, window: int) -> np.ndarray:
    """One pass's window shrinks: ``b`` in ``[0, window)`` for every position, in corpus order."""
    return rng.integers(0, window, size=n_tokens, dtype=np.int32)


def _numpy_pass(
    syn0: np.ndarray,
    syn1: np.ndarray,
    tokens: np.ndarray,
    sentence: np.ndarray,
    shrinks: np.ndarray,
    paths: tuple[np.ndarray, np.ndarray, np.ndarray],
    token_alpha: np.ndarray,
    window: int,
    batch_pairs: int,
) -> None:
    """One pass of the numpy reference, in mini-batches of ``batch_pairs`` pairs, in place."""
    total = len(tokens)
    chunk = max(1, _WINDOW_CELLS // (2 * window))
    for begin in range(0, total, chunk):
        context, centre, position = _window_pairs(
            tokens, sentence, shrinks, begin, min(begin + chunk, total), window
        )
        pair_alpha = token_alpha[position]
        for at in range(0, len(centre), batch_pairs):
            batch = slice(at, at + batch_pairs)
            _sgd_batch(syn0, syn1, context[batch], centre[batch], pair_alpha[batch], paths)


def train_skipgram(
    tokens: np.ndarray,
    sentence: np.ndarray,
    counts: np.ndarray,
    rank: int,
    window: int,
    step_size: float,
    max_iter: int,
    seed: int | None,
    batch_pairs: int | None = None,
) -> np.ndarray:
    """Train input vectors for a tokenised corpus.

    Parameters
    ----------
    tokens : numpy.ndarray of int64
        Vocabulary index of every in-vocabulary token, in corpus order.
    sentence : numpy.ndarray of int64
        Sentence number of every token (non-decreasing); windows never cross sentences.
    counts : numpy.ndarray of int64
        Occurrences of each vocabulary word, non-increasing (index 0 is the most frequent).
    rank, window, step_size, max_iter, seed
        Vector size, window (at most ``MAX_WINDOW``), initial learning rate, passes over the
        corpus, random seed.
    batch_pairs : int, optional
        None (the default) trains with the Rust kernel, one pair at a time as Spark does.  A
        number trains with the numpy reference instead, in mini-batches of that many pairs
        (1 gives the kernel's vectors to float precision; for tests and comparisons).

    Returns
    -------
    numpy.ndarray of float32, shape (len(counts), rank)
        The learned vector of each vocabulary word.
    """
    rng = np.random.default_rng(seed)
    n_words = len(counts)
    syn0 = ((rng.random((n_words, rank), dtype=np.float32) - 0.5) / rank).astype(np.float32)
    if n_words < 2 or len(tokens) == 0:
        # A one-word vocabulary has no inner node to train: as in Spark MLlib, the word keeps
        # its random initial vector.
        return syn0
    syn1 = np.zeros((n_words - 1, rank), dtype=np.float32)
    paths = huffman_paths(counts)

    # Sentences as row pointers over the tokens; the kernel takes int32 ids and bool bits.
    total = len(tokens)
    starts = np.flatnonzero(np.r_[True, sentence[1:] != sentence[:-1]])
    sentence_indptr = np.r_[starts, total].astype(np.int64)
    words = tokens.astype(np.int32)
    path_indptr, path_nodes, path_codes = paths[0], paths[1].astype(np.int32), paths[2] > 0

    for iteration in range(max_iter):
        shrinks = _draw_shrinks(rng, total, window)
        if batch_pairs is None:
            syn0, syn1 = _core.skipgram_hs_pass(
                sentence_indptr, words, path_indptr, path_nodes, path_codes, shrinks,
                syn0, syn1, window, step_size, iteration, max_iter,
            )
        else:
            token_alpha = np.repeat(
                _alpha_schedule(starts, total, iteration, max_iter, step_size),
                np.diff(sentence_indptr),
            )
            _numpy_pass(
                syn0, syn1, tokens, sentence, shrinks, paths, token_alpha, window, batch_pairs
            )
        logger.debug("skip-gram pass %d of %d done", iteration + 1, max_iter)
    return syn0
