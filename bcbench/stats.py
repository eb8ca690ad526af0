"""Seed-sweep statistics: summaries with confidence intervals, paired tests, multiple-test correction.

Pure functions over arrays of per-seed scores. Conventions:

- Missing values (None or NaN) are dropped (pairs with a missing side are dropped as a pair);
  `n` always counts the values actually used. Infinite values are an error.
- Nothing returns NaN: an undefined statistic is None, and `paired_comparison` says why in `note`.
- Confidence intervals: Student t (`scipy.stats.t.ppf`) and a seeded percentile bootstrap of the
  mean (numpy `default_rng(seed)`); both collapse to the value when all values are identical.
- Paired tests: `scipy.stats.ttest_rel` and `scipy.stats.wilcoxon` (two-sided, zero_method="wilcox":
  zero differences are dropped, the textbook signed-rank test and scipy's default). Differences
  within `TOLERANCE` x scale of each other are treated as equal (float noise from subtracting
  scores that differ by the same amount must not create fake ranks or a fake non-zero spread).
- Probability of improvement P(A > B) is rliable's: the Mann-Whitney U statistic of a vs b over
  n_a * n_b, ties counting 1/2 (unpaired: every seed of A against every seed of B).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

TOLERANCE = 1e-12
NOTE_NO_PAIRS = "no paired seeds: no test"
NOTE_TOO_FEW = "fewer than 3 paired seeds: no test"
NOTE_IDENTICAL = "identical values: no test"
NOTE_CONSTANT_DIFFERENCE = "paired differences all equal (sd 0): no t-test or effect size"
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
)


def _validate_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")


def _as_float_array(values: Iterable[float | None]) -> np.ndarray:
    array = np.asarray([np.nan if value is None else value for value in values], dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"expected a 1-D sequence of numbers, got shape {array.shape}")
    if np.isinf(array).any():
        raise ValueError("values contain inf: a statistic over them would be meaningless")
    return array


def _present_values(values: Iterable[float | None]) -> np.ndarray:
    """The values as float64 with None/NaN dropped."""
    array = _as_float_array(values)
    return array[~np.isnan(array)]


def _all_equal(values: np.ndarray) -> bool:
    scale = max(1.0, float(np.max(np.abs(values))))
    return bool(np.ptp(values) <= TOLERANCE * scale)


def _t_interval(mean: float, std: float, n: int, confidence: float) -> tuple[float, float]:
    if std == 0:
        return mean, mean
    half_width = float(scipy_stats.t.ppf((1 + confidence) / 2, n - 1)) * std / np.sqrt(n)
    return mean - half_width, mean + half_width


def _bootstrap_mean_interval(
    values: np.ndarray, confidence: float, n_boot: int, seed: int
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (resampling the values with replacement)."""
    if _all_equal(values):
        return float(values[0]), float(values[0])
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, size=(n_boot, values.size))].mean(axis=1)
    alpha = 1 - confidence
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def describe(
    values: Iterable[float | None], confidence: float = 0.95, n_boot: int = 10_000, seed: int = 0
) -> dict[str, Any]:
    """n, mean, std (ddof=1), median, min, max and t / bootstrap confidence intervals of the mean.

    std and both intervals are None when fewer than 2 values; everything but n is None with none.
    """
    _validate_confidence(confidence)
    present = _present_values(values)
    n = int(present.size)
    summary: dict[str, Any] = dict.fromkeys(DESCRIBE_KEYS)
    summary["n"] = n
    if n == 0:
        return summary
    identical = _all_equal(present)
    mean = float(present[0]) if identical else float(present.mean())
    summary.update(
        mean=mean, median=float(np.median(present)), min=float(present.min()), max=float(present.max())
    )
    if n < 2:
        return summary
    std = 0.0 if identical else float(present.std(ddof=1))
    summary["std"] = std
    summary["ci_t_low"], summary["ci_t_high"] = _t_interval(mean, std, n, confidence)
    summary["ci_boot_low"], summary["ci_boot_high"] = _bootstrap_mean_interval(
        present, confidence, n_boot, seed
    )
    return summary


