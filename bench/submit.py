"""Run a sweep as N queue workers in a SLURM job array, then a report job: `python bench/submit.py
--workers 8 --partition gpu --gpus-per-task 1 --config X [key=value ...]`; `--local` runs them here.

See `python bench/submit.py --help` and README "Running on a cluster".
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from bcbench.cli import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main(["submit", *sys.argv[1:]]))
