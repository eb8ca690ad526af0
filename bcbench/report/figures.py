"""Figures drawn from what the analysis computed: confusion matrices, training curves, accuracy-against-cost.

Figures are built on ``matplotlib.figure.Figure`` objects and saved with the Agg renderer, never through
pyplot: no display is needed, no global backend is switched under a user's notebook, and nothing is left
open. Each ``*_figure`` function returns the path it wrote, or None when there is nothing to draw. PNGs
are written to a temporary name and moved into place, so a reader never sees half a file.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bcbench.analysis import ConfusionPanel, ParetoPoints
from bcbench.atomic import atomic_path


def new_figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def save_figure(figure: Any, path: str | Path) -> Path:
    """Render with Agg to a temporary file, then move it into place atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    path = Path(path)
    FigureCanvasAgg(figure)
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format=path.suffix.lstrip(".") or "png", dpi=120)
    return path


def grid_shape(n: int, max_columns: int = 4) -> tuple[int, int]:
    columns = min(n, max_columns)
    return math.ceil(n / columns), columns


def confusion_figure(panels: Sequence[ConfusionPanel], names: Sequence[str], path: str | Path) -> Path | None:
    """One confusion matrix per model: counts summed over seeds, row-normalised colours, each cell
    annotated with the fraction of its true class and the summed count."""
    if not panels:
        return None
    rows, columns = grid_shape(len(panels))
    size = max(3.2, 0.9 * len(names) + 1.6)
    figure = new_figure(size * columns, size * rows)
    axes = np.atleast_1d(figure.subplots(rows, columns, squeeze=False)).ravel()
    image = None
    for ax, panel in zip(axes, panels, strict=False):
        label, n_runs, counts, fractions = panel.model, panel.runs, panel.counts, panel.fractions
        k = counts.shape[0]
        ticks = names if len(names) == k else [str(i) for i in range(k)]
        image = ax.imshow(fractions, cmap="Blues", vmin=0.0, vmax=1.0)
        for i in range(k):
            for j in range(k):
                colour = "white" if fractions[i, j] > 0.5 else "black"
                ax.text(
                    j,
                    i,
                    f"{fractions[i, j]:.2f}\n({counts[i, j]})",
                    ha="center",
                    va="center",
                    color=colour,
                    fontsize=9,
                )
        ax.set_xticks(range(k), ticks, rotation=30, ha="right")
        ax.set_yticks(range(k), ticks)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{label}\n({n_runs} seed{'s' if n_runs != 1 else ''} summed)", fontsize=10)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    if image is not None:
        figure.colorbar(image, ax=list(axes[: len(panels)]), shrink=0.8, label="fraction of true class")
    figure.suptitle(
        "Test confusion matrices\n(rows: true class, normalised; counts summed over seeds)", fontsize=10
    )
    return save_figure(figure, path)


def curves_figure(curves: dict[str, dict[str, Any]], path: str | Path) -> Path | None:
    """Per model a column: loss (log y) and accuracy against epoch; train solid, validation dashed; the
    line is the mean over the seeds that reached each epoch, the band min-max."""
    if not curves:
        return None
    groups = curves
    figure = new_figure(3.6 * len(groups), 6.0)
    axes = figure.subplots(2, len(groups), squeeze=False, sharex="col")
    for column, (label, model_curves) in enumerate(groups.items()):
        loss_ax, acc_ax = axes[0, column], axes[1, column]
        runs = model_curves["runs"]
        for ax, kind in ((loss_ax, "loss"), (acc_ax, "acc")):
            for split, style, colour in (("train", "-", "C0"), ("val", "--", "C1")):
                curve = model_curves[f"{split}_{kind}"]
                if curve["epoch"].size == 0:
                    continue
                name = "validation" if split == "val" else "train"
                ax.plot(curve["epoch"], curve["mean"], style, color=colour, label=f"{name} (mean over seeds)")
                ax.fill_between(
                    curve["epoch"],
                    curve["min"],
                    curve["max"],
                    color=colour,
                    alpha=0.2,
                    linewidth=0,
                    label=f"{name} min-max over seeds",
                )
            ax.grid(alpha=0.3)
        values = [v for line in loss_ax.get_lines() for v in line.get_ydata()]
        if values and min(values) > 0:
            loss_ax.set_yscale("log")
        loss_ax.set_title(f"{label} ({runs} seed{'s' if runs != 1 else ''})", fontsize=10)
        loss_ax.set_ylabel("loss")
        acc_ax.set_ylabel("accuracy")
        acc_ax.set_ylim(0, 1.02)
        acc_ax.set_xlabel("epoch")
        if column == 0:
            acc_ax.legend(fontsize=7, loc="lower right")
    figure.suptitle(
        "Training curves: mean over the seeds that reached\neach epoch (early stopping), band min-max",
        fontsize=10,
    )
    return save_figure(figure, path)


COST_AXES = {"latency_p50_ms": "latency p50 (ms, batch 1)", "params": "parameters", "flops": "FLOPs"}


def pareto_figure(points: ParetoPoints | None, path: str | Path) -> Path | None:
    """Macro F1 (mean, error bar std over seeds) against cost on a log axis, Pareto front marked."""
    if points is None:
        return None
    figure = new_figure(6.4, 4.6)
    ax = figure.subplots()
    _draw_pareto(ax, points)
    ax.set_xlabel(f"{COST_AXES[points.metric]} (log scale)")
    note = (
        f" ({points.left_out} model(s) without {COST_AXES[points.metric]} left out)"
        if points.left_out
        else ""
    )
    ax.set_title(f"Macro F1 against cost{note}", fontsize=10)
    return save_figure(figure, path)


def _draw_pareto(ax: Any, points: ParetoPoints) -> None:
    labels, costs, scores, stds, front = (
        points.labels,
        points.costs,
        points.scores,
        points.score_std,
        points.front,
    )
    ax.errorbar(
        costs, scores, yerr=stds, fmt="o", color="C0", ecolor="0.5", capsize=3,
        label="model: mean macro F1, error bar ±1 std over seeds",
    )  # fmt: skip
    ax.plot(
        [costs[i] for i in front], [scores[i] for i in front], "-", color="C3", marker="D", markersize=9,
        markerfacecolor="none", label="Pareto front (lower cost, higher F1)",
    )  # fmt: skip
    for label, x, y in zip(labels, costs, scores, strict=True):
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(6, 6), fontsize=9)
    ax.set_xscale("log")
    ax.set_ylabel("macro F1 (test)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower right")
    ax.margins(x=0.25, y=0.15)
