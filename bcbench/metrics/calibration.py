"""Calibration: temperature scaling fitted on validation predictions, judged by NLL, Brier score and ECE.

Temperature scaling divides the logits by one number T > 0 fitted to minimise the validation NLL
(Guo et al. 2017). Logits are recovered from stored softmax probabilities as log p: softmax(log p / T)
equals softmax(z / T) because log p differs from z by a constant per row (probabilities are clamped at
``LOG_FLOOR`` first, so a saturated output stays finite). T never changes the arg-max, so accuracy and
the confusion matrix are untouched; T = 1 is always a candidate, so the validation NLL never rises.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from scipy.optimize import minimize_scalar
from torchmetrics.functional.classification import multiclass_calibration_error

LOG_FLOOR = 1e-12
LOG_T_BOUNDS = (-4.0, 4.0)  # T between e^-4 ~ 0.018 and e^4 ~ 55
ECE_BINS = 15


def _log_probs(probs: np.ndarray) -> np.ndarray:
    return np.log(np.clip(np.asarray(probs, dtype=np.float64), LOG_FLOOR, 1.0))


def apply_temperature(probs: Any, temperature: float) -> np.ndarray:
    """Softmax of log-probabilities divided by ``temperature``: the temperature-scaled probabilities."""
    scaled = _log_probs(probs) / temperature
    scaled -= scaled.max(axis=1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=1, keepdims=True)


def nll(probs: Any, labels: Any) -> float:
    """Mean negative log-likelihood of the true class."""
    probs, labels = np.asarray(probs, dtype=np.float64), np.asarray(labels, dtype=np.int64)
    return float(-_log_probs(probs)[np.arange(labels.size), labels].mean())


def brier_score(probs: Any, labels: Any) -> float:
    """Multiclass Brier score: mean squared distance to the one-hot label (0 best, 2 worst)."""
    probs, labels = np.asarray(probs, dtype=np.float64), np.asarray(labels, dtype=np.int64)
    onehot = np.eye(probs.shape[1])[labels]
    return float(((probs - onehot) ** 2).sum(axis=1).mean())


def ece(probs: Any, labels: Any, bins: int = ECE_BINS) -> float:
    """L1 expected calibration error over equal-width confidence bins (torchmetrics)."""
    probs_t = torch.as_tensor(np.asarray(probs, dtype=np.float64))
    labels_t = torch.as_tensor(np.asarray(labels, dtype=np.int64))
    return float(
        multiclass_calibration_error(probs_t, labels_t, num_classes=probs_t.shape[1], n_bins=bins, norm="l1")
    )


def fit_temperature(val_probs: Any, val_labels: Any) -> float:
    """The T minimising validation NLL (bounded search on log T); 1.0 when nothing does better."""
    log_p = _log_probs(val_probs)
    labels = np.asarray(val_labels, dtype=np.int64)

    def objective(log_t: float) -> float:
        return nll(apply_temperature(np.exp(log_p), math.exp(log_t)), labels)

    found = minimize_scalar(objective, bounds=LOG_T_BOUNDS, method="bounded", options={"xatol": 1e-6})
    temperature = math.exp(float(found.x))
    return temperature if objective(float(found.x)) <= objective(0.0) else 1.0


def calibration_scores(probs: Any, labels: Any) -> dict[str, float]:
    return {"nll": nll(probs, labels), "brier": brier_score(probs, labels), "ece": ece(probs, labels)}


def calibration_block(val_probs: Any, val_labels: Any, test_probs: Any, test_labels: Any) -> dict[str, Any]:
    """The fitted temperature and the test NLL, Brier score and ECE before and after scaling (and the
    validation NLL both ways, which scaling never raises)."""
    temperature = fit_temperature(val_probs, val_labels)
    return {
        "method": "temperature scaling fitted on the validation predictions",
        "temperature": temperature,
        "val_nll_before": nll(val_probs, val_labels),
        "val_nll_after": nll(apply_temperature(val_probs, temperature), val_labels),
        "before": calibration_scores(test_probs, test_labels),
        "after": calibration_scores(apply_temperature(test_probs, temperature), test_labels),
    }
