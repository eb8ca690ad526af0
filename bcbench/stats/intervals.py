"""Intervals that say how they were made: t intervals of a mean (on the logit scale for scores bounded by
[0, 1], so they stay inside), the Nadeau-Bengio corrected resampled t for cross-validation folds, and
Wilson intervals for proportions.

Nadeau & Bengio (2003): folds of one data set share training images, so their scores are positively
correlated and the naive variance of their mean, s^2 / J, is too small. The corrected variance is
s^2 (1 / J + n_test / n_train), with J the number of folds x repeats.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats as scipy_stats

LOGIT_EPS = 1e-3  # bounded values are clipped to [eps, 1 - eps] before the logit


def logit(values: np.ndarray) -> np.ndarray:
    clipped = np.clip(values, LOGIT_EPS, 1 - LOGIT_EPS)
    return np.log(clipped / (1 - clipped))


def expit(values: float) -> float:
    return float(1 / (1 + math.exp(-values)))


def mean_interval(
    values: np.ndarray, confidence: float, bounded: bool = False, correction: float = 0.0
) -> tuple[float, float]:
    """Student-t interval of the mean of ``values`` (two or more), with the variance of the mean
    s^2 (1/n + correction); computed on the logit scale and mapped back when ``bounded``. All values
    equal: the value itself, both ends."""
    values = np.asarray(values, dtype=np.float64)
    if np.ptp(values) <= 1e-12 * max(1.0, float(np.abs(values).max())):
        return float(values[0]), float(values[0])
    scale = logit(values) if bounded else values
    half = (
        _t_quantile(confidence, values.size - 1) * scale.std(ddof=1) * math.sqrt(1 / values.size + correction)
    )
    low, high = scale.mean() - half, scale.mean() + half
    return (expit(low), expit(high)) if bounded else (float(low), float(high))


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
    if diffs.size < 3:
        return {**result, "note": "fewer than 3 paired folds: no test"}
    sd = float(diffs.std(ddof=1))
    if sd <= 1e-12:
        return {**result, "note": "fold differences all equal (sd 0): no test"}
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
