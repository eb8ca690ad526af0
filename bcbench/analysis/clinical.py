"""The clinical view, as numbers: the positive class's operating point (a threshold chosen on validation,
applied to test: sensitivity, specificity, PPV, NPV with Wilson intervals), sensitivity at 90% and 95%
specificity, and calibration before and after the stored temperature scaling; all from stored
predictions (``PredictionUnit``).

Per model, the rates are summarised like the summary table: over seeds (holdout), or over folds with the
Nadeau-Bengio corrected variance (cross-validation: folds, and the repeats that re-partition the same
images, are correlated units, never independent ones)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bcbench.analysis.units import PredictionUnit
from bcbench.metrics import calibration_scores, default_positive_class, rates_at, sensitivity_at_specificity
from bcbench.record import RunRecord
from bcbench.stats import describe, wilson_interval

RATES = ("sensitivity", "specificity", "ppv", "npv")
AT_SPECIFICITY = (0.90, 0.95)
SPECIFICITY_KEYS = tuple(f"sensitivity_at_{round(s * 100)}_specificity" for s in AT_SPECIFICITY)


def evaluation_settings(records: Sequence[RunRecord]) -> dict[str, Any]:
    """The positive class (named, or the default for these classes) and the threshold rule."""
    evaluation = (records[0].config or {}).get("evaluation") or {} if records else {}
    classes = records[0].classes if records else []
    positive = evaluation.get("positive_class") or default_positive_class(classes)
    if positive is not None and positive not in classes:
        positive = None
    return {
        "positive": positive,
        "rule": evaluation.get("threshold") or "youden",
        "target": float(evaluation.get("threshold_target") or 0.9),
        "named": bool(evaluation.get("positive_class")),
    }


def operating_rows(units: Sequence[PredictionUnit], positive: str) -> list[dict[str, Any]]:
    """One row per unit: counts at the validation threshold, the four rates with Wilson intervals,
    sensitivity at 90% / 95% specificity (a pooled unit: the mean over its folds, each read off its own
    ROC curve), or a note saying why a number is undefined."""
    rows = []
    for unit in units:
        column = unit.classes.index(positive)
        is_positive = unit.labels == column
        row: dict[str, Any] = {
            "model": unit.model,
            "unit": unit.label,
            "seed": unit.seed,
            "repeat": unit.repeat,
        }
        row.update(fold=unit.fold, n=int(unit.labels.size), note="")
        if is_positive.all() or not is_positive.any():
            rows.append({**row, "note": "one class only among the test images: no operating point"})
            continue
        row.update(_sensitivity_at_specificities(unit, column))
        if unit.thresholds is None:
            rows.append({**row, "note": "no threshold: a validation set holds one class only"})
            continue
        rows.append({**row, **_rates_with_intervals(unit.probs[:, column], is_positive, unit.thresholds)})
    return rows


def _sensitivity_at_specificities(unit: PredictionUnit, column: int) -> dict[str, float | None]:
    """Each key of ``SPECIFICITY_KEYS`` for one unit; for a pooled unit, the mean over its parts."""
    found = {}
    for key, specificity in zip(SPECIFICITY_KEYS, AT_SPECIFICITY, strict=True):
        values = [
            sensitivity_at_specificity(part.probs[:, column], part.labels == column, specificity)
            for part in (unit.parts or [unit])
        ]
        values = [value for value in values if value is not None]
        found[key] = float(np.mean(values)) if values else None
    return found


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


def operating_summary(run_rows: Sequence[dict[str, Any]], correction: float | None) -> list[dict[str, Any]]:
    """Per model: ``units`` and, for each rate, ``describe`` of its per-run values: over seeds (holdout,
    ``correction`` None), or over folds (the mean over seeds of each repeat and fold) with the
    Nadeau-Bengio ``correction`` n_test / n_train; intervals clipped to [0, 1]."""
    summary = []
    for model in dict.fromkeys(row["model"] for row in run_rows):
        mine = [row for row in run_rows if row["model"] == model]
        entry: dict[str, Any] = {"model": model, "units": len(mine)}
        for name in (*RATES, *SPECIFICITY_KEYS):
            values = (
                _per_fold_means(mine, name) if correction is not None else [_value(row, name) for row in mine]
            )
            entry[name] = describe(values, n_boot=1, bounds=(0.0, 1.0), correction=correction or 0.0)
        summary.append(entry)
    return summary


def _value(row: dict[str, Any], name: str) -> float:
    return np.nan if row.get(name) is None else float(row[name])


def _per_fold_means(rows: Sequence[dict[str, Any]], name: str) -> list[float]:
    """The mean over seeds of ``name`` in each (repeat, fold): one value per fold (NaN where none has one)."""
    cells: dict[tuple[object, object], list[float]] = {}
    for row in rows:
        cells.setdefault((row["repeat"], row["fold"]), []).append(_value(row, name))
    return [float(np.mean([v for v in values if not np.isnan(v)] or [np.nan])) for values in cells.values()]


def calibration_rows(units: Sequence[PredictionUnit], positive: str | None) -> list[dict[str, Any]]:
    """One row per unit: its stored temperature, validation NLL both ways, test NLL, Brier scores
    (multiclass; the positive class's one-vs-rest) and top-label ECE before and after temperature
    scaling."""
    rows = []
    for unit in units:
        column = unit.classes.index(positive) if positive is not None else None
        before = calibration_scores(unit.probs, unit.labels, column)
        after = calibration_scores(unit.calibrated, unit.labels, column)
        row = {
            "model": unit.model,
            "unit": unit.label,
            "temperature": float(np.mean(unit.temperatures)),
            "val_nll_before": float(np.mean([pair[0] for pair in unit.val_nll])),
            "val_nll_after": float(np.mean([pair[1] for pair in unit.val_nll])),
        }
        row.update({f"{key}_before": value for key, value in before.items()})
        row.update({f"{key}_after": value for key, value in after.items()})
        rows.append(row)
    return rows


def calibration_summary(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per model: the number of units and the mean over them of every calibration column."""
    summary = []
    for model in dict.fromkeys(row["model"] for row in rows):
        mine = [row for row in rows if row["model"] == model]
        numeric = [key for key, value in mine[0].items() if isinstance(value, float)]
        summary.append(
            {"model": model, "units": len(mine)} | {k: float(np.mean([r[k] for r in mine])) for k in numeric}
        )
    return summary
