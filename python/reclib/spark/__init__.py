"""Running reclib on a Spark cluster whose executors do not have reclib installed.

reclib's kernels live in a compiled extension, ``reclib._core``.  Spark's ``pyFiles`` cannot
carry it: Spark puts only ``.py``, ``.zip`` and ``.egg`` files on the Python workers'
``sys.path``, so a wheel passed with ``--py-files`` gives ``No module named 'reclib'`` on the
executors (measured on a standalone cluster), and a wheel renamed ``.zip`` fails too, because
Python's zipimport cannot load a shared library (``No module named 'reclib._core'``).

What works is to ship a whole Python environment: :func:`pack_environment` packs reclib and its
runtime dependencies into an archive (with venv-pack), Spark sends it to every executor with
``spark.archives`` and unpacks it in the executor's working directory, and the executors run
its Python::

    import reclib.spark
    from pyspark.sql import SparkSession

    archive = reclib.spark.pack_environment("reclib_env.tar.gz")
    builder = SparkSession.builder.master("spark://host:7077")
    spark = reclib.spark.ship(builder, archive).getOrCreate()

or, for a script run with ``spark-submit`` (which reads ``spark.pyspark.python`` itself)::

    python -c "import reclib.spark; reclib.spark.pack_environment('reclib_env.tar.gz')"
    spark-submit --master spark://host:7077 \\
        --archives reclib_env.tar.gz#environment \\
        --conf spark.pyspark.python=./environment/bin/python \\
        --conf spark.pyspark.driver.python=$(which python) \\
        job.py

The driver.python setting is needed in client mode: without it spark-submit starts the
*driver* with ``spark.pyspark.python`` too, a path that exists only on executors ("Cannot run
program ./environment/bin/python").  Both commands were run on a standalone cluster in client
mode; cluster deploy mode was not tried.

:func:`executor_info` runs one small task per executor core and reports which Python and which
``reclib._core`` each task used, which is how to check the set-up.

Limitation: venv-pack does not copy the Python interpreter: ``environment/bin/python`` links to
the interpreter the environment was made from, so every node must have the same Python at the
same path (true for nodes built from one image).  For other clusters, pass ``python_prefix``
(the interpreter's prefix on the nodes), or build the archive with conda-pack instead.
"""

from __future__ import annotations

import fnmatch
import importlib.metadata as metadata
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import venv
import zipfile
from pathlib import Path
from typing import Any, Iterable, Iterator

import pyarrow as pa

from reclib._logging import get_logger
from reclib.exceptions import EngineError, InvalidParameterError, MissingDependencyError

__all__ = ["pack_environment", "ship", "executor_info", "EXECUTOR_PACKAGES", "ENVIRONMENT_ALIAS"]

logger = get_logger(__name__)

#: Distributions the executors import (with their own dependencies, found from the installed
#: metadata).  matplotlib is left out: only the driver's plotting uses it.
EXECUTOR_PACKAGES: tuple[str, ...] = ("numpy", "scipy", "pandas", "pyarrow", "tqdm")
#: Shipped as well when installed here: it lets executors size their BLAS pools.
_OPTIONAL_PACKAGES: tuple[str, ...] = ("threadpoolctl",)
#: Paths (relative to site-packages) left out by default: test suites, which no import needs.
_DEFAULT_EXCLUDE: tuple[str, ...] = ("*/tests/*",)
#: Directory name the archive is unpacked under on executors (``spark.archives=...#alias``).
ENVIRONMENT_ALIAS = "environment"

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _wanted(requirement: str) -> str | None:
    """The distribution a ``Requires-Dist`` line needs here, or None (extra, other platform)."""
    try:
        from packaging.requirements import Requirement
    except ImportError:  # pragma: no cover - packaging comes with pip and pytest
        if "extra ==" in requirement.replace('"', "").replace("'", ""):
            return None
        match = _NAME.match(requirement)
        return match.group(1) if match else None
    parsed = Requirement(requirement)
    if parsed.marker is not None and not parsed.marker.evaluate({"extra": ""}):
        return None
    return parsed.name


