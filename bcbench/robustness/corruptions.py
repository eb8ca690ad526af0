"""The corruptions, one function each: ``(images, keys, parameter) -> images``.

``images`` is bcbench's decoded uint8 [N, C, H, W] (C = 1 or 3) on any device; ``keys`` names each
image (its index in the data set, or better its file's sha256) and decides its random draw
(``seeding``); ``parameter`` is one severity's entry of ``registry.CORRUPTIONS``. The result is uint8 of
the same shape on the same device. Severities and their sources are tabled in ``bcbench.robustness``.

Definitions follow MedMNIST-C (Di Salvo et al. 2024, github.com/francescodisalvo05/medmnistc-api,
Apache-2.0), reimplemented here in torch from its definitions, with these deliberate differences:
- noise is one plane shared by the three channels (MedMNIST-C draws per RGB channel of its grayscale
  images, adding colour that a grayscale scanner never produces), and float results are rounded to the
  nearest level where MedMNIST-C truncates (which also darkens every image by half a level);
- lengths in pixels (blur sizes) are MedMNIST-C's at its 224-px images and scale with the image's
  shorter side, so a 40-px image gets the blur its 224-px original would have, downsampled (``lengths``
  ``pixels`` reads them as pixels of the image instead);
- brightness, contrast and pixelate are Pillow's exactly (MedMNIST-C calls Pillow for them), and
  motion blur is ImageMagick's ``-motion-blur`` kernel (MedMNIST-C calls ImageMagick; the
  ``imagecorruptions`` package has the same kernel in numpy).
``depth_gain`` and ``acoustic_shadow`` are ultrasound artefacts defined here (see their docstrings).
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from bcbench.robustness.pixels import (
    as_float,
    box_resample,
    float32_scalar,
    gaussian_kernel,
    rounded_uint8,
    separable_blur,
    truncated_uint8,
)
from bcbench.robustness.seeding import Key, normal_planes, uniforms

REFERENCE_SIZE = 224  # MedMNIST-C's image side: lengths in pixels are given at this size
SHADOW_COLUMNS = (0.2, 0.8)  # a shadow's point lies in this fraction of the width ...
SHADOW_ROWS = (0.15, 0.45)  # ... and of the height, from the top (the transducer)
SHADOW_ONSET = 0.05  # it darkens fully over this fraction of the height below its point


LENGTHS = ("scan", "pixels")  # blur lengths: at a 224-px scan (scaled to the image), or pixels of the image


def _length_scale(images: torch.Tensor, lengths: str) -> float:
    """``scan``: the image's shorter side over 224 (the scan's blur, downsampled with it); ``pixels``: 1."""
    return 1.0 if lengths == "pixels" else min(images.shape[-2:]) / REFERENCE_SIZE


def gaussian_noise(images: torch.Tensor, keys: Sequence[Key], std: float) -> torch.Tensor:
    """Additive: x + 255 * std * n, n ~ N(0, 1) per pixel (std in units of the full range)."""
    noise = normal_planes(keys, "gaussian_noise", *images.shape[-2:], images.device)
    return rounded_uint8(as_float(images) + noise * float32_scalar(255.0 * std, images.device))


def speckle_noise(images: torch.Tensor, keys: Sequence[Key], std: float) -> torch.Tensor:
    """Multiplicative: x + x * std * n, n ~ N(0, 1) per pixel: brighter tissue, stronger noise."""
    pixels = as_float(images)
    noise = normal_planes(keys, "speckle_noise", *images.shape[-2:], images.device)
    return rounded_uint8(pixels + pixels * (noise * float32_scalar(std, images.device)))


def brightness(images: torch.Tensor, keys: Sequence[Key], factor: float) -> torch.Tensor:
    """Pillow's ``ImageEnhance.Brightness``: a blend with black, trunc(factor * x) in float32."""
    return truncated_uint8(as_float(images) * float32_scalar(factor, images.device))


