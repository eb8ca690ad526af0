"""What the speed tool measures (settings), what it found (timings, results) and the arithmetic on them."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from bcbench.config import AugmentConfig
from bcbench.errors import BcbenchError
from bcbench.study import (
    STUDY_BATCH_SIZE,
    STUDY_BLOCK_P,
    STUDY_BRIGHTNESS,
    STUDY_CONTRAST,
    STUDY_IMAGE_SIZE,
    STUDY_LR,
    STUDY_RESIZE_SHORTER,
    STUDY_ROTATION_DEGREES,
)

STUDY_AUGMENT = AugmentConfig(
    mode="study",
    block_p=STUDY_BLOCK_P,
    rotation_degrees=STUDY_ROTATION_DEGREES,
    brightness=STUDY_BRIGHTNESS,
    contrast=STUDY_CONTRAST,
)


# targets of the speed issue: bcbench vs the reference with num_workers=0
TARGETS = {
    "cpu": {"data_path_speedup": 5.0, "epoch_speedup": 1.0},
    "cuda": {"data_path_speedup": None, "data_path_images_per_second": 50_000.0, "epoch_speedup": 3.0},
}


REFERENCE = "reference"


BCBENCH = "bcbench"


DATA_PATH = "data path"


TRAIN_EPOCH = "train epoch"


DECODE_ONCE = "decode once"


class SpeedError(BcbenchError):
    """The two pipelines cannot be compared (different images, classes or counts)."""


@dataclass(frozen=True)
class SpeedSettings:
    """What to measure; the defaults are the study's recipe on the embedded synthetic data set."""

    data_root: str | None = None  # None: the embedded synthetic data set
    manifest: str | None = None  # CSV path,split; None: bcbench's stratified split (split_seed 0)
    model: str = "simple_cnn"
    image_size: int = STUDY_IMAGE_SIZE
    resize_shorter: int | None = None  # None: image_size * 256 / 224, i.e. 256 at 224 px
    batch_size: int = STUDY_BATCH_SIZE
    epochs: int = 1  # timed training epochs per pipeline (median reported)
    workers: tuple[int, ...] = (0, 2)  # reference DataLoader num_workers, one line each
    device: str = "cpu"
    repeats: int = 3  # timed data-path samples per pipeline, interleaved (median reported)
    min_seconds: float = 2.0  # each data-path sample repeats whole passes until it lasts this long
    warmup_batches: int = 3  # untimed batches before timing each pipeline
    skip_train: bool = False
    lr: float = STUDY_LR
    seed: int = 0

    def shorter_side(self) -> int:
        if self.resize_shorter is not None:
            return self.resize_shorter
        return max(self.image_size, round(self.image_size * STUDY_RESIZE_SHORTER / STUDY_IMAGE_SIZE))


@dataclass
class Timing:
    """One measured line of the table."""

    pipeline: str  # "reference" or "bcbench"
    what: str  # "data path", "train epoch" or "decode once"
    images: int  # images per timed pass
    seconds: list[float]  # every timed pass
    workers: int | None = None  # reference DataLoader workers
    note: str = ""
    ratio: float | None = None  # bcbench's speed-up over this line (reference lines only)
    passes: int = 1  # passes per timed sample (seconds are per pass)
    ratios: list[float] = field(default_factory=list)  # per interleaved repeat (reference lines only)

    @property
    def median_seconds(self) -> float:
        return statistics.median(self.seconds)

    @property
    def images_per_second(self) -> float:
        return images_per_second(self.images, self.median_seconds)

    @property
    def label(self) -> str:
        if self.pipeline == REFERENCE and self.workers is not None:
            return f"{REFERENCE} (PIL, workers={self.workers})"
        return self.pipeline

    def as_dict(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline,
            "label": self.label,
            "what": self.what,
            "workers": self.workers,
            "images": self.images,
            "seconds": self.median_seconds,
            "seconds_all": list(self.seconds),
            "images_per_second": self.images_per_second,
            "ratio": self.ratio,
            "ratios_all": list(self.ratios),
            "ratio_spread_percent": spread_percent(self.ratios),
            "passes_per_sample": self.passes,
            "rate_spread_percent": spread_percent([self.images / s for s in self.seconds if s > 0]),
            "note": self.note,
        }


