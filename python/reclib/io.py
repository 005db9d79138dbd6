"""Save and load models: :func:`save` and :func:`load` (``reclib.save`` / ``reclib.load``).

A saved model is a directory::

    model/
        manifest.json        format, versions, class, config, fitted scalars, array index
        user_ids.npy         raw ids of the fit users (the model's id mapping), sorted
        item_ids.npy         raw ids of the fit items, sorted
        model.<name>.npy     the model's own fitted arrays

Nothing is pickled.  The manifest names the model by its class name, which must be in the
registry's allowlist (:func:`reclib.models.registry.model_classes`), so a file never chooses
what code runs; arrays are read with ``allow_pickle=False`` after their size, dtype, shape and
SHA-256 are checked against the manifest.  A model fitted on Spark is saved from its driver-side
state, so it loads and predicts the same on pandas.

The optuna study of ``optimize`` is not saved; pass ``storage=`` to ``optimize`` to keep it.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from reclib._logging import get_logger
from reclib.exceptions import InvalidParameterError, ModelFileError, ReclibError

__all__ = ["save", "load", "FORMAT", "FORMAT_VERSION"]

logger = get_logger(__name__)

FORMAT = "reclib.model"
#: Version of the directory layout this reclib writes and reads.
FORMAT_VERSION = 1
#: Upgrades of older layouts: ``{old version: function(manifest) -> manifest of old + 1}``.
#: Empty: version 1 is the first layout.
_MIGRATIONS: dict[int, Any] = {}

MANIFEST = "manifest.json"
_MAX_MANIFEST_BYTES = 64 * 1024 * 1024
_ARRAY_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
#: dtype kinds an array may have: bool, integers, floats, complex, dates, bytes and text.
_ARRAY_KINDS = "biufcmMSU"


def _reclib_version() -> str:
    from reclib import __version__

    return __version__


# --------------------------------------------------------------------------------------------
# Save


def _json_safe(value: Any, where: str) -> Any:
    """``value`` with numpy scalars made plain; refuse what JSON cannot hold exactly."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, dict):
        return {str(k): _json_safe(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidParameterError(f"{where} is {value!r}; a saved model holds finite numbers")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise InvalidParameterError(
        f"{where} is {value!r} of type {type(value).__name__}; a saved model can hold only "
        "JSON values (numbers, strings, booleans, None, lists and dicts of them)"
    )


def _registered_class_name(model: Any) -> str:
    from reclib.models.base import Recommender
    from reclib.models.registry import model_classes

    if not isinstance(model, Recommender):
        raise InvalidParameterError(
            f"`model` must be a reclib model, got {model!r} of type {type(model).__name__}"
        )
    name = type(model).__name__
    if model_classes().get(name) is not type(model):
        raise InvalidParameterError(
            f"cannot save {type(model).__module__}.{type(model).__qualname__}: only the "
            f"registered models {sorted(model_classes())} can be saved and loaded"
        )
    return name


def _write_array(directory: Path, name: str, array: np.ndarray) -> dict[str, Any]:
    if not _ARRAY_NAME.match(name):
        raise ReclibError(f"array name {name!r} is not a safe file name")
    array = np.ascontiguousarray(array)
    if array.dtype.hasobject or array.dtype.kind not in _ARRAY_KINDS:
        raise InvalidParameterError(
            f"model array {name!r} has dtype {array.dtype}; a saved model holds only plain "
            "numeric, boolean, date or text arrays"
        )
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    data = buffer.getvalue()
    file_name = f"{name}.npy"
    _write_file(directory / file_name, data)
    return {
        "file": file_name,
        "dtype": array.dtype.str,
        "shape": list(array.shape),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _is_model_dir(path: Path) -> bool:
    """Whether ``path`` is a directory reclib wrote (so that overwriting it loses nothing else)."""
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and manifest.get("format") == FORMAT


def save(model: Any, path: str | os.PathLike[str], overwrite: bool = False) -> Path:
    """Save a model (fitted or not) to a new directory.

    The directory is written next to ``path`` under a temporary name and renamed into place
    at the end, so ``path`` never holds a half-written model.

    Parameters
    ----------
    model : Recommender
        A model of a registered class (``reclib.models.registry.MODELS``).
    path : str or path-like
        The directory to create; its parent is created if needed.
    overwrite : bool, default False
        Replace an existing model directory at ``path``.  A directory that is not a saved
        reclib model is never replaced.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    InvalidParameterError
        ``model`` is not a registered model, holds a parameter JSON cannot represent, or
        ``path`` exists (without ``overwrite``, or not a reclib model directory).
    """
    class_name = _registered_class_name(model)
    target = Path(path)
    if target.exists() or target.is_symlink():
        if not overwrite:
            raise InvalidParameterError(
                f"`path` {str(target)!r} already exists; pass overwrite=True to replace it"
            )
        if target.is_symlink() or not target.is_dir() or not _is_model_dir(target):
            raise InvalidParameterError(
                f"`path` {str(target)!r} exists and is not a saved reclib model; refusing to "
                "replace it"
            )

    config = _json_safe(model.get_config(), "the model's config")
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "reclib_version": _reclib_version(),
        "class": class_name,
        "config": config,
        "fitted": bool(model.is_fitted),
        "meta": None,
        "arrays": {},
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.saving-", dir=target.parent))
    try:
        if model.is_fitted:
            meta, arrays = model.export_state()
            manifest["meta"] = _json_safe(
                {key: meta[key] for key in ("user_dtype", "item_dtype", "model")},
                "the model's fitted metadata",
            )
            manifest["arrays"] = {
                name: _write_array(staging, name, array) for name, array in arrays.items()
            }
        text = json.dumps(manifest, indent=2, allow_nan=False, sort_keys=False)
        _write_file(staging / MANIFEST, text.encode("utf-8"))
        _replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logger.info("saved %s to %s", class_name, target)
    return target


def _replace(staging: Path, target: Path) -> None:
    """Move ``staging`` to ``target``, replacing an old model directory only once it is done."""
    if not target.exists():
        os.rename(staging, target)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    old.rmdir()
    os.rename(target, old)
    try:
        os.rename(staging, target)
    except BaseException:
        os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Load


def _read_manifest(directory: Path) -> dict[str, Any]:
    if not directory.exists():
        raise ModelFileError(f"no saved model at {str(directory)!r}: the path does not exist")
    if not directory.is_dir():
        raise ModelFileError(
            f"{str(directory)!r} is not a directory; reclib.save writes a model as a directory"
        )
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        raise ModelFileError(
            f"{str(directory)!r} has no {MANIFEST}; it is not a model saved by reclib.save"
        )
    if manifest_path.stat().st_size > _MAX_MANIFEST_BYTES:
        raise ModelFileError(
            f"{MANIFEST} of {str(directory)!r} is larger than {_MAX_MANIFEST_BYTES} bytes; "
            "it is not a reclib manifest"
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise ModelFileError(f"{MANIFEST} of {str(directory)!r} is not UTF-8 text: {err}") from None
    except json.JSONDecodeError as err:
        raise ModelFileError(
            f"{MANIFEST} of {str(directory)!r} is corrupt: not valid JSON ({err.msg} at line "
            f"{err.lineno}, column {err.colno})"
        ) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        got = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise ModelFileError(
            f"{MANIFEST} of {str(directory)!r} is not a reclib model manifest: `format` is "
            f"{got!r}, expected {FORMAT!r}"
        )
    return _upgrade(manifest, directory)


def _upgrade(manifest: dict[str, Any], directory: Path) -> dict[str, Any]:
    """Check ``format_version`` and apply the migrations of older layouts."""
    version = manifest.get("format_version")
    saved_by = manifest.get("reclib_version", "an unknown version")
    this = _reclib_version()
    if isinstance(version, bool) or not isinstance(version, int):
        raise ModelFileError(
            f"{MANIFEST} of {str(directory)!r} has `format_version` {version!r}; expected an "
            "integer"
        )
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"the model at {str(directory)!r} was saved by reclib {saved_by} in format "
            f"version {version}; this is reclib {this}, which reads format versions up to "
            f"{FORMAT_VERSION}: upgrade reclib to load it"
        )
    while version < FORMAT_VERSION:
        migrate = _MIGRATIONS.get(version)
        if migrate is None:
            raise ModelFileError(
                f"the model at {str(directory)!r} was saved by reclib {saved_by} in format "
                f"version {version}, which reclib {this} can no longer read (no migration to "
                f"version {FORMAT_VERSION}); load it with that reclib and refit, or save it again"
            )
        manifest = migrate(manifest)
        version = manifest["format_version"]
    return manifest


def _field(manifest: dict[str, Any], name: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = manifest.get(name)
    if not isinstance(value, kind):
        raise ModelFileError(f"{MANIFEST} of {where} has a bad `{name}`: {value!r}")
    return value


def _model_class(manifest: dict[str, Any], where: str) -> type:
    from reclib.models.registry import model_classes

    known = model_classes()
    name = manifest.get("class")
    if not isinstance(name, str) or name not in known:
        raise ModelFileError(
            f"the model at {where} names the class {name!r}, which is not a reclib model of "
            f"this version ({_reclib_version()}); known classes: {sorted(known)}"
        )
    return known[name]


def _read_array(directory: Path, name: str, entry: Any, where: str) -> np.ndarray:
    """Read one array after checking it against its manifest entry."""
    if not _ARRAY_NAME.match(name) or not isinstance(entry, dict):
        raise ModelFileError(f"{MANIFEST} of {where} has a bad array entry {name!r}: {entry!r}")
    file_name, dtype, shape, digest = (
        entry.get("file"), entry.get("dtype"), entry.get("shape"), entry.get("sha256")
    )
    if file_name != f"{name}.npy":
        raise ModelFileError(
            f"{MANIFEST} of {where}: array {name!r} must be stored in {name + '.npy'!r}, "
            f"got {file_name!r}"
        )
    try:
        expected_dtype = np.dtype(dtype)
    except TypeError:
        raise ModelFileError(f"{MANIFEST} of {where}: array {name!r} has dtype {dtype!r}") from None
    if expected_dtype.hasobject or expected_dtype.kind not in _ARRAY_KINDS:
        raise ModelFileError(
            f"{MANIFEST} of {where}: array {name!r} has dtype {dtype!r}; saved models hold only "
            "plain arrays (object arrays would need pickle, which reclib never loads)"
        )
    if not isinstance(shape, list) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape
    ):
        raise ModelFileError(f"{MANIFEST} of {where}: array {name!r} has shape {shape!r}")

    path = directory / file_name
    if path.is_symlink() or not path.is_file():
        raise ModelFileError(f"the model at {where} is missing its array file {file_name!r}")
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != digest:
        raise ModelFileError(
            f"array file {file_name!r} of the model at {where} does not match the SHA-256 in "
            f"{MANIFEST}: it was changed or damaged after saving"
        )
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as err:
        raise ModelFileError(
            f"array file {file_name!r} of the model at {where} cannot be read: {err}"
        ) from None
    if array.dtype != expected_dtype or list(array.shape) != shape:
        raise ModelFileError(
            f"array file {file_name!r} of the model at {where} holds {array.dtype.str} "
            f"{list(array.shape)}, but {MANIFEST} says {dtype} {shape}"
        )
    return array


def _id_dtype(value: Any) -> str:
    dtype = np.dtype(value)
    if dtype.kind not in "iu":
        raise ValueError(f"id dtype {value!r} is not an integer dtype")
    return dtype.str


def load(path: str | os.PathLike[str]) -> Any:
    """Load a model saved by :func:`save`.

    Parameters
    ----------
    path : str or path-like
        The directory :func:`save` wrote.

    Returns
    -------
    Recommender
        The model, fitted if it was saved fitted; it predicts on pandas and on Spark.

    Raises
    ------
    ModelFileError
        The directory or its manifest is missing or corrupt, was written by a newer reclib
        (or an older layout without migration), names a class this reclib does not have,
        or an array file is missing, altered or inconsistent with the manifest.
    """
    directory = Path(path)
    where = repr(str(directory))
    manifest = _read_manifest(directory)
    cls = _model_class(manifest, where)
    saved_by = manifest.get("reclib_version", "an unknown version")

    config = _field(manifest, "config", dict, where)
    if config.get("model") != cls.__name__:
        raise ModelFileError(
            f"{MANIFEST} of {where} is inconsistent: `class` is {cls.__name__!r} but the config "
            f"is for {config.get('model')!r}"
        )
    try:
        model = cls.from_config(config)
    except InvalidParameterError as err:
        raise ModelFileError(
            f"the {cls.__name__} saved at {where} by reclib {saved_by} does not fit this "
            f"reclib ({_reclib_version()}): {err}"
        ) from None
    if not _field(manifest, "fitted", bool, where):
        return model

    meta = _field(manifest, "meta", dict, where)
    entries = _field(manifest, "arrays", dict, where)
    missing = sorted({"user_ids", "item_ids"} - set(entries))
    if missing:
        raise ModelFileError(f"{MANIFEST} of {where} lists no array(s) {missing}")
    arrays = {name: _read_array(directory, name, entry, where) for name, entry in entries.items()}
    try:
        state_meta = {
            "params": config["params"],
            "user_dtype": _id_dtype(meta["user_dtype"]),
            "item_dtype": _id_dtype(meta["item_dtype"]),
            "model": dict(meta.get("model") or {}),
        }
        model = cls.from_state(state_meta, arrays)
    except ModelFileError:
        raise
    except (ReclibError, KeyError, TypeError, ValueError, IndexError) as err:
        raise ModelFileError(
            f"the {cls.__name__} saved at {where} by reclib {saved_by} has an incomplete or "
            f"inconsistent state: {type(err).__name__}: {err}"
        ) from None
    logger.info("loaded %s from %s", cls.__name__, directory)
    return model
