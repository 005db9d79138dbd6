"""The package logger.

reclib logs under the ``"reclib"`` logger and never configures handlers, levels or formats:
that is the application's choice.  Progress bars (tqdm) go to stderr and can be switched off
with ``show_progress=False`` wherever they are offered, or globally with the environment
variable ``RECLIB_NO_PROGRESS=1``.
"""

from __future__ import annotations

import logging
import os

logger = logging.getLogger("reclib")
logger.addHandler(logging.NullHandler())


def get_logger(name: str) -> logging.Logger:
    """Return the child logger ``reclib.<name>``."""
    return logger.getChild(name.removeprefix("reclib."))


def progress_disabled(show_progress: bool = True) -> bool:
    """Whether progress bars are off, by argument or by ``RECLIB_NO_PROGRESS``."""
    return (not show_progress) or os.environ.get("RECLIB_NO_PROGRESS", "") not in ("", "0")
