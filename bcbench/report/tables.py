"""The summary and pairwise tables, as ``TableModel``s that render to Rich or markdown.

Columns come from the metrics table (``bcbench.record.METRICS``): every ``headline`` metric that any
model has measured, cost first, then scores (mean ± std [interval] over seeds), the recall of the
minority class, and the epochs run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.table import Table

from bcbench.analysis import CONFIDENCE, SweepAnalysis
from bcbench.record import (
    METRICS,
    Metric,
    RunRecord,
    is_cross_validation,
    metric_named,
    minority_class,
    recall_metric,
)
from bcbench.report.format import TableModel, best_flags, fmt, fmt_p, fmt_sig, fmt_stat, missing

SummaryLookup = Callable[[str, str], dict[str, Any]]


def split_description(records: Sequence[RunRecord]) -> str:
    """How the data were split: cross-validation folds, a manifest file or a split seed, with sizes and
    the split's hash (8 chars)."""
    if is_cross_validation(records):
        return _folds_description(records)
    descriptions: list[str] = []
    for record in records:
        data_config = (record.config or {}).get("data") or {}
        manifest = data_config.get("manifest")
        how = (
            f"{Path(str(manifest)).name}"
            if manifest
            else f"stratified split, split_seed={data_config.get('split_seed')}"
        )
        data = record.data
        counts = (data.n_train, data.n_val, data.n_test) if data else (None, None, None)
        sizes = "n_train/n_val/n_test = {}/{}/{}".format(*counts)
        digest = str((data.split_sha256 if data else None) or "")[:8] or "unknown"
        text = f"{how}, {sizes}, split {digest}"
        if text not in descriptions:
            descriptions.append(text)
    if not descriptions:
        return "split unknown"
    return descriptions[0] if len(descriptions) == 1 else "several splits: " + "; ".join(descriptions)


def _folds_description(records: Sequence[RunRecord]) -> str:
    config = records[0].config or {}
    evaluation, data = config.get("evaluation") or {}, config.get("data") or {}
    summary = records[0].data
    grouped = " group-aware" if summary is not None and summary.grouped else ""
    images = sum((summary.n_train or 0, summary.n_val or 0, summary.n_test or 0)) if summary else "?"
    return (
        f"{evaluation.get('folds')}-fold stratified{grouped} cross-validation x {evaluation.get('repeats')} "
        f"repeat(s), split_seed={data.get('split_seed')}, {images} images (val from the training folds)"
    )


def seeds_description(groups: dict[str, list[RunRecord]]) -> str:
    """Runs per model: seeds, or seeds x folds x repeats in cross-validation."""
    shapes = sorted({_design(runs) for runs in groups.values()})
    if not shapes:
        return "no seeds"
    if len(shapes) == 1:
        return f"{shapes[0]} per model"
    return f"{shapes[0]} to {shapes[-1]} per model"


def _design(runs: list[RunRecord]) -> str:
    seeds = len({r.seed for r in runs})
    text = f"{seeds} seed{'s' if seeds != 1 else ''}"
    folds = {r.fold for r in runs if r.fold is not None}
    if folds:
        repeats = len({r.repeat for r in runs})
        text += f" x {len(folds)} folds x {repeats} repeat{'s' if repeats != 1 else ''}"
    return text


def summary_columns(ok: Sequence[RunRecord], measured: Callable[[str], bool]) -> list[Metric]:
    """The headline metrics shown, in order: measured costs, scores, minority recall, info."""
    costs = [m for m in METRICS if m.headline and m.kind == "cost" and measured(m.name)]
    scores = [m for m in METRICS if m.headline and m.kind == "score"]
    minority = minority_class(ok)
    if minority is not None:
        scores.append(recall_metric(minority))
    info = [m for m in METRICS if m.headline and m.kind == "info"]
    return [*costs, *scores, *info]


VARYING_COSTS = ("latency_p50_ms", "infer_throughput", "train_throughput", "train_seconds", "peak_memory_mb")


def _cell(metric: Metric, summary: dict[str, Any], interval: bool = True) -> str:
    """A score: mean ± std [interval] (``interval`` off: mean ± std, or why there is no interval); a
    timing: median (min-max) over runs, so a noisy run shows; a fixed cost (params, FLOPs): its value."""
    if metric.kind == "score":
        return fmt_stat(summary) if interval else fmt_stat(summary).split(" [")[0]
    if missing(summary.get("median")):
        return "-"
    median, low, high = (summary[key] / metric.scale for key in ("median", "min", "max"))
    number = fmt_sig if metric.digits is None else (lambda value: fmt(value, metric.digits))
    if metric.name not in VARYING_COSTS or number(low) == number(high):
        return number(median)
    return f"{number(median)} ({number(low)}-{number(high)})"


def _centre(metric: Metric, summary: dict[str, Any]) -> float | None:
    """What "best in its column" compares: the mean of a score, the median of a cost."""
    value = summary.get("mean" if metric.kind == "score" else "median")
    return None if missing(value) else value


@dataclass
class SummaryColumn:
    """One metric's column of the summary: header, a cell per model, which cells are best."""

    metric: Metric
    header: str
    cells: list[str]
    best: list[bool]


