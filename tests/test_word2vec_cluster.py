"""Word2VecRec and ClusterRec (MODELS.md §4.9, §4.11) on pandas and on Spark."""

from __future__ import annotations

import heapq
import logging

import numpy as np
import pandas as pd
import pytest
from engines import assert_same_recs

import reclib.models._skipgram as skipgram
from reclib.exceptions import (
    ColumnMissingError,
    ColumnTypeError,
    InvalidParameterError,
    InvalidValueError,
    KernelError,
    SchemaError,
)
from reclib.models import ClusterRec, Word2VecRec
from reclib.models.cluster import kmeans, nearest_centre
from reclib.models.registry import MODELS, make_model


def sequence_log(n_users: int = 60, n_items: int = 30, length: int = 12, seed: int = 0):
    """Users walking through items in small steps, so that neighbours in time are related."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(n_users):
        item = int(rng.integers(n_items))
        for step in range(length):
            rows.append((user, item, step))
            item = int((item + rng.integers(1, 3)) % n_items)
    log = pd.DataFrame(rows, columns=["user_idx", "item_idx", "step"])
    log["timestamp"] = pd.Timestamp("2020-01-01") + pd.to_timedelta(log.pop("step"), unit="D")
    log["relevance"] = 1.0
    return log


@pytest.fixture()
def seq_log() -> pd.DataFrame:
    return sequence_log()


def vectors_of(model: Word2VecRec) -> dict[int, np.ndarray]:
    frame = model.item_vectors
    return {int(i): np.asarray(v) for i, v in zip(frame["item_idx"], frame["vector"])}


# --- Word2VecRec: the trainer ------------------------------------------------------------------

def test_huffman_codes_are_optimal_and_prefix_free() -> None:
    counts = np.sort(np.random.default_rng(1).zipf(1.6, size=300))[::-1].astype(np.int64)
    indptr, points, codes = skipgram.huffman_paths(counts)
    lengths = np.diff(indptr)

    heap = [(int(c), i) for i, c in enumerate(counts)]
    heapq.heapify(heap)
    optimal, next_id = 0, len(counts)
    while len(heap) > 1:
        a, b = heapq.heappop(heap), heapq.heappop(heap)
        optimal += a[0] + b[0]
        heapq.heappush(heap, (a[0] + b[0], next_id))
        next_id += 1
    assert int((counts * lengths).sum()) == optimal

    words = [tuple(codes[indptr[w]:indptr[w + 1]]) for w in range(len(counts))]
    assert len(set(words)) == len(words)
    node_of_prefix: dict[tuple, int] = {}
    for w in range(len(counts)):
        path, bits = points[indptr[w]:indptr[w + 1]], codes[indptr[w]:indptr[w + 1]]
        assert path[0] == len(counts) - 2  # every path starts at the root
        for depth, node in enumerate(path):
            assert node_of_prefix.setdefault(tuple(bits[:depth]), int(node)) == node


def _sequential_reference(tokens, sentence, counts, rank, window, step_size, seed, max_iter=1):
    """Spark MLlib's skip-gram loop written plainly in Python, one pair at a time."""
    rng = np.random.default_rng(seed)
    syn0 = ((rng.random((len(counts), rank), dtype=np.float32) - 0.5) / rank).astype(np.float32)
    syn1 = np.zeros((len(counts) - 1, rank), dtype=np.float32)
    indptr, points, codes = skipgram.huffman_paths(counts)
    starts = np.flatnonzero(np.r_[True, sentence[1:] != sentence[:-1]])
    sentence_index = np.searchsorted(starts, np.arange(len(tokens)), side="right") - 1
    for iteration in range(max_iter):
        reach = window - skipgram._draw_shrinks(rng, len(tokens), window)
        alpha_of = skipgram._alpha_schedule(starts, len(tokens), iteration, max_iter, step_size)
        for pos in range(len(tokens)):
            alpha = alpha_of[sentence_index[pos]]
            for offset in range(-reach[pos], reach[pos] + 1):
                other = pos + offset
                if offset == 0 or not 0 <= other < len(tokens) or sentence[other] != sentence[pos]:
                    continue
                word, context = tokens[pos], tokens[other]
                update = np.zeros(rank, dtype=np.float32)
                for at in range(indptr[word], indptr[word + 1]):
                    node = points[at]
                    dot = np.float32(syn0[context] @ syn1[node])
                    if not -6 < dot < 6:
                        continue
                    sigmoid = skipgram._sigmoid_table(np.array([dot]))[0]
                    g = np.float32((1 - codes[at] - sigmoid) * alpha)
                    update += g * syn1[node]
                    syn1[node] += g * syn0[context]
                syn0[context] += update
    return syn0


