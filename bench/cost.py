"""What models cost: params, FLOPs, size, throughput, latency percentiles, memory, per model.

    python bench/cost.py --models resnet101 mobilenet_v3_large simple_cnn --batch-sizes 1 8 64

Prints a Rich table and writes cost.csv / cost.json to --out. Under `accelerate launch`
only the main process measures (on its device); the others exit at once. A model that fails is
reported with the reason and the rest are still measured; the exit code is 1 if any failed.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from bcbench.cli import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main(["cost", *sys.argv[1:]]))
