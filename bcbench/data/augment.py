"""Batch augmentation: random flips, rotations and brightness/contrast jitter on whole uint8 batches, on their
device, with per-sample (and per-class) decisions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from bcbench.config import AugmentConfig
from bcbench.data.normalize import Normalizer
from bcbench.errors import DataError

GRAY_WEIGHTS = (0.2989, 0.587, 0.114)  # torchvision's rgb_to_grayscale


@dataclass(frozen=True)
class AugmentDecisions:
    """One batch's random decisions, per sample ([B] tensors on the batch's device).

    The parameters are neutral where an op was not drawn (``angles`` 0, ``brightness`` and ``contrast``
    1), and ``rotate`` and ``jitter`` are false where the augmenter's config turns the op off. Running
    every op with neutral parameters leaves a sample bit-identical (a 0-degree nearest rotation copies
    each pixel; x * 1 + 0, clamping and rounding whole values change nothing), which is what lets the
    whole-batch path skip ``torch.where``.
    """

    flip: torch.Tensor  # bool
    rotate: torch.Tensor  # bool
    angles: torch.Tensor  # float32 degrees, counter-clockwise
    jitter: torch.Tensor  # bool
    brightness: torch.Tensor  # float32 factor >= 0
    contrast: torch.Tensor  # float32 factor >= 0

    def rows(self, start: int, end: int) -> AugmentDecisions:
        """The decisions of samples ``start:end`` (views)."""
        return AugmentDecisions(*(getattr(self, name)[start:end] for name in self.__dataclass_fields__))

    def touched(self) -> torch.Tensor:
        return self.flip | self.rotate | self.jitter


class BatchAugmenter:
    """Random flips, rotations and brightness/contrast jitter on whole uint8 batches, on their device.

    ``none``: identity. ``batch``: each op decided per sample with its own probability, only for samples
    whose class is in ``config.classes`` (every class when empty). ``study``: the reference study's
    ``RandomApply([RandomHorizontalFlip(), RandomRotation(d), ColorJitter(b, c)], p=block_p)`` on every
    sample. Rotation is nearest-neighbour with zero fill about the image centre, as torchvision's
    ``RandomRotation`` does by default; a flip comes before the rotation. Jitter applies brightness then
    contrast (torchvision picks the order at random; the two commute except where pixels saturate) and
    rounds back to whole pixel values. Samples no op was drawn for come out bit-identical.

    Every random number comes from ``generator``, drawn for the whole batch first in one fixed layout
    (``torch.rand((7, B))``), so the same generator state gives the same decisions on every device and
    the same output on the CPU whichever path runs. Off the CPU every op runs on the whole batch with
    neutral parameters for the samples it was not drawn for: fixed shapes, no host sync. On the CPU the
    masks are read on the host (free there) and only runs of touched samples are processed, as views,
    written straight into the output: about half the work in ``study`` mode, and no gathering of samples
    into temporaries (fresh large buffers cost page faults on every batch).

    ``augment_normalized`` fuses augmentation with a ``Normalizer``: touched samples go from the rotated
    uint8 through jitter to normalisation in one float buffer instead of a round trip through uint8.
    """

    def __init__(self, config: AugmentConfig, classes: Sequence[str]) -> None:
        unknown = [name for name in config.classes if name not in classes]
        if unknown:
            raise DataError(
                f"augment.classes names unknown class(es) {', '.join(map(repr, unknown))}; "
                f"valid classes: {', '.join(classes)}"
            )
        self.config = config
        selected = [classes.index(name) for name in config.classes] if config.classes else range(len(classes))
        self._eligible = torch.zeros(max(len(classes), 1), dtype=torch.bool)
        self._eligible[list(selected)] = True
        study = config.mode == "study"
        self._ops = _Ops(
            flips=study or config.hflip_p > 0,
            rotates=config.rotation_degrees > 0 and (study or config.rotation_p > 0),
            jitters=(config.brightness > 0 or config.contrast > 0) and (study or config.jitter_p > 0),
        )
        # None: choose by device (CPU: touched runs only); True forces the whole-batch (GPU) path and
        # False the CPU one, so tests can check on the CPU that both agree
        self._whole_batch: bool | None = None

    def __call__(
        self, images: torch.Tensor, labels: torch.Tensor, generator: torch.Generator
    ) -> torch.Tensor:
        """Augmented uint8 images [B, 3, H, W] (``images`` itself when no sample is touched; the input is
        never written to)."""
        return self._augment(images, labels, generator, None)

    def augment_normalized(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        generator: torch.Generator,
        normalizer: Normalizer,
    ) -> torch.Tensor:
        """``normalizer(self(images, labels, generator))``, bit-identical to it, in fewer passes."""
        if images.device != normalizer.scale.device:
            return normalizer(self(images, labels, generator))
        return self._augment(images, labels, generator, normalizer)

    def decide(self, draws: torch.Tensor, labels: torch.Tensor) -> AugmentDecisions:
        """Per-sample decisions from uniform ``draws`` [7, B]: rows block, flip, rotate?, angle, jitter?,
        brightness, contrast (``study`` mode ignores rows 2 and 4, ``batch`` mode row 0)."""
        config = self.config
        if config.mode == "study":
            block = draws[0] < config.block_p
            flip, rotate, jitter = block & (draws[1] < 0.5), block, block
        else:
            if self._eligible.device != labels.device:
                self._eligible = self._eligible.to(labels.device)
            eligible = self._eligible[labels]
            flip = eligible & (draws[1] < config.hflip_p)
            rotate = eligible & (draws[2] < config.rotation_p)
            jitter = eligible & (draws[4] < config.jitter_p)
        rotate = rotate & self._ops.rotates
        jitter = jitter & self._ops.jitters
        brightness = (1 + (2 * draws[5] - 1) * config.brightness).clamp(min=0)
        contrast = (1 + (2 * draws[6] - 1) * config.contrast).clamp(min=0)
        return AugmentDecisions(
            flip=flip,
            rotate=rotate,
            angles=torch.where(rotate, (2 * draws[3] - 1) * config.rotation_degrees, 0.0),
            jitter=jitter,
            brightness=torch.where(jitter, brightness, 1.0),
            contrast=torch.where(jitter, contrast, 1.0),
        )

    def _augment(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        generator: torch.Generator,
        normalizer: Normalizer | None,
    ) -> torch.Tensor:
        if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"expected uint8 images [B, 3, H, W], got {images.dtype} {tuple(images.shape)}")
        if self.config.mode == "none" or images.shape[0] == 0:
            return images if normalizer is None else normalizer(images)
        draws = torch.rand((7, images.shape[0]), generator=generator, device=images.device)
        decisions = self.decide(draws, labels.to(images.device))
        whole_batch = self._whole_batch
        if whole_batch is None:
            whole_batch = images.device.type != "cpu"
        dtype = torch.uint8 if normalizer is None else torch.float32
        if whole_batch:
            out = torch.empty(images.shape, dtype=dtype, device=images.device)
            _augment_into(out, images, decisions, self._ops)
        else:
            out = _augment_touched_runs(images, decisions, self._ops, dtype)
        if normalizer is None:
            return out
        if out is images:  # nothing touched
            return normalizer(images)
        return normalizer.formatted(normalizer.normalize_(out))


@dataclass(frozen=True)
class _Ops:
    """Which ops a config can draw at all (known without looking at the data)."""

    flips: bool
    rotates: bool
    jitters: bool


# untouched samples between two runs of touched ones are processed too (exact identity, wasted work)
# when they hold at most this many pixels: cheaper than the ~30 extra op calls of another run
_MERGE_PIXELS = 32_768


def _augment_touched_runs(
    images: torch.Tensor, decisions: AugmentDecisions, ops: _Ops, dtype: torch.dtype
) -> torch.Tensor:
    """CPU: each run of touched samples is augmented from a view of ``images`` into the same rows of one
    output buffer, untouched rows are copied; ``images`` itself when no sample is touched."""
    flips, rotates, jitters = torch.stack([decisions.flip, decisions.rotate, decisions.jitter]).tolist()
    touched = [any(ops) for ops in zip(flips, rotates, jitters, strict=True)]
    runs = _runs(touched, images.shape[-2] * images.shape[-1])
    if not runs:
        return images
    out = torch.empty(images.shape, dtype=dtype)
    copied = 0
    for start, end in runs:
        out[copied:start].copy_(images[copied:start])
        used = _Ops(any(flips[start:end]), any(rotates[start:end]), any(jitters[start:end]))
        _augment_into(out[start:end], images[start:end], decisions.rows(start, end), used)
        copied = end
    out[copied:].copy_(images[copied:])
    return out


def _runs(touched: list[bool], image_pixels: int) -> list[tuple[int, int]]:
    """[start, end) runs of touched samples, runs with short gaps between them merged."""
    runs: list[tuple[int, int]] = []
    for index, hit in enumerate(touched):
        if not hit:
            continue
        if runs and (index - runs[-1][1]) * image_pixels <= _MERGE_PIXELS:
            runs[-1] = (runs[-1][0], index + 1)
        else:
            runs.append((index, index + 1))
    return runs


def _augment_into(
    out: torch.Tensor, images: torch.Tensor, decisions: AugmentDecisions, ops: _Ops
) -> torch.Tensor:
    """Augment every sample of ``images`` (neutral parameters where nothing was drawn) into ``out``
    (uint8, or float32 pixel values in [0, 255]); ``ops`` says which ops can be skipped outright."""
    if ops.rotates:
        moved = rotate_batch(images, decisions.angles, decisions.flip if ops.flips else None)
    elif ops.flips:
        moved = torch.where(_per_sample(decisions.flip), images.flip(-1), images)
    else:
        moved = images
    if not ops.jitters:
        return out.copy_(moved)
    if out.dtype == torch.uint8:
        return out.copy_(_jitter_round_(moved.float(), decisions.brightness, decisions.contrast))
    return _jitter_round_(out.copy_(moved), decisions.brightness, decisions.contrast)


def _per_sample(values: torch.Tensor) -> torch.Tensor:
    return values.view(-1, 1, 1, 1)


def rotate_batch(
    images: torch.Tensor, degrees: torch.Tensor, flip: torch.Tensor | None = None
) -> torch.Tensor:
    """Rotate images [B, C, H, W] of any dtype counter-clockwise by ``degrees`` [B] about their centres,
    nearest neighbour with zero fill, same size: torchvision's ``rotate`` with its default
    ``InterpolationMode.NEAREST`` (what ``RandomRotation`` does). Samples where ``flip`` [B] (bool) are
    mirrored left-right first.

    One gather per image from precomputed integer source positions: nearest sampling copies pixels, so it
    can stay in uint8 (4x less memory traffic than float), and the flip folds into the same index map. A
    0-degree angle without flip is an exact identity, a flip alone an exact ``flip(-1)``.
    """
    batch, channels, height, width = images.shape
    source = _rotation_source(degrees, flip, height, width)
    # the source image gets a one-pixel zero border: positions outside the image clamp onto it
    padded = F.pad(images.contiguous(), (1, 1, 1, 1)).reshape(batch, channels, -1)
    index = source.view(batch, 1, height * width).expand(batch, channels, height * width)
    return padded.gather(2, index).view(batch, channels, height, width)


def _rotation_source(
    degrees: torch.Tensor, flip: torch.Tensor | None, height: int, width: int
) -> torch.Tensor:
    """Flat index [B, H * W] into the zero-bordered image [B, C, (H + 2) * (W + 2)] that each output pixel
    copies: output pixel centres about the image centre, rotated back (clockwise) to where they come
    from, mirrored for flipped samples, rounded half to even (as ``grid_sample``'s nearest mode)."""
    count = degrees.shape[0]
    radians = torch.deg2rad(degrees.to(torch.float32)).view(count, 1, 1)
    cos, sin = radians.cos(), radians.sin()
    xs = torch.arange(width, dtype=torch.float32, device=degrees.device).sub_((width - 1) / 2)
    ys = torch.arange(height, dtype=torch.float32, device=degrees.device).sub_((height - 1) / 2)
    xs, ys = xs.view(1, 1, width), ys.view(1, height, 1)
    source_x = cos * xs - sin * ys
    if flip is not None:
        source_x.mul_(1 - 2 * flip.view(count, 1, 1).to(torch.float32))  # -1: mirror
    # +1: the zero border; indices past it land on it too
    source_x = source_x.add_((width + 1) / 2).round_().clamp_(0, width + 1)
    source_y = (sin * xs + cos * ys).add_((height + 1) / 2).round_().clamp_(0, height + 1)
    if (height + 2) * (width + 2) < 1 << 24:  # float32 holds every flat index exactly
        return source_y.mul_(width + 2).add_(source_x).long().view(count, -1)
    return (source_y.long() * (width + 2) + source_x.long()).view(count, -1)


def jitter_batch_(pixels: torch.Tensor, brightness: torch.Tensor, contrast: torch.Tensor) -> torch.Tensor:
    """``jitter_batch`` in place on ``pixels`` (float, [B, 3, H, W], contiguous): no temporaries the size
    of the batch."""
    pixels.mul_(_per_sample(brightness)).clamp_(0, 255)
    factor = _per_sample(contrast)
    blend = _gray_mean(pixels) * (1 - factor)  # the mean of the brightened image, before scaling it
    return pixels.mul_(factor).add_(blend).clamp_(0, 255)


def _jitter_round_(pixels: torch.Tensor, brightness: torch.Tensor, contrast: torch.Tensor) -> torch.Tensor:
    return jitter_batch_(pixels, brightness, contrast).round_()


def _gray_mean(pixels: torch.Tensor) -> torch.Tensor:
    """Per-image mean of torchvision's grayscale [B, 1, 1, 1]: channel means weighted afterwards (the same
    value up to rounding, without a grayscale image), with Python-float weights, so no host-to-device
    copy (a sync on CUDA)."""
    means = pixels.mean(dim=(-2, -1))
    red, green, blue = GRAY_WEIGHTS
    return (means[:, 0] * red + means[:, 1] * green + means[:, 2] * blue).view(-1, 1, 1, 1)
