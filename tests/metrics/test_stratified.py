"""The stratified bootstrap against an explicit loop: every resample drawn the same way, then every key
scored per resample by scikit-learn (and an ECE written out bin by bin), never by bcbench's formulas; the
scores that are not counts (AUROC, ECE) also by torchmetrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)
from torchmetrics.functional.classification import multiclass_auroc, multiclass_calibration_error

from bcbench.metrics.stratified import resampled_scores, stratified_bootstrap

CLASSES = ["a", "b", "c"]
N_BOOT, SEED = 12, 4  # sklearn per resample is slow: few resamples, every value compared


def _ece_by_hand(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """Guo et al. (2017): bins ((m-1)/M, m/M], |accuracy - confidence| weighted by the bin's share."""
    confidence, correct = probs.max(axis=1), probs.argmax(axis=1) == labels
    total = 0.0
    for m in range(1, bins + 1):
        low, high = (m - 1) / bins, m / bins
        inside = (confidence > low) & (confidence <= high) if m > 1 else (confidence <= high)
        if inside.any():
            total += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return total


def _resamples(
    probs: np.ndarray, targets: np.ndarray, seed: int = SEED, n_boot: int = N_BOOT
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(probabilities, targets, [N_BOOT, N] indices): within each class, draws with replacement."""
    order = np.argsort(targets, kind="stable")
    p, t = probs[order], targets[order]
    draw = np.random.default_rng(seed)
    blocks = [np.flatnonzero(t == c) for c in range(3)]
    index = np.concatenate([b[draw.integers(0, b.size, size=(n_boot, b.size))] for b in blocks], axis=1)
    return p, t, index


def _explicit_loop(probs: np.ndarray, targets: np.ndarray, n_boot: int = N_BOOT) -> dict[str, list[float]]:
    p, t, index = _resamples(probs, targets, n_boot=n_boot)
    labels = [0, 1, 2]
    loops: dict[str, list[float]] = {}
    for row in index:
        y, pred, scores = t[row], p[row].argmax(1), p[row]
        assert np.bincount(y, minlength=3).tolist() == np.bincount(targets, minlength=3).tolist()
        values = {
            "accuracy": accuracy_score(y, pred),
            "balanced_accuracy": balanced_accuracy_score(y, pred),
            "f1_macro": f1_score(y, pred, average="macro", labels=labels, zero_division=0),
            "f1_weighted": f1_score(y, pred, average="weighted", labels=labels, zero_division=0),
            "precision_macro": precision_score(y, pred, average="macro", labels=labels, zero_division=0),
            "recall_macro": recall_score(y, pred, average="macro", labels=labels, zero_division=0),
            "auroc_macro": roc_auc_score(y, scores, multi_class="ovr", average="macro"),
            "ece": _ece_by_hand(scores, y),
        }
        for column, name in enumerate(CLASSES):
            values[f"recall_{name}"] = recall_score(
                y, pred, labels=[column], average="macro", zero_division=0
            )
        for key, value in values.items():
            loops.setdefault(key, []).append(float(value))
    return loops


def _predictions(saturate: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    targets = rng.integers(0, 3, 60)
    logits = rng.normal(size=(60, 3)) + 1.5 * np.eye(3)[targets]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    if saturate:  # float32 softmax saturates: confidences of exactly 1.0 (the last ECE bin)
        probs[:8] = np.eye(3)[rng.integers(0, 3, 8)]
    return probs, targets


@pytest.mark.parametrize("saturate", [False, True])
def test_every_key_of_every_resample_equals_an_explicit_loop_with_sklearn(saturate):
    probs, targets = _predictions(saturate)
    scores = resampled_scores(probs, targets, CLASSES, n_boot=N_BOOT, seed=SEED)
    intervals = stratified_bootstrap(probs, targets, CLASSES, n_boot=N_BOOT, seed=SEED)
    loops = _explicit_loop(probs, targets)
    assert set(scores) == set(loops) == set(intervals)
    for name, values in loops.items():
        np.testing.assert_allclose(scores[name], values, rtol=0, atol=1e-12, err_msg=name)
        assert intervals[name] == pytest.approx(list(np.quantile(values, [0.025, 0.975])), abs=1e-12), name


def test_auroc_and_ece_of_every_resample_equal_torchmetrics():
    """torchmetrics works in float32, and gives a confidence of exactly 1.0 a bin of its own: unsaturated
    predictions, compared to 1e-6."""
    probs, targets = _predictions(False)
    scores = resampled_scores(probs, targets, CLASSES, n_boot=N_BOOT, seed=SEED)
    p, t, index = _resamples(probs, targets)
    for row, (auroc, ece) in enumerate(zip(scores["auroc_macro"], scores["ece"], strict=True)):
        resample, labels = torch.from_numpy(p[index[row]]), torch.from_numpy(t[index[row]])
        assert auroc == pytest.approx(float(multiclass_auroc(resample, labels, num_classes=3)), abs=1e-6)
        expected = multiclass_calibration_error(resample, labels, num_classes=3, n_bins=15, norm="l1")
        assert ece == pytest.approx(float(expected), abs=1e-6)


def test_a_class_absent_from_the_test_set_has_no_recall_or_auroc_interval():
    probs, targets = _predictions(False)
    keep = targets != 2
    intervals = stratified_bootstrap(probs[keep], targets[keep], CLASSES, n_boot=50)
    assert intervals["recall_c"] is None and intervals["auroc_macro"] is None
    assert intervals["recall_a"] is not None and intervals["accuracy"] is not None


def test_the_same_predictions_give_the_same_intervals_and_another_seed_others():
    probs, targets = _predictions(False)
    first = stratified_bootstrap(probs, targets, CLASSES, n_boot=200, seed=1)
    assert stratified_bootstrap(probs, targets, CLASSES, n_boot=200, seed=1) == first
    assert stratified_bootstrap(probs, targets, CLASSES, n_boot=200, seed=2)["f1_macro"] != first["f1_macro"]


def test_the_seed_is_zero_unless_given():
    probs, targets = _predictions(False)
    p, t, index = _resamples(probs, targets, seed=0)
    accuracy = [float((p[row].argmax(axis=1) == t[row]).mean()) for row in index]
    assert resampled_scores(probs, targets, CLASSES, n_boot=N_BOOT)["accuracy"].tolist() == pytest.approx(
        accuracy, abs=1e-12
    )
    intervals = stratified_bootstrap(probs, targets, CLASSES, n_boot=N_BOOT)
    assert intervals["accuracy"] == pytest.approx(list(np.quantile(accuracy, [0.025, 0.975])), abs=1e-12)


def test_a_single_resample_and_a_class_of_one_image_are_scored_like_any_other():
    """One resample is a valid request (its interval is its value), and a class with one test image is
    present: its recall is that image's (0 or 1 in every resample), not None."""
    probs, targets = _predictions(False)
    keep = (targets != 2) | (np.arange(len(targets)) == np.flatnonzero(targets == 2)[0])
    probs, targets = probs[keep], targets[keep]
    scores = resampled_scores(probs, targets, CLASSES, n_boot=1, seed=SEED)
    intervals = stratified_bootstrap(probs, targets, CLASSES, n_boot=1, seed=SEED)
    loop = _explicit_loop(probs, targets, n_boot=1)
    assert set(scores) == set(loop) and scores["recall_c"] is not None
    for name, values in loop.items():
        assert scores[name].tolist() == pytest.approx(values, abs=1e-12), name
        assert intervals[name] == pytest.approx(values * 2, abs=1e-12), name
