"""Scores of validation predictions that can pick the best epoch (``train.select_by``)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torchmetrics.functional.classification import multiclass_auroc

from bcbench.metrics.classification import confusion_accuracy, per_class_f1

Score = Callable[[torch.Tensor, torch.Tensor], float]


def selection_score(name: str) -> tuple[bool, Score | None]:
    """(higher is better, score of (probabilities, labels)) for ``train.select_by``; ``val_loss`` has no
    score here because the training loop computes it."""
    scores: dict[str, tuple[bool, Score | None]] = {
        "val_loss": (False, None),
        "val_accuracy": (True, _accuracy),
        "val_f1_macro": (True, _f1_macro),
        "val_auroc": (True, _auroc_macro),
    }
    if name not in scores:
        raise ValueError(f"unknown selection {name!r}; use one of {', '.join(scores)}")
    return scores[name]


def _confusion(probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    classes = probs.shape[1]
    flat = labels.long() * classes + probs.argmax(1)
    return torch.bincount(flat, minlength=classes * classes).view(classes, classes)


def _accuracy(probs: torch.Tensor, labels: torch.Tensor) -> float:
    return float(confusion_accuracy(_confusion(probs, labels).numpy()))


def _f1_macro(probs: torch.Tensor, labels: torch.Tensor) -> float:
    return float(per_class_f1(_confusion(probs, labels).numpy()).mean())


def _auroc_macro(probs: torch.Tensor, labels: torch.Tensor) -> float:
    """One-vs-rest macro AUROC; NaN when a class is missing from the validation labels (undefined)."""
    classes = probs.shape[1]
    if bool((torch.bincount(labels.long(), minlength=classes) == 0).any()):
        return math.nan
    return float(
        multiclass_auroc(probs.float(), labels.long(), num_classes=classes, average="macro", thresholds=None)
    )
