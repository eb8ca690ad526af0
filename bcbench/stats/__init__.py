"""Statistics over arrays of numbers (nothing else of bcbench): summaries with intervals (``describe``),
intervals that say how they were made (``intervals``), paired model comparisons with multiple-test
correction (``paired``) and DeLong's test of two AUROCs (``delong``)."""

from bcbench.stats.delong import delong_test
from bcbench.stats.describe import DESCRIBE_KEYS, MIN_BOOTSTRAP, describe, summarise_runs
from bcbench.stats.intervals import corrected_resampled_ttest, mean_interval, wilson_interval
from bcbench.stats.paired import (
    holm_correction,
    paired_comparison,
    pairwise_comparisons,
    probability_of_improvement,
)

__all__ = [
    "DESCRIBE_KEYS",
    "MIN_BOOTSTRAP",
    "corrected_resampled_ttest",
    "delong_test",
    "describe",
    "holm_correction",
    "mean_interval",
    "paired_comparison",
    "pairwise_comparisons",
    "probability_of_improvement",
    "summarise_runs",
    "wilson_interval",
]
