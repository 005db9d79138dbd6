"""reclib: recommender systems on pandas and Spark, with a Rust core."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "save", "load"]


def __getattr__(name: str) -> Any:
    """``reclib.save`` / ``reclib.load``, imported on first use (``import reclib`` stays light)."""
    if name in ("save", "load"):
        from reclib import io

        return getattr(io, name)
    raise AttributeError(f"module 'reclib' has no attribute {name!r}")
