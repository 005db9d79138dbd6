"""Seeded power-law interaction logs, written as Parquet chunk by chunk.

Each row draws its user and its item independently: users by a Zipf law of exponent
``--user-alpha`` over ``--users`` ids, items by one of exponent ``--item-alpha`` over ``--items``
ids (the rank-to-id maps are seeded permutations, so popular ids are spread over the id range).
A row's ``relevance`` is a rating 1..5.  Pairs may repeat, as in real logs.

Rows are made and written ``--chunk`` at a time (one Parquet row group each), so memory stays at
a few hundred MB whatever ``--rows`` is; the same seed and parameters give the same file.

Columns: ``user_idx`` int32, ``item_idx`` int32, ``relevance`` float32.

    python benches/scale/gen_powerlaw.py --rows 10_000_000 --out /tmp/scale/log_10M.parquet
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

SCHEMA = pa.schema(
    [("user_idx", pa.int32()), ("item_idx", pa.int32()), ("relevance", pa.float32())]
)


def zipf_cdf(n: int, alpha: float) -> np.ndarray:
    """Cumulative probabilities of ranks ``0..n-1`` with weight ``(rank + 1) ** -alpha``."""
    weights = np.arange(1, n + 1, dtype=np.float64) ** -alpha
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    return cdf


def default_shape(rows: int) -> tuple[int, int]:
    """Users and items for a log of ``rows`` rows: 50 rows per user, 1000 per item."""
    return max(rows // 50, 1), max(rows // 1000, 1)


def generate(
    out: Path,
    rows: int,
    users: int,
    items: int,
    user_alpha: float = 0.5,
    item_alpha: float = 0.9,
    seed: int = 42,
    chunk: int = 5_000_000,
) -> dict:
    rng = np.random.default_rng(seed)
    user_of_rank = rng.permutation(users).astype(np.int32)
    item_of_rank = rng.permutation(items).astype(np.int32)
    user_cdf, item_cdf = zipf_cdf(users, user_alpha), zipf_cdf(items, item_alpha)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".part")
    with pq.ParquetWriter(tmp, SCHEMA, compression="snappy") as writer:
        done = 0
        while done < rows:
            m = min(chunk, rows - done)
            u = user_of_rank[np.minimum(np.searchsorted(user_cdf, rng.random(m)), users - 1)]
            i = item_of_rank[np.minimum(np.searchsorted(item_cdf, rng.random(m)), items - 1)]
            r = rng.integers(1, 6, m).astype(np.float32)
            writer.write_table(pa.table([u, i, r], schema=SCHEMA))
            done += m
    tmp.rename(out)
    return {
        "path": str(out), "rows": rows, "users": users, "items": items,
        "user_alpha": user_alpha, "item_alpha": item_alpha, "seed": seed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=lambda s: int(s.replace("_", "")), required=True)
    parser.add_argument("--users", type=int, help="default: rows / 50")
    parser.add_argument("--items", type=int, help="default: rows / 1000")
    parser.add_argument("--user-alpha", type=float, default=0.5)
    parser.add_argument("--item-alpha", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--chunk", type=int, default=5_000_000)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    users, items = default_shape(args.rows)
    start = time.perf_counter()
    info = generate(
        args.out, args.rows, args.users or users, args.items or items,
        args.user_alpha, args.item_alpha, args.seed, args.chunk,
    )
    info["seconds"] = round(time.perf_counter() - start, 2)
    print(json.dumps(info))


if __name__ == "__main__":
    main()
