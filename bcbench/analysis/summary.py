"""Records -> pandas frames: per-run metric values, the tidy summary over seeds (or folds), and the pairwise
comparisons of models (paired over seeds, or over folds with the Nadeau-Bengio correction)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from bcbench.record import (
    METRICS,
    RunRecord,
    class_names,
    group_label,
    group_records,
    is_cross_validation,
    metric_named,
    metric_value,
    ok_records,
    recall_metric,
)
from bcbench.stats import (
    DESCRIBE_KEYS,
    corrected_resampled_ttest,
    holm_correction,
    pairwise_comparisons,
    summarise_runs,
)

CONFIDENCE = 0.95
Records = Iterable[RunRecord | dict[str, Any]]
SUMMARY_COLUMNS = ("model", "metric", *DESCRIBE_KEYS)
PAIRWISE_METRICS = tuple(metric.name for metric in METRICS if metric.paired)


def summary_metrics(records: Records) -> list[str]:
    """The metrics of summary.csv, in the table's order, with a recall per class after the scores."""
    scores = [metric.name for metric in METRICS if metric.kind == "score"]
    recalls = [recall_metric(name).name for name in class_names(records)]
    rest = [metric.name for metric in METRICS if metric.kind != "score"]
    return [*scores, *recalls, *rest]


RUN_COLUMNS = ("model", "seed", "repeat", "fold")


def pair_key(record: RunRecord) -> tuple[int, int, int]:
    """What pairs two models' runs: the same seed on the same split (cross-validation repeat and fold)."""
    seed = record.seed if isinstance(record.seed, int) else -1
    return (seed, -1 if record.repeat is None else record.repeat, -1 if record.fold is None else record.fold)


def runs_metrics_frame(records: Records, metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per successful run: model (group label), seed, repeat, fold and one column per metric."""
    ok = ok_records(records)
    metrics = list(metrics or summary_metrics(ok))
    rows = [
        {"model": group_label(r), "seed": r.seed, "repeat": r.repeat, "fold": r.fold}
        | {m: metric_value(r, m) for m in metrics}
        for r in ok
    ]
    return pd.DataFrame(rows, columns=[*RUN_COLUMNS, *metrics])


def test_train_ratio(records: Sequence[RunRecord]) -> float:
    """n_test / n_train of the folds (Nadeau-Bengio's correction), from the records' split sizes."""
    ratios = [r.data.n_test / r.data.n_train for r in records if r.data and r.data.n_test and r.data.n_train]
    return float(np.mean(ratios)) if ratios else 0.0


def fold_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Per model, repeat and fold, the mean of each metric over seeds: one value per fold."""
    metrics = [column for column in frame.columns if column not in RUN_COLUMNS]
    return frame.groupby(["model", "repeat", "fold"], sort=False)[metrics].mean().reset_index()


def interval_method(records: Sequence[RunRecord]) -> str:
    """How the summary's intervals were made: over seeds, or over folds with the correction."""
    if is_cross_validation(records):
        return (
            f"Student t over folds x repeats with the Nadeau-Bengio corrected variance (seeds averaged per "
            f"fold; n_test/n_train = {test_train_ratio(records):.3f}), clipped to the metric's range"
        )
    return "Student t over seeds, clipped to the metric's range"


def summary_frame(records: Records, confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Tidy summary: one row per (model, metric) with the columns of ``stats.describe`` and ``interval``
    (how the t interval was made). Intervals stay in the metric's range (``Metric.bounds``);
    cross-validation summarises one value per fold (the mean over seeds) with the Nadeau-Bengio corrected
    variance."""
    ok = ok_records(records)
    frame = runs_metrics_frame(ok)
    metrics = [c for c in frame.columns if c not in RUN_COLUMNS]
    if frame.empty:
        return pd.DataFrame(columns=[*SUMMARY_COLUMNS, "interval"])
    bounds = {name: metric_named(name).bounds for name in metrics}
    correction = 0.0
    if is_cross_validation(ok):
        frame, correction = fold_frame(frame), test_train_ratio(ok)
    summary = summarise_runs(frame, metrics, "model", confidence, bounds=bounds, correction=correction)
    summary["interval"] = interval_method(ok)
    return summary


def seed_scores(records: Records, metric: str) -> dict[str, dict[Any, float | None]]:
    """{group label: {pair key: value}} for the paired tests (None where the value is missing); the pair
    key is the seed, and the repeat and fold in cross-validation (see ``pair_key``)."""
    scores: dict[str, dict[Any, float | None]] = {}
    for label, runs in group_records(records).items():
        values = {pair_key(r): metric_value(r, metric) for r in runs}
        scores[label] = {key: (None if math.isnan(v) else v) for key, v in values.items()}
    return scores


def pairwise_frame(
    records: Records,
    metrics: Sequence[str] = PAIRWISE_METRICS,
    confidence: float = CONFIDENCE,
) -> pd.DataFrame:
    """Every model pair compared on each metric, Holm-corrected across the pairs of a metric: paired
    over seeds (holdout), or over folds with the Nadeau-Bengio corrected resampled t-test."""
    ok = ok_records(records)
    rows = []
    for metric in metrics:
        if is_cross_validation(ok):
            rows += fold_comparisons(ok, metric, confidence)
        else:
            paired = pairwise_comparisons(seed_scores(ok, metric), metric, confidence=confidence)
            rows += [{**row, "method": "paired over seeds"} for row in paired]
    return pd.DataFrame(rows)


def fold_comparisons(records: Sequence[RunRecord], metric: str, confidence: float) -> list[dict[str, Any]]:
    """Corrected resampled t-tests of every model pair over the folds both have (seeds averaged)."""
    folds = fold_frame(runs_metrics_frame(records, [metric]))
    ratio = test_train_ratio(records)
    values = {
        model: group.set_index(["repeat", "fold"])[metric]
        for model, group in folds.groupby("model", sort=False)
    }
    rows = []
    for model_a, model_b in itertools.combinations(values, 2):
        shared = values[model_a].index.intersection(values[model_b].index)
        diffs = (values[model_a][shared] - values[model_b][shared]).tolist()
        test = corrected_resampled_ttest(diffs, ratio, confidence)
        means = {
            "mean_a": float(values[model_a][shared].mean()),
            "mean_b": float(values[model_b][shared].mean()),
        }
        rows.append(
            {
                "model_a": model_a,
                "model_b": model_b,
                "metric": metric,
                "n_pairs": test.pop("n"),
                **means,
                **test,
            }
        )
    for row, adjusted in zip(rows, holm_correction([row["t_p"] for row in rows]), strict=True):
        row.update(
            t_p_holm=adjusted, method=f"corrected resampled t over folds (Nadeau-Bengio, ratio {ratio:.3f})"
        )
    return rows
