"""How fast bcbench feeds and trains a model, next to a plain torchvision pipeline, in one process.

Two pipelines over the same training images (the train split of the manifest, or bcbench's stratified
split), with the study's transforms:

- **reference**: ``torchvision.datasets.ImageFolder`` (``_mask`` files skipped) restricted to those
  images by a ``Subset`` matched on relative paths, ``Compose([Resize(256), CenterCrop(224),
  RandomApply([RandomHorizontalFlip(), RandomRotation(10), ColorJitter(0.2, 0.2)], p=0.5), ToTensor(),
  Normalize(imagenet)])``, a shuffling ``DataLoader`` (``num_workers`` as asked), each batch moved to
  the device. Every epoch decodes and resizes every file again with PIL.
- **bcbench**: ``build_data`` decodes and preprocesses every image once (reported on its own line,
  "decode once"); each epoch then indexes the resident uint8 split, runs ``BatchAugmenter`` (mode
  ``study``) and ``Normalizer`` on whole batches, exactly as ``bcbench.train`` does.

What is timed (``time.perf_counter``, after synchronising the device):

- **data path**: one pass over the training images delivering normalised float32 batches on the
  device, augmentation included, nothing consuming them. Median of ``repeats`` passes, after an
  untimed warm-up of a few batches.
- **train epoch**: one epoch of the same model (same initial weights), loss, optimizer (Adam, same
  learning rate) and batch size through each pipeline; bcbench's epoch is ``bcbench.train``'s own loop
  with its ``make_optimizer`` (fused Adam where torch has it), the reference a plain loop with
  ``torch.optim.Adam``'s default implementation, as the study's code had.
  Median over ``epochs`` epochs, after a few untimed warm-up steps.
- **decode once**: ``build_data`` (discover, split, decode and resize every image of every split, no
  decode cache), done once per sweep and shared by all its runs.

Ratios are bcbench's speed-up over each reference line: (bcbench images/s) / (reference images/s),
which for a training epoch is (reference seconds) / (bcbench seconds). Before anything is timed every
file is read once, so every line sees a warm OS page cache.

Nothing here reads ``sys.argv`` or prints; ``bench/speed.py`` is the command line.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bcbench.config import AugmentConfig, DataConfig, TrainConfig
from bcbench.data import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    BatchAugmenter,
    DataBundle,
    Normalizer,
    build_data,
    discover_images,
    resolve_root,
)
from bcbench.efficiency import synchronize
from bcbench.errors import BcbenchError

# the study's recipe (configs/study.yaml): Resize(256) + CenterCrop(224), augmentation block, batch 8, Adam
STUDY_IMAGE_SIZE = 224
STUDY_RESIZE_SHORTER = 256
STUDY_AUGMENT = AugmentConfig(mode="study", block_p=0.5, rotation_degrees=10.0, brightness=0.2, contrast=0.2)
STUDY_BATCH_SIZE = 8
STUDY_LR = 1e-3

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
    repeats: int = 3  # data-path passes per pipeline (median reported)
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
            "note": self.note,
        }


@dataclass
class SpeedResult:
    settings: SpeedSettings
    environment: dict[str, Any]
    timings: list[Timing] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """Speed-ups per reference worker count and whether the targets for this device type are met."""
        return summarise(self.timings, torch.device(self.settings.device).type)

    def as_dict(self) -> dict[str, Any]:
        return {
            "settings": {**asdict(self.settings), "resize_shorter": self.settings.shorter_side()},
            "environment": self.environment,
            "rows": [timing.as_dict() for timing in self.timings],
            "summary": self.summary(),
        }


# ----------------------------------------------------------------------------------------------
# Arithmetic (kept apart so it can be tested on made-up timings)
# ----------------------------------------------------------------------------------------------


def images_per_second(images: int, seconds: float) -> float:
    return images / seconds if seconds > 0 else math.inf


def speedup(
    reference_seconds: float, bcbench_seconds: float, reference_images: int, bcbench_images: int
) -> float:
    """bcbench's speed-up over the reference: ratio of images per second (of seconds for equal counts)."""
    return images_per_second(bcbench_images, bcbench_seconds) / images_per_second(
        reference_images, reference_seconds
    )


def attach_ratios(timings: Sequence[Timing]) -> None:
    """Set ``ratio`` on every reference line that has a bcbench line of the same kind."""
    for timing in timings:
        if timing.pipeline != REFERENCE:
            continue
        ours = next((t for t in timings if t.pipeline == BCBENCH and t.what == timing.what), None)
        if ours is not None:
            timing.ratio = speedup(timing.median_seconds, ours.median_seconds, timing.images, ours.images)


