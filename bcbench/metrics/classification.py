"""Test/validation metrics of a classifier, as plain JSON-serialisable dicts.

`classification_metrics` produces the `test` block of the results record contract
(see DESIGN.md). Everything that depends only on the confusion matrix (accuracy, balanced
accuracy, precision/recall/F1 per class and averaged) is computed by one pure numpy function,
`metrics_from_confusion`, so a record can be re-derived from its stored matrix and the
bootstrap uses the same formulas.

Semantics follow scikit-learn's `classification_report` / `precision_recall_fscore_support`
with `zero_division=0` and `labels=` all classes:

- precision_c = TP / predicted_c, 0 when class c is never predicted;
- recall_c = TP / support_c, 0 when class c has no support;
- f1_c = 2 TP / (support_c + predicted_c), 0 when both are 0 (sklearn >= 1.3 formula);
- macro = unweighted mean over *all* classes listed; weighted = support-weighted mean;
- balanced accuracy = mean recall over the classes present in the targets
  (sklearn's `balanced_accuracy_score`);
- AUROC is one-vs-rest, macro-averaged (torchmetrics `MulticlassAUROC(average="macro")`);
  it is undefined when a class has no positive example, and then `auroc_macro` is None;
- ECE is the L1 expected calibration error over `ece_bins` equal-width confidence bins
  (torchmetrics `MulticlassCalibrationError(norm="l1")`);
- nll is the mean cross-entropy -log p(true class); probabilities are clamped to
  `NLL_MIN_PROB` first so a confidently wrong prediction gives a large finite value, not inf.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torchmetrics.functional.classification import (
    binary_auroc,
    multiclass_auroc,
    multiclass_calibration_error,
    multiclass_confusion_matrix,
)

NLL_MIN_PROB = 1e-15


PROB_SUM_TOLERANCE = 1e-2  # loose enough for float16/bfloat16 softmax outputs


def safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Elementwise numerator / denominator, 0 where the denominator is 0 (zero_division=0)."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    out = np.zeros(np.broadcast(numerator, denominator).shape, dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def _per_class_counts(confusion: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True positives, support (row sums) and predicted counts (column sums); works on [..., C, C]."""
    true_positives = np.diagonal(confusion, axis1=-2, axis2=-1)
    support = confusion.sum(axis=-1)
    predicted = confusion.sum(axis=-2)
    return true_positives, support, predicted


def per_class_f1(confusion: np.ndarray) -> np.ndarray:
    """Per-class F1 = 2 TP / (support + predicted), 0 when undefined; works on [..., C, C]."""
    true_positives, support, predicted = _per_class_counts(confusion)
    return safe_divide(2 * true_positives, support + predicted)


def confusion_accuracy(confusion: np.ndarray) -> np.ndarray:
    """Trace over total; works on [..., C, C]."""
    total = confusion.sum(axis=(-2, -1))
    return safe_divide(np.trace(confusion, axis1=-2, axis2=-1), total)


def _validated_confusion(confusion: Any, class_names: Sequence[str]) -> np.ndarray:
    matrix = np.asarray(confusion)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"confusion matrix must be square [C, C], got shape {matrix.shape}")
    if matrix.shape[0] != len(class_names):
        raise ValueError(f"confusion matrix has {matrix.shape[0]} classes but {len(class_names)} names given")
    if len(set(class_names)) != len(class_names):
        raise ValueError(f"class names must be unique, got {list(class_names)}")
    if matrix.size and (np.any(matrix < 0) or np.any(matrix != np.round(matrix))):
        raise ValueError("confusion matrix entries must be non-negative integer counts")
    matrix = matrix.astype(np.int64)
    if matrix.sum() == 0:
        raise ValueError("confusion matrix is empty (no samples): metrics are undefined")
    return matrix


def metrics_from_confusion(confusion: Any, class_names: Sequence[str]) -> dict[str, Any]:
    """Accuracy, balanced accuracy and precision/recall/F1 (per class, macro, weighted) from counts.

    `confusion[i][j]` counts samples of true class i predicted as class j. Returns plain floats:
    accuracy, balanced_accuracy, precision_macro, recall_macro, f1_macro, precision_weighted,
    recall_weighted, f1_weighted, per_class{name: {precision, recall, f1, support}}.
    """
    matrix = _validated_confusion(confusion, class_names)
    true_positives, support, predicted = _per_class_counts(matrix)
    precision = safe_divide(true_positives, predicted)
    recall = safe_divide(true_positives, support)
    f1 = per_class_f1(matrix)
    weights = support / support.sum()
    present = support > 0
    return {
        "accuracy": float(confusion_accuracy(matrix)),
        "balanced_accuracy": float(recall[present].mean()),
        "precision_macro": float(precision.mean()),
        "recall_macro": float(recall.mean()),
        "f1_macro": float(f1.mean()),
        "precision_weighted": float(np.sum(weights * precision)),
        "recall_weighted": float(np.sum(weights * recall)),
        "f1_weighted": float(np.sum(weights * f1)),
        "per_class": {
            name: {
                "precision": float(precision[index]),
                "recall": float(recall[index]),
                "f1": float(f1[index]),
                "support": int(support[index]),
            }
            for index, name in enumerate(class_names)
        },
    }


