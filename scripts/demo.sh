#!/usr/bin/env bash
# Set up the environment if needed, then run the main job on the built-in default:
# `geovpr demo` — a procedural geotagged city, three samplers trained from scratch,
# evaluation, GDS analysis and pictures in runs/demo/ (a few minutes on 2 CPU cores).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/geovpr demo --out "${GEOVPR_DEMO_OUT:-runs/demo}" "$@"
