"""Scores of validation predictions that can pick the best epoch (``train.select_by``)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from bcbench.metrics import formulas

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


def _arrays(probs: torch.Tensor, labels: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    return probs.detach().cpu().double().numpy(), labels.detach().cpu().long().numpy()


def _confusion(probs: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
    values, targets = _arrays(probs, labels)
    return formulas.confusion(targets, values.argmax(axis=1), values.shape[1])


def _accuracy(probs: torch.Tensor, labels: torch.Tensor) -> float:
    return float(formulas.accuracy(_confusion(probs, labels)))


def _f1_macro(probs: torch.Tensor, labels: torch.Tensor) -> float:
    return float(formulas.confusion_scores(_confusion(probs, labels))["f1_macro"])


def _auroc_macro(probs: torch.Tensor, labels: torch.Tensor) -> float:
    """One-vs-rest macro AUROC; NaN when a class is missing from the validation labels (undefined)."""
    value = formulas.auroc_macro(*_arrays(probs, labels))
    return math.nan if value is None else float(value)
