"""Summaries of per-seed (or per-fold) scores: mean, spread and confidence intervals of the mean.

Pure functions over arrays of numbers (nothing else of bcbench). Missing values (None or NaN) are
dropped and ``n`` counts the values used; infinite values are an error; an undefined statistic is
None, never NaN. An interval is given only when it means something, and ``ci_note`` says why not:

- the Student-t interval of the mean (``bcbench.stats.intervals.mean_interval``: raw scale, Nadeau-Bengio
  correction for folds, clipped to the metric's range) needs at least 3 values that are not all equal;
- the seeded percentile bootstrap of the mean needs at least ``MIN_BOOTSTRAP`` values (with 3-5 it covers
  the truth 73-84% of the time, not 95%) and is never made over folds (it would skip the correction).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from bcbench.stats.intervals import MIN_VALUES, Bounds, mean_interval

TOLERANCE = 1e-12
MIN_BOOTSTRAP = 10


DESCRIBE_KEYS = (
    "n",
    "mean",
    "std",
    "median",
    "min",
    "max",
    "ci_t_low",
    "ci_t_high",
    "ci_boot_low",
    "ci_boot_high",
    "ci_note",
)


def validate_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")


def as_float_array(values: Iterable[float | None]) -> np.ndarray:
    array = np.asarray([np.nan if value is None else value for value in values], dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"expected a 1-D sequence of numbers, got shape {array.shape}")
    if np.isinf(array).any():
        raise ValueError("values contain inf: a statistic over them would be meaningless")
    return array


def present_values(values: Iterable[float | None]) -> np.ndarray:
    """The values as float64 with None/NaN dropped."""
    array = as_float_array(values)
    return array[~np.isnan(array)]


def all_equal(values: np.ndarray) -> bool:
    scale = max(1.0, float(np.max(np.abs(values))))
    return bool(np.ptp(values) <= TOLERANCE * scale)


def t_interval(mean: float, std: float, n: int, confidence: float) -> tuple[float, float]:
    """Student-t interval of a mean from n values with sample standard deviation ``std``."""
    if std == 0:
        return mean, mean
    low, high = scipy_stats.t.interval(confidence, n - 1, loc=mean, scale=std / np.sqrt(n))
    return float(low), float(high)


def bootstrap_mean_interval(
    values: np.ndarray, confidence: float, n_boot: int, seed: int
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (resampling the values with replacement)."""
    if all_equal(values):
        return float(values[0]), float(values[0])
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, size=(n_boot, values.size))].mean(axis=1)
    alpha = 1 - confidence
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def interval_note(n: int, identical: bool) -> str:
    """Why a set of values gets no interval ("" when it gets one)."""
    if n == 0:
        return "no values"
    if n < MIN_VALUES:
        return f"n = {n}: no interval"
    if identical:
        return f"all equal (n = {n})"
    return ""


def describe(
    values: Iterable[float | None],
    confidence: float = 0.95,
    n_boot: int = 10_000,
    seed: int = 0,
    bounds: Bounds = (None, None),
    correction: float = 0.0,
) -> dict[str, Any]:
    """n, mean, std (ddof=1), median, min, max, the t and bootstrap intervals of the mean, ``ci_note``.

    ``bounds``: the range the values can take (e.g. (0, 1) for a score): the t interval is clipped to it.
    ``correction``: added to 1/n in the variance of the mean (Nadeau-Bengio's n_test / n_train for
    cross-validation folds; no bootstrap interval then). std is None below 2 values; the intervals are
    None below 3 values or when all values are equal (``ci_note`` says which).
    """
    validate_confidence(confidence)
    present = present_values(values)
    n = int(present.size)
    summary: dict[str, Any] = dict.fromkeys(DESCRIBE_KEYS)
    summary["n"] = n
    identical = n > 0 and all_equal(present)
    summary["ci_note"] = interval_note(n, identical)
    if n == 0:
        return summary
    mean = float(present[0]) if identical else float(present.mean())
    summary.update(
        mean=mean, median=float(np.median(present)), min=float(present.min()), max=float(present.max())
    )
    if n >= 2:
        summary["std"] = 0.0 if identical else float(present.std(ddof=1))
    if summary["ci_note"]:
        return summary
    summary["ci_t_low"], summary["ci_t_high"] = mean_interval(present, confidence, correction, bounds)
    if n >= MIN_BOOTSTRAP and correction == 0:
        summary["ci_boot_low"], summary["ci_boot_high"] = bootstrap_mean_interval(
            present, confidence, n_boot, seed
        )
    return summary


def summarise_runs(
    df: pd.DataFrame,
    metrics: Sequence[str],
    group: str = "model",
    confidence: float = 0.95,
    n_boot: int = 10_000,
    seed: int = 0,
    bounds: Mapping[str, Bounds] | None = None,
    correction: float = 0.0,
) -> pd.DataFrame:
    """Tidy table, one row per (group value, metric), with the `describe` columns.

    Metrics absent from `df` or entirely missing are skipped; a group whose values of a present
    metric are all missing gets a row with n = 0. Groups keep their order of first appearance.
    ``bounds``: metric -> its range (intervals are clipped to it); ``correction`` goes to ``describe``.
    """
    columns = [group, "metric", *DESCRIBE_KEYS]
    usable = [m for m in metrics if m in df.columns and pd.to_numeric(df[m], errors="coerce").notna().any()]
    rows = []
    for group_value, group_df in df.groupby(group, sort=False):
        for metric in usable:
            values = pd.to_numeric(group_df[metric], errors="coerce").to_numpy(dtype=np.float64)
            rows.append(
                {
                    group: group_value,
                    "metric": metric,
                    **describe(
                        values, confidence, n_boot, seed, (bounds or {}).get(metric, (None, None)), correction
                    ),
                }
            )
    return pd.DataFrame(rows, columns=columns)