def _corpus(n_words: int, max_count: int, n_sentences: int, seed: int):
    rng = np.random.default_rng(seed)
    counts = np.sort(rng.integers(1, max_count, size=n_words))[::-1].astype(np.int64)
    tokens = np.repeat(np.arange(n_words), counts)
    rng.shuffle(tokens)
    sentence = np.sort(rng.integers(0, n_sentences, size=len(tokens)))
    return tokens, sentence, counts


def test_trainer_equals_the_sequential_algorithm() -> None:
    # The Rust kernel (the default) runs Spark's loop: the plain Python loop gives its vectors.
    tokens, sentence, counts = _corpus(12, 20, 9, seed=4)
    expected = _sequential_reference(tokens, sentence, counts, 6, 3, 0.1, 11, max_iter=2)
    got = skipgram.train_skipgram(tokens, sentence, counts, 6, 3, 0.1, 2, 11)
    assert got.dtype == np.float32 and got.shape == (12, 6)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)


def test_kernel_equals_the_numpy_reference_one_pair_at_a_time() -> None:
    # Two small corpora with 10001 one-word sentences between them (words without pairs), so
    # that the learning rate steps down within each pass at little cost for the numpy loop.
    first, first_sentence, _ = _corpus(20, 30, 15, seed=6)
    second, second_sentence, _ = _corpus(20, 30, 15, seed=7)
    filler = np.random.default_rng(8).integers(0, 20, size=10001)
    raw = np.concatenate([first, filler, second])
    sentence = np.concatenate(
        [first_sentence, 100 + np.arange(10001), 20000 + second_sentence]
    )
    counts = np.bincount(raw, minlength=20)
    order = np.argsort(-counts, kind="stable")  # ids by count descending, as the caller does
    tokens = np.argsort(order)[raw]
    counts = counts[order].astype(np.int64)

    got = skipgram.train_skipgram(tokens, sentence, counts, 8, 3, 0.05, 2, 5)
    expected = skipgram.train_skipgram(tokens, sentence, counts, 8, 3, 0.05, 2, 5, batch_pairs=1)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    initial = skipgram.train_skipgram(tokens, sentence, counts, 8, 3, 1e-9, 1, 5)
    assert np.abs(got - initial).max() > 0.01  # it did train
    # The rate stepped down (once, at the sentence that starts after 10001 words) before the
    # second corpus.
    alpha = skipgram._alpha_schedule(
        np.flatnonzero(np.r_[True, sentence[1:] != sentence[:-1]]), len(tokens), 0, 2, 0.05
    )
    assert alpha[0] == 0.05
    assert alpha[-1] == pytest.approx(0.05 * (1 - 10001 / (2 * len(tokens) + 1)), rel=1e-12)


def test_trainer_repeats_for_a_seed() -> None:
    tokens, sentence, counts = _corpus(25, 60, 20, seed=2)
    first = skipgram.train_skipgram(tokens, sentence, counts, 5, 2, 0.025, 2, 9)
    np.testing.assert_array_equal(
        skipgram.train_skipgram(tokens, sentence, counts, 5, 2, 0.025, 2, 9), first
    )
    other = skipgram.train_skipgram(tokens, sentence, counts, 5, 2, 0.025, 2, 10)
    assert not np.allclose(other, first)


