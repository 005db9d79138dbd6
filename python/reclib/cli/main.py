"""The ``reclib`` command.

``reclib experiment``  the standard experiment on a real dataset: table, CSV and PNG.
``reclib recommend``   batch recommendations for your own data: raw ids in, raw ids out.
``reclib download``    fetch a public dataset into the data directory.
``reclib tune``        search a model's hyper-parameters on the standard split (optuna).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Sequence

from reclib.exceptions import ReclibError

__all__ = ["main"]


def _add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        default=None,
        help="directory holding the datasets (default: $RECLIB_DATA, else ~/.cache/reclib/data)",
    )


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reclib", description="Recommender systems on pandas and Spark."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    commands = parser.add_subparsers(dest="command", required=True)

    exp = commands.add_parser("experiment", help="run the standard experiment on a dataset")
    exp.add_argument("--dataset", default="ml-100k")
    _add_data_dir(exp)
    exp.add_argument("--engine", choices=["pandas", "spark"], default="pandas")
    exp.add_argument("--k", type=int, default=10)
    exp.add_argument("--output-dir", default="reclib-out", help="where the CSV and PNG go")
    exp.add_argument("--no-progress", action="store_true")
    exp.add_argument(
        "--nn-epochs", type=int, default=5, help="epochs of NeuroMF and MultVAE (default 5)"
    )

    rec = commands.add_parser("recommend", help="recommend for your own interaction file")
    rec.add_argument("--model", required=True, help="pop, userpop, wilson, random or knn")
    rec.add_argument(
        "--params", default=None, help='model parameters as JSON, e.g. \'{"num_neighbours": 50}\''
    )
    rec.add_argument("--input", required=True, help="Parquet or CSV file of interactions")
    rec.add_argument("--output", required=True, help="Parquet (.parquet) or CSV (.csv) to write")
    rec.add_argument("--k", type=int, default=10)
    rec.add_argument("--user-col", default="user_id")
    rec.add_argument("--item-col", default="item_id")
    rec.add_argument("--relevance-col", default="relevance")
    rec.add_argument("--engine", choices=["pandas", "spark"], default="pandas")
    rec.add_argument(
        "--keep-seen",
        action="store_true",
        help="do not remove the items a user already has (default: the model's own default)",
    )

    tune = commands.add_parser(
        "tune", help="search a model's hyper-parameters on the standard split of a dataset"
    )
    tune.add_argument("--model", required=True, help="a model with a search space, e.g. knn")
    tune.add_argument("--dataset", default="ml-100k")
    _add_data_dir(tune)
    tune.add_argument("--engine", choices=["pandas", "spark"], default="pandas")
    tune.add_argument("--budget", type=int, default=20, help="number of trials (default 20)")
    tune.add_argument("--k", type=int, default=10)
    tune.add_argument(
        "--params", default=None, help="parameters to keep fixed, as JSON, e.g. '{\"shrink\": 5}'"
    )
    tune.add_argument(
        "--borders", default=None,
        help='search ranges as JSON, e.g. \'{"num_neighbours": [5, 50]}\'',
    )
    tune.add_argument("--storage", default=None, help="optuna storage, e.g. sqlite:///tune.db")
    tune.add_argument("--study-name", default=None)
    tune.add_argument("--seed", type=int, default=0)
    tune.add_argument("--output-dir", default="reclib-out", help="where the CSV and PNG go")
    tune.add_argument("--no-progress", action="store_true")

    down = commands.add_parser("download", help="download a public dataset")
    down.add_argument("dataset")
    _add_data_dir(down)
    down.add_argument("--url", default=None, help="override the download address")
    return parser


def _experiment(args: argparse.Namespace) -> int:
    from reclib.experiment import format_table, run_experiment, write_report

    if args.no_progress:
        # The CLI is the application: it may silence every bar, the models' own included.
        os.environ["RECLIB_NO_PROGRESS"] = "1"

    table = run_experiment(
        dataset=args.dataset,
        data_dir=args.data_dir,
        engine=args.engine,
        k=args.k,
        show_progress=not args.no_progress,
        nn_epochs=args.nn_epochs,
    )
    print(format_table(table))
    csv_path, png_path = write_report(
        table, args.output_dir, f"experiment-{args.dataset}-{args.engine}"
    )
    print(f"\nwrote {csv_path} and {png_path}")
    return 0


def _recommend(args: argparse.Namespace) -> int:
    from reclib.batch import recommend_file

    written = recommend_file(
        input_path=args.input,
        output_path=args.output,
        model_name=args.model,
        params=args.params,
        k=args.k,
        user_col=args.user_col,
        item_col=args.item_col,
        relevance_col=args.relevance_col,
        engine=args.engine,
        filter_seen_items=False if args.keep_seen else None,
    )
    print(f"wrote {written} recommendation rows to {args.output}")
    return 0


def _tune(args: argparse.Namespace) -> int:
    from reclib.tuning.command import run_tune

    return run_tune(
        model_name=args.model,
        dataset=args.dataset,
        data_dir=args.data_dir,
        engine=args.engine,
        budget=args.budget,
        k=args.k,
        params=args.params,
        borders=args.borders,
        storage=args.storage,
        study_name=args.study_name,
        seed=args.seed,
        output_dir=args.output_dir,
        show_progress=not args.no_progress,
    )


def _download(args: argparse.Namespace) -> int:
    from reclib.data.datasets import download_dataset, resolve_data_dir

    path = download_dataset(args.dataset, resolve_data_dir(args.data_dir), url=args.url)
    print(f"{args.dataset} is in {path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``reclib`` command; returns the process exit status."""
    args = _build_parser().parse_args(argv)
    if args.verbose:
        # The CLI is an application, so it may configure logging; the library never does.
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    handlers = {
        "experiment": _experiment,
        "recommend": _recommend,
        "download": _download,
        "tune": _tune,
    }
    try:
        return handlers[args.command](args)
    except ReclibError as err:
        print(f"reclib: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