def summarise(timings: Sequence[Timing], device_type: str) -> dict[str, Any]:
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


# ----------------------------------------------------------------------------------------------
# The two pipelines
# ----------------------------------------------------------------------------------------------


def data_config(settings: SpeedSettings, cache_dir: str | None = None) -> DataConfig:
    """bcbench's data settings for the study's preprocessing at ``settings.image_size``."""
    return DataConfig(
        root=settings.data_root,
        manifest=settings.manifest,
        preprocess="shorter_crop",
        resize_shorter=settings.shorter_side(),
        image_size=settings.image_size,
        normalize="imagenet",
        cache_dir=cache_dir,
    )


def train_config(settings: SpeedSettings) -> TrainConfig:
    return TrainConfig(
        epochs=max(settings.epochs, 1),
        batch_size=settings.batch_size,
        optimizer="adam",
        lr=settings.lr,
        scheduler="none",
        mixed_precision="no",
    )


def reference_transform(
    image_size: int = STUDY_IMAGE_SIZE, resize_shorter: int = STUDY_RESIZE_SHORTER
) -> Any:
    """The study's training transform, torchvision v1 on PIL images."""
    from torchvision import transforms

    augment = transforms.RandomApply(
        [
            transforms.RandomHorizontalFlip(),
            transforms.RandomRotation(STUDY_AUGMENT.rotation_degrees),
            transforms.ColorJitter(brightness=STUDY_AUGMENT.brightness, contrast=STUDY_AUGMENT.contrast),
        ],
        p=STUDY_AUGMENT.block_p,
    )
    return transforms.Compose(
        [
            transforms.Resize(resize_shorter),
            transforms.CenterCrop(image_size),
            augment,
            transforms.ToTensor(),
            transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )


def is_image_not_mask(path: str) -> bool:
    """ImageFolder's ``is_valid_file``: torchvision's image extensions, ``_mask`` files skipped."""
    from torchvision.datasets.folder import IMG_EXTENSIONS, has_file_allowed_extension

    return has_file_allowed_extension(path, IMG_EXTENSIONS) and "_mask" not in Path(path).name.lower()


def reference_dataset(
    root: str | Path,
    relpaths: Sequence[str],
    classes: Sequence[str] | None = None,
    image_size: int = STUDY_IMAGE_SIZE,
    resize_shorter: int = STUDY_RESIZE_SHORTER,
) -> torch.utils.data.Subset:
    """ImageFolder over ``root`` with the study's transform, restricted to ``relpaths`` (in that order).

    Raises SpeedError when ImageFolder does not find one of the paths or sees other classes, so the
    two pipelines never silently train on different images.
    """
    from torchvision.datasets import ImageFolder

    root = Path(root)
    folder = ImageFolder(
        str(root),
        transform=reference_transform(image_size, resize_shorter),
        is_valid_file=is_image_not_mask,
    )
    if classes is not None and list(folder.classes) != list(classes):
        raise SpeedError(
            f"ImageFolder finds classes {folder.classes} under {root} but bcbench finds {list(classes)}; "
            "remove hidden or junk folders from the data root so both see the same classes"
        )
    positions = {
        Path(path).relative_to(root).as_posix(): index for index, (path, _) in enumerate(folder.samples)
    }
    missing = [relpath for relpath in relpaths if relpath not in positions]
    if missing:
        raise SpeedError(
            f"ImageFolder does not find {len(missing)} of bcbench's images under {root}, "
            f"e.g. {missing[0]!r}; use extensions torchvision reads"
        )
    return torch.utils.data.Subset(folder, [positions[relpath] for relpath in relpaths])


def reference_loader(
    dataset: torch.utils.data.Dataset, batch_size: int, workers: int, seed: int
) -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        num_workers=workers,
        generator=torch.Generator().manual_seed(seed),
    )


