"""What models cost: params, FLOPs, size, throughput, latency percentiles, memory, per model.

    bcbench cost --models resnet101 mobilenet_v3_large simple_cnn --batch-sizes 1 8 64

Prints a Rich table and writes cost.csv / cost.json to --out. Under `accelerate launch`
only the main process measures (on its device); the others exit at once. A model that fails is
reported with the reason and the rest are still measured; the exit code is 1 if any failed.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from bcbench.cli.common import make_console
from bcbench.threads import apply_threads, choose_threads

PRECISION_CHOICES = ("no", "fp16", "bf16")  # bcbench.device.PRECISIONS, without importing torch to parse


def add_cost_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "cost",
        aliases=["efficiency"],
        help="measure what models cost, without training",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument("--models", nargs="+", required=True, help="bcbench / torchvision model names")
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 32], help="inference batch sizes")
    parser.add_argument("--precision", choices=PRECISION_CHOICES, default="no", help="autocast precision")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--num-classes", type=int, default=3)
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument(
        "--compile",
        action="store_true",
        help="time torch.compile'd models (compiled in warm-up; $BCBENCH_COMPILE_BACKEND picks the backend)",
    )
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--train-batch-size", type=int, help="also measure training throughput at this batch")
    parser.add_argument("--no-energy", action="store_true", help="skip the NVML energy loop on CUDA")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: this process's accelerate device)")
    parser.add_argument(
        "--threads",
        type=int,
        help="intra-op CPU threads (default: OMP_NUM_THREADS when set, else the free cores; recorded)",
    )
    parser.add_argument("--out", default="results/cost", help="folder for cost.csv/.json")
    parser.set_defaults(handler=_cost)


def _cost(args: argparse.Namespace) -> int:
    from accelerate import PartialState

    from bcbench.cost import table
    from bcbench.models import build_model

    if args.command == "efficiency":
        print(
            "note: `bcbench efficiency` is now `bcbench cost` (the old name still works for now)",
            file=sys.stderr,
        )
    state = PartialState()
    if not state.is_main_process:
        return 0
    console = make_console()
    plan = choose_threads(args.threads)
    apply_threads(plan)
    if plan.warning:
        print(f"note: {plan.warning}", file=sys.stderr)
    settings = dict(vars(args), device=args.device or str(state.device), energy=not args.no_energy)
    for key in ("models", "no_energy", "out", "command", "handler", "threads"):
        settings.pop(key)
    started = time.perf_counter()

    def report(row: dict) -> None:
        outcome = "ok" if row["status"] == "ok" else f"failed: {row['error']}"
        console.print(f"{row['model']}: {outcome} ({time.perf_counter() - started:.0f} s)", markup=False)

    def build(name: str):
        return build_model(name, num_classes=args.num_classes, image_size=args.image_size)

    rows = table.measure_named_models(args.models, build, on_done=report, **settings)
    console.print(table.format_cost_table(rows, args.batch_sizes))
    csv_path, json_path = table.write_cost_results(
        rows, args.out, args.batch_sizes, {**settings, **plan.record()}
    )
    console.print(f"wrote {csv_path} and {json_path}")
    return 1 if any(row["status"] != "ok" for row in rows) else 0