def probability_of_improvement(a: Sequence[float], b: Sequence[float]) -> float:
    """P(A > B) over all (a_i, b_j) pairs, ties counting 1/2 (= Mann-Whitney U / (n_a n_b))."""
    a_array, b_array = _present_values(a), _present_values(b)
    if a_array.size == 0 or b_array.size == 0:
        raise ValueError("probability of improvement needs at least one value on each side")
    greater = np.sum(a_array[:, None] > b_array[None, :])
    ties = np.sum(a_array[:, None] == b_array[None, :])
    return float((greater + 0.5 * ties) / (a_array.size * b_array.size))


def _snap_differences(differences: np.ndarray, scale: float) -> np.ndarray:
    """Round differences to a grid of TOLERANCE * scale so float noise cannot break ties or zeros."""
    step = TOLERANCE * scale
    return np.round(differences / step) * step


def _empty_comparison(n: int, note: str) -> dict[str, Any]:
    return {
        "n": n,
        "mean_a": None,
        "mean_b": None,
        "mean_diff": None,
        "diff_ci_low": None,
        "diff_ci_high": None,
        "diff_ci_boot_low": None,
        "diff_ci_boot_high": None,
        "t_stat": None,
        "t_p": None,
        "wilcoxon_stat": None,
        "wilcoxon_p": None,
        "effect_size": None,
        "prob_improvement": None,
        "note": note,
    }


def paired_comparison(
    a: Sequence[float | None],
    b: Sequence[float | None],
    confidence: float = 0.95,
    n_boot: int = 10_000,
    seed: int = 0,
) -> dict[str, Any]:
    """Compare two models' scores on the same seeds (paired by position); differences are a - b.

    Keys: n, mean_a, mean_b, mean_diff, diff_ci_low/diff_ci_high (t interval of the mean paired
    difference), diff_ci_boot_low/diff_ci_boot_high (percentile bootstrap of it), t_stat, t_p
    (paired t-test), wilcoxon_stat, wilcoxon_p (signed-rank, zero differences dropped),
    effect_size (Cohen's d_z = mean diff / sd of diffs), prob_improvement (P(A > B)), note
    ("" when every statistic is defined, otherwise why some are None).
    """
    _validate_confidence(confidence)
    a_array, b_array = _as_float_array(a), _as_float_array(b)
    if a_array.shape != b_array.shape:
        raise ValueError(f"paired values need equal lengths, got {a_array.size} and {b_array.size}")
    complete = ~(np.isnan(a_array) | np.isnan(b_array))
    a_array, b_array = a_array[complete], b_array[complete]
    n = int(a_array.size)
    if n == 0:
        return _empty_comparison(0, NOTE_NO_PAIRS)

    scale = max(1.0, float(np.max(np.abs(a_array))), float(np.max(np.abs(b_array))))
    differences = _snap_differences(a_array - b_array, scale)
    constant_difference = bool(np.all(differences == differences[0]))
    mean_diff = float(differences[0]) if constant_difference else float((a_array - b_array).mean())
    result = _empty_comparison(n, "")
    result.update(
        mean_a=float(a_array.mean()),
        mean_b=float(b_array.mean()),
        mean_diff=mean_diff,
        prob_improvement=probability_of_improvement(a_array, b_array),
    )
    if n >= 2:
        sd_diff = 0.0 if constant_difference else float((a_array - b_array).std(ddof=1))
        result["diff_ci_low"], result["diff_ci_high"] = _t_interval(mean_diff, sd_diff, n, confidence)
        result["diff_ci_boot_low"], result["diff_ci_boot_high"] = _bootstrap_mean_interval(
            differences, confidence, n_boot, seed
        )
        if sd_diff > 0:
            result["effect_size"] = mean_diff / sd_diff
    if n < 3:
        result["note"] = NOTE_TOO_FEW
        return result
    if constant_difference and mean_diff == 0:
        result["note"] = NOTE_IDENTICAL
        return result

    notes = []
    if constant_difference:
        notes.append(NOTE_CONSTANT_DIFFERENCE)
    else:
        t_test = scipy_stats.ttest_rel(a_array, b_array)
        result["t_stat"], result["t_p"] = float(t_test.statistic), float(t_test.pvalue)
    wilcoxon = scipy_stats.wilcoxon(differences, zero_method="wilcox", alternative="two-sided")
    result["wilcoxon_stat"], result["wilcoxon_p"] = float(wilcoxon.statistic), float(wilcoxon.pvalue)
    zero_pairs = int(np.sum(differences == 0))
    if zero_pairs:
        notes.append(f"Wilcoxon dropped {zero_pairs} zero difference(s)")
    result["note"] = "; ".join(notes)
    return result


