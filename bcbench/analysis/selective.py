"""Selective prediction as numbers: how good each model is on the test images it is surest of, if it may
defer the rest (to a radiologist).

Confidence is the top-class probability after the run's temperature scaling (the stored ``cal_prob_*``;
``bcbench.metrics.selective`` for the definitions and the handling of ties). Per seed (one run; in
cross-validation the folds of a repeat pooled): the risk-coverage curve, AURC and E-AURC, and at 80% and
90% coverage the accuracy among the kept images and the positive class's sensitivity among them
(true positives kept / positives kept). Per model: the mean over seeds, the sd over seeds, and a 95%
interval that resamples test images: a stratified bootstrap (the same resamples for every seed of the
model, the mean over seeds recomputed on each). Why over images and not over seeds: the seeds share one
test set of ~100 images, whose sampling is the larger uncertainty (a seed interval would miss it), and a
single seed has no interval over seeds at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bcbench.analysis.pooled import Member, SeedUnit, aligned, by_model
from bcbench.metrics import (
    kept_count,
    resampled_selective,
    risk_coverage,
    selective_block,
    stratified_indices,
)

COVERAGES = (0.8, 0.9)
GRID = np.arange(1, 101) / 100  # the coverages a curve is drawn at
N_RESAMPLES = 2000
SELECTIVE_METHOD = (
    f"95% interval: stratified percentile bootstrap over test images ({N_RESAMPLES} resamples, seed 0), the "
    "same resamples for every seed of a model, the mean over seeds recomputed on each"
)


def _coverage_keys() -> list[str]:
    return [f"{name}_at_{round(c * 100)}" for c in COVERAGES for name in ("accuracy", "sensitivity")]


SELECTIVE_KEYS = ("aurc", "eaurc", *_coverage_keys())


@dataclass
class SelectiveAnalysis:
    """Per model (``rows``) and per seed (``per_seed``) numbers, and each model's risk-coverage curve:
    {model: {"coverage", "mean", "min", "max"}} (risk = error rate among the kept, over seeds)."""

    positive: str | None
    method: str = SELECTIVE_METHOD
    rows: list[dict[str, Any]] = field(default_factory=list)
    per_seed: list[dict[str, Any]] = field(default_factory=list)
    curves: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)


def selective_numbers(probs: np.ndarray, labels: np.ndarray, positive: int | None) -> dict[str, float | None]:
    """AURC, E-AURC, and accuracy and sensitivity of class ``positive`` at each of ``COVERAGES``."""
    block = selective_block(probs, labels, positive, COVERAGES)
    out: dict[str, float | None] = {"aurc": block["aurc"], "eaurc": block["eaurc"]}
    for point in block["at_coverage"]:
        percent = round(point["coverage"] * 100)
        out[f"accuracy_at_{percent}"] = point["accuracy"]
        out[f"sensitivity_at_{percent}"] = point["sensitivity"]
    return out


def selective_analysis(
    units: Sequence[SeedUnit], positive: str | None, n_boot: int = N_RESAMPLES
) -> SelectiveAnalysis | None:
    """The selective view of every model with stored test predictions (None without any)."""
    analysis = SelectiveAnalysis(positive=positive)
    for model, model_units in by_model(units).items():
        members = aligned([(unit.label, *unit.arrays("test", calibrated=True)) for unit in model_units])
        if not members:
            continue
        classes = model_units[0].classes
        column = classes.index(positive) if positive in classes else None
        numbers = [selective_numbers(member[2], member[3], column) for member in members]
        for member, values in zip(members, numbers, strict=True):
            analysis.per_seed.append({"model": model, "unit": member[0], "n": int(member[3].size), **values})
        intervals = resampled_intervals(members, column, len(classes), n_boot)
        analysis.rows.append(_model_row(model, members, numbers, intervals))
        analysis.curves[model] = risk_curve(members)
    return analysis if analysis.rows else None


def _model_row(
    model: str,
    members: Sequence[Member],
    numbers: Sequence[dict[str, float | None]],
    intervals: dict[str, tuple[float | None, float | None]],
) -> dict[str, Any]:
    row: dict[str, Any] = {"model": model, "seeds": len(members), "n": int(members[0][3].size)}
    for key in SELECTIVE_KEYS:
        values = np.asarray([np.nan if n[key] is None else n[key] for n in numbers], dtype=np.float64)
        defined = values[~np.isnan(values)]
        row[key] = float(defined.mean()) if defined.size else None
        row[f"{key}_std"] = float(defined.std(ddof=1)) if defined.size > 1 else None
        row[f"{key}_low"], row[f"{key}_high"] = intervals.get(key, (None, None))
    return row


def resampled_intervals(
    members: Sequence[Member], positive: int | None, classes: int, n_boot: int, seed: int = 0
) -> dict[str, tuple[float | None, float | None]]:
    """Percentile intervals of the mean over members of each number, resampling the test images within
    each class (every member on the same resamples); none for a number some resample leaves undefined."""
    labels = members[0][3]
    index = stratified_indices(labels, classes, n_boot, np.random.default_rng(seed))
    draws = [resampled_selective(member[2], labels, index, positive, COVERAGES) for member in members]
    out: dict[str, tuple[float | None, float | None]] = {}
    for key in SELECTIVE_KEYS:
        means = np.mean([draw[key] for draw in draws], axis=0)
        if not np.isnan(means).any():
            low, high = np.quantile(means, [0.025, 0.975])
            out[key] = (float(low), float(high))
    return out


def risk_curve(members: Sequence[Member]) -> dict[str, np.ndarray]:
    """Selective risk at each coverage of ``GRID`` (k = ceil(c N) kept): mean, min and max over members."""
    risks = []
    for member in members:
        risk = risk_coverage(member[2], member[3]).risk
        kept = np.asarray([kept_count(float(c), risk.size) for c in GRID])
        risks.append(risk[kept - 1])
    stacked = np.vstack(risks)
    return {
        "coverage": GRID.copy(),
        "mean": stacked.mean(axis=0),
        "min": stacked.min(axis=0),
        "max": stacked.max(axis=0),
    }
