"""Cross-validation in report.md: per-fold results beside the pooled out-of-fold metrics, rendered from the
analysis's rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bcbench.report.format import fmt, markdown_table

COLUMNS = (("accuracy", "accuracy"), ("f1_macro", "macro F1"), ("auroc_macro", "AUROC"))


def crossval_markdown(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The report section: per model, mean ± std over folds next to the pooled out-of-fold metrics."""
    if not rows:
        return []
    table = []
    for row in rows:
        cells = [row["model"], row["runs"]]
        for metric, _ in COLUMNS:
            cells += [_mean_std(row[f"{metric}_per_fold"]), _mean_std(row[f"{metric}_pooled"])]
        cells.append(str(row["images_pooled"]) if row["images_pooled"] is not None else "-")
        table.append(cells)
    headers = ["model", "runs"]
    for _, label in COLUMNS:
        headers += [f"{label} per fold (headline)", f"{label} pooled out-of-fold"]
    headers.append("images pooled")
    intro = (
        "Per fold (the headline, as in the summary): mean ± std over the runs (seeds x folds x "
        "repeats), each scored on its own test fold. Pooled out-of-fold: the test predictions of all "
        "folds of one seed and repeat scored as one prediction for every image; mean ± std over seeds x "
        "repeats, no interval. Caveat: pooling joins fold models whose scores are on different scales, so a "
        "pooled AUROC can be lower than every fold's own. Per-fold numbers are in `runs.csv`, pooled ones "
        "in `pooled_oof.csv`."
    )
    return ["## Cross-validation", "", intro, "", markdown_table(headers, table), ""]


def _mean_std(summary: dict[str, Any]) -> str:
    if not summary["n"]:
        return "-"
    text = fmt(summary["mean"])
    return text if summary["std"] is None else f"{text} ± {fmt(summary['std'])}"
