#!/usr/bin/env bash
# The main job of the README quick start: set up, then run the default sweep.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python bench/run.py "$@"
