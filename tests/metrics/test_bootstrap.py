"""Test-set bootstrap intervals: seeded, equal to an explicit resampling loop, fast."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bcbench.metrics import bootstrap_metric_ci, metrics_from_confusion
from tests.metrics.matrices import CLASSES, MOBILENET, RESNET101, SIMPLE_CNN, predictions_for_confusion


@pytest.mark.parametrize("metric", ["accuracy", "f1_macro"])
def test_bootstrap_ci_contains_point_estimate_and_is_seeded(metric: str) -> None:
    preds, targets = predictions_for_confusion(SIMPLE_CNN)
    point = metrics_from_confusion(SIMPLE_CNN, CLASSES)[metric]
    low, high = bootstrap_metric_ci(preds, targets, 3, metric, n_boot=2000, seed=1)
    assert low < point < high
    assert bootstrap_metric_ci(preds, targets, 3, metric, n_boot=2000, seed=1) == (low, high)
    # Accuracy quantiles sit on the lattice k/117 and can coincide across seeds; macro F1 does not.
    if metric == "f1_macro":
        assert bootstrap_metric_ci(preds, targets, 3, metric, n_boot=2000, seed=2) != (low, high)


@pytest.mark.parametrize("metric", ["accuracy", "f1_macro"])
def test_bootstrap_ci_matches_explicit_resampling_loop(metric: str) -> None:
    preds, targets = predictions_for_confusion(MOBILENET)
    n_boot, seed = 200, 3
    indices = np.random.default_rng(seed).integers(0, targets.size, size=(n_boot, targets.size))
    estimates = []
    for resample in indices:
        confusion = np.zeros((3, 3), dtype=int)
        np.add.at(confusion, (targets[resample], preds[resample]), 1)
        estimates.append(metrics_from_confusion(confusion, CLASSES)[metric])
    expected = tuple(np.quantile(estimates, [0.05, 0.95]))
    actual = bootstrap_metric_ci(preds, targets, 3, metric, n_boot=n_boot, confidence=0.90, seed=seed)
    assert actual == pytest.approx(expected, abs=1e-12)


def test_bootstrap_ci_accepts_tensors_like_arrays() -> None:
    preds, targets = predictions_for_confusion(RESNET101)
    from_tensors = bootstrap_metric_ci(torch.from_numpy(preds), torch.from_numpy(targets), 3, "f1_macro")
    assert from_tensors == bootstrap_metric_ci(preds, targets, 3, "f1_macro")
    low, high = from_tensors
    assert 0 < low < high < 1


def test_bootstrap_ci_rejects_unknown_metric_and_mismatched_lengths() -> None:
    preds, targets = predictions_for_confusion(RESNET101)
    with pytest.raises(ValueError, match="metric"):
        bootstrap_metric_ci(preds, targets, 3, "auroc")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        bootstrap_metric_ci(preds[:-1], targets, 3, "accuracy")
    with pytest.raises(ValueError):
        bootstrap_metric_ci(preds, targets, 2, "accuracy")
