"""Normalisation of uint8 batches to float32 model input, on the batch's device."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch

from bcbench.config import DataConfig
from bcbench.errors import DataError

IMAGENET_MEAN = (0.485, 0.456, 0.406)


IMAGENET_STD = (0.229, 0.224, 0.225)


class Normalizer:
    """uint8 batch -> float32 batch on ``device``: (x / 255 - mean) / std with ImageNet's mean/std
    (``imagenet``), none (``none``: x / 255) or ``given`` ones (one value, or one per channel), with
    precomputed per-channel scale and shift, as one conversion and two in-place passes (a mixed-dtype
    multiply-add is several times slower on the CPU)."""

    def __init__(
        self,
        kind: Literal["imagenet", "none", "given"] = "imagenet",
        device: torch.device | str = "cpu",
        channels_last: bool = False,
        mean: Sequence[float] = (),
        std: Sequence[float] = (),
    ) -> None:
        mean, std = _mean_and_std(kind, mean, std)
        mean_t = torch.tensor(mean, dtype=torch.float64).view(1, 3, 1, 1)
        std_t = torch.tensor(std, dtype=torch.float64).view(1, 3, 1, 1)
        self.device = torch.device(device)
        self.channels_last = channels_last
        self.scale = (1.0 / (255.0 * std_t)).to(self.device, torch.float32)
        self.shift = (-mean_t / std_t).to(self.device, torch.float32)

    @classmethod
    def for_data(
        cls, data: DataConfig, device: torch.device | str, channels_last: bool = False
    ) -> Normalizer:
        """The normaliser of a data block (``normalize``, ``normalize_mean``, ``normalize_std``)."""
        return cls(data.normalize, device, channels_last, data.normalize_mean, data.normalize_std)

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


def _mean_and_std(kind: str, mean: Sequence[float], std: Sequence[float]) -> tuple[tuple, tuple]:
    """Three means and three standard deviations for ``kind`` (one given value serves every channel)."""
    if kind == "imagenet":
        return IMAGENET_MEAN, IMAGENET_STD
    if kind == "none":
        return (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    if kind != "given":
        raise DataError(f"unknown normalisation {kind!r}; use 'imagenet', 'none' or 'given'")
    if len(mean) not in (1, 3) or len(std) not in (1, 3):
        raise DataError("normalize: given needs 1 or 3 values in normalize_mean and normalize_std")
    return tuple(mean) * (3 // len(mean)), tuple(std) * (3 // len(std))
