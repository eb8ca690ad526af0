"""Time bcbench's data path and training epoch against a plain torchvision ImageFolder pipeline.

    python bench/speed.py --data-root /path/to/busi --manifest paper_split.csv --workers 0 2

See devtools/speed/ and BENCHMARKS.md for what each line includes.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from devtools.speed.cli import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
