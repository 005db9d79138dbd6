"""Mapping raw integer ids to dense positions, fast when the ids are compact.

Most logs use ids from 0 (or 1) up to a little over their count; then a lookup table indexed by
the id is O(n) and several times faster than sorting (``np.unique``) or binary search
(``np.searchsorted``).  Sparse ids (hashes, ids beyond int32) take the sorting path.
"""

from __future__ import annotations

import numpy as np

__all__ = ["dense_codes", "positions"]

# A lookup table may be this many times longer than the number of values it serves (plus a
# constant), before binary search is the cheaper choice.
_TABLE_SLACK = 4
_TABLE_MIN = 1 << 20


def _table_ok(max_id: int, n: int) -> bool:
    return 0 <= max_id < _TABLE_SLACK * n + _TABLE_MIN


def dense_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(sorted distinct ids, code of each value)`` like ``np.unique(return_inverse=True)``.

    ``values`` are non-negative int64; codes are int32 (a catalogue never needs more).
    """
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32)
    high = int(values.max())
    if not _table_ok(high, len(values)):
        uniques, codes = np.unique(values, return_inverse=True)
        return uniques, codes.astype(np.int32)
    present = np.zeros(high + 1, dtype=bool)
    present[values] = True
    uniques = np.flatnonzero(present).astype(np.int64)
    table = np.empty(high + 1, dtype=np.int32)
    table[uniques] = np.arange(len(uniques), dtype=np.int32)
    return uniques, table[values]


def positions(sorted_ids: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Position of each value in ``sorted_ids`` (distinct, ascending), or -1 where absent."""
    values = np.asarray(values, dtype=np.int64)
    n = len(sorted_ids)
    if n == 0 or len(values) == 0:
        return np.full(len(values), -1, dtype=np.int64)
    high = int(sorted_ids[-1])
    if _table_ok(high, max(n, len(values))):
        table = np.full(high + 1, -1, dtype=np.int64)
        table[sorted_ids] = np.arange(n, dtype=np.int64)
        inside = (values >= 0) & (values <= high)
        out = np.full(len(values), -1, dtype=np.int64)
        out[inside] = table[values[inside]]
        return out
    pos = np.searchsorted(sorted_ids, values)
    clipped = np.minimum(pos, n - 1)
    return np.where((pos < n) & (sorted_ids[clipped] == values), pos, -1).astype(np.int64)
