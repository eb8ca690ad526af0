"""The study's confusion matrices as fixtures, and predictions that reproduce a matrix."""

from __future__ import annotations

import numpy as np
import torch

CLASSES = ["benign", "malignant", "normal"]


# The study's test-set confusion matrices (rows = true benign/malignant/normal, columns = predicted).
SIMPLE_CNN = [[54, 9, 3], [9, 18, 4], [10, 2, 8]]


MOBILENET = [[60, 6, 0], [18, 13, 0], [13, 3, 4]]


RESNET101 = [[59, 4, 3], [3, 27, 1], [4, 0, 16]]


def probs_for_confusion(confusion: list[list[int]], peak: float = 0.8) -> tuple[torch.Tensor, torch.Tensor]:
    """Probabilities/targets whose argmax confusion is `confusion`: `peak` on the predicted class."""
    num_classes = len(confusion)
    off_peak = (1 - peak) / (num_classes - 1)
    rows, targets = [], []
    for true_class, counts in enumerate(confusion):
        for predicted_class, count in enumerate(counts):
            row = [off_peak] * num_classes
            row[predicted_class] = peak
            rows += [row] * count
            targets += [true_class] * count
    return torch.tensor(rows, dtype=torch.float64), torch.tensor(targets, dtype=torch.int64)


def predictions_for_confusion(confusion: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    probs, targets = probs_for_confusion(confusion)
    return probs.argmax(dim=1).numpy(), targets.numpy()
