"""The clinical view: the positive class's operating point (a threshold chosen on validation, applied to
test: sensitivity, specificity, PPV, NPV with Wilson intervals), sensitivity at 90% and 95% specificity,
and calibration before and after temperature scaling; all from stored predictions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from bcbench.metrics.calibration import calibration_scores
from bcbench.metrics.operating import default_positive_class, rates_at, sensitivity_at_specificity
from bcbench.record import RunRecord
from bcbench.report.format import fmt, markdown_table
from bcbench.report.units import Unit
from bcbench.stats import describe
from bcbench.stats.intervals import wilson_interval

RATES = ("sensitivity", "specificity", "ppv", "npv")
AT_SPECIFICITY = (0.90, 0.95)
RULES = {
    "youden": "Youden's J (sensitivity + specificity - 1 at its largest)",
    "sensitivity": "the highest threshold reaching {target:.0%} sensitivity",
    "specificity": "the lowest threshold reaching {target:.0%} specificity",
}


def evaluation_settings(records: Sequence[RunRecord]) -> dict[str, Any]:
    """The positive class (named, or the default for these classes) and the threshold rule."""
    evaluation = (records[0].config or {}).get("evaluation") or {} if records else {}
    classes = records[0].classes if records else []
    positive = evaluation.get("positive_class") or default_positive_class(classes)
    if positive is not None and positive not in classes:
        positive = None
    rule = evaluation.get("threshold") or "youden"
    target = float(evaluation.get("threshold_target") or 0.9)
    return {
        "positive": positive,
        "rule": rule,
        "target": target,
        "named": bool(evaluation.get("positive_class")),
    }


def operating_rows(units: Sequence[Unit], positive: str) -> list[dict[str, Any]]:
    """One row per unit: counts at the validation threshold, the four rates with Wilson intervals,
    sensitivity at 90% / 95% specificity, or a note saying why a number is undefined."""
    rows = []
    for unit in units:
        column = unit.classes.index(positive)
        is_positive = unit.labels == column
        row: dict[str, Any] = {
            "model": unit.model,
            "unit": unit.label,
            "n": int(unit.labels.size),
            "note": "",
        }
        if is_positive.all() or not is_positive.any():
            rows.append({**row, "note": "one class only among the test images: no operating point"})
            continue
        scores = unit.probs[:, column]
        for spec in AT_SPECIFICITY:
            row[f"sensitivity_at_{round(spec * 100)}_specificity"] = sensitivity_at_specificity(
                scores, is_positive, spec
            )
        if unit.thresholds is None:
            rows.append({**row, "note": "no threshold: a validation set holds one class only"})
            continue
        rows.append({**row, **_rates_with_intervals(scores, is_positive, unit.thresholds)})
    return rows


def _rates_with_intervals(scores: np.ndarray, positive: np.ndarray, thresholds: np.ndarray) -> dict[str, Any]:
    rates = rates_at(scores - thresholds, positive, 0.0)  # each image against its own run's threshold
    rates["threshold"] = float(np.mean(thresholds))
    counts = {
        "sensitivity": (rates["tp"], rates["tp"] + rates["fn"]),
        "specificity": (rates["tn"], rates["tn"] + rates["fp"]),
        "ppv": (rates["tp"], rates["tp"] + rates["fp"]),
        "npv": (rates["tn"], rates["tn"] + rates["fn"]),
    }
    for name, (hits, trials) in counts.items():
        rates[f"{name}_low"], rates[f"{name}_high"] = wilson_interval(hits, trials)
    return rates


def operating_summary(rows: Sequence[dict[str, Any]]) -> list[list[str]]:
    """Per model: each rate's mean over units with its interval over units (t on the logit scale)."""
    table = []
    for model in dict.fromkeys(row["model"] for row in rows):
        mine = [row for row in rows if row["model"] == model]
        cells = [model, str(len(mine))]
        names = [*RATES, *(f"sensitivity_at_{round(s * 100)}_specificity" for s in AT_SPECIFICITY)]
        for name in names:
            cells.append(_over_units([row.get(name) for row in mine]))
        table.append(cells)
    return table


def _over_units(values: list[float | None]) -> str:
    summary = describe([np.nan if v is None else v for v in values], n_boot=1, bounded=True)
    if not summary["n"]:
        return "-"
    text = fmt(summary["mean"])
    return (
        text
        if summary["ci_t_low"] is None
        else f"{text} [{fmt(summary['ci_t_low'])}, {fmt(summary['ci_t_high'])}]"
    )


def calibration_rows(units: Sequence[Unit]) -> list[dict[str, Any]]:
    """One row per unit: mean temperature, validation NLL both ways, test NLL/Brier/ECE before and after."""
    rows = []
    for unit in units:
        before, after = (
            calibration_scores(unit.probs, unit.labels),
            calibration_scores(unit.calibrated, unit.labels),
        )
        row = {"model": unit.model, "unit": unit.label, "temperature": float(np.mean(unit.temperatures))}
        row["val_nll_before"] = float(np.mean([pair[0] for pair in unit.val_nll]))
        row["val_nll_after"] = float(np.mean([pair[1] for pair in unit.val_nll]))
        rows.append(
            {
                **row,
                **{f"{k}_before": v for k, v in before.items()},
                **{f"{k}_after": v for k, v in after.items()},
            }
        )
    return rows


def clinical_markdown(
    settings: dict[str, Any], operating: Sequence[dict[str, Any]], calibration: Sequence[dict[str, Any]]
) -> list[str]:
    out = ["## Clinical view", ""]
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
    headers = [
        "model",
        "runs",
        "sensitivity",
        "specificity",
        "PPV",
        "NPV",
        "sens. at 90% spec.",
        "sens. at 95% spec.",
    ]
    out += ["### Operating point per model", "", markdown_table(headers, operating_summary(operating)), ""]
    out += ["### Operating point per run", "", _per_unit_table(operating), ""]
    out += ["### Calibration", "", _calibration_table(calibration), ""]
    return out


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
            *(rate(row, name) for name in RATES),
            row["note"],
        ]
        for row in rows
    ]
    return markdown_table(
        ["model", "run", "images", "threshold", "sensitivity", "specificity", "PPV", "NPV", "note"], table
    )


def _calibration_table(rows: Sequence[dict[str, Any]]) -> str:
    frame = pd.DataFrame(rows)
    if frame.empty:
        return "No stored predictions: nothing to calibrate."
    table = []
    for model, group in frame.groupby("model", sort=False):
        cells = [model, str(len(group)), fmt(group["temperature"].mean(), 2)]
        for name in ("nll", "brier", "ece"):
            cells.append(f"{fmt(group[f'{name}_before'].mean())} -> {fmt(group[f'{name}_after'].mean())}")
        table.append(cells)
    intro = (
        "Temperature scaling fitted on each run's validation predictions (it never changes the predicted "
        "class); test NLL, Brier score and ECE before -> after, mean over runs. Per run: `calibration.csv`."
    )
    return intro + "\n\n" + markdown_table(["model", "n", "temperature", "NLL", "Brier", "ECE"], table)
