"""torch is optional: reclib imports without it, and the neural models say how to install it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import reclib

# The directory the tested reclib is imported from: the source tree for an editable install, site-
# packages for a wheel install (whose copy holds the compiled `_core`, which the source tree lacks).
PACKAGE_ROOT = Path(reclib.__file__).resolve().parents[1]


def test_reclib_without_torch() -> None:
    script = textwrap.dedent(
        """
        import importlib.abc, sys

        class NoTorch(importlib.abc.MetaPathFinder):
            # Makes `import torch` fail, as when it is not installed.

            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    raise ModuleNotFoundError(f"No module named {name!r}")
                return None

        sys.meta_path.insert(0, NoTorch())
        import pandas as pd
        import reclib.models, reclib.nn
        from reclib.exceptions import MissingDependencyError
        from reclib.models.registry import make_model

        model = make_model("multvae", {"epochs": 1})
        log = pd.DataFrame({"user_idx": [0, 1], "item_idx": [0, 1]})
        try:
            model.fit(log)
        except MissingDependencyError as err:
            assert "pip install 'reclib[torch]'" in str(err), err
            assert isinstance(err, ImportError)
        else:
            raise AssertionError("fit without torch did not raise")
        try:
            reclib.nn.NeuroMFNet
        except MissingDependencyError:
            pass
        else:
            raise AssertionError("reclib.nn.NeuroMFNet without torch did not raise")
        print("ok")
        """
    )
    env = {**os.environ, "PYTHONPATH": str(PACKAGE_ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_importing_reclib_does_not_import_torch() -> None:
    script = (
        "import sys, reclib, reclib.models, reclib.models.registry, reclib.nn; "
        "print('torch' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(PACKAGE_ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
