"""Operating points against values counted by hand."""

from __future__ import annotations

import numpy as np
import pytest

from bcbench.metrics.operating import (
    choose_threshold,
    default_positive_class,
    rates_at,
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
