"""Pixel operations the corruptions share, written so that their results do not depend on the batch or
the device: elementwise IEEE float32 arithmetic (correctly rounded on CPU and CUDA alike, in a fixed
order, no reductions across pixels) or exact integer arithmetic. Each result is float or int; the
corruption rounds it to uint8.

- ``box_resample``: Pillow's BOX resize (``Image.resize(..., Image.BOX)``), reimplemented from its
  definition in Pillow's ``libImaging/Resample.c`` (weights in 22-bit fixed point, horizontal pass
  then vertical, each rounded to 8 bits) with exact integer sums, so it equals Pillow pixel for pixel.
- ``separable_blur``: a normalised 1-D kernel along the width then the height, reflect padding (torch's
  and torchvision's ``reflect``: the edge pixel is not repeated), as a sum of shifted slices.
"""

from __future__ import annotations

import functools

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
def box_ranges(in_size: int, out_size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pillow's BOX taps for one axis, from ``precompute_coeffs`` and ``normalize_coeffs_8bpc``: output
    pixel j sums input pixels start[j] <= i < stop[j] (the box filter's weights are 1 on a contiguous
    run, 0 elsewhere) times one fixed-point weight, weight[j] = round(2^22 / run length)."""
    scale = in_size / out_size
    filter_scale = max(scale, 1.0)
    support = 0.5 * filter_scale
    starts, stops, weights = [], [], []
    for out in range(out_size):
        center = (out + 0.5) * scale
        first = max(int(center - support + 0.5), 0)
        last = min(int(center + support + 0.5), in_size)
        # Pillow's box filter: 1 on (-0.5, 0.5], 0 elsewhere
        run = [i for i in range(first, last) if -0.5 < (i - center + 0.5) / filter_scale <= 0.5]
        starts.append(run[0])
        stops.append(run[-1] + 1)
        weights.append(int(0.5 + (1.0 / len(run)) * (1 << PRECISION_BITS)))
    as_int64 = functools.partial(torch.tensor, dtype=torch.int64)
    return as_int64(starts), as_int64(stops), torch.tensor(weights, dtype=torch.int32)


@functools.lru_cache(maxsize=64)
def box_matrix(in_size: int, out_size: int) -> torch.Tensor:
    """float32 [out, in]: 1 where output pixel j sums input pixel i (``box_ranges``), else 0."""
    start, stop, _ = box_ranges(in_size, out_size)
    inputs = torch.arange(in_size).view(1, -1)
    return ((inputs >= start.view(-1, 1)) & (inputs < stop.view(-1, 1))).to(torch.float32)


def _resample_axis(pixels: torch.Tensor, dim: int, out_size: int) -> torch.Tensor:
    """One BOX pass along ``dim`` (-1 or -2) of uint8-valued pixels, rounded to 8 bits as Pillow
    rounds. The run sums are a matrix product with a 0/1 matrix: every partial sum is an integer below
    2^24, exact in float32 whatever the order of summation, so the result is the same on every device."""
    matrix = box_matrix(pixels.shape[dim], out_size).to(pixels.device)
    _, _, weight = box_ranges(pixels.shape[dim], out_size)
    values = pixels.to(torch.float32)
    sums = (values @ matrix.T if dim == -1 else matrix @ values).to(torch.int32)
    weight = weight.to(pixels.device) if dim == -1 else weight.to(pixels.device).view(-1, 1)
    return ((sums * weight + (1 << (PRECISION_BITS - 1))) >> PRECISION_BITS).clamp(0, 255)


def box_resample(images: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """uint8 [N, C, H, W] -> uint8 [N, C, height, width], equal to Pillow's BOX ``resize``."""
    pixels = images
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
        term = torch.empty_like(total)
        for tap in range(1, len(weights)):  # in place: no allocation per tap
            total.add_(torch.mul(padded.narrow(dim, tap, size), weights[tap], out=term))
        pixels = total
    return pixels
