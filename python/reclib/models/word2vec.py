"""Word2VecRec: item vectors learned from each user's time-ordered sequence of items.

Fit (``MODELS.md`` §4.9):

* every user's log rows, ordered by ``(timestamp, item_idx)`` (duplicates kept), form one
  sentence whose words are the item ids;
* skip-gram word2vec with hierarchical softmax learns a vector ``v_i`` of size ``rank`` for every
  item seen at least ``min_count`` times; rarer items have no vector (out of vocabulary);
* ``idf(i) = ln(N_users / n_i)`` with ``n_i`` the number of distinct users of ``i``, when
  ``use_idf``; otherwise 1.

A pandas log is trained in-process (:mod:`reclib.models._skipgram`, the same algorithm and
sequential loop in Rust); a Spark log is trained, distributed, by Spark ML's
``pyspark.ml.feature.Word2Vec`` and the vectors are collected to the driver.  Either way the
fitted state is the same numpy arrays, so both engines predict identically from one model.

Predict (needs the users' histories in the predict ``log``):

* ``user_vec(u)`` = the mean, over the user's history rows whose item has a vector (duplicates
  count), of ``idf(i) * v_i`` — a plain mean over rows, not divided by the sum of idf;
* ``score(u, c) = v_c . user_vec(u) + rank`` (the constant is the reference's);
* items without a vector are never recommended; users without any usable history get nothing.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np

from reclib._logging import get_logger
from reclib._sparse import Csr
from reclib.data.schema import ITEM_COL, TIMESTAMP_COL, USER_COL, check_spark_log
from reclib.engines.frames import is_spark_frame
from reclib.exceptions import InvalidParameterError
from reclib.models._checks import check_bool, check_float, check_int
from reclib.models._skipgram import MAX_WINDOW, train_skipgram
from reclib.models.base import DenseLog, PredictBlock, Recommender
from reclib.models.factor import FactorRec

__all__ = ["Word2VecRec"]

logger = get_logger(__name__)

#: Spark ML's default ``maxSentenceLength``: longer histories are cut into pieces this long.
MAX_SENTENCE_LENGTH = 1000


class Word2VecRec(FactorRec):
    """Recommend items whose word2vec vectors are close to the mean vector of the history.

    Parameters
    ----------
    rank : int, default 100
        Size of the item vectors (>= 1).
    min_count : int, default 5
        Items with fewer log rows get no vector and are never recommended (>= 0).
    step_size : float, default 0.025
        Initial learning rate (> 0).
    max_iter : int, default 1
        Passes over the sentences (>= 1).
    window_size : int, default 1
        Largest distance between a word and its context (>= 1, at most ``2**31 - 1`` as in
        Spark ML); each position draws a window between 1 and ``window_size``.
    use_idf : bool, default False
        Weight each history item by ``ln(N_users / n_i)`` in the user vector.
    seed : int, optional
        Seed of the initial vectors and of the window draws (>= 0).  On pandas, None draws a
        fresh seed; on Spark, None means Spark ML's default seed.

    Notes
    -----
    The in-process trainer (:mod:`reclib.models._skipgram`) is Spark MLlib's skip-gram with
    hierarchical softmax, including its sigmoid table and learning-rate schedule, applied one
    (context, centre) pair at a time in Spark's order (a single-threaded Rust kernel).  It does
    not draw the same random numbers as Spark, so a fixed seed repeats results on one engine
    only.  It trains the users' sentences in user order, where Spark ML takes them in the order
    of its shuffle partitions; the order changes the result of the single SGD pass by a few
    per cent either way on MovieLens.  ``get_features``
    returns ``(None, None)`` as in the reference.

    Examples
    --------
    >>> import pandas as pd
    >>> log = pd.DataFrame({
    ...     "user_idx": [0, 0, 0, 1, 1, 1, 2, 2],
    ...     "item_idx": [0, 1, 2, 0, 1, 3, 0, 1],
    ...     "timestamp": [1, 2, 3, 1, 2, 3, 1, 2],
    ... })
    >>> model = Word2VecRec(rank=8, min_count=1, seed=7).fit(log)
    >>> recs = model.predict(log, k=2, users=[2])  # user 2 has seen items 0 and 1
    >>> sorted(recs["item_idx"].tolist())
    [2, 3]
    """

    can_predict_cold_users = True
    _search_space: ClassVar[dict[str, dict[str, Any]] | None] = {
        "rank": {"type": "int", "args": [50, 300]},
        "window_size": {"type": "int", "args": [1, 100]},
        "use_idf": {"type": "categorical", "args": [True, False]},
    }

    def __init__(
        self,
        rank: int = 100,
        min_count: int = 5,
        step_size: float = 0.025,
        max_iter: int = 1,
        window_size: int = 1,
        use_idf: bool = False,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        self.rank = rank
        self.min_count = min_count
        self.step_size = step_size
        self.max_iter = max_iter
        self.window_size = window_size
        self.use_idf = use_idf
        self.seed = seed
        self._idf: np.ndarray | None = None
        self._has_vector: np.ndarray | None = None
        # Set only while a Spark fit runs: the vectors then come from Spark ML, not numpy.
        self._vectors_from_spark = False

    def _validate_params(self) -> None:
        check_int("Word2VecRec", "rank", self.rank, low=1)
        check_int("Word2VecRec", "min_count", self.min_count, low=0)
        check_float("Word2VecRec", "step_size", self.step_size, low=0.0, low_open=True)
        check_int("Word2VecRec", "max_iter", self.max_iter, low=1)
        check_int("Word2VecRec", "window_size", self.window_size, low=1)
        if self.window_size > MAX_WINDOW:
            raise InvalidParameterError(
                f"`window_size` of Word2VecRec must be <= {MAX_WINDOW}, got {self.window_size}"
            )
        check_bool("Word2VecRec", "use_idf", self.use_idf)
        if self.seed is not None:
            check_int("Word2VecRec", "seed", self.seed, low=0)

    def _needs_relevance(self) -> bool:
        return False

    def _needs_timestamp(self) -> bool:
        return True

    # ----------------------------------------------------------------------------------------
    # Fit

    def fit(self, log: Any) -> Word2VecRec:
        """Learn item vectors from each user's time-ordered items.

        Parameters
        ----------
        log : pandas.DataFrame or pyspark.sql.DataFrame
            ``user_idx``, ``item_idx`` and ``timestamp`` (relevance is not used).  A pandas log
            is trained in-process; a Spark log is trained by Spark ML's ``Word2Vec`` on the
            cluster (its id columns are also collected to the driver for the ids and idf).

        Returns
        -------
        Word2VecRec
            ``self``, fitted.
        """
        if not is_spark_frame(log):
            super().fit(log)
            return self

        self._validate_params()
        check_spark_log(log, [USER_COL, ITEM_COL, TIMESTAMP_COL], "log")
        self._vectors_from_spark = True
        try:
            super().fit(log)
        finally:
            self._vectors_from_spark = False
        assert self._has_vector is not None and self._item_factors is not None

        vocabulary = int(self._has_vector.sum())
        if vocabulary > 0:
            words, vectors = self._spark_vectors(log)
            position = self._positions(self.fit_items, words)
            self._has_vector[:] = False
            self._has_vector[position] = True
            self._item_factors[position] = vectors
        else:
            # Spark ML refuses an empty vocabulary; the model then recommends nothing, as the
            # in-process trainer does.
            logger.warning(
                "Word2VecRec: no item has min_count=%d rows or more; no vectors were trained",
                self.min_count,
            )
        return self

    def _fit_dense(self, log: DenseLog) -> None:
        # idf over distinct (user, item) pairs.
        pairs = np.unique(log.users.astype(np.int64) * log.n_items + log.items)
        users_per_item = np.bincount(pairs % log.n_items, minlength=log.n_items)
        if self.use_idf:
            self._idf = np.log(log.n_users / users_per_item)
        else:
            self._idf = np.ones(log.n_items, dtype=np.float64)

        # The vocabulary: items with at least min_count rows, by count descending (ties: id).
        counts = np.bincount(log.items, minlength=log.n_items)
        vocabulary = np.flatnonzero(counts >= self.min_count)
        vocabulary = vocabulary[np.argsort(-counts[vocabulary], kind="stable")]
        self._has_vector = np.zeros(log.n_items, dtype=bool)
        self._has_vector[vocabulary] = True
        self._item_factors = np.zeros((log.n_items, self.rank), dtype=np.float64)
        self._offset = float(self.rank)
        if self._vectors_from_spark:
            return

        # Sentences: each user's rows by (timestamp, item); out-of-vocabulary rows removed,
        # then cut into pieces of at most MAX_SENTENCE_LENGTH words.
        timestamp = log.timestamp if log.timestamp is not None else np.zeros(len(log.items))
        order = np.lexsort((log.items, timestamp, log.users))
        word_of_item = np.full(log.n_items, -1, dtype=np.int64)
        word_of_item[vocabulary] = np.arange(len(vocabulary))
        tokens = word_of_item[log.items[order]]
        users = log.users[order]
        kept = tokens >= 0
        tokens, users = tokens[kept], users[kept]
        first = np.r_[True, users[1:] != users[:-1]]
        start_of_user = np.maximum.accumulate(np.where(first, np.arange(len(users)), 0))
        piece = (np.arange(len(users)) - start_of_user) // MAX_SENTENCE_LENGTH
        sentence = np.cumsum(first | (piece != np.r_[-1, piece[:-1]]))

        logger.debug(
            "Word2VecRec: %d sentences, %d tokens, vocabulary of %d items",
            int(sentence[-1]) if len(sentence) else 0, len(tokens), len(vocabulary),
        )
        vectors = train_skipgram(
            tokens, sentence, counts[vocabulary].astype(np.int64), self.rank,
            self.window_size, float(self.step_size), self.max_iter, self.seed,
        )
        self._item_factors[vocabulary] = vectors

    def _spark_vectors(self, log: Any) -> tuple[np.ndarray, np.ndarray]:
        """Train Spark ML's Word2Vec on the log; ``(raw item ids, vectors)`` on the driver."""
        from pyspark.ml.feature import Word2Vec
        from pyspark.ml.functions import vector_to_array
        from pyspark.sql import functions as sf

        # Limitation: the rows are ordered by the Spark column as it is; a string timestamp
        # sorts as text here, where the driver-side code parses it as a date.
        row = sf.struct(
            sf.col(TIMESTAMP_COL).alias("t"), sf.col(ITEM_COL).cast("bigint").alias("i")
        )
        sentences = log.groupBy(USER_COL).agg(
            sf.sort_array(sf.collect_list(row)).alias("rows")
        ).select(sf.transform("rows", lambda r: r["i"].cast("string")).alias("items"))
        estimator = Word2Vec(
            vectorSize=self.rank,
            minCount=self.min_count,
            stepSize=float(self.step_size),
            maxIter=self.max_iter,
            windowSize=self.window_size,
            maxSentenceLength=MAX_SENTENCE_LENGTH,
            inputCol="items",
            outputCol="_vector",
        )
        if self.seed is not None:
            estimator.setSeed(self.seed)
        fitted = estimator.fit(sentences)
        table = fitted.getVectors().select(
            sf.col("word").cast("bigint").alias("word"),
            vector_to_array("vector").alias("vector"),
        ).toArrow()
        words = table.column("word").to_numpy().astype(np.int64)
        flat = table.column("vector").combine_chunks().flatten().to_numpy(zero_copy_only=False)
        return words, np.asarray(flat, dtype=np.float64).reshape(len(words), self.rank)

    # ----------------------------------------------------------------------------------------
    # Predict

    def _user_vectors(self, block: PredictBlock) -> tuple[np.ndarray, np.ndarray]:
        assert self._item_factors is not None and self._idf is not None
        assert self._has_vector is not None
        history = block.history.to_scipy()
        usable_rows = history @ self._has_vector.astype(np.float64)
        weighted = self._item_factors * self._idf[:, None]  # zero rows for items without vector
        rows = np.flatnonzero(usable_rows > 0)
        sums = history[rows] @ weighted
        return rows, np.asarray(sums) / usable_rows[rows, None]

    def _predict_dense(self, block: PredictBlock) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        assert self._has_vector is not None
        allowed = self._has_vector
        if block.candidates is not None:
            allowed = allowed & block.candidates
        return super()._predict_dense(dataclasses.replace(block, candidates=allowed))

    def _score_pairs_dense(
        self,
        users: np.ndarray,
        history: Csr,
        pair_rows: np.ndarray,
        pair_items: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        assert self._has_vector is not None
        scores, valid = super()._score_pairs_dense(users, history, pair_rows, pair_items)
        return scores, valid & self._has_vector[pair_items]

    def _nearest_dense(
        self,
        items: np.ndarray,
        k: int,
        metric: str | None,
        candidates: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
        assert self._has_vector is not None
        queries = np.flatnonzero(self._has_vector[items])
        allowed = self._has_vector if candidates is None else self._has_vector & candidates
        rows, cols, values, name = super()._nearest_dense(items[queries], k, metric, allowed)
        return queries[rows], cols, values, name

    def get_features(self, ids: Any) -> tuple[Any, int | None]:
        """Word2VecRec exposes no features (``MODELS.md`` §2.5): returns ``(None, None)``."""
        return Recommender.get_features(self, ids)

    @property
    def item_vectors(self) -> Any:
        """The learned vectors as a pandas frame ``item_idx, vector`` (items that have one)."""
        import pandas as pd

        self._check_fitted()
        assert self._has_vector is not None and self._item_factors is not None
        return pd.DataFrame(
            {
                "item_idx": self.fit_items[self._has_vector].astype(self._item_dtype),
                "vector": list(self._item_factors[self._has_vector]),
            }
        )

    # ----------------------------------------------------------------------------------------
    # State (the item factors and offset travel through FactorRec)

    def _state_arrays(self) -> dict[str, np.ndarray]:
        assert self._idf is not None and self._has_vector is not None
        return {**super()._state_arrays(), "idf": self._idf, "has_vector": self._has_vector}
