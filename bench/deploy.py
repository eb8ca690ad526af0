"""Time bcbench's study models as deployed: eager fp32, ONNX Runtime fp32 and INT8, torch.compile.

    python bench/deploy.py --out results/deploy_bench --markdown results/deploy_bench/table.md

See devtools/deploy_bench/ and BENCHMARKS.md for what each column includes.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from devtools.deploy_bench.cli import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
