"""Seconds per test image of the explanation step's parts: the CAM pass, scoring one map source, and the
whole ``explain_run`` (both methods, the randomised copy, the two references).

    OMP_NUM_THREADS=1 python -m devtools.explain_timing --model resnet18 --image-size 224 --count 32

Untrained weights, random pixels and one fixed rectangular lesion per image (the cost does not depend
on what the model learned). Prints one JSON object, after one untimed warm-up pass.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence

import numpy as np
import torch

from bcbench.data import Normalizer
from bcbench.device import resolve_device
from bcbench.explain import (
    ExplainSettings,
    class_activation_maps,
    explain_run,
    localisation_scores,
    resolve_layer,
)
from bcbench.models import build_model

BATCH = 16


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--count", type=int, default=32, help="test images")
    parser.add_argument("--device", default="cpu")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, object]:
    args = parse_args(argv)
    device, side, count = resolve_device(args.device), args.image_size, args.count
    torch.manual_seed(0)
    model = build_model(args.model, 3, None, side).to(device).eval()
    images = torch.from_numpy(
        np.random.default_rng(0).integers(0, 256, (count, 3, side, side), dtype=np.uint8)
    )
    masks = torch.zeros(count, side, side, dtype=torch.bool)
    masks[:, side // 4 : side // 2, side // 3 : 2 * side // 3] = True
    labels = torch.arange(count) % 3
    normalizer = Normalizer("imagenet", device)
    layer_name, layer = resolve_layer(model)
    class_activation_maps(model, normalizer(images[:2]), labels[:2].to(device), layer, layer_name)  # warm-up
    started = time.perf_counter()
    for start in range(0, count, BATCH):
        batch = slice(start, start + BATCH)
        maps, _ = class_activation_maps(
            model, normalizer(images[batch]), labels[batch].to(device), layer, layer_name
        )
    cam = (time.perf_counter() - started) / count
    last = maps["gradcam"].cpu().numpy()
    started = time.perf_counter()
    localisation_scores(last, masks[-len(last) :].numpy(), masks[-len(last) :].numpy(), (5, 10, 20))
    score = (time.perf_counter() - started) / len(last)
    started = time.perf_counter()
    table = explain_run(
        model, images, masks, labels, normalizer=normalizer, settings=ExplainSettings(batch_size=BATCH)
    )
    result = {
        "model": args.model,
        "image_size": side,
        "layer": layer_name,
        "threads": torch.get_num_threads(),
        "cam_pass_s_per_image": cam,
        "scoring_one_source_s_per_image": score,
        "explain_run_s_per_image": (time.perf_counter() - started) / count,
        "parts_s": table.attrs["seconds"],
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
