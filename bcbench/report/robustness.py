"""Corruption curves, ensembles and selective prediction in report.md: tables of what
``bcbench.analysis.robustness`` computed, nothing computed here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from bcbench.analysis import CorruptionAnalysis, RobustnessAnalysis, SelectiveAnalysis
from bcbench.report.format import fmt, markdown_table

ROBUSTNESS_FIGURES = {
    "corruption_curves": "Scores against corruption severity (line: mean over seeds, band: min-max)",
    "risk_coverage": "Risk-coverage curves (temperature-scaled top-class confidence)",
}
ENSEMBLE_LABELS = {
    "accuracy": "accuracy",
    "balanced_accuracy": "balanced accuracy",
    "f1_macro": "macro F1",
    "auroc_macro": "macro AUROC",
}
KIND_LABELS = {
    "seeds": "seed ensemble",
    "models": "all models",
    "folds": "fold ensemble",
    "runs": "all runs of the model",
}


def robustness_markdown(analysis: RobustnessAnalysis | None, figures: dict[str, Any]) -> list[str]:
    """The three sections (each left out when there is nothing to show); ``figures``: name -> path."""
    if analysis is None:
        return []
    out = corruption_markdown(analysis.corruption)
    if analysis.corruption is not None and "corruption_curves" in figures:
        out += [f"![{ROBUSTNESS_FIGURES['corruption_curves']}]({figures['corruption_curves'].name})", ""]
    out += ensembles_markdown(analysis.ensembles, analysis.ensemble_method)
    out += selective_markdown(analysis.selective)
    if analysis.selective is not None and "risk_coverage" in figures:
        out += [f"![{ROBUSTNESS_FIGURES['risk_coverage']}]({figures['risk_coverage'].name})", ""]
    return out


def _mean_sd(mean: float | None, sd: float | None) -> str:
    return fmt(mean) + (f" ± {fmt(sd)}" if sd is not None and sd == sd else "")


def _distances(values: Sequence[float] | None) -> str:
    return " / ".join(f"{value:.1f}" for value in values) if values else "-"


def corruption_markdown(corruption: CorruptionAnalysis | None) -> list[str]:
    if corruption is None:
        return []
    severities = corruption.severities
    timing = corruption.timing[0] if corruption.timing else {}
    intro = (
        f"Each run's best-validation model predicted its {timing.get('images', '?')} test images under "
        f"{len(corruption.corruptions)} corruptions x severities {', '.join(map(str, severities))} "
        f"(blur lengths: `{corruption.lengths}`); scores of the raw softmax probabilities; mean ± sd over "
        f"{corruption.units}. Severity 0 is the clean test set. Pixel change: the mean |corrupted - clean| "
        "per severity in grey levels (0-255): a corruption that hardly changes the pixels cannot lower a "
        f"score. CE: sum over severities of the errors (1 - accuracy) / the same sum of "
        f"{corruption.reference or '(no reference)'} (ImageNet-C's corruption error; below 1: fewer errors "
        "than the reference)."
    )
    headers = ["corruption", "model", "pixel change", "clean", *(f"sev {s}" for s in severities)]
    headers += ["mean corrupted", "drop", "balanced acc.", "macro AUROC", "CE"]
    rows = []
    for row in corruption.table:
        cells = [row["corruption"], row["model"], _distances(row.get("distance"))]
        cells += [_mean_sd(row.get(f"accuracy_{s}"), row.get(f"accuracy_{s}_std")) for s in [0, *severities]]
        cells += [fmt(row["accuracy_corrupted"]), fmt(row["accuracy_drop"])]
        cells += [
            fmt(row["balanced_accuracy_corrupted"]),
            fmt(row["auroc_macro_corrupted"]),
            fmt(row["ce"], 2),
        ]
        rows.append(cells)
    note = (
        "Row `mean`: the mean over corruptions, per seed. Mean corrupted, balanced accuracy, macro AUROC: "
        "the mean over the corrupted severities; drop: clean - mean corrupted accuracy."
    )
    out = ["## Corruption curves", "", intro, "", "### Accuracy per corruption", ""]
    out += [markdown_table(headers, rows), "", note, ""]
    out += _mce_lines(corruption) + _rank_lines(corruption) + _timing_lines(corruption)
    return out


def _mce_lines(corruption: CorruptionAnalysis) -> list[str]:
    rows = [[row["model"], row["corruptions"], fmt(row["mce"], 3)] for row in corruption.errors]
    return [
        f"mCE (relative to {corruption.reference}):",
        "",
        markdown_table(["model", "corruptions", "mCE"], rows),
        "",
    ]


def _rank_lines(corruption: CorruptionAnalysis) -> list[str]:
    models = list(dict.fromkeys(row["model"] for row in corruption.ranks))
    severities = list(dict.fromkeys(row["severity"] for row in corruption.ranks))
    by_key = {(row["severity"], row["model"]): row for row in corruption.ranks}
    rows = []
    for severity in severities:
        cells = [
            f"{by_key[(severity, m)]['rank']:g} ({fmt(by_key[(severity, m)]['accuracy'])})" for m in models
        ]
        same = by_key[(severity, models[0])]["as_clean"]
        rows.append(["clean" if severity == 0 else severity, *cells, "yes" if same else "**no**"])
    intro = (
        "Rank of each model (1 = best) by the mean over corruptions of accuracy (in brackets), per severity:"
    )
    return [
        "### Ranking under corruption",
        "",
        intro,
        "",
        markdown_table(["severity", *models, "as clean"], rows),
        "",
    ]


def _timing_lines(corruption: CorruptionAnalysis) -> list[str]:
    rows = []
    for row in corruption.timing:
        span = f"{fmt(row['seconds'], 1)} ({fmt(row['seconds_min'], 1)}-{fmt(row['seconds_max'], 1)})"
        rows.append(
            [row["model"], row["runs"], f"{row['images']} x {row['copies']}", row["device"], span]
            + [fmt(row[key], 1) for key in ("corrupt_seconds", "predict_seconds", "cpu_seconds")]
        )
    headers = ["model", "runs", "images x copies", "device", "seconds per run (min-max)", "corrupting s"]
    headers += ["predicting s", "CPU s"]
    intro = (
        "Cost of the corruption evaluation per run (wall seconds, mean over runs; CPU s: process CPU time):"
    )
    return ["### Cost", "", intro, "", markdown_table(headers, rows), ""]


def ensembles_markdown(rows: Sequence[dict[str, Any]], method: str) -> list[str]:
    if not rows:
        return []
    out = [
        "## Ensembles of stored predictions",
        "",
        f"No retraining: {method}. Single runs beside each ensemble: ",
    ]
    out[-1] += (
        "their mean and the best of them (picked on the same test images: an optimistic bar); Δ: ensemble - "
        "single, with the paired interval. External sets: no intervals, as for single runs."
    )
    out.append("")
    for metric, label in ENSEMBLE_LABELS.items():
        table = [_ensemble_cells(row, metric) for row in rows if row.get(metric) is not None]
        if table:
            headers = ["ensemble", "set", "model", "members", label, "mean single", "best single"]
            headers += ["Δ vs mean", "Δ vs best"]
            out += [f"### {label}", "", markdown_table(headers, table), ""]
    return out


def _with_interval(row: dict[str, Any], key: str, signed: bool = False) -> str:
    value, low, high = row.get(key), row.get(f"{key}_low"), row.get(f"{key}_high")
    text = (f"{value:+.3f}" if value is not None else "-") if signed else fmt(value)
    if low is None or high is None:
        return text
    return f"{text} [{low:+.3f}, {high:+.3f}]" if signed else f"{text} [{fmt(low)}, {fmt(high)}]"


def _ensemble_cells(row: dict[str, Any], metric: str) -> list[Any]:
    where = row["model"] + (f", repeat {row['repeat']}" if row.get("repeat") is not None else "")
    where += f", seed {row['seed']}" if row.get("seed") is not None else ""
    return [
        KIND_LABELS.get(row["kind"], row["kind"]),
        row["set"],
        where,
        row["members"],
        _with_interval(row, metric),
        fmt(row[f"{metric}_single_mean"]),
        fmt(row[f"{metric}_single_best"]),
        _with_interval(row, f"{metric}_vs_mean", signed=True),
        _with_interval(row, f"{metric}_vs_best", signed=True),
    ]


def selective_markdown(selective: SelectiveAnalysis | None) -> list[str]:
    if selective is None:
        return []
    positive = selective.positive or "(no positive class)"
    intro = (
        "Each model may defer the test images it is least sure of (confidence: the top-class "
        "probability after the run's temperature scaling). AURC: the mean error rate among the kept "
        "images over all coverages (lower is better); E-AURC: AURC minus that of a perfect ranking at the "
        f"same accuracy. At 80% and 90% coverage: accuracy among the kept images and the sensitivity for "
        f"{positive} among them. Mean over "
        f"seeds ± sd over seeds; {selective.method}."
    )
    headers = ["model", "seeds", "images", "AURC", "E-AURC", "accuracy @80%", f"sens. {positive} @80%"]
    headers += ["accuracy @90%", f"sens. {positive} @90%"]
    keys = ("aurc", "eaurc", "accuracy_at_80", "sensitivity_at_80", "accuracy_at_90", "sensitivity_at_90")
    rows = [
        [row["model"], row["seeds"], row["n"], *(_selective_cell(row, key) for key in keys)]
        for row in selective.rows
    ]
    return ["## Selective prediction", "", intro, "", markdown_table(headers, rows), ""]


def _selective_cell(row: dict[str, Any], key: str) -> str:
    text = _mean_sd(row.get(key), row.get(f"{key}_std"))
    low, high = row.get(f"{key}_low"), row.get(f"{key}_high")
    return text if low is None else f"{text} [{fmt(low)}, {fmt(high)}]"


def robustness_tables(analysis: RobustnessAnalysis | None) -> dict[str, pd.DataFrame | None]:
    """The CSVs: corruption scores per seed, the curves, the per-corruption table, ensembles, selective."""
    if analysis is None:
        return {}
    corruption, selective = analysis.corruption, analysis.selective
    table = None
    if corruption is not None and corruption.table:
        table = pd.DataFrame(corruption.table)
        table["distance"] = table["distance"].map(_distances)
    return {
        "corruption_runs": pd.DataFrame(corruption.runs) if corruption is not None else None,
        "corruption_severities": corruption.curves if corruption is not None else None,
        "corruption": table,
        "ensembles": pd.DataFrame(analysis.ensembles) if analysis.ensembles else None,
        "selective": pd.DataFrame(selective.rows) if selective is not None else None,
        "selective_seeds": pd.DataFrame(selective.per_seed) if selective is not None else None,
    }
