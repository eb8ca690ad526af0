"""Corruption curves as numbers: how each model's scores fall as its test images are corrupted harder.

From the stored rows ``corrupted:<corruption>:<severity>`` of each run (``bcbench.robustness``), per seed
(one run; in cross-validation the folds of a repeat pooled, ``pooled.SeedUnit``): accuracy, balanced
accuracy and macro AUROC of the raw softmax probabilities (as the test block scores them), at severity 0
(the clean test set) and at each severity of each corruption, and their mean over corruptions. Over seeds:
mean, sd, min-max band and a t interval (raw scale, clipped to [0, 1]). Then:

- corruption error, as ImageNet-C defines it (Hendrycks & Dietterich, "Benchmarking neural network
  robustness to common corruptions and perturbations", ICLR 2019): for model f and corruption c,
  CE = sum over severities of E(f, c, s) / sum over severities of E(ref, c, s), with E = 1 - accuracy
  (mean over seeds) and ref the reference model (``robustness.reference_model``, else the first model);
  mCE is its mean over corruptions. Below 1: fewer errors than the reference under that corruption;
  it mixes clean accuracy with robustness, as ImageNet-C's does (the drop from clean is given beside it);
- the models' rank at each severity by the mean over corruptions of accuracy (1 = best, ties share the
  mean rank): does the ranking on clean images survive corruption?
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from bcbench.analysis.ensembles import ENSEMBLE_METHOD, ensemble_rows
from bcbench.analysis.pooled import SeedUnit, read_frames, seed_units
from bcbench.analysis.selective import SelectiveAnalysis, selective_analysis
from bcbench.metrics import classification_metrics
from bcbench.record import RunRecord, group_label
from bcbench.robustness import parse_corrupted_set
from bcbench.stats import describe

CORRUPTION_METRICS = ("accuracy", "balanced_accuracy", "auroc_macro")
CLEAN = "clean"  # the clean test set: severity 0 of every curve
MEAN = "mean"  # the mean over corruptions
CURVE_KEYS = ("n", "mean", "std", "min", "max", "ci_t_low", "ci_t_high")
TIMING_KEYS = ("seconds", "corrupt_seconds", "predict_seconds", "cpu_seconds")


@dataclass
class CorruptionAnalysis:
    """Corruption curves and what they say (see the module docstring); ``curves`` is long: one row per
    (model, corruption, severity, metric), corruption ``mean`` the mean over corruptions."""

    corruptions: list[str]
    severities: list[int]
    reference: str | None
    lengths: str
    units: str  # what a curve's band is over
    runs: list[dict[str, Any]] = field(default_factory=list)  # per seed, corruption, severity
    curves: pd.DataFrame = field(default_factory=pd.DataFrame)
    table: list[dict[str, Any]] = field(default_factory=list)  # per corruption and model
    errors: list[dict[str, Any]] = field(default_factory=list)  # per model: mCE
    ranks: list[dict[str, Any]] = field(default_factory=list)  # per severity and model
    timing: list[dict[str, Any]] = field(default_factory=list)  # per model: seconds per run


def corruption_analysis(records: Sequence[RunRecord], units: Sequence[SeedUnit]) -> CorruptionAnalysis | None:
    """The corruption curves of the runs with a ``robustness`` block and stored predictions (else None)."""
    evaluated = [record for record in records if record.robustness is not None]
    if not evaluated:
        return None
    first = evaluated[0].robustness
    units = [unit for unit in units if any(record.robustness for record, _ in unit.runs)]
    if not units:  # evaluated, but the predictions are not stored (or no folder was given)
        return None
    runs = corruption_run_rows(units)
    curves = corruption_curves(runs)
    models = list(dict.fromkeys(group_label(record) for record in evaluated))
    reference = reference_model(evaluated, models)
    errors = corruption_errors(curves, reference)
    cross_validation = any(unit.repeat is not None for unit in units)
    return CorruptionAnalysis(
        corruptions=list(first.corruptions),
        severities=list(first.severities),
        reference=reference,
        lengths=first.lengths,
        units="seeds x repeats (folds pooled)" if cross_validation else "seeds",
        runs=runs,
        curves=curves,
        table=corruption_table(curves, errors, mean_distances(evaluated)),
        errors=mean_corruption_errors(errors),
        ranks=severity_ranks(curves),
        timing=timing_rows(evaluated),
    )


def reference_model(records: Sequence[RunRecord], models: list[str]) -> str | None:
    """The configured reference model when it was evaluated, else the first model evaluated."""
    configured = ((records[0].config or {}).get("robustness") or {}).get("reference_model")
    if configured in models:
        return configured
    return models[0] if models else None


def _scores(unit: SeedUnit, set_name: str) -> dict[str, Any]:
    _, probs, labels = unit.arrays(set_name)
    metrics = classification_metrics(probs, labels, unit.classes)
    return {"n": int(labels.size), **{name: metrics[name] for name in CORRUPTION_METRICS}}


def corruption_run_rows(units: Sequence[SeedUnit]) -> list[dict[str, Any]]:
    """Per seed unit: the clean test set (corruption ``clean``, severity 0) and every corrupted copy."""
    rows = []
    for unit in units:
        where = {"model": unit.model, "unit": unit.label, "seed": unit.seed, "repeat": unit.repeat}
        rows.append({**where, "corruption": CLEAN, "severity": 0, **_scores(unit, "test")})
        for name in unit.set_names():
            parsed = parse_corrupted_set(name)
            if parsed is not None:
                corruption, severity = parsed
                rows.append({**where, "corruption": corruption, "severity": severity, **_scores(unit, name)})
    return rows


def corruption_curves(runs: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """``describe`` over seed units of each metric, per model, corruption (``clean`` at severity 0 starts
    every curve) and severity, and the same for the per-unit mean over corruptions (``mean``)."""
    frame = pd.DataFrame(runs)
    corrupted = frame[frame["corruption"] != CLEAN]
    if corrupted.empty:
        return pd.DataFrame(columns=["model", "corruption", "severity", "metric", *CURVE_KEYS])
    group = ["model", "unit", "severity"]
    averaged = corrupted.groupby(group, sort=False)[list(CORRUPTION_METRICS)].mean().reset_index()
    averaged["corruption"] = MEAN
    clean = frame[frame["corruption"] == CLEAN]
    corruptions = list(dict.fromkeys(corrupted["corruption"]))
    curves = [clean.assign(corruption=name) for name in [*corruptions, MEAN]]
    combined = pd.concat([*curves, corrupted, averaged], ignore_index=True)
    rows = []
    for (model, corruption, severity), cell in combined.groupby(
        ["model", "corruption", "severity"], sort=False
    ):
        for metric in CORRUPTION_METRICS:
            values = pd.to_numeric(cell[metric], errors="coerce").tolist()
            summary = describe(values, n_boot=1, bounds=(0.0, 1.0))
            row = {"model": model, "corruption": corruption, "severity": int(severity), "metric": metric}
            rows.append({**row, **{key: summary[key] for key in CURVE_KEYS}})
    order = {name: index for index, name in enumerate([*corruptions, MEAN])}
    out = pd.DataFrame(rows)
    out["_order"] = out["corruption"].map(order)
    models = {name: index for index, name in enumerate(dict.fromkeys(out["model"]))}
    out["_model"] = out["model"].map(models)
    out = out.sort_values(["_order", "_model", "metric", "severity"], kind="stable")
    return out.drop(columns=["_order", "_model"]).reset_index(drop=True)


def curve(curves: pd.DataFrame, model: str, corruption: str, metric: str) -> pd.DataFrame:
    """One curve: its rows by severity (0 = clean first)."""
    if curves.empty:
        return curves
    chosen = (curves["model"] == model) & (curves["corruption"] == corruption) & (curves["metric"] == metric)
    return curves[chosen].sort_values("severity")


def corruption_errors(curves: pd.DataFrame, reference: str | None) -> list[dict[str, Any]]:
    """Per model and corruption: CE = sum_s (1 - mean accuracy) / the reference's same sum (None without
    a reference, or when the reference made no error at any severity)."""
    if curves.empty:
        return []
    rows = []
    corruptions = [name for name in dict.fromkeys(curves["corruption"]) if name != MEAN]
    for model in dict.fromkeys(curves["model"]):
        for corruption in corruptions:
            errors = _error_sum(curves, model, corruption)
            base = _error_sum(curves, reference, corruption) if reference is not None else None
            ce = errors / base if base is not None and errors is not None and base > 0 else None
            rows.append({"model": model, "corruption": corruption, "error_sum": errors, "ce": ce})
    return rows


def _error_sum(curves: pd.DataFrame, model: str, corruption: str) -> float | None:
    means = curve(curves, model, corruption, "accuracy")
    means = means[means["severity"] > 0]["mean"]
    if means.empty or means.isna().any():
        return None
    return float((1.0 - means).sum())


def mean_corruption_errors(errors: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per model: mCE, the mean of CE over the corruptions (None when any CE is undefined)."""
    rows = []
    for model in dict.fromkeys(row["model"] for row in errors):
        values = [row["ce"] for row in errors if row["model"] == model]
        defined = values and all(value is not None for value in values)
        rows.append(
            {"model": model, "corruptions": len(values), "mce": float(np.mean(values)) if defined else None}
        )
    return rows


