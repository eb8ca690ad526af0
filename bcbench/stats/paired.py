"""Seed-sweep statistics: summaries with confidence intervals, paired tests, multiple-test correction.

Pure functions over arrays of per-seed scores. Conventions:

- Missing values (None or NaN) are dropped (pairs with a missing side are dropped as a pair);
  `n` always counts the values actually used. Infinite values are an error.
- Nothing returns NaN: an undefined statistic is None, and `paired_comparison` says why in `note`.
- Confidence intervals of the mean difference: Student t from 3 pairs on, a seeded percentile
  bootstrap from ``MIN_BOOTSTRAP`` (10) pairs on; none when the differences are all equal.
- Paired tests: `scipy.stats.ttest_rel` and `scipy.stats.wilcoxon` (two-sided, zero_method="wilcox":
  zero differences are dropped, the textbook signed-rank test and scipy's default). Differences
  within `TOLERANCE` x scale of each other are treated as equal (float noise from subtracting
  scores that differ by the same amount must not create fake ranks or a fake non-zero spread).
- Probability of improvement P(A > B) is rliable's: the Mann-Whitney U statistic of a vs b over
  n_a * n_b, ties counting 1/2 (unpaired: every seed of A against every seed of B).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats as scipy_stats

from bcbench.stats.describe import (
    MIN_BOOTSTRAP,
    TOLERANCE,
    as_float_array,
    bootstrap_mean_interval,
    present_values,
    t_interval,
    validate_confidence,
)
from bcbench.stats.intervals import MIN_VALUES, smallest_wilcoxon_p

NOTE_NO_PAIRS = "no paired seeds: no test"


NOTE_TOO_FEW = "fewer than 3 paired seeds: no interval and no test"


NOTE_IDENTICAL = "identical values: no test"


NOTE_CONSTANT_DIFFERENCE = "paired differences all equal (sd 0): no interval, t-test or effect size"


def probability_of_improvement(a: Sequence[float], b: Sequence[float]) -> float:
    """P(A > B) over all (a_i, b_j) pairs, ties counting 1/2 (= Mann-Whitney U / (n_a n_b))."""
    a_array, b_array = present_values(a), present_values(b)
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
    validate_confidence(confidence)
    a_array, b_array = as_float_array(a), as_float_array(b)
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
    if n >= MIN_VALUES:
        _add_intervals(result, a_array - b_array, differences, constant_difference, confidence, n_boot, seed)
    else:
        result["note"] = NOTE_TOO_FEW
        return result
    if constant_difference and mean_diff == 0:
        result["note"] = NOTE_IDENTICAL
        return result
    _add_tests(result, a_array, b_array, differences, constant_difference)
    return result


def _add_intervals(
    result: dict[str, Any],
    raw: np.ndarray,
    differences: np.ndarray,
    constant: bool,
    confidence: float,
    n_boot: int,
    seed: int,
) -> None:
    """t interval (from 3 pairs), bootstrap interval (from ``MIN_BOOTSTRAP`` pairs) of the mean difference
    and d_z; none of them when the differences are all equal."""
    if constant:
        return
    mean_diff, n = result["mean_diff"], raw.size
    sd_diff = float(raw.std(ddof=1))
    result["diff_ci_low"], result["diff_ci_high"] = t_interval(mean_diff, sd_diff, n, confidence)
    if n >= MIN_BOOTSTRAP:
        low, high = bootstrap_mean_interval(differences, confidence, n_boot, seed)
        result["diff_ci_boot_low"], result["diff_ci_boot_high"] = low, high
    result["effect_size"] = mean_diff / sd_diff


def _add_tests(
    result: dict[str, Any], a: np.ndarray, b: np.ndarray, differences: np.ndarray, constant: bool
) -> None:
    """The paired t-test (not for a constant difference) and Wilcoxon, with notes on what was left out."""
    notes = []
    if constant:
        notes.append(NOTE_CONSTANT_DIFFERENCE)
    else:
        t_test = scipy_stats.ttest_rel(a, b)
        result["t_stat"], result["t_p"] = float(t_test.statistic), float(t_test.pvalue)
    wilcoxon = scipy_stats.wilcoxon(differences, zero_method="wilcox", alternative="two-sided")
    result["wilcoxon_stat"], result["wilcoxon_p"] = float(wilcoxon.statistic), float(wilcoxon.pvalue)
    zero_pairs = int(np.sum(differences == 0))
    if zero_pairs:
        notes.append(f"Wilcoxon dropped {zero_pairs} zero difference(s)")
    used = differences.size - zero_pairs
    if used <= 5:
        notes.append(f"Wilcoxon with {used} pairs cannot give p below {smallest_wilcoxon_p(used):.4g}")
    result["note"] = "; ".join(notes)


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
