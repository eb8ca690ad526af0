"""External test sets in report.md: each model's scores on data it never saw, over the classes present."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bcbench.report.format import fmt, markdown_table

EXTERNAL_METRICS = ("accuracy", "balanced_accuracy", "f1_macro", "auroc_macro")


def external_markdown(rows: Sequence[dict[str, Any]]) -> list[str]:
    if not rows:
        return []
    table = [
        [row["set"], row["model"], row["runs"], row["n"], row["classes_present"]]
        + [_cell(row, metric) for metric in EXTERNAL_METRICS]
        for row in rows
    ]
    headers = ["external set", "model", "runs", "images", "classes present", "accuracy", "balanced accuracy"]
    headers += ["macro F1", "macro AUROC"]
    intro = (
        "Each run's best-validation model predicted every image of each external set with the run's own "
        "preprocessing; mean ± std over runs. A class the external set lacks is left out of its per-class "
        "scores and macro averages (the model may still predict it, which counts as an error)."
    )
    return ["## External test sets", "", intro, "", markdown_table(headers, table), ""]


def _cell(row: dict[str, Any], metric: str) -> str:
    mean, std = row[f"{metric}_mean"], row[f"{metric}_std"]
    return fmt(mean) + (f" ± {fmt(std)}" if std is not None else "")
