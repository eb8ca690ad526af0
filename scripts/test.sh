#!/usr/bin/env bash
# The test command of the README quick start: set up, lint, check the import layers, then the test suite.
#   bash scripts/test.sh                 # everything (what CI runs: .ci/run)
#   bash scripts/test.sh -m "not slow"   # the fast lane (under a minute on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/lint-imports
.venv/bin/python -m pytest -q "$@"
