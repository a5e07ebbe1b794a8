#!/usr/bin/env bash
# The core install (no extras) works: a fresh virtual environment with only
# geovpr's core dependencies (plus the pinned CPU torch) runs `geovpr eval`
# on ../shared/data/vprbench_corridor with the `pixels` model, gives the same
# Recall@K as the full development environment (.venv), has none of the extras
# installed, and `geovpr train` says which extra to install (exit code 2).
# Run by .ci/run before the tests; skipped with a message when ../shared is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${GEOVPR_SHARED_DATA:-$(pwd)/../shared/data}/vprbench_corridor"
if [ ! -d "$DATA" ]; then
    echo "check_core_install: skipped, $DATA not found (set GEOVPR_SHARED_DATA)"
    exit 0
fi
PYTHON="${PYTHON:-python3}"
full_pythonpath="${PYTHONPATH:-}"
unset PYTHONPATH  # the core venv must see only what it installed
TORCH_SPEC="${GEOVPR_TORCH_SPEC:-torch==2.13.0}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$PYTHON" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet "$TORCH_SPEC" 2>&1 | grep -v "is ignored: it is neither" || true
mkdir "$work/source"  # build from a copy: a build writes *.egg-info beside the sources
cp -r pyproject.toml README.md LICENSE src "$work/source/"
"$work/venv/bin/python" -m pip install --quiet "$work/source" 2>&1 | grep -v "is ignored: it is neither" || true
"$work/venv/bin/python" -c "import geovpr, torch, numpy, PIL, scipy, safetensors, tqdm, yaml"
for mod in pytorch_lightning pytorch_metric_learning faiss matplotlib pandas; do
    if "$work/venv/bin/python" -c "import $mod" 2>/dev/null; then
        echo "check_core_install: FAIL, the core install pulled in the optional module $mod" >&2
        exit 1
    fi
done
cd "$work"  # run the installed package, not the source tree
venv/bin/geovpr eval --data "$DATA" --model pixels --no-progress --out core.json
set +e
venv/bin/geovpr train --recipe cliquemining_salad --out train-out 2> train.err
rc=$?
set -e
if [ "$rc" -ne 2 ] || ! grep -q "geovpr\[train\]" train.err; then
    echo "check_core_install: FAIL, 'geovpr train' without the train extra gave exit code $rc:" >&2
    cat train.err >&2
    exit 1
fi
cd - >/dev/null
PYTHONPATH="$full_pythonpath" "${GEOVPR_FULL_PYTHON:-.venv/bin/python}" -m geovpr.cli eval --data "$DATA" --model pixels --no-progress --out "$work/full.json" >/dev/null
"$work/venv/bin/python" - "$work/core.json" "$work/full.json" <<'PY'
import json, sys
core, full = (json.load(open(p)) for p in sys.argv[1:3])
if core["recall"] != full["recall"]:
    sys.exit(f"check_core_install: FAIL, core install recall {core['recall']} != full install {full['recall']}")
print(f"check_core_install: ok, core-only install: recall {core['recall']} (same as the full install)")
PY