def _closure(names: Iterable[str]) -> list[metadata.Distribution]:
    """The installed distributions ``names`` and everything they require, recursively."""
    found: dict[str, metadata.Distribution] = {}
    todo = [(name, True) for name in names]
    while todo:
        name, asked = todo.pop()
        key = _canonical(name)
        if key in found:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            if asked:
                raise MissingDependencyError(
                    f"package `{name}` is not installed in this Python ({sys.prefix}); "
                    "pack_environment copies installed packages, so install it first"
                ) from None
            logger.debug("skipping %s: required by a shipped package but not installed", name)
            continue
        found[key] = dist
        for requirement in dist.requires or []:
            dep = _wanted(requirement)
            if dep is not None:
                todo.append((dep, False))
    return list(found.values())


def _excluded(relative: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatch(relative, pattern) for pattern in patterns)


def _is_editable(dist: metadata.Distribution) -> bool:
    text = dist.read_text("direct_url.json")
    if not text:
        return False
    return bool(json.loads(text).get("dir_info", {}).get("editable", False))


def _copy_file(source: Path, target: Path) -> int:
    """Hard-link ``source`` as ``target`` (nothing writes to either), else copy it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
    return target.stat().st_size


def _copy_distribution(
    dist: metadata.Distribution, site: Path, exclude: tuple[str, ...]
) -> int:
    """Copy a distribution's files that live in site-packages; return the bytes copied."""
    files = dist.files
    name = dist.metadata["Name"]
    if files is None:
        raise EngineError(
            f"cannot list the files of installed package `{name}` (it has no RECORD); "
            "reinstall it with pip"
        )
    root = Path(os.path.normpath(dist.locate_file(""))).resolve()
    copied = 0
    for entry in files:
        source = Path(os.path.normpath(dist.locate_file(entry)))
        relative = os.path.relpath(source, root)
        # Scripts (bin/) and data files outside site-packages are not needed by executors.
        if relative.startswith("..") or _excluded(relative, exclude) or relative.endswith(".pth"):
            continue
        if source.is_file():
            copied += _copy_file(source, site / relative)
    return copied


def _copy_reclib(site: Path, wheel: str | os.PathLike[str] | None) -> str:
    """Put reclib into ``site``: from ``wheel``, else from this Python's installation."""
    if wheel is not None:
        wheel = Path(wheel)
        if wheel.suffix != ".whl" or not wheel.name.startswith("reclib-"):
            raise InvalidParameterError(f"`wheel` must be a reclib-*.whl file, got {str(wheel)!r}")
        with zipfile.ZipFile(wheel) as archive:
            # A wheel is unpacked as is; its `.data/` directories (scripts) are not needed.
            members = [m for m in archive.namelist() if not m.split("/", 1)[0].endswith(".data")]
            archive.extractall(site, members=members)
        return f"wheel {wheel.name}"

    import reclib

    dist = metadata.distribution("reclib")
    package = Path(reclib.__file__).resolve().parent
    if _is_editable(dist):
        # An editable install points at the source tree, where the extension is built in place.
        shutil.copytree(package, site / "reclib", ignore=shutil.ignore_patterns("__pycache__"))
        for entry in dist.files or []:
            if ".dist-info" in str(entry):
                _copy_file(Path(dist.locate_file(entry)), site / entry)
        return f"editable source tree {package}"
    _copy_distribution(dist, site, ())
    return f"installed package {package}"


def _site_packages(prefix: Path) -> Path:
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return prefix / "lib" / version / "site-packages"