def mean_distances(records: Sequence[RunRecord]) -> dict[str, list[float]]:
    """Per corruption, the mean over runs of each severity's mean pixel change (grey levels, 0..255)."""
    collected: dict[str, list[list[float]]] = {}
    for record in records:
        for corruption, values in (record.robustness.distance if record.robustness else {}).items():
            collected.setdefault(corruption, []).append(list(values))
    return {
        name: np.mean(np.asarray(lists, dtype=np.float64), axis=0).tolist()
        for name, lists in collected.items()
        if len({len(values) for values in lists}) == 1
    }


def corruption_table(
    curves: pd.DataFrame, errors: Sequence[dict[str, Any]], distances: dict[str, list[float]]
) -> list[dict[str, Any]]:
    """Per corruption (and ``mean``) and model: accuracy at each severity (mean and sd over seeds), the mean
    over severities of each metric, the drop from clean accuracy, CE, and the pixel change per severity."""
    if curves.empty:
        return []
    ce = {(row["model"], row["corruption"]): row["ce"] for row in errors}
    rows = []
    for corruption in dict.fromkeys(curves["corruption"]):
        for model in dict.fromkeys(curves["model"]):
            accuracy = curve(curves, model, corruption, "accuracy")
            row: dict[str, Any] = {
                "corruption": corruption,
                "model": model,
                "distance": distances.get(corruption),
            }
            for _, point in accuracy.iterrows():
                row[f"accuracy_{point['severity']}"] = point["mean"]
                row[f"accuracy_{point['severity']}_std"] = point["std"]
            for metric in CORRUPTION_METRICS:
                means = curve(curves, model, corruption, metric)
                corrupted = means[means["severity"] > 0]["mean"].dropna()
                row[f"{metric}_corrupted"] = float(corrupted.mean()) if not corrupted.empty else None
            clean = accuracy[accuracy["severity"] == 0]["mean"]
            corrupted_mean = row["accuracy_corrupted"]
            drop = None if clean.empty or corrupted_mean is None else float(clean.iloc[0]) - corrupted_mean
            row["accuracy_drop"] = drop
            row["ce"] = ce.get((model, corruption))
            rows.append(row)
    return rows


