"""Every score's formula, written once and batched: the score of one set of predictions is the same function
on a batch of one, and the stratified bootstrap calls it on its 2000 resamples at once.

Semantics follow scikit-learn (``precision_recall_fscore_support`` with ``zero_division=0`` and all
classes listed, ``balanced_accuracy_score``, ``roc_auc_score``):

- precision_c = TP / predicted_c, recall_c = TP / support_c, f1_c = 2 TP / (support_c + predicted_c),
  each 0 when its denominator is 0; macro = unweighted mean over all classes, weighted = support-weighted;
- balanced accuracy = mean recall over the classes present in the targets;
- AUROC, one class against the rest = the Mann-Whitney statistic from midranks (a tie counts 1/2), which
  equals the area under the empirical ROC curve; undefined (None) without a positive or a negative;
- ECE = top-label L1 expected calibration error over ``ECE_BINS`` equal-width bins closed on the right,
  ((m-1)/M, m/M], as Guo et al. (2017) define them: a confidence of exactly 1.0 falls in the last bin;
- NLL = mean -log p(true class), with p clamped at ``PROB_FLOOR`` so a confidently wrong prediction is
  large but finite.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats as scipy_stats

ECE_BINS = 15
PROB_FLOOR = 1e-15


def safe_divide(numerator: Any, denominator: Any) -> np.ndarray:
    """Elementwise numerator / denominator, 0 where the denominator is 0 (zero_division=0)."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    out = np.zeros(np.broadcast(numerator, denominator).shape, dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def confusion(targets: np.ndarray, preds: np.ndarray, num_classes: int) -> np.ndarray:
    """Confusion matrices [..., C, C] (rows: true class) of class indices [..., N] (broadcast against each
    other), with one bincount."""
    targets, preds = np.broadcast_arrays(np.asarray(targets, np.int64), np.asarray(preds, np.int64))
    batch = targets.shape[:-1]
    rows = int(np.prod(batch)) if batch else 1
    cells = num_classes * num_classes
    offsets = np.arange(rows, dtype=np.int64)[:, None] * cells
    flat = (offsets + (targets * num_classes + preds).reshape(rows, -1)).ravel()
    counts = np.bincount(flat, minlength=rows * cells)
    return counts.reshape(*batch, num_classes, num_classes)


