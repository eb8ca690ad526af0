"""The batched formulas one by one, against scikit-learn and sums written out by hand: on one set of
predictions, on batches with one and with two leading axes (the stratified bootstrap's shapes), and at the
edges each docstring names (a zero denominator, a class of one image, a confidence on a bin boundary, a
probability of 0 or rounded just above 1)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support, roc_auc_score

from bcbench.metrics import formulas

TARGETS = np.array([0, 0, 1, 2, 2, 1, 0, 3, 3, 1, 2])  # 11 images (odd), 4 classes
BATCH_PREDS = np.array(  # [2, 3, 11]: two leading axes, neither of size 4
    [
        [
            [0, 1, 1, 2, 0, 1, 0, 3, 2, 1, 2],
            [0, 0, 1, 2, 2, 1, 0, 3, 3, 1, 2],
            [3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3],
        ],
        [
            [1, 0, 2, 2, 2, 0, 0, 3, 1, 1, 0],
            [2, 2, 0, 1, 1, 0, 3, 0, 0, 2, 1],
            [0, 0, 1, 1, 2, 1, 0, 3, 3, 2, 2],
        ],
    ]
)


def _sklearn_matrix(targets: np.ndarray, preds: np.ndarray) -> np.ndarray:
    return confusion_matrix(targets, preds, labels=[0, 1, 2, 3])


def test_safe_divide_broadcasts_both_ways_and_gives_zero_only_where_the_denominator_is_zero() -> None:
    assert formulas.safe_divide(1, [0, 2, 4]).tolist() == [0.0, 0.5, 0.25]
    both = formulas.safe_divide([[2], [3]], [1, 0, 4])
    assert both.dtype == np.float64 and both.tolist() == [[2.0, 0.0, 0.5], [3.0, 0.0, 0.75]]
    assert formulas.safe_divide(np.array([3, 0]), np.array([1, 0])).tolist() == [3.0, 0.0]


def test_confusion_counts_like_sklearn_for_one_set_and_for_batches() -> None:
    single = formulas.confusion(TARGETS, BATCH_PREDS[0, 0], 4)
    assert single.shape == (4, 4) and np.array_equal(single, _sklearn_matrix(TARGETS, BATCH_PREDS[0, 0]))
    batched = formulas.confusion(TARGETS, BATCH_PREDS, 4)  # targets [N] broadcast against preds [2, 3, N]
    assert batched.shape == (2, 3, 4, 4)
    for index in np.ndindex(2, 3):
        assert np.array_equal(batched[index], _sklearn_matrix(TARGETS, BATCH_PREDS[index]))
    rows = formulas.confusion(BATCH_PREDS[0], TARGETS, 4)  # [3, N] targets, preds [N]
    for row in range(3):
        assert np.array_equal(rows[row], _sklearn_matrix(BATCH_PREDS[0, row], TARGETS))


def test_classes_never_seen_at_the_end_still_get_their_rows_and_columns() -> None:
    matrix = formulas.confusion([0, 1, 1], [0, 1, 0], 3)  # class 2 neither true nor predicted
    assert matrix.tolist() == [[1, 0, 0], [1, 1, 0], [0, 0, 0]]
    scores = formulas.confusion_scores(matrix)  # recalls 1 and 1/2; the absent class is left out
    assert scores["balanced_accuracy"] == pytest.approx(0.75, abs=1e-12)
    assert scores["recall_macro"] == pytest.approx(0.5, abs=1e-12)  # sklearn: every class listed


def test_confusion_takes_class_indices_stored_as_floats() -> None:
    expected = _sklearn_matrix(TARGETS, BATCH_PREDS[1, 0])
    as_floats = formulas.confusion(TARGETS.astype(float), BATCH_PREDS[1, 0].astype(float), 4)
    assert np.array_equal(as_floats, expected)


def _sklearn_scores(matrix: np.ndarray) -> dict[str, object]:
    """Every confusion score of one matrix, by scikit-learn on the labels the matrix counts."""
    classes = range(len(matrix))
    targets = np.repeat([t for t in classes for _ in classes], np.asarray(matrix).ravel())
    preds = np.repeat([p for _ in classes for p in classes], np.asarray(matrix).ravel())
    labels = list(classes)
    precision, recall, f1, support = precision_recall_fscore_support(
        targets, preds, labels=labels, zero_division=0
    )
    weights = support / support.sum()
    present = support > 0
    return {
        "accuracy": float(np.mean(targets == preds)),
        "balanced_accuracy": float(recall[present].mean()),
        "precision_macro": precision.mean(),
        "recall_macro": recall.mean(),
        "f1_macro": f1.mean(),
        "precision_weighted": float((weights * precision).sum()),
        "recall_weighted": float((weights * recall).sum()),
        "f1_weighted": float((weights * f1).sum()),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "support": support,
    }


def _check_batched_scores(matrices: np.ndarray) -> None:
    scores = formulas.confusion_scores(matrices)
    assert list(scores) == list(_sklearn_scores(matrices[(0,) * (matrices.ndim - 2)]))
    for index in np.ndindex(*matrices.shape[:-2]):
        expected = _sklearn_scores(matrices[index])
        for key, value in expected.items():
            assert scores[key][index] == pytest.approx(value, abs=1e-12), (key, index)
        assert formulas.accuracy(matrices)[index] == pytest.approx(expected["accuracy"], abs=1e-12)


def test_confusion_scores_of_batches_with_one_and_two_leading_axes_match_sklearn() -> None:
    matrices = formulas.confusion(TARGETS, BATCH_PREDS, 4)  # [2, 3, 4, 4]
    _check_batched_scores(matrices)
    _check_batched_scores(matrices[1])  # [3, 4, 4]


def test_a_class_of_one_image_counts_in_balanced_accuracy() -> None:
    # class 2 has one image, predicted right: recalls 2/3, 1/2, 1 over the three classes present
    matrix = np.array([[2, 1, 0], [1, 1, 0], [0, 0, 1]])
    scores = formulas.confusion_scores(matrix)
    assert scores["balanced_accuracy"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3, abs=1e-12)
    assert scores["support"].tolist() == [3, 2, 1]
    assert scores["f1"].tolist() == pytest.approx(
        [4 / 6, 2 / 4, 2 / 2], abs=1e-12
    )  # 2 TP / (support + predicted)


def test_auroc_takes_positives_as_a_mask_of_ones_and_is_none_without_both_classes() -> None:
    scores = np.array([0.9, 0.2, 0.6, 0.4, 0.6])
    positive = [1, 0, 1, 0, 0]  # ints, not bools
    assert formulas.auroc(scores, positive) == pytest.approx(roc_auc_score(positive, scores), abs=1e-12)
    one_positive = [0, 0, 1, 0, 0]  # 0.6 beats 0.2 and 0.4, ties 0.6, loses to 0.9: (2 + 0.5) / 4
    assert formulas.auroc(scores, one_positive) == pytest.approx(2.5 / 4, abs=1e-12)
    one_negative = [1, 1, 1, 0, 1]  # 0.4 is beaten by 0.9, 0.6, 0.6, beats 0.2: 3 / 4
    assert formulas.auroc(scores, one_negative) == pytest.approx(3 / 4, abs=1e-12)
    assert formulas.auroc(scores, [0] * 5) is None and formulas.auroc(scores, [1] * 5) is None


def _auroc_by_pairs(scores: np.ndarray, positive: np.ndarray) -> float:
    """P(a positive outscores a negative), a tie counting 1/2, over every (positive, negative) pair."""
    wins = scores[positive][:, None] - scores[~positive][None, :]
    return float(((wins > 0) + 0.5 * (wins == 0)).mean())


def test_auroc_and_its_macro_mean_of_batches_with_two_leading_axes_match_the_count_over_pairs() -> None:
    rng = np.random.default_rng(3)
    labels = np.array([0, 1, 2, 0, 1, 2, 2, 0, 1])  # 9 images, 3 classes
    probs = rng.dirichlet([1, 1, 1], size=(2, 4, 9)).round(1)  # rounding makes ties
    positive = labels == 1
    per_row = formulas.auroc(probs[..., 1], positive)
    macro = formulas.auroc_macro(probs, labels)
    assert per_row.shape == (2, 4) and macro.shape == (2, 4)
    for index in np.ndindex(2, 4):
        assert per_row[index] == pytest.approx(_auroc_by_pairs(probs[index][:, 1], positive), abs=1e-12)
        expected = np.mean([_auroc_by_pairs(probs[index][:, c], labels == c) for c in range(3)])
        assert macro[index] == pytest.approx(expected, abs=1e-12)


def test_auroc_macro_of_two_classes_and_of_chosen_classes() -> None:
    probs = np.array([[0.9, 0.1], [0.3, 0.7], [0.6, 0.4], [0.58, 0.42], [0.55, 0.45]])
    labels = np.array([0, 1, 1, 0, 1])
    # positives 0.7, 0.4, 0.45 against negatives 0.1, 0.42: 5 of 6 pairs won; class 0's AUROC is the same
    assert formulas.auroc_macro(probs, labels) == pytest.approx(5 / 6, abs=1e-12)
    three = np.array([[0.5, 0.3, 0.2], [0.1, 0.6, 0.3], [0.2, 0.2, 0.6], [0.3, 0.4, 0.3]])
    chosen = formulas.auroc_macro(three, np.array([0, 1, 1, 0]), [0, 1])
    assert chosen == pytest.approx((1.0 + roc_auc_score([0, 1, 1, 0], three[:, 1])) / 2)
    assert formulas.auroc_macro(three, np.array([0, 1, 1, 0]), [1]) is None  # one class listed
    assert formulas.auroc_macro(three, np.array([0, 1, 1, 0])) is None  # class 2 has no positive


def _ece_by_hand(confidence: np.ndarray, correct: np.ndarray, bins: int) -> float:
    """Guo et al. (2017): bins ((m-1)/M, m/M] (0 in the first), |accuracy - confidence| by bin share."""
    total = 0.0
    for m in range(1, bins + 1):
        inside = (confidence > (m - 1) / bins) & (confidence <= m / bins)
        if m == 1:
            inside |= confidence == 0
        if inside.any():
            total += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return total


def test_confidence_bins_are_closed_on_the_right() -> None:
    confidence = [0.0, 0.1, 0.25, 0.2500001, 0.5, 0.75, 0.76, 1.0, 1.0 + 1e-9]
    assert formulas.confidence_bins(np.array(confidence), 4).tolist() == [0, 0, 0, 1, 1, 2, 3, 3, 3]
    edges = np.arange(1, 16) / 15  # the default 15 bins: m / 15 is the top of bin m - 1
    assert formulas.confidence_bins(edges).tolist() == list(range(15))
    assert formulas.confidence_bins(edges + 1e-9)[:-1].tolist() == list(range(1, 15))


def test_ece_of_batches_with_two_leading_axes_and_of_one_set_match_the_sum_by_hand() -> None:
    rng = np.random.default_rng(8)
    probs = rng.dirichlet([2, 1, 1], size=(2, 3, 7))  # [2, 3, 7 images, 3 classes]
    labels = np.array([0, 1, 2, 0, 0, 1, 2])
    batched = formulas.ece(probs, labels)
    five = formulas.ece(probs, labels, bins=5)
    assert batched.shape == (2, 3)
    for index in np.ndindex(2, 3):
        confidence, correct = probs[index].max(axis=1), probs[index].argmax(axis=1) == labels
        assert batched[index] == pytest.approx(_ece_by_hand(confidence, correct, 15), abs=1e-12)
        assert five[index] == pytest.approx(_ece_by_hand(confidence, correct, 5), abs=1e-12)
    single = formulas.ece(probs[1, 2], labels)
    assert single.shape == () and single == pytest.approx(batched[1, 2], abs=1e-12)
    gap = formulas.calibration_gap([[0.6, 0.6, 0.9], [0.3, 0.95, 0.95]], [[1, 0, 1], [0, 1, 1]], 2)
    # bins (0, .5], (.5, 1]: row 1 all in the top bin, |2.1 - 2|; row 2 |0.3 - 0| + |1.9 - 2|
    assert gap.tolist() == pytest.approx([0.1 / 3, 0.4 / 3], abs=1e-12)


def test_reliability_counts_mean_confidence_and_accuracy_per_bin_without_warnings() -> None:
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.55, 0.45], [0.3, 0.7], [0.15, 0.85]])
    labels = np.array([0, 0, 0, 1, 1])  # right, wrong, right, right, right
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an empty bin is NaN, silently
        table = formulas.reliability(probs, labels, bins=4)  # bins (0, .25], (.25, .5], (.5, .75], (.75, 1]
    assert list(table) == ["confidence", "accuracy", "count"]
    assert table["count"].tolist() == [0, 0, 2, 3]
    assert np.isnan(table["confidence"][:2]).all() and np.isnan(table["accuracy"][:2]).all()
    assert table["confidence"][2:].tolist() == pytest.approx([(0.55 + 0.7) / 2, (0.9 + 0.8 + 0.85) / 3])
    assert table["accuracy"][2:].tolist() == pytest.approx([1.0, 2 / 3])
    assert (
        formulas.reliability(probs, labels)["count"].sum() == 5
        and len(formulas.reliability(probs, labels)["count"]) == 15
    )


def test_nll_floors_zero_caps_one_and_keeps_float32_inputs_exact() -> None:
    probs = np.array([[0.0, 1.0], [0.25, 0.75]])
    assert formulas.nll(probs, [0, 1]) == pytest.approx((-math.log(1e-15) - math.log(0.75)) / 2, abs=1e-12)
    assert (
        formulas.nll(np.array([[1.0 + 1e-6, 0.0]]), [0]) == 0.0
    )  # rounded above 1: certainty, never negative
    single = np.array([[0.3, 0.7], [0.9, 0.1]], dtype=np.float32)
    expected = -(math.log(float(single[0, 1])) + math.log(float(single[1, 0]))) / 2
    assert formulas.nll(single, np.array([1.0, 0.0])) == pytest.approx(expected, rel=1e-14)
