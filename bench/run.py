"""Train and evaluate every model x seed of a config: `python bench/run.py [--config X] [key=value ...]`.

Also works as `accelerate launch bench/run.py ...`. See `python bench/run.py --help`.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from bcbench.cli import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main(["run", *sys.argv[1:]]))
