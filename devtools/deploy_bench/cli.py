"""Time bcbench's study models as deployed: eager fp32, ONNX Runtime fp32 and INT8, torch.compile.

    python bench/deploy.py --out results/deploy_bench --markdown results/deploy_bench/table.md

One run, side by side: for each model (random initialisation, no downloads) every form is built (ONNX
export, INT8 calibration on synthetic images, compilation), checked for parity with eager on other
synthetic ultrasound images, and timed at 1 and 2 threads (batch-1 latency, batch-32 throughput) in
rounds that alternate the forms; medians over rounds. Prints a Rich table and the issue's targets,
writes deploy_bench.json (and the table in Markdown with --markdown).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from bcbench.errors import BcbenchError
from devtools import deploy_bench
from devtools.deploy_bench.settings import FORMS, MODELS, BenchSettings


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    defaults = BenchSettings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--forms", nargs="+", default=list(FORMS), help="besides eager, which always runs")
    parser.add_argument("--image-size", type=int, default=defaults.image_size)
    parser.add_argument("--threads", type=int, nargs="+", default=list(defaults.threads))
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help="throughput batch")
    parser.add_argument("--repeats", type=int, default=defaults.repeats, help="alternating timing rounds")
    parser.add_argument("--iterations", type=int, default=defaults.iterations, help="timed batch-1 calls")
    parser.add_argument(
        "--throughput-iterations", type=int, default=defaults.throughput_iterations, help="timed batches"
    )
    parser.add_argument("--parity-images", type=int, default=defaults.parity_images)
    parser.add_argument("--calibration-images", type=int, default=defaults.calibration_images)
    parser.add_argument("--exporter", choices=["dynamo", "torchscript"], default=defaults.exporter)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--device", help="where the torch forms run, e.g. cuda (default: the CPU)")
    parser.add_argument("--out", default="results/deploy_bench", help="folder for deploy_bench.json")
    parser.add_argument("--markdown", help="also write the table as Markdown to this file")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from rich.console import Console

    console = Console() if Console().is_terminal else Console(width=220)  # wide table in logs and pipes
    settings = BenchSettings(
        models=tuple(args.models), forms=tuple(args.forms), image_size=args.image_size,
        threads=tuple(args.threads), batch_size=args.batch_size, repeats=args.repeats,
        iterations=args.iterations, throughput_iterations=args.throughput_iterations,
        parity_images=args.parity_images, calibration_images=args.calibration_images,
        exporter=args.exporter, seed=args.seed, device=args.device,
    )  # fmt: skip
    try:
        result = deploy_bench.run_bench(settings, progress=lambda line: console.print(line, markup=False))
    except BcbenchError as error:
        console.print(f"error: {error}", markup=False)
        return 2
    console.print(deploy_bench.format_table(result))
    for line in deploy_bench.target_lines(result):
        console.print(line, markup=False)
    console.print(f"wrote {deploy_bench.write_json(result, args.out)} ({result.seconds:.0f} s)", markup=False)
    if args.markdown:
        Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(args.markdown).write_text(
            deploy_bench.title(result) + "\n\n" + deploy_bench.markdown_table(result) + "\n"
        )
    return 0
