"""Calibration: temperature scaling fitted on validation predictions, judged by NLL, Brier score and ECE.

Temperature scaling divides the logits by one number T > 0 fitted to minimise the validation NLL
(Guo et al. 2017). Logits are recovered from stored softmax probabilities as log p: softmax(log p / T)
equals softmax(z / T) because log p differs from z by a constant per row (probabilities are clamped at
``PROB_FLOOR`` first, so a saturated output stays finite). T never changes the arg-max, so accuracy and
the confusion matrix are untouched; T = 1 is always a candidate, so the validation NLL never rises.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar

from bcbench.metrics.formulas import PROB_FLOOR, ece, nll

LOG_T_BOUNDS = (-4.0, 4.0)  # T between e^-4 ~ 0.018 and e^4 ~ 55
METHOD = "temperature scaling fitted on the validation predictions"


def _log_probs(probs: np.ndarray) -> np.ndarray:
    return np.log(np.clip(np.asarray(probs, dtype=np.float64), PROB_FLOOR, 1.0))


def apply_temperature(probs: Any, temperature: float) -> np.ndarray:
    """Softmax of log-probabilities divided by ``temperature``: the temperature-scaled probabilities."""
    scaled = _log_probs(probs) / temperature
    scaled -= scaled.max(axis=1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=1, keepdims=True)


def brier_multiclass(probs: Any, labels: Any) -> float:
    """Multiclass Brier score (Brier 1950): mean squared distance to the one-hot label, summed over
    classes (0 best, 2 worst); on two classes it is twice the usual binary Brier score."""
    probs, labels = np.asarray(probs, dtype=np.float64), np.asarray(labels, dtype=np.int64)
    onehot = np.eye(probs.shape[1])[labels]
    return float(((probs - onehot) ** 2).sum(axis=1).mean())


def brier_one_vs_rest(probs: Any, labels: Any, column: int) -> float:
    """The usual (binary) Brier score of one class against the rest: mean (p_class - [label == class])^2
    (0 best, 1 worst)."""
    probs, labels = np.asarray(probs, dtype=np.float64), np.asarray(labels, dtype=np.int64)
    return float(((probs[:, column] - (labels == column)) ** 2).mean())


def fit_temperature(val_probs: Any, val_labels: Any) -> float:
    """The T minimising validation NLL (bounded search on log T); 1.0 when nothing does better."""
    log_p = _log_probs(val_probs)
    labels = np.asarray(val_labels, dtype=np.int64)

    def objective(log_t: float) -> float:
        return nll(apply_temperature(np.exp(log_p), math.exp(log_t)), labels)

    found = minimize_scalar(objective, bounds=LOG_T_BOUNDS, method="bounded", options={"xatol": 1e-6})
    temperature = math.exp(float(found.x))
    return temperature if objective(float(found.x)) < objective(0.0) else 1.0  # a tie keeps T = 1


def calibration_scores(probs: Any, labels: Any, positive: int | None = None) -> dict[str, float]:
    """NLL, the multiclass Brier score, the top-label ECE of probabilities [N, C] against labels [N]; with
    two classes also ``brier``, the usual binary Brier score of class 1; with a ``positive`` class index
    also ``brier_positive``, that class's one-vs-rest Brier score."""
    probs, labels = np.asarray(probs, dtype=np.float64), np.asarray(labels, dtype=np.int64)
    scores = {"nll": nll(probs, labels), "ece": float(ece(probs, labels))}
    scores["brier_multiclass"] = brier_multiclass(probs, labels)
    if probs.shape[1] == 2:
        scores["brier"] = brier_one_vs_rest(probs, labels, 1)
    if positive is not None:
        scores["brier_positive"] = brier_one_vs_rest(probs, labels, positive)
    return scores


def calibration_block(val_probs: Any, val_labels: Any, test_probs: Any, test_labels: Any) -> dict[str, Any]:
    """The fitted temperature and the test NLL, Brier score and ECE before and after scaling (and the
    validation NLL both ways, which scaling never raises)."""
    temperature = fit_temperature(val_probs, val_labels)
    return {
        "method": METHOD,
        "temperature": temperature,
        "val_nll_before": nll(val_probs, val_labels),
        "val_nll_after": nll(apply_temperature(val_probs, temperature), val_labels),
        "before": calibration_scores(test_probs, test_labels),
        "after": calibration_scores(apply_temperature(test_probs, temperature), test_labels),
    }
