"""Paired AUROC comparisons with DeLong's test: two models scored on the same test images (each seed of a
holdout sweep; each seed and repeat of pooled cross-validation), one class against the rest, Holm-corrected
across the model pairs of each class and unit."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from bcbench.report.format import fmt, fmt_p, markdown_table
from bcbench.report.units import Unit
from bcbench.stats import holm_correction
from bcbench.stats.delong import delong_test


def delong_rows(units: Sequence[Unit]) -> list[dict[str, Any]]:
    """One row per (class, unit, model pair), with ``p_holm`` across the pairs of that class and unit."""
    by_key: dict[tuple[object, object], dict[str, Unit]] = {}
    for unit in units:
        by_key.setdefault((unit.seed, unit.repeat), {})[unit.model] = unit
    rows: list[dict[str, Any]] = []
    for models in by_key.values():
        for first in models.values():
            for column, name in enumerate(first.classes):
                family = [
                    _compare(models[a], models[b], column, name) for a, b in itertools.combinations(models, 2)
                ]
                for row, adjusted in zip(family, holm_correction([row["p"] for row in family]), strict=True):
                    rows.append({**row, "p_holm": adjusted})
            break
    return rows


def _compare(a: Unit, b: Unit, column: int, name: str) -> dict[str, Any]:
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
