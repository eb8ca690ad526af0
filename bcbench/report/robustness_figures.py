"""The figures of corruption curves and selective prediction, drawn from what the analysis computed: one
small multiple per corruption (and their mean) and score, and the risk-coverage curves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bcbench.analysis import CorruptionAnalysis, RobustnessAnalysis, SelectiveAnalysis
from bcbench.report.figures import new_figure, save_figure

CURVE_METRICS = {
    "accuracy": "accuracy",
    "balanced_accuracy": "balanced accuracy",
    "auroc_macro": "macro AUROC",
}
MARKED_COVERAGES = (0.8, 0.9)


def corruption_figure(corruption: CorruptionAnalysis | None, path: Path) -> Path | None:
    """Rows: the corruptions, then their mean; columns: accuracy, balanced accuracy, macro AUROC against
    severity (0 = clean); per model the mean over seeds and the min-max band."""
    curves = corruption.curves if corruption is not None else None
    if curves is None or curves.empty:
        return None
    names = list(dict.fromkeys(curves["corruption"]))
    models = list(dict.fromkeys(curves["model"]))
    severities = sorted(int(severity) for severity in curves["severity"].unique())
    figure = new_figure(3.0 * len(CURVE_METRICS), 2.1 * len(names) + 0.6)
    axes = figure.subplots(len(names), len(CURVE_METRICS), squeeze=False, sharex=True)
    for row, name in enumerate(names):
        for column, (metric, label) in enumerate(CURVE_METRICS.items()):
            ax = axes[row, column]
            for colour, model in enumerate(models):
                chosen = curves[(curves["corruption"] == name) & (curves["model"] == model)]
                _draw_curve(ax, chosen[chosen["metric"] == metric], f"C{colour}", model)
            ax.set_title(f"{name}: {label}", fontsize=8)
            ax.set_xticks(severities)
            ax.grid(alpha=0.3)
            ax.tick_params(labelsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("severity (0 = clean)", fontsize=8)
    axes[0, 0].legend(fontsize=7, loc="lower left")
    figure.suptitle(f"Test scores under corruption: mean over {corruption.units}, band min-max", fontsize=10)
    return save_figure(figure, path)


def _draw_curve(ax: Any, points: Any, colour: str, label: str) -> None:
    if points.empty:
        return
    points = points.sort_values("severity")
    x = points["severity"].to_numpy(dtype=np.float64)
    ax.plot(x, points["mean"].to_numpy(dtype=np.float64), "o-", color=colour, label=label, markersize=3)
    low, high = points["min"].to_numpy(dtype=np.float64), points["max"].to_numpy(dtype=np.float64)
    ax.fill_between(x, low, high, color=colour, alpha=0.15, linewidth=0)


def risk_coverage_figure(selective: SelectiveAnalysis | None, path: Path) -> Path | None:
    """Selective risk (error rate among the kept images) against coverage, per model: mean over seeds,
    band min-max; the coverages of the table marked."""
    if selective is None or not selective.curves:
        return None
    figure = new_figure(5.6, 4.2)
    ax = figure.subplots()
    for colour, (model, curve) in enumerate(selective.curves.items()):
        ax.plot(curve["coverage"], curve["mean"], "-", color=f"C{colour}", label=model)
        ax.fill_between(
            curve["coverage"], curve["min"], curve["max"], color=f"C{colour}", alpha=0.15, linewidth=0
        )
    for coverage in MARKED_COVERAGES:
        ax.axvline(coverage, linestyle=":", color="0.5")
    ax.set_xlabel("coverage (share of test images kept, most confident first)")
    ax.set_ylabel("selective risk (error rate among kept)")
    ax.set_xlim(0.0, 1.0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title("Risk-coverage: mean over seeds, band min-max", fontsize=10)
    return save_figure(figure, path)


def robustness_figures(analysis: RobustnessAnalysis | None, directory: Path) -> dict[str, Path | None]:
    if analysis is None:
        return {}
    return {
        "corruption_curves": corruption_figure(analysis.corruption, directory / "corruption_curves.png"),
        "risk_coverage": risk_coverage_figure(analysis.selective, directory / "risk_coverage.png"),
    }
