#!/usr/bin/env bash
# Set up (or refresh) the project's virtual environment in .venv.
# CPU machines get the pinned CPU build of torch first, so the package's
# `torch>=2.1` requirement is already satisfied and no CUDA build is pulled.
# GPU users: see README ("Installing on a GPU machine").
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
TORCH_SPEC="${GEOVPR_TORCH_SPEC:-torch==2.13.0}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
stamp=".venv/.geovpr-setup-$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet "$TORCH_SPEC"
    .venv/bin/python -m pip install --quiet -e ".[dev]"
    rm -f .venv/.geovpr-setup-*
    touch "$stamp"
fi