def summary_columns_of(analysis: SweepAnalysis, interval: bool = True) -> list[SummaryColumn]:
    """The summary's metric columns (see ``summary_columns``), one cell per model of ``analysis.groups``."""
    stats = {(row["model"], row["metric"]): row for row in analysis.summary.to_dict("records")}
    labels = list(analysis.groups)

    def measured(name: str) -> bool:
        return any(not missing(stats.get((label, name), {}).get("mean")) for label in labels)

    minority = minority_class(analysis.ok)
    columns = []
    for metric in summary_columns(analysis.ok, measured):
        summaries = [stats.get((label, metric.name), {}) for label in labels]
        header = f"{metric.label}*" if minority and metric.name == f"recall_{minority}" else metric.label
        if metric.kind == "cost" and metric.name in VARYING_COSTS:
            header += " (median, min-max)"
        cells = [_cell(metric, summary, interval) for summary in summaries]
        best = best_flags([_centre(metric, summary) for summary in summaries], metric.better)
        columns.append(SummaryColumn(metric, header, cells, best))
    return columns


def summary_caption(analysis: SweepAnalysis) -> str:
    groups, ok = analysis.groups, analysis.ok
    spread = "over folds (mean over seeds per fold)" if analysis.cross_validation else "over seeds"
    caption = (
        f"{seeds_description(groups)}; split: {split_description(ok)}. Scores: mean ± std {spread} "
        f"[{CONFIDENCE:.0%} interval of the mean: {analysis.interval_method}]; timings: median (min-max) "
        "over runs; best per column in bold green."
    )
    minority = minority_class(ok)
    if minority is not None:
        caption += (
            f" *{minority} is the minority class (the fewest images): its recall is the first to suffer when "
            "a model leans on the majority."
        )
    return caption


def summary_grid(analysis: SweepAnalysis) -> TableModel:
    """One row per model: cost and test scores over seeds (or folds), from the analysis's summary."""
    groups = analysis.groups
    columns = summary_columns_of(analysis)
    rows = [
        [label, str(len(runs)), *(c.cells[i] for c in columns)]
        for i, (label, runs) in enumerate(groups.items())
    ]
    best = [[False, False, *(c.best[i] for c in columns)] for i in range(len(groups))]
    headers = ["model", "runs", *(c.header for c in columns)]
    title = f"Test metrics per model ({seeds_description(groups)})"
    return TableModel(title, headers, rows, best, summary_caption(analysis))


def summary_table(analysis: SweepAnalysis) -> Table:
    """Rich table, one row per model (successful runs): cost and test scores over seeds."""
    return summary_grid(analysis).rich()


PAIRWISE_HEADERS = (
    "A",
    "B",
    "pairs",
    f"mean diff A-B [{CONFIDENCE:.0%} CI]",
    "t-test p (Holm)",
    "Wilcoxon p (Holm)",
    "d_z",
    "P(A>B)",
    "note",
)


def _pairwise_cells(row: dict[str, Any]) -> list[str]:
    diff = fmt(row.get("mean_diff"))
    if not missing(row.get("mean_diff")):
        diff = f"{row['mean_diff']:+.3f}"
        if not missing(row.get("diff_ci_low")):
            diff += f" [{row['diff_ci_low']:+.3f}, {row['diff_ci_high']:+.3f}]"

    def p_cell(key: str) -> str:
        return "n/a" if missing(row.get(key)) else f"{fmt_p(row[key])} ({fmt_p(row.get(f'{key}_holm'))})"

    effect = "n/a" if missing(row.get("effect_size")) else f"{row['effect_size']:+.2f}"
    prob = "n/a" if missing(row.get("prob_improvement")) else f"{row['prob_improvement']:.2f}"
    pairs = str(row.get("n_pairs", ""))
    note = str(row.get("note") or "")
    return [
        str(row["model_a"]),
        str(row["model_b"]),
        pairs,
        diff,
        p_cell("t_p"),
        p_cell("wilcoxon_p"),
        effect,
        prob,
        note,
    ]


def pairwise_grid(rows: Sequence[dict[str, Any]], metric: str) -> TableModel:
    out = [_pairwise_cells(row) for row in rows]
    over_folds = any("Nadeau-Bengio" in str(row.get("method") or "") for row in rows)
    if over_folds:
        caption = (
            "Paired over folds (seeds averaged per fold): mean difference with the Nadeau-Bengio corrected "
            "95% interval and corrected resampled t-test; p two-sided, Holm-corrected across the pairs of "
            "this metric in parentheses (Wilcoxon, d_z and P(A>B) need independent pairs: not computed)."
        )
    else:
        caption = (
            "Paired over shared seeds; p-values two-sided, Holm-corrected across the pairs of this metric "
            "in parentheses; d_z = mean diff / sd of diffs; P(A>B) over all seed pairs (ties 1/2)."
        )
    flags = [[False] * len(PAIRWISE_HEADERS) for _ in out]
    title = f"Pairwise comparison: {metric_named(metric).label}"
    return TableModel(title, list(PAIRWISE_HEADERS), out, flags, caption)