def pack_environment(
    output: str | os.PathLike[str] = "reclib_env.tar.gz",
    wheel: str | os.PathLike[str] | None = None,
    extra_packages: Iterable[str] = (),
    exclude: Iterable[str] = _DEFAULT_EXCLUDE,
    python_prefix: str | None = None,
    compress_level: int = 4,
    force: bool = False,
) -> Path:
    """Pack reclib and what executors need into an archive for ``spark.archives``.

    A new virtual environment (of this Python) receives reclib, :data:`EXECUTOR_PACKAGES`,
    ``extra_packages`` and their dependencies, copied from this Python's installation (same
    versions as the driver, nothing downloaded), and venv-pack turns it into ``output``.

    Parameters
    ----------
    output : path
        The archive to write, ``.tar.gz`` or ``.tgz``.  (A plain ``.tar`` is refused: Spark
        unpacks it with Hadoop's Java untar, which fails on venv-pack's ``bin/python3`` symlink
        because it comes before any regular file of ``bin/``; ``.tar.gz`` goes through the
        ``tar`` command.)
    wheel : path, optional
        A built reclib wheel to ship; by default the reclib this Python imports (an editable
        install ships its source tree with the extension built in place).
    extra_packages : iterable of str
        More installed distributions the executors need (``"torch"`` for the neural models).
    exclude : iterable of str
        ``fnmatch`` patterns of paths inside site-packages to leave out; by default test suites.
    python_prefix : str, optional
        Prefix of the Python on the executors, when it differs from this one's (venv-pack's
        option of that name).
    compress_level : int
        gzip level (0-9); 1 packs a little faster and about 10 % larger than the default 4.
    force : bool
        Overwrite ``output`` if it exists.

    Returns
    -------
    pathlib.Path
        The absolute path of the archive.
    """
    try:
        import venv_pack
    except ImportError:
        raise MissingDependencyError(
            "pack_environment needs venv-pack; install it with `pip install venv-pack`"
        ) from None
    output = Path(output).resolve()
    if not output.name.endswith((".tar.gz", ".tgz")):
        raise InvalidParameterError(
            f"`output` must end with .tar.gz or .tgz, got {output.name!r} (Spark cannot unpack "
            "a plain .tar of a virtual environment; see the docstring)"
        )
    if output.exists() and not force:
        raise InvalidParameterError(
            f"`output` {str(output)!r} exists; pass force=True to overwrite it"
        )

    names = [*EXECUTOR_PACKAGES, *extra_packages]
    names += [name for name in _OPTIONAL_PACKAGES if _installed(name)]
    distributions = [d for d in _closure(names) if _canonical(d.metadata["Name"]) != "reclib"]
    patterns = tuple(exclude)

    workdir = Path(tempfile.mkdtemp(prefix="reclib-pack-"))
    try:
        prefix = workdir / ENVIRONMENT_ALIAS
        venv.EnvBuilder(with_pip=False, symlinks=True).create(prefix)
        site = _site_packages(prefix)
        total = sum(_copy_distribution(d, site, patterns) for d in distributions)
        source = _copy_reclib(site, wheel)
        logger.info(
            "packing reclib (%s) with %d packages (%.0f MB) into %s",
            source, len(distributions), total / 2**20, output,
        )
        venv_pack.pack(
            prefix=str(prefix),
            output=str(output),
            force=force,
            compress_level=compress_level,
            python_prefix=python_prefix,
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    # venv-pack writes through a private temporary file (mode 0600); make it readable like any
    # file this process creates, so a cluster running as another user can fetch it.
    umask = os.umask(0)
    os.umask(umask)
    output.chmod(0o666 & ~umask)
    return output


def _installed(name: str) -> bool:
    try:
        metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return False
    return True


def ship(builder: Any, archive: str | os.PathLike[str], alias: str = ENVIRONMENT_ALIAS) -> Any:
    """Make the session ``builder`` will create run its executors from ``archive``.

    Adds the archive to ``spark.archives`` (unpacked as ``./<alias>`` in each executor's
    working directory) and points the executors' Python at ``./<alias>/bin/python``, both as
    ``spark.pyspark.python`` and as the environment variable ``PYSPARK_PYTHON`` of this process:
    a session started from a plain ``python`` reads only the variable (spark-submit reads the
    setting).  Call it before ``getOrCreate``: both are fixed when the session starts.

    Parameters
    ----------
    builder : pyspark.sql.SparkSession.Builder
        The builder of the session, with its master set to a cluster (``spark://...``,
        ``yarn``, ``k8s://...`` or ``local-cluster[...]``).
    archive : path or URI
        What :func:`pack_environment` wrote; a local path, or a URI the cluster can read.
    alias : str
        Directory name of the unpacked archive on executors.

    Returns
    -------
    pyspark.sql.SparkSession.Builder
        ``builder``, configured.
    """
    from pyspark import SparkContext

    if SparkContext._active_spark_context is not None:
        raise EngineError(
            "a Spark session is already running, and spark.archives and the executors' Python "
            "are fixed when a session starts; stop it (`spark.stop()`) and call ship on the "
            "builder of the new session"
        )
    options = dict(getattr(builder, "_options", {}))
    master = str(options.get("spark.master", ""))
    if master == "local" or master.startswith("local["):
        raise EngineError(
            f"ship needs a cluster master, got {master!r}: in local mode the tasks run the "
            "driver's Python, which already has reclib; use local-cluster[...] to test shipping"
        )
    uri = str(archive)
    if "://" not in uri:
        path = Path(uri).resolve()
        if not path.is_file():
            raise InvalidParameterError(f"`archive` {uri!r} is not a file")
        uri = str(path)
    archives = [a for a in str(options.get("spark.archives", "")).split(",") if a]
    archives.append(f"{uri}#{alias}")
    python = f"./{alias}/bin/python"
    os.environ["PYSPARK_PYTHON"] = python
    return builder.config("spark.archives", ",".join(archives)).config(
        "spark.pyspark.python", python
    )


_INFO_SCHEMA = pa.schema(
    [
        ("partition", pa.int32()),
        ("host", pa.string()),
        ("pid", pa.int64()),
        ("python", pa.string()),
        ("prefix", pa.string()),
        ("reclib_core", pa.string()),
        ("task_cpus", pa.int32()),
        ("rayon_threads", pa.int32()),
    ]
)


def _info_partition(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """``mapInArrow`` kernel of :func:`executor_info`: one row describing this task."""
    from pyspark import TaskContext

    from reclib import _core
    from reclib._threads import configure_executor_threads

    for _ in batches:
        pass
    context = TaskContext.get()
    configure_executor_threads()
    row = {
        "partition": [context.partitionId() if context else -1],
        "host": [socket.gethostname()],
        "pid": [os.getpid()],
        "python": [sys.executable],
        "prefix": [sys.prefix],
        "reclib_core": [_core.__file__],
        "task_cpus": [context.cpus() if context else -1],
        "rayon_threads": [_core.get_num_threads()],
    }
    yield pa.RecordBatch.from_pydict(row, schema=_INFO_SCHEMA)


def executor_info(session: Any, tasks: int | None = None) -> Any:
    """Where reclib runs on the executors: one row per task of a small job.

    Parameters
    ----------
    session : pyspark.sql.SparkSession
        The session to check.
    tasks : int, optional
        Number of tasks; by default ``spark.default.parallelism`` (every core once).

    Returns
    -------
    pandas.DataFrame
        ``partition, host, pid, python, prefix, reclib_core, task_cpus, rayon_threads``:
        the worker's interpreter and ``sys.prefix``, the file ``reclib._core`` was loaded from,
        ``spark.task.cpus`` and the size of the rayon pool the kernels got.
    """
    n = int(tasks or session.sparkContext.defaultParallelism)
    ddl = (
        "partition int, host string, pid bigint, python string, prefix string, "
        "reclib_core string, task_cpus int, rayon_threads int"
    )
    frame = session.range(0, n, 1, n).mapInArrow(_info_partition, ddl)
    return frame.toPandas().sort_values("partition", ignore_index=True)
