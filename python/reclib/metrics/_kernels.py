"""Per-user metric arithmetic in numpy, shared by the pandas and the Spark engine.

Everything numeric about the metrics of ``EVALUATION.md`` §2 lives here, written once.  The
pandas engine calls these functions on the whole input; the Spark engine calls the very same
functions inside :func:`per_user_kernel` / :func:`topk_kernel`, which run on executors over one
partition of users at a time (``repartition("user_idx").mapInArrow``).  Because a user's numbers
only depend on that user's rows, and the code is the same, both engines give the same per-user
values bit for bit; only the final mean is summed in a different order.

The pipeline for one batch of users:

1. :func:`rank_recs` orders each user's recommendations by relevance DESC, item ASC (NaN
   relevance last), drops a repeated item (the later copy) and numbers the rest 1, 2, ...
2. :func:`build_hit_table` keeps only the recommendations that hit the ground truth and records,
   for each hit, its user, its rank and how many hits the user has up to it.  Every metric is a
   function of that table and of ``|gt|`` per user, so it is built once for all metrics and ks.
3. :data:`METRIC_FUNCTIONS` turn the table into one value per ground-truth user for a given k.

Nothing here loops over users in Python: groups are found with sorting and ``np.bincount``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

__all__ = [
    "METRIC_FUNCTIONS",
    "HitTable",
    "rank_recs",
    "build_hit_table",
    "per_user_matrix",
    "item_first_ranks",
    "per_user_kernel",
    "topk_kernel",
]

# Column names of the frame the Spark engine feeds to :func:`per_user_kernel`.
IS_GT = "is_gt"


def _group_starts(sorted_keys: np.ndarray) -> np.ndarray:
    """Positions where a new run of equal keys begins in an already sorted array."""
    if len(sorted_keys) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.r_[0, np.flatnonzero(sorted_keys[1:] != sorted_keys[:-1]) + 1].astype(np.int64)


def _position_in_group(sorted_keys: np.ndarray) -> np.ndarray:
    """0-based position of every element inside its run of equal keys."""
    n = len(sorted_keys)
    starts = _group_starts(sorted_keys)
    lengths = np.diff(np.r_[starts, n])
    return np.arange(n, dtype=np.int64) - np.repeat(starts, lengths)


def rank_recs(
    user: np.ndarray, item: np.ndarray, relevance: np.ndarray, k_max: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rank each user's recommendations and keep the first ``k_max``.

    Parameters
    ----------
    user, item
        Integer ids of the recommendation rows, any order.
    relevance
        Scores of the rows; higher ranks first, ties by smaller item id, NaN last.
    k_max
        How many ranks to keep per user.

    Returns
    -------
    tuple of numpy.ndarray
        ``(user, item, rank)`` of the kept rows, sorted by user then rank; ``rank`` is 1-based.
        A repeated (user, item) pair keeps only its best-ranked copy and the copies after it
        do not take up a rank.
    """
    user = np.asarray(user, dtype=np.int64)
    item = np.asarray(item, dtype=np.int64)
    neg_rel = -np.asarray(relevance, dtype=np.float64)

    # Order of the list the user is shown: relevance DESC, item ASC (NaN sorts last).
    order = np.lexsort((item, neg_rel, user))
    user_s, item_s = user[order], item[order]

    # A duplicate (user, item) keeps its first copy in that order: sort the pairs with the
    # list position as the last key, so the first row of each pair run is the one to keep.
    n = len(user_s)
    by_pair = np.lexsort((np.arange(n), item_s, user_s))
    same = (user_s[by_pair][1:] == user_s[by_pair][:-1]) & (
        item_s[by_pair][1:] == item_s[by_pair][:-1]
    )
    keep = np.ones(n, dtype=bool)
    keep[by_pair[1:][same]] = False
    user_s, item_s = user_s[keep], item_s[keep]

    rank = _position_in_group(user_s) + 1
    top = rank <= k_max
    return user_s[top], item_s[top], rank[top]


