"""A trained run's outcome -> the rest of its record: external test sets and the stored predictions (the test
block is ``bcbench.metrics.evaluate``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from bcbench.config import Config
from bcbench.data import DataBundle, ExternalSet
from bcbench.metrics import TestMetrics, evaluate_external, selection_score
from bcbench.record import prediction_rows, with_calibrated
from bcbench.train import RunOutcome, RunSpec, Selection, predict_probs


def selection_for(config: Config) -> Selection:
    """What picks a run's best epoch (``train.select_by``), with its score from bcbench.metrics."""
    higher, score = selection_score(config.train.select_by)
    return Selection(config.train.select_by, higher, score)


def external_predictions(
    outcome: RunOutcome, externals: dict[str, ExternalSet], config: Config, device: torch.device
) -> dict[str, torch.Tensor]:
    """Probabilities of the best-validation model for every image of every external test set."""
    return {
        name: predict_probs(outcome.model, ext.decoded.pixels, config, device)
        for name, ext in externals.items()
    }


def external_blocks(
    externals: dict[str, ExternalSet], probs: dict[str, torch.Tensor]
) -> dict[str, TestMetrics]:
    """Scores on each external set, over the classes it holds (``classes_present``)."""
    return {
        name: evaluate_external(probs[name], ext.decoded.labels, ext.decoded.classes)
        for name, ext in externals.items()
    }


def prediction_frames(
    outcome: RunOutcome,
    data: DataBundle,
    spec: RunSpec,
    externals: dict[str, ExternalSet],
    external_probs: dict[str, torch.Tensor],
    temperature: float = 1.0,
) -> list[pd.DataFrame]:
    """The rows of ``predictions/<run_id>.csv``: validation, test, then each external set, with the
    temperature-scaled probabilities beside the raw ones."""
    where: dict[str, Any] = {"repeat": spec.repeat, "fold": spec.fold}
    frames = [
        prediction_rows(
            split,
            data.relpaths(split),
            data.indices(split),
            labels.numpy(),
            probs.numpy(),
            data.classes,
            **where,
        )
        for split, probs, labels in (
            ("val", outcome.val_probs, outcome.val_targets),
            ("test", outcome.test_probs, outcome.test_targets),
        )
    ]
    for name, ext in externals.items():
        indices = np.arange(len(ext))
        labels, probs = ext.decoded.labels.numpy(), external_probs[name].numpy()
        frames.append(
            prediction_rows(
                f"external:{name}", ext.decoded.relpaths, indices, labels, probs, ext.decoded.classes
            )
        )
    return [with_calibrated(frame, data.classes, temperature) for frame in frames]
