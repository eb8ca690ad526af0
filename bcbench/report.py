"""Tables, CSV files and a markdown report built from stored run records (never from training).

Everything here reads run records (see ``bcbench.results``) and works the same on a sweep that
has just finished and on one read back from ``results/<sweep>/runs.jsonl`` months later.

Groups: runs are grouped by model, plus the values of the swept axes when a record has any
(``"resnet18 lr=0.001"``). Only the newest record of each ``run_id`` counts, and only
``status == "ok"`` records enter statistics; failed runs are listed with their error.

Files written by :func:`write_report` into the sweep folder:

``summary.csv``
    Tidy: one row per (model, metric). Columns: ``model`` (the group label), ``metric``, ``n``
    (seeds with a value), ``mean``, ``std`` (ddof=1), ``median``, ``min``, ``max``,
    ``ci_t_low``/``ci_t_high`` (Student-t 95% interval of the mean over seeds),
    ``ci_boot_low``/``ci_boot_high`` (percentile bootstrap 95% interval of the mean over seeds).
    Metrics: accuracy, balanced_accuracy, f1_macro, f1_weighted, auroc_macro, ece,
    ``recall_<class>`` for each class, params, flops (FLOPs = 2 per multiply-add), infer_throughput
    (images/s), latency_p50_ms, train_throughput (images/s), train_seconds, peak_memory_mb,
    epochs_run. A metric nobody measured is left out; std and intervals are empty with one seed.
``runs.csv``
    One row per run (newest record of each run_id, failed ones included): the record flattened
    with dotted column names (``test.accuracy``, ``efficiency.latency_ms.p50``, ...).
``pairwise.csv``
    One row per (metric, model pair) of seed-paired comparisons A - B: ``model_a``, ``model_b``,
    ``metric``, ``n_pairs``, ``mean_a``, ``mean_b``, ``mean_diff``, ``diff_ci_low``/``high`` (t),
    ``diff_ci_boot_low``/``high``, ``t_stat``, ``t_p``, ``wilcoxon_stat``, ``wilcoxon_p``,
    ``effect_size`` (Cohen's d_z), ``prob_improvement`` (P(A > B)), ``note`` (why a test is
    missing), ``t_p_holm``/``wilcoxon_p_holm`` (Holm-corrected across the pairs of one metric).
``report.md`` and the figures ``confusion.png``, ``curves.png``, ``pareto.png``.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from bcbench.errors import BcbenchError
from bcbench.results import RUNS_FILE, load_records, records_frame, write_text_atomic
from bcbench.stats import DESCRIBE_KEYS, describe, pairwise_comparisons, summarise_runs

CONFIDENCE = 0.95
SCORE_METRICS = ("accuracy", "balanced_accuracy", "f1_macro", "f1_weighted", "auroc_macro", "ece")
COST_METRICS = (
    "params",
    "flops",
    "infer_throughput",
    "latency_p50_ms",
    "train_throughput",
    "train_seconds",
    "peak_memory_mb",
)
METRIC_LABELS = {
    "accuracy": "accuracy",
    "balanced_accuracy": "balanced accuracy",
    "f1_macro": "macro F1",
    "f1_weighted": "weighted F1",
    "auroc_macro": "macro AUROC",
    "ece": "ECE",
}
PAIRWISE_METRICS = ("accuracy", "f1_macro", "balanced_accuracy")
SUMMARY_COLUMNS = ("model", "metric", *DESCRIBE_KEYS)
FIGURE_TITLES = {
    "confusion": "Confusion matrices (summed over seeds, row-normalised)",
    "curves": "Training curves",
    "pareto": "Macro F1 against cost",
}

# The reference study's single-seed test results on BUSI with its published split.
STUDY_REFERENCE: dict[str, dict[str, float]] = {
    "simple_cnn": {"accuracy": 0.68, "f1_weighted": 0.68, "f1_macro": 0.61},
    "study_mobilenet": {"accuracy": 0.66, "f1_weighted": 0.62, "f1_macro": 0.53},
    "resnet101": {"accuracy": 0.87, "f1_weighted": 0.87, "f1_macro": 0.85},
}
STUDY_MANIFEST_SUFFIX = "paper_split.csv"


class ReportError(BcbenchError):
    """Nothing to report: missing folder, missing runs.jsonl, or no successful run."""


# ---------------------------------------------------------------------------------------------
# Records -> groups -> per-run metric values


def ok_records(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The newest record of each run_id, successful ones only, in first-seen order."""
    return [r for r in _latest(records) if r.get("status") == "ok"]


