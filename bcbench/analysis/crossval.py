"""Cross-validation as numbers: per-fold results beside pooled out-of-fold predictions.

Per model, seed and repeat, the test predictions of all folds form one prediction for every image (each
image is in exactly one test fold per repeat); its metrics are reported beside the mean over folds. On
BUSI that scores 780 images instead of one test set of 117.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bcbench.metrics import classification_metrics
from bcbench.record import RunRecord, group_label, metric_value, probabilities, read_predictions
from bcbench.stats import describe

POOLED_METRICS = ("accuracy", "balanced_accuracy", "f1_macro", "f1_weighted", "auroc_macro")
POOLED_COLUMNS = ("model", "seed", "repeat", "folds", "n_images", "complete", *POOLED_METRICS)
COMPARED = ("accuracy", "f1_macro", "auroc_macro")


def pooled_out_of_fold(records: Sequence[RunRecord], directory: Path | None) -> pd.DataFrame:
    """One row per (model, seed, repeat): metrics of the pooled test predictions of all its folds.

    ``complete`` is False when a fold is missing (a failed run) or stored no predictions: such rows
    score fewer images and are left out of the pooled summary.
    """
    cells: dict[tuple[str, object, object], list[RunRecord]] = {}
    for record in records:
        if record.fold is not None:
            cells.setdefault((group_label(record), record.seed, record.repeat), []).append(record)
    rows = [_pooled_row(key, runs, directory) for key, runs in cells.items()]
    return pd.DataFrame([row for row in rows if row is not None], columns=list(POOLED_COLUMNS))


def _pooled_row(
    key: tuple[str, object, object], runs: list[RunRecord], directory: Path | None
) -> dict | None:
    frames = [read_predictions(directory, run) for run in runs] if directory is not None else []
    tests = [frame[frame["set"] == "test"] for frame in frames if frame is not None]
    if not tests:
        return None
    pooled = pd.concat(tests, ignore_index=True)
    classes = runs[0].classes
    probs, labels = probabilities(pooled, classes)
    metrics = classification_metrics(probs, labels, classes)
    folds = (runs[0].config.get("evaluation") or {}).get("folds") or len(runs)
    complete = len(tests) == folds and pooled["index"].is_unique
    model, seed, repeat = key
    row = {"model": model, "seed": seed, "repeat": repeat, "folds": len(tests), "n_images": int(labels.size)}
    return {**row, "complete": bool(complete), **{name: metrics[name] for name in POOLED_METRICS}}


def crossval_rows(records: Sequence[RunRecord], pooled: pd.DataFrame) -> list[dict[str, Any]]:
    """Per model: ``runs``, ``images_pooled`` and, for each compared metric, ``describe`` over the runs
    (``<metric>_per_fold``) and over the complete pooled rows (``<metric>_pooled``)."""
    rows = []
    for model in dict.fromkeys(group_label(record) for record in records):
        runs = [record for record in records if group_label(record) == model]
        cells = pooled[(pooled["model"] == model) & pooled["complete"]] if not pooled.empty else pooled
        row: dict[str, Any] = {"model": model, "runs": len(runs)}
        row["images_pooled"] = int(cells["n_images"].iloc[0]) if not cells.empty else None
        for metric in COMPARED:
            per_fold = [metric_value(run, metric) for run in runs]
            row[f"{metric}_per_fold"] = describe([v for v in per_fold if not np.isnan(v)], n_boot=1)
            row[f"{metric}_pooled"] = describe(cells[metric].tolist() if not cells.empty else [], n_boot=1)
        rows.append(row)
    return rows
