"""Figures drawn from what the analysis computed: confusion matrices, training curves, accuracy-against-cost.

Figures are built on ``matplotlib.figure.Figure`` objects and saved with the Agg renderer, never through
pyplot: no display is needed, no global backend is switched under a user's notebook, and nothing is left
open. Each ``build_*`` function returns the Figure (tests read its artists), each ``*_figure`` function
the path it wrote, or None when there is nothing to draw. PNGs are written to a temporary name and moved
into place, so a reader never sees half a file. Every title ends with the data source the analysis named.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bcbench.analysis import ConfusionPanel, FormPoint, ParetoPoints
from bcbench.atomic import atomic_path
from bcbench.report.deploy import draw_form_points

DPI = 120
TITLE_SIZE = 10
EM_PER_CHARACTER = 0.62  # a little above DejaVu Sans's mean advance, so wrapped lines fit the width


def new_figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained", dpi=DPI)
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure: Any, path: str | Path) -> Path:
    """Render with Agg to a temporary file, then move it into place atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    path = Path(path)
    if not isinstance(figure.canvas, FigureCanvasAgg):
        FigureCanvasAgg(figure)
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format=path.suffix.lstrip(".") or "png", dpi=DPI)
    return path


def figure_title(figure: Any, text: str, source: str | None) -> None:
    """The figure's title with the data source as its last line, each line wrapped to the figure's width."""
    lines = [*text.split("\n"), *([f"data: {source}"] if source else [])]
    per_line = max(20, int(figure.get_figwidth() * 72 / (TITLE_SIZE * EM_PER_CHARACTER)))
    figure.suptitle("\n".join(balanced_wrap(line, per_line) for line in lines), fontsize=TITLE_SIZE)


def balanced_wrap(line: str, per_line: int) -> str:
    """``line`` on as few lines of at most ``per_line`` characters as it needs, of similar lengths (no
    lone word left on a last line)."""
    needed = len(textwrap.wrap(line, per_line)) or 1
    width = max(1, math.ceil(len(line) / needed))
    while len(textwrap.wrap(line, width)) > needed and width < per_line:
        width += 1
    return textwrap.fill(line, width)


def grid_shape(n: int, max_columns: int = 4) -> tuple[int, int]:
    columns = min(n, max_columns)
    return math.ceil(n / columns), columns


def plain_number(value: float, _position: Any = None) -> str:
    """A tick label as a plain decimal ("0.05", "2"), never "5x10^-2"."""
    return np.format_float_positional(value, precision=6, trim="-")


def build_confusion(
    panels: Sequence[ConfusionPanel], names: Sequence[str], source: str | None = None
) -> Any | None:
    """One confusion matrix per model: counts summed over seeds, row-normalised colours, each cell
    annotated with the fraction of its true class and the summed count."""
    if not panels:
        return None
    rows, columns = grid_shape(len(panels))
    size = max(3.2, 0.9 * len(names) + 1.6)
    figure = new_figure(size * columns + 0.8, size * rows + 0.6)
    axes = np.atleast_1d(figure.subplots(rows, columns, squeeze=False)).ravel()
    image = None
    for ax, panel in zip(axes, panels, strict=False):
        image = _draw_confusion_panel(ax, panel, names)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    figure.colorbar(image, ax=list(axes[: len(panels)]), shrink=0.8, label="fraction of true class")
    figure_title(
        figure, "Test confusion matrices (rows: true class, normalised; counts summed over seeds)", source
    )
    # square panels: constrained layout settles only on a second pass (one cuts off the bottom labels)
    figure.get_layout_engine().execute(figure)
    return figure


def confusion_figure(
    panels: Sequence[ConfusionPanel], names: Sequence[str], path: str | Path, source: str | None = None
) -> Path | None:
    figure = build_confusion(panels, names, source)
    return save_figure(figure, path) if figure is not None else None


