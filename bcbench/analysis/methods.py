"""How each interval and test of the report was made, written beside the code that makes them, so the
report's words can only describe what was computed."""

from __future__ import annotations

from bcbench.metrics import BOOTSTRAP_METHOD

PER_RUN_INTERVAL = (
    f"Brackets: the 95% interval over the test images of that run ({BOOTSTRAP_METHOD}), the test-set "
    "uncertainty of a single run, when the run stored one."
)
OVER_TEST_IMAGES = (
    f"- **over test images** (per run; pooled out-of-fold): a {BOOTSTRAP_METHOD} of every score "
    "(`test.bootstrap` of each record), Wilson intervals for sensitivity, specificity, PPV and NPV, and "
    "DeLong's interval for AUROC differences"
)
BOUNDED = (
    "- intervals of scores bounded by [0, 1] stay inside: t intervals are made on the logit scale, "
    "resampling intervals and Wilson intervals stay inside by construction"
)


def over_runs_line(cross_validation: bool, method: str) -> str:
    """The line on intervals over seeds or folds (summary, study comparison, pairwise tables)."""
    unit = "folds" if cross_validation else "seeds"
    return (
        f"- **over {unit}** (summary, study comparison, pairwise): {method}; a resampling interval of the "
        "mean is in `summary.csv` (`ci_boot_low`, `ci_boot_high`)"
    )
