"""The corruption registry, its presets, and the two calls a sweep makes: ``corrupt`` one batch, or
iterate ``corrupted_sets`` over a whole test set within a memory bound.

Each corruption has five severities (1..5); severity 0 is the identity (the clean images themselves).
Parameters per severity are in ``CORRUPTIONS`` (and tabled in the package docstring).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch

from bcbench.errors import ConfigError, DataError
from bcbench.robustness import corruptions as ops
from bcbench.robustness.seeding import Key

CorruptionFunction = Callable[..., torch.Tensor]  # (images, keys, parameter[, lengths=]) -> images
MAX_SEVERITY = 5
SEVERITIES = tuple(range(1, MAX_SEVERITY + 1))
WORK_BYTES_PER_ELEMENT = 40  # peak temporaries per uint8 element, measured (contrast_down: ~36)
DEFAULT_WORK_BYTES = 32 * 2**20  # small chunks: fewer page faults, faster on the CPU
MEDMNIST_C = "MedMNIST-C BreastMNIST"


@dataclass(frozen=True)
class Corruption:
    apply: CorruptionFunction
    parameters: tuple[Any, ...]  # severities 1..5
    parameter: str  # what the parameter is
    source: str
    lengths: bool = False  # its parameter holds lengths in pixels (read as ``lengths`` says)


CORRUPTIONS: dict[str, Corruption] = {
    "speckle_noise": Corruption(ops.speckle_noise, (0.10, 0.15, 0.20, 0.25, 0.30), "noise std", MEDMNIST_C),
    "gaussian_noise": Corruption(
        ops.gaussian_noise, (0.04, 0.08, 0.12, 0.16, 0.20), "std / 255", "MedMNIST-C RetinaMNIST, OrganMNIST"
    ),
    "gaussian_blur": Corruption(
        ops.gaussian_blur, (3, 5, 7, 9, 11), "kernel size at 224 px", "MedMNIST-C Chest/PneumoniaMNIST", True
    ),
    "motion_blur": Corruption(
        ops.motion_blur,
        ((5, 5), (9, 7), (9, 10), (13, 10), (17, 12)),
        "(radius, sigma) at 224 px",
        MEDMNIST_C,
        True,
    ),
    "contrast_down": Corruption(ops.contrast, (0.9, 0.8, 0.7, 0.6, 0.4), "contrast factor", MEDMNIST_C),
    "brightness_up": Corruption(ops.brightness, (1.4, 1.5, 1.6, 1.8, 2.0), "brightness factor", MEDMNIST_C),
    "brightness_down": Corruption(
        ops.brightness, (0.55, 0.5, 0.45, 0.4, 0.3), "brightness factor", MEDMNIST_C
    ),
    "jpeg_compression": Corruption(ops.jpeg_compression, (50, 30, 15, 10, 7), "JPEG quality", MEDMNIST_C),
    "pixelate": Corruption(ops.pixelate, (0.30, 0.25, 0.20, 0.15, 0.10), "resize factor", MEDMNIST_C),
    "depth_gain": Corruption(ops.depth_gain, (2.0, 4.0, 6.0, 9.0, 12.0), "dB top to bottom", "bcbench"),
    "acoustic_shadow": Corruption(
        ops.acoustic_shadow,
        ((0.06, 0.5), (0.09, 0.6), (0.12, 0.7), (0.15, 0.8), (0.18, 0.9)),
        "(width / image width, darkening)",
        "bcbench",
    ),
}

PRESETS: dict[str, tuple[str, ...]] = {
    "ultrasound": tuple(CORRUPTIONS),
    "medmnist-c-breast": (  # MedMNIST-C's BreastMNIST set, in its order
        "pixelate",
        "jpeg_compression",
        "speckle_noise",
        "motion_blur",
        "brightness_up",
        "brightness_down",
        "contrast_down",
    ),
}


class CorruptedSet(NamedTuple):
    corruption: str
    severity: int
    images: Any  # uint8 [N, C, H, W] on the input's device (the input itself at severity 0)


def _valid_names() -> str:
    return f"presets {', '.join(PRESETS)}; corruptions {', '.join(CORRUPTIONS)}"


def resolve_corruptions(spec: str | Sequence[str]) -> tuple[str, ...]:
    """A preset's corruptions, or the named ones (presets in a list expand), in order, each once."""
    names: list[str] = []
    for item in [spec] if isinstance(spec, str) else list(spec):
        if item in PRESETS:
            names.extend(PRESETS[item])
        elif item in CORRUPTIONS:
            names.append(item)
        else:
            raise ConfigError(f"unknown corruption or preset {item!r}; valid: {_valid_names()}")
    if not names:
        raise ConfigError(f"no corruptions given; name a preset or corruptions ({_valid_names()})")
    return tuple(dict.fromkeys(names))


