"""After training, the run's test set under every corruption x severity of the config's ``robustness`` block:
each corrupted copy is predicted by the best-validation model and stored as prediction rows
``corrupted:<corruption>:<severity>`` (beside val, test and the external sets), and the record's
``robustness`` block says what it cost and how far each copy moved from the clean images.

Images are corrupted where they live (on the GPU when the data is resident there), keyed by their file's
sha256, so an image gets the same corruption in every run, fold and sweep (``bcbench.robustness``).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
import torch

from bcbench.config import Config
from bcbench.data import DataBundle
from bcbench.device import synchronize
from bcbench.errors import ConfigError
from bcbench.record import prediction_rows, with_calibrated
from bcbench.robustness import (
    SEED_DOMAIN,
    CorruptedSet,
    RobustnessBlock,
    corrupted_set,
    corrupted_sets,
    resolve_corruptions,
)
from bcbench.train import RunSpec, predict_probs


def robustness_enabled(config: Config) -> bool:
    return bool(config.robustness.corruptions)


def check_robustness(config: Config) -> None:
    """Before training: the corruptions exist and the reference model is one of the sweep's models."""
    if not robustness_enabled(config):
        return
    resolve_corruptions(config.robustness.corruptions)
    reference = config.robustness.reference_model
    if reference is not None and reference not in config.models:
        raise ConfigError(
            f"config key 'robustness.reference_model' is {reference!r}, not one of the sweep's models "
            f"({', '.join(config.models)}); name one of them or leave it unset (the first model)"
        )


def test_keys(data: DataBundle) -> list[str]:
    """Each test image's key for its random draws: its file's sha256 (the same image, the same draw)."""
    return [data.decoded.sha256[int(index)] for index in data.indices("test")]


def resident(images: Any) -> torch.Tensor:
    """The test images as one uint8 tensor (streamed images are decoded once, here)."""
    if isinstance(images, torch.Tensor):
        return images
    return images.index_select(0, torch.arange(len(images)))


def mean_distance(corrupted: torch.Tensor, clean: torch.Tensor) -> float:
    """Mean |corrupted - clean| over every pixel and channel, in grey levels (0..255)."""
    if clean.numel() == 0:
        return 0.0
    difference = (corrupted.to(torch.int16) - clean.to(torch.int16)).abs_()
    return float(difference.sum(dtype=torch.float64).item() / clean.numel())


def corruption_predictions(
    model: torch.nn.Module,
    config: Config,
    data: DataBundle,
    device: torch.device,
    temperature: float = 1.0,
    spec: RunSpec | None = None,
) -> tuple[list[pd.DataFrame], RobustnessBlock]:
    """The prediction rows of every corrupted copy of the test set (with ``cal_prob_*`` at the run's
    ``temperature``; the run's repeat and fold from its ``spec``) and the record's ``robustness`` block."""
    settings = config.robustness
    names = resolve_corruptions(settings.corruptions)
    images, labels = data.tensors("test")
    clean = resident(images)
    block = RobustnessBlock(
        corruptions=list(names),
        severities=list(settings.severities),
        lengths=settings.lengths,
        seed_domain=SEED_DOMAIN,
        images=len(clean),
        device=str(device),
    )
    where = {"repeat": spec.repeat, "fold": spec.fold} if spec is not None else {}
    rows = _RowMaker(data, labels.cpu().numpy(), temperature, where)
    sets = corrupted_sets(clean, test_keys(data), names, settings.severities, lengths=settings.lengths)
    frames = _predict_each(model, config, device, sets, clean, block, rows)
    return frames, block


class _RowMaker:
    """The stored rows of one corrupted copy: the test images' paths, indices, labels; its probabilities."""

    def __init__(self, data: DataBundle, labels: np.ndarray, temperature: float, where: dict[str, Any]):
        self.paths, self.indices = data.relpaths("test"), data.indices("test")
        self.labels, self.classes = labels, data.classes
        self.temperature, self.where = temperature, where

    def frame(self, corruption: str, severity: int, probs: torch.Tensor) -> pd.DataFrame:
        name = corrupted_set(corruption, severity)
        probs_array = probs.numpy()
        rows = prediction_rows(
            name, self.paths, self.indices, self.labels, probs_array, self.classes, split="test", **self.where
        )
        return with_calibrated(rows, self.classes, self.temperature)


def _predict_each(
    model: torch.nn.Module,
    config: Config,
    device: torch.device,
    sets: Any,
    clean: torch.Tensor,
    block: RobustnessBlock,
    rows: _RowMaker,
) -> list[pd.DataFrame]:
    """Corrupt (timed per corruption, the device synchronised), measure, predict (timed), one copy at a time:
    only one corrupted copy of the test set is held at once."""
    frames, corrupting, predicting = [], 0.0, 0.0
    started, cpu_started = time.perf_counter(), time.process_time()
    while True:
        before = time.perf_counter()
        item: CorruptedSet | None = next(sets, None)
        synchronize(clean.device)
        corrupted_at = time.perf_counter()
        if item is None:
            break
        spent = corrupted_at - before
        corrupting += spent
        by_name = block.seconds_by_corruption
        by_name[item.corruption] = by_name.get(item.corruption, 0.0) + spent
        probs = predict_probs(model, item.images, config, device)
        predicting += time.perf_counter() - corrupted_at
        block.distance.setdefault(item.corruption, []).append(mean_distance(item.images, clean))
        frames.append(rows.frame(item.corruption, item.severity, probs))
    block.seconds = time.perf_counter() - started
    block.corrupt_seconds, block.predict_seconds = corrupting, predicting
    block.cpu_seconds = time.process_time() - cpu_started
    return frames
