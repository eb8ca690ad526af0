"""Normalisation of uint8 batches to float32 model input, on the batch's device."""

from __future__ import annotations

from typing import Literal

import torch

from bcbench.errors import DataError

IMAGENET_MEAN = (0.485, 0.456, 0.406)


IMAGENET_STD = (0.229, 0.224, 0.225)


class Normalizer:
    """uint8 batch -> float32 batch on ``device``: ImageNet mean/std (``imagenet``) or x / 255 (``none``),
    with precomputed per-channel scale and shift, as one conversion and two in-place passes (a mixed-dtype
    multiply-add is several times slower on the CPU)."""

    def __init__(
        self,
        kind: Literal["imagenet", "none"] = "imagenet",
        device: torch.device | str = "cpu",
        channels_last: bool = False,
    ) -> None:
        if kind == "imagenet":
            mean, std = IMAGENET_MEAN, IMAGENET_STD
        elif kind == "none":
            mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
        else:
            raise DataError(f"unknown normalisation {kind!r}; use 'imagenet' or 'none'")
        mean_t = torch.tensor(mean, dtype=torch.float64).view(1, 3, 1, 1)
        std_t = torch.tensor(std, dtype=torch.float64).view(1, 3, 1, 1)
        self.device = torch.device(device)
        self.channels_last = channels_last
        self.scale = (1.0 / (255.0 * std_t)).to(self.device, torch.float32)
        self.shift = (-mean_t / std_t).to(self.device, torch.float32)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        images = images.to(self.device, non_blocking=True)
        if self.channels_last:  # convert the uint8 (a quarter of the bytes); .to keeps the layout
            images = images.contiguous(memory_format=torch.channels_last)
        return self.normalize_(images.to(torch.float32, copy=True))

    def normalize_(self, pixels: torch.Tensor) -> torch.Tensor:
        """Normalise float32 pixel values in [0, 255] in place (on this normaliser's device)."""
        return pixels.mul_(self.scale).add_(self.shift)

    def formatted(self, pixels: torch.Tensor) -> torch.Tensor:
        """``pixels`` in this normaliser's memory format."""
        return pixels.contiguous(memory_format=torch.channels_last) if self.channels_last else pixels
