"""Test-set uncertainty of every score: a stratified percentile bootstrap over the test images.

Each resample draws, class by class, as many images with replacement as the class has, so class
proportions stay those of the test set (the class sizes are fixed by the design, the images are the
luck). Confusion-based scores come from batched confusion matrices, AUROC from within-row ranks (the
positives of a class sit in fixed columns of a stratified resample), ECE from batched bins. Seeded:
the same predictions always give the same intervals.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats as scipy_stats

from bcbench.metrics.bootstrap import batched_confusion
from bcbench.metrics.classification import safe_divide

N_RESAMPLES = 2000
METHOD = f"stratified percentile bootstrap over test images ({N_RESAMPLES} resamples, seed 0)"
ECE_BINS = 15


def stratified_bootstrap(
    probs: Any,
    targets: Any,
    classes: list[str],
    n_boot: int = N_RESAMPLES,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, list[float] | None]:
    """{metric: [low, high]} for accuracy, balanced accuracy, macro/weighted F1, macro precision and
    recall, macro AUROC, ECE and each class's recall (``recall_<class>``); None where the score is
    undefined on these images (AUROC with a class absent)."""
    probs = np.asarray(probs, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.int64)
    order = np.argsort(targets, kind="stable")  # group each class's images into one block of columns
    probs, targets = probs[order], targets[order]
    index = _stratified_indices(targets, len(classes), n_boot, np.random.default_rng(seed))
    estimates = _confusion_scores(targets, probs.argmax(axis=1), index, classes)
    estimates["auroc_macro"] = _auroc_macro(probs, targets, index, len(classes))
    estimates["ece"] = _ece(probs, targets, index)
    alpha = 1 - confidence
    return {
        name: None if values is None else [float(q) for q in np.quantile(values, [alpha / 2, 1 - alpha / 2])]
        for name, values in estimates.items()
    }


def _stratified_indices(
    targets: np.ndarray, classes: int, n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    """[n_boot, N] indices; the columns of each class's block resample that class's images only."""
    blocks = []
    for label in range(classes):
        members = np.flatnonzero(targets == label)
        if members.size:
            blocks.append(members[rng.integers(0, members.size, size=(n_boot, members.size))])
    return np.concatenate(blocks, axis=1)


def _confusion_scores(
    targets: np.ndarray, preds: np.ndarray, index: np.ndarray, classes: list[str]
) -> dict[str, np.ndarray]:
    confusion = batched_confusion(targets[index], preds[index], len(classes))
    tp = np.diagonal(confusion, axis1=1, axis2=2)
    support, predicted = confusion.sum(axis=2), confusion.sum(axis=1)
    precision, recall = safe_divide(tp, predicted), safe_divide(tp, support)
    f1 = safe_divide(2 * tp, support + predicted)
    present = support[0] > 0  # the same in every stratified resample
    weights = support / support.sum(axis=1, keepdims=True)
    scores = {
        "accuracy": tp.sum(axis=1) / support.sum(axis=1),
        "balanced_accuracy": recall[:, present].mean(axis=1),
        "f1_macro": f1.mean(axis=1),
        "f1_weighted": (weights * f1).sum(axis=1),
        "precision_macro": precision.mean(axis=1),
        "recall_macro": recall.mean(axis=1),
    }
    for column, name in enumerate(classes):
        scores[f"recall_{name}"] = recall[:, column] if present[column] else None
    return scores


def _auroc_macro(
    probs: np.ndarray, targets: np.ndarray, index: np.ndarray, classes: int
) -> np.ndarray | None:
    """Macro one-vs-rest AUROC of every resample (Mann-Whitney from midranks within each row)."""
    labels = targets[index[0]]  # stratified: every row has the same labels in the same columns
    counts = np.bincount(labels, minlength=classes)
    if (counts == 0).any():
        return None
    aurocs = []
    for label in range(classes):
        positive = labels == label
        m, n = counts[label], labels.size - counts[label]
        ranks = scipy_stats.rankdata(probs[index, label], axis=1)
        aurocs.append((ranks[:, positive].sum(axis=1) - m * (m + 1) / 2) / (m * n))
    return np.mean(aurocs, axis=0)


def _ece(probs: np.ndarray, targets: np.ndarray, index: np.ndarray) -> np.ndarray:
    """L1 expected calibration error of every resample, equal-width confidence bins (as torchmetrics)."""
    confidence = probs.max(axis=1)[index]
    correct = (probs.argmax(axis=1) == targets)[index].astype(np.float64)
    boundaries = np.linspace(0, 1, ECE_BINS + 1)
    bins = np.clip(np.searchsorted(boundaries, confidence, side="right") - 1, 0, ECE_BINS - 1)
    rows = np.arange(index.shape[0])[:, None] * ECE_BINS + bins
    size = index.shape[0] * ECE_BINS
    gap = np.bincount(rows.ravel(), weights=(confidence - correct).ravel(), minlength=size).reshape(
        -1, ECE_BINS
    )
    return np.abs(gap).sum(axis=1) / index.shape[1]


def bootstrap_intervals(probs: Any, targets: Any, classes: list[str]) -> dict[str, list[float] | None]:
    """The record's ``test.bootstrap``: 95% stratified-bootstrap intervals over test images of every score."""
    return stratified_bootstrap(np.asarray(probs), np.asarray(targets), classes)
