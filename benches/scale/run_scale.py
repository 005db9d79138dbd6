"""Scale benchmark: KNN and PopRec fit + top-10 for all users at 1M, 10M and 100M interactions.

For each size, a seeded power-law log (``gen_powerlaw.py``; 50 rows per user, 1000 per item) is
written as Parquet once.  Each contender then runs in a fresh subprocess:

* ``reclib`` on the **pandas** engine and on **Spark local** (``local[2]``), for ``KNN``
  (10 neighbours) and ``PopRec``; ``--spark-fit-location`` sets where the Spark runs fit
  (``spark.reclib.fit.location``; ``auto`` gathers the log on the driver under a local master,
  ``executors`` keeps it on the executors as on a cluster);
* anchors (EVALUATION.md §7), item-KNN only: implicit's ``CosineRecommender`` (``K = 11``:
  implicit keeps an item among its own neighbours) and RePlay's Spark ``ItemKNN`` (10
  neighbours, binary weights; from the separate RePlay virtualenv, ``--replay-python``).
  An anchor that runs past ``--anchor-timeout`` (20 min) at one size is not run at larger ones.

What is timed: ``fit`` plus ``predict(log, k=10)`` for every user with seen items filtered,
up to materialised recommendations (a pandas frame; on Spark a ``noop`` write of the
recommendations, or RePlay's own cache + count).  Reading the Parquet file and starting Spark are
reported apart.  Memory: the child's peak RSS (``ru_maxrss``) and, sampled every 0.2 s by the
parent, the peak summed RSS of the child's whole process tree (for Spark: the driver, its JVM and
the Python workers).  Throughput is input interactions per second of fit + predict.

Results go to ``<out>/scale_results.csv`` (one row per run, with the load average, versions and
git state) and ``<out>/scale_time.png`` (time against interactions, log-log), and a table with
reclib's ratio to each anchor is printed.

    python benches/scale/run_scale.py --sizes 1M,10M,100M --data-dir /tmp/scale \\
        --replay-python /work/replay-venv/bin/python --out benches/scale/results
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import subprocess
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))

from gen_powerlaw import default_shape, generate  # noqa: E402

NEIGHBOURS = 10
TOP_K = 10
USER_BLOCK = 100_000  # users per implicit.recommend call (all at once needs O(rows x K) memory)


def parse_size(text: str) -> int:
    text = text.strip().upper().replace("_", "")
    scale = {"K": 10**3, "M": 10**6, "B": 10**9}.get(text[-1], 1)
    return int(float(text.rstrip("KMB")) * scale)


def label(rows: int) -> str:
    return f"{rows // 10**6}M" if rows >= 10**6 else f"{rows // 10**3}K"


# ------------------------------------------------------------------------------------------
# Children: each prints one JSON line last on stdout.


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def read_pandas(path: str):
    """The log's id columns as a pandas frame of int32, filled one row group at a time.

    Only one row group is ever held as Arrow, so the peak is the frame plus one chunk.
    """
    import numpy as np
    import pandas as pd
    import pyarrow.parquet as pq

    columns = ["user_idx", "item_idx"]
    parquet = pq.ParquetFile(path)
    out = {c: np.empty(parquet.metadata.num_rows, dtype=np.int32) for c in columns}
    at = 0
    for group in range(parquet.num_row_groups):
        table = parquet.read_row_group(group, columns=columns)
        for c in columns:
            out[c][at:at + table.num_rows] = table.column(c).to_numpy()
        at += table.num_rows
    return pd.DataFrame(out, copy=False)


def make_model(name: str):
    from reclib.models import KNN, PopRec

    return KNN(num_neighbours=NEIGHBOURS) if name == "knn" else PopRec()


def fit_predict_timed(model_name: str, log: Any, materialise: Any) -> tuple[Any, float, float]:
    """``(recommendations, fit seconds, predict seconds)``; ``materialise(recs)`` is timed."""
    model = make_model(model_name)
    start = time.perf_counter()
    model.fit(log)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    recs = model.predict(log, k=TOP_K)
    materialise(recs)
    return recs, fit_s, time.perf_counter() - start


def child_reclib_pandas(path: str, model_name: str) -> dict[str, Any]:
    start = time.perf_counter()
    log = read_pandas(path)
    read_s = time.perf_counter() - start
    recs, fit_s, predict_s = fit_predict_timed(model_name, log, lambda recs: None)
    return {
        "read_s": read_s, "fit_s": fit_s, "predict_s": predict_s,
        "rows_out": len(recs), "users_out": int(recs["user_idx"].nunique()),
        "peak_self_mib": peak_mib(),
    }


def jvm_peak(session) -> float | None:
    try:
        pid = int(session.sparkContext._jvm.java.lang.ProcessHandle.current().pid())
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except Exception:  # noqa: BLE001 - an optional extra measure
        return None
    return None


def child_reclib_spark(
    path: str, model_name: str, rows: int, local_dir: str, fit_location: str
) -> dict[str, Any]:
    from reclib.engines.spark_fit import FIT_LOCATION_KEY
    from reclib.engines.spark_session import local_session

    start = time.perf_counter()
    partitions = max(4, rows // 1_000_000)
    # A fit gathered on the driver brings the log's id columns there (Arrow): at 100M rows that
    # is about 0.8 GB of results, above the default spark.driver.maxResultSize of 1g.
    spark = local_session(
        cores=2, shuffle_partitions=partitions, driver_memory="4g", local_dir=local_dir,
        extra_conf={"spark.driver.maxResultSize": "4g", FIT_LOCATION_KEY: fit_location},
    )
    session_s = time.perf_counter() - start
    start = time.perf_counter()
    log = spark.read.parquet(path).select("user_idx", "item_idx")
    log.count()  # plan and file listing outside the timer
    read_s = time.perf_counter() - start

    _, fit_s, predict_s = fit_predict_timed(
        model_name, log, lambda recs: recs.write.format("noop").mode("overwrite").save()
    )
    result = {
        "session_s": session_s, "read_s": read_s, "fit_s": fit_s, "predict_s": predict_s,
        "shuffle_partitions": partitions, "spark_fit_location": fit_location,
        "peak_self_mib": peak_mib(), "jvm_peak_mib": jvm_peak(spark),
    }
    spark.stop()
    return result


def child_implicit(path: str) -> dict[str, Any]:
    import numpy as np
    import scipy.sparse as sp
    from implicit.nearest_neighbours import CosineRecommender

    start = time.perf_counter()
    log = read_pandas(path)
    users = log["user_idx"].to_numpy()
    items = log["item_idx"].to_numpy()
    del log
    read_s = time.perf_counter() - start

    start = time.perf_counter()
    n_users, n_items = int(users.max()) + 1, int(items.max()) + 1
    matrix = sp.csr_matrix(
        (np.ones(len(users), dtype=np.float32), (users, items)), shape=(n_users, n_items)
    )
    del users, items
    model = CosineRecommender(K=NEIGHBOURS + 1)
    model.fit(matrix, show_progress=False)
    fit_s = time.perf_counter() - start

    start = time.perf_counter()
    rows_out = 0
    with_history = np.flatnonzero(np.diff(matrix.indptr) > 0)
    for block in range(0, len(with_history), USER_BLOCK):
        ids = with_history[block:block + USER_BLOCK]
        got, scores = model.recommend(ids, matrix[ids], N=TOP_K, filter_already_liked_items=True)
        rows_out += int((np.isfinite(scores) & (got >= 0) & (scores > 0)).sum())
    predict_s = time.perf_counter() - start
    return {
        "read_s": read_s, "fit_s": fit_s, "predict_s": predict_s, "rows_out": rows_out,
        "peak_self_mib": peak_mib(),
    }


def child_main(args: argparse.Namespace) -> None:
    if args.child == "reclib-pandas":
        result = child_reclib_pandas(args.data, args.model)
    elif args.child == "reclib-spark":
        result = child_reclib_spark(
            args.data, args.model, args.rows, args.local_dir, args.spark_fit_location
        )
    elif args.child == "implicit":
        result = child_implicit(args.data)
    else:
        raise SystemExit(f"unknown child {args.child}")
    print(json.dumps(result), flush=True)


# ------------------------------------------------------------------------------------------
# Parent


def tree_rss_mib(pid: int) -> float:
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 2**20


def run_child(command: list[str], timeout: float, env: dict[str, str]) -> dict[str, Any]:
    """Run one contender; return its JSON plus wall time, tree peak and status."""
    start = time.perf_counter()
    load_before = os.getloadavg()[0]
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO
    )
    tree_peak = 0.0
    status = "ok"
    while proc.poll() is None:
        tree_peak = max(tree_peak, tree_rss_mib(proc.pid))
        if time.perf_counter() - start > timeout:
            # Stop the contender and everything it started (Spark's JVM, Python workers).
            import psutil

            kids = psutil.Process(proc.pid).children(recursive=True)
            for p in [*kids, psutil.Process(proc.pid)]:
                try:
                    p.kill()
                except psutil.NoSuchProcess:
                    pass
            status = "timeout"
            break
        time.sleep(0.2)
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - start
    result: dict[str, Any] = {}
    if status == "ok" and proc.returncode == 0:
        try:
            result = json.loads(stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            status = "bad-output"
    elif status == "ok":
        status = f"exit {proc.returncode}"
    if status != "ok":
        tail = "\n".join(stderr.strip().splitlines()[-15:])
        print(f"    {status}; stderr tail:\n{tail}", file=sys.stderr, flush=True)
    result.update(
        status=status, wall_s=wall, tree_peak_mib=tree_peak,
        load_before=load_before, load_after=os.getloadavg()[0],
    )
    return result


def git_state() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, cwd=REPO,
        ).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except OSError:
        return "unknown"


def versions() -> str:
    out = []
    for name in ("numpy", "pandas", "pyarrow", "pyspark", "implicit", "scipy"):
        try:
            out.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            pass
    return ", ".join(out)


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    series: dict[str, list[tuple[int, float]]] = {}
    for row in rows:
        if row["status"] == "ok":
            series.setdefault(row["contender"], []).append((row["rows"], row["time_s"]))
    for name, points in sorted(series.items()):
        points.sort()
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=name)
    if series:
        lo = min(p[0] for pts in series.values() for p in pts)
        hi = max(p[0] for pts in series.values() for p in pts)
        base = min(p[1] for pts in series.values() for p in pts if p[0] == lo)
        ax.plot([lo, hi], [base, base * hi / lo], ls=":", color="grey", label="linear in rows")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("interactions")
    ax.set_ylabel("fit + top-10 for all users (s)")
    ax.set_title("reclib scale benchmark (2 cores, power-law logs)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def print_table(rows: list[dict[str, Any]]) -> None:
    print(f"\n{'size':>5} {'contender':<24} {'status':<8} {'time_s':>8} {'fit_s':>8} "
          f"{'pred_s':>8} {'peak_MiB':>9} {'tree_MiB':>9} {'rows/s':>10}")
    for r in rows:
        print(f"{label(r['rows']):>5} {r['contender']:<24} {r['status']:<8} "
              f"{r.get('time_s', float('nan')):8.1f} {r.get('fit_s', float('nan')):8.1f} "
              f"{r.get('predict_s', float('nan')):8.1f} "
              f"{r.get('peak_self_mib', float('nan')):9.0f} {r['tree_peak_mib']:9.0f} "
              f"{r.get('rows_per_s', float('nan')):10.0f}")
    print("\nratios (reclib time / anchor time, same size, same run):")
    by = {(r["rows"], r["contender"]): r for r in rows if r["status"] == "ok"}
    for (size, name), r in sorted(by.items()):
        if not name.startswith("reclib") or "knn" not in name:
            continue
        for anchor in ("implicit-cosine", "replay-itemknn-spark"):
            a = by.get((size, anchor))
            if a:
                ratio = r["time_s"] / a["time_s"]
                print(f"  {label(size):>5} {name:<22} / {anchor:<22} = {ratio:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--model", default="knn", help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--local-dir", default="/tmp", help=argparse.SUPPRESS)
    parser.add_argument("--sizes", default="1M,10M,100M")
    parser.add_argument("--engines", default="pandas,spark")
    parser.add_argument("--models", default="knn,pop")
    parser.add_argument("--anchors", default="implicit,replay")
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/reclib-scale"))
    parser.add_argument("--replay-python", default="/work/replay-venv/bin/python")
    parser.add_argument("--timeout", type=float, default=3600.0, help="per reclib run, s")
    parser.add_argument("--anchor-timeout", type=float, default=1200.0, help="per anchor run, s")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument(
        "--spark-fit-location", choices=["auto", "executors", "driver"], default="auto",
        help="spark.reclib.fit.location of the Spark runs (auto: the driver under local[2])",
    )
    args = parser.parse_args()
    if args.child:
        child_main(args)
        return

    args.out.mkdir(parents=True, exist_ok=True)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, RECLIB_NO_PROGRESS="1", PYTHONUNBUFFERED="1")
    me = [sys.executable, str(Path(__file__).resolve())]
    engines = [e for e in args.engines.split(",") if e]
    models = [m for m in args.models.split(",") if m]
    anchors = [a for a in args.anchors.split(",") if a]
    replay_runner = HERE / "replay_scale_runner.py"
    if "replay" in anchors and not (Path(args.replay_python).exists() and replay_runner.exists()):
        print(f"RePlay skipped: {args.replay_python} or {replay_runner} missing", flush=True)
        anchors.remove("replay")
    timed_out: set[str] = set()

    header = (f"machine: {os.cpu_count()} cores, "
              f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, "
              f"{platform.platform()}, python {platform.python_version()}; {versions()}; "
              f"reclib git {git_state()}")
    print(header, flush=True)
    rows: list[dict[str, Any]] = []
    for size in [parse_size(s) for s in args.sizes.split(",")]:
        path = args.data_dir / f"powerlaw_{label(size)}.parquet"
        if not path.exists():
            users, items = default_shape(size)
            info = generate(path, size, users, items)
            print(f"generated {info}", flush=True)
        plan: list[tuple[str, list[str], float]] = []
        for model in models:
            for engine in engines:
                command = [*me, "--child", f"reclib-{engine}", "--data", str(path),
                           "--model", model, "--rows", str(size),
                           "--local-dir", str(args.data_dir / "spark-local"),
                           "--spark-fit-location", args.spark_fit_location]
                plan.append((f"reclib-{engine}-{model}", command, args.timeout))
        if "implicit" in anchors:
            plan.append(("implicit-cosine", [*me, "--child", "implicit", "--data", str(path)],
                         args.anchor_timeout))
        if "replay" in anchors:
            command = [args.replay_python, str(replay_runner), "--data", str(path),
                       "--neighbours", str(NEIGHBOURS)]
            plan.append(("replay-itemknn-spark", command, args.anchor_timeout))

        for name, command, timeout in plan:
            if name in timed_out:
                print(f"[{label(size)}] {name}: skipped (timed out at a smaller size)", flush=True)
                continue
            print(f"[{label(size)}] {name} ...", flush=True)
            result = run_child(command, timeout, env)
            if result["status"] == "timeout":
                timed_out.add(name)
            result.update(contender=name, rows=size, header=header)
            if result["status"] == "ok":
                result["time_s"] = result["fit_s"] + result["predict_s"]
                result["rows_per_s"] = size / result["time_s"]
            rows.append(result)
            print(f"    {json.dumps({k: v for k, v in result.items() if k != 'header'})}",
                  flush=True)
            write_csv(rows, args.out / "scale_results.csv")
    plot(rows, args.out / "scale_time.png")
    print_table(rows)


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main()