def reference_batches(
    loader: Iterable[tuple[torch.Tensor, torch.Tensor]], device: torch.device
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The reference loader's batches moved to ``device`` (plain ``.to``, as a plain training loop does)."""
    for images, labels in loader:
        yield images.to(device), labels.to(device)


def bcbench_generators(seed: int, device: torch.device) -> dict[str, torch.Generator]:
    """Batch order on the CPU, augmentation on the data's device, as ``bcbench.train`` seeds them."""
    from bcbench.train import make_generators

    return make_generators(seed, device)


def bcbench_steps(
    augment: BatchAugmenter,
    normalize: Normalizer,
    batch_size: int,
    generators: dict[str, torch.Generator],
    model: nn.Module | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    criterion: nn.Module | None = None,
) -> Any:
    """``bcbench.train.EpochSteps`` for one process in fp32: the code every training run executes."""
    from bcbench.train import EpochSteps, MixedPrecision, Processes

    device = generators["augment"].device
    return EpochSteps(
        model=model,
        optimizer=optimizer,
        criterion=criterion,
        precision=MixedPrecision("no", device),
        augment=augment,
        normalize=normalize,
        processes=Processes(None, together=False),
        train_cfg=TrainConfig(batch_size=batch_size),
        generators=generators,
    )


def bcbench_batches(
    images: torch.Tensor,
    labels: torch.Tensor,
    augment: BatchAugmenter,
    normalize: Normalizer,
    batch_size: int,
    generators: dict[str, torch.Generator],
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch of bcbench's training batches, through ``EpochSteps.batches`` itself."""
    return bcbench_steps(augment, normalize, batch_size, generators).batches(images, labels)


# ----------------------------------------------------------------------------------------------
# Timing
# ----------------------------------------------------------------------------------------------


def drain(batches: Iterable[tuple[torch.Tensor, torch.Tensor]], limit: int | None = None) -> int:
    """Pull batches (at most ``limit``) and return how many images they held."""
    count = 0
    for number, (images, _) in enumerate(batches, start=1):
        count += int(images.shape[0])
        if limit is not None and number >= limit:
            break
    return count


def time_pass(run: Callable[[], int], device: torch.device) -> tuple[int, float]:
    """(images, seconds) of one call of ``run``, clocks read after synchronising ``device``."""
    synchronize(device)
    started = time.perf_counter()
    images = run()
    synchronize(device)
    return images, time.perf_counter() - started


def warm_page_cache(paths: Iterable[Path]) -> int:
    """Read every file once so that no timed line pays for the first read from disk; returns bytes read."""
    total = 0
    for path in paths:
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                total += len(chunk)
    return total


@dataclass
class Prepared:
    """Everything both pipelines need, built once."""

    bundle: DataBundle
    reference: torch.utils.data.Subset
    train_x: torch.Tensor  # uint8 on the device
    train_y: torch.Tensor
    augment: BatchAugmenter
    normalize: Normalizer
    device: torch.device
    decode: Timing


def prepare(settings: SpeedSettings, progress: Callable[[str], None] | None = None) -> Prepared:
    """Warm the page cache, time ``build_data`` (decode once) and build the reference data set."""
    device = torch.device(settings.device)
    config = data_config(settings)
    root = resolve_root(config)
    config = replace(config, root=str(root))
    _say(progress, f"reading the files under {root} once (warm page cache)")
    _, records = discover_images(root, config.mask_patterns, config.extensions)
    warm_page_cache(record.path for record in records)
    _say(progress, f"decode once: build_data on {len(records)} images at {settings.image_size} px")
    started = time.perf_counter()
    bundle = build_data(config)
    decode_seconds = time.perf_counter() - started
    decode = Timing(
        BCBENCH,
        DECODE_ONCE,
        len(bundle.images.relpaths),
        [decode_seconds],
        note="discover, hash, split, decode + resize every image of every split; no decode cache",
    )
    relpaths = bundle.relpaths("train")
    reference = reference_dataset(
        root, relpaths, bundle.classes, settings.image_size, settings.shorter_side()
    )
    train_x, train_y = (t.to(device) for t in bundle.tensors("train"))
    synchronize(device)
    return Prepared(
        bundle=bundle,
        reference=reference,
        train_x=train_x,
        train_y=train_y,
        augment=BatchAugmenter(STUDY_AUGMENT, bundle.classes),
        normalize=Normalizer("imagenet", device),
        device=device,
        decode=decode,
    )


def time_data_paths(
    prepared: Prepared, settings: SpeedSettings, progress: Callable[[str], None] | None = None
) -> list[Timing]:
    """Median images/s of ``repeats`` passes per pipeline, the pipelines interleaved within each repeat."""
    device = prepared.device
    bs = settings.batch_size
    generators = bcbench_generators(settings.seed, device)

    def ours(limit: int | None = None) -> int:
        batches = bcbench_batches(
            prepared.train_x, prepared.train_y, prepared.augment, prepared.normalize, bs, generators
        )
        return drain(batches, limit)

    def theirs(workers: int, limit: int | None = None) -> int:
        loader = reference_loader(prepared.reference, bs, workers, settings.seed)
        return drain(reference_batches(loader, device), limit)

    _say(progress, "data path: warm-up")
    ours(settings.warmup_batches)
    for workers in settings.workers:
        theirs(workers, settings.warmup_batches)
    lines = {None: Timing(BCBENCH, DATA_PATH, 0, [])} | {
        w: Timing(REFERENCE, DATA_PATH, 0, [], workers=w) for w in settings.workers
    }
    for repeat in range(settings.repeats):
        _say(progress, f"data path: repeat {repeat + 1}/{settings.repeats}")
        for workers in settings.workers:
            _record(lines[workers], *time_pass(lambda w=workers: theirs(w), device))
        _record(lines[None], *time_pass(ours, device))
    notes = "augmented, normalised float32 batches on the device"
    for line in lines.values():
        line.note = notes
    return [*(lines[w] for w in settings.workers), lines[None]]


def _record(timing: Timing, images: int, seconds: float) -> None:
    if timing.images and timing.images != images:
        raise SpeedError(f"{timing.label} delivered {images} images after {timing.images} before")
    timing.images = images
    timing.seconds.append(seconds)


def fresh_model(settings: SpeedSettings, num_classes: int, device: torch.device) -> nn.Module:
    """The model with the same initial weights every call (seeded construction)."""
    from bcbench.models import build_model

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        model = build_model(settings.model, num_classes, None, settings.image_size)
    return model.to(device)


def reference_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    criterion: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    limit: int | None = None,
) -> int:
    """A plain training loop over ``batches``; returns the number of images trained on."""
    model.train()
    seen = 0
    for step, (images, labels) in enumerate(batches, start=1):
        loss = criterion(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        seen += int(labels.shape[0])
        if limit is not None and step >= limit:
            break
    return seen


def bcbench_epoch_runner(
    model: nn.Module,
    criterion: nn.Module,
    prepared: Prepared,
    train_cfg: TrainConfig,
    seed: int,
) -> Callable[[torch.Tensor, torch.Tensor], int]:
    """``epoch(images, labels) -> images trained on``: one epoch of ``bcbench.train``'s own training loop
    (``EpochSteps.train_epoch``, single process, fp32), with its optimizer and generators."""
    from bcbench.train import make_optimizer

    device = prepared.device
    steps = bcbench_steps(
        prepared.augment,
        prepared.normalize,
        train_cfg.batch_size,
        bcbench_generators(seed, device),
        model=model,
        optimizer=make_optimizer(model, train_cfg, device),
        criterion=criterion,
    )

    def epoch(images: torch.Tensor, labels: torch.Tensor) -> int:
        return int(steps.train_epoch(images, labels)[2])

    return epoch


def time_train_epochs(
    prepared: Prepared, settings: SpeedSettings, progress: Callable[[str], None] | None = None
) -> list[Timing]:
    """Seconds per training epoch of the same model and optimizer through each pipeline (median)."""
    from bcbench.train import make_criterion

    device = prepared.device
    train_cfg = train_config(settings)
    classes = prepared.bundle.classes
    criterion = make_criterion(train_cfg, prepared.bundle.class_counts("train"), device)
    warm = settings.warmup_batches
    x, y = prepared.train_x, prepared.train_y
    ours_epoch = bcbench_epoch_runner(
        fresh_model(settings, len(classes), device), criterion, prepared, train_cfg, settings.seed
    )

    theirs = {}
    for workers in settings.workers:
        model = fresh_model(settings, len(classes), device)
        plain_adam = torch.optim.Adam(model.parameters(), lr=train_cfg.lr)
        theirs[workers] = (model, plain_adam)

    def their_epoch(workers: int, limit: int | None = None) -> int:
        model, optimizer = theirs[workers]
        loader = reference_loader(prepared.reference, settings.batch_size, workers, settings.seed)
        return reference_epoch(model, optimizer, criterion, reference_batches(loader, device), limit)

    _say(progress, f"train epoch ({settings.model}): warm-up")
    if warm > 0:
        count = min(len(y), warm * settings.batch_size)
        ours_epoch(x[:count], y[:count])
        for workers in settings.workers:
            their_epoch(workers, warm)
    lines = {None: Timing(BCBENCH, TRAIN_EPOCH, 0, [])} | {
        w: Timing(REFERENCE, TRAIN_EPOCH, 0, [], workers=w) for w in settings.workers
    }
    for epoch in range(settings.epochs):
        for workers in settings.workers:
            _say(progress, f"train epoch {epoch + 1}/{settings.epochs}: reference, workers={workers}")
            _record(lines[workers], *time_pass(lambda w=workers: their_epoch(w), device))
        _say(progress, f"train epoch {epoch + 1}/{settings.epochs}: bcbench")
        _record(lines[None], *time_pass(lambda: ours_epoch(x, y), device))
    note = f"{settings.model}, batch {settings.batch_size}, Adam lr {settings.lr:g}, fp32"
    for line in lines.values():
        line.note = note
    return [*(lines[w] for w in settings.workers), lines[None]]


def run_speed(settings: SpeedSettings, progress: Callable[[str], None] | None = None) -> SpeedResult:
    """Every measurement of the speed table, with the environment it was taken in."""
    _check_settings(settings)
    environment = environment_info(torch.device(settings.device))
    environment["loadavg_start"] = _loadavg()
    prepared = prepare(settings, progress)
    timings = time_data_paths(prepared, settings, progress)
    if not settings.skip_train:
        timings += time_train_epochs(prepared, settings, progress)
    timings.append(prepared.decode)
    attach_ratios(timings)
    environment["loadavg_end"] = _loadavg()
    environment["train_images"] = len(prepared.train_y)
    environment["classes"] = prepared.bundle.classes
    return SpeedResult(settings=settings, environment=environment, timings=timings)


def _check_settings(settings: SpeedSettings) -> None:
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


def _say(progress: Callable[[str], None] | None, message: str) -> None:
    if progress is not None:
        progress(message)


def _loadavg() -> list[float] | None:
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


def environment_info(device: torch.device) -> dict[str, Any]:
    import PIL
    import torchvision

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "pillow": PIL.__version__,
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "cpu": _cpu_name(),
        "device": str(device),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# ----------------------------------------------------------------------------------------------
# Output
# ----------------------------------------------------------------------------------------------


def format_speed_table(result: SpeedResult) -> Any:
    """A Rich table: pipeline, what, images, seconds, images/s, ratio (bcbench's speed-up)."""
    from rich.table import Table

    settings, env = result.settings, result.environment
    title = (
        f"{settings.model} at {settings.image_size} px, batch {settings.batch_size}, {env['device']}, "
        f"{env['threads']} torch thread(s), load {env.get('loadavg_start')}"
    )
    table = Table(title=title)
    for name, justify in (
        ("pipeline", "left"), ("what", "left"), ("images", "right"), ("seconds", "right"),
        ("images/s", "right"), ("ratio", "right"), ("includes", "left"),
    ):  # fmt: skip
        table.add_column(name, justify=justify)
    for timing in result.timings:
        ratio = f"{timing.ratio:.2f}x" if timing.ratio is not None else ""
        spread = f" ({len(timing.seconds)} runs)" if len(timing.seconds) > 1 else ""
        table.add_row(
            timing.label, timing.what, str(timing.images), f"{timing.median_seconds:.3f}{spread}",
            f"{timing.images_per_second:,.0f}", ratio, timing.note,
        )  # fmt: skip
    table.caption = "ratio: bcbench's speed-up over that reference line (images/s ratio); seconds: median"
    return table


def target_lines(result: SpeedResult) -> list[str]:
    """One line per target of this device type: measured, target, met or not."""
    lines = []
    if result.settings.image_size != STUDY_IMAGE_SIZE:
        lines.append(
            f"(the targets are set for {STUDY_IMAGE_SIZE} px; this run is at {result.settings.image_size} px)"
        )
    for name, check in result.summary()["targets"].items():
        unit = "images/s" if name.endswith("per_second") else "x"
        verdict = "met" if check["met"] else "NOT met"
        lines.append(
            f"{name}: {check['measured']:,.2f} {unit} (target >= {check['target']:,g} {unit}): {verdict}"
        )
    return lines


def write_speed_json(result: SpeedResult, out: str | Path) -> Path:
    """``speed.json`` in ``out`` (created), written atomically."""
    folder = Path(out).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "speed.json"
    with tempfile.NamedTemporaryFile("w", dir=folder, suffix=".tmp", delete=False) as handle:
        json.dump(result.as_dict(), handle, indent=2)
        handle.write("\n")
    os.replace(handle.name, path)
    return path
