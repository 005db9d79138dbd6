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
# Values looked up per step by `positions`.
_CHUNK = 1 << 22


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


def positions(
    sorted_ids: np.ndarray, values: np.ndarray, dtype: type = np.int64
) -> np.ndarray:
    """Position of each value in ``sorted_ids`` (distinct, ascending), or -1 where absent.

    ``dtype`` is the output's integer type (int32 halves the memory of a history's positions;
    the caller makes sure ``len(sorted_ids)`` fits).  Values are looked up in chunks of
    ``_CHUNK``, so the temporaries stay small next to the output on logs of 10^8 rows.
    """
    values = np.asarray(values, dtype=np.int64)
    n = len(sorted_ids)
    out = np.full(len(values), -1, dtype=dtype)
    if n == 0 or len(values) == 0:
        return out
    high = int(sorted_ids[-1])
    if _table_ok(high, max(n, len(values))):
        # One slot past the largest id holds -1; clipping sends every absent id there (and a
        # negative one to index -1, the same slot).
        table = np.full(high + 2, -1, dtype=dtype)
        table[sorted_ids] = np.arange(n, dtype=dtype)
        for start in range(0, len(values), _CHUNK):
            part = values[start : start + _CHUNK]
            out[start : start + len(part)] = table[np.clip(part, -1, high + 1)]
        return out
    for start in range(0, len(values), _CHUNK):
        part = values[start : start + _CHUNK]
        pos = np.searchsorted(sorted_ids, part)
        clipped = np.minimum(pos, n - 1)
        found = (pos < n) & (sorted_ids[clipped] == part)
        out[start : start + len(part)] = np.where(found, pos, -1)
    return out
