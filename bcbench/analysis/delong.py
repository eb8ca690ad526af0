"""Paired AUROC comparisons with DeLong's test: two models scored on the same test images (each seed of a
holdout sweep; each seed and repeat of pooled cross-validation), one class against the rest, Holm-corrected
across the model pairs of each class and unit."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from bcbench.analysis.units import PredictionUnit
from bcbench.stats import delong_test, holm_correction


def delong_rows(units: Sequence[PredictionUnit]) -> list[dict[str, Any]]:
    """One row per (class, unit, model pair), with ``p_holm`` across the pairs of that class and unit."""
    by_key: dict[tuple[object, object], dict[str, PredictionUnit]] = {}
    for unit in units:
        by_key.setdefault((unit.seed, unit.repeat), {})[unit.model] = unit
    rows: list[dict[str, Any]] = []
    for models in by_key.values():
        classes = next(iter(models.values())).classes
        for column, name in enumerate(classes):
            family = [
                _compare(models[a], models[b], column, name) for a, b in itertools.combinations(models, 2)
            ]
            for row, adjusted in zip(family, holm_correction([row["p"] for row in family]), strict=True):
                rows.append({**row, "p_holm": adjusted})
    return rows


def _compare(a: PredictionUnit, b: PredictionUnit, column: int, name: str) -> dict[str, Any]:
    """DeLong on the images both units scored (matched by their position in the data set)."""
    shared, in_a, in_b = np.intersect1d(a.index, b.index, return_indices=True)
    positive = a.labels[in_a] == column
    result = delong_test(a.probs[in_a, column], b.probs[in_b, column], positive)
    return {
        "model_a": a.model,
        "model_b": b.model,
        "unit": a.label,
        "class": name,
        "n": int(shared.size),
        **result,
    }
