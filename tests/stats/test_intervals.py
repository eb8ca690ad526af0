"""Intervals against hand values: logit-scale t intervals stay in [0, 1], the Nadeau-Bengio corrected
resampled t-test worked out by hand, Wilson by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from bcbench.stats import describe
from bcbench.stats.intervals import corrected_resampled_ttest, mean_interval, wilson_interval


def test_the_interval_that_ran_outside_0_1_now_stays_inside():
    recalls = [1.0, 0.75, 1.0]  # the default sweep's "recall normal 0.917 [0.658, 1.175]" case
    plain = describe(recalls)
    assert plain["ci_t_high"] > 1  # the old, plain t interval
    bounded = describe(recalls, bounded=True)
    assert 0 < bounded["ci_t_low"] < bounded["mean"] < bounded["ci_t_high"] < 1


def test_logit_interval_by_hand():
    values = np.array([0.6, 0.7, 0.8, 0.75])
    z = np.log(values / (1 - values))
    half = scipy_stats.t.ppf(0.975, 3) * z.std(ddof=1) / 2
    expected = (1 / (1 + math.exp(-(z.mean() - half))), 1 / (1 + math.exp(-(z.mean() + half))))
    assert mean_interval(values, 0.95, bounded=True) == pytest.approx(expected)
    assert mean_interval(np.array([0.5, 0.5, 0.5]), 0.95, bounded=True) == (0.5, 0.5)


def test_corrected_resampled_t_by_hand():
    # 5 folds x 2 repeats; test/train = 1/4 for 5-fold CV
    diffs = [0.02, 0.05, -0.01, 0.03, 0.04, 0.00, 0.06, 0.02, 0.01, 0.03]
    mean = 0.025
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / 9)  # 0.02121...
    se = sd * math.sqrt(1 / 10 + 1 / 4)  # corrected: 1/J + n_test/n_train
    t_stat = mean / se
    result = corrected_resampled_ttest(diffs, 0.25)
    assert result["mean_diff"] == pytest.approx(mean)
    assert result["t_stat"] == pytest.approx(t_stat)
    assert result["t_p"] == pytest.approx(2 * scipy_stats.t.sf(t_stat, 9))
    half = scipy_stats.t.ppf(0.975, 9) * se
    assert (result["diff_ci_low"], result["diff_ci_high"]) == pytest.approx((mean - half, mean + half))
    naive = scipy_stats.ttest_1samp(diffs, 0.0)
    assert result["t_p"] > naive.pvalue  # the naive test over folds is anti-conservative
    assert corrected_resampled_ttest(diffs, 0.0)["t_p"] == pytest.approx(naive.pvalue)


@pytest.mark.parametrize(
    ("diffs", "note"),
    [([], "no paired folds"), ([0.1, 0.2], "fewer than 3 paired folds"), ([0.1, 0.1, 0.1], "sd 0")],
)
def test_corrected_t_degenerate_cases_say_why(diffs, note):
    result = corrected_resampled_ttest(diffs, 0.25)
    assert result["t_p"] is None and note in result["note"]


def test_wilson_by_hand():
    # 8 of 10 at 95%: centre = (p + z^2/2n) / (1 + z^2/n), half = z sqrt(p(1-p)/n + z^2/4n^2) / (1 + z^2/n)
    z = scipy_stats.norm.ppf(0.975)
    centre = (0.8 + z**2 / 20) / (1 + z**2 / 10)
    half = z * math.sqrt(0.016 + z**2 / 400) / (1 + z**2 / 10)
    assert wilson_interval(8, 10) == pytest.approx((centre - half, centre + half))
    assert wilson_interval(8, 10) == pytest.approx((0.4902, 0.9433), abs=1e-4)  # the textbook value
    assert wilson_interval(0, 5)[0] == 0.0 and wilson_interval(5, 5)[1] == pytest.approx(1.0)
    assert wilson_interval(0, 0) == (None, None)
