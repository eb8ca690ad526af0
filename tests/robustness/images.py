"""Small fixed test images: grayscale, ultrasound-like (a smooth gradient, a dark lesion, speckle-like
texture), replicated over three channels as bcbench decodes BUSI; and a colour one."""

from __future__ import annotations

import numpy as np
import torch


def ultrasound_like(count: int = 4, size: int = 96, seed: int = 0) -> torch.Tensor:
    """uint8 [count, 3, size, size] with R = G = B."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:size, 0:size] / (size - 1)
    images = []
    for _ in range(count):
        cy, cx, radius = rng.uniform(0.35, 0.65), rng.uniform(0.35, 0.65), rng.uniform(0.1, 0.2)
        tissue = 60 + 120 * np.exp(-2.0 * rows) + 40 * np.sin(8 * cols + rng.uniform(0, 6))
        lesion = np.where((rows - cy) ** 2 + (cols - cx) ** 2 < radius**2, 0.35, 1.0)
        texture = rng.gamma(4.0, 0.25, size=(size, size))  # speckle-like, mean 1
        images.append(np.clip(tissue * lesion * texture, 0, 255))
    gray = torch.from_numpy(np.rint(np.stack(images)).astype(np.uint8))
    return gray.unsqueeze(1).repeat(1, 3, 1, 1)


def colour(size: int = 20, seed: int = 1) -> torch.Tensor:
    """uint8 [2, 3, size, size] of independent random channels."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (2, 3, size, size), dtype=torch.uint8, generator=generator)


def to_pil_arrays(images: torch.Tensor) -> list[np.ndarray]:
    """[N, 3, H, W] -> N arrays [H, W, 3], as Pillow wants them."""
    return list(images.permute(0, 2, 3, 1).numpy())