def test_numpy_mini_batches_stay_close_to_the_sequential_algorithm() -> None:
    tokens, sentence, counts = _corpus(40, 150, 40, seed=5)
    expected = skipgram.train_skipgram(tokens, sentence, counts, 8, 2, 0.025, 1, 3)
    got = skipgram.train_skipgram(tokens, sentence, counts, 8, 2, 0.025, 1, 3, batch_pairs=16)
    cosine = (got * expected).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(
        expected, axis=1
    )
    assert cosine.min() > 0.98 and cosine.mean() > 0.995


def test_kernel_refuses_bad_input() -> None:
    from reclib import _core

    syn0 = np.zeros((2, 3), dtype=np.float32)
    syn1 = np.zeros((1, 3), dtype=np.float32)
    args = [
        np.array([0, 3], dtype=np.int64), np.array([0, 1, 0], dtype=np.int32),
        np.array([0, 1, 2], dtype=np.int64), np.array([0, 0], dtype=np.int32),
        np.array([False, True]), np.array([0, 0, 0], dtype=np.int32), syn0, syn1,
    ]
    new0, new1 = _core.skipgram_hs_pass(*args, 1, 0.1, 0, 1)
    assert new0.shape == (2, 3) and new1.shape == (1, 3) and new0 is not syn0

    shrinks = np.array([0, 1, 0], dtype=np.int32)
    with pytest.raises(KernelError, match=r"`shrinks`\[1\] = 1, expected a value in \[0, window"):
        _core.skipgram_hs_pass(*args[:5], shrinks, syn0, syn1, 1, 0.1, 0, 1)
    words = np.array([0, 2, 0], dtype=np.int32)
    with pytest.raises(KernelError, match=r"`sentence_indices`\[1\] = 2 is out of range"):
        _core.skipgram_hs_pass(args[0], words, *args[2:], 1, 0.1, 0, 1)
    with pytest.raises(KernelError, match=r"`syn0`: got .* dtype float64, expected .* float32"):
        _core.skipgram_hs_pass(*args[:6], syn0.astype(np.float64), syn1, 1, 0.1, 0, 1)
    with pytest.raises(KernelError, match=r"invalid `syn1`: got shape \(2, 3\), expected \(1, 3\)"):
        _core.skipgram_hs_pass(*args[:7], np.zeros((2, 3), np.float32), 1, 0.1, 0, 1)
    with pytest.raises(KernelError, match=r"invalid `iteration`: got 1"):
        _core.skipgram_hs_pass(*args, 1, 0.1, 1, 1)


def test_alpha_schedule_steps_like_spark() -> None:
    starts = np.array([0, 6000, 9000, 12000, 20000, 23000])
    alpha = skipgram._alpha_schedule(starts, 30000, 0, 1, 0.1)
    # No change until a sentence starts more than 10000 words after the last change (at 0).
    assert alpha[:3].tolist() == [0.1, 0.1, 0.1]
    assert alpha[3] == pytest.approx(0.1 * (1 - 12000 / 30001))
    assert alpha[4] == alpha[3]  # 20000 - 12000 <= 10000
    assert alpha[5] == pytest.approx(0.1 * (1 - 23000 / 30001))
    second_pass = skipgram._alpha_schedule(starts, 30000, 1, 2, 0.1)
    assert second_pass[0] == 0.1 and second_pass[3] == pytest.approx(0.1 * (1 - 42000 / 60001))


# --- Word2VecRec: behaviour --------------------------------------------------------------------

def test_seed_repeats_and_row_order_does_not_matter(seq_log: pd.DataFrame) -> None:
    first = Word2VecRec(rank=8, min_count=1, seed=3).fit(seq_log)
    shuffled = seq_log.sample(frac=1.0, random_state=0)
    again = Word2VecRec(rank=8, min_count=1, seed=3).fit(shuffled)
    other = Word2VecRec(rank=8, min_count=1, seed=4).fit(seq_log)
    np.testing.assert_array_equal(first._item_factors, again._item_factors)
    assert not np.allclose(first._item_factors, other._item_factors)
    pd.testing.assert_frame_equal(first.predict(seq_log, 5), again.predict(shuffled, 5))