def contrast(images: torch.Tensor, keys: Sequence[Key], factor: float) -> torch.Tensor:
    """Pillow's ``ImageEnhance.Contrast``: a blend with the image's mean grey level m (the mean of its
    ITU-R 601 luma, rounded), trunc(m + factor * (x - m)) in float32."""
    pixels = images.to(torch.int32)  # the luma sum below fits in 32 bits per pixel
    if images.shape[1] == 3:  # Pillow's RGB -> L in fixed point
        luma = (pixels[:, 0] * 19595 + pixels[:, 1] * 38470 + pixels[:, 2] * 7471 + 0x8000) >> 16
    else:
        luma = pixels[:, 0]
    count = luma[0].numel()
    mean = torch.floor(luma.sum(dim=(1, 2), dtype=torch.int64).to(torch.float64) / count + 0.5).to(
        torch.float32
    )
    mean = mean.view(-1, 1, 1, 1)
    spread = (as_float(images) - mean) * float32_scalar(factor, images.device)
    return truncated_uint8(mean + spread)


def gaussian_blur(
    images: torch.Tensor, keys: Sequence[Key], kernel_size: int, lengths: str = "scan"
) -> torch.Tensor:
    """torchvision's ``gaussian_blur(kernel_size)`` as MedMNIST-C calls it: sigma = 0.15 k + 0.35 and
    radius (k - 1) / 2 at 224 px (both scaled with the image unless ``lengths`` is pixels), reflect
    padding."""
    scale = _length_scale(images, lengths)
    sigma = (0.15 * kernel_size + 0.35) * scale
    radius = min(max(1, round((kernel_size - 1) / 2 * scale)), min(images.shape[-2:]) - 1)
    return rounded_uint8(separable_blur(as_float(images), gaussian_kernel(sigma, radius).to(images.device)))


def motion_blur(
    images: torch.Tensor, keys: Sequence[Key], radius_sigma: tuple[int, float], lengths: str = "scan"
) -> torch.Tensor:
    """ImageMagick's motion blur (radius r, sigma s) at an angle drawn per image in [-45, 45) degrees:
    out(x, y) = sum_i w_i * in(x + round(i cos a), y + round(i sin a)) for i = 0..2r, w_i ~ exp(-i^2 /
    2 s^2) normalised: a one-sided streak; edges repeated. r and s scale as in ``gaussian_blur``."""
    scale = _length_scale(images, lengths)
    radius, sigma = max(1, round(radius_sigma[0] * scale)), radius_sigma[1] * scale
    angles = uniforms(keys, "motion_blur", 1)[:, 0] * 90.0 - 45.0
    return rounded_uint8(motion_blur_at(as_float(images), radius, sigma, angles))


def motion_blur_at(pixels: torch.Tensor, radius: int, sigma: float, angles: torch.Tensor) -> torch.Tensor:
    """The motion blur of float pixels at explicit per-image ``angles`` (degrees, float64 [N] on the CPU)."""
    taps = 2 * radius + 1
    weights = torch.exp(-(torch.arange(taps, dtype=torch.float64) ** 2) / (2.0 * sigma * sigma))
    weights = (weights / weights.sum()).to(torch.float32).to(pixels.device)
    radians = torch.deg2rad(angles).view(-1, 1)
    steps = torch.arange(taps, dtype=torch.float64).view(1, -1)
    # ImageMagick rounds the offsets with ceil(v - 0.5)
    dx = torch.ceil(steps * torch.cos(radians) - 0.5).to(torch.int64).tolist()
    dy = torch.ceil(steps * torch.sin(radians) - 0.5).to(torch.int64).tolist()
    reach = taps - 1
    height, width = pixels.shape[-2:]
    padded = torch.nn.functional.pad(pixels, (reach, reach, reach, reach), mode="replicate")
    out = torch.empty_like(pixels)
    for image in range(len(pixels)):  # one image at a time: each has its own offsets, and stays in cache
        total, term = out[image], torch.empty_like(out[image])
        for tap in range(taps):
            top, left = reach + dy[image][tap], reach + dx[image][tap]
            window = padded[image, :, top : top + height, left : left + width]
            if tap == 0:
                torch.mul(window, weights[0], out=total)
            else:  # in place: no allocation per tap
                total.add_(torch.mul(window, weights[tap], out=term))
    return out


