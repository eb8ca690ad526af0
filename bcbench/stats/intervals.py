"""Intervals that say how they were made: the Student-t interval of a mean (with Nadeau-Bengio's correction
for cross-validation folds, clipped to the range the values can take), the corrected resampled t-test, and
Wilson intervals for proportions.

Why the raw scale, clipped: a bounded score's interval must contain the mean printed beside it. A t
interval on the logit scale is centred on expit(mean of logits), not on the mean, and needs an arbitrary
clip for values at 0 or 1 (which then decides the interval). On the raw scale the interval is centred on
the mean itself; clipping it to the metric's range keeps it inside [0, 1] and still contains the mean.

Nadeau & Bengio (2003): folds of one data set share training images, so their scores are positively
correlated and the naive variance of their mean, s^2 / J, is too small. The corrected variance is
s^2 (1 / J + n_test / n_train), with J the number of folds x repeats (Bouckaert & Frank 2004 for repeats).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats as scipy_stats

MIN_VALUES = 3  # fewer values: no interval and no test (with 2 the t quantile is 12.7)
Bounds = tuple[float | None, float | None]


def mean_interval(
    values: np.ndarray, confidence: float, correction: float = 0.0, bounds: Bounds = (None, None)
) -> tuple[float, float]:
    """Student-t interval of the mean of ``values`` (three or more, not all equal), with the variance of
    the mean s^2 (1/n + correction), clipped to ``bounds`` (lower, upper; None: unbounded)."""
    values = np.asarray(values, dtype=np.float64)
    mean = float(values.mean())
    scale = float(values.std(ddof=1)) * math.sqrt(1 / values.size + correction)
    low, high = scipy_stats.t.interval(confidence, values.size - 1, loc=mean, scale=scale)
    return clip_interval(float(low), float(high), bounds)


def clip_interval(low: float, high: float, bounds: Bounds) -> tuple[float, float]:
    lower, upper = bounds
    if lower is not None:
        low, high = max(low, lower), max(high, lower)
    if upper is not None:
        low, high = min(low, upper), min(high, upper)
    return low, high


def _t_quantile(confidence: float, df: int) -> float:
    return float(scipy_stats.t.ppf((1 + confidence) / 2, df))


def corrected_resampled_ttest(
    differences: Any, test_train_ratio: float, confidence: float = 0.95
) -> dict[str, Any]:
    """Nadeau-Bengio corrected resampled t-test of paired fold differences (model A - model B).

    ``differences``: one per (repeat, fold); ``test_train_ratio``: n_test / n_train of a fold. Returns
    n, mean_diff, diff_ci_low/high, t_stat, t_p (two-sided, df = n - 1) and a ``note`` saying why a
    test is missing (fewer than 3 folds, or no spread).
    """
    diffs = np.asarray([d for d in differences if d is not None and not np.isnan(d)], dtype=np.float64)
    result: dict[str, Any] = {
        "n": int(diffs.size),
        "mean_diff": None,
        "diff_ci_low": None,
        "diff_ci_high": None,
    }
    result.update(t_stat=None, t_p=None, note="")
    if diffs.size == 0:
        return {**result, "note": "no paired folds: no test"}
    result["mean_diff"] = float(diffs.mean())
    if diffs.size < MIN_VALUES:
        return {**result, "note": f"n = {diffs.size} paired folds: no interval and no test"}
    sd = float(diffs.std(ddof=1))
    if sd <= 1e-12:
        return {**result, "note": f"fold differences all equal (n = {diffs.size}): no test"}
    se = sd * math.sqrt(1 / diffs.size + test_train_ratio)
    half = _t_quantile(confidence, diffs.size - 1) * se
    t_stat = result["mean_diff"] / se
    p = float(2 * scipy_stats.t.sf(abs(t_stat), diffs.size - 1))
    return {
        **result,
        "diff_ci_low": result["mean_diff"] - half,
        "diff_ci_high": result["mean_diff"] + half,
        "t_stat": t_stat,
        "t_p": p,
    }


def wilson_interval(
    successes: int, trials: int, confidence: float = 0.95
) -> tuple[float | None, float | None]:
    """Wilson score interval of a proportion, without continuity correction (scipy's ``binomtest``);
    (None, None) without trials."""
    if trials <= 0:
        return None, None
    found = scipy_stats.binomtest(int(successes), int(trials)).proportion_ci(confidence, method="wilson")
    return float(found.low), float(found.high)


def smallest_wilcoxon_p(n: int) -> float:
    """The smallest two-sided p an exact Wilcoxon signed-rank test of n pairs can give: 2 / 2^n (every
    difference of one sign); 0.25, 0.125 and 0.0625 for 3, 4 and 5 pairs."""
    return min(1.0, 2.0 / 2**n)