def _draw_confusion_panel(ax: Any, panel: ConfusionPanel, names: Sequence[str]) -> Any:
    counts, fractions = panel.counts, panel.fractions
    k = counts.shape[0]
    ticks = names if len(names) == k else [str(i) for i in range(k)]
    image = ax.imshow(fractions, cmap="Blues", vmin=0.0, vmax=1.0)
    for i in range(k):
        for j in range(k):
            colour = "white" if fractions[i, j] > 0.5 else "black"
            text = f"{fractions[i, j]:.2f}\n({counts[i, j]})"
            ax.text(j, i, text, ha="center", va="center", color=colour, fontsize=9)
    ax.set_xticks(range(k), ticks, rotation=30, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(k), ticks)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{panel.model}\n({panel.runs} seed{'s' if panel.runs != 1 else ''} summed)", fontsize=10)
    return image


def build_curves(curves: dict[str, dict[str, Any]], source: str | None = None) -> Any | None:
    """Per model a column: loss and accuracy against epoch; train solid, validation dashed; the line (with
    a marker on each epoch, so one epoch still shows) is the mean over the seeds that reached each epoch,
    the band min-max. The loss axis is logarithmic only when the loss spans a decade or more."""
    if not curves:
        return None
    figure = new_figure(max(3.6 * len(curves), 4.4), 6.2)
    axes = figure.subplots(2, len(curves), squeeze=False, sharex="col")
    for column, (label, model_curves) in enumerate(curves.items()):
        _draw_model_curves(axes[0, column], axes[1, column], label, model_curves)
    axes[1, 0].legend(fontsize=7, loc="lower right")
    figure_title(
        figure,
        "Training curves: mean over the seeds that reached each epoch (early stopping), band min-max",
        source,
    )
    return figure


def curves_figure(
    curves: dict[str, dict[str, Any]], path: str | Path, source: str | None = None
) -> Path | None:
    figure = build_curves(curves, source)
    return save_figure(figure, path) if figure is not None else None


def _draw_model_curves(loss_ax: Any, acc_ax: Any, label: str, model_curves: dict[str, Any]) -> None:
    for ax, kind in ((loss_ax, "loss"), (acc_ax, "acc")):
        for split, style, colour in (("train", "-", "C0"), ("val", "--", "C1")):
            curve = model_curves[f"{split}_{kind}"]
            if curve["epoch"].size:
                _draw_curve(ax, curve, style, colour, "validation" if split == "val" else "train")
        ax.grid(alpha=0.3)
    losses = [model_curves[key][end] for key in ("train_loss", "val_loss") for end in ("min", "max")]
    logarithmic = _loss_axis(loss_ax, np.concatenate(losses))
    kinds = ("train_loss", "val_loss", "train_acc", "val_acc")
    epochs = np.concatenate([model_curves[key]["epoch"] for key in kinds])
    _epoch_axis(acc_ax, epochs)
    runs = model_curves["runs"]
    loss_ax.set_title(f"{label} ({runs} seed{'s' if runs != 1 else ''})", fontsize=10)
    loss_ax.set_ylabel("loss (log scale)" if logarithmic else "loss")
    acc_ax.set_ylabel("accuracy")
    acc_ax.set_ylim(0, 1.02)
    acc_ax.set_xlabel("epoch")


def _draw_curve(ax: Any, curve: dict[str, np.ndarray], style: str, colour: str, name: str) -> None:
    epoch, mean, low, high = curve["epoch"], curve["mean"], curve["min"], curve["max"]
    ax.plot(epoch, mean, style, color=colour, marker="o", markersize=3.5, label=f"{name} (mean over seeds)")
    label = f"{name} min-max over seeds"
    if epoch.size == 1:  # a band over one epoch has no width: an error bar shows the spread instead
        spread = [mean - low, high - mean]
        ax.errorbar(epoch, mean, yerr=spread, fmt="none", ecolor=colour, capsize=3, label=label)
    else:
        ax.fill_between(epoch, low, high, color=colour, alpha=0.2, linewidth=0, label=label)


