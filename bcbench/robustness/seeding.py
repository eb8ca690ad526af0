"""Random draws that belong to an image, not to a batch: one generator per (image key, corruption).

A corruption's randomness (a noise field, a motion-blur angle, a shadow's position) is drawn on the CPU
from a ``torch.Generator`` seeded by a stable hash (BLAKE2b, not Python's per-process ``hash``) of the
image's key and the corruption's name, then moved to the images' device. So the same image gets the same
draw whatever batch it sits in, in whatever order, on whatever device.

The severity is deliberately not part of the seed: every severity reuses the image's one draw, scaled by
its parameter (common random numbers), so the step from one severity to the next changes the severity
and nothing else, and an image's distance to its clean self grows monotonically with severity.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import torch

Key = int | str
SEED_DOMAIN = "bcbench.robustness.v1"  # change it and every draw changes: a new version of the sets


def image_seed(key: Key, name: str) -> int:
    """A 63-bit seed from the image's key (as ``str(key)``) and the corruption's name."""
    text = f"{SEED_DOMAIN}\x1f{name}\x1f{key}".encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big") >> 1


def image_generator(key: Key, name: str) -> torch.Generator:
    return torch.Generator().manual_seed(image_seed(key, name))


def normal_planes(
    keys: Sequence[Key], name: str, height: int, width: int, device: torch.device
) -> torch.Tensor:
    """Standard normal noise float32 [N, 1, H, W] on ``device``: one plane per image, which the caller
    broadcasts over the channels (a grayscale scanner's noise has no colour)."""
    planes = [torch.randn((1, height, width), generator=image_generator(key, name)) for key in keys]
    if not planes:
        return torch.empty((0, 1, height, width), device=device)
    return torch.stack(planes).to(device)


def uniforms(keys: Sequence[Key], name: str, count: int) -> torch.Tensor:
    """``count`` uniform draws in [0, 1) per image, float64 [N, count] on the CPU (geometry, not pixels)."""
    rows = [torch.rand(count, generator=image_generator(key, name), dtype=torch.float64) for key in keys]
    return torch.stack(rows) if rows else torch.empty((0, count), dtype=torch.float64)
