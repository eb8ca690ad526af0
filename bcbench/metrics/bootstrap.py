"""Test-set uncertainty of one run: bootstrap intervals over its test images."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch

from bcbench.metrics.classification import confusion_accuracy, per_class_f1

BOOTSTRAP_METRICS = ("accuracy", "f1_macro")


_BOOTSTRAP_CHUNK_ELEMENTS = 4_000_000  # bounds memory of the resampled index matrix


def _as_int_array(values: Any) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"expected a 1-D array of class indices, got shape {array.shape}")
    return array.astype(np.int64)


def batched_confusion(true_codes: np.ndarray, pred_codes: np.ndarray, num_classes: int) -> np.ndarray:
    """Confusion matrices [B, C, C] of B resamples [B, N] with one bincount."""
    n_resamples = true_codes.shape[0]
    cells = num_classes * num_classes
    offsets = np.arange(n_resamples, dtype=np.int64)[:, None] * cells
    flat = (offsets + true_codes * num_classes + pred_codes).ravel()
    counts = np.bincount(flat, minlength=n_resamples * cells)
    return counts.reshape(n_resamples, num_classes, num_classes)


def bootstrap_metric_ci(
    preds: Any,
    targets: Any,
    num_classes: int,
    metric: Literal["accuracy", "f1_macro"],
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap CI of accuracy or macro F1 over test images (resampled with replacement).

    Reproducible for a given seed (numpy `default_rng`). Macro F1 averages over all `num_classes`
    classes, as `metrics_from_confusion` does (a class absent from a resample counts 0).
    """
    if metric not in BOOTSTRAP_METRICS:
        raise ValueError(f"metric must be one of {BOOTSTRAP_METRICS}, got {metric!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be positive, got {n_boot}")
    preds_array, targets_array = _as_int_array(preds), _as_int_array(targets)
    n = targets_array.shape[0]
    if preds_array.shape[0] != n or n == 0:
        raise ValueError(
            f"preds ({preds_array.shape[0]}) and targets ({n}) must have the same, non-zero length"
        )
    for label, array in (("preds", preds_array), ("targets", targets_array)):
        if array.min() < 0 or array.max() >= num_classes:
            raise ValueError(f"{label} must lie in [0, {num_classes}), got {array.min()}..{array.max()}")
    rng = np.random.default_rng(seed)
    chunk = max(1, _BOOTSTRAP_CHUNK_ELEMENTS // n)
    estimates = []
    for start in range(0, n_boot, chunk):
        indices = rng.integers(0, n, size=(min(chunk, n_boot - start), n))
        confusion = batched_confusion(targets_array[indices], preds_array[indices], num_classes)
        if metric == "accuracy":
            estimates.append(confusion_accuracy(confusion))
        else:
            estimates.append(per_class_f1(confusion).mean(axis=-1))
    alpha = 1 - confidence
    low, high = np.quantile(np.concatenate(estimates), [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)
