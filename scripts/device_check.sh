#!/usr/bin/env bash
# Every GPU check in one command, on the machine's own Python and packages (no networked set-up):
#   bash scripts/device_check.sh [--smoke] [--busi DIR] [--out DIR] [--only STEP ...]
# --smoke runs the same steps at toy size on the CPU (CI runs it). PYTHON picks the interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec "${PYTHON:-python3}" -m devtools.device_check "$@"
