"""Cross-check bcbench's throughput against torch.utils.benchmark.Timer on the same forward pass.

    python bench/timer_check.py --model resnet18 --batch-size 8 --image-size 112

See devtools/timer_check.py for what is compared.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from devtools.timer_check import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
