"""The clinical view's figures: ROC and precision-recall curves of the positive class (mean over runs,
band min-max), and reliability diagrams before and after temperature scaling (pooled over runs)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bcbench.metrics.operating import pr_points, roc_points
from bcbench.report.figures import grid_shape, new_figure, save_figure
from bcbench.report.units import Unit

GRID = np.linspace(0.0, 1.0, 101)
RELIABILITY_BINS = 10


def mean_roc(units: Sequence[Unit], column: int) -> dict[str, np.ndarray]:
    """True positive rate on a common false-positive-rate grid: mean, min and max over units."""
    curves = []
    for unit in units:
        fpr, tpr = roc_points(unit.probs[:, column], unit.labels == column)
        unique, first = np.unique(fpr, return_index=True)
        highest = np.maximum.reduceat(tpr, first)  # the best sensitivity at each false positive rate
        curves.append(np.interp(GRID, unique, highest))
    return _band(np.array(curves))


def mean_pr(units: Sequence[Unit], column: int) -> dict[str, np.ndarray]:
    """Interpolated precision (the best at recall >= r) on a common recall grid over units."""
    curves = []
    for unit in units:
        recall, precision = pr_points(unit.probs[:, column], unit.labels == column)
        best = [precision[recall >= r].max() if (recall >= r).any() else 0.0 for r in GRID]
        curves.append(np.array(best))
    return _band(np.array(curves))


def _band(curves: np.ndarray) -> dict[str, np.ndarray]:
    return {"x": GRID, "mean": curves.mean(axis=0), "low": curves.min(axis=0), "high": curves.max(axis=0)}


def reliability(probs: np.ndarray, labels: np.ndarray, bins: int = RELIABILITY_BINS) -> dict[str, np.ndarray]:
    """Per confidence bin (equal width): mean confidence, accuracy and count of the predicted class."""
    confidence, correct = probs.max(axis=1), probs.argmax(axis=1) == labels
    index = np.clip(np.searchsorted(np.linspace(0, 1, bins + 1), confidence, side="right") - 1, 0, bins - 1)
    count = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(index, weights=confidence, minlength=bins) / count
        accuracy = np.bincount(index, weights=correct, minlength=bins) / count
    return {"confidence": mean_confidence, "accuracy": accuracy, "count": count}


def roc_pr_figure(units: Sequence[Unit], positive: str, path: Path) -> Path | None:
    models = _by_model(units)
    if not models:
        return None
    column = units[0].classes.index(positive)
    figure = new_figure(10.0, 4.4)
    roc_ax, pr_ax = figure.subplots(1, 2)
    for colour, (model, mine) in enumerate(models.items()):
        usable = [u for u in mine if 0 < (u.labels == column).sum() < u.labels.size]
        if usable:
            _draw(roc_ax, mean_roc(usable, column), f"C{colour}", f"{model} ({len(usable)} runs)")
            _draw(pr_ax, mean_pr(usable, column), f"C{colour}", model)
    roc_ax.plot([0, 1], [0, 1], ":", color="0.5", label="chance")
    _label(roc_ax, "false positive rate (1 - specificity)", "sensitivity", f"ROC: {positive} vs rest")
    _label(pr_ax, f"recall (sensitivity for {positive})", "precision (PPV)", "Precision-recall")
    roc_ax.legend(fontsize=8, loc="lower right")
    figure.suptitle("Test predictions; line: mean over runs, band: min-max over runs", fontsize=10)
    return save_figure(figure, path)


def reliability_figure(units: Sequence[Unit], path: Path) -> Path | None:
    models = _by_model(units)
    if not models:
        return None
    rows, columns = grid_shape(len(models))
    figure = new_figure(3.8 * columns, 3.6 * rows)
    axes = np.atleast_1d(figure.subplots(rows, columns, squeeze=False)).ravel()
    for ax, (model, mine) in zip(axes, models.items(), strict=False):
        labels = np.concatenate([u.labels for u in mine])
        for probs, style, name in (
            (np.concatenate([u.probs for u in mine]), "o-", "raw"),
            (np.concatenate([u.calibrated for u in mine]), "s--", "temperature-scaled"),
        ):
            curve = reliability(probs, labels)
            shown = curve["count"] > 0
            ax.plot(curve["confidence"][shown], curve["accuracy"][shown], style, label=name, markersize=4)
        ax.plot([0, 1], [0, 1], ":", color="0.5", label="perfect calibration")
        _label(ax, "confidence (top-class probability)", "accuracy", f"{model} ({len(mine)} runs pooled)")
        ax.legend(fontsize=7, loc="upper left")
    for ax in axes[len(models) :]:
        ax.set_visible(False)
    figure.suptitle("Reliability of test predictions, before and after temperature scaling", fontsize=10)
    return save_figure(figure, path)


def _by_model(units: Sequence[Unit]) -> dict[str, list[Unit]]:
    models: dict[str, list[Unit]] = {}
    for unit in units:
        models.setdefault(unit.model, []).append(unit)
    return models


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
