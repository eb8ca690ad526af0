"""A classifier's scores as plain JSON-serialisable dicts, from softmax probabilities or a confusion matrix.

Every number comes from ``bcbench.metrics.formulas`` (see there for the definitions); this module checks
its inputs and names the results: ``classification_metrics`` for a test set that holds every class,
``present_class_metrics`` for an external set that may lack some, ``metrics_from_confusion`` for what a
confusion matrix alone determines (a record can be re-derived from its stored matrix).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from bcbench.metrics import formulas

PROB_SUM_TOLERANCE = 1e-2  # loose enough for float16/bfloat16 softmax outputs


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

    ``confusion[i][j]`` counts samples of true class i predicted as class j. Returns plain floats:
    accuracy, balanced_accuracy, precision_macro, recall_macro, f1_macro, precision_weighted,
    recall_weighted, f1_weighted, per_class{name: {precision, recall, f1, support}}.
    """
    scores = formulas.confusion_scores(_validated_confusion(confusion, class_names))
    result: dict[str, Any] = {name: float(scores[name]) for name in CONFUSION_AVERAGES}
    result["per_class"] = {
        name: {
            "precision": float(scores["precision"][index]),
            "recall": float(scores["recall"][index]),
            "f1": float(scores["f1"][index]),
            "support": int(scores["support"][index]),
        }
        for index, name in enumerate(class_names)
    }
    return result


CONFUSION_AVERAGES = (
    "accuracy",
    "balanced_accuracy",
    "precision_macro",
    "recall_macro",
    "f1_macro",
    "precision_weighted",
    "recall_weighted",
    "f1_weighted",
)


def validated_probs(probs: Any, targets: Any, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities [N, C] float64, targets [N] int64) as numpy, or a ValueError saying what is wrong."""
    if isinstance(probs, torch.Tensor):
        probs = probs.detach().cpu().double().numpy()
    if isinstance(targets, torch.Tensor):
        targets = targets.detach().cpu().numpy()
    probs, targets = np.asarray(probs, dtype=np.float64), np.asarray(targets).astype(np.int64)
    if probs.ndim != 2 or probs.shape[1] != num_classes:
        raise ValueError(f"probs must have shape [N, {num_classes}], got {tuple(probs.shape)}")
    if targets.ndim != 1 or targets.shape[0] != probs.shape[0]:
        raise ValueError(f"targets must have shape [{probs.shape[0]}], got {tuple(targets.shape)}")
    if probs.shape[0] == 0:
        raise ValueError("no samples: metrics are undefined")
    if targets.min() < 0 or targets.max() >= num_classes:
        raise ValueError(f"targets must lie in [0, {num_classes}), got {targets.min()}..{targets.max()}")
    if not np.isfinite(probs).all():
        raise ValueError("probs contain NaN or inf (did the model diverge?): metrics are undefined")
    in_unit_range = bool(((probs >= 0) & (probs <= 1)).all())
    sums_to_one = bool(np.allclose(probs.sum(axis=1), 1.0, rtol=0.0, atol=PROB_SUM_TOLERANCE))
    if not (in_unit_range and sums_to_one):
        raise ValueError("probs must be softmax probabilities (rows in [0, 1] summing to 1), not logits")
    return probs, targets


def classification_metrics(probs: Any, targets: Any, class_names: Sequence[str]) -> dict[str, Any]:
    """Every score of softmax probabilities [N, C] against int targets [N] (numpy or torch).

    Keys: accuracy, balanced_accuracy, f1_macro, f1_weighted, precision_macro, recall_macro,
    precision_weighted, recall_weighted, auroc_macro (None when a class is absent from targets),
    ece, nll, n, per_class{name: {precision, recall, f1, support}}, confusion_matrix (rows = true
    class, columns = predicted). Predictions are the argmax of ``probs``. All values are plain Python.
    """
    probs, targets = validated_probs(probs, targets, len(class_names))
    matrix = formulas.confusion(targets, probs.argmax(axis=1), len(class_names))
    auroc = formulas.auroc_macro(probs, targets)
    scores = metrics_from_confusion(matrix, class_names)
    return {
        **{key: scores[key] for key in RECORD_ORDER},
        "auroc_macro": None if auroc is None else float(auroc),
        "ece": float(formulas.ece(probs, targets)),
        "nll": formulas.nll(probs, targets),
        "n": int(targets.size),
        "per_class": scores["per_class"],
        "confusion_matrix": matrix.astype(int).tolist(),
    }


RECORD_ORDER = (
    "accuracy",
    "balanced_accuracy",
    "f1_macro",
    "f1_weighted",
    "precision_macro",
    "recall_macro",
    "precision_weighted",
    "recall_weighted",
)


def present_class_metrics(probs: Any, targets: Any, class_names: Sequence[str]) -> dict[str, Any]:
    """``classification_metrics`` for a test set that lacks some of the model's classes (an external set).

    The confusion matrix keeps every class (the model may still predict an absent one); per-class
    scores, macro averages and the macro AUROC (one-vs-rest) cover the classes present in ``targets``
    only, named in ``classes_present``. Accuracy, weighted averages, balanced accuracy, ECE and NLL are
    unchanged (an absent class has no weight in them).
    """
    metrics = classification_metrics(probs, targets, class_names)
    probs, targets = validated_probs(probs, targets, len(class_names))
    present = [name for name in class_names if metrics["per_class"][name]["support"] > 0]
    per_class = {name: metrics["per_class"][name] for name in present}
    for key in ("precision", "recall", "f1"):
        metrics[f"{key}_macro"] = float(np.mean([scores[key] for scores in per_class.values()]))
    metrics["per_class"] = per_class
    auroc = formulas.auroc_macro(probs, targets, [list(class_names).index(name) for name in present])
    metrics["auroc_macro"] = None if auroc is None else float(auroc)
    metrics["classes_present"] = present
    return metrics
