"""Cross-check bcbench's throughput against torch.utils.benchmark.Timer on the same forward pass.

    python bench/timer_check.py --model resnet18 --batch-size 8 --image-size 112

Both time the same model, batch, input and precision (eval mode, inference_mode, autocast). A median
ratio near 1 says bcbench's clock (warm-up, synchronisation, arithmetic) adds no bias. bcbench's
images/s divides by the total time (slow iterations count), Timer reports a median (they do not), so
on a busy shared machine the images/s ratio falls below 1 while the median ratio stays near 1.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Sequence
from pathlib import Path

import torch
import torchvision
from torch.utils import benchmark

from bcbench.atomic import write_atomic
from bcbench.cost import Workload, measure_throughput
from bcbench.device import AUTOCAST_DTYPES, PRECISIONS, resolve_device


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18", help="torchvision model name")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=112)
    parser.add_argument("--precision", choices=PRECISIONS, default="no")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--min-run-time", type=float, default=2.0, help="seconds for Timer.blocked_autorange")
    parser.add_argument("--repeats", type=int, default=3, help="alternating rounds of both measurements")
    parser.add_argument("--out", help="folder for timer_check.json (the rounds and median ratios)")
    return parser.parse_args(argv)


def timer_images_per_s(
    model: torch.nn.Module, args: argparse.Namespace, device: torch.device
) -> tuple[float, float]:
    """(images/s from the median, median ms) of Timer.blocked_autorange on one forward pass."""
    images = torch.randn(args.batch_size, 3, args.image_size, args.image_size, device=device)
    autocast = "torch.autocast(device_type, dtype=dtype, enabled=enabled)"
    timer = benchmark.Timer(
        stmt=f"with torch.inference_mode(), {autocast}:\n    model(images)",
        globals={
            "torch": torch,
            "model": model,
            "images": images,
            "device_type": device.type,
            "dtype": AUTOCAST_DTYPES.get(args.precision, torch.bfloat16),
            "enabled": args.precision != "no",
        },
        num_threads=torch.get_num_threads(),
    )
    measurement = timer.blocked_autorange(min_run_time=args.min_run_time)  # synchronises CUDA itself
    return args.batch_size / measurement.median, measurement.median * 1000.0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    device = resolve_device(args.device)
    model = torchvision.models.get_model(args.model, weights=None).eval().to(device)
    setting = f"{args.model} batch {args.batch_size} {args.image_size}px precision={args.precision}"
    print(
        f"{setting} on {device}, threads {torch.get_num_threads()}; the two alternate, {args.repeats} rounds"
    )
    rate_ratios, median_ratios = [], []
    for round_index in range(args.repeats):  # alternating spreads a busy machine's load over both
        workload = Workload(args.image_size, device, args.precision, warmup=3, iterations=args.iterations)
        ours = measure_throughput(model, workload, args.batch_size)
        ours_rate, ours_ms = ours["images_per_s"], ours["median_ms"]
        timer_rate, timer_ms = timer_images_per_s(model, args, device)
        rate_ratios.append(ours_rate / timer_rate)
        median_ratios.append(timer_ms / ours_ms)
        print(
            f"  round {round_index + 1}: bcbench {ours_rate:7.1f} img/s (median {ours_ms:7.2f} ms)"
            f"  Timer {timer_rate:7.1f} img/s (median {timer_ms:7.2f} ms)"
            f"  ratio {rate_ratios[-1]:.3f} img/s, {median_ratios[-1]:.3f} medians"
        )
    rate_ratio, median_ratio = statistics.median(rate_ratios), statistics.median(median_ratios)
    if args.out:
        result = {"settings": vars(args), "device": str(device), "rate_ratios": rate_ratios}
        result |= {"median_ratios": median_ratios, "rate_ratio": rate_ratio, "median_ratio": median_ratio}
        write_atomic(Path(args.out) / "timer_check.json", json.dumps(result, indent=2) + "\n")
    print(f"  bcbench / Timer, median over rounds: {rate_ratio:.3f} img/s, {median_ratio:.3f} medians")
    return 0