def test_learns_neighbours_in_time(seq_log: pd.DataFrame) -> None:
    model = Word2VecRec(rank=16, min_count=1, window_size=2, max_iter=20, step_size=0.05, seed=0)
    near = model.fit(seq_log).get_nearest_items(list(range(30)), k=3)
    distance = (near["item_idx"] - near["neighbour_item_idx"]).abs()
    distance = np.minimum(distance, 30 - distance)
    assert (distance <= 3).mean() > 0.5  # items walked next to each other end up close


def test_score_is_dot_with_mean_idf_vector_plus_rank() -> None:
    log = pd.DataFrame(
        {
            "user_idx": [0, 0, 0, 1, 1, 2, 2, 2],
            "item_idx": [0, 1, 1, 1, 2, 0, 2, 3],
            "timestamp": [1, 2, 3, 1, 2, 1, 2, 3],
        }
    )
    model = Word2VecRec(rank=2, min_count=0, use_idf=True, seed=0).fit(log)

    # idf(i) = ln(N_users / n_i) with n_i the distinct users of i.
    n_users = {0: 2, 1: 2, 2: 2, 3: 1}
    np.testing.assert_allclose(model._idf, [np.log(3 / n_users[i]) for i in range(4)])

    # Fixed vectors; item 3 has none (out of vocabulary).
    vectors = np.array([[1.0, 0.0], [0.5, 2.0], [-1.0, 1.0], [0.0, 0.0]])
    model._item_factors = vectors.copy()
    model._has_vector = np.array([True, True, True, False])
    idf = model._idf

    history = pd.DataFrame({"user_idx": [7, 7, 7, 7], "item_idx": [1, 1, 2, 3]})
    user_vec = (2 * idf[1] * vectors[1] + idf[2] * vectors[2]) / 3  # duplicates count, 3 skipped
    expected = {item: vectors[item] @ user_vec + 2 for item in (0, 1, 2)}

    recs = model.predict(history, k=10, filter_seen_items=False)
    assert set(recs["item_idx"]) == {0, 1, 2}  # item 3 never recommended
    for item, score in zip(recs["item_idx"], recs["relevance"]):
        assert score == pytest.approx(expected[item], rel=1e-12)
    assert recs["relevance"].is_monotonic_decreasing

    pairs = pd.DataFrame({"user_idx": [7, 7, 7], "item_idx": [0, 3, 2]})
    scored = model.predict_pairs(pairs, history)
    assert scored["item_idx"].tolist() == [0, 2]
    np.testing.assert_allclose(scored["relevance"], [expected[0], expected[2]], rtol=1e-12)

    no_idf = Word2VecRec(rank=2, min_count=0, use_idf=False, seed=0).fit(log)
    np.testing.assert_array_equal(no_idf._idf, np.ones(4))


def test_out_of_vocabulary_items_never_recommended(seq_log: pd.DataFrame) -> None:
    log = pd.concat(
        [seq_log, pd.DataFrame({"user_idx": [0, 1], "item_idx": [99, 98],
                                "timestamp": pd.Timestamp("2021-01-01"), "relevance": 1.0})]
    )
    model = Word2VecRec(rank=8, min_count=2, seed=1).fit(log)
    assert not {98, 99} & set(model.item_vectors["item_idx"])

    recs = model.predict(log, k=40, filter_seen_items=False)
    assert not recs["item_idx"].isin([98, 99]).any()
    assert model.predict(log, k=5, items=[98, 99]).empty

    # A history made only of items without vector gives no user vector, hence nothing.
    only_oov = pd.DataFrame({"user_idx": [5, 500], "item_idx": [98, 99]})
    assert model.predict(only_oov, k=5).empty
    pairs = pd.DataFrame({"user_idx": [0, 0], "item_idx": [99, int(seq_log.item_idx[0])]})
    assert model.predict_pairs(pairs, log)["item_idx"].tolist() == [int(seq_log.item_idx[0])]

    near = model.get_nearest_items([98, 99, 0], k=50)
    assert set(near["item_idx"]) == {0} and not near["neighbour_item_idx"].isin([98, 99]).any()


