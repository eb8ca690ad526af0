"""Records -> pandas frames: per-run metric values, the tidy summary over seeds, pairwise comparisons."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from bcbench.record import (
    METRICS,
    RunRecord,
    class_names,
    group_label,
    group_records,
    metric_value,
    ok_records,
)
from bcbench.record.schema import recall_metric
from bcbench.stats import DESCRIBE_KEYS, pairwise_comparisons, summarise_runs

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


def runs_metrics_frame(records: Records, metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per successful run: model (group label), seed and one column per metric."""
    ok = ok_records(records)
    metrics = list(metrics or summary_metrics(ok))
    rows = [{"model": group_label(r), "seed": r.seed, **{m: metric_value(r, m) for m in metrics}} for r in ok]
    return pd.DataFrame(rows, columns=["model", "seed", *metrics])


def summary_frame(records: Records, confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Tidy summary: one row per (model, metric) with the columns of ``stats.describe``."""
    frame = runs_metrics_frame(records)
    metrics = [c for c in frame.columns if c not in ("model", "seed")]
    if frame.empty:
        return pd.DataFrame(columns=list(SUMMARY_COLUMNS))
    return summarise_runs(frame, metrics, group="model", confidence=confidence)


def seed_scores(records: Records, metric: str) -> dict[str, dict[Any, float | None]]:
    """{group label: {seed: value}} for the paired tests (None where the value is missing)."""
    scores: dict[str, dict[Any, float | None]] = {}
    for label, runs in group_records(records).items():
        values = {r.seed: metric_value(r, metric) for r in runs}
        scores[label] = {seed: (None if math.isnan(v) else v) for seed, v in values.items()}
    return scores


def pairwise_frame(
    records: Records,
    metrics: Sequence[str] = PAIRWISE_METRICS,
    confidence: float = CONFIDENCE,
) -> pd.DataFrame:
    """Seed-paired comparisons of every model pair, for each metric (Holm within a metric)."""
    records = list(records)
    rows = []
    for metric in metrics:
        rows += pairwise_comparisons(seed_scores(records, metric), metric, confidence=confidence)
    return pd.DataFrame(rows)
