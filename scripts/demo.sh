#!/usr/bin/env bash
# Set up the environment if needed, then run the main job on the built-in default:
# `geovpr demo` — the pre-registered method-effect protocol (docs/method-effect.md): a generated
# world, the shipped base model fine-tuned with random / CliqueMining / SAGE batches for 3 seeds,
# paired comparison with intervals, GDS analysis and pictures in runs/demo/ (minutes on 2 CPU cores).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/geovpr demo --out "${GEOVPR_DEMO_OUT:-runs/demo}" "$@"
