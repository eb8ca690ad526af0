"""Scores over the classes an external set holds, and the validation scores that pick the best epoch."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score, roc_auc_score

from bcbench.metrics import TestMetrics, evaluate, evaluate_external, selection_score
from bcbench.metrics.classification import present_class_metrics


def test_external_metrics_cover_the_classes_present_only():
    # true classes 0 and 2 only (class 1 absent); the model predicts class 1 once (an error)
    probs = torch.tensor(
        [[0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7], [0.3, 0.1, 0.6], [0.5, 0.1, 0.4]]
    )
    targets = torch.tensor([0, 0, 0, 2, 2, 2])
    metrics = present_class_metrics(probs, targets, ["benign", "malignant", "normal"])
    assert metrics["classes_present"] == ["benign", "normal"]
    assert set(metrics["per_class"]) == {"benign", "normal"}
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    preds = probs.argmax(1).numpy()
    assert metrics["f1_macro"] == pytest.approx(f1_score(targets, preds, labels=[0, 2], average="macro"))
    expected_auroc = np.mean([roc_auc_score(targets == c, probs[:, c]) for c in (0, 2)])
    assert metrics["auroc_macro"] == pytest.approx(expected_auroc)
    assert metrics["confusion_matrix"][0] == [2, 1, 0]  # the absent class is still a column


def test_evaluate_external_is_the_test_block_of_the_classes_present():
    probs = np.array([[0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7], [0.3, 0.1, 0.6], [0.5, 0.1, 0.4]])
    targets = np.array([0, 0, 2, 2, 2])
    block = evaluate_external(probs, targets, ["benign", "malignant", "normal"])
    preds = probs.argmax(1)
    assert isinstance(block, TestMetrics) and block.classes_present == ["benign", "normal"]
    assert block.accuracy == pytest.approx(3 / 5)
    assert block.f1_macro == pytest.approx(f1_score(targets, preds, labels=[0, 2], average="macro"))
    assert block.per_class["normal"].recall == pytest.approx(2 / 3) and "malignant" not in block.per_class


def test_a_class_of_one_image_is_present_and_one_class_alone_has_no_auroc():
    probs = np.array([[0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7]])
    metrics = present_class_metrics(probs, np.array([0, 0, 1]), ["benign", "malignant", "normal"])
    assert metrics["classes_present"] == ["benign", "malignant"]
    targets = np.array([0, 0, 1])
    expected = np.mean([roc_auc_score(targets == c, probs[:, c]) for c in (0, 1)])  # 1 and 1/4
    assert metrics["auroc_macro"] == pytest.approx(expected)
    alone = present_class_metrics(probs, np.array([2, 2, 2]), ["benign", "malignant", "normal"])
    assert alone["classes_present"] == ["normal"] and alone["auroc_macro"] is None


def test_selection_scores_have_the_right_direction_and_values():
    probs = torch.tensor([[0.9, 0.1], [0.4, 0.6], [0.3, 0.7], [0.8, 0.2]])
    labels = torch.tensor([0, 0, 1, 1])
    assert selection_score("val_loss") == (False, None)
    higher, accuracy = selection_score("val_accuracy")
    assert higher and accuracy(probs, labels) == pytest.approx(0.5)
    assert selection_score("val_f1_macro")[1](probs, labels) == pytest.approx(
        f1_score(labels, [0, 1, 1, 0], average="macro")
    )
    assert selection_score("val_auroc")[1](probs, labels) == pytest.approx(roc_auc_score(labels, probs[:, 1]))
    assert [
        selection_score(name)[0] for name in ("val_loss", "val_accuracy", "val_f1_macro", "val_auroc")
    ] == [
        False,
        True,
        True,
        True,
    ]
    assert math.isnan(selection_score("val_auroc")[1](probs, torch.tensor([0, 0, 0, 0])))
    with pytest.raises(ValueError) as caught:
        selection_score("val_precision")
    assert str(caught.value) == (
        "unknown selection 'val_precision'; use one of val_loss, val_accuracy, val_f1_macro, val_auroc"
    )


def test_evaluate_scores_the_test_set_bootstraps_it_and_calibrates_on_validation():
    from sklearn.metrics import accuracy_score, balanced_accuracy_score

    rng = np.random.default_rng(1)
    test_targets = np.repeat([0, 1, 2], 6)
    test_probs = rng.dirichlet([1, 1, 1], 18)
    val_probs = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8], [0.8, 0.1, 0.1]])
    val_targets = torch.tensor([0, 1, 2, 1])  # one confident error: T > 1
    block = evaluate(
        torch.tensor(test_probs), torch.tensor(test_targets), val_probs, val_targets, ("a", "b", "c")
    )
    preds = test_probs.argmax(1)
    assert isinstance(block, TestMetrics) and block.extra == {} and block.classes_present is None
    assert block.n == 18 and block.accuracy == pytest.approx(accuracy_score(test_targets, preds))
    assert block.balanced_accuracy == pytest.approx(balanced_accuracy_score(test_targets, preds))
    assert (
        block.bootstrap_method == "stratified percentile bootstrap over test images (2000 resamples, seed 0)"
    )
    low, high = block.bootstrap["accuracy"]
    assert (
        low <= block.accuracy <= high and high - low > 0.1
    )  # over the 18 test images, not the 4 of validation
    calibration = block.calibration
    assert calibration["before"]["nll"] == pytest.approx(
        -np.mean(np.log(test_probs[np.arange(18), test_targets]))
    )
    assert calibration["val_nll_before"] == pytest.approx(-(3 * math.log(0.8) + math.log(0.1)) / 4)
    assert calibration["temperature"] > 1 and calibration["val_nll_after"] < calibration["val_nll_before"]
