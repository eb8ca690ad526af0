"""The clinical view in report.md: the positive class's operating point per model and per run, and
calibration before and after temperature scaling, rendered from ``ClinicalAnalysis``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bcbench.analysis import ClinicalAnalysis
from bcbench.report.format import fmt, markdown_table

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
        "- intervals: sensitivity / specificity / PPV / NPV per run are Wilson 95% intervals over that run's "
        "test images; per model, mean over runs [95% t-interval over runs, logit scale]; sensitivity at a "
        "fixed specificity is read off each run's test ROC curve; n: runs (cross-validation: seeds x "
        "repeats, each pooled over its folds)",
        "",
    ]
    headers = ["model", "runs", "sensitivity", "specificity", "PPV", "NPV"]
    headers += ["sens. at 90% spec.", "sens. at 95% spec."]
    summary = markdown_table(headers, [_summary_cells(row) for row in clinical.operating_summary])
    out += ["### Operating point per model", "", summary, ""]
    out += ["### Operating point per run", "", _per_unit_table(clinical.operating), ""]
    out += ["### Calibration", "", _calibration_table(clinical.calibration_summary), ""]
    return out


def _summary_cells(row: dict[str, Any]) -> list[str]:
    cells = [row["model"], str(row["units"])]
    for name in (*RATES, *SPECIFICITY_KEYS):
        summary = row[name]
        if not summary["n"]:
            cells.append("-")
        elif summary["ci_t_low"] is None:
            cells.append(fmt(summary["mean"]))
        else:
            cells.append(f"{fmt(summary['mean'])} [{fmt(summary['ci_t_low'])}, {fmt(summary['ci_t_high'])}]")
    return cells


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


def _calibration_table(summary: Sequence[dict[str, Any]]) -> str:
    if not summary:
        return "No stored predictions: nothing to calibrate."
    table = []
    for row in summary:
        cells = [row["model"], str(row["units"]), fmt(row["temperature"], 2)]
        cells += [
            f"{fmt(row[f'{name}_before'])} -> {fmt(row[f'{name}_after'])}" for name in ("nll", "brier", "ece")
        ]
        table.append(cells)
    intro = (
        "Temperature scaling fitted on each run's validation predictions (it never changes the predicted "
        "class); test NLL, Brier score and ECE before -> after, mean over runs. Per run: `calibration.csv`."
    )
    return intro + "\n\n" + markdown_table(["model", "n", "temperature", "NLL", "Brier", "ECE"], table)