@dataclass(frozen=True)
class HitTable:
    """The hits of every ground-truth user: all any ranking metric needs.

    Attributes
    ----------
    users
        Sorted distinct users of the ground truth (the users a metric averages over).
    gt_size
        ``|gt|`` per user, aligned with ``users`` (distinct relevant items).
    hit_user
        For each hit, the position of its user in ``users``.
    hit_rank
        For each hit, its 1-based rank in the user's deduplicated list.
    hit_ordinal
        For each hit, the number of hits of its user up to and including it.
    """

    users: np.ndarray
    gt_size: np.ndarray
    hit_user: np.ndarray
    hit_rank: np.ndarray
    hit_ordinal: np.ndarray


def build_hit_table(
    rec_user: np.ndarray,
    rec_item: np.ndarray,
    rec_relevance: np.ndarray,
    gt_user: np.ndarray,
    gt_item: np.ndarray,
    k_max: int,
) -> HitTable:
    """Rank the recommendations, match them with the ground truth and keep the hits.

    Parameters
    ----------
    rec_user, rec_item, rec_relevance
        The recommendation rows.
    gt_user, gt_item
        The ground-truth rows; repeated pairs count once.
    k_max
        The largest k any metric will be asked about.

    Returns
    -------
    HitTable
    """
    r_user, r_item, r_rank = rank_recs(rec_user, rec_item, rec_relevance, k_max)
    gt_user = np.asarray(gt_user, dtype=np.int64)
    gt_item = np.asarray(gt_item, dtype=np.int64)

    # Dense codes for users and items, so that a (user, item) pair becomes one int64 key.
    users_all, user_code = np.unique(np.r_[r_user, gt_user], return_inverse=True)
    items_all, item_code = np.unique(np.r_[r_item, gt_item], return_inverse=True)
    n_items = max(len(items_all), 1)
    keys = user_code.astype(np.int64) * n_items + item_code
    rec_keys, gt_keys = keys[: len(r_user)], np.unique(keys[len(r_user) :])

    # Users of the ground truth and their number of distinct relevant items.
    gt_codes, gt_size = np.unique(gt_keys // n_items, return_counts=True)

    # A recommendation hits when its pair is among the ground-truth pairs.
    where = np.searchsorted(gt_keys, rec_keys)
    where = np.minimum(where, max(len(gt_keys) - 1, 0))
    hit = (gt_keys[where] == rec_keys) if len(gt_keys) else np.zeros(len(rec_keys), dtype=bool)

    # The rows are sorted by user then rank, and so are the hits taken from them.
    hit_code = user_code[: len(r_user)][hit]
    return HitTable(
        users=users_all[gt_codes],
        gt_size=gt_size.astype(np.int64),
        hit_user=np.searchsorted(gt_codes, hit_code).astype(np.int64),
        hit_rank=r_rank[hit],
        hit_ordinal=_position_in_group(hit_code) + 1,
    )


def _hit_counts(table: HitTable, k: int) -> np.ndarray:
    """Count the hits in the first k, per user."""
    mask = table.hit_rank <= k
    return np.bincount(table.hit_user[mask], minlength=len(table.users)).astype(np.float64)


def _hit_rate(table: HitTable, k: int) -> np.ndarray:
    return (_hit_counts(table, k) > 0).astype(np.float64)


def _precision(table: HitTable, k: int) -> np.ndarray:
    return _hit_counts(table, k) / k


def _recall(table: HitTable, k: int) -> np.ndarray:
    return _hit_counts(table, k) / table.gt_size


def _map(table: HitTable, k: int) -> np.ndarray:
    mask = table.hit_rank <= k
    precision_at_hit = table.hit_ordinal[mask] / table.hit_rank[mask]
    total = np.bincount(table.hit_user[mask], weights=precision_at_hit, minlength=len(table.users))
    return total / np.minimum(k, table.gt_size)


def _ndcg(table: HitTable, k: int) -> np.ndarray:
    mask = table.hit_rank <= k
    gains = 1.0 / np.log2(table.hit_rank[mask] + 1.0)
    dcg = np.bincount(table.hit_user[mask], weights=gains, minlength=len(table.users))
    ideal = np.r_[0.0, np.cumsum(1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64)))]
    return dcg / ideal[np.minimum(k, table.gt_size)]


def _mrr(table: HitTable, k: int) -> np.ndarray:
    first = (table.hit_rank <= k) & (table.hit_ordinal == 1)
    out = np.zeros(len(table.users), dtype=np.float64)
    out[table.hit_user[first]] = 1.0 / table.hit_rank[first]
    return out


