"""Figures from run records: confusion matrices, training curves, accuracy-against-cost.

Figures are built on ``matplotlib.figure.Figure`` objects and saved with the Agg renderer, never
through pyplot: no display is needed, no global backend is switched under a user's notebook, and
nothing is left open. Each ``*_figure`` function returns the path it wrote, or None when the
records lack what it needs (no confusion matrices, no histories, no cost measured). PNGs are
written to a temporary name and moved into place, so a reader never sees half a file.

The numeric helpers (:func:`summed_confusion`, :func:`mean_curve`, :func:`pareto_front`) are
pure and tested on hand-made inputs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bcbench.atomic import atomic_path
from bcbench.record import RunRecord, class_names, group_records, metric_value

# ---------------------------------------------------------------------------------------------
# Pure helpers


def summed_confusion(matrices: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Counts summed over runs and the row-normalised fractions (rows = true class; an empty
    row stays 0)."""
    arrays = [np.asarray(m, dtype=np.int64) for m in matrices]
    if not arrays:
        raise ValueError("no confusion matrices to sum")
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1 or len(arrays[0].shape) != 2 or arrays[0].shape[0] != arrays[0].shape[1]:
        raise ValueError(f"confusion matrices must be square and of one shape, got {sorted(shapes)}")
    counts = np.sum(arrays, axis=0)
    totals = counts.sum(axis=1, keepdims=True)
    normalised = np.divide(counts, totals, out=np.zeros(counts.shape, dtype=np.float64), where=totals > 0)
    return counts, normalised


def mean_curve(histories: Sequence[Sequence[dict[str, Any]]], key: str) -> dict[str, np.ndarray]:
    """Per epoch, the mean / std / min / max of ``key`` over the runs that reached that epoch.

    Runs stop at different epochs (early stopping), so epoch e averages only the runs with a
    value at e; ``n`` says how many. std is 0 where one run contributes.
    """
    by_epoch: dict[float, list[float]] = {}
    for history in histories:
        for entry in history:
            value, epoch = entry.get(key), entry.get("epoch")
            if value is None or epoch is None or not math.isfinite(float(value)):
                continue
            by_epoch.setdefault(float(epoch), []).append(float(value))
    epochs = sorted(by_epoch)
    values = [np.asarray(by_epoch[e]) for e in epochs]
    return {
        "epoch": np.asarray(epochs),
        "mean": np.asarray([v.mean() for v in values]),
        "std": np.asarray([v.std(ddof=1) if v.size > 1 else 0.0 for v in values]),
        "min": np.asarray([v.min() for v in values]),
        "max": np.asarray([v.max() for v in values]),
        "n": np.asarray([v.size for v in values], dtype=np.int64),
    }


def pareto_front(costs: Sequence[float], scores: Sequence[float]) -> list[int]:
    """Indices of the non-dominated points (lower cost and higher score are better), by cost.

    A point is dominated when another is at least as good on both and strictly better on one;
    identical points do not dominate each other.
    """
    if len(costs) != len(scores):
        raise ValueError("costs and scores need the same length")
    front = []
    for i, (cost_i, score_i) in enumerate(zip(costs, scores, strict=True)):
        dominated = any(
            cost_j <= cost_i and score_j >= score_i and (cost_j < cost_i or score_j > score_i)
            for j, (cost_j, score_j) in enumerate(zip(costs, scores, strict=True))
            if j != i
        )
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: (costs[i], -scores[i]))


# ---------------------------------------------------------------------------------------------
# Drawing


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


