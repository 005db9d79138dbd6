"""Mapping raw user and item ids to the dense integer ids that models work on.

Every reclib model works on ``user_idx`` and ``item_idx``: int32 values in ``[0, n)``.
Real logs carry ids of any kind (int64 beyond the int32 range, gaps, strings).
:class:`Indexer` learns one mapping per column and applies it in either direction, on a
pandas or a Spark DataFrame, with the same result on both.

The rules (``EVALUATION.md`` §4):

- Dense ids follow the **sorted** order of the distinct raw ids seen in ``fit``. The
  mapping therefore does not depend on row order, partitioning or engine. Sorting always
  happens in numpy on the driver, also for Spark input, so both engines agree by
  construction.
- A column holds integers or strings, one kind per column (users may be integers while
  items are strings). Floats, booleans and mixed columns are refused with the cast to apply.
- A raw id not seen in ``fit`` is never mapped onto an existing id. ``unknown="error"``
  raises :class:`~reclib.exceptions.UnknownIdError` with up to five of them;
  ``unknown="drop"`` drops their rows and logs how many went.
- Null ids are always an error.

On pandas every step is vectorised (``pd.Index.get_indexer``). On Spark ``fit`` collects
the distinct ids (they are few next to the rows), and ``transform`` / ``inverse_transform``
left-join a broadcast mapping DataFrame; no Python runs on the executors. The unknown-id
check on Spark runs one aggregation job over the input when ``transform`` is called; the
frame it returns stays lazy.

:meth:`Indexer.to_dict` / :meth:`Indexer.from_dict` turn a fitted indexer into plain JSON
values (ids as lists, with their kind and original dtype) for a model manifest.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from reclib._logging import get_logger
from reclib.engines.frames import require_frame
from reclib.exceptions import (
    ColumnMissingError,
    ColumnTypeError,
    InvalidParameterError,
    InvalidValueError,
    NotFittedError,
    SchemaError,
    UnknownIdError,
)

__all__ = ["ITEM_IDX", "USER_IDX", "Indexer"]

logger = get_logger(__name__)

USER_IDX = "user_idx"
"""Name of the dense user id column that :meth:`Indexer.transform` adds."""

ITEM_IDX = "item_idx"
"""Name of the dense item id column that :meth:`Indexer.transform` adds."""

_UNKNOWN_POLICIES = ("error", "drop")
_WHICH = ("both", "user", "item")
_SHOW_UNSEEN = 5
_DICT_FORMAT = "reclib.indexer"
_DICT_VERSION = 1

IdKind = Literal["int", "str"]
Which = Literal["both", "user", "item"]


@dataclass
class _IdMap:
    """The fitted mapping of one column: sorted distinct raw ids and their original dtype.

    ``ids[k]`` is the raw id whose dense id is ``k``. ``kind`` is ``"int"`` (``ids`` is a
    numpy integer array) or ``"str"`` (``ids`` is an object array of ``str``). ``dtype`` is
    the pandas dtype name the raw column had, used to give it back in ``inverse_transform``.
    """

    ids: np.ndarray
    kind: IdKind
    dtype: str
    _index: pd.Index | None = field(default=None, repr=False, compare=False)

    @property
    def index(self) -> pd.Index:
        """A hash index over ``ids`` for vectorised lookups, built on first use."""
        if self._index is None:
            self._index = pd.Index(self.ids, dtype=self.ids.dtype, copy=False)
        return self._index

    def __getstate__(self) -> dict[str, Any]:
        # The cached index is rebuilt on demand; keeping it out halves a pickled indexer.
        return {"ids": self.ids, "kind": self.kind, "dtype": self.dtype, "_index": None}


@dataclass
class _Axis:
    """One side of the indexer: the raw column, the dense column and their fitted map."""

    name: str
    raw_col: str
    idx_col: str
    map: _IdMap | None = None


# ----------------------------------------------------------------------------------------
# The public class
# ----------------------------------------------------------------------------------------


class Indexer:
    """Map raw user and item ids to dense int32 ids ``user_idx`` / ``item_idx`` and back.

    Parameters
    ----------
    user_col : str, default "user_id"
        Column holding the raw user ids.
    item_col : str, default "item_id"
        Column holding the raw item ids.
    unknown : {"error", "drop"}, default "error"
        What :meth:`transform` does with ids not seen in :meth:`fit`: raise
        :class:`~reclib.exceptions.UnknownIdError`, or drop their rows with a logged warning.

    Notes
    -----
    Dense ids are given in the sorted order of the distinct raw ids (integers numerically,
    strings by code point), so the same data gives the same mapping on pandas and on Spark,
    whatever the row order.

    Examples
    --------
    >>> import pandas as pd
    >>> log = pd.DataFrame({"user_id": [10, 3, 10], "item_id": ["b", "a", "c"],
    ...                     "relevance": [1.0, 2.0, 3.0]})
    >>> indexer = Indexer()
    >>> indexed = indexer.fit_transform(log)
    >>> indexed
       user_idx  item_idx  relevance
    0         1         1        1.0
    1         0         0        2.0
    2         1         2        3.0
    >>> indexer.inverse_transform(indexed)["user_id"].tolist()
    [10, 3, 10]
    """

    def __init__(
        self,
        user_col: str = "user_id",
        item_col: str = "item_id",
        unknown: Literal["error", "drop"] = "error",
    ) -> None:
        for param, value in (("user_col", user_col), ("item_col", item_col)):
            if not isinstance(value, str) or not value:
                msg = f"`{param}` must be a non-empty column name, got {value!r}"
                raise InvalidParameterError(msg)
        if user_col == item_col:
            msg = f"`user_col` and `item_col` must differ, both are {user_col!r}"
            raise InvalidParameterError(msg)
        if unknown not in _UNKNOWN_POLICIES:
            msg = f"`unknown` must be one of {_UNKNOWN_POLICIES}, got {unknown!r}"
            raise InvalidParameterError(msg)

        self.user_col = user_col
        self.item_col = item_col
        self.unknown = unknown
        self._users = _Axis("user", user_col, USER_IDX)
        self._items = _Axis("item", item_col, ITEM_IDX)

    def __repr__(self) -> str:
        params = (
            f"user_col={self.user_col!r}, item_col={self.item_col!r}, unknown={self.unknown!r}"
        )
        if not self.is_fitted:
            return f"Indexer({params})"
        return f"Indexer({params}) fitted on {self.n_users} users, {self.n_items} items"

    # ---- fitted state -------------------------------------------------------------------

    @property
    def is_fitted(self) -> bool:
        """Whether :meth:`fit` (or :meth:`from_dict`) has given the indexer its mappings."""
        return self._users.map is not None and self._items.map is not None

    @property
    def n_users(self) -> int:
        """Number of distinct users seen in :meth:`fit`; ``user_idx`` lies in ``[0, n_users)``."""
        return len(self._map(self._users).ids)

    @property
    def n_items(self) -> int:
        """Number of distinct items seen in :meth:`fit`; ``item_idx`` lies in ``[0, n_items)``."""
        return len(self._map(self._items).ids)

    @property
    def user_ids(self) -> np.ndarray:
        """Raw user ids in dense order: ``user_ids[k]`` is the user with ``user_idx == k``.

        A read-only view; integers keep their dtype, strings come as an object array.
        """
        return _read_only(self._map(self._users).ids)

    @property
    def item_ids(self) -> np.ndarray:
        """Raw item ids in dense order: ``item_ids[k]`` is the item with ``item_idx == k``."""
        return _read_only(self._map(self._items).ids)

    def _map(self, axis: _Axis) -> _IdMap:
        return _fitted(axis)

    # ---- fit / transform ----------------------------------------------------------------

    def fit(self, df: Any) -> Indexer:
        """Learn the user and item mappings from the distinct ids of ``df``.

        Parameters
        ----------
        df : pandas.DataFrame or pyspark.sql.DataFrame
            Must hold ``user_col`` and ``item_col``; other columns are ignored.

        Returns
        -------
        Indexer
            ``self``, fitted.

        Raises
        ------
        ColumnMissingError
            If ``user_col`` or ``item_col`` is absent.
        ColumnTypeError
            If an id column holds floats, booleans or a mix of integers and strings.
        InvalidValueError
            If an id column holds nulls.
        """
        engine = require_frame(df, "df")
        axes = (self._users, self._items)
        _require_columns(df, [a.raw_col for a in axes], "fit")
        started = time.perf_counter()

        fit_one = _fit_spark if engine == "spark" else _fit_pandas
        maps = [fit_one(df, axis.raw_col) for axis in axes]
        for axis, id_map in zip(axes, maps, strict=True):
            axis.map = id_map

        logger.debug(
            "fitted Indexer on %s: %d users, %d items in %.3f s",
            engine, self.n_users, self.n_items, time.perf_counter() - started,
        )
        return self

    def transform(self, df: Any, *, which: Which = "both") -> Any:
        """Replace the raw id columns by dense ``user_idx`` / ``item_idx`` (int32).

        Each dense column takes the place of its raw column; every other column is kept as
        it is. A new frame is returned and ``df`` is never modified. On pandas the row index
        is kept (minus dropped rows).

        Parameters
        ----------
        df : pandas.DataFrame or pyspark.sql.DataFrame
            Frame holding the raw id columns.
        which : {"both", "user", "item"}, default "both"
            Which id columns to map; ``"item"`` suits an item-features frame that has no
            user column.

        Returns
        -------
        pandas.DataFrame or pyspark.sql.DataFrame
            Same engine as ``df``.

        Raises
        ------
        NotFittedError
            If the indexer is not fitted.
        ColumnMissingError
            If a raw id column is absent.
        ColumnTypeError
            If an id column holds another kind of id than in ``fit`` (strings vs integers).
        InvalidValueError
            If an id column holds nulls.
        SchemaError
            If ``df`` already has a ``user_idx`` / ``item_idx`` column that would be shadowed.
        UnknownIdError
            With ``unknown="error"``, if an id was not seen in ``fit``.

        Notes
        -----
        On Spark the checks for null and unseen ids run one aggregation job over ``df`` when
        ``transform`` is called (a second one only when unseen ids are found); the frame
        returned stays lazy. Cache ``df`` first if it is costly to compute.
        """
        engine = require_frame(df, "df")
        axes = self._axes(which)
        for axis in axes:
            self._map(axis)
        _require_columns(df, [a.raw_col for a in axes], "transform")
        _refuse_shadowing(df, axes, to_dense=True)

        if engine == "spark":
            return _transform_spark(df, axes, self.unknown)
        return _transform_pandas(df, axes, self.unknown)

    def fit_transform(self, df: Any) -> Any:
        """:meth:`fit` on ``df``, then :meth:`transform` it (no id can be unknown)."""
        return self.fit(df).transform(df)

    def inverse_transform(self, df: Any, *, which: Which = "both") -> Any:
        """Replace ``user_idx`` / ``item_idx`` by the raw ids, in their original dtype.

        The raw columns are named ``user_col`` / ``item_col`` and take the place of the dense
        columns; other columns are kept as they are. A new frame is returned.

        Parameters
        ----------
        df : pandas.DataFrame or pyspark.sql.DataFrame
            Frame holding integer ``user_idx`` / ``item_idx`` columns (recommendations, say).
        which : {"both", "user", "item"}, default "both"
            Which dense columns to map back.

        Returns
        -------
        pandas.DataFrame or pyspark.sql.DataFrame
            Same engine as ``df``.

        Raises
        ------
        NotFittedError
            If the indexer is not fitted.
        ColumnMissingError
            If a dense id column is absent.
        ColumnTypeError
            If a dense id column is not of an integer type.
        InvalidValueError
            If a dense id column holds nulls.
        UnknownIdError
            If a dense id lies outside ``[0, n)``.
        """
        engine = require_frame(df, "df")
        axes = self._axes(which)
        for axis in axes:
            self._map(axis)
        _require_columns(df, [a.idx_col for a in axes], "inverse_transform")
        _refuse_shadowing(df, axes, to_dense=False)

        if engine == "spark":
            return _inverse_spark(df, axes)
        return _inverse_pandas(df, axes)

    def _axes(self, which: str) -> list[_Axis]:
        if which not in _WHICH:
            msg = f"`which` must be one of {_WHICH}, got {which!r}"
            raise InvalidParameterError(msg)
        return [a for a in (self._users, self._items) if which in ("both", a.name)]

    # ---- serialisation ------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Return the fitted indexer as JSON-safe values (for a model manifest).

        Returns
        -------
        dict
            ``{"format", "version", "user_col", "item_col", "unknown", "users", "items"}``;
            ``users`` and ``items`` are ``{"kind": "int" | "str", "dtype": <pandas dtype
            name>, "ids": [...]}`` with the raw ids in dense order.
        """
        return {
            "format": _DICT_FORMAT,
            "version": _DICT_VERSION,
            "user_col": self.user_col,
            "item_col": self.item_col,
            "unknown": self.unknown,
            "users": _map_to_dict(self._map(self._users)),
            "items": _map_to_dict(self._map(self._items)),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Indexer:
        """Rebuild a fitted indexer from the output of :meth:`to_dict`.

        Raises
        ------
        InvalidParameterError
            If ``data`` is not a reclib indexer dict of a known version, or its ids are not
            unique and sorted.
        """
        if not isinstance(data, dict) or data.get("format") != _DICT_FORMAT:
            msg = f"`data` must be a dict made by Indexer.to_dict (format {_DICT_FORMAT!r})"
            raise InvalidParameterError(msg)
        if data.get("version") != _DICT_VERSION:
            msg = (
                f"`data` has indexer format version {data.get('version')!r}; "
                f"this reclib reads version {_DICT_VERSION}"
            )
            raise InvalidParameterError(msg)

        indexer = cls(data["user_col"], data["item_col"], data["unknown"])
        indexer._users.map = _map_from_dict(data["users"], "users")
        indexer._items.map = _map_from_dict(data["items"], "items")
        return indexer


# ----------------------------------------------------------------------------------------
# Checks shared by both engines
# ----------------------------------------------------------------------------------------


def _fitted(axis: _Axis) -> _IdMap:
    """The fitted map of ``axis``, or a NotFittedError saying what to call."""
    if axis.map is None:
        msg = "this Indexer is not fitted yet; call `fit` (or `fit_transform`) first"
        raise NotFittedError(msg)
    return axis.map


def _columns_of(df: Any) -> list[str]:
    return [str(c) for c in df.columns]


def _require_columns(df: Any, needed: list[str], step: str) -> None:
    present = _columns_of(df)
    missing = [c for c in needed if c not in present]
    if missing:
        msg = (
            f"Indexer.{step}: column(s) {missing} missing; the frame has {present}. "
            "Rename the id columns or pass `user_col` / `item_col` to Indexer"
        )
        raise ColumnMissingError(msg)


def _refuse_shadowing(df: Any, axes: list[_Axis], *, to_dense: bool) -> None:
    """Refuse output names that already exist and would not be replaced."""
    present = set(_columns_of(df))
    replaced = {a.raw_col if to_dense else a.idx_col for a in axes}
    for axis in axes:
        out = axis.idx_col if to_dense else axis.raw_col
        if out in present and out not in replaced:
            msg = (
                f"the frame already has a column {out!r}, which mapping {axis.name} ids would "
                "overwrite; drop or rename it first"
            )
            raise SchemaError(msg)


def _kind_mismatch(column: str, got: str, fitted: _IdMap) -> ColumnTypeError:
    expected = "integers" if fitted.kind == "int" else "strings"
    msg = (
        f"column {column!r} holds {got}, but the Indexer was fitted on {expected} "
        f"(dtype {fitted.dtype}); cast the column to the fitted kind"
    )
    return ColumnTypeError(msg)


def _null_error(column: str, count: int, n_rows: int | None = None) -> InvalidValueError:
    of = f" of {n_rows}" if n_rows is not None else ""
    msg = f"column {column!r} holds {count}{of} null ids; ids must not be null"
    return InvalidValueError(msg)


def _unknown_error(column: str, shown: list[Any], n_ids: int, n_rows: int) -> UnknownIdError:
    more = ", ..." if n_ids > len(shown) else ""
    listed = ", ".join(repr(v) for v in shown)
    msg = (
        f"column {column!r} holds {n_ids} id(s) not seen in fit, in {n_rows} row(s): "
        f"[{listed}{more}]; refit the Indexer on data that includes them, "
        "or pass unknown='drop' to drop those rows"
    )
    return UnknownIdError(msg)


def _out_of_range_error(column: str, shown: list[int], n_bad: int, n: int) -> UnknownIdError:
    more = ", ..." if n_bad > len(shown) else ""
    msg = (
        f"column {column!r} holds {n_bad} row(s) with dense ids outside [0, {n}): "
        f"[{', '.join(str(v) for v in shown)}{more}]; were they made by another Indexer?"
    )
    return UnknownIdError(msg)


def _log_dropped(n_dropped: int, n_rows: int | None, counts: dict[str, int]) -> None:
    if n_dropped == 0:
        return
    of = f" of {n_rows}" if n_rows is not None else ""
    detail = ", ".join(f"{n} unseen {col!r} id(s)" for col, n in counts.items() if n)
    logger.warning(
        "Indexer.transform dropped %d%s rows whose ids were not seen in fit (%s)",
        n_dropped, of, detail,
    )


def _read_only(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view


# ----------------------------------------------------------------------------------------
# pandas
# ----------------------------------------------------------------------------------------


def _pandas_ids(series: pd.Series, column: str) -> tuple[np.ndarray, IdKind, str]:
    """Validate one raw id column and return (values, kind, original dtype name)."""
    n_null = int(series.isna().sum())
    if n_null:
        raise _null_error(column, n_null, len(series))

    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        series = series.astype(dtype.categories.dtype)
        dtype = series.dtype

    if pd.api.types.is_bool_dtype(dtype):
        msg = f"column {column!r} holds booleans; ids must be integers or strings"
        raise ColumnTypeError(msg)
    if pd.api.types.is_integer_dtype(dtype):
        numpy_dtype = getattr(dtype, "numpy_dtype", dtype)
        return series.to_numpy(dtype=numpy_dtype), "int", str(dtype)
    if pd.api.types.is_float_dtype(dtype):
        msg = (
            f"column {column!r} holds {dtype} ids; ids must be integers or strings "
            f"(cast with .astype('int64') if the values are whole numbers)"
        )
        raise ColumnTypeError(msg)

    if dtype == np.dtype(object) or pd.api.types.is_string_dtype(dtype):
        inferred = pd.api.types.infer_dtype(series, skipna=False)
        if inferred == "string":
            return series.to_numpy(dtype=object), "str", str(dtype)
        if inferred == "integer":
            return series.to_numpy(dtype=np.int64), "int", str(dtype)
        if inferred == "empty":
            return np.array([], dtype=np.int64), "int", "int64"
        kinds = sorted({type(v).__name__ for v in series.head(10_000)})
        msg = (
            f"column {column!r} holds ids of mixed types {kinds}; ids must be all integers or "
            "all strings within one column (cast with .astype(str))"
        )
        raise ColumnTypeError(msg)

    msg = f"column {column!r} has dtype {dtype}; ids must be integers or strings"
    raise ColumnTypeError(msg)


def _fit_pandas(df: pd.DataFrame, column: str) -> _IdMap:
    values, kind, dtype = _pandas_ids(df[column], column)
    distinct = np.sort(pd.unique(values))
    return _IdMap(ids=distinct, kind=kind, dtype=dtype)


def _transform_pandas(df: pd.DataFrame, axes: list[_Axis], unknown: str) -> pd.DataFrame:
    # Step 1: look up every id column; -1 marks an id not seen in fit.
    values: dict[str, np.ndarray] = {}
    codes: dict[str, np.ndarray] = {}
    for axis in axes:
        id_map = _fitted(axis)
        raw, kind, _ = _pandas_ids(df[axis.raw_col], axis.raw_col)
        if kind != id_map.kind:
            raise _kind_mismatch(axis.raw_col, "integers" if kind == "int" else "strings", id_map)
        values[axis.raw_col] = raw
        codes[axis.raw_col] = id_map.index.get_indexer(raw)

    # Step 2: apply the unknown-id policy.
    unseen = {col: found < 0 for col, found in codes.items()}
    keep: np.ndarray | None = None
    if unknown == "error":
        for col, mask in unseen.items():
            if mask.any():
                bad = np.unique(values[col][mask])
                shown = [v.item() if isinstance(v, np.generic) else v for v in bad[:_SHOW_UNSEEN]]
                raise _unknown_error(col, shown, len(bad), int(mask.sum()))
    else:
        drop = np.logical_or.reduce(list(unseen.values()))
        if drop.any():
            keep = ~drop
            counts = {col: len(pd.unique(values[col][mask])) for col, mask in unseen.items()}
            _log_dropped(int(drop.sum()), len(df), counts)

    # Step 3: build the new frame, each dense column where its raw column was.
    base = df if keep is None else df.loc[keep]
    new_columns: dict[str, tuple[str, Any]] = {}
    for axis in axes:
        dense = codes[axis.raw_col] if keep is None else codes[axis.raw_col][keep]
        new_columns[axis.raw_col] = (axis.idx_col, dense.astype(np.int32))
    return _replace_columns(base, new_columns)


def _inverse_pandas(df: pd.DataFrame, axes: list[_Axis]) -> pd.DataFrame:
    new_columns: dict[str, tuple[str, Any]] = {}
    for axis in axes:
        id_map = _fitted(axis)
        series = df[axis.idx_col]
        n_null = int(series.isna().sum())
        if n_null:
            raise _null_error(axis.idx_col, n_null, len(series))
        if not pd.api.types.is_integer_dtype(series.dtype):
            msg = f"column {axis.idx_col!r} has dtype {series.dtype}; dense ids must be integers"
            raise ColumnTypeError(msg)

        dense = series.to_numpy(dtype=np.int64)
        n = len(id_map.ids)
        bad = (dense < 0) | (dense >= n)
        if bad.any():
            shown = [int(v) for v in np.unique(dense[bad])[:_SHOW_UNSEEN]]
            raise _out_of_range_error(axis.idx_col, shown, int(bad.sum()), n)

        raw = pd.Series(id_map.ids[dense], copy=False)
        if str(raw.dtype) != id_map.dtype:
            raw = raw.astype(id_map.dtype)
        new_columns[axis.idx_col] = (axis.raw_col, raw.array)
    return _replace_columns(df, new_columns)


def _replace_columns(df: pd.DataFrame, new_columns: dict[str, tuple[str, Any]]) -> pd.DataFrame:
    """Return a copy of ``df`` where each ``old`` column became ``new_columns[old]``, in place.

    The values are arrays (numpy or pandas extension arrays) aligned by position, so a
    duplicated row index does no harm.
    """
    positions = sorted((df.columns.get_loc(old), old) for old in new_columns)
    result = df.drop(columns=list(new_columns))
    for position, old in positions:
        new_name, values = new_columns[old]
        result.insert(position, new_name, values)
    return result


# ----------------------------------------------------------------------------------------
# Spark
# ----------------------------------------------------------------------------------------

_SPARK_INT_DTYPES = {"tinyint": "int8", "smallint": "int16", "int": "int32", "bigint": "int64"}


def _spark_col(name: str) -> Any:
    """A column reference that survives dots and backticks in ``name``."""
    from pyspark.sql import functions as F

    return F.col("`" + name.replace("`", "``") + "`")


def _spark_kind(df: Any, column: str) -> tuple[IdKind, str]:
    """Kind and numpy dtype name of a raw Spark id column, or a ColumnTypeError."""
    type_name = df.schema[column].dataType.simpleString()
    if type_name in _SPARK_INT_DTYPES:
        return "int", _SPARK_INT_DTYPES[type_name]
    if type_name == "string":
        return "str", "object"
    msg = f"column {column!r} has Spark type {type_name}; ids must be integers or strings"
    raise ColumnTypeError(msg)


def _fit_spark(df: Any, column: str) -> _IdMap:
    kind, dtype = _spark_kind(df, column)
    distinct = df.select(_spark_col(column)).distinct().toArrow().column(0)

    if distinct.null_count:
        n_null = df.filter(_spark_col(column).isNull()).count()
        raise _null_error(column, n_null)

    values = distinct.to_numpy(zero_copy_only=False)
    values = values.astype(dtype) if kind == "int" else values.astype(object)
    return _IdMap(ids=np.sort(values), kind=kind, dtype=dtype)


def _temp_name(axis: _Axis, what: str) -> str:
    """Name of a mapping column while joined, distinct from any user column name."""
    return f"__reclib_indexer_{axis.name}_{what}"


def _mapping_frame(spark: Any, key: str, keys: np.ndarray, value: str, values: Any) -> Any:
    """A small two-column Spark DataFrame built from numpy arrays through Arrow."""
    import pyarrow as pa

    return spark.createDataFrame(pa.table({key: pa.array(keys), value: pa.array(values)}))


_INT64_MAX = np.iinfo(np.int64).max


def _spark_raw_ids(id_map: _IdMap) -> tuple[np.ndarray, np.ndarray]:
    """The (raw id, dense id) pairs a Spark column can hold, raw integers as int64.

    Spark has no unsigned 64-bit type, so uint64 ids above the int64 range can never occur
    in a Spark column. They are left out rather than wrapped, since a wrapped value could
    match a negative raw id and map it onto an existing dense id.
    """
    dense = np.arange(len(id_map.ids), dtype=np.int32)
    if id_map.kind == "str":
        return id_map.ids, dense
    fits = id_map.ids <= _INT64_MAX if id_map.ids.dtype == np.uint64 else slice(None)
    return id_map.ids[fits].astype(np.int64), dense[fits]


def _transform_spark(df: Any, axes: list[_Axis], unknown: str) -> Any:
    from pyspark.sql import functions as F

    spark = df.sparkSession

    # Step 1: left-join each broadcast mapping; a null dense id marks an unseen raw id.
    joined = df
    for axis in axes:
        id_map = _fitted(axis)
        kind, _ = _spark_kind(df, axis.raw_col)
        if kind != id_map.kind:
            raise _kind_mismatch(axis.raw_col, "integers" if kind == "int" else "strings", id_map)
        keys, dense_ids = _spark_raw_ids(id_map)
        mapping = _mapping_frame(spark, axis.raw_col, keys, _temp_name(axis, "idx"), dense_ids)
        joined = joined.join(F.broadcast(mapping), on=axis.raw_col, how="left")

    # Step 2: one aggregation job counts null ids and rows with unseen ids.
    unseen = {
        axis.name: _spark_col(axis.raw_col).isNotNull()
        & _spark_col(_temp_name(axis, "idx")).isNull()
        for axis in axes
    }
    any_unseen = F.lit(False)
    for axis in axes:
        any_unseen = any_unseen | _spark_col(_temp_name(axis, "idx")).isNull()
    aggs = [F.count(F.lit(1)).alias("rows"), F.count(F.when(any_unseen, 1)).alias("dropped")]
    for axis in axes:
        aggs += [
            F.count(F.when(_spark_col(axis.raw_col).isNull(), 1)).alias(f"null_{axis.name}"),
            F.count(F.when(unseen[axis.name], 1)).alias(f"unseen_{axis.name}"),
        ]
    stats = joined.agg(*aggs).first()

    # Step 3: apply the policies; the distinct unseen ids are only counted when there are some.
    for axis in axes:
        if stats[f"null_{axis.name}"]:
            raise _null_error(axis.raw_col, stats[f"null_{axis.name}"], stats["rows"])
    if unknown == "error":
        for axis in axes:
            if stats[f"unseen_{axis.name}"]:
                raw = _spark_col(axis.raw_col)
                bad = joined.filter(unseen[axis.name]).select(raw).distinct()
                shown = [row[0] for row in bad.orderBy(raw).limit(_SHOW_UNSEEN).collect()]
                raise _unknown_error(
                    axis.raw_col, shown, bad.count(), stats[f"unseen_{axis.name}"]
                )
    elif stats["dropped"]:
        distinct = joined.agg(*[
            F.count_distinct(F.when(unseen[a.name], _spark_col(a.raw_col))).alias(a.name)
            for a in axes
        ]).first()
        _log_dropped(stats["dropped"], stats["rows"], {a.raw_col: distinct[a.name] for a in axes})
        joined = joined.filter(~any_unseen)

    # Step 4: each dense column where its raw column was.
    replace = {a.raw_col: _spark_col(_temp_name(a, "idx")).alias(a.idx_col) for a in axes}
    return joined.select(*[replace.get(c, _spark_col(c)) for c in _columns_of(df)])


def _inverse_spark(df: Any, axes: list[_Axis]) -> Any:
    from pyspark.sql import functions as F

    spark = df.sparkSession

    # Step 1: check the dense columns in one job (type, nulls, range).
    aggs = []
    for axis in axes:
        type_name = df.schema[axis.idx_col].dataType.simpleString()
        if type_name not in _SPARK_INT_DTYPES:
            msg = f"column {axis.idx_col!r} has Spark type {type_name}; dense ids must be integers"
            raise ColumnTypeError(msg)
        dense = _spark_col(axis.idx_col)
        outside = (dense < 0) | (dense >= len(_fitted(axis).ids))
        aggs += [
            F.count(F.when(dense.isNull(), 1)).alias(f"null_{axis.name}"),
            F.count(F.when(outside, 1)).alias(f"bad_{axis.name}"),
        ]
    aggs.append(F.count(F.lit(1)).alias("rows"))
    stats = df.agg(*aggs).first()

    for axis in axes:
        if stats[f"null_{axis.name}"]:
            raise _null_error(axis.idx_col, stats[f"null_{axis.name}"], stats["rows"])
        if stats[f"bad_{axis.name}"]:
            n = len(_fitted(axis).ids)
            dense = _spark_col(axis.idx_col)
            shown = [
                row[0]
                for row in df.filter((dense < 0) | (dense >= n)).select(dense).distinct()
                .orderBy(dense).limit(_SHOW_UNSEEN).collect()
            ]
            raise _out_of_range_error(axis.idx_col, shown, stats[f"bad_{axis.name}"], n)

    # Step 2: join each broadcast (dense -> raw) mapping, raw ids in their fitted type.
    joined = df
    for axis in axes:
        id_map = _fitted(axis)
        keys, dense_ids = _spark_raw_ids(id_map)
        if len(keys) < len(id_map.ids):
            # Limitation: Spark has no uint64; ids above the int64 range cannot be given back.
            msg = (
                f"the Indexer holds {id_map.dtype} {axis.name} ids above the int64 range, "
                "which a Spark column cannot hold; use inverse_transform on pandas"
            )
            raise ColumnTypeError(msg)
        raw_name = _temp_name(axis, "raw")
        mapping = _mapping_frame(spark, axis.idx_col, dense_ids, raw_name, keys)
        if id_map.kind == "int":
            raw_type = _spark_int_type(id_map)
            mapping = mapping.withColumn(raw_name, _spark_col(raw_name).cast(raw_type))
        joined = joined.join(F.broadcast(mapping), on=axis.idx_col, how="left")

    replace = {a.idx_col: _spark_col(_temp_name(a, "raw")).alias(a.raw_col) for a in axes}
    return joined.select(*[replace.get(c, _spark_col(c)) for c in _columns_of(df)])


def _spark_int_type(id_map: _IdMap) -> str:
    """Spark SQL type to give integer raw ids back in (unsigned ones widen to bigint)."""
    by_numpy = {"int8": "tinyint", "int16": "smallint", "int32": "int", "int64": "bigint"}
    return by_numpy.get(_numpy_dtype(id_map), "bigint")


# ----------------------------------------------------------------------------------------
# Serialisation helpers
# ----------------------------------------------------------------------------------------


def _numpy_dtype(id_map: _IdMap) -> str:
    return str(id_map.ids.dtype)


def _map_to_dict(id_map: _IdMap) -> dict[str, Any]:
    return {"kind": id_map.kind, "dtype": id_map.dtype, "ids": id_map.ids.tolist()}


def _storage_dtype(kind: str, dtype: str) -> np.dtype:
    """numpy dtype that holds the ids of a column of pandas dtype ``dtype``."""
    if kind == "str":
        return np.dtype(object)
    try:
        resolved = pd.api.types.pandas_dtype(dtype)
    except TypeError:
        return np.dtype(np.int64)
    numpy_dtype = np.dtype(getattr(resolved, "numpy_dtype", resolved))
    return numpy_dtype if numpy_dtype.kind in "iu" else np.dtype(np.int64)


def _map_from_dict(data: Any, key: str) -> _IdMap:
    if not isinstance(data, dict) or data.get("kind") not in ("int", "str"):
        msg = f"`data[{key!r}]` must be a dict with kind 'int' or 'str', got {data!r:.80}"
        raise InvalidParameterError(msg)

    kind: IdKind = data["kind"]
    ids = np.array(data["ids"], dtype=_storage_dtype(kind, str(data["dtype"])))
    if ids.ndim != 1:
        msg = f"`data[{key!r}]['ids']` must be a flat list, got shape {ids.shape}"
        raise InvalidParameterError(msg)
    if len(ids) > 1 and not (ids[1:] > ids[:-1]).all():
        msg = f"`data[{key!r}]['ids']` must be unique and sorted ascending"
        raise InvalidParameterError(msg)
    return _IdMap(ids=ids, kind=kind, dtype=str(data["dtype"]))
