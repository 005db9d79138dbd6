"""The dense-id helpers agree with numpy's sorting path on compact and on sparse ids."""

from __future__ import annotations

import numpy as np
import pytest

from reclib._ids import dense_codes, positions


@pytest.mark.parametrize("high", [10, 5_000, 2**40])
def test_dense_codes_and_positions_match_numpy(high: int) -> None:
    rng = np.random.default_rng(high % 97)
    values = rng.integers(0, high, 3_000, dtype=np.int64)
    uniques, codes = dense_codes(values)
    expected_uniques, expected_codes = np.unique(values, return_inverse=True)
    np.testing.assert_array_equal(uniques, expected_uniques)
    np.testing.assert_array_equal(codes, expected_codes)
    assert codes.dtype == np.int32

    queries = np.concatenate([values[:50], rng.integers(0, high, 50), [-1, high + 5]])
    got = positions(uniques, queries)
    for query, position in zip(queries, got):
        hits = np.flatnonzero(uniques == query)
        assert position == (hits[0] if len(hits) else -1)


def test_empty_inputs() -> None:
    uniques, codes = dense_codes(np.zeros(0, dtype=np.int64))
    assert len(uniques) == len(codes) == 0
    assert positions(uniques, np.array([1, 2])).tolist() == [-1, -1]
