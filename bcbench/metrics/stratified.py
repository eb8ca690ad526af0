"""Test-set uncertainty of every score: a stratified percentile bootstrap over the test images.

Each resample draws, class by class, as many images with replacement as the class has, so class
proportions stay those of the test set (the class sizes are fixed by the design, the images are the
luck). Every score of a resample comes from the same batched formula as the point value
(``bcbench.metrics.formulas``): confusion-based scores from batched confusion matrices, AUROC from
within-row ranks (the positives of a class sit in fixed columns of a stratified resample), ECE from
batched bins. Seeded: the same predictions always give the same intervals. Hand-written because no
library resamples within classes and scores every resample in one batched pass.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bcbench.metrics import formulas
from bcbench.metrics.classification import RECORD_ORDER

N_RESAMPLES = 2000
METHOD = f"stratified percentile bootstrap over test images ({N_RESAMPLES} resamples, seed 0)"
CONFUSION_KEYS = tuple(key for key in RECORD_ORDER if key not in ("precision_weighted", "recall_weighted"))


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
    estimates = resampled_scores(probs, targets, classes, n_boot, seed)
    alpha = 1 - confidence
    return {
        name: None if values is None else [float(q) for q in np.quantile(values, [alpha / 2, 1 - alpha / 2])]
        for name, values in estimates.items()
    }


def resampled_scores(
    probs: Any, targets: Any, classes: list[str], n_boot: int = N_RESAMPLES, seed: int = 0
) -> dict[str, np.ndarray | None]:
    """{metric: its value on each of ``n_boot`` stratified resamples} (None where undefined)."""
    probs = np.asarray(probs, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.int64)
    order = np.argsort(targets, kind="stable")  # group each class's images into one block of columns
    probs, targets = probs[order], targets[order]
    index = stratified_indices(targets, len(classes), n_boot, np.random.default_rng(seed))
    labels = targets[index[0]]  # stratified: every row has the same labels in the same columns
    matrices = formulas.confusion(labels[None, :], probs.argmax(axis=1)[index], len(classes))
    scores = formulas.confusion_scores(matrices)
    estimates: dict[str, np.ndarray | None] = {key: scores[key] for key in CONFUSION_KEYS}
    present = scores["support"][0] > 0  # the same in every stratified resample
    for column, name in enumerate(classes):
        estimates[f"recall_{name}"] = scores["recall"][:, column] if present[column] else None
    estimates["auroc_macro"] = formulas.auroc_macro(probs[index], labels)
    correct = probs.argmax(axis=1) == targets
    estimates["ece"] = formulas.calibration_gap(probs.max(axis=1)[index], correct[index])
    return estimates


def stratified_indices(
    targets: np.ndarray, classes: int, n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    """[n_boot, N] indices; the columns of each class's block resample that class's images only."""
    blocks = []
    for label in range(classes):
        members = np.flatnonzero(targets == label)
        if members.size:
            blocks.append(members[rng.integers(0, members.size, size=(n_boot, members.size))])
    return np.concatenate(blocks, axis=1)
