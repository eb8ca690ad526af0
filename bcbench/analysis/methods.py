"""How each interval and test of the report was made, written beside the code that makes them, so the
report's words can only describe what was computed (``how_intervals_were_made``)."""

from __future__ import annotations

from bcbench.metrics import BOOTSTRAP_METHOD, ECE_BINS
from bcbench.stats import MIN_BOOTSTRAP

PER_RUN_INTERVAL = (
    f"Brackets: the 95% interval over the test images of that run ({BOOTSTRAP_METHOD}), the test-set "
    "uncertainty of a single run, when the run stored one."
)
OVER_TEST_IMAGES = (
    f"- **Per run, over its test images**: a {BOOTSTRAP_METHOD} of every score (`test.bootstrap` of each "
    "record; the per-run table); Wilson score intervals for sensitivity, specificity, PPV and NPV (the "
    "operating point per run); DeLong's interval for AUROC differences."
)
ECE_DEFINITION = (
    f"ECE is the top-label expected calibration error: {ECE_BINS} equal-width confidence bins closed on the "
    "right ((m-1)/M, m/M], so a confidence of exactly 1.0 is in the last bin (Guo et al. 2017); the "
    "reliability diagrams use the same bins."
)
BRIER_DEFINITION = (
    "Brier (multiclass) is the mean squared distance to the one-hot label summed over classes (0-2); "
    "Brier (positive) is the usual binary Brier score of the positive class against the rest (0-1)."
)


def how_intervals_were_made(cross_validation: bool, interval_method: str, delong: bool) -> list[str]:
    """The report's "How the intervals were made": one line per table of intervals it shows."""
    unit = "folds" if cross_validation else "seeds"
    lines = [
        f"- **Summary, study comparison, clinical summary** (mean over {unit}): {interval_method}. An "
        "interval is shown from 3 values on and when they are not all equal; otherwise the cell says why "
        "(`n = 2: no interval`, `all equal (n = 5)`).",
        _resampling_line(cross_validation),
        _pairwise_line(cross_validation),
        OVER_TEST_IMAGES,
    ]
    if delong:
        lines.append(_delong_line(cross_validation))
    if cross_validation:
        lines.append(
            "- **Cross-validation**: the mean over folds is the headline; the pooled out-of-fold scores join "
            "five fold models whose scores are on different scales (a pooled AUROC can understate each "
            "fold's), so they are shown as what they are, without an interval."
        )
    return lines


def _resampling_line(cross_validation: bool) -> str:
    if cross_validation:
        return (
            "- `summary.csv`'s `ci_boot_*` stay empty in cross-validation: resampling folds would skip the "
            "correction."
        )
    return (
        "- `summary.csv`'s `ci_boot_*`: a percentile bootstrap of the mean over seeds, from "
        f"{MIN_BOOTSTRAP} seeds on only (with 3-5 values it covers the truth 73-84% of the time, not 95%)."
    )


def _pairwise_line(cross_validation: bool) -> str:
    if cross_validation:
        return (
            "- **Pairwise comparisons**: the Nadeau-Bengio corrected resampled t-test over folds (seeds "
            "averaged per fold), Holm-corrected across the model pairs of each metric."
        )
    return (
        "- **Pairwise comparisons**: paired over shared seeds: Student t interval of the mean difference and "
        "paired t-test from 3 pairs, Wilcoxon signed-rank (exact; with n <= 5 pairs it cannot reach "
        "p < 2/2^n, said in the row's note), Holm-corrected across the model pairs of each metric."
    )


def _delong_line(cross_validation: bool) -> str:
    if cross_validation:
        return (
            "- **DeLong**: per fold, on that fold's test images scored by its own two models (Holm across "
            "the pairs of a class and fold); across folds the per-fold AUROC differences (mean over seeds) "
            "get the corrected resampled t."
        )
    return "- **DeLong**: per seed, on that run's test images (Holm across the pairs of a class and seed)."