def _loss_axis(ax: Any, values: np.ndarray) -> bool:
    """Log scale with plain decimal labels when the loss spans a decade (True), else linear without an
    offset."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    values = values[np.isfinite(values)]
    if values.size and values.min() > 0 and values.max() / values.min() >= 10:
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(plain_number))
        decades = math.log10(values.max() / values.min())
        ax.yaxis.set_minor_formatter(FuncFormatter(_two_and_five) if decades <= 2 else NullFormatter())
        return True
    ax.ticklabel_format(axis="y", style="plain", useOffset=False)
    return False


def _two_and_five(value: float, _position: Any = None) -> str:
    """Minor log ticks labelled at 2 and 5 times a power of ten (the rest unlabelled)."""
    mantissa = value / 10 ** math.floor(math.log10(value) + 1e-9)
    return plain_number(value) if round(mantissa, 6) in (2.0, 5.0) else ""


def _epoch_axis(ax: Any, epochs: np.ndarray) -> None:
    from matplotlib.ticker import MaxNLocator

    if epochs.size and epochs.min() == epochs.max():
        ax.set_xticks([epochs.min()], [plain_number(epochs.min())])
        ax.set_xlim(epochs.min() - 0.5, epochs.max() + 0.5)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


COST_AXES = {"latency_p50_ms": "latency p50 (ms, batch 1)", "params": "parameters", "flops": "FLOPs"}


def build_pareto(
    points: ParetoPoints | None, source: str | None = None, forms: Sequence[FormPoint] = ()
) -> Any | None:
    """Macro F1 (mean, error bar std over seeds) against cost (median, error bar min-max over seeds) on a
    log axis, Pareto front marked, and the deployed ``forms`` as their own points when the cost is
    latency; the legend sits under the axes, where it covers no point."""
    if points is None:
        return None
    figure = new_figure(6.4, 5.4 + (0.4 if forms else 0.0))
    ax = figure.subplots()
    _draw_pareto(ax, points)
    if forms and points.metric == "latency_p50_ms":
        draw_form_points(ax, forms)
    ax.set_xlabel(f"{COST_AXES[points.metric]} (log scale)")
    figure.legend(*ax.get_legend_handles_labels(), loc="outside lower center", fontsize=8)
    note = (
        f" ({points.left_out} model(s) without {COST_AXES[points.metric]} left out)"
        if points.left_out
        else ""
    )
    figure_title(figure, f"Macro F1 against cost{note}", source)
    return figure


def pareto_figure(
    points: ParetoPoints | None, path: str | Path, source: str | None = None, forms: Sequence[FormPoint] = ()
) -> Path | None:
    figure = build_pareto(points, source, forms)
    return save_figure(figure, path) if figure is not None else None


def _draw_pareto(ax: Any, points: ParetoPoints) -> None:
    costs, scores, front = np.asarray(points.costs), np.asarray(points.scores), points.front
    spread = None
    if len(points.cost_min) == len(costs) and len(points.cost_max) == len(costs):
        spread = [costs - np.asarray(points.cost_min), np.asarray(points.cost_max) - costs]
    ax.errorbar(
        costs, scores, xerr=spread, yerr=points.score_std, fmt="o", color="C0", ecolor="0.5", capsize=3,
        label="model: macro F1 mean ±1 std, cost median (min-max) over seeds",
    )  # fmt: skip
    ax.plot(
        costs[front], scores[front], "-", color="C3", marker="D", markersize=9,
        markerfacecolor="none", label="Pareto front (lower cost, higher F1)",
    )  # fmt: skip
    for label, x, y in zip(points.labels, costs, scores, strict=True):
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(6, 6), fontsize=9)
    ax.set_xscale("log")
    if points.metric == "latency_p50_ms":  # milliseconds read best as plain numbers ("0.5", "10")
        from matplotlib.ticker import FuncFormatter

        ax.xaxis.set_major_formatter(FuncFormatter(plain_number))
    ax.set_ylabel("macro F1 (test)")
    ax.grid(alpha=0.3, which="both")
    ax.margins(x=0.25, y=0.15)
