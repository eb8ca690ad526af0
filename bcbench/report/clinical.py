"""The clinical view in report.md: the positive class's operating point per model and per run, and
calibration before and after temperature scaling, rendered from ``ClinicalAnalysis``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bcbench.analysis import ClinicalAnalysis
from bcbench.report.format import fmt, fmt_stat, markdown_table

RATES = ("sensitivity", "specificity", "ppv", "npv")
SPECIFICITY_KEYS = ("sensitivity_at_90_specificity", "sensitivity_at_95_specificity")
RULES = {
    "youden": "Youden's J (sensitivity + specificity - 1 at its largest)",
    "sensitivity": "the highest threshold reaching {target:.0%} sensitivity",
    "specificity": "the lowest threshold reaching {target:.0%} specificity",
}


def clinical_markdown(clinical: ClinicalAnalysis) -> list[str]:
    out = ["## Clinical view", ""]
    settings = clinical.settings
    positive = settings["positive"]
    if positive is None:
        return [
            *out,
            "No positive class: set `evaluation.positive_class` (e.g. malignant) for operating points.",
            "",
        ]
    how = "named by evaluation.positive_class" if settings["named"] else "the default for these classes"
    rule = RULES[settings["rule"]].format(target=settings["target"])
    out += [
        f"- positive class: **{positive}** ({how}); every other class is negative",
        f"- threshold on P({positive}): {rule}, chosen on each run's validation predictions, applied to "
        "its test images",
        f"- {_intervals_line(clinical)}",
        "",
    ]
    headers = ["model", "runs", "sensitivity", "specificity", "PPV", "NPV"]
    headers += ["sens. at 90% spec.", "sens. at 95% spec."]
    summary = markdown_table(headers, [_summary_cells(row) for row in clinical.operating_summary])
    out += ["### Operating point per model", "", summary, ""]
    out += ["### Operating point per run", "", _per_unit_table(clinical.operating), ""]
    out += ["### Calibration", "", _calibration_table(clinical.calibration_summary), ""]
    return out


def _intervals_line(clinical: ClinicalAnalysis) -> str:
    per_run = (
        "per run: Wilson 95% intervals over that run's test images (cross-validation: one row per seed and "
        "repeat, its folds' images pooled, each at its own fold's threshold); sensitivity at a fixed "
        "specificity is read off each run's own test ROC curve (pooled rows: the mean over the folds)"
    )
    cross_validated = any(unit.fold is not None for unit in clinical.units)
    over = (
        "over folds (mean over seeds per fold) with the Nadeau-Bengio corrected variance"
        if cross_validated
        else "over runs (seeds)"
    )
    return f"intervals: {per_run}; per model: mean [95% Student t interval {over}, clipped to [0, 1]]"


def _summary_cells(row: dict[str, Any]) -> list[str]:
    return [
        row["model"],
        str(row["units"]),
        *(fmt_stat(row[name], spread=False) for name in (*RATES, *SPECIFICITY_KEYS)),
    ]


def _per_unit_table(rows: Sequence[dict[str, Any]]) -> str:
    def rate(row: dict[str, Any], name: str) -> str:
        if row.get(name) is None:
            return "-"
        return f"{fmt(row[name])} [{fmt(row[f'{name}_low'])}, {fmt(row[f'{name}_high'])}]"

    table = [
        [
            row["model"],
            row["unit"],
            row["n"],
            fmt(row.get("threshold")),
            *(rate(row, n) for n in RATES),
            row["note"],
        ]
        for row in rows
    ]
    headers = ["model", "run", "images", "threshold", "sensitivity", "specificity", "PPV", "NPV", "note"]
    return markdown_table(headers, table)


CALIBRATION_COLUMNS = {
    "nll": "NLL",
    "brier_multiclass": "Brier (multiclass)",
    "brier_positive": "Brier (positive)",
    "ece": "ECE (top-label)",
}


def _calibration_table(summary: Sequence[dict[str, Any]]) -> str:
    if not summary:
        return "No stored predictions: nothing to calibrate."
    names = [name for name in CALIBRATION_COLUMNS if f"{name}_before" in summary[0]]
    table = []
    for row in summary:
        cells = [row["model"], str(row["units"]), fmt(row["temperature"], 2)]
        cells += [f"{fmt(row[f'{name}_before'])} -> {fmt(row[f'{name}_after'])}" for name in names]
        table.append(cells)
    intro = (
        "Temperature scaling fitted on each run's validation predictions (it never changes the predicted "
        "class); test NLL, Brier scores and top-label ECE before -> after, mean over runs. Per run: "
        "`calibration.csv`."
    )
    headers = ["model", "n", "temperature", *(CALIBRATION_COLUMNS[name] for name in names)]
    return intro + "\n\n" + markdown_table(headers, table)
