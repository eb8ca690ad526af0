"""DeLong's test of two correlated AUROCs in report.md, rendered from the analysis's rows: per run (a seed;
in cross-validation a seed, repeat and fold), and in cross-validation the folds combined."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bcbench.report.format import fmt, fmt_p, markdown_table

HEADERS = [
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


def delong_markdown(
    rows: Sequence[dict[str, Any]], over_folds: Sequence[dict[str, Any]], positive: str | None
) -> list[str]:
    if not rows:
        return []
    shown = [row for row in rows if positive is None or row["class"] == positive]
    table = [
        [
            row["class"], row["unit"], row["model_a"], row["model_b"], fmt(row["auc_a"]), fmt(row["auc_b"]),
            _difference(row["auc_diff"], row["diff_ci_low"], row["diff_ci_high"]),
            _p(row["p"], row["p_holm"]), row["note"],
        ]
        for row in shown
    ]  # fmt: skip
    cross_validated = any(row.get("fold") is not None for row in rows)
    where = (
        "one fold's test images, each model's own fold model" if cross_validated else "one seed's test images"
    )
    intro = (
        f"DeLong's test of two correlated AUROCs on the same images ({where}); p two-sided, Holm-corrected "
        "across the model pairs of each class and run in parentheses. Every class vs the rest: `delong.csv`."
    )
    out = ["### AUROC: DeLong's test", "", intro, "", markdown_table(HEADERS, table), ""]
    return out + _over_folds([row for row in over_folds if positive is None or row["class"] == positive])


def _over_folds(rows: Sequence[dict[str, Any]]) -> list[str]:
    if not rows:
        return []
    table = [
        [
            row["class"], row["model_a"], row["model_b"], row["folds"],
            _difference(row["mean_diff"], row["diff_ci_low"], row["diff_ci_high"]),
            _p(row["t_p"], row["t_p_holm"]), row["note"],
        ]
        for row in rows
    ]  # fmt: skip
    headers = ["class vs rest", "A", "B", "folds", "mean A - B [95% CI]", "corrected t p (Holm)", "note"]
    intro = (
        "Over folds: each fold's AUROC difference (mean over seeds), tested with the Nadeau-Bengio corrected "
        "resampled t (the folds share training images); Holm across the model pairs of each class."
    )
    return ["#### AUROC differences over folds", "", intro, "", markdown_table(headers, table), ""]


def _difference(diff: float | None, low: float | None, high: float | None) -> str:
    if diff is None:
        return "-"
    return f"{diff:+.3f}" if low is None else f"{diff:+.3f} [{low:+.3f}, {high:+.3f}]"


def _p(p: float | None, holm: float | None) -> str:
    return "n/a" if p is None else f"{fmt_p(p)} ({fmt_p(holm)})"