@dataclass
class SpeedResult:
    settings: SpeedSettings
    environment: dict[str, Any]
    timings: list[Timing] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """Speed-ups per reference worker count and whether the targets for this device type are met."""
        return check_targets(self.timings, torch.device(self.settings.device).type)

    def as_dict(self) -> dict[str, Any]:
        return {
            "settings": {**asdict(self.settings), "resize_shorter": self.settings.shorter_side()},
            "environment": self.environment,
            "rows": [timing.as_dict() for timing in self.timings],
            "summary": self.summary(),
        }


def images_per_second(images: int, seconds: float) -> float:
    return images / seconds if seconds > 0 else math.inf


def speedup(
    reference_seconds: float, bcbench_seconds: float, reference_images: int, bcbench_images: int
) -> float:
    """bcbench's speed-up over the reference: ratio of images per second (of seconds for equal counts)."""
    return images_per_second(bcbench_images, bcbench_seconds) / images_per_second(
        reference_images, reference_seconds
    )


def spread_percent(values: Sequence[float]) -> float | None:
    """(max - min) / median, in percent: how far apart repeated measurements of one quantity lie."""
    if len(values) < 2:
        return None
    return 100 * (max(values) - min(values)) / statistics.median(values)


def attach_ratios(timings: Sequence[Timing]) -> None:
    """Set ``ratio`` on every reference line that has a bcbench line of the same kind: the median of
    the per-repeat ratios when the two were timed in interleaved repeats, else the ratio of medians."""
    for timing in timings:
        if timing.pipeline != REFERENCE:
            continue
        ours = next((t for t in timings if t.pipeline == BCBENCH and t.what == timing.what), None)
        if ours is None:
            continue
        if len(ours.seconds) == len(timing.seconds) > 1:
            pairs = zip(timing.seconds, ours.seconds, strict=True)
            timing.ratios = [speedup(theirs, mine, timing.images, ours.images) for theirs, mine in pairs]
            timing.ratio = statistics.median(timing.ratios)
        else:
            timing.ratio = speedup(timing.median_seconds, ours.median_seconds, timing.images, ours.images)


def check_targets(timings: Sequence[Timing], device_type: str) -> dict[str, Any]:
    summary: dict[str, Any] = {"data_path_speedup": {}, "epoch_speedup": {}}
    for timing in timings:
        if timing.pipeline == REFERENCE and timing.ratio is not None:
            key = "data_path_speedup" if timing.what == DATA_PATH else "epoch_speedup"
            summary[key][str(timing.workers)] = timing.ratio
    ours = next((t for t in timings if t.pipeline == BCBENCH and t.what == DATA_PATH), None)
    summary["bcbench_data_path_images_per_second"] = ours.images_per_second if ours else None
    targets = TARGETS.get(device_type, {})
    measured = {
        "data_path_speedup": summary["data_path_speedup"].get("0"),
        "data_path_images_per_second": ours.images_per_second if ours else None,
        "epoch_speedup": summary["epoch_speedup"].get("0"),
    }
    checks = {
        name: {"target": targets[name], "measured": value, "met": value >= targets[name]}
        for name, value in measured.items()
        if targets.get(name) is not None and value is not None
    }
    summary["targets"] = checks
    return summary


def check_settings(settings: SpeedSettings) -> None:
    problems = [
        f"{name} must be positive, got {value}"
        for name, value in (
            ("image_size", settings.image_size), ("batch_size", settings.batch_size),
            ("repeats", settings.repeats), ("epochs", settings.epochs),
        )
        if value < 1
    ]  # fmt: skip
    if settings.warmup_batches < 0 or any(w < 0 for w in settings.workers):
        problems.append("warmup_batches and workers must not be negative")
    if not settings.workers:
        problems.append("workers must name at least one DataLoader worker count (e.g. 0)")
    if settings.shorter_side() < settings.image_size:
        problems.append(f"resize_shorter ({settings.shorter_side()}) must be at least image_size")
    if problems:
        raise SpeedError("; ".join(problems))
