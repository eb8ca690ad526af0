"""A trained run's outcome -> the record's numbers: the test block, external test sets, stored predictions."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from bcbench.config import Config
from bcbench.data import DataBundle, ExternalSet
from bcbench.metrics import TestMetrics, classification_metrics, present_class_metrics, selection_score
from bcbench.metrics.calibration import calibration_block
from bcbench.metrics.stratified import METHOD as BOOTSTRAP_METHOD
from bcbench.metrics.stratified import bootstrap_intervals
from bcbench.record.predictions import prediction_rows, with_calibrated
from bcbench.train import RunOutcome, RunSpec, Selection, predict_probs


def selection_for(spec: RunSpec) -> Selection:
    """What picks a run's best epoch (``train.select_by``), with its score from bcbench.metrics."""
    higher, score = selection_score(spec.train.select_by)
    return Selection(spec.train.select_by, higher, score)


def test_block(outcome: RunOutcome, classes: list[str]) -> TestMetrics:
    """Test scores, their bootstrap intervals over test images, and calibration before and after
    temperature scaling fitted on the validation predictions."""
    metrics = classification_metrics(outcome.test_probs, outcome.test_targets, classes)
    metrics["bootstrap"] = bootstrap_intervals(outcome.test_probs, outcome.test_targets, classes)
    metrics["bootstrap_method"] = BOOTSTRAP_METHOD
    val, test = (
        (outcome.val_probs.numpy(), outcome.val_targets.numpy()),
        (outcome.test_probs.numpy(), outcome.test_targets.numpy()),
    )
    metrics["calibration"] = calibration_block(*val, *test)
    return TestMetrics.from_json(metrics)


def external_predictions(
    outcome: RunOutcome,
    externals: dict[str, ExternalSet],
    spec: RunSpec,
    config: Config,
    device: torch.device,
) -> dict[str, torch.Tensor]:
    """Probabilities of the best-validation model for every image of every external test set."""
    return {
        name: predict_probs(outcome.model, ext.images.images, spec, config, device)
        for name, ext in externals.items()
    }


def external_blocks(
    externals: dict[str, ExternalSet], probs: dict[str, torch.Tensor]
) -> dict[str, TestMetrics]:
    """Scores on each external set, over the classes it holds (``classes_present``)."""
    return {
        name: TestMetrics.from_json(present_class_metrics(probs[name], ext.images.labels, ext.images.classes))
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
        labels, probs = ext.images.labels.numpy(), external_probs[name].numpy()
        frames.append(
            prediction_rows(
                f"external:{name}", ext.images.relpaths, indices, labels, probs, ext.images.classes
            )
        )
    return [with_calibrated(frame, data.classes, temperature) for frame in frames]