def check_severities(severities: Sequence[int]) -> tuple[int, ...]:
    """The severities, each an int in 0..5, in order, each once."""
    for severity in severities:
        if isinstance(severity, bool) or not isinstance(severity, int) or not 0 <= severity <= MAX_SEVERITY:
            raise ConfigError(
                f"corruption severity must be an integer from 0 to {MAX_SEVERITY}, got {severity!r}"
            )
    return tuple(dict.fromkeys(severities))


def _check_batch(images: Any, keys: Sequence[Key]) -> None:
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
        found = f"{images.dtype} {tuple(images.shape)}" if isinstance(images, torch.Tensor) else type(images)
        raise DataError(f"corruptions take uint8 images [N, C, H, W], got {found}")
    if images.shape[1] not in (1, 3):
        raise DataError(
            f"corruptions take 1 or 3 channels, got {images.shape[1]} (shape {tuple(images.shape)})"
        )
    if len(keys) != len(images):
        raise DataError(f"{len(keys)} image keys for {len(images)} images; pass one key per image")


def corrupt(
    images: torch.Tensor, keys: Sequence[Key], name: str, severity: int, lengths: str = "scan"
) -> torch.Tensor:
    """``images`` (uint8 [N, C, H, W], any device) corrupted by ``name`` at ``severity`` (0 = the
    images themselves), each image's randomness fixed by its key. ``lengths``: blur sizes as at a
    224-px scan, scaled to the image (``scan``), or as pixels of the image (``pixels``)."""
    if name not in CORRUPTIONS:
        raise ConfigError(f"unknown corruption {name!r}; valid: {', '.join(CORRUPTIONS)}")
    if lengths not in ops.LENGTHS:
        raise ConfigError(f"corruption lengths must be one of {', '.join(ops.LENGTHS)}, got {lengths!r}")
    (severity,) = check_severities([severity])
    _check_batch(images, keys)
    if severity == 0 or len(images) == 0:
        return images
    corruption = CORRUPTIONS[name]
    parameter = corruption.parameters[severity - 1]
    if corruption.lengths:
        return corruption.apply(images, keys, parameter, lengths=lengths)
    return corruption.apply(images, keys, parameter)


def chunk_size(image_shape: Sequence[int], max_bytes: int = DEFAULT_WORK_BYTES) -> int:
    """Images corrupted at once so that the temporaries stay under ``max_bytes`` (at least one)."""
    elements = 1
    for size in image_shape:
        elements *= int(size)
    return max(1, max_bytes // (WORK_BYTES_PER_ELEMENT * elements))


def corrupted_sets(
    images: Any,
    keys: Sequence[Key],
    corruptions: str | Sequence[str],
    severities: Sequence[int] = SEVERITIES,
    max_bytes: int = DEFAULT_WORK_BYTES,
    lengths: str = "scan",
) -> Iterator[CorruptedSet]:
    """Every (corruption, severity) of a whole test set, one at a time, corruption-major.

    ``images`` is the uint8 [N, C, H, W] test set, or anything with ``len``, ``shape`` and
    ``index_select(0, index)`` (bcbench's ``StreamedImages``), whose chunks are gathered as needed. Each
    yield holds one corrupted copy of the set (N x C x H x W bytes, on the input's device); the work
    is done ``chunk_size`` images at a time, so the temporaries stay under ``max_bytes``. Let each
    yielded set go before the next to keep to that bound. ``lengths`` goes to ``corrupt``.
    """
    names, levels = resolve_corruptions(corruptions), check_severities(severities)
    if len(keys) != len(images):
        raise DataError(f"{len(keys)} image keys for {len(images)} images; pass one key per image")
    step = chunk_size(images.shape[1:], max_bytes)
    for name in names:
        for severity in levels:
            if severity == 0:
                yield CorruptedSet(name, 0, images)
                continue
            out: torch.Tensor | None = None
            for start in range(0, len(images), step):
                index = torch.arange(start, min(start + step, len(images)))
                chunk = (
                    images[start : start + step]
                    if isinstance(images, torch.Tensor)
                    else images.index_select(0, index)
                )
                done = corrupt(chunk, keys[start : start + step], name, severity, lengths)
                if out is None:
                    out = torch.empty((len(images), *done.shape[1:]), dtype=torch.uint8, device=done.device)
                out[start : start + len(done)] = done
            yield CorruptedSet(name, severity, out if out is not None else images)
