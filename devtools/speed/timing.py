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

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from bcbench.data import BatchAugmenter, DataBundle, Normalizer, build_data, discover_images, resolve_root
from bcbench.device import synchronize
from devtools.speed.output import environment_info, loadavg, say
from devtools.speed.pipelines import (
    bcbench_batches,
    bcbench_epoch_runner,
    bcbench_generators,
    data_config,
    fresh_model,
    reference_batches,
    reference_dataset,
    reference_epoch,
    reference_loader,
    train_config,
)
from devtools.speed.settings import (
    BCBENCH,
    DATA_PATH,
    DECODE_ONCE,
    REFERENCE,
    STUDY_AUGMENT,
    TRAIN_EPOCH,
    SpeedError,
    SpeedResult,
    SpeedSettings,
    Timing,
    attach_ratios,
    check_settings,
)


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
    say(progress, f"reading the files under {root} once (warm page cache)")
    _, records = discover_images(root, config.mask_patterns, config.extensions)
    warm_page_cache(record.path for record in records)
    say(progress, f"decode once: build_data on {len(records)} images at {settings.image_size} px")
    started = time.perf_counter()
    bundle = build_data(config)
    decode_seconds = time.perf_counter() - started
    decode = Timing(
        BCBENCH,
        DECODE_ONCE,
        len(bundle.decoded.relpaths),
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

    say(progress, "data path: warm-up")
    ours(settings.warmup_batches)
    for workers in settings.workers:
        theirs(workers, settings.warmup_batches)
    runs = {None: ours} | {w: (lambda w=w: theirs(w)) for w in settings.workers}
    passes = {key: passes_for(run, device, settings.min_seconds) for key, run in runs.items()}
    lines = {None: Timing(BCBENCH, DATA_PATH, 0, [], passes=passes[None])} | {
        w: Timing(REFERENCE, DATA_PATH, 0, [], workers=w, passes=passes[w]) for w in settings.workers
    }
    for repeat in range(settings.repeats):
        say(progress, f"data path: repeat {repeat + 1}/{settings.repeats}")
        order = list(runs) if repeat % 2 == 0 else list(reversed(runs))  # alternate who goes first
        for key in order:
            images, seconds = time_pass(lambda key=key: sum(runs[key]() for _ in range(passes[key])), device)
            record_pass(lines[key], images // passes[key], seconds / passes[key])
    notes = "augmented, normalised float32 batches on the device"
    for line in lines.values():
        line.note = notes
    return [*(lines[w] for w in settings.workers), lines[None]]


def passes_for(run: Callable[[], int], device: torch.device, min_seconds: float) -> int:
    """How many whole passes make a sample of at least ``min_seconds`` (one untimed-for-results pass)."""
    _, seconds = time_pass(run, device)
    return max(1, math.ceil(min_seconds / max(seconds, 1e-6)))


def record_pass(timing: Timing, images: int, seconds: float) -> None:
    if timing.images and timing.images != images:
        raise SpeedError(f"{timing.label} delivered {images} images after {timing.images} before")
    timing.images = images
    timing.seconds.append(seconds)


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

    say(progress, f"train epoch ({settings.model}): warm-up")
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
            say(progress, f"train epoch {epoch + 1}/{settings.epochs}: reference, workers={workers}")
            record_pass(lines[workers], *time_pass(lambda w=workers: their_epoch(w), device))
        say(progress, f"train epoch {epoch + 1}/{settings.epochs}: bcbench")
        record_pass(lines[None], *time_pass(lambda: ours_epoch(x, y), device))
    note = f"{settings.model}, batch {settings.batch_size}, Adam lr {settings.lr:g}, fp32"
    for line in lines.values():
        line.note = note
    return [*(lines[w] for w in settings.workers), lines[None]]


def run_speed(settings: SpeedSettings, progress: Callable[[str], None] | None = None) -> SpeedResult:
    """Every measurement of the speed table, with the environment it was taken in."""
    check_settings(settings)
    environment = environment_info(torch.device(settings.device))
    environment["loadavg_start"] = loadavg()
    prepared = prepare(settings, progress)
    timings = time_data_paths(prepared, settings, progress)
    if not settings.skip_train:
        timings += time_train_epochs(prepared, settings, progress)
    timings.append(prepared.decode)
    attach_ratios(timings)
    environment["loadavg_end"] = loadavg()
    environment["train_images"] = len(prepared.train_y)
    environment["classes"] = prepared.bundle.classes
    return SpeedResult(settings=settings, environment=environment, timings=timings)
