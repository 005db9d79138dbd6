"""Neural recommenders on PyTorch: network backbones and the training loop they share.

* :mod:`reclib.nn.neuromf`: :class:`NeuroMFNet` (GMF and/or MLP branches, a logit per pair);
* :mod:`reclib.nn.multvae`: :class:`MultVAENet` (Mult-VAE: history in, item logits out);
* :mod:`reclib.nn.training`: :func:`fit_network`, one seeded loop for every backbone (Adam,
  exponential learning-rate decay, early stopping on a monitored loss, progress bar, timings).

The recommenders built on them, :class:`reclib.models.NeuroMF` and
:class:`reclib.models.MultVAE`, live in :mod:`reclib.models.neural`.

PyTorch is an optional dependency (``pip install 'reclib[torch]'``).  Importing this package
does not import torch; the submodules do, and :func:`require_torch` raises
:class:`~reclib.exceptions.MissingDependencyError` with the install command when it is absent.
"""

from __future__ import annotations

import importlib
import re
from types import ModuleType
from typing import Any

from reclib.exceptions import MissingDependencyError

__all__ = [
    "require_torch",
    "DEVICE_PATTERN",
    "NeuroMFNet",
    "MultVAENet",
    "fit_network",
    "TrainSettings",
    "TrainReport",
    "resolve_device",
]

#: The device strings the neural models accept (checked without importing torch).
DEVICE_PATTERN = re.compile(r"auto|cpu|mps|cuda(:\d+)?")

#: How to get torch, quoted by every "torch is missing" error.
INSTALL_HINT = "pip install 'reclib[torch]'  (or: pip install 'torch>=2.2')"

_LAZY = {
    "NeuroMFNet": "reclib.nn.neuromf",
    "MultVAENet": "reclib.nn.multvae",
    "fit_network": "reclib.nn.training",
    "TrainSettings": "reclib.nn.training",
    "TrainReport": "reclib.nn.training",
    "resolve_device": "reclib.nn.training",
}


def require_torch(user: str = "this model") -> ModuleType:
    """Import and return ``torch``, or raise an error that says how to install it.

    Parameters
    ----------
    user : str
        Who needs torch, for the message (for example ``"NeuroMF"``).

    Raises
    ------
    MissingDependencyError
        torch cannot be imported.
    """
    try:
        return importlib.import_module("torch")
    except ImportError as err:
        raise MissingDependencyError(
            f"{user} needs PyTorch, which is not installed (import failed: {err}); "
            f"install it with `{INSTALL_HINT}`"
        ) from err


def __getattr__(name: str) -> Any:
    """Import the torch-backed names on first use, so that ``import reclib.nn`` stays light."""
    if name in _LAZY:
        require_torch(f"reclib.nn.{name}")
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'reclib.nn' has no attribute {name!r}")