def class_counts(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True positives, support (row sums) and predicted counts (column sums) of [..., C, C]."""
    return np.diagonal(matrix, axis1=-2, axis2=-1), matrix.sum(axis=-1), matrix.sum(axis=-2)


def precision_recall_f1(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-class precision, recall and F1 [..., C] of confusion matrices [..., C, C]."""
    true_positives, support, predicted = class_counts(matrix)
    precision = safe_divide(true_positives, predicted)
    recall = safe_divide(true_positives, support)
    return precision, recall, safe_divide(2 * true_positives, support + predicted)


def accuracy(matrix: np.ndarray) -> np.ndarray:
    """Trace over total of [..., C, C]."""
    return safe_divide(np.trace(matrix, axis1=-2, axis2=-1), matrix.sum(axis=(-2, -1)))


def confusion_scores(matrix: np.ndarray) -> dict[str, np.ndarray]:
    """Every score that depends on the confusion alone, of [..., C, C]: accuracy, balanced accuracy, macro
    and weighted precision / recall / F1 (shape [...]) and per class ``precision``, ``recall``, ``f1``,
    ``support`` (shape [..., C])."""
    precision, recall, f1 = precision_recall_f1(matrix)
    support = matrix.sum(axis=-1)
    weights = safe_divide(support, support.sum(axis=-1, keepdims=True))
    present = support > 0
    return {
        "accuracy": accuracy(matrix),
        "balanced_accuracy": safe_divide((recall * present).sum(axis=-1), present.sum(axis=-1)),
        "precision_macro": precision.mean(axis=-1),
        "recall_macro": recall.mean(axis=-1),
        "f1_macro": f1.mean(axis=-1),
        "precision_weighted": (weights * precision).sum(axis=-1),
        "recall_weighted": (weights * recall).sum(axis=-1),
        "f1_weighted": (weights * f1).sum(axis=-1),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "support": support,
    }


def auroc(scores: np.ndarray, positive: np.ndarray) -> np.ndarray | None:
    """AUROC of scores [..., N] for the positives marked in ``positive`` [N] (the same images in every row
    of a batch); None when the images hold one class only."""
    positive = np.asarray(positive, dtype=bool)
    m = int(positive.sum())
    n = positive.size - m
    if m == 0 or n == 0:
        return None
    ranks = scipy_stats.rankdata(np.asarray(scores, dtype=np.float64), axis=-1)
    return (ranks[..., positive].sum(axis=-1) - m * (m + 1) / 2) / (m * n)


def auroc_macro(probs: np.ndarray, labels: np.ndarray, classes: list[int] | None = None) -> np.ndarray | None:
    """Mean one-vs-rest AUROC over ``classes`` (default: all) of probabilities [..., N, C] whose rows all
    share the labels [N]; None when a class listed has no positive or fewer than two classes are listed."""
    classes = list(range(probs.shape[-1])) if classes is None else classes
    if len(classes) < 2:
        return None
    per_class = [auroc(probs[..., column], labels == column) for column in classes]
    if any(value is None for value in per_class):
        return None
    return np.mean(per_class, axis=0)


def ece(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> np.ndarray:
    """Top-label expected calibration error of probabilities [..., N, C] with labels [..., N]."""
    correct = probs.argmax(axis=-1) == labels
    return calibration_gap(probs.max(axis=-1), correct, bins)


def confidence_bins(confidence: np.ndarray, bins: int = ECE_BINS) -> np.ndarray:
    """The bin of each top-class confidence: equal-width bins closed on the right, ((m-1)/M, m/M], so a
    confidence of exactly 1.0 is in the last bin (and 0 in the first)."""
    boundaries = np.linspace(0.0, 1.0, bins + 1)
    return np.clip(np.searchsorted(boundaries, confidence, side="left") - 1, 0, bins - 1)


def calibration_gap(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> np.ndarray:
    """ECE from top-class confidences and correctness [..., N]: the size-weighted mean over bins of
    |mean confidence - accuracy|."""
    confidence = np.asarray(confidence, dtype=np.float64)
    index = confidence_bins(confidence, bins)
    rows = int(np.prod(confidence.shape[:-1]))
    flat = (np.arange(rows)[:, None] * bins + index.reshape(rows, -1)).ravel()
    weights = (confidence - np.asarray(correct, dtype=np.float64)).reshape(-1)
    gap = np.bincount(flat, weights=weights, minlength=rows * bins).reshape(rows, bins)
    return (np.abs(gap).sum(axis=1) / confidence.shape[-1]).reshape(confidence.shape[:-1])


def reliability(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> dict[str, np.ndarray]:
    """Per confidence bin (the ECE's bins): the number of images, their mean top-class confidence and
    their accuracy (NaN in an empty bin); ECE = sum over bins of count / N x |confidence - accuracy|."""
    confidence, correct = probs.max(axis=1), probs.argmax(axis=1) == labels
    index = confidence_bins(confidence, bins)
    count = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(index, weights=confidence, minlength=bins) / count
        accuracy = np.bincount(index, weights=correct, minlength=bins) / count
    return {"confidence": mean_confidence, "accuracy": accuracy, "count": count}


def nll(probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-likelihood of the true class (probabilities clamped at ``PROB_FLOOR``)."""
    probs, labels = np.asarray(probs, dtype=np.float64), np.asarray(labels, dtype=np.int64)
    true_class = probs[np.arange(labels.size), labels]
    return float(-np.log(np.clip(true_class, PROB_FLOOR, 1.0)).mean())
