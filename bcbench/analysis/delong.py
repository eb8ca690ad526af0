"""Paired AUROC comparisons with DeLong's test: two models scored on the same test images by one model each
(each run: a seed of a holdout sweep, or a seed, repeat and fold of cross-validation), one class against the
rest, Holm-corrected across the model pairs of each class and run.

In cross-validation a fold's DeLong test covers that fold's test images only; across folds the AUROC
differences are combined by the Nadeau-Bengio corrected resampled t-test (``delong_over_folds``), as the
summary's comparisons are. Pooling the folds' predictions into one DeLong test would treat five fold models
as one fixed classifier.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from bcbench.analysis.units import PredictionUnit
from bcbench.stats import corrected_resampled_ttest, delong_test, holm_correction


def delong_rows(units: Sequence[PredictionUnit]) -> list[dict[str, Any]]:
    """One row per (class, run, model pair), with ``p_holm`` across the pairs of that class and run."""
    by_key: dict[tuple[object, object, object], dict[str, PredictionUnit]] = {}
    for unit in units:
        by_key.setdefault((unit.seed, unit.repeat, unit.fold), {})[unit.model] = unit
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
    where = {"unit": a.label, "seed": a.seed, "repeat": a.repeat, "fold": a.fold}
    return {"model_a": a.model, "model_b": b.model, **where, "class": name, "n": int(shared.size), **result}


def delong_over_folds(rows: Sequence[dict[str, Any]], test_train_ratio: float) -> list[dict[str, Any]]:
    """Cross-validation: per model pair and class, the AUROC difference of each fold (mean over seeds)
    tested with the corrected resampled t over folds; ``p_holm`` across the pairs of each class."""
    cells: dict[tuple[str, str, str], dict[tuple[object, object], list[float]]] = {}
    for row in rows:
        if row["fold"] is not None and row["auc_diff"] is not None:
            pair = (row["class"], row["model_a"], row["model_b"])
            cells.setdefault(pair, {}).setdefault((row["repeat"], row["fold"]), []).append(row["auc_diff"])
    combined = []
    for (name, model_a, model_b), folds in cells.items():
        diffs = [float(np.mean(values)) for values in folds.values()]
        test = corrected_resampled_ttest(diffs, test_train_ratio)
        combined.append(
            {"class": name, "model_a": model_a, "model_b": model_b, "folds": test.pop("n"), **test}
        )
    for name in dict.fromkeys(row["class"] for row in combined):
        family = [row for row in combined if row["class"] == name]
        for row, adjusted in zip(family, holm_correction([row["t_p"] for row in family]), strict=True):
            row["t_p_holm"] = adjusted
    return combined
