"""DeLong's test of two correlated AUROCs in report.md, rendered from the analysis's rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bcbench.report.format import fmt, fmt_p, markdown_table


def delong_markdown(rows: Sequence[dict[str, Any]], positive: str | None) -> list[str]:
    if not rows:
        return []
    shown = [row for row in rows if positive is None or row["class"] == positive]
    table = [
        [
            row["class"],
            row["unit"],
            row["model_a"],
            row["model_b"],
            fmt(row["auc_a"]),
            fmt(row["auc_b"]),
            _difference(row),
            "n/a" if row["p"] is None else f"{fmt_p(row['p'])} ({fmt_p(row['p_holm'])})",
            row["note"],
        ]
        for row in shown
    ]
    headers = [
        "class vs rest",
        "run",
        "A",
        "B",
        "AUROC A",
        "AUROC B",
        "A - B [95% CI]",
        "DeLong p (Holm)",
        "note",
    ]
    intro = (
        "DeLong's test of two correlated AUROCs: both models scored the same test images (one seed; in "
        "cross-validation one seed and repeat, pooled over its folds). p two-sided, Holm-corrected across "
        "the model pairs of each class and run in parentheses. Every class vs the rest: `delong.csv`."
    )
    return ["### AUROC: DeLong's test", "", intro, "", markdown_table(headers, table), ""]


def _difference(row: dict[str, Any]) -> str:
    if row["auc_diff"] is None:
        return "-"
    text = f"{row['auc_diff']:+.3f}"
    return (
        text
        if row["diff_ci_low"] is None
        else f"{text} [{row['diff_ci_low']:+.3f}, {row['diff_ci_high']:+.3f}]"
    )
