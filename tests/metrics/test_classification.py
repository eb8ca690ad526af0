"""Classification metrics against values worked out by hand (the study's confusion matrices)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from scipy import stats as scipy_stats

from bcbench.metrics import classification_metrics, metrics_from_confusion
from tests.metrics.matrices import CLASSES, MOBILENET, RESNET101, SIMPLE_CNN, probs_for_confusion

# torchmetrics computes AUROC and ECE in float32, so they match hand values to ~1e-7, not 1e-12.
TORCHMETRICS_ABS = 1e-6


# Hand case for one-vs-rest AUROC = P(score of a positive > score of a negative), ties 1/2.
AUROC_PROBS = [
    [0.6, 0.3, 0.1],  # target 0
    [0.4, 0.4, 0.2],  # target 0
    [0.2, 0.7, 0.1],  # target 1
    [0.4, 0.4, 0.2],  # target 1
    [0.1, 0.2, 0.7],  # target 2
    [0.5, 0.1, 0.4],  # target 2
]


AUROC_TARGETS = [0, 0, 1, 1, 2, 2]


# class 0: positives {0.6, 0.4} vs negatives {0.2, 0.4, 0.1, 0.5}: 0.6 wins 4; 0.4 wins 2, ties 1 -> 6.5/8
# class 1: positives {0.7, 0.4} vs negatives {0.3, 0.4, 0.2, 0.1}: 0.7 wins 4; 0.4 wins 3, ties 1 -> 7.5/8
# class 2: positives {0.7, 0.4} vs negatives {0.1, 0.2, 0.1, 0.2}: all 8 won -> 8/8
AUROC_HAND = (6.5 / 8 + 7.5 / 8 + 8 / 8) / 3


def test_simple_cnn_per_class_fractions_worked_by_hand() -> None:
    # Column sums (predicted): benign 54+9+10=73, malignant 9+18+2=29, normal 3+4+8=15.
    # Row sums (support):     benign 66, malignant 31, normal 20; total 117, trace 54+18+8=80.
    # benign:    P = 54/73, R = 54/66, F1 = 2*54/(66+73) = 108/139
    # malignant: P = 18/29, R = 18/31, F1 = 36/60 = 0.6
    # normal:    P = 8/15,  R = 8/20,  F1 = 16/35
    result = metrics_from_confusion(SIMPLE_CNN, CLASSES)
    per_class = result["per_class"]
    expected = {
        "benign": (54 / 73, 54 / 66, 108 / 139, 66),
        "malignant": (18 / 29, 18 / 31, 36 / 60, 31),
        "normal": (8 / 15, 8 / 20, 16 / 35, 20),
    }
    for name, (precision, recall, f1, support) in expected.items():
        assert per_class[name]["precision"] == pytest.approx(precision, abs=1e-12)
        assert per_class[name]["recall"] == pytest.approx(recall, abs=1e-12)
        assert per_class[name]["f1"] == pytest.approx(f1, abs=1e-12)
        assert per_class[name]["support"] == support
    assert result["accuracy"] == pytest.approx(80 / 117, abs=1e-12)
    assert result["f1_macro"] == pytest.approx((108 / 139 + 0.6 + 16 / 35) / 3, abs=1e-12)
    assert result["f1_weighted"] == pytest.approx((66 * 108 / 139 + 31 * 0.6 + 20 * 16 / 35) / 117, abs=1e-12)
    assert result["precision_macro"] == pytest.approx((54 / 73 + 18 / 29 + 8 / 15) / 3, abs=1e-12)
    assert result["precision_weighted"] == pytest.approx(
        (66 * 54 / 73 + 31 * 18 / 29 + 20 * 8 / 15) / 117, abs=1e-12
    )
    # Support-weighted recall is accuracy; macro recall is balanced accuracy when every class is present.
    assert result["recall_weighted"] == pytest.approx(80 / 117, abs=1e-12)
    assert result["recall_macro"] == pytest.approx((54 / 66 + 18 / 31 + 8 / 20) / 3, abs=1e-12)
    assert result["balanced_accuracy"] == pytest.approx(result["recall_macro"], abs=1e-12)


@pytest.mark.parametrize(
    ("confusion", "accuracy", "f1_weighted", "f1_macro"),
    [(SIMPLE_CNN, 0.68, 0.68, 0.61), (MOBILENET, 0.66, 0.62, 0.53), (RESNET101, 0.87, 0.87, 0.85)],
    ids=["simple_cnn", "mobilenet", "resnet101"],
)
def test_study_matrices_reproduce_reported_rounded_values(
    confusion: list[list[int]], accuracy: float, f1_weighted: float, f1_macro: float
) -> None:
    result = metrics_from_confusion(confusion, CLASSES)
    assert round(result["accuracy"], 2) == accuracy
    assert round(result["f1_weighted"], 2) == f1_weighted
    assert round(result["f1_macro"], 2) == f1_macro


def test_mobilenet_never_wrong_on_normal_predictions() -> None:
    # normal is predicted 4 times, all correct: P = 4/4 = 1, R = 4/20, F1 = 8/24 = 1/3.
    normal = metrics_from_confusion(MOBILENET, CLASSES)["per_class"]["normal"]
    assert normal == pytest.approx({"precision": 1.0, "recall": 0.2, "f1": 1 / 3, "support": 20})


def test_never_predicted_class_scores_zero_not_nan() -> None:
    # normal (support 2) is never predicted: precision 0/0 -> 0 (zero_division=0), recall 0/2, F1 0.
    confusion = [[5, 1, 0], [2, 3, 0], [1, 1, 0]]
    result = metrics_from_confusion(confusion, CLASSES)
    assert result["per_class"]["normal"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2}
    assert result["precision_macro"] == pytest.approx((5 / 8 + 3 / 5 + 0) / 3)
    assert result["balanced_accuracy"] == pytest.approx((5 / 6 + 3 / 5 + 0) / 3)


def test_class_absent_from_targets_counts_in_macro_but_not_in_balanced_accuracy() -> None:
    # normal has no support but is predicted once: P = 0/1, R = 0 (no support), F1 = 0.
    confusion = [[5, 1, 0], [2, 3, 1], [0, 0, 0]]
    result = metrics_from_confusion(confusion, CLASSES)
    assert result["per_class"]["normal"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert result["recall_macro"] == pytest.approx((5 / 6 + 3 / 6) / 3)  # sklearn: mean over all labels
    assert result["balanced_accuracy"] == pytest.approx((5 / 6 + 3 / 6) / 2)  # classes present only
    assert result["recall_weighted"] == pytest.approx(8 / 12)


@pytest.mark.parametrize(
    "confusion",
    [
        [[1, 2], [3, 4]],
        [[1, -1, 0], [0, 1, 0], [0, 0, 1]],
        [[0, 0, 0]] * 3,
        [[1.5, 0, 0], [0, 1, 0], [0, 0, 1]],
    ],
    ids=["wrong_size", "negative", "empty", "fractional"],
)
def test_metrics_from_confusion_rejects_invalid_matrices(confusion: list[list[float]]) -> None:
    with pytest.raises(ValueError):
        metrics_from_confusion(confusion, CLASSES)


def test_classification_metrics_end_to_end_on_known_matrix() -> None:
    probs, targets = probs_for_confusion(SIMPLE_CNN, peak=0.8)
    result = classification_metrics(probs, targets, CLASSES)
    assert result["confusion_matrix"] == SIMPLE_CNN
    assert result["n"] == 117
    assert {name: stats["support"] for name, stats in result["per_class"].items()} == {
        "benign": 66,
        "malignant": 31,
        "normal": 20,
    }
    from_confusion = metrics_from_confusion(SIMPLE_CNN, CLASSES)
    for key in (
        "accuracy",
        "balanced_accuracy",
        "f1_macro",
        "f1_weighted",
        "precision_weighted",
        "recall_weighted",
    ):
        assert result[key] == from_confusion[key]
    # Every confidence is 0.8 (one populated bin) and 80/117 are correct: ECE = |0.8 - 80/117|.
    assert result["ece"] == pytest.approx(0.8 - 80 / 117, abs=TORCHMETRICS_ABS)
    # NLL: correct samples have p(true) = 0.8, the 37 wrong ones p(true) = 0.1.
    assert result["nll"] == pytest.approx((80 * -math.log(0.8) + 37 * -math.log(0.1)) / 117, abs=1e-9)
    assert 0.0 <= result["auroc_macro"] <= 1.0
    json.dumps(result, allow_nan=False)  # plain JSON, no numpy or tensor types


def test_classification_metrics_keys_match_record_contract() -> None:
    probs, targets = probs_for_confusion(RESNET101)
    assert list(classification_metrics(probs, targets, CLASSES)) == [
        "accuracy",
        "balanced_accuracy",
        "f1_macro",
        "f1_weighted",
        "precision_macro",
        "recall_macro",
        "precision_weighted",
        "recall_weighted",
        "auroc_macro",
        "ece",
        "nll",
        "n",
        "per_class",
        "confusion_matrix",
    ]


def test_classification_metrics_zero_division_and_balanced_accuracy() -> None:
    confusion = [[5, 1, 0], [2, 3, 0], [1, 1, 0]]  # normal never predicted
    probs, targets = probs_for_confusion(confusion)
    result = classification_metrics(probs, targets, CLASSES)
    assert result["per_class"]["normal"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2}
    assert result["balanced_accuracy"] == pytest.approx((5 / 6 + 3 / 5 + 0) / 3)


def test_ece_hand_case_one_populated_bin() -> None:
    # 10 samples, all with confidence 0.8, 6 correct: ECE = |0.8 - 0.6| = 0.2.
    probs = torch.tensor([[0.8, 0.2]] * 10, dtype=torch.float64)
    targets = torch.tensor([0] * 6 + [1] * 4)
    result = classification_metrics(probs, targets, ["a", "b"])
    assert result["ece"] == pytest.approx(0.2, abs=TORCHMETRICS_ABS)


def test_auroc_hand_computed_one_vs_rest() -> None:
    probs = torch.tensor(AUROC_PROBS, dtype=torch.float64)
    result = classification_metrics(probs, torch.tensor(AUROC_TARGETS), CLASSES)
    assert result["auroc_macro"] == pytest.approx(AUROC_HAND, abs=TORCHMETRICS_ABS)


def test_auroc_matches_mann_whitney_per_class() -> None:
    probs = np.array(AUROC_PROBS)
    targets = np.array(AUROC_TARGETS)
    per_class = []
    for c in range(3):
        positives, negatives = probs[targets == c, c], probs[targets != c, c]
        u = scipy_stats.mannwhitneyu(positives, negatives).statistic
        per_class.append(u / (positives.size * negatives.size))
    result = classification_metrics(torch.tensor(probs), torch.tensor(targets), CLASSES)
    assert result["auroc_macro"] == pytest.approx(float(np.mean(per_class)), abs=TORCHMETRICS_ABS)


def test_auroc_perfectly_separable_is_one() -> None:
    probs, targets = probs_for_confusion([[3, 0, 0], [0, 2, 0], [0, 0, 4]])
    assert classification_metrics(probs, targets, CLASSES)["auroc_macro"] == pytest.approx(1.0)


def test_auroc_is_none_when_a_class_is_absent_from_targets() -> None:
    probs, targets = probs_for_confusion([[5, 1, 0], [2, 3, 1], [0, 0, 0]])
    result = classification_metrics(probs, targets, CLASSES)
    assert result["auroc_macro"] is None
    assert result["per_class"]["normal"]["support"] == 0
    json.dumps(result, allow_nan=False)


def test_classification_metrics_accepts_float32_probabilities() -> None:
    probs, targets = probs_for_confusion(MOBILENET)
    result = classification_metrics(probs.float(), targets, CLASSES)
    assert result["confusion_matrix"] == MOBILENET


def test_classification_metrics_rejects_logits_and_bad_shapes() -> None:
    probs, targets = probs_for_confusion(RESNET101)
    with pytest.raises(ValueError, match="logits"):
        classification_metrics(torch.log(probs), targets, CLASSES)
    with pytest.raises(ValueError, match="NaN"):
        classification_metrics(torch.full_like(probs, float("nan")), targets, CLASSES)
    with pytest.raises(ValueError):
        classification_metrics(probs[:, :2], targets, CLASSES)
    with pytest.raises(ValueError):
        classification_metrics(probs, targets[:-1], CLASSES)
    with pytest.raises(ValueError):
        classification_metrics(probs, targets + 1, CLASSES)


@pytest.mark.parametrize(
    ("confusion", "names", "message"),
    [
        ([[1, 2, 3], [4, 5, 6]], CLASSES, "confusion matrix must be square [C, C], got shape (2, 3)"),
        ([[[1]]], ["a"], "confusion matrix must be square [C, C], got shape (1, 1, 1)"),
        ([[1, 2], [3, 4]], CLASSES, "confusion matrix has 2 classes but 3 names given"),
        ([[1, 0], [0, 1]], ["a", "a"], "class names must be unique, got ['a', 'a']"),
        ([[1, -1], [0, 1]], ["a", "b"], "confusion matrix entries must be non-negative integer counts"),
        ([[1, 0.5], [0, 1]], ["a", "b"], "confusion matrix entries must be non-negative integer counts"),
        ([[0, 0], [0, 0]], ["a", "b"], "confusion matrix is empty (no samples): metrics are undefined"),
    ],
    ids=["rectangular", "three-axes", "names", "duplicate", "negative", "fractional", "empty"],
)
def test_invalid_matrices_are_refused_with_the_exact_message(
    confusion: list[list[float]], names: list[str], message: str
) -> None:
    with pytest.raises(ValueError) as caught:
        metrics_from_confusion(confusion, names)
    assert str(caught.value) == message


def test_a_single_image_is_scored_and_the_matrix_holds_python_ints() -> None:
    one = metrics_from_confusion([[0, 1], [0, 0]], ["a", "b"])  # one image of a, called b
    assert one["accuracy"] == 0.0 and one["per_class"]["a"] == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "support": 1,
    }
    result = classification_metrics(np.array([[0.3, 0.7]]), np.array([1]), ["a", "b"])
    assert result["n"] == 1 and result["accuracy"] == 1.0
    assert json.dumps(result["confusion_matrix"]) == "[[0, 0], [0, 1]]"  # ints, not 0.0 / 1.0


def _probs_error(probs: object, targets: object) -> str:
    with pytest.raises(ValueError) as caught:
        classification_metrics(probs, targets, CLASSES)
    return str(caught.value)


def test_invalid_probabilities_and_targets_are_refused_with_the_exact_message() -> None:
    good = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.5, 0.25, 0.25]])
    assert _probs_error(good[:, :2], [0, 1, 0, 1]) == "probs must have shape [N, 3], got (4, 2)"
    assert _probs_error(good[0], [0, 1, 2]) == "probs must have shape [N, 3], got (3,)"
    assert _probs_error(good, [0, 1, 2]) == "targets must have shape [4], got (3,)"
    assert _probs_error(good, [[0], [1], [2], [0]]) == "targets must have shape [4], got (4, 1)"
    assert _probs_error(np.zeros((0, 3)), np.zeros(0)) == "no samples: metrics are undefined"
    assert _probs_error(good, [0, 1, 2, 3]) == "targets must lie in [0, 3), got 0..3"
    assert _probs_error(good, [-1, 1, 2, 2]) == "targets must lie in [0, 3), got -1..2"
    nan = "probs contain NaN or inf (did the model diverge?): metrics are undefined"
    assert _probs_error(np.where(good == 0.6, np.inf, good), [0, 1, 2, 0]) == nan
    logits = "probs must be softmax probabilities (rows in [0, 1] summing to 1), not logits"
    for row in ([1.2, -0.2, 0.0], [1.005, 0.0, 0.0], [0.3, 0.3, 0.3], [0.8, 0.7, 0.0], [0.6, 0.410005, 0.0]):
        assert _probs_error(np.vstack([good[:3], row]), [0, 1, 2, 0]) == logits, row


def test_probabilities_of_zero_and_one_and_rows_off_by_less_than_a_hundredth_are_accepted() -> None:
    probs = np.array([[1.0, 0.0, 0.0], [0.0, 0.995, 0.0], [0.1, 0.2, 0.709], [0.25, 0.25, 0.5]])
    result = classification_metrics(probs, np.array([0, 1, 2, 2]), CLASSES)
    assert result["accuracy"] == 1.0 and result["confusion_matrix"] == [[1, 0, 0], [0, 1, 0], [0, 0, 2]]


def test_validated_probabilities_are_float64_and_targets_int64_whatever_came_in() -> None:
    from bcbench.metrics.classification import validated_probs

    probs, targets = validated_probs(np.array([[0.25, 0.75], [1, 0]], dtype=np.float32), [1.0, 0.0], 2)
    assert probs.dtype == np.float64 and probs.tolist() == [[0.25, 0.75], [1.0, 0.0]]
    assert targets.dtype == np.int64 and targets.tolist() == [1, 0]
    from_ints, _ = validated_probs([[0, 1], [1, 0]], np.array([1, 0]), 2)
    assert from_ints.dtype == np.float64