def _latest(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    latest: dict[Any, dict[str, Any]] = {}  # a retried run keeps its first position, newest record wins
    for index, record in enumerate(records):
        latest[record.get("run_id", f"#{index}")] = record
    return list(latest.values())


def group_label(record: dict[str, Any]) -> str:
    """The model name, plus ``key=value`` for each swept axis (last part of the dotted key)."""
    axes = record.get("axes") or {}
    parts = [str(record.get("model"))]
    parts += [f"{str(key).rsplit('.', 1)[-1]}={value}" for key, value in axes.items()]
    return " ".join(parts)


def group_records(records: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Successful records by group label, groups in first-seen order."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for record in ok_records(records):
        groups.setdefault(group_label(record), []).append(record)
    return groups


def class_names(records: Iterable[dict[str, Any]]) -> list[str]:
    """Class names in the order of the records' ``data.classes`` (union, first seen first)."""
    names: list[str] = []
    for record in records:
        candidates = (record.get("data") or {}).get("classes") or list(
            ((record.get("test") or {}).get("per_class") or {}).keys()
        )
        names += [c for c in candidates if c not in names]
    return names


def minority_class(records: Sequence[dict[str, Any]]) -> str | None:
    """The class with the smallest total support: data.class_counts over all splits when stored,
    else the test-set support summed over runs."""
    names = class_names(records)
    if not names:
        return None
    totals = dict.fromkeys(names, 0.0)
    from_counts = False
    for record in records:
        classes = (record.get("data") or {}).get("classes") or []
        counts = (record.get("data") or {}).get("class_counts") or {}
        if classes and counts:
            from_counts = True
            for split_counts in counts.values():
                for name, count in zip(classes, split_counts or [], strict=False):
                    totals[name] += count or 0
    if not from_counts:
        for record in records:
            for name, entry in ((record.get("test") or {}).get("per_class") or {}).items():
                totals[name] = totals.get(name, 0.0) + ((entry or {}).get("support") or 0)
    return min(names, key=lambda name: totals[name])


def _number(value: Any) -> float:
    if value is None or isinstance(value, bool):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def metric_value(record: dict[str, Any], metric: str) -> float:
    """One metric of one run as a float (NaN when not measured)."""
    test = record.get("test") or {}
    efficiency = record.get("efficiency") or {}
    if metric == "epochs_run":
        return _number(record.get("epochs_run"))
    if metric == "latency_p50_ms":
        return _number((efficiency.get("latency_ms") or {}).get("p50"))
    if metric.startswith("recall_") and metric not in test:
        entry = (test.get("per_class") or {}).get(metric[len("recall_") :]) or {}
        return _number(entry.get("recall"))
    if metric in COST_METRICS:
        return _number(efficiency.get(metric))
    return _number(test.get(metric))


def summary_metrics(records: Sequence[dict[str, Any]]) -> list[str]:
    """The metrics of summary.csv for these records (per-class recall for each class)."""
    recalls = [f"recall_{name}" for name in class_names(records)]
    return [*SCORE_METRICS, *recalls, *COST_METRICS, "epochs_run"]


def runs_metrics_frame(
    records: Iterable[dict[str, Any]], metrics: Sequence[str] | None = None
) -> pd.DataFrame:
    """One row per successful run: model (group label), seed and one column per metric."""
    ok = ok_records(records)
    metrics = list(metrics or summary_metrics(ok))
    rows = [
        {"model": group_label(r), "seed": r.get("seed"), **{m: metric_value(r, m) for m in metrics}}
        for r in ok
    ]
    return pd.DataFrame(rows, columns=["model", "seed", *metrics])


# ---------------------------------------------------------------------------------------------
# Frames


def summary_frame(records: Iterable[dict[str, Any]], confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Tidy summary: one row per (model, metric) with the columns of ``stats.describe``."""
    frame = runs_metrics_frame(records)
    metrics = [c for c in frame.columns if c not in ("model", "seed")]
    if frame.empty:
        return pd.DataFrame(columns=list(SUMMARY_COLUMNS))
    return summarise_runs(frame, metrics, group="model", confidence=confidence)


def seed_scores(records: Iterable[dict[str, Any]], metric: str) -> dict[str, dict[Any, float | None]]:
    """{group label: {seed: value}} for the paired tests (None where the value is missing)."""
    scores: dict[str, dict[Any, float | None]] = {}
    for label, runs in group_records(records).items():
        values = {r.get("seed"): metric_value(r, metric) for r in runs}
        scores[label] = {seed: (None if math.isnan(v) else v) for seed, v in values.items()}
    return scores


def pairwise_frame(
    records: Iterable[dict[str, Any]],
    metrics: Sequence[str] = PAIRWISE_METRICS,
    confidence: float = CONFIDENCE,
) -> pd.DataFrame:
    """Seed-paired comparisons of every model pair, for each metric (Holm within a metric)."""
    records = list(records)
    rows = []
    for metric in metrics:
        rows += pairwise_comparisons(seed_scores(records, metric), metric, confidence=confidence)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Formatting shared by the Rich and markdown tables


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}"


def _fmt_sig(value: float | None) -> str:
    """Three significant figures without scientific notation for ordinary magnitudes."""
    if value is None or math.isnan(value):
        return "-"
    if value == 0 or abs(value) >= 100:
        return f"{value:.0f}"
    digits = max(0, 2 - int(math.floor(math.log10(abs(value)))))
    return f"{value:.{digits}f}"


def _fmt_stat(summary: dict[str, Any], digits: int = 3) -> str:
    """``mean ± std [ci_t_low, ci_t_high]``; just the mean with one seed; '-' with none."""
    if not summary or not summary.get("n") or _missing(summary.get("mean")):
        return "-"
    text = _fmt(summary["mean"], digits)
    if not _missing(summary.get("std")):
        text += f" ± {_fmt(summary['std'], digits)}"
        text += f" [{_fmt(summary['ci_t_low'], digits)}, {_fmt(summary['ci_t_high'], digits)}]"
    return text


def _fmt_p(p: float | None) -> str:
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


@dataclass
class _Grid:
    """A table as plain strings: headers, rows, which cells are best in their column, a caption."""

    title: str
    headers: list[str]
    rows: list[list[str]]
    best: list[list[bool]]
    caption: str = ""

    def rich(self) -> Table:
        """Rich table; an interval goes on its own line so the table fits a terminal."""
        table = Table(title=self.title, caption=self.caption or None, caption_justify="left")
        for index, header in enumerate(self.headers):
            numeric = _numeric_column([row[index] for row in self.rows])
            table.add_column(header, justify="right" if numeric else "left", no_wrap=index == 0)
        for row, best in zip(self.rows, self.best, strict=True):
            table.add_row(
                *(
                    Text(cell.replace(" [", "\n["), style="bold green" if b else "")
                    for cell, b in zip(row, best, strict=True)
                )
            )
        return table

    def markdown(self) -> str:
        rows = [
            [f"**{c}**" if b and c != "-" else c for c, b in zip(row, best, strict=True)]
            for row, best in zip(self.rows, self.best, strict=True)
        ]
        return markdown_table(self.headers, rows)


_NUMERIC_CELL = re.compile(r"^(\*\*)?[<+-]?\d")


def _numeric_column(cells: Sequence[str]) -> bool:
    """True when every filled cell starts like a number (such columns are right-aligned)."""
    values = [c for c in cells if c not in ("", "-", "n/a")]
    if not values:
        return any(c in ("-", "n/a") for c in cells)
    return all(_NUMERIC_CELL.match(c) for c in values)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured markdown table; pipes and newlines inside cells are escaped; columns
    whose cells are all numbers (or '-', 'n/a') are right-aligned."""

    def cell(value: Any) -> str:
        return " ".join(str(value).split()).replace("|", "\\|") if value is not None else "-"

    text_rows = [[cell(v) for v in row] for row in rows]
    numeric = [_numeric_column([row[i] for row in text_rows]) for i in range(len(headers))]
    lines = ["| " + " | ".join(cell(h) for h in headers) + " |"]
    lines.append("|" + "|".join("---:" if right else "---" for right in numeric) + "|")
    lines += ["| " + " | ".join(row) + " |" for row in text_rows]
    return "\n".join(lines)


def _best_flags(means: list[float | None], better: str | None) -> list[bool]:
    values = [m for m in means if not _missing(m)]
    if better is None or len(values) < 2 or len(set(values)) < 2:
        return [False] * len(means)
    target = max(values) if better == "high" else min(values)
    return [not _missing(m) and math.isclose(m, target, rel_tol=1e-12, abs_tol=1e-15) for m in means]


# ---------------------------------------------------------------------------------------------
# Split / caption


def split_description(records: Sequence[dict[str, Any]]) -> str:
    """How the data were split: manifest file or split seed, sizes, split hash (8 chars)."""
    descriptions: list[str] = []
    for record in records:
        data_config = (record.get("config") or {}).get("data") or {}
        data = record.get("data") or {}
        manifest = data_config.get("manifest")
        how = (
            f"{Path(str(manifest)).name}"
            if manifest
            else f"stratified split, split_seed={data_config.get('split_seed')}"
        )
        sizes = f"n_train/n_val/n_test = {data.get('n_train')}/{data.get('n_val')}/{data.get('n_test')}"
        digest = str(data.get("split_sha256") or "")[:8] or "unknown"
        text = f"{how}, {sizes}, split {digest}"
        if text not in descriptions:
            descriptions.append(text)
    if not descriptions:
        return "split unknown"
    return descriptions[0] if len(descriptions) == 1 else "several splits: " + "; ".join(descriptions)


def seeds_description(groups: dict[str, list[dict[str, Any]]]) -> str:
    counts = sorted({len(runs) for runs in groups.values()})
    if not counts:
        return "no seeds"
    if len(counts) == 1:
        return f"{counts[0]} seed{'s' if counts[0] != 1 else ''} per model"
    return f"{counts[0]}-{counts[-1]} seeds per model"


# ---------------------------------------------------------------------------------------------
# Summary table


def _summary_grid(records: Iterable[dict[str, Any]], confidence: float = CONFIDENCE) -> _Grid:
    records = list(records)
    ok = ok_records(records)
    groups = group_records(ok)
    frame = summary_frame(ok, confidence)
    stats: dict[tuple[str, str], dict[str, Any]] = {
        (row["model"], row["metric"]): row for row in frame.to_dict("records")
    }
    minority = minority_class(ok)
    level = f"{confidence:.0%}"

    def summary(label: str, metric: str) -> dict[str, Any]:
        return stats.get((label, metric), {})

    def mean(label: str, metric: str, scale: float = 1.0) -> float | None:
        value = summary(label, metric).get("mean")
        return None if _missing(value) else value / scale

    def measured(metric: str) -> bool:
        return any(mean(label, metric) is not None for label in groups)

    # (header, metric, better, formatter)
    columns: list[tuple[str, str | None, str | None, Any]] = [("seeds", None, None, None)]
    if measured("params"):
        columns.append(("params (M)", "params", "low", lambda g: _fmt(mean(g, "params", 1e6), 2)))
    if measured("flops"):
        columns.append(("GFLOPs", "flops", "low", lambda g: _fmt_sig(mean(g, "flops", 1e9))))
    if measured("infer_throughput"):
        columns.append(("img/s", "infer_throughput", "high", lambda g: _fmt(mean(g, "infer_throughput"), 0)))
    if measured("latency_p50_ms"):
        columns.append(
            ("latency p50 ms", "latency_p50_ms", "low", lambda g: _fmt_sig(mean(g, "latency_p50_ms")))
        )
    scores = [("accuracy", "accuracy"), ("macro F1", "f1_macro"), ("weighted F1", "f1_weighted")]
    if minority is not None:
        scores.append((f"recall {minority}", f"recall_{minority}"))
    for header, metric in scores:
        columns.append((header, metric, "high", lambda g, m=metric: _fmt_stat(summary(g, m))))
    columns.append(("epochs run", "epochs_run", None, lambda g: _fmt(mean(g, "epochs_run"), 1)))

    labels = list(groups)
    rows = [[label] for label in labels]
    best = [[False] for _ in labels]
    for _header, metric, better, formatter in columns:
        if metric is None:
            cells = [str(len(groups[label])) for label in labels]
            flags = [False] * len(labels)
        else:
            cells = [formatter(label) for label in labels]
            flags = _best_flags([mean(label, metric) for label in labels], better)
        for row, flag_row, cell, flag in zip(rows, best, cells, flags, strict=True):
            row.append(cell)
            flag_row.append(flag)
    caption = (
        f"{seeds_description(groups)}; split: {split_description(ok)}. Scores: mean ± std over seeds "
        f"[{level} t-interval of the mean]; best per column in bold green."
    )
    headers = ["model", *(c[0] for c in columns)]
    return _Grid(f"Test metrics per model ({seeds_description(groups)})", headers, rows, best, caption)


def summary_table(records: list[dict[str, Any]]) -> Table:
    """Rich table, one row per model (successful runs): cost and test scores over seeds."""
    return _summary_grid(records).rich()


# ---------------------------------------------------------------------------------------------
# Pairwise table


def _pairwise_grid(rows: Sequence[dict[str, Any]], metric: str) -> _Grid:
    label = METRIC_LABELS.get(metric, metric)
    headers = [
        "A",
        "B",
        "pairs",
        f"mean diff A-B [{CONFIDENCE:.0%} CI]",
        "t-test p (Holm)",
        "Wilcoxon p (Holm)",
        "d_z",
        "P(A>B)",
        "note",
    ]
    out = []
    for row in rows:
        diff = _fmt(row.get("mean_diff"))
        if diff != "-" and not _missing(row.get("mean_diff")):
            diff = f"{row['mean_diff']:+.3f}"
            if not _missing(row.get("diff_ci_low")):
                diff += f" [{row['diff_ci_low']:+.3f}, {row['diff_ci_high']:+.3f}]"
        t_cell = (
            "n/a" if _missing(row.get("t_p")) else f"{_fmt_p(row['t_p'])} ({_fmt_p(row.get('t_p_holm'))})"
        )
        w_cell = (
            "n/a"
            if _missing(row.get("wilcoxon_p"))
            else f"{_fmt_p(row['wilcoxon_p'])} ({_fmt_p(row.get('wilcoxon_p_holm'))})"
        )
        effect = "n/a" if _missing(row.get("effect_size")) else f"{row['effect_size']:+.2f}"
        prob = "n/a" if _missing(row.get("prob_improvement")) else f"{row['prob_improvement']:.2f}"
        out.append(
            [
                str(row["model_a"]),
                str(row["model_b"]),
                str(row.get("n_pairs", "")),
                diff,
                t_cell,
                w_cell,
                effect,
                prob,
                str(row.get("note") or ""),
            ]
        )
    caption = (
        "Paired over shared seeds; p-values two-sided, Holm-corrected across the pairs of this metric "
        "in parentheses; d_z = mean diff / sd of diffs; P(A>B) over all seed pairs (ties 1/2)."
    )
    return _Grid(
        f"Pairwise comparison: {label}", headers, out, [[False] * len(headers) for _ in out], caption
    )


def pairwise_table(records: list[dict[str, Any]], metric: str = "f1_macro") -> Table:
    """Rich table, one row per model pair: paired difference, tests, effect size, note."""
    rows = pairwise_comparisons(seed_scores(records, metric), metric, confidence=CONFIDENCE)
    return _pairwise_grid(rows, metric).rich()


# ---------------------------------------------------------------------------------------------
# Reference study


def study_reference_rows(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The study's single-seed results next to this sweep's seed distribution.

    Only when the records use the study's published split (``config.data.manifest`` ending in
    ``paper_split.csv``); one row per (group of a study model, metric): model, metric, reported,
    n, mean, ci_low, ci_high (t interval), min, max.
    """
    ok = ok_records(records)
    if not any(
        str(((r.get("config") or {}).get("data") or {}).get("manifest") or "").endswith(STUDY_MANIFEST_SUFFIX)
        for r in ok
    ):
        return []
    rows = []
    for label, runs in group_records(ok).items():
        reference = STUDY_REFERENCE.get(str(runs[0].get("model")))
        if reference is None:
            continue
        for metric, reported in reference.items():
            summary = describe([metric_value(r, metric) for r in runs], confidence=CONFIDENCE)
            rows.append(
                {
                    "model": label,
                    "metric": metric,
                    "reported": reported,
                    "n": summary["n"],
                    "mean": summary["mean"],
                    "ci_low": summary["ci_t_low"],
                    "ci_high": summary["ci_t_high"],
                    "min": summary["min"],
                    "max": summary["max"],
                }
            )
    return rows


def study_reference_markdown(records: Iterable[dict[str, Any]]) -> str:
    rows = study_reference_rows(records)
    if not rows:
        return ""
    table = []
    for row in rows:
        sweep = _fmt(row["mean"])
        if not _missing(row["ci_low"]):
            sweep += f" [{_fmt(row['ci_low'])}, {_fmt(row['ci_high'])}]"
        table.append(
            [
                row["model"],
                METRIC_LABELS.get(row["metric"], row["metric"]),
                f"{row['reported']:.2f}",
                sweep,
                f"{_fmt(row['min'])} - {_fmt(row['max'])}",
                row["n"],
            ]
        )
    headers = [
        "model",
        "metric",
        "reported by the study (one seed)",
        f"this sweep mean [{CONFIDENCE:.0%} CI]",
        "this sweep min - max",
        "seeds",
    ]
    return (
        "The reference study trained each model once (one seed) on the same published split. "
        "A single seed is one draw from the distribution below.\n\n" + markdown_table(headers, table)
    )


# ---------------------------------------------------------------------------------------------
# Loading and writing


def load_sweep(directory: str | Path, console: Console | None = None) -> list[dict[str, Any]]:
    """The newest record of each run of ``directory/runs.jsonl`` (failed included).

    Raises ReportError when the folder or file is missing or no run succeeded; unreadable (torn)
    lines are a warning (printed on ``console``, else ``warnings.warn``).
    """
    return _load_sweep(Path(directory), console)[0]


def _load_sweep(directory: Path, console: Console | None) -> tuple[list[dict[str, Any]], list[int]]:
    if not directory.is_dir():
        raise ReportError(f"{directory}: no such folder")
    path = directory / RUNS_FILE
    if not path.is_file():
        raise ReportError(f"{path}: not found (is {directory} a sweep folder?)")
    loaded = load_records(path)
    if loaded.bad_lines:
        _warn(f"ignored unreadable lines {loaded.bad_lines} in {path}", console)
    records = list(loaded.latest_by_run_id().values())
    if not ok_records(records):
        failed = [r for r in records if r.get("status") != "ok"]
        detail = f"; first error: {failed[0].get('error')}" if failed else ""
        raise ReportError(f"{path}: no successful runs ({len(failed)} failed{detail})")
    return records, loaded.bad_lines


def _warn(message: str, console: Console | None) -> None:
    if console is not None:
        console.print(f"[yellow]warning:[/] {escape(message)}")
    else:
        warnings.warn(message, RuntimeWarning, stacklevel=3)


def write_report(
    directory: str | Path, records: list[dict[str, Any]] | None = None, console: Console | None = None
) -> dict[str, Path]:
    """Write summary.csv, runs.csv, pairwise.csv, report.md and the figures into ``directory``.

    ``records`` default to those of ``directory/runs.jsonl``. With a ``console`` the summary and
    pairwise tables are printed on it. Returns {name: path} of the files written.
    """
    from bcbench import figures

    directory = Path(directory)
    notes: list[str] = []
    if records is None:
        records, bad_lines = _load_sweep(directory, console)
        if bad_lines:
            notes.append(f"ignored unreadable (torn) lines {bad_lines} of {RUNS_FILE}")
    records = _latest(records)
    ok = ok_records(records)
    if not ok:
        raise ReportError(f"{directory}: no successful runs to report")

    written: dict[str, Path] = {}
    summary = summary_frame(ok)
    pairwise = pairwise_frame(ok)
    for name, frame in (("summary", summary), ("runs", records_frame(records)), ("pairwise", pairwise)):
        written[name] = directory / f"{name}.csv"
        write_text_atomic(written[name], frame.to_csv(index=False))

    figure_paths = {
        "confusion": figures.confusion_figure(ok, directory / "confusion.png"),
        "curves": figures.curves_figure(ok, directory / "curves.png"),
        "pareto": figures.pareto_figure(ok, directory / "pareto.png"),
    }
    written.update({name: path for name, path in figure_paths.items() if path is not None})

    written["report"] = directory / "report.md"
    markdown = render_markdown(records, pairwise, {k: v for k, v in figure_paths.items() if v}, notes)
    write_text_atomic(written["report"], markdown)

    if console is not None:
        console.print(summary_table(ok))
        if not pairwise.empty and "f1_macro" in set(pairwise["metric"]):
            rows = _clean(pairwise[pairwise["metric"] == "f1_macro"].to_dict("records"))
            console.print(_pairwise_grid(rows, "f1_macro").rich())
        failed = [r for r in records if r.get("status") != "ok"]
        if failed:
            console.print(f"[red]{len(failed)} failed run(s)[/]; see {escape(str(written['report']))}")
        console.print("wrote " + ", ".join(escape(str(p)) for p in written.values()))
    return written


def _clean(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """pandas turns None into NaN; give the formatters None back."""
    return [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()} for row in rows
    ]


def render_markdown(
    records: list[dict[str, Any]],
    pairwise: pd.DataFrame | None = None,
    figure_paths: dict[str, Path] | None = None,
    notes: Sequence[str] = (),
) -> str:
    """The whole report.md text (figures are linked relative to the report's folder)."""
    import yaml

    records = _latest(records)
    ok = ok_records(records)
    failed = [r for r in records if r.get("status") != "ok"]
    groups = group_records(ok)
    pairwise = pairwise_frame(ok) if pairwise is None else pairwise
    sweep = next((r.get("sweep") for r in records if r.get("sweep")), "unnamed")
    grid = _summary_grid(ok)

    out = [f"# bcbench report: {sweep}", ""]
    out.append(
        f"- runs: {len(ok)} ok, {len(failed)} failed; models: {', '.join(groups)}\n"
        f"- seeds: {seeds_description(groups)}\n- split: {split_description(ok)}"
    )
    out += [f"- note: {note}" for note in notes]
    out += ["", "## Summary", "", grid.markdown(), "", grid.caption, ""]

    reference = study_reference_markdown(ok)
    if reference:
        out += ["### Reported by the study (one seed) vs this sweep", "", reference, ""]

    out += ["## Pairwise comparisons", ""]
    if pairwise.empty:
        out += ["One model only: nothing to compare.", ""]
    else:
        for metric in dict.fromkeys(pairwise["metric"]):
            pair_grid = _pairwise_grid(
                _clean(pairwise[pairwise["metric"] == metric].to_dict("records")), metric
            )
            out += [f"### {METRIC_LABELS.get(metric, metric)}", "", pair_grid.markdown(), ""]
        out += [pair_grid.caption, ""]

    out += [
        "## Per run",
        "",
        "Brackets: percentile bootstrap 95% CI over the test images of that run "
        "(test-set uncertainty of a single seed), when the run stored one.",
        "",
    ]
    out += [_per_run_table(ok), ""]

    if failed:
        out += ["## Failed runs", ""]
        rows = [
            [r.get("model"), r.get("seed"), r.get("run_id"), r.get("error") or "(no error recorded)"]
            for r in failed
        ]
        out += [markdown_table(["model", "seed", "run_id", "error"], rows), ""]

    out += data_audit_markdown(ok)

    if figure_paths:
        out += ["## Figures", ""]
        for name, path in figure_paths.items():
            out += [f"![{FIGURE_TITLES.get(name, name)}]({Path(path).name})", ""]

    out += ["## Files", "", FILES_MARKDOWN, ""]

    first = ok[0]
    differing = _differing_config_keys(ok)
    out += ["## Resolved config", "", "From the first successful run."]
    if differing:
        out.append("Differs between runs: " + ", ".join(f"`{k}`" for k in differing) + ".")
    out += ["", "```yaml", yaml.safe_dump(first.get("config") or {}, sort_keys=False).rstrip(), "```", ""]

    out += ["## Environment", "", _environment_table(ok), ""]
    return "\n".join(out)


def data_audit_markdown(records: Sequence[dict[str, Any]]) -> list[str]:
    """The data audit of the first run (skipped files, duplicates, label conflicts, leakage)."""
    audit = next(
        ((r.get("data") or {}).get("audit") for r in records if (r.get("data") or {}).get("audit")), None
    )
    if not audit:
        return []
    out = [
        "## Data audit",
        "",
        f"- images found: {audit.get('n_found', '?')}, used: {audit.get('n_images', '?')}",
    ]
    listings = (
        ("skipped (unreadable)", [f"`{s['path']}`: {s['reason']}" for s in audit.get("skipped", [])]),
        ("identical files filed under different classes", _groups(audit.get("label_conflicts", []))),
        ("identical files in different splits (leakage)", _groups(audit.get("cross_split_duplicates", []))),
        ("identical files (all groups)", _groups(audit.get("duplicate_groups", []))),
        ("removed by data.dedupe", [f"`{p}`" for p in audit.get("removed_duplicates", [])]),
    )
    for title, items in listings:
        out.append(f"- {title}: {len(items)}")
        out += [f"  - {item}" for item in items[:20]]
        if len(items) > 20:
            out.append(f"  - ... and {len(items) - 20} more (see runs.jsonl)")
    return [*out, ""]


def _groups(groups: Sequence[Sequence[str]]) -> list[str]:
    return [" = ".join(f"`{path}`" for path in group) for group in groups]


FILES_MARKDOWN = """\
- `summary.csv`: one row per (model, metric): `model`, `metric`, `n` (seeds with a value), `mean`, \
`std` (ddof=1), `median`, `min`, `max`, `ci_t_low`/`ci_t_high` (t-interval of the mean over seeds), \
`ci_boot_low`/`ci_boot_high` (bootstrap interval of the mean over seeds). Metrics: accuracy, \
balanced_accuracy, f1_macro, f1_weighted, auroc_macro, ece, `recall_<class>`, params, flops \
(2 FLOPs per multiply-add), infer_throughput (img/s), latency_p50_ms, train_throughput (img/s), \
train_seconds, peak_memory_mb, epochs_run (unmeasured metrics are left out).
- `runs.csv`: one row per run (newest record of each run_id, failed included), record fields \
flattened with dotted names (`test.accuracy`, `efficiency.latency_ms.p50`, ...).
- `pairwise.csv`: one row per (metric, model pair), differences A - B paired by seed: `n_pairs`, \
`mean_diff`, `diff_ci_low`/`diff_ci_high`, `t_p`, `wilcoxon_p`, their Holm-corrected `_holm` \
versions, `effect_size` (d_z), `prob_improvement` (P(A>B)), `note` (why a test was not run)."""


def _per_run_table(ok: list[dict[str, Any]]) -> str:
    def with_ci(record: dict[str, Any], metric: str) -> str:
        value = _fmt(metric_value(record, metric))
        interval = ((record.get("test") or {}).get("bootstrap") or {}).get(metric)
        if interval and len(interval) == 2 and not any(_missing(v) for v in interval):
            value += f" [{_fmt(interval[0])}, {_fmt(interval[1])}]"
        return value

    rows = []
    for label, runs in group_records(ok).items():
        for r in sorted(runs, key=lambda r: (str(type(r.get("seed"))), r.get("seed"))):
            train_s = _fmt(metric_value(r, "train_seconds"), 1)
            rows.append(
                [
                    label,
                    r.get("seed"),
                    with_ci(r, "accuracy"),
                    with_ci(r, "f1_macro"),
                    r.get("best_epoch"),
                    r.get("epochs_run"),
                    train_s,
                ]
            )
    headers = [
        "model",
        "seed",
        "accuracy [95% CI]",
        "macro F1 [95% CI]",
        "best epoch",
        "epochs run",
        "train s",
    ]
    return markdown_table(headers, rows)


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, child in value.items():
            out.update(_flat(child, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: repr(value)}


def _differing_config_keys(records: list[dict[str, Any]]) -> list[str]:
    flats = [_flat(r.get("config") or {}) for r in records]
    keys = list(dict.fromkeys(k for flat in flats for k in flat))
    return [k for k in keys if len({flat.get(k) for flat in flats}) > 1]


def _environment_table(records: list[dict[str, Any]]) -> str:
    keys = list(dict.fromkeys(k for r in records for k in (r.get("env") or {})))
    rows = []
    for key in keys:
        values = list(dict.fromkeys(str((r.get("env") or {}).get(key)) for r in records))
        rows.append([key, ", ".join(values)])
    return markdown_table(["key", "value(s)"], rows) if rows else "No environment recorded."


# ---------------------------------------------------------------------------------------------
# Several sweeps side by side


def _sweep_labels(directories: Sequence[Path]) -> list[str]:
    names = [d.name for d in directories]
    return names if len(set(names)) == len(names) else [str(d) for d in directories]


def compare_sweeps(
    directories: Sequence[str | Path], console: Console | None = None
) -> tuple[Table, pd.DataFrame]:
    """Each model's accuracy and macro F1 (mean ± std, n) in each sweep, side by side.

    The frame has one row per (model, sweep): model, sweep, directory, n, accuracy_mean,
    accuracy_std, f1_macro_mean, f1_macro_std (n = 0 and empty values where a sweep lacks a model).
    """
    paths = [Path(d) for d in directories]
    loaded = [ok_records(load_sweep(path, console)) for path in paths]
    labels = _sweep_labels(paths)
    summaries = [group_records(records) for records in loaded]
    models = list(dict.fromkeys(label for groups in summaries for label in groups))
    rows = []
    for model in models:
        for sweep, path, groups in zip(labels, paths, summaries, strict=True):
            row: dict[str, Any] = {"model": model, "sweep": sweep, "directory": str(path), "n": 0}
            runs = groups.get(model, [])
            for metric in ("accuracy", "f1_macro"):
                summary = describe([metric_value(r, metric) for r in runs], n_boot=1)
                row["n"] = max(row["n"], summary["n"])
                row[f"{metric}_mean"], row[f"{metric}_std"] = summary["mean"], summary["std"]
            rows.append(row)
    frame = pd.DataFrame(
        rows,
        columns=[
            "model",
            "sweep",
            "directory",
            "n",
            "accuracy_mean",
            "accuracy_std",
            "f1_macro_mean",
            "f1_macro_std",
        ],
    )
    table = Table(title="Sweeps side by side (mean ± std over seeds)")
    table.add_column("model")
    for sweep in labels:
        table.add_column(f"{sweep}\nn", justify="right")
        table.add_column(f"{sweep}\naccuracy", justify="right")
        table.add_column(f"{sweep}\nmacro F1", justify="right")
    for model in models:
        cells: list[str] = [model]
        for row in (r for r in rows if r["model"] == model):
            cells.append(str(row["n"]) if row["n"] else "-")
            for metric in ("accuracy", "f1_macro"):
                mean, std = row[f"{metric}_mean"], row[f"{metric}_std"]
                cells.append(_fmt(mean) + (f" ± {_fmt(std)}" if std is not None else ""))
        table.add_row(*(Text(c) for c in cells))
    return table, frame


def rebuild(
    directories: Sequence[str | Path], out: str | Path | None = None, console: Console | None = None
) -> dict[str, Path]:
    """What ``bench/compare.py`` does: one folder -> every table, file and figure again (into
    ``out`` when given); several -> the side-by-side table and ``comparison.csv`` (in ``out`` or
    the first folder). Raises ReportError (a BcbenchError) on a missing folder or file."""
    if not directories:
        raise ReportError("give at least one sweep folder")
    if len(directories) == 1:
        records = load_sweep(directories[0], console)
        return write_report(Path(out or directories[0]), records, console)
    table, frame = compare_sweeps(directories, console)
    if console is not None:
        console.print(table)
    path = Path(out or directories[0]) / "comparison.csv"
    write_text_atomic(path, frame.to_csv(index=False))
    if console is not None:
        console.print(f"wrote {escape(str(path))}")
    return {"comparison": path}