def severity_ranks(curves: pd.DataFrame) -> list[dict[str, Any]]:
    """Per severity (0 = clean) and model: the mean over corruptions of accuracy and its rank among the models
    (1 = best; ties share the mean rank); ``as_clean`` says whether the whole ranking is the clean one."""
    if curves.empty:
        return []
    chosen = curves[(curves["corruption"] == MEAN) & (curves["metric"] == "accuracy")]
    rows, clean_ranks = [], None
    for severity in sorted(chosen["severity"].unique()):
        cell = chosen[chosen["severity"] == severity]
        ranks = rankdata(-cell["mean"].to_numpy(dtype=np.float64), method="average")
        ranking = dict(zip(cell["model"], ranks.tolist(), strict=True))
        clean_ranks = ranking if clean_ranks is None else clean_ranks
        for model, accuracy in zip(cell["model"], cell["mean"], strict=True):
            rows.append(
                {
                    "severity": int(severity),
                    "model": model,
                    "accuracy": float(accuracy),
                    "rank": ranking[model],
                    "as_clean": ranking == clean_ranks,
                }
            )
    return rows


def timing_rows(records: Sequence[RunRecord]) -> list[dict[str, Any]]:
    """Per model: the corruption evaluation's cost per run (mean, min, max over runs), images and device."""
    rows = []
    for model in dict.fromkeys(group_label(record) for record in records):
        blocks = [
            record.robustness for record in records if group_label(record) == model and record.robustness
        ]
        row: dict[str, Any] = {"model": model, "runs": len(blocks), "images": blocks[0].images}
        row["copies"] = len(blocks[0].corruptions) * len(blocks[0].severities)
        row["device"] = ", ".join(dict.fromkeys(str(block.device) for block in blocks))
        for key in TIMING_KEYS:
            values = [getattr(block, key) for block in blocks]
            summary = describe([np.nan if value is None else value for value in values], n_boot=1)
            row[key], row[f"{key}_min"], row[f"{key}_max"] = summary["mean"], summary["min"], summary["max"]
        rows.append(row)
    return rows


@dataclass
class RobustnessAnalysis:
    """What the stored predictions say beyond the clean test score: corruption curves (None when no run
    evaluated corruptions), the ensembles of stored probabilities, and selective prediction."""

    corruption: CorruptionAnalysis | None = None
    ensembles: list[dict[str, Any]] = field(default_factory=list)
    ensemble_method: str = ENSEMBLE_METHOD
    selective: SelectiveAnalysis | None = None


def analyse_robustness(
    records: Sequence[RunRecord], directory: Path | None, positive: str | None = None
) -> RobustnessAnalysis:
    """Corruption curves, ensembles and selective prediction of the ok ``records`` from the stored
    predictions in ``directory`` (each run's file read once; empty without a folder)."""
    units = seed_units(records, read_frames(records, directory))
    return RobustnessAnalysis(
        corruption=corruption_analysis(records, units),
        ensembles=ensemble_rows(units),
        selective=selective_analysis(units, positive),
    )