def test_every_item_out_of_vocabulary(seq_log: pd.DataFrame) -> None:
    model = Word2VecRec(rank=4, min_count=10_000, seed=0).fit(seq_log)
    assert model.item_vectors.empty
    assert model.predict(seq_log, k=5).empty
    assert model.get_nearest_items([0, 1], k=3).empty


def test_cold_users_with_history_are_served(seq_log: pd.DataFrame) -> None:
    model = Word2VecRec(rank=8, min_count=1, seed=2).fit(seq_log[seq_log.user_idx < 50])
    recs = model.predict(seq_log, k=3, users=[55, 56, 1000])
    assert set(recs["user_idx"]) == {55, 56}
    assert recs.groupby("user_idx").size().tolist() == [3, 3]
    assert model.predict(seq_log, k=3, users=[1000]).empty  # no history, no vector


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"rank": 0}, r"`rank` of Word2VecRec must be >= 1, got 0"),
        ({"rank": 2.5}, r"`rank` of Word2VecRec must be an integer"),
        ({"min_count": -1}, r"`min_count` of Word2VecRec must be >= 0"),
        ({"step_size": 0.0}, r"`step_size` of Word2VecRec must be in \(0.0, inf\]"),
        ({"max_iter": 0}, r"`max_iter` of Word2VecRec must be >= 1"),
        ({"window_size": 0}, r"`window_size` of Word2VecRec must be >= 1"),
        ({"window_size": 2**31}, r"`window_size` of Word2VecRec must be <= 2147483647"),
        ({"use_idf": "yes"}, r"`use_idf` of Word2VecRec must be True or False"),
        ({"seed": -1}, r"`seed` of Word2VecRec must be >= 0"),
    ],
)
def test_word2vec_bad_params(seq_log: pd.DataFrame, params: dict, message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        Word2VecRec(**params).fit(seq_log)


def test_word2vec_needs_timestamps(seq_log: pd.DataFrame) -> None:
    with pytest.raises(ColumnMissingError, match="timestamp"):
        Word2VecRec(min_count=1).fit(seq_log.drop(columns="timestamp"))


def test_registry_and_search_spaces() -> None:
    assert MODELS["word2vec"] is Word2VecRec and MODELS["cluster"] is ClusterRec
    assert Word2VecRec._search_space == {
        "rank": {"type": "int", "args": [50, 300]},
        "window_size": {"type": "int", "args": [1, 100]},
        "use_idf": {"type": "categorical", "args": [True, False]},
    }
    assert ClusterRec._search_space == {"num_clusters": {"type": "int", "args": [2, 20]}}
    assert make_model("word2vec", '{"rank": 7}').rank == 7
    assert Word2VecRec().get_features(pd.DataFrame({"item_idx": [0]})) == (None, None)


# --- ClusterRec --------------------------------------------------------------------------------

@pytest.fixture()
def doc_train() -> pd.DataFrame:
    return pd.DataFrame({"user_idx": [1, 2, 3], "item_idx": [1, 2, 3], "relevance": 1.0})


@pytest.fixture()
def doc_features() -> pd.DataFrame:
    return pd.DataFrame(
        {"user_idx": [1, 2, 3, 4, 5], "age": [18, 20, 80, 16, 69], "sex": [1, 0, 0, 1, 0]}
    )


def blob_data(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Three far-apart groups of 10 users; group g buys items 10g .. 10g + 4, item 10g most."""
    rng = np.random.default_rng(seed)
    users = np.arange(30)
    group = users // 10
    features = pd.DataFrame(
        {
            "user_idx": users,
            "x": group * 100.0 + rng.normal(0, 1, 30),
            "y": (group % 2) * 50.0 + rng.normal(0, 1, 30),
        }
    )
    rows = []
    for user in users:
        base = 10 * (user // 10)
        rows += [(user, base), (user, base + 1 + user % 4)]
    log = pd.DataFrame(rows, columns=["user_idx", "item_idx"])
    return log, features


def test_cluster_doc_example(doc_train, doc_features) -> None:
    model = ClusterRec().fit(doc_train, doc_features)
    pairs = doc_train[doc_train.user_idx == 1][["user_idx", "item_idx"]]
    scored = model.predict_pairs(pairs, log=doc_train, user_features=doc_features)
    assert scored["item_idx"].tolist() == [1] and scored["relevance"].tolist() == [1.0]


def test_cluster_scores_are_counts_over_cluster_max() -> None:
    log, features = blob_data()
    model = ClusterRec(num_clusters=3).fit(log, features)
    recs = model.predict(features, k=10, filter_seen_items=False)
    for user, group in recs.groupby("user_idx"):
        base = 10 * (user // 10)
        # The group's 10 users all bought `base`; items base+1..base+4 were bought by 3 or 2.
        expected = {base: 1.0}
        for extra in range(1, 5):
            expected[base + extra] = sum(1 for u in range(base, base + 10) if 1 + u % 4 == extra)
            expected[base + extra] /= 10
        assert dict(zip(group["item_idx"], group["relevance"])) == pytest.approx(expected)


def test_cluster_cold_users_with_features_and_users_without(doc_train, doc_features) -> None:
    model = ClusterRec(num_clusters=2).fit(doc_train, doc_features)
    recs = model.predict(doc_features, k=2, users=[4, 5, 77])
    assert set(recs["user_idx"]) == {4, 5}  # 77 has no features
    assert recs[recs.user_idx == 4]["item_idx"].tolist() == [1, 2]  # young cluster: users 1, 2
    assert recs[recs.user_idx == 5]["item_idx"].tolist() == [3]  # old cluster: user 3 only

    # Default users: those of the log, else those of the feature table.
    assert set(model.predict(doc_features, k=1)["user_idx"]) == {1, 2, 3, 4, 5}
    with_log = model.predict(doc_features, k=1, log=doc_train, filter_seen_items=False)
    assert set(with_log["user_idx"]) == {1, 2, 3}


def test_cluster_filters_the_predict_log(doc_train, doc_features) -> None:
    model = ClusterRec(num_clusters=2).fit(doc_train, doc_features)
    recs = model.predict(doc_features, k=5, log=doc_train)
    assert sorted(zip(recs.user_idx, recs.item_idx)) == [(1, 2), (2, 1)]
    unfiltered = model.predict(doc_features, k=5, log=doc_train, filter_seen_items=False)
    assert len(unfiltered) == 5


def test_cluster_predict_does_not_change_the_model(doc_train, doc_features) -> None:
    model = ClusterRec(num_clusters=2).fit(doc_train, doc_features)
    before = model.export_state()
    model.predict(doc_features, k=2)
    model.predict_pairs(doc_train[["user_idx", "item_idx"]], doc_train, doc_features)
    after = model.export_state()
    assert before[0] == after[0] and before[1].keys() == after[1].keys()
    assert model._target_users is None


def test_cluster_log_users_without_features_are_not_counted(doc_features, caplog) -> None:
    log = pd.DataFrame({"user_idx": [1, 2, 3, 9, 9], "item_idx": [1, 2, 3, 4, 4]})
    with caplog.at_level(logging.WARNING, logger="reclib"):
        model = ClusterRec(num_clusters=2).fit(log, doc_features)
    assert "2 of 5 log rows belong to users absent from `user_features`" in caplog.text
    recs = model.predict(doc_features, k=10, filter_seen_items=False)
    assert 4 not in set(recs["item_idx"])


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (lambda f: f.drop(columns="user_idx"), ColumnMissingError, "no column `user_idx`"),
        (lambda f: f[["user_idx"]], InvalidValueError, "only the id column"),
        (lambda f: f.assign(age=f.age.astype(float).where(f.user_idx != 2)), InvalidValueError,
         r"missing or infinite values in column\(s\) \{'age': 1\}"),
        (lambda f: f.assign(sex=["m", "f", "f", "m", "f"]), ColumnTypeError,
         r"non-numeric feature column\(s\) \{'sex'"),
        (lambda f: f.assign(user_idx=[1, 2, 2, 4, 5]), InvalidValueError,
         r"repeated id\(s\) \[2\]"),
        (lambda f: f.assign(user_idx=pd.array([1, None, 3, 4, 5], dtype="Int64")),
         InvalidValueError, r"1 missing id\(s\)"),
        (lambda f: f.assign(user_idx=[1.0, 2, 3, 4, 5]), ColumnTypeError, "expected integer ids"),
    ],
)
def test_cluster_bad_feature_tables(doc_train, doc_features, change, error, message) -> None:
    with pytest.raises(error, match=message):
        ClusterRec(num_clusters=2).fit(doc_train, change(doc_features))
    model = ClusterRec(num_clusters=2).fit(doc_train, doc_features)
    with pytest.raises(error, match=message):
        model.predict(change(doc_features), k=1)


def test_cluster_predict_features_must_match_fit(doc_train, doc_features) -> None:
    model = ClusterRec(num_clusters=2).fit(doc_train, doc_features)
    with pytest.raises(ColumnMissingError, match=r"missing the feature column\(s\) \['sex'\]"):
        model.predict(doc_features.drop(columns="sex"), k=1)
    with pytest.raises(SchemaError, match=r"feature column\(s\) \['height'\] the model was not"):
        model.predict(doc_features.assign(height=1.8), k=1)
    with pytest.raises(InvalidParameterError, match="needs `user_features`"):
        model.predict(None, k=1)
    with pytest.raises(InvalidParameterError, match="needs `user_features`"):
        ClusterRec().fit(doc_train)
    with pytest.raises(InvalidParameterError, match="`num_clusters` of ClusterRec must be >= 1"):
        ClusterRec(num_clusters=0).fit(doc_train, doc_features)


def test_kmeans_recovers_separated_groups_and_caps_at_distinct_points() -> None:
    _, features = blob_data(1)
    points = features[["x", "y"]].to_numpy()
    labels = nearest_centre(points, kmeans(points, 3))
    assert len(set(labels)) == 3
    for group in range(3):
        assert len(set(labels[group * 10:(group + 1) * 10])) == 1

    repeated = np.array([[0.0, 0.0], [0.0, 0.0], [5.0, 5.0]])
    assert len(kmeans(repeated, 10)) == 2
    np.testing.assert_array_equal(kmeans(points, 3, seed=0), kmeans(points, 3, seed=0))


# --- Spark -------------------------------------------------------------------------------------

@pytest.mark.spark
def test_word2vec_spark_matches_the_reference_numbers(spark) -> None:
    """RePlay's Spark unit test (MODELS.md §4.9): Spark ML's vectors, idf and the +rank offset."""
    log = pd.DataFrame(
        {
            "user_idx": [0, 1, 2, 2, 1, 2, 0],
            "item_idx": [0, 0, 1, 1, 1, 3, 3],
            "relevance": [1.0, 1, 2, 2, 2, 2, 2],
            "timestamp": pd.Timestamp("2019-01-01"),
        }
    )
    spark_log = spark.createDataFrame(log)
    model = Word2VecRec(rank=1, window_size=1, use_idf=True, seed=42, min_count=0).fit(spark_log)
    squared = {i: float(v @ v) for i, v in vectors_of(model).items()}
    # The reference's numbers came from Spark 3.0; Spark 4 agrees to about 1e-5.
    assert squared == pytest.approx({1: 5.33072205e-04, 0: 1.54904364e-01, 3: 2.13002899e-01},
                                    abs=1e-4)
    recs = model.predict(spark_log, k=1).toPandas().sort_values("user_idx")
    np.testing.assert_allclose(
        recs["relevance"], [1.0003180271011836, 0.9653348251181987, 0.972993367280087], atol=5e-5
    )
    assert_same_recs(model.predict(log, k=2), model.predict(spark_log, k=2).toPandas())


@pytest.mark.spark
def test_word2vec_spark_fit_partitions_seed_and_both_engines(spark, seq_log) -> None:
    log = seq_log.copy()
    log.loc[log.index[:2], "item_idx"] = [97, 96]  # two items seen once: out of vocabulary
    single = spark.createDataFrame(log).coalesce(1)
    scattered = spark.createDataFrame(log).repartition(200, "user_idx")  # 60 users: >= 140 empty

    models = [Word2VecRec(rank=6, min_count=2, seed=5).fit(frame) for frame in (single, scattered)]
    for model in models:
        assert not {96, 97} & set(model.item_vectors["item_idx"])
        recs = model.predict(single, k=4)
        assert not recs.toPandas()["item_idx"].isin([96, 97]).any()
        assert_same_recs(model.predict(log, k=4), recs.toPandas())
        pairs = log[["user_idx", "item_idx"]].head(30)
        assert_same_recs(
            model.predict_pairs(pairs, log),
            model.predict_pairs(spark.createDataFrame(pairs), single).toPandas(),
        )

    again = Word2VecRec(rank=6, min_count=2, seed=5).fit(single)
    np.testing.assert_array_equal(again._item_factors, models[0]._item_factors)
    np.testing.assert_array_equal(  # the same vocabulary as the in-process trainer
        Word2VecRec(rank=6, min_count=2, seed=5).fit(log)._has_vector, models[0]._has_vector
    )


@pytest.mark.spark
def test_word2vec_tiny_vocabularies_on_both_engines(spark, seq_log) -> None:
    for log in (seq_log, spark.createDataFrame(seq_log)):
        empty = Word2VecRec(rank=4, min_count=10_000, seed=1).fit(log)
        assert empty.item_vectors.empty and empty.predict(seq_log, k=3).empty
    one_item = pd.DataFrame({"user_idx": [0, 0, 1], "item_idx": [5, 5, 5], "timestamp": [1, 2, 3]})
    for log in (one_item, spark.createDataFrame(one_item)):
        model = Word2VecRec(rank=4, min_count=1, seed=1).fit(log)
        assert model.item_vectors["item_idx"].tolist() == [5]  # its initial vector
        assert model.predict(one_item, k=3, filter_seen_items=False)["item_idx"].tolist() == [
            5, 5
        ]


@pytest.mark.spark
def test_cluster_spark(spark, doc_train, doc_features) -> None:
    spark_train = spark.createDataFrame(doc_train)
    spark_features = spark.createDataFrame(doc_features)
    model = ClusterRec().fit(spark_train, spark_features)  # Spark ML KMeans
    pairs = spark_train.filter("user_idx = 1").select("user_idx", "item_idx")
    scored = model.predict_pairs(pairs, log=spark_train, user_features=spark_features).toPandas()
    assert scored["item_idx"].tolist() == [1]

    log, features = blob_data(2)
    local = ClusterRec(num_clusters=3).fit(log, features)
    for frame in (spark.createDataFrame(log).coalesce(1),
                  spark.createDataFrame(log).repartition(100)):
        remote = ClusterRec(num_clusters=3).fit(frame, spark.createDataFrame(features))
        expected = local.predict(features, k=3, log=log)
        got = remote.predict(spark.createDataFrame(features), k=3, log=frame)
        assert_same_recs(expected, got.toPandas())
        # Spark features alone decide the engine; cold users are served from their features.
        cold = features.assign(user_idx=features.user_idx + 1000)
        assert_same_recs(
            local.predict(cold, k=2), remote.predict(spark.createDataFrame(cold), k=2).toPandas()
        )
