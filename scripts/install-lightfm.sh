#!/usr/bin/env bash
# Installs LightFM 1.17 into the virtual environment given as $1 (default .venv).
#
# Why a script: LightFM's setup.py sets an attribute on `__builtins__`, which is a module when
# setup.py runs as a script but a dict when a PEP 517 backend execs it, so every pip since 23.1
# (PEP 517 only) fails to build it.  pip 23.0 can still run setup.py as a script
# (`--no-use-pep517`); it is used from a throwaway folder, leaving the environment's own pip
# untouched.
set -euo pipefail
venv="${1:-.venv}"
python="$venv/bin/python"

if "$python" -c "import lightfm" 2>/dev/null; then
    exit 0
fi
oldpip="$(mktemp -d)"
trap 'rm -rf "$oldpip"' EXIT
"$python" -m pip install --quiet --target "$oldpip" "pip<23.1"
PYTHONPATH="$oldpip" "$python" -m pip install --quiet "lightfm==1.17" --no-use-pep517
"$python" -c "import lightfm; print('lightfm', lightfm.__version__, 'installed')"