METRIC_FUNCTIONS: dict[str, Callable[[HitTable, int], np.ndarray]] = {
    "HitRate": _hit_rate,
    "Precision": _precision,
    "Recall": _recall,
    "MAP": _map,
    "NDCG": _ndcg,
    "MRR": _mrr,
}
"""Per-user value of each ranking metric, by name, for one k."""


def per_user_matrix(table: HitTable, names: tuple[str, ...], ks: tuple[int, ...]) -> np.ndarray:
    """All requested metrics for all ks, one row per ground-truth user.

    Columns are ordered metric by metric, and within a metric k by k.
    """
    columns = [METRIC_FUNCTIONS[name](table, k) for name in names for k in ks]
    if not columns:
        return np.zeros((len(table.users), 0), dtype=np.float64)
    return np.column_stack(columns)


def item_first_ranks(
    user: np.ndarray, item: np.ndarray, relevance: np.ndarray, k_max: int
) -> tuple[np.ndarray, np.ndarray]:
    """Find the distinct items in anyone's top ``k_max`` and the best rank each reached.

    An item counts for Coverage@k exactly when its best rank is at most k.
    """
    _, r_item, r_rank = rank_recs(user, item, relevance, k_max)
    order = np.lexsort((r_rank, r_item))
    items_s, ranks_s = r_item[order], r_rank[order]
    starts = _group_starts(items_s)
    return items_s[starts], ranks_s[starts]


# --------------------------------------------------------------------------------------------
# Arrow kernels for Spark's ``mapInArrow``.  Module-level functions, so that executors unpickle
# them by reference from the installed package (SPARK.md, pitfall P4).


def _column(table: pa.Table, name: str, dtype: type) -> np.ndarray:
    return np.asarray(table[name].to_numpy(zero_copy_only=False), dtype=dtype)


def per_user_kernel(
    batches: Iterator[pa.RecordBatch], names: tuple[str, ...], ks: tuple[int, ...]
) -> Iterator[pa.RecordBatch]:
    """Per-user metric values for the users of one partition.

    The input has ``user_idx, item_idx`` (int64), ``relevance`` (double, null on ground-truth
    rows) and ``is_gt`` (boolean); all rows of a user are in the same partition.  The output has
    ``user_idx`` (int64) and one double column ``v0, v1, ...`` per (metric, k), in the order of
    :func:`per_user_matrix`.
    """
    parts = list(batches)
    if not parts:  # Spark calls the kernel for empty partitions too.
        return
    data = pa.Table.from_batches(parts)
    is_gt = _column(data, IS_GT, bool)
    user = _column(data, "user_idx", np.int64)
    item = _column(data, "item_idx", np.int64)
    relevance = _column(data, "relevance", np.float64)

    table = build_hit_table(
        user[~is_gt], item[~is_gt], relevance[~is_gt], user[is_gt], item[is_gt], max(ks)
    )
    values = per_user_matrix(table, names, ks)

    arrays = [pa.array(table.users, type=pa.int64())]
    arrays += [pa.array(values[:, j], type=pa.float64()) for j in range(values.shape[1])]
    labels = ["user_idx"] + [f"v{j}" for j in range(values.shape[1])]
    yield pa.RecordBatch.from_arrays(arrays, names=labels)


def topk_kernel(batches: Iterator[pa.RecordBatch], k_max: int) -> Iterator[pa.RecordBatch]:
    """Rank each user of one partition and keep the deduplicated top ``k_max``.

    Input ``user_idx, item_idx`` (int64) and ``relevance`` (double); output ``user_idx,
    item_idx, rank`` (all int64), ranks as in :func:`rank_recs`.
    """
    parts = list(batches)
    if not parts:
        return
    data = pa.Table.from_batches(parts)
    user, item, rank = rank_recs(
        _column(data, "user_idx", np.int64),
        _column(data, "item_idx", np.int64),
        _column(data, "relevance", np.float64),
        k_max,
    )
    yield pa.RecordBatch.from_arrays(
        [pa.array(user, pa.int64()), pa.array(item, pa.int64()), pa.array(rank, pa.int64())],
        names=["user_idx", "item_idx", "rank"],
    )
