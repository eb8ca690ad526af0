"""Operating points against values counted by hand, and the stratified bootstrap against an explicit loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import balanced_accuracy_score, f1_score, recall_score, roc_auc_score

from bcbench.metrics.operating import (
    choose_threshold,
    default_positive_class,
    rates_at,
    sensitivity_at_specificity,
)
from bcbench.metrics.stratified import stratified_bootstrap

SCORES = np.array([0.1, 0.4, 0.35, 0.8, 0.7, 0.2, 0.9, 0.55])
POSITIVE = np.array([0, 0, 1, 1, 1, 0, 1, 0], dtype=bool)


def test_thresholds_by_rule_counted_by_hand():
    # sorted: 0.9+ 0.8+ 0.7+ 0.55- 0.4- 0.35+ 0.2- 0.1-; Youden's J is largest (0.75) at 0.7
    assert choose_threshold(SCORES, POSITIVE, "youden") == 0.7
    assert choose_threshold(SCORES, POSITIVE, "sensitivity", 1.0) == 0.35  # the highest reaching all 4
    assert choose_threshold(SCORES, POSITIVE, "specificity", 0.75) == 0.55  # 3 of 4 negatives below
    rates = rates_at(SCORES, POSITIVE, 0.55)
    assert (rates["tp"], rates["fp"], rates["tn"], rates["fn"]) == (3, 1, 3, 1)
    assert (rates["sensitivity"], rates["specificity"], rates["ppv"], rates["npv"]) == (
        0.75,
        0.75,
        0.75,
        0.75,
    )
    with pytest.raises(ValueError, match="one class only"):
        choose_threshold(SCORES, np.ones(8, dtype=bool))


def test_sensitivity_at_a_fixed_specificity():
    assert sensitivity_at_specificity(SCORES, POSITIVE, 0.75) == 0.75  # 0.55 lets one negative through
    assert sensitivity_at_specificity(SCORES, POSITIVE, 1.0) == 0.75  # at 0.7 no negative is called
    assert sensitivity_at_specificity(SCORES, np.zeros(8, dtype=bool), 0.9) is None


def test_the_positive_class_default():
    assert default_positive_class(["benign", "malignant", "normal"]) == "malignant"
    assert default_positive_class(["healthy", "sick"]) == "sick"
    assert default_positive_class(["a", "b", "c"]) is None


def test_stratified_bootstrap_equals_an_explicit_loop_and_keeps_class_sizes():
    rng = np.random.default_rng(0)
    targets = rng.integers(0, 3, 60)
    logits = rng.normal(size=(60, 3)) + 1.5 * np.eye(3)[targets]
    probs = torch.softmax(torch.tensor(logits), dim=1).numpy()
    intervals = stratified_bootstrap(probs, targets, ["a", "b", "c"], n_boot=100, seed=4)
    order = np.argsort(targets, kind="stable")
    p, t = probs[order], targets[order]
    draw = np.random.default_rng(4)
    blocks = [np.flatnonzero(t == c) for c in range(3)]
    index = np.concatenate([b[draw.integers(0, b.size, size=(100, b.size))] for b in blocks], axis=1)
    loops = {"accuracy": [], "balanced_accuracy": [], "f1_macro": [], "recall_b": [], "auroc_macro": []}
    for row in index:
        y, pred = t[row], p[row].argmax(1)
        assert np.bincount(y, minlength=3).tolist() == np.bincount(targets, minlength=3).tolist()
        loops["accuracy"].append((y == pred).mean())
        loops["balanced_accuracy"].append(balanced_accuracy_score(y, pred))
        loops["f1_macro"].append(f1_score(y, pred, average="macro", labels=[0, 1, 2], zero_division=0))
        loops["recall_b"].append(recall_score(y, pred, labels=[1], average="macro", zero_division=0))
        loops["auroc_macro"].append(roc_auc_score(y, p[row], multi_class="ovr", average="macro"))
    for name, values in loops.items():
        assert intervals[name] == pytest.approx(list(np.quantile(values, [0.025, 0.975]))), name
