"""The one exception hierarchy of reclib.

Every error reclib raises on purpose derives from :class:`ReclibError`, so a caller can catch
everything the library reports with one ``except`` clause.  Each subclass also derives from the
built-in exception a Python user would expect (``ValueError``, ``TypeError``, ``KeyError``,
``RuntimeError``), so existing ``except ValueError`` code keeps working.

Messages follow one rule: name the parameter or column, say what was got, say what was expected.
"""

from __future__ import annotations

__all__ = [
    "ReclibError",
    "SchemaError",
    "ColumnMissingError",
    "ColumnTypeError",
    "InvalidValueError",
    "InvalidParameterError",
    "NotFittedError",
    "UnknownIdError",
    "DatasetError",
    "EngineError",
    "KernelError",
    "ModelFileError",
    "MissingDependencyError",
]


class ReclibError(Exception):
    """Base class of every error reclib raises on purpose."""


class SchemaError(ReclibError, ValueError):
    """A DataFrame does not have the shape reclib needs (columns, dtypes, values)."""


class ColumnMissingError(SchemaError, KeyError):
    """A required column is absent from a DataFrame."""

    def __str__(self) -> str:
        # KeyError quotes its argument; a sentence reads better unquoted.
        return str(self.args[0]) if self.args else ""


class ColumnTypeError(SchemaError, TypeError):
    """A column has a dtype reclib cannot use (for example strings in ``relevance``)."""


class InvalidValueError(SchemaError):
    """A column holds values outside what is allowed (NaN, negative, out of range)."""


class InvalidParameterError(ReclibError, ValueError):
    """A function or model parameter is out of its allowed range or of the wrong kind."""


class NotFittedError(ReclibError, RuntimeError):
    """A model method that needs a fitted model was called before ``fit``."""


class UnknownIdError(ReclibError, KeyError):
    """An id was not seen when an :class:`~reclib.data.Indexer` was fitted."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class DatasetError(ReclibError, OSError):
    """A dataset could not be found, downloaded or parsed."""


class EngineError(ReclibError, RuntimeError):
    """An execution engine (pandas in-process, or Spark) could not run a step."""


class KernelError(ReclibError, RuntimeError):
    """The Rust core refused its input; raised by the bindings in ``reclib._core``."""


class MissingDependencyError(ReclibError, ImportError):
    """An optional dependency (for example PyTorch for the neural models) is not installed."""


class ModelFileError(ReclibError, ValueError):
    """A saved model cannot be read: missing, corrupt, tampered with or from another version."""