def _validated_probs_and_targets(
    probs: torch.Tensor, targets: torch.Tensor, num_classes: int
) -> tuple[torch.Tensor, torch.Tensor]:
    probs = torch.as_tensor(probs).detach().cpu().to(torch.float64)
    targets = torch.as_tensor(targets).detach().cpu().to(torch.int64)
    if probs.ndim != 2 or probs.shape[1] != num_classes:
        raise ValueError(f"probs must have shape [N, {num_classes}], got {tuple(probs.shape)}")
    if targets.ndim != 1 or targets.shape[0] != probs.shape[0]:
        raise ValueError(f"targets must have shape [{probs.shape[0]}], got {tuple(targets.shape)}")
    if probs.shape[0] == 0:
        raise ValueError("no samples: metrics are undefined")
    if targets.min() < 0 or targets.max() >= num_classes:
        raise ValueError(f"targets must lie in [0, {num_classes}), got {targets.min()}..{targets.max()}")
    if not bool(torch.isfinite(probs).all()):
        raise ValueError("probs contain NaN or inf (did the model diverge?): metrics are undefined")
    in_unit_range = bool(((probs >= 0) & (probs <= 1)).all())
    sums_to_one = bool(
        torch.allclose(probs.sum(dim=1), torch.ones(1, dtype=torch.float64), atol=PROB_SUM_TOLERANCE)
    )
    if not (in_unit_range and sums_to_one):
        raise ValueError("probs must be softmax probabilities (rows in [0, 1] summing to 1), not logits")
    return probs, targets


def _auroc_macro_or_none(probs: torch.Tensor, targets: torch.Tensor, num_classes: int) -> float | None:
    """One-vs-rest macro AUROC, or None when some class has no positive example (undefined)."""
    if bool((torch.bincount(targets, minlength=num_classes) == 0).any()):
        return None
    return float(multiclass_auroc(probs, targets, num_classes=num_classes, average="macro", thresholds=None))


def _mean_nll(probs: torch.Tensor, targets: torch.Tensor) -> float:
    true_class_probs = probs.gather(1, targets.unsqueeze(1)).squeeze(1)
    return float(-torch.log(true_class_probs.clamp_min(NLL_MIN_PROB)).mean())


def classification_metrics(
    probs: torch.Tensor, targets: torch.Tensor, class_names: list[str], ece_bins: int = 15
) -> dict[str, Any]:
    """The record's `test` block from softmax probabilities [N, C] and int targets [N].

    Keys: accuracy, balanced_accuracy, f1_macro, f1_weighted, precision_macro, recall_macro,
    precision_weighted, recall_weighted, auroc_macro (None when a class is absent from targets),
    ece, nll, n, per_class{name: {precision, recall, f1, support}}, confusion_matrix (rows = true
    class, columns = predicted). Predictions are the argmax of `probs`. All values are plain Python.
    """
    num_classes = len(class_names)
    probs, targets = _validated_probs_and_targets(probs, targets, num_classes)
    preds = probs.argmax(dim=1)
    confusion = multiclass_confusion_matrix(preds, targets, num_classes=num_classes).numpy()
    from_confusion = metrics_from_confusion(confusion, class_names)
    ece = multiclass_calibration_error(probs, targets, num_classes=num_classes, n_bins=ece_bins, norm="l1")
    return {
        "accuracy": from_confusion["accuracy"],
        "balanced_accuracy": from_confusion["balanced_accuracy"],
        "f1_macro": from_confusion["f1_macro"],
        "f1_weighted": from_confusion["f1_weighted"],
        "precision_macro": from_confusion["precision_macro"],
        "recall_macro": from_confusion["recall_macro"],
        "precision_weighted": from_confusion["precision_weighted"],
        "recall_weighted": from_confusion["recall_weighted"],
        "auroc_macro": _auroc_macro_or_none(probs, targets, num_classes),
        "ece": float(ece),
        "nll": _mean_nll(probs, targets),
        "n": int(targets.shape[0]),
        "per_class": from_confusion["per_class"],
        "confusion_matrix": confusion.astype(int).tolist(),
    }


def present_class_metrics(
    probs: torch.Tensor, targets: torch.Tensor, class_names: list[str]
) -> dict[str, Any]:
    """``classification_metrics`` for a test set that lacks some of the model's classes (an external set).

    The confusion matrix keeps every class (the model may still predict an absent one); per-class
    scores, macro averages and the macro AUROC (one-vs-rest) cover the classes present in ``targets``
    only, named in ``classes_present``. Accuracy, weighted averages, balanced accuracy, ECE and NLL are
    unchanged (an absent class has no weight in them).
    """
    metrics = classification_metrics(probs, targets, class_names)
    probs, targets = _validated_probs_and_targets(probs, targets, len(class_names))
    present = [name for name in class_names if metrics["per_class"][name]["support"] > 0]
    per_class = {name: metrics["per_class"][name] for name in present}
    for key in ("precision", "recall", "f1"):
        metrics[f"{key}_macro"] = float(np.mean([scores[key] for scores in per_class.values()]))
    metrics["per_class"] = per_class
    metrics["auroc_macro"] = _present_auroc(probs, targets, [class_names.index(name) for name in present])
    metrics["classes_present"] = present
    return metrics


def _present_auroc(probs: torch.Tensor, targets: torch.Tensor, present: list[int]) -> float | None:
    """Mean one-vs-rest AUROC over the present classes; None with fewer than two present."""
    if len(present) < 2:
        return None
    scores = [float(binary_auroc(probs[:, index], (targets == index).long())) for index in present]
    return float(np.mean(scores))