def confusion_figure(records: Sequence[RunRecord | dict[str, Any]], path: str | Path) -> Path | None:
    """One confusion matrix per model: counts summed over seeds, row-normalised colours,
    each cell annotated with the fraction of its true class and the summed count."""
    panels = []
    for label, runs in group_records(records).items():
        matrices = [r.test.confusion_matrix if r.test else None for r in runs]
        matrices = [m for m in matrices if m]
        if matrices:
            panels.append((label, len(matrices), *summed_confusion(matrices)))
    if not panels:
        return None
    names = class_names(records)
    rows, columns = grid_shape(len(panels))
    size = max(3.2, 0.9 * len(names) + 1.6)
    figure = new_figure(size * columns, size * rows)
    axes = np.atleast_1d(figure.subplots(rows, columns, squeeze=False)).ravel()
    image = None
    for ax, (label, n_runs, counts, fractions) in zip(axes, panels, strict=False):
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


def curves_figure(records: Sequence[RunRecord | dict[str, Any]], path: str | Path) -> Path | None:
    """Per model a column: loss (log y) and accuracy against epoch; train solid, validation
    dashed; the line is the mean over the seeds that reached each epoch, the band min-max."""
    groups = {
        label: [r.history or [] for r in runs]
        for label, runs in group_records(records).items()
        if any(r.history for r in runs)
    }
    if not groups:
        return None
    figure = new_figure(3.6 * len(groups), 6.0)
    axes = figure.subplots(2, len(groups), squeeze=False, sharex="col")
    for column, (label, histories) in enumerate(groups.items()):
        loss_ax, acc_ax = axes[0, column], axes[1, column]
        for ax, kind in ((loss_ax, "loss"), (acc_ax, "acc")):
            for split, style, colour in (("train", "-", "C0"), ("val", "--", "C1")):
                curve = mean_curve(histories, f"{split}_{kind}")
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
        loss_ax.set_title(f"{label} ({len(histories)} seed{'s' if len(histories) != 1 else ''})", fontsize=10)
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


def _mean_and_std(runs: list[RunRecord], metric: str) -> tuple[float, float]:
    values = np.asarray([metric_value(r, metric) for r in runs], dtype=np.float64)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return math.nan, math.nan
    return float(values.mean()), float(values.std(ddof=1)) if values.size > 1 else 0.0


def _cost_metric(groups: dict[str, list[RunRecord]], cost: str) -> str:
    """The cost on the x axis: latency when every model has it measured, else parameters."""
    if cost not in ("latency", "params", "flops"):
        raise ValueError(f"cost must be latency, params or flops, got {cost!r}")
    metric = {"latency": "latency_p50_ms", "params": "params", "flops": "flops"}[cost]
    if cost == "latency" and any(math.isnan(_mean_and_std(runs, metric)[0]) for runs in groups.values()):
        return "params"
    return metric


def pareto_figure(
    records: Sequence[RunRecord | dict[str, Any]], path: str | Path, cost: str = "latency"
) -> Path | None:
    """Macro F1 (mean, error bar std over seeds) against cost on a log axis, Pareto front marked.

    ``cost``: "latency" (p50 ms when every model has it measured, else params), "params" or
    "flops". Models without the cost measured are left out; None when none has it.
    """
    groups = group_records(records)
    metric = _cost_metric(groups, cost)
    points = []
    for label, runs in groups.items():
        cost_mean, _ = _mean_and_std(runs, metric)
        score_mean, score_std = _mean_and_std(runs, "f1_macro")
        if cost_mean > 0 and not math.isnan(score_mean):
            points.append((label, cost_mean, score_mean, score_std))
    if not points:
        return None
    figure = new_figure(6.4, 4.6)
    ax = figure.subplots()
    _draw_pareto(ax, points)
    ax.set_xlabel(f"{COST_AXES[metric]} (log scale)")
    left_out = len(groups) - len(points)
    note = f" ({left_out} model(s) without {COST_AXES[metric]} left out)" if left_out else ""
    ax.set_title(f"Macro F1 against cost{note}", fontsize=10)
    return save_figure(figure, path)


def _draw_pareto(ax: Any, points: list[tuple[str, float, float, float]]) -> None:
    labels, costs, scores, stds = zip(*points, strict=True)
    front = pareto_front(costs, scores)
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
