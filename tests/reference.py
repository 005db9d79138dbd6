"""Plain float64 reference implementations, written for clarity, not speed.

Each function follows the text of ``MODELS.md`` line by line with Python loops and dicts, so
that the library's vectorised and Rust paths are checked against something independent.
"""

from __future__ import annotations

import math
from collections import defaultdict

import pandas as pd


def rows_of(log: pd.DataFrame, use_relevance: bool = True) -> list[tuple[int, int, float]]:
    rel = log["relevance"] if (use_relevance and "relevance" in log) else [1.0] * len(log)
    return [(int(u), int(i), float(r)) for u, i, r in zip(log["user_idx"], log["item_idx"], rel)]


def pop_scores(log: pd.DataFrame, use_relevance: bool = False) -> dict[int, float]:
    users = {u for u, _, _ in rows_of(log, False)}
    if use_relevance:
        sums: dict[int, float] = defaultdict(float)
        for _, i, r in rows_of(log):
            sums[i] += r
        return {i: s / len(users) for i, s in sums.items()}
    holders: dict[int, set[int]] = defaultdict(set)
    for u, i, _ in rows_of(log, False):
        holders[i].add(u)
    return {i: len(us) / len(users) for i, us in holders.items()}


def wilson_scores(log: pd.DataFrame, z: float = 1.959963984540054) -> dict[int, float]:
    n: dict[int, float] = defaultdict(float)
    p: dict[int, float] = defaultdict(float)
    for _, i, r in rows_of(log):
        n[i] += 1
        p[i] += r
    out = {}
    for i in n:
        nn, pp = n[i], p[i]
        centre = (pp + z * z / 2) / (nn + z * z)
        spread = z / (nn + z * z) * math.sqrt(pp * (nn - pp) / nn + z * z / 4)
        out[i] = centre - spread
    return out


def userpop_scores(log: pd.DataFrame) -> dict[int, dict[int, float]]:
    per_user: dict[int, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    for u, i, r in rows_of(log):
        per_user[u][i] += r
    return {u: {i: s / sum(items.values()) for i, s in items.items()}
            for u, items in per_user.items()}


def knn_similarity(
    log: pd.DataFrame, num_neighbours: int, use_relevance: bool, shrink: float
) -> dict[int, dict[int, float]]:
    """sim[i][j] after the per-item neighbour cut (ties: larger j first)."""
    rows = rows_of(log, use_relevance)
    by_user: dict[int, list[tuple[int, float]]] = defaultdict(list)
    norm_sq: dict[int, float] = defaultdict(float)
    for u, i, w in rows:
        by_user[u].append((i, w))
        norm_sq[i] += w * w
    dots: dict[tuple[int, int], float] = defaultdict(float)
    for entries in by_user.values():
        for i, wi in entries:
            for j, wj in entries:
                if i != j:
                    dots[(i, j)] += wi * wj
    sims: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for (i, j), dot in dots.items():
        denominator = math.sqrt(norm_sq[i]) * math.sqrt(norm_sq[j]) + shrink
        sims[i].append((j, dot / denominator if denominator else 0.0))
    cut = {}
    for i, pairs in sims.items():
        pairs.sort(key=lambda p: (-p[1], -p[0]))
        cut[i] = dict(pairs[:num_neighbours])
    return cut


def neighbour_recs(
    sim: dict[int, dict[int, float]],
    history: pd.DataFrame,
    users: list[int],
    k: int,
    filter_seen: bool = True,
) -> dict[int, list[tuple[int, float]]]:
    """Per user: sum sim over history rows, drop seen, top k (score desc, item asc)."""
    out = {}
    for u in users:
        rows = history[history["user_idx"] == u]["item_idx"].tolist()
        scores: dict[int, float] = defaultdict(float)
        for h in rows:
            for c, s in sim.get(h, {}).items():
                scores[c] += s
        ranked = sorted(
            ((c, s) for c, s in scores.items() if not (filter_seen and c in set(rows))),
            key=lambda p: (-p[1], p[0]),
        )
        out[u] = ranked[:k]
    return out


def ranked_recs(
    scores: dict[int, float],
    history: pd.DataFrame,
    users: list[int],
    k: int,
    filter_seen: bool = True,
) -> dict[int, list[tuple[int, float]]]:
    """Every user ranks the same item scores (desc, ties item asc) minus their seen items."""
    ranking = sorted(scores.items(), key=lambda p: (-p[1], p[0]))
    out = {}
    for u in users:
        seen = set(history[history["user_idx"] == u]["item_idx"].tolist()) if filter_seen else set()
        out[u] = [(i, s) for i, s in ranking if i not in seen][:k]
    return out


def as_lists(recs: pd.DataFrame) -> dict[int, list[tuple[int, float]]]:
    """A recommendation frame as {user: [(item, score), ...]} in rank order."""
    recs = recs.sort_values(
        ["user_idx", "relevance", "item_idx"], ascending=[True, False, True], kind="stable"
    )
    out: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for u, i, r in zip(recs["user_idx"], recs["item_idx"], recs["relevance"]):
        out[int(u)].append((int(i), float(r)))
    return dict(out)


def assert_same_lists(got: dict, expected: dict, rel: float = 1e-9) -> None:
    expected = {u: v for u, v in expected.items() if v}
    assert set(got) == set(expected), (sorted(set(got) ^ set(expected)))[:10]
    for u, items in expected.items():
        assert [i for i, _ in got[u]] == [i for i, _ in items], (u, got[u], items)
        for (_, a), (_, b) in zip(got[u], items):
            assert math.isclose(a, b, rel_tol=rel, abs_tol=1e-12), (u, a, b)


def random_log(rng, n_users: int, n_items: int, n_rows: int, integer_relevance: bool = True):
    users = rng.integers(0, n_users, n_rows)
    items = rng.integers(0, n_items, n_rows)
    if integer_relevance:
        relevance = rng.integers(1, 6, n_rows).astype(float)
    else:
        relevance = rng.random(n_rows) * 5
    return pd.DataFrame({"user_idx": users, "item_idx": items, "relevance": relevance})
