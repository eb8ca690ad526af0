"""The clinical view's figures, drawn from what the analysis computed: ROC and precision-recall curves of the
positive class (mean over runs, band min-max; the number of test images per run in the legend), and
reliability diagrams before and after temperature scaling (pooled over runs), each over a histogram of the
images in its bins, so a bin of one image reads as one image and not as a calibration failure."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bcbench.report.figures import figure_title, grid_shape, new_figure, save_figure

RELIABILITY_STYLES = (("raw", "o-", "C0", "raw"), ("calibrated", "s--", "C1", "temperature-scaled"))


def image_count(images: Sequence[int]) -> str:
    """The test images per run: "8", or "20-25" when runs differ."""
    return str(min(images)) if min(images) == max(images) else f"{min(images)}-{max(images)}"


def build_roc_pr(curves: dict[str, dict[str, Any]], positive: str, source: str | None = None) -> Any | None:
    if not curves:
        return None
    figure = new_figure(10.0, 4.8)
    roc_ax, pr_ax = figure.subplots(1, 2)
    for colour, (model, curve) in enumerate(curves.items()):
        runs = f"{curve['units']} run{'s' if curve['units'] != 1 else ''}"
        label = f"{model} ({runs}, {image_count(curve['images'])} test images each)"
        _draw(roc_ax, curve["roc"], f"C{colour}", label)
        _draw(pr_ax, curve["pr"], f"C{colour}", model)
    roc_ax.plot([0, 1], [0, 1], ":", color="0.5", label="chance")
    _label(roc_ax, "false positive rate (1 - specificity)", "sensitivity", f"ROC: {positive} vs rest")
    _label(pr_ax, f"recall (sensitivity for {positive})", "precision (PPV)", "Precision-recall")
    roc_ax.legend(fontsize=8, loc="lower right")
    every = [size for curve in curves.values() for size in curve["images"]]
    title = f"Test predictions ({image_count(every)} images per run); line: mean over runs, band: min-max"
    figure_title(figure, title, source)
    return figure


def roc_pr_figure(
    curves: dict[str, dict[str, Any]], positive: str, path: Path, source: str | None = None
) -> Path | None:
    figure = build_roc_pr(curves, positive, source)
    return save_figure(figure, path) if figure is not None else None


def build_reliability(curves: dict[str, dict[str, Any]], source: str | None = None) -> Any | None:
    """Per model a reliability diagram over a histogram of the images in each confidence bin."""
    if not curves:
        return None
    rows, columns = grid_shape(len(curves))
    figure = new_figure(3.8 * columns, 4.8 * rows + 0.4)
    grid = figure.add_gridspec(2 * rows, columns, height_ratios=[3, 1] * rows)
    for index, (model, curve) in enumerate(curves.items()):
        row, column = divmod(index, columns)
        ax = figure.add_subplot(grid[2 * row, column])
        count_ax = figure.add_subplot(grid[2 * row + 1, column], sharex=ax)
        _draw_reliability(ax, curve, f"{model} ({curve['units']} runs pooled)")
        _draw_bin_counts(count_ax, curve)
    figure_title(figure, "Reliability of test predictions, before and after temperature scaling", source)
    return figure


def reliability_figure(
    curves: dict[str, dict[str, Any]], path: Path, source: str | None = None
) -> Path | None:
    figure = build_reliability(curves, source)
    return save_figure(figure, path) if figure is not None else None


def _draw_reliability(ax: Any, curve: dict[str, Any], title: str) -> None:
    for key, style, colour, name in RELIABILITY_STYLES:
        bins = curve[key]
        shown = bins["count"] > 0
        ax.plot(bins["confidence"][shown], bins["accuracy"][shown], style, color=colour, label=name, ms=4)
    ax.plot([0, 1], [0, 1], ":", color="0.5", label="perfect calibration")
    _label(ax, "", "accuracy", title)
    ax.tick_params(labelbottom=False)
    ax.legend(fontsize=7, loc="upper left")


def _draw_bin_counts(ax: Any, curve: dict[str, Any]) -> None:
    """Side by side per bin: the images in it before (left) and after (right) temperature scaling."""
    highest = 0
    for offset, (key, _style, colour, name) in zip((-0.25, 0.25), RELIABILITY_STYLES, strict=True):
        counts = np.asarray(curve[key]["count"])
        width = 1.0 / counts.size
        centres = (np.arange(counts.size) + 0.5 + offset) * width
        bars = ax.bar(centres, counts, width=width / 2, color=colour, alpha=0.7, label=name)
        labels = [str(c) if c else "" for c in counts]  # upright, neighbouring counts would run together
        ax.bar_label(bars, labels=labels, fontsize=6, padding=1, rotation=90)
        highest = max(highest, int(counts.max(initial=0)))
    ax.set_ylim(0, max(1, highest) * 1.45)  # room for the count over the tallest bar
    ax.set_xlim(0, 1)
    ax.set_xlabel("confidence (top-class probability)")
    ax.set_ylabel("images")
    ax.grid(alpha=0.3, axis="y")


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
