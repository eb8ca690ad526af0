"""Time bcbench's data path and training epoch against a plain torchvision ImageFolder pipeline.

    python bench/speed.py --data-root /path/to/busi --manifest paper_split.csv --workers 0 2

Same training images, the study's transforms (Resize(256) + CenterCrop(224), RandomApply([flip,
rotation 10, jitter 0.2/0.2], p=0.5), ImageNet normalisation), same model, optimizer and batch size,
side by side in one process. Prints a Rich table (pipeline, what, images, seconds, images/s, ratio)
and writes speed.json to --out. Without --data-root it runs on the embedded synthetic data set.
See BENCHMARKS.md for what each line includes.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from bcbench.errors import BcbenchError
from devtools import speed
from devtools.speed import settings


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", help="ImageFolder root (default: the embedded synthetic data set)")
    parser.add_argument(
        "--manifest", help="split CSV (path,split), relative to the data root; default: stratified split"
    )
    parser.add_argument("--model", default="simple_cnn", help="bcbench / torchvision model name")
    parser.add_argument("--image-size", type=int, default=settings.STUDY_IMAGE_SIZE)
    parser.add_argument(
        "--resize-shorter", type=int, help="shorter side before the centre crop (default: size * 256 / 224)"
    )
    parser.add_argument("--batch-size", type=int, default=settings.STUDY_BATCH_SIZE)
    parser.add_argument("--lr", type=float, default=settings.STUDY_LR)
    parser.add_argument("--epochs", type=int, default=1, help="timed training epochs per pipeline (median)")
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[0, 2],
        help="reference DataLoader num_workers, one line each",
    )
    parser.add_argument(
        "--repeats", type=int, default=5, help="timed data-path samples per pipeline, interleaved (median)"
    )
    parser.add_argument(
        "--min-seconds",
        type=float,
        default=2.0,
        help="each data-path sample repeats passes to last this long",
    )
    parser.add_argument("--warmup", type=int, default=3, help="untimed batches before timing each pipeline")
    parser.add_argument("--device", help="cpu or cuda[:N] (default: cuda when available, else cpu)")
    parser.add_argument(
        "--threads",
        type=int,
        help="torch CPU threads (default: 1 on the CPU, like the reference's PIL path, and steadier: "
        "ratios spread 24%% from run to run at 2 threads on a 2-core machine, 8%% at 1; "
        "torch's choice on CUDA)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-train", action="store_true", help="time the data paths and decoding only")
    parser.add_argument("--out", default="results/speed", help="folder for speed.json")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    import torch
    from rich.console import Console

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    threads = args.threads if args.threads is not None else (1 if device == "cpu" else None)
    if threads is not None:
        torch.set_num_threads(threads)
    console = Console() if Console().is_terminal else Console(width=200)  # wide table in logs/pipes
    chosen = settings.SpeedSettings(
        data_root=args.data_root,
        manifest=args.manifest,
        model=args.model,
        image_size=args.image_size,
        resize_shorter=args.resize_shorter,
        batch_size=args.batch_size,
        epochs=args.epochs,
        workers=tuple(args.workers),
        device=device,
        repeats=args.repeats,
        min_seconds=args.min_seconds,
        warmup_batches=args.warmup,
        skip_train=args.skip_train,
        lr=args.lr,
        seed=args.seed,
    )
    try:
        result = speed.run_speed(chosen, progress=lambda message: console.print(message, markup=False))
    except BcbenchError as error:
        console.print(f"error: {error}", markup=False)
        return 2
    console.print(speed.format_speed_table(result))
    for line in speed.target_lines(result):
        console.print(line, markup=False)
    path = speed.write_speed_json(result, args.out)
    console.print(f"wrote {path}", markup=False)
    return 0
