"""Pixel operations the corruptions share, written so that their results do not depend on the batch or
the device: elementwise IEEE float32 arithmetic (correctly rounded on CPU and CUDA alike, in a fixed
order, no reductions across pixels) or exact integer arithmetic.

- ``box_resample``: Pillow's BOX resize (``Image.resize(..., Image.BOX)``), reimplemented in integers
  from its definition in Pillow's ``libImaging/Resample.c`` (coefficients in 22-bit fixed point,
  horizontal pass then vertical, each rounded to 8 bits), so it equals Pillow's output pixel for pixel.
- ``separable_blur``: a normalised 1-D kernel along the width then the height, reflect padding (torch's
  and torchvision's ``reflect``: the edge pixel is not repeated), as a sum of shifted slices.
- ``shifted``: each image's pixels moved by its own (dy, dx), edges repeated.
"""

from __future__ import annotations

import functools
import math

import torch

PRECISION_BITS = 22  # Pillow's fixed point for 8-bit resampling: 32 - 8 - 2


def as_float(images: torch.Tensor) -> torch.Tensor:
    return images.to(torch.float32)


def rounded_uint8(values: torch.Tensor) -> torch.Tensor:
    """Float pixels clipped to [0, 255] and rounded to the nearest level (ties to even)."""
    return values.clamp(0.0, 255.0).round().to(torch.uint8)


def truncated_uint8(values: torch.Tensor) -> torch.Tensor:
    """Float pixels clipped to [0, 255] and truncated, as Pillow's ``Image.blend`` stores them."""
    return values.clamp(0.0, 255.0).floor().to(torch.uint8)


def float32_scalar(value: float, device: torch.device) -> torch.Tensor:
    """A float32 0-d tensor, so that ``tensor * scalar`` is float32 arithmetic on every device."""
    return torch.tensor(value, dtype=torch.float32, device=device)


@functools.lru_cache(maxsize=64)
def box_taps(in_size: int, out_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pillow's BOX resampling taps for one axis: input index int64 [out, k] and fixed-point weight
    int32 [out, k] (unused taps have weight 0), from ``precompute_coeffs`` and ``normalize_coeffs_8bpc``."""
    scale = in_size / out_size
    filter_scale = max(scale, 1.0)
    support = 0.5 * filter_scale
    size = int(math.ceil(support)) * 2 + 1
    index = torch.zeros((out_size, size), dtype=torch.int64)
    weight = torch.zeros((out_size, size), dtype=torch.int32)
    for out in range(out_size):
        center = (out + 0.5) * scale
        first = max(int(center - support + 0.5), 0)
        count = min(int(center + support + 0.5), in_size) - first
        # Pillow's box filter: 1 on (-0.5, 0.5], 0 elsewhere
        taps = [
            1.0 if -0.5 < (tap + first - center + 0.5) / filter_scale <= 0.5 else 0.0 for tap in range(count)
        ]
        total = sum(taps)
        for tap, value in enumerate(taps):
            index[out, tap] = first + tap
            weight[out, tap] = int(0.5 + (value / total if total else value) * (1 << PRECISION_BITS))
    return index, weight


def _resample_axis(pixels: torch.Tensor, dim: int, out_size: int) -> torch.Tensor:
    """One BOX pass along ``dim`` (-1 or -2) of int32 pixels, rounded to 8 bits as Pillow rounds."""
    index, weight = (t.to(pixels.device) for t in box_taps(pixels.shape[dim], out_size))
    total = torch.full((), 1 << (PRECISION_BITS - 1), dtype=torch.int32, device=pixels.device)
    for tap in range(index.shape[1]):
        tap_weight = weight[:, tap] if dim == -1 else weight[:, tap].view(-1, 1)
        total = total + pixels.index_select(dim, index[:, tap]) * tap_weight
    return (total >> PRECISION_BITS).clamp(0, 255)


def box_resample(images: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """uint8 [N, C, H, W] -> uint8 [N, C, height, width], equal to Pillow's BOX ``resize``."""
    pixels = images.to(torch.int32)
    if width != pixels.shape[-1]:
        pixels = _resample_axis(pixels, -1, width)
    if height != pixels.shape[-2]:
        pixels = _resample_axis(pixels, -2, height)
    return pixels.to(torch.uint8)


def gaussian_kernel(sigma: float, radius: int) -> torch.Tensor:
    """Normalised float32 Gaussian weights at -radius..radius (computed in float64 on the CPU)."""
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    weights = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return (weights / weights.sum()).to(torch.float32)


def separable_blur(pixels: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """float32 [N, C, H, W] convolved with ``kernel`` along the width, then the height (reflect padding)."""
    radius = (len(kernel) - 1) // 2
    weights = kernel.to(pixels.device)  # 0-d float32 factors: float32 products on every device
    for dim in (-1, -2):
        size = pixels.shape[dim]
        pad = (radius, radius, 0, 0) if dim == -1 else (0, 0, radius, radius)
        padded = torch.nn.functional.pad(pixels, pad, mode="reflect")
        total = padded.narrow(dim, 0, size) * weights[0]
        for tap in range(1, len(weights)):
            total = total + padded.narrow(dim, tap, size) * weights[tap]
        pixels = total
    return pixels


def shifted(pixels: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
    """``out[n, :, y, x] = pixels[n, :, y + dy[n], x + dx[n]]``, indices clamped to the image (edges
    repeated); ``dy`` and ``dx`` are int64 [N] on the pixels' device."""
    count, channels, height, width = pixels.shape
    rows = (torch.arange(height, device=pixels.device) + dy.view(-1, 1)).clamp(0, height - 1)
    cols = (torch.arange(width, device=pixels.device) + dx.view(-1, 1)).clamp(0, width - 1)
    flat = (rows.unsqueeze(2) * width + cols.unsqueeze(1)).view(count, 1, height * width)
    gathered = pixels.reshape(count, channels, height * width).gather(2, flat.expand(-1, channels, -1))
    return gathered.view(count, channels, height, width)
