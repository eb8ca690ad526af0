"""The deploy benchmark (``bench/deploy.py``): bcbench's study models in eager fp32, ONNX Runtime fp32, ONNX
Runtime INT8 and ``torch.compile``, timed side by side in one run and checked for parity with eager.
A developer tool built on ``bcbench.deploy``, not part of bcbench's data flow."""

from devtools.deploy_bench.output import format_table, markdown_table, target_lines, title, write_json
from devtools.deploy_bench.run import BenchResult, run_bench, synthetic_ultrasound
from devtools.deploy_bench.settings import BenchSettings

__all__ = [
    "BenchResult",
    "BenchSettings",
    "format_table",
    "markdown_table",
    "run_bench",
    "synthetic_ultrasound",
    "target_lines",
    "title",
    "write_json",
]
