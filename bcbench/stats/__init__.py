"""Statistics over arrays of numbers (nothing else of bcbench): summaries with intervals (``describe``)
and paired model comparisons with multiple-test correction (``paired``)."""

from bcbench.stats.describe import DESCRIBE_KEYS, describe, summarise_runs
from bcbench.stats.paired import (
    holm_correction,
    paired_comparison,
    pairwise_comparisons,
    probability_of_improvement,
)

__all__ = [
    "DESCRIBE_KEYS",
    "describe",
    "holm_correction",
    "paired_comparison",
    "pairwise_comparisons",
    "probability_of_improvement",
    "summarise_runs",
]
