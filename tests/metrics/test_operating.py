"""Operating points against values counted by hand."""

from __future__ import annotations

import numpy as np
import pytest

from bcbench.metrics.operating import (
    choose_threshold,
    default_positive_class,
    pr_points,
    rates_at,
    roc_points,
    sensitivity_at_specificity,
)

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


# sorted: 0.95+ 0.9- 0.85+ 0.8+ 0.7- 0.6- 0.5+ 0.4- 0.3+ 0.2- (five of each); (sensitivity, 1 - specificity)
# at each threshold: .2/0, .2/.2, .4/.2, .6/.2, .6/.4, .6/.6, .8/.6, .8/.8, 1/.8, 1/1: J is largest (0.4) at
# 0.8 only, and every rule picks a different threshold
APART = np.array([0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2])
APART_POSITIVE = np.array([1, 0, 1, 1, 0, 0, 1, 0, 1, 0], dtype=bool)


def test_the_default_rule_is_youden_and_the_default_target_is_ninety_percent():
    assert choose_threshold(APART, APART_POSITIVE) == 0.8
    assert choose_threshold(APART, APART_POSITIVE, "youden") == 0.8
    assert choose_threshold(APART, APART_POSITIVE, "sensitivity") == 0.3  # the first reaching 0.9 is 1.0
    assert choose_threshold(APART, APART_POSITIVE, "specificity") == 0.95  # only 0.95 calls no negative
    assert choose_threshold(APART, APART_POSITIVE, "specificity", 0.8) == 0.8  # the lowest of 4 reaching
    assert choose_threshold(APART, APART_POSITIVE, "specificity", 0.6) == 0.7


def test_an_unreachable_specificity_gives_the_highest_threshold():
    # the top score is a negative: every threshold calls it, so no threshold reaches specificity 1
    assert choose_threshold([0.9, 0.8, 0.7, 0.1], [0, 1, 1, 0], "specificity", 1.0) == 0.9


def test_one_class_validation_sets_are_refused_with_the_exact_message():
    for one_class in (np.ones(8, dtype=bool), np.zeros(8, dtype=bool)):
        with pytest.raises(ValueError) as caught:
            choose_threshold(SCORES, one_class)
        assert str(caught.value) == "the validation images hold one class only: no threshold can be chosen"


def test_sensitivity_at_specificity_keeps_every_roc_point_and_a_slack_of_1e_12():
    assert sensitivity_at_specificity(APART, APART_POSITIVE, 0.8) == 0.6
    assert sensitivity_at_specificity(APART, APART_POSITIVE, 0.8 + 1e-12) == 0.6  # within the slack
    assert sensitivity_at_specificity(APART, APART_POSITIVE, 0.8 + 3e-12) == 0.2  # beyond it: spec 1 only
    # three tied pairs (one positive, one negative each): the middle point of the straight ROC line
    # (threshold 0.8: 2 of 3 positives, specificity 1/3) is the best one reaching specificity 0.3
    tied_pairs = [0.9, 0.9, 0.8, 0.8, 0.7, 0.7]
    assert sensitivity_at_specificity(tied_pairs, [1, 0, 1, 0, 1, 0], 0.3) == pytest.approx(2 / 3)


def test_rates_name_every_count_and_have_no_ppv_when_nothing_is_called_positive():
    assert rates_at(SCORES, POSITIVE, 0.95) == {
        "threshold": 0.95,
        "tp": 0,
        "fp": 0,
        "tn": 4,
        "fn": 4,
        "sensitivity": 0.0,
        "specificity": 1.0,
        "ppv": None,
        "npv": 0.5,
    }


def test_scores_are_compared_in_float64():
    # float32(0.7) is 0.69999998..., below the threshold 0.7 read as float64: not called positive
    rates = rates_at(np.array([0.7, 0.2], dtype=np.float32), [True, False], 0.7)
    assert (rates["tp"], rates["fn"], rates["tn"]) == (0, 1, 1)


@pytest.mark.parametrize("mask", [POSITIVE.astype(np.float64), POSITIVE.astype(np.int64) * 2])
def test_any_truthy_mask_reads_as_the_boolean_positive_mask(mask):
    """0/1 floats and a nonzero integer (a label value) mean positive, as the boolean mask does."""
    assert choose_threshold(SCORES, mask, "youden") == 0.7
    assert sensitivity_at_specificity(SCORES, mask, 0.75) == 0.75
    rates = rates_at(SCORES, mask, 0.55)
    assert (rates["tp"], rates["fp"], rates["tn"], rates["fn"]) == (3, 1, 3, 1)
    fpr, tpr = roc_points(SCORES, mask)
    assert fpr.tolist() == roc_points(SCORES, POSITIVE)[0].tolist()
    # thresholds 0.1, 0.35, 0.4, 0.8 over 0.1- 0.4- 0.35+ 0.8+, then recall 0
    assert pr_points(SCORES[:4], mask[:4])[1].tolist() == pytest.approx([2 / 4, 2 / 3, 1 / 2, 1.0, 1.0])


def test_roc_and_precision_recall_points_counted_by_hand():
    scores, positive = [0.9, 0.8, 0.7, 0.6], [True, False, True, False]
    fpr, tpr = roc_points(scores, positive)  # every step a corner: +, -, +, -
    assert fpr.tolist() == [0.0, 0.0, 0.5, 0.5, 1.0] and tpr.tolist() == [0.0, 0.5, 0.5, 1.0, 1.0]
    recall, precision = pr_points(scores, positive)  # thresholds rising 0.6, 0.7, 0.8, 0.9, then recall 0
    assert recall.tolist() == [1.0, 1.0, 0.5, 0.5, 0.0]
    assert precision.tolist() == pytest.approx([2 / 4, 2 / 3, 1 / 2, 1 / 1, 1.0])
