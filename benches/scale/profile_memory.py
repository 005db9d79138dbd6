"""Where reclib's memory goes: exact peak RSS of each step of KNN (or PopRec) fit + predict.

Wraps the steps of the pandas engine's fit and predict (reading the Parquet file, log
validation, id coding, CSR construction, the Rust kernels, the predict block, the result frame)
and measures, for each call, the resident memory when it starts, its peak while it runs and
when it ends.  Peaks are exact: at every step boundary the process's high-water mark
(``VmHWM``) is read and reset (``echo 5 > /proc/self/clear_refs``), so the peak of any step is
the largest mark seen while it was open.  Linux only.

    python benches/scale/profile_memory.py /tmp/reclib-scale/powerlaw_100M.parquet [--model knn]
"""

from __future__ import annotations

import argparse
import functools
import json
import time
import sys
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

MIB = 2**20


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def _mark() -> int:
    """The peak RSS since the previous mark; starts a new interval."""
    peak = _status("VmHWM")
    Path("/proc/self/clear_refs").write_text("5")
    return peak


class Profiler:
    def __init__(self) -> None:
        self.stack: list[dict[str, Any]] = []
        self.records: list[dict[str, Any]] = []
        _mark()

    def _update(self, peak: int) -> None:
        for frame in self.stack:
            frame["peak"] = max(frame["peak"], peak)

    def wrap(self, name: str, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            self._update(_mark())
            rss = _status("VmRSS")
            frame = {"name": name, "depth": len(self.stack), "start": rss, "peak": rss,
                     "t0": time.perf_counter()}
            self.stack.append(frame)
            try:
                return fn(*args, **kwargs)
            finally:
                self._update(_mark())
                self.stack.pop()
                frame["end"] = _status("VmRSS")
                frame["seconds"] = time.perf_counter() - frame.pop("t0")
                self.records.append(frame)

        return wrapper

    def patch(self, owner: Any, attr: str, name: str | None = None) -> None:
        original = getattr(owner, attr)
        if isinstance(owner, type) and isinstance(owner.__dict__.get(attr), classmethod):
            func = owner.__dict__[attr].__func__
            setattr(owner, attr, classmethod(self.wrap(name or attr, func)))
        else:
            setattr(owner, attr, self.wrap(name or attr, original))

    def report(self) -> None:
        print(f"\n{'step':<44} {'start':>8} {'peak':>8} {'+peak':>8} {'end':>8} {'s':>7}")
        for r in sorted(self.records, key=lambda r: r["order"]):
            name = "  " * r["depth"] + r["name"]
            print(f"{name:<44} {r['start'] / MIB:8.0f} {r['peak'] / MIB:8.0f} "
                  f"{(r['peak'] - r['start']) / MIB:8.0f} {r['end'] / MIB:8.0f} "
                  f"{r['seconds']:7.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--model", default="knn", choices=["knn", "pop"])
    parser.add_argument("--json", type=Path, help="also write the records here")
    args = parser.parse_args()

    import reclib._ids as ids
    import reclib.data.schema as schema
    import reclib.engines.local as local
    import reclib.models.base as base
    from reclib import _core
    from reclib._sparse import Csr
    from reclib.models import KNN, PopRec

    prof = Profiler()
    order = iter(range(10**6))
    original_wrap = prof.wrap

    def ordered_wrap(name: str, fn: Callable) -> Callable:
        inner = original_wrap(name, fn)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            slot = next(order)
            try:
                return inner(*args, **kwargs)
            finally:
                prof.records[-1]["order"] = slot

        return wrapper

    prof.wrap = ordered_wrap  # type: ignore[method-assign]
    for module in (base, local, schema):
        if hasattr(module, "interactions_from_frame"):
            prof.patch(module, "interactions_from_frame")
    for module in (base, local, ids):
        if hasattr(module, "dense_codes"):
            prof.patch(module, "dense_codes")
    if hasattr(base, "positions"):
        prof.patch(base, "positions")
    prof.patch(Csr, "from_coo", "Csr.from_coo")
    for kernel in ("build_csr", "item_cosine_topn", "neighbour_topk", "topk_dense", "topk_ranked"):
        if hasattr(_core, kernel):
            # Models call the kernels as `_core.<name>`, so patching the module reaches them.
            setattr(_core, kernel, prof.wrap(f"_core.{kernel}", getattr(_core, kernel)))
    prof.patch(base.Recommender, "_fit_interactions", "Recommender._fit_interactions")
    prof.patch(base.Recommender, "_recommend_block", "Recommender._recommend_block")
    prof.patch(local, "result_frame")

    model = KNN(num_neighbours=10) if args.model == "knn" else PopRec()
    from run_scale import read_pandas

    read = prof.wrap("read parquet (int32 columns)", read_pandas)
    fit = prof.wrap("fit", model.fit)
    predict = prof.wrap("predict(log, k=10)", model.predict)

    log = read(args.data)
    fit(log)
    recs = predict(log, k=10)
    print(f"{len(log)} rows in, {len(recs)} recommendations out; "
          f"process peak {_status('VmPeak') / MIB:.0f} MiB virtual")
    prof.report()
    if args.json:
        args.json.write_text(json.dumps(prof.records, indent=1))


if __name__ == "__main__":
    main()