def holm_correction(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm-Bonferroni step-down adjusted p-values, in input order.

    adjusted p_(k) = min(1, max_{j <= k} (m - j + 1) p_(j)) over the sorted p-values; None (or NaN)
    entries are passed through as None and not counted in m.
    """
    adjusted: list[float | None] = [None] * len(pvalues)
    tested = [(index, float(p)) for index, p in enumerate(pvalues) if p is not None and not np.isnan(p)]
    for _, p in tested:
        if not 0 <= p <= 1:
            raise ValueError(f"p-values must lie in [0, 1], got {p}")
    m = len(tested)
    running_max = 0.0
    for rank, (index, p) in enumerate(sorted(tested, key=lambda item: item[1])):
        running_max = max(running_max, min(1.0, (m - rank) * p))
        adjusted[index] = running_max
    return adjusted


def _shared_seeds(scores_a: Mapping[int, float | None], scores_b: Mapping[int, float | None]) -> list[int]:
    """Seeds with a value (not None/NaN) for both models, sorted."""

    def has_value(score: float | None) -> bool:
        return score is not None and not np.isnan(score)

    return sorted(
        seed
        for seed in scores_a
        if seed in scores_b and has_value(scores_a[seed]) and has_value(scores_b[seed])
    )


def pairwise_comparisons(
    scores: Mapping[str, Mapping[int, float | None]],
    metric_name: str,
    confidence: float = 0.95,
    seed: int = 0,
    n_boot: int = 10_000,
) -> list[dict[str, Any]]:
    """`paired_comparison` for every unordered model pair (i < j in the given order) on shared seeds.

    Each row: model_a, model_b, metric, n_pairs, the paired_comparison keys, and t_p_holm /
    wilcoxon_p_holm (Holm-corrected across all pairs of this metric; None where the test was not run).
    """
    rows = []
    for model_a, model_b in itertools.combinations(scores, 2):
        seeds = _shared_seeds(scores[model_a], scores[model_b])
        comparison = paired_comparison(
            [scores[model_a][s] for s in seeds],
            [scores[model_b][s] for s in seeds],
            confidence=confidence,
            n_boot=n_boot,
            seed=seed,
        )
        rows.append(
            {
                "model_a": model_a,
                "model_b": model_b,
                "metric": metric_name,
                "n_pairs": len(seeds),
                **comparison,
            }
        )
    for pvalue_key in ("t_p", "wilcoxon_p"):
        adjusted = holm_correction([row[pvalue_key] for row in rows])
        for row, adjusted_p in zip(rows, adjusted, strict=True):
            row[f"{pvalue_key}_holm"] = adjusted_p
    return rows


def summarise_runs(
    df: pd.DataFrame,
    metrics: Sequence[str],
    group: str = "model",
    confidence: float = 0.95,
    n_boot: int = 10_000,
    seed: int = 0,
) -> pd.DataFrame:
    """Tidy table, one row per (group value, metric), with the `describe` columns.

    Metrics absent from `df` or entirely missing are skipped; a group whose values of a present
    metric are all missing gets a row with n = 0. Groups keep their order of first appearance.
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
                    **describe(values, confidence, n_boot=n_boot, seed=seed),
                }
            )
    return pd.DataFrame(rows, columns=columns)