def jpeg_compression(images: torch.Tensor, keys: Sequence[Key], quality: int) -> torch.Tensor:
    """Save as JPEG at ``quality`` with Pillow (libjpeg, its default 4:2:0 chroma subsampling), read back;
    on the CPU, one image at a time: the same bytes whatever the device."""
    host = images.detach().cpu().permute(0, 2, 3, 1).numpy()
    out = np.empty_like(host)
    for index, pixels in enumerate(host):
        buffer = io.BytesIO()
        Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).save(
            buffer, "JPEG", quality=quality
        )
        decoded = np.asarray(Image.open(buffer))
        out[index] = decoded.reshape(pixels.shape)
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous().to(images.device)


def pixelate(images: torch.Tensor, keys: Sequence[Key], factor: float) -> torch.Tensor:
    """Pillow BOX resize to ``factor`` of each side (truncated, at least 1 px) and BOX resize back."""
    height, width = images.shape[-2:]
    small = box_resample(images, max(1, int(height * factor)), max(1, int(width * factor)))
    return box_resample(small, height, width)


def depth_gain(images: torch.Tensor, keys: Sequence[Key], decibels: float) -> torch.Tensor:
    """A mis-set time-gain compensation: ultrasound echoes fade exponentially with depth (linearly in dB)
    and the scanner's TGC adds gain growing linearly in dB with depth (time) to undo it; set too steep, it
    leaves a residual ramp. Row y (depth from the top, where the transducer is) is multiplied by
    10^(decibels * (y / (H - 1) - 1/2) / 20): ``decibels`` from top to bottom, centred at mid-depth so
    the mean level stays about the same and only its dependence on depth changes."""
    height = images.shape[-2]
    depth = torch.arange(height, dtype=torch.float64) / max(height - 1, 1)
    gain = torch.pow(10.0, decibels * (depth - 0.5) / 20.0).to(torch.float32).view(1, 1, -1, 1)
    return rounded_uint8(as_float(images) * gain.to(images.device))


def acoustic_shadow(
    images: torch.Tensor, keys: Sequence[Key], width_strength: tuple[float, float]
) -> torch.Tensor:
    """Posterior acoustic shadowing: behind a strong attenuator (a calcification, dense fibrous tissue)
    little sound returns, so a dark band runs from it straight down to the bottom of the image. Per image
    a point (x0, y0) is drawn (``SHADOW_COLUMNS``, ``SHADOW_ROWS``); pixels are multiplied by
    1 - strength * h(x) * v(y), with h = 1 within width/2 of x0 falling linearly to 0 over width/4
    more, and v rising linearly from 0 at y0 to 1 at y0 + ``SHADOW_ONSET`` of the height."""
    fraction, strength = width_strength
    height, width = images.shape[-2:]
    draws = uniforms(keys, "acoustic_shadow", 2)
    x0 = (SHADOW_COLUMNS[0] + (SHADOW_COLUMNS[1] - SHADOW_COLUMNS[0]) * draws[:, 0]) * (width - 1)
    y0 = (SHADOW_ROWS[0] + (SHADOW_ROWS[1] - SHADOW_ROWS[0]) * draws[:, 1]) * (height - 1)
    half, edge = fraction * width / 2.0, max(fraction * width / 4.0, 1.0)
    cols = torch.arange(width, dtype=torch.float64).view(1, -1)
    rows = torch.arange(height, dtype=torch.float64).view(1, -1)
    across = ((half + edge - (cols - x0.view(-1, 1)).abs()) / edge).clamp(0.0, 1.0)
    down = ((rows - y0.view(-1, 1)) / max(SHADOW_ONSET * height, 1.0)).clamp(0.0, 1.0)
    keep = 1.0 - strength * down.unsqueeze(2) * across.unsqueeze(1)
    return rounded_uint8(as_float(images) * keep.to(torch.float32).unsqueeze(1).to(images.device))
