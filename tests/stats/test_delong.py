"""DeLong's test against the O(n^2) structural-components formula and scikit-learn's AUROC."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats
from sklearn.metrics import roc_auc_score

from bcbench.stats.delong import delong_test, structural_components


def quadratic_delong(a: np.ndarray, b: np.ndarray, positive: np.ndarray) -> tuple[float, float]:
    """(AUROC difference, its standard error) from psi(x_i, y_j) over every positive-negative pair."""

    def components(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pos, neg = scores[positive], scores[~positive]
        psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
        return psi.mean(axis=1), psi.mean(axis=0)

    (a10, a01), (b10, b01) = components(a), components(b)
    m, n = positive.sum(), (~positive).sum()
    s = np.cov(np.stack([a10, b10])) / m + np.cov(np.stack([a01, b01])) / n
    return float(a10.mean() - b10.mean()), float(np.sqrt(s[0, 0] + s[1, 1] - 2 * s[0, 1]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_delong_equals_the_quadratic_formula_with_ties(seed):
    rng = np.random.default_rng(seed)
    positive = rng.random(80) < 0.35
    a = np.round(rng.normal(size=80) + positive, 1)  # rounding makes ties
    b = np.round(0.6 * a + rng.normal(size=80) * 0.7 + 0.4 * positive, 1)
    result = delong_test(a, b, positive)
    diff, se = quadratic_delong(a, b, positive)
    assert result["auc_a"] == pytest.approx(roc_auc_score(positive, a))
    assert result["auc_b"] == pytest.approx(roc_auc_score(positive, b))
    assert result["auc_diff"] == pytest.approx(diff) and result["se"] == pytest.approx(se)
    assert result["p"] == pytest.approx(2 * scipy_stats.norm.sf(abs(diff / se)))


def test_structural_components_average_to_the_auroc():
    scores = np.array([0.9, 0.8, 0.3, 0.6, 0.2, 0.6])
    positive = np.array([True, True, True, False, False, False])
    v10, v01 = structural_components(scores, positive)
    assert v10.tolist() == pytest.approx([1.0, 1.0, 1 / 3])  # 0.3 beats only 0.2
    assert v01.tolist() == pytest.approx([2 / 3, 1.0, 2 / 3])
    assert v10.mean() == pytest.approx(roc_auc_score(positive, scores))


def test_degenerate_cases_give_a_reason_not_a_number():
    positive = np.array([True] * 5)
    assert "only one class" in delong_test(np.arange(5), np.arange(5), positive)["note"]
    scores = np.array([0.1, 0.4, 0.35, 0.8])
    same = delong_test(scores, scores, np.array([False, False, True, True]))
    assert same["p"] is None and "no variance" in same["note"] and same["auc_diff"] == 0.0
    constant = delong_test(np.full(4, 0.5), np.full(4, 0.5), np.array([False, True, False, True]))
    assert constant["auc_a"] == 0.5 and constant["p"] is None


Z_975 = 1.959963984540054  # the standard normal's 0.975 quantile (the "1.96" of a 95% interval)


def test_delong_worked_by_hand_on_two_positives_and_two_negatives():
    """A: positives 0.9, 0.4, negatives 0.5, 0.1: V10 = (1, 1/2), V01 = (1/2, 1), AUROC 3/4.
    B: positives 0.8, 0.7, negatives 0.6, 0.9: V10 = (1/2, 1/2), V01 = (1, 0), AUROC 1/2.
    S10 = [[1/8, 0], [0, 0]], S01 = [[1/8, -1/4], [-1/4, 1/2]]; S = S10 / 2 + S01 / 2 gives
    var(A - B) = 1/8 + 1/4 + 2 * 1/8 = 5/8, z = (1/4) / sqrt(5/8) = sqrt(1/10). Default confidence 0.95."""
    a, b = [0.9, 0.4, 0.5, 0.1], [0.8, 0.7, 0.6, 0.9]
    labels = [1, 1, 0, 0]  # 0/1 labels, as a data set stores them
    se, z = math.sqrt(5 / 8), math.sqrt(1 / 10)
    expected = {"auc_a": 0.75, "auc_b": 0.5, "auc_diff": 0.25, "se": se, "diff_ci_low": 0.25 - Z_975 * se,
                "diff_ci_high": 0.25 + Z_975 * se, "z": z, "p": math.erfc(z / math.sqrt(2)), "n_positive": 2,
                "n_negative": 2}  # fmt: skip
    result = delong_test(a, b, labels)
    assert list(result) == [*expected, "note"] and result.pop("note") == ""
    assert result == pytest.approx(expected, rel=1e-12)


def undefined(n_positive: int, n_negative: int, note: str, **aucs: float) -> dict:
    """delong_test's whole answer when a statistic is undefined: every number None but the given AUROCs."""
    keys = ("auc_a", "auc_b", "auc_diff", "se", "diff_ci_low", "diff_ci_high", "z", "p")
    return {**dict.fromkeys(keys), **aucs, "n_positive": n_positive, "n_negative": n_negative, "note": note}


NO_VARIANCE = "no variance of the difference (identical or constant scores): no test"


def test_one_class_is_named_and_every_key_is_there():
    result = delong_test([0.1, 0.2, 0.3], [0.3, 0.2, 0.1], [True, True, True])
    expected = undefined(3, 0, "only one class among these images: AUROC undefined")
    assert result == expected and list(result) == list(expected)


@pytest.mark.parametrize(
    ("positive", "expected"),
    [
        # one positive (0.9 for A, 0.2 for B) against 0.5, 0.1, 0.3: AUROC 1 and 1/3
        ([True, False, False, False], undefined(1, 3, NO_VARIANCE, auc_a=1.0, auc_b=1 / 3, auc_diff=2 / 3)),
        # one negative (0.9 for A, 0.2 for B) below/above 0.5, 0.1, 0.3: AUROC 0 and 2/3
        ([False, True, True, True], undefined(3, 1, NO_VARIANCE, auc_a=0.0, auc_b=2 / 3, auc_diff=-2 / 3)),
    ],
)
def test_a_single_image_of_a_class_gives_aurocs_but_no_variance(positive, expected):
    """With one image in a class its components have no sample covariance: the AUROCs, but no test."""
    result, expected = delong_test([0.9, 0.5, 0.1, 0.3], [0.2, 0.5, 0.1, 0.3], positive), dict(expected)
    assert list(result) == list(expected)
    aucs = ("auc_a", "auc_b", "auc_diff")
    assert [result.pop(key) for key in aucs] == pytest.approx([expected.pop(key) for key in aucs], rel=1e-12)
    assert result == expected


def test_integer_scores_are_ranked_as_float64():
    """2^53 and 2^53 + 1 are one float64: a tie (1/2), as delong_test, which casts to float64, sees them."""
    v10, v01 = structural_components(np.array([2**53 + 1, 2**53]), np.array([True, False]))
    assert (v10.tolist(), v01.tolist()) == ([0.5], [0.5])
