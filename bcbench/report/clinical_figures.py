"""The clinical view's figures, drawn from what the analysis computed: ROC and precision-recall curves of the
positive class (mean over runs, band min-max), and reliability diagrams before and after temperature
scaling (pooled over runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bcbench.report.figures import grid_shape, new_figure, save_figure


def roc_pr_figure(curves: dict[str, dict[str, Any]], positive: str, path: Path) -> Path | None:
    if not curves:
        return None
    figure = new_figure(10.0, 4.4)
    roc_ax, pr_ax = figure.subplots(1, 2)
    for colour, (model, curve) in enumerate(curves.items()):
        _draw(roc_ax, curve["roc"], f"C{colour}", f"{model} ({curve['units']} runs)")
        _draw(pr_ax, curve["pr"], f"C{colour}", model)
    roc_ax.plot([0, 1], [0, 1], ":", color="0.5", label="chance")
    _label(roc_ax, "false positive rate (1 - specificity)", "sensitivity", f"ROC: {positive} vs rest")
    _label(pr_ax, f"recall (sensitivity for {positive})", "precision (PPV)", "Precision-recall")
    roc_ax.legend(fontsize=8, loc="lower right")
    figure.suptitle("Test predictions; line: mean over runs, band: min-max over runs", fontsize=10)
    return save_figure(figure, path)


def reliability_figure(curves: dict[str, dict[str, Any]], path: Path) -> Path | None:
    if not curves:
        return None
    rows, columns = grid_shape(len(curves))
    figure = new_figure(3.8 * columns, 3.6 * rows)
    axes = np.atleast_1d(figure.subplots(rows, columns, squeeze=False)).ravel()
    for ax, (model, curve) in zip(axes, curves.items(), strict=False):
        for key, style, name in (("raw", "o-", "raw"), ("calibrated", "s--", "temperature-scaled")):
            bins = curve[key]
            shown = bins["count"] > 0
            ax.plot(bins["confidence"][shown], bins["accuracy"][shown], style, label=name, markersize=4)
        ax.plot([0, 1], [0, 1], ":", color="0.5", label="perfect calibration")
        _label(
            ax, "confidence (top-class probability)", "accuracy", f"{model} ({curve['units']} runs pooled)"
        )
        ax.legend(fontsize=7, loc="upper left")
    for ax in axes[len(curves) :]:
        ax.set_visible(False)
    figure.suptitle("Reliability of test predictions, before and after temperature scaling", fontsize=10)
    return save_figure(figure, path)


def _draw(ax: Any, curve: dict[str, np.ndarray], colour: str, label: str) -> None:
    ax.plot(curve["x"], curve["mean"], "-", color=colour, label=label)
    ax.fill_between(curve["x"], curve["low"], curve["high"], color=colour, alpha=0.15, linewidth=0)


def _label(ax: Any, x: str, y: str, title: str) -> None:
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
