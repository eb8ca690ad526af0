"""The numbers behind every figure, computed here so that ``bcbench.report`` only draws them: confusion
matrices summed over seeds, training curves averaged over seeds, the accuracy-against-cost points and
their Pareto front, ROC and precision-recall bands of the positive class, reliability bins, and the data
source every figure's title names."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

import numpy as np

from bcbench.analysis.units import PredictionUnit
from bcbench.metrics import pr_points, reliability, roc_points
from bcbench.record import RunRecord, group_records, metric_value

GRID = np.linspace(0.0, 1.0, 101)
CURVE_KEYS = ("train_loss", "val_loss", "train_acc", "val_acc")
COST_METRICS = {"latency": "latency_p50_ms", "params": "params", "flops": "flops"}
SYNTHETIC_SOURCE = "embedded synthetic data set"


def data_source_label(records: Sequence[RunRecord]) -> str | None:
    """What the runs were trained and tested on, for figure titles: ``SYNTHETIC_SOURCE`` for the embedded
    set (``config.data.root`` null), else the data folder's (or .npz file's) name; several sources are
    joined with " + "; None when no record says."""
    labels = {label for record in records if (label := _record_source(record)) is not None}
    return " + ".join(sorted(labels)) if labels else None


def _record_source(record: RunRecord) -> str | None:
    data_config = record.config.get("data") if isinstance(record.config, Mapping) else None
    if isinstance(data_config, Mapping) and "root" in data_config and data_config["root"] is None:
        return SYNTHETIC_SOURCE
    # the record's root is the resolved path (a relative or "~" root in the config has no useful name)
    resolved = record.data.root if record.data is not None else None
    root = resolved or (data_config.get("root") if isinstance(data_config, Mapping) else None)
    if not root:
        return None
    return PurePath(str(root)).name or str(root)


def summed_confusion(matrices: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Counts summed over runs and the row-normalised fractions (rows = true class; an empty row stays 0)."""
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


@dataclass
class ConfusionPanel:
    model: str
    runs: int
    counts: np.ndarray
    fractions: np.ndarray


def confusion_panels(records: Sequence[RunRecord]) -> list[ConfusionPanel]:
    """One summed confusion matrix per model (group label), from the runs that stored one."""
    panels = []
    for label, runs in group_records(records).items():
        matrices = [r.test.confusion_matrix for r in runs if r.test and r.test.confusion_matrix]
        if matrices:
            panels.append(ConfusionPanel(label, len(matrices), *summed_confusion(matrices)))
    return panels


def mean_curve(histories: Sequence[Sequence[dict[str, Any]]], key: str) -> dict[str, np.ndarray]:
    """Per epoch, the mean / std / min / max of ``key`` over the runs that reached that epoch.

    Runs stop at different epochs (early stopping), so epoch e averages only the runs with a value at e;
    ``n`` says how many. std is 0 where one run contributes.
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


def training_curves(records: Sequence[RunRecord]) -> dict[str, dict[str, Any]]:
    """Per model with a history: ``runs`` and the ``mean_curve`` of each of ``CURVE_KEYS``."""
    curves = {}
    for label, runs in group_records(records).items():
        histories = [r.history or [] for r in runs]
        if any(histories):
            curves[label] = {
                "runs": len(histories),
                **{key: mean_curve(histories, key) for key in CURVE_KEYS},
            }
    return curves


def pareto_front(costs: Sequence[float], scores: Sequence[float]) -> list[int]:
    """Indices of the non-dominated points (lower cost and higher score are better), by cost.

    A point is dominated when another is at least as good on both and strictly better on one; identical
    points do not dominate each other.
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


@dataclass
class ParetoPoints:
    metric: str  # the cost on the x axis (a METRICS name)
    labels: list[str]
    costs: list[float]  # median over each model's runs
    scores: list[float]  # mean macro F1
    score_std: list[float]
    front: list[int]
    left_out: int  # models without the cost measured
    cost_min: list[float] = field(default_factory=list)  # the cost's range over each model's runs
    cost_max: list[float] = field(default_factory=list)


def mean_and_std(runs: Sequence[RunRecord], metric: str) -> tuple[float, float]:
    values = np.asarray([metric_value(r, metric) for r in runs], dtype=np.float64)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return math.nan, math.nan
    return float(values.mean()), float(values.std(ddof=1)) if values.size > 1 else 0.0


