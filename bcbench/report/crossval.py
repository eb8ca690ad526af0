"""Cross-validation in the report: per-fold results and pooled out-of-fold predictions.

Per model, seed and repeat, the test predictions of all folds form one prediction for every image (each
image is in exactly one test fold per repeat); its metrics are reported beside the mean over folds. On
BUSI that scores 780 images instead of one test set of 117.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from bcbench.metrics import classification_metrics
from bcbench.record import RunRecord, group_label, metric_value
from bcbench.record.predictions import probabilities, read_predictions
from bcbench.report.format import fmt, markdown_table
from bcbench.stats import describe

POOLED_METRICS = ("accuracy", "balanced_accuracy", "f1_macro", "f1_weighted", "auroc_macro")
POOLED_COLUMNS = ("model", "seed", "repeat", "folds", "n_images", "complete", *POOLED_METRICS)


def is_cross_validation(records: Sequence[RunRecord]) -> bool:
    return any(record.fold is not None for record in records)


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


def crossval_markdown(records: Sequence[RunRecord], directory: Path | None) -> list[str]:
    """The report section: per model, mean ± std over folds next to the pooled out-of-fold metrics."""
    if not is_cross_validation(records):
        return []
    pooled = pooled_out_of_fold(records, directory)
    rows = []
    for model in dict.fromkeys(group_label(record) for record in records):
        runs = [record for record in records if group_label(record) == model]
        cells = pooled[(pooled["model"] == model) & pooled["complete"]] if not pooled.empty else pooled
        row = [model, len(runs)]
        for metric in ("accuracy", "f1_macro", "auroc_macro"):
            row.append(_mean_std([metric_value(run, metric) for run in runs]))
            row.append(_mean_std(cells[metric].tolist() if not cells.empty else []))
        row.append(str(int(cells["n_images"].iloc[0])) if not cells.empty else "-")
        rows.append(row)
    headers = [
        "model",
        "runs",
        "accuracy per fold",
        "accuracy pooled",
        "macro F1 per fold",
        "macro F1 pooled",
    ]
    headers += ["AUROC per fold", "AUROC pooled", "images pooled"]
    intro = (
        "Per fold: mean ± std over the runs (seeds x folds x repeats), each scored on its own test fold. "
        "Pooled: the test predictions of all folds of one seed and repeat form one prediction for every "
        "image; mean ± std over seeds x repeats. Per-fold numbers are in `runs.csv`, pooled ones in "
        "`pooled_oof.csv`."
    )
    return ["## Cross-validation", "", intro, "", markdown_table(headers, rows), ""]


def _mean_std(values: list[float]) -> str:
    summary = describe([value for value in values if not np.isnan(value)], n_boot=1)
    if not summary["n"]:
        return "-"
    text = fmt(summary["mean"])
    return text if summary["std"] is None else f"{text} ± {fmt(summary['std'])}"
