"""Rebuild tables, CSVs, report.md and figures from stored records, without training.

    python bench/compare.py results/<sweep>              # every table and figure of one sweep
    python bench/compare.py results/a results/b [--out DIR]   # sweeps side by side -> comparison.csv

Exit codes: 0 done, 2 nothing to report (missing folder, no runs.jsonl, no successful run).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from bcbench.cli import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main(["compare", *sys.argv[1:]]))
