"""DeLong's test against the O(n^2) structural-components formula and scikit-learn's AUROC."""

from __future__ import annotations

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
