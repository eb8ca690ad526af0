"""Intervals against values published or computed outside bcbench: scikit-learn's corrected-t example,
Newcombe's (1998) Wilson table, scipy's t intervals; and the edge cases where an interval would mislead."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from bcbench.stats import corrected_resampled_ttest, describe, mean_interval, wilson_interval
from bcbench.stats.intervals import smallest_wilcoxon_p


@pytest.mark.parametrize(
    "values",
    [[1.0] * 9 + [0.5], [1.0, 0.75, 1.0], [0.0, 0.0, 0.2], [0.99, 0.95, 0.97], [1.0, 1.0, 1.0, 0.999]],
)
def test_a_score_interval_contains_its_mean_and_stays_in_0_1(values):
    summary = describe(values, bounds=(0.0, 1.0))
    assert 0.0 <= summary["ci_t_low"] <= summary["mean"] <= summary["ci_t_high"] <= 1.0
    values = np.asarray(values)
    low, high = scipy_stats.t.interval(
        0.95, values.size - 1, loc=values.mean(), scale=scipy_stats.sem(values)
    )
    assert (summary["ci_t_low"], summary["ci_t_high"]) == pytest.approx((max(low, 0.0), min(high, 1.0)))


def test_nine_seeds_at_one_and_one_at_half_no_longer_exclude_the_mean():
    summary = describe([1.0] * 9 + [0.5], bounds=(0.0, 1.0))  # was "0.950 ± 0.158 [0.991, 1.000]"
    assert (
        summary["mean"] == pytest.approx(0.95) and summary["ci_t_low"] < 0.95 and summary["ci_t_high"] == 1.0
    )


@pytest.mark.parametrize(
    ("values", "note"),
    [([], "no values"), ([0.7], "n = 1: no interval"), ([0.99, 0.95], "n = 2: no interval"),
     ([1.0, 1.0, 1.0], "all equal (n = 3)")],
)  # fmt: skip
def test_no_interval_from_fewer_than_three_values_or_identical_ones(values, note):
    summary = describe(values, bounds=(0.0, 1.0))
    assert summary["ci_t_low"] is None and summary["ci_t_high"] is None and summary["ci_note"] == note
    assert summary["ci_boot_low"] is None


def test_a_cost_interval_never_goes_below_zero():
    summary = describe([0.5, 0.4, 30.0], bounds=(0.0, None))  # one noisy latency
    assert summary["ci_t_low"] == 0.0 and summary["ci_t_high"] > summary["mean"]


def test_the_percentile_bootstrap_needs_ten_values_and_is_never_made_over_folds():
    five, ten = describe([0.6, 0.7, 0.65, 0.8, 0.75]), describe(np.linspace(0.6, 0.8, 10))
    assert five["ci_boot_low"] is None and ten["ci_boot_low"] < ten["mean"] < ten["ci_boot_high"]
    assert describe(np.linspace(0.6, 0.8, 10), correction=0.25)["ci_boot_low"] is None


@pytest.mark.slow  # over 1.5 s: fits scikit-learn's example models
def test_the_corrected_t_matches_scikit_learns_published_example():
    """scikit-learn's "Statistical comparison of models using grid search": rbf vs linear SVC, 10 x 10-fold
    ROC AUC on make_moons; published: corrected t 0.750, one-sided p 0.227, 95% [-0.016445, 0.036445]."""
    from sklearn.datasets import make_moons
    from sklearn.model_selection import RepeatedStratifiedKFold, cross_val_score
    from sklearn.svm import SVC

    x, y = make_moons(noise=0.352, random_state=1, n_samples=100)
    cv = RepeatedStratifiedKFold(n_splits=10, n_repeats=10, random_state=0)
    rbf, linear = (
        cross_val_score(SVC(kernel=kernel, random_state=0), x, y, cv=cv, scoring="roc_auc")
        for kernel in ("rbf", "linear")
    )
    result = corrected_resampled_ttest(rbf - linear, test_train_ratio=10 / 90)
    assert round(result["t_stat"], 3) == 0.750 and round(result["t_p"] / 2, 3) == 0.227
    assert (round(result["diff_ci_low"], 6), round(result["diff_ci_high"], 6)) == (-0.016445, 0.036445)
    naive = corrected_resampled_ttest(rbf - linear, test_train_ratio=0.0)
    assert round(naive["t_stat"], 3) == 2.611 and round(naive["t_p"] / 2, 3) == 0.005  # its "uncorrected"


def test_the_interval_of_a_mean_is_uncorrected_by_default_and_made_in_float64():
    values = np.array([0.1, 0.2, 0.4], dtype=np.float32)  # e.g. scores from float32 tensors
    exact = values.astype(np.float64)
    expected = scipy_stats.t.interval(0.95, 2, loc=sum(exact) / 3, scale=exact.std(ddof=1) / np.sqrt(3))
    assert mean_interval(values, 0.95) == pytest.approx(expected, rel=1e-12)


def test_the_corrected_interval_of_a_mean_over_folds_by_hand():
    values = np.array([0.62, 0.70, 0.66, 0.71, 0.64])
    scale = values.std(ddof=1) * np.sqrt(1 / 5 + 0.25)
    expected = scipy_stats.t.interval(0.95, 4, loc=values.mean(), scale=scale)
    assert mean_interval(values, 0.95, correction=0.25) == pytest.approx(expected)


def corrected_t_result(n: int, mean_diff: float | None = None, note: str = "") -> dict:
    """Every key a degenerate corrected t-test returns, the statistics None."""
    return {"n": n, "mean_diff": mean_diff, "diff_ci_low": None, "diff_ci_high": None, "t_stat": None,
            "t_p": None, "note": note}  # fmt: skip


@pytest.mark.parametrize(
    ("diffs", "expected"),
    [
        ([], corrected_t_result(0, note="no paired folds: no test")),
        ([0.25, 0.5], corrected_t_result(2, 0.375, "n = 2 paired folds: no interval and no test")),
        ([0.25, 0.25, 0.25], corrected_t_result(3, 0.25, "fold differences all equal (n = 3): no test")),
        # sd exactly 1e-12 (mean 0, deviations +-1e-12): still "no spread"
        ([-1e-12, 0.0, 1e-12], corrected_t_result(3, 0.0, "fold differences all equal (n = 3): no test")),
    ],
)
def test_corrected_t_degenerate_cases_say_why(diffs, expected):
    result = corrected_resampled_ttest(diffs, 0.25)
    assert result == expected and list(result) == list(expected)


def test_the_corrected_t_of_three_folds_by_hand():
    """d = 0.01, 0.03, 0.05 with n_test / n_train = 1/4: mean 0.03, sd 0.02, se = 0.02 sqrt(1/3 + 1/4).
    For 2 degrees of freedom the t CDF is 1/2 + t / (2 sqrt(2 + t^2)): the 0.975 quantile is
    0.95 sqrt(2 / 0.0975) and the two-sided p of t is 1 - t / sqrt(2 + t^2). Default confidence 0.95."""
    se = 0.02 * np.sqrt(1 / 3 + 1 / 4)
    t, half = 0.03 / se, 0.95 * np.sqrt(2 / 0.0975) * se
    expected = {"n": 3, "mean_diff": 0.03, "diff_ci_low": 0.03 - half, "diff_ci_high": 0.03 + half,
                "t_stat": t, "t_p": 1 - t / np.sqrt(2 + t**2), "note": ""}  # fmt: skip
    result = corrected_resampled_ttest([0.01, 0.03, 0.05], test_train_ratio=0.25)
    assert list(result) == list(expected) and result.pop("note") == expected.pop("note")
    assert result == pytest.approx(expected, rel=1e-9)


def test_the_corrected_t_drops_missing_folds_and_counts_in_float64():
    with_gaps = corrected_resampled_ttest([0.01, None, 0.03, float("nan"), 0.05], 0.25)
    assert with_gaps == corrected_resampled_ttest([0.01, 0.03, 0.05], 0.25) and with_gaps["n"] == 3
    single = np.array([0.1, 0.2, 0.4], dtype=np.float32)  # e.g. fold scores from float32 tensors
    exact_mean = sum(float(value) for value in single) / 3
    assert corrected_resampled_ttest(single, 0.25)["mean_diff"] == pytest.approx(exact_mean, rel=1e-15)


@pytest.mark.parametrize(
    ("hits", "trials", "low", "high"),
    [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)],
)
def test_wilson_matches_newcombes_table(hits, trials, low, high):
    """Newcombe (1998), Statistics in Medicine 17:857, Table II, method 3 (score interval, no correction)."""
    assert wilson_interval(hits, trials) == pytest.approx((low, high), abs=5e-5)


@pytest.mark.parametrize(("confidence", "z"), [(None, 1.959963984540054), (0.90, 1.6448536269514722)])
def test_wilson_of_one_success_in_one_trial_by_hand(confidence, z):
    """x = n = 1: centre (1 + z^2 / 2) / (1 + z^2), half-width z^2 / 2 / (1 + z^2): [1 / (1 + z^2), 1];
    z the normal quantile of the confidence (default 0.95)."""
    found = wilson_interval(1, 1) if confidence is None else wilson_interval(1, 1, confidence)
    assert found == pytest.approx((1 / (1 + z**2), 1.0), rel=1e-12)


def test_wilson_without_trials_is_no_interval():
    assert wilson_interval(0, 0) == (None, None)


def test_the_smallest_two_sided_wilcoxon_p_of_n_pairs():
    assert [smallest_wilcoxon_p(n) for n in (0, 1, 2, 3, 4, 5, 6)] == [
        1.0,
        1.0,
        0.5,
        0.25,
        0.125,
        0.0625,
        0.03125,
    ]
    exact = scipy_stats.wilcoxon([0.1, 0.2, 0.3, 0.4, 0.5], method="exact")  # every difference positive
    assert exact.pvalue == pytest.approx(smallest_wilcoxon_p(5))