def median_and_range(runs: Sequence[RunRecord], metric: str) -> tuple[float, float, float]:
    """The median, smallest and largest value of ``metric`` over the runs that measured it (NaN when none
    did): a cost's summary, which one noisy timing cannot drag (the tables show the same)."""
    values = np.asarray([metric_value(r, metric) for r in runs], dtype=np.float64)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return math.nan, math.nan, math.nan
    return float(np.median(values)), float(values.min()), float(values.max())


def pareto_points(records: Sequence[RunRecord], cost: str = "latency") -> ParetoPoints | None:
    """Macro F1 (mean, std over runs) against a cost (median, min and max over runs): ``latency`` (p50 when
    every model has it measured, else parameters), ``params`` or ``flops``; None when no model has the cost
    measured. The front is taken on the medians."""
    if cost not in COST_METRICS:
        raise ValueError(f"cost must be latency, params or flops, got {cost!r}")
    groups = group_records(records)
    metric = COST_METRICS[cost]
    if cost == "latency" and any(math.isnan(mean_and_std(runs, metric)[0]) for runs in groups.values()):
        metric = "params"
    points = []
    for label, runs in groups.items():
        cost_median, cost_min, cost_max = median_and_range(runs, metric)
        score_mean, score_std = mean_and_std(runs, "f1_macro")
        if cost_median > 0 and not math.isnan(score_mean):
            points.append((label, cost_median, score_mean, score_std, cost_min, cost_max))
    if not points:
        return None
    labels, costs, scores, stds, lows, highs = (list(column) for column in zip(*points, strict=True))
    front = pareto_front(costs, scores)
    left_out = len(groups) - len(points)
    return ParetoPoints(metric, labels, costs, scores, stds, front, left_out, cost_min=lows, cost_max=highs)


def _band(curves: np.ndarray) -> dict[str, np.ndarray]:
    return {"x": GRID, "mean": curves.mean(axis=0), "low": curves.min(axis=0), "high": curves.max(axis=0)}


def mean_roc(units: Sequence[PredictionUnit], column: int) -> dict[str, np.ndarray]:
    """True positive rate on a common false-positive-rate grid: mean, min and max over units."""
    curves = []
    for unit in units:
        fpr, tpr = roc_points(unit.probs[:, column], unit.labels == column)
        unique, first = np.unique(fpr, return_index=True)
        highest = np.maximum.reduceat(tpr, first)  # the best sensitivity at each false positive rate
        curves.append(np.interp(GRID, unique, highest))
    return _band(np.array(curves))


def mean_pr(units: Sequence[PredictionUnit], column: int) -> dict[str, np.ndarray]:
    """Interpolated precision (the best at recall >= r) on a common recall grid over units."""
    curves = []
    for unit in units:
        recall, precision = pr_points(unit.probs[:, column], unit.labels == column)
        best = [precision[recall >= r].max() if (recall >= r).any() else 0.0 for r in GRID]
        curves.append(np.array(best))
    return _band(np.array(curves))


def units_by_model(units: Sequence[PredictionUnit]) -> dict[str, list[PredictionUnit]]:
    models: dict[str, list[PredictionUnit]] = {}
    for unit in units:
        models.setdefault(unit.model, []).append(unit)
    return models


def roc_pr_curves(units: Sequence[PredictionUnit], positive: str) -> dict[str, dict[str, Any]]:
    """Per model: ``units`` (those with both classes among their test images), ``images`` (per unit) and
    the ROC and precision-recall bands of the positive class against the rest."""
    curves = {}
    for model, mine in units_by_model(units).items():
        column = mine[0].classes.index(positive)
        usable = [u for u in mine if 0 < (u.labels == column).sum() < u.labels.size]
        if usable:
            images = sorted({int(u.labels.size) for u in usable})
            curves[model] = {
                "units": len(usable),
                "images": images,
                "roc": mean_roc(usable, column),
                "pr": mean_pr(usable, column),
            }
    return curves


def reliability_curves(units: Sequence[PredictionUnit]) -> dict[str, dict[str, Any]]:
    """Per model, the test predictions of all its units pooled: reliability bins before (``raw``) and
    after (``calibrated``) the stored temperature scaling."""
    curves = {}
    for model, mine in units_by_model(units).items():
        labels = np.concatenate([u.labels for u in mine])
        curves[model] = {
            "units": len(mine),
            "raw": reliability(np.concatenate([u.probs for u in mine]), labels),
            "calibrated": reliability(np.concatenate([u.calibrated for u in mine]), labels),
        }
    return curves
