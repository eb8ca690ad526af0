"""Seconds to corrupt a test set at every (corruption, severity): the cost of a run's corruption curves
before any prediction.

    python -m devtools.robustness_timing --data-root ../shared/data/busi --manifest paper_split.csv
    python -m devtools.robustness_timing --device cuda --corruptions medmnist-c-breast

With a data root, the ``test`` rows of the manifest are decoded as bcbench decodes them (``shorter_crop``
to ``--image-size``); without one, ``--count`` synthetic images. Prints one JSON object: seconds per
corruption (all severities) and in total, and CPU seconds in total, after one untimed warm-up pass
over the first image.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from bcbench.data import load_rgb, preprocess
from bcbench.device import device_name, resolve_device, synchronize
from bcbench.robustness import SEVERITIES, corrupted_sets, resolve_corruptions


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", help="an image-folder data set (e.g. ../shared/data/busi)")
    parser.add_argument("--manifest", default="paper_split.csv", help="path,split CSV within the data root")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--count", type=int, default=117, help="synthetic images without --data-root")
    parser.add_argument("--corruptions", default="ultrasound", help="a preset or a corruption name")
    parser.add_argument("--device", default="cpu")
    return parser.parse_args(argv)


def test_images(args: argparse.Namespace) -> torch.Tensor:
    if args.data_root is None:
        generator = torch.Generator().manual_seed(0)
        shape = (args.count, 1, args.image_size, args.image_size)
        return torch.randint(0, 256, shape, dtype=torch.uint8, generator=generator).repeat(1, 3, 1, 1)
    root = Path(args.data_root)
    with (root / args.manifest).open(newline="") as handle:
        paths = [row["path"] for row in csv.DictReader(handle) if row["split"] == "test"]
    return torch.stack([preprocess(load_rgb(root / path), "shorter_crop", args.image_size) for path in paths])


def time_corruptions(images: torch.Tensor, names: Sequence[str]) -> tuple[dict[str, float], float]:
    """Wall seconds per corruption (all severities), and the process's CPU seconds for all of them
    (less sensitive than wall time to other jobs on a shared machine)."""
    keys = list(range(len(images)))
    for _ in corrupted_sets(images[:1], keys[:1], names, SEVERITIES):  # warm-up: caches and kernels
        pass
    seconds = dict.fromkeys(names, 0.0)
    synchronize(images.device)
    cpu_start = time.process_time()
    for name in names:
        start = time.perf_counter()
        for _ in corrupted_sets(images, keys, name, SEVERITIES):
            synchronize(images.device)
        seconds[name] = time.perf_counter() - start
    return seconds, time.process_time() - cpu_start


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    device = resolve_device(args.device)
    images = test_images(args).to(device)
    names = resolve_corruptions(args.corruptions)
    seconds, cpu_seconds = time_corruptions(images, names)
    result = {
        "device": device_name(device),
        "torch_threads": torch.get_num_threads(),
        "images": list(images.shape),
        "severities": list(SEVERITIES),
        "seconds_total": round(sum(seconds.values()), 3),
        "cpu_seconds_total": round(cpu_seconds, 3),
        "seconds_per_corruption": {name: round(value, 3) for name, value in seconds.items()},
    }
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
