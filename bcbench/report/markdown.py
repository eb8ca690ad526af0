"""report.md: a list of sections, each rendering part of a ``SweepAnalysis`` (figures linked relative to the
report)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bcbench.analysis import BRIER_DEFINITION, ECE_DEFINITION, PER_RUN_INTERVAL, SweepAnalysis
from bcbench.record import RunRecord, flatten, metric_named
from bcbench.report.clinical import clinical_markdown
from bcbench.report.crossval import crossval_markdown
from bcbench.report.delong import delong_markdown
from bcbench.report.deploy import deploy_markdown
from bcbench.report.explain import explain_markdown
from bcbench.report.external import external_markdown
from bcbench.report.format import clean_rows, fmt, markdown_table
from bcbench.report.robustness import ROBUSTNESS_FIGURES, robustness_markdown
from bcbench.report.stored import stored_markdown
from bcbench.report.study import study_reference_markdown
from bcbench.report.tables import pairwise_grid, seeds_description, split_description, summary_grid
from bcbench.report.timing import timing_markdown

FIGURE_TITLES = {
    "confusion": "Confusion matrices (summed over seeds, row-normalised)",
    "curves": "Training curves",
    "pareto": "Macro F1 against cost",
    "roc_pr": "ROC and precision-recall curves of the positive class",
    "reliability": "Reliability diagrams before and after temperature scaling",
}
CLINICAL_FIGURES = ("roc_pr", "reliability")
SHOWN_IN_SECTIONS = (*CLINICAL_FIGURES, *ROBUSTNESS_FIGURES, "explain_figure")  # not repeated under "Figures"


@dataclass
class ReportContext:
    """What every section of report.md reads: the analysis, the figures written, notes on the records."""

    analysis: SweepAnalysis
    figures: dict[str, Path] = field(default_factory=dict)
    notes: Sequence[str] = ()


Section = Callable[[ReportContext], list[str]]


def render_markdown(
    analysis: SweepAnalysis, figure_paths: dict[str, Path] | None = None, notes: Sequence[str] = ()
) -> str:
    """The whole report.md text (figures are linked relative to the report's folder)."""
    context = ReportContext(analysis, dict(figure_paths or {}), notes)
    lines: list[str] = []
    for section in SECTIONS:
        lines += section(context)
    return "\n".join(lines)


def _header(context: ReportContext) -> list[str]:
    analysis = context.analysis
    sweep = next((r.sweep for r in analysis.records if r.sweep), "unnamed")
    out = [f"# bcbench report: {sweep}", ""]
    runs = f"{len(analysis.ok)} ok, {len(analysis.failed)} failed"
    out += [
        f"- runs: {runs}; models: {', '.join(analysis.groups)}",
        f"- data: {analysis.data_source or 'unknown'}",
        f"- seeds: {seeds_description(analysis.groups)}",
        f"- split: {split_description(analysis.ok)}",
    ]
    out += [f"- note: {note}" for note in context.notes]
    return [*out, ""]


def _summary(context: ReportContext) -> list[str]:
    grid = summary_grid(context.analysis)
    out = ["## Summary", "", grid.markdown(), "", grid.caption, ""]
    reference = study_reference_markdown(context.analysis.study, context.analysis.study_deviations)
    if reference:
        out += ["### Reported by the study (one seed) vs this sweep", "", reference, ""]
    return out


def _pairwise(context: ReportContext) -> list[str]:
    out = ["## Pairwise comparisons", ""]
    pairwise = context.analysis.pairwise
    if pairwise.empty:
        return [*out, "One model only: nothing to compare.", ""]
    if "method" in pairwise.columns:
        out += [f"Test: {'; '.join(dict.fromkeys(pairwise['method'].dropna()))}.", ""]
    caption = ""
    for metric in dict.fromkeys(pairwise["metric"]):
        grid = pairwise_grid(clean_rows(pairwise[pairwise["metric"] == metric].to_dict("records")), metric)
        out += [f"### {metric_named(metric).label}", "", grid.markdown(), ""]
        caption = grid.caption
    clinical = context.analysis.clinical
    delong = delong_markdown(clinical.delong, clinical.delong_over_folds, clinical.settings.get("positive"))
    return [*out, caption, "", *delong]


def _crossval(context: ReportContext) -> list[str]:
    return crossval_markdown(context.analysis.crossval)


def _external(context: ReportContext) -> list[str]:
    return external_markdown(context.analysis.external)


def _stored(context: ReportContext) -> list[str]:
    return stored_markdown(context.analysis.stored)


def _clinical(context: ReportContext) -> list[str]:
    clinical = context.analysis.clinical
    if not clinical.units:
        return []
    out = clinical_markdown(clinical)
    for name in ("roc_pr", "reliability"):
        if name in context.figures:
            out += [f"![{FIGURE_TITLES[name]}]({Path(context.figures[name]).name})", ""]
    return out


def _explain(context: ReportContext) -> list[str]:
    figure = context.figures.get("explain_figure")
    return explain_markdown(context.analysis.explain, Path(figure).name if figure else None)


def _robustness(context: ReportContext) -> list[str]:
    return robustness_markdown(context.analysis.robustness, context.figures)


def _uncertainty(context: ReportContext) -> list[str]:
    definitions = [f"- {ECE_DEFINITION}", f"- {BRIER_DEFINITION}"]
    return ["## How the intervals were made", "", *context.analysis.methods, *definitions, ""]


def _per_run(context: ReportContext) -> list[str]:
    return ["## Per run", "", PER_RUN_INTERVAL, "", _per_run_table(context.analysis.per_run), ""]


def _failed(context: ReportContext) -> list[str]:
    failed = context.analysis.failed
    if not failed:
        return []
    rows = [[r.model, r.seed, r.run_id, r.error or "(no error recorded)"] for r in failed]
    return ["## Failed runs", "", markdown_table(["model", "seed", "run_id", "error"], rows), ""]


def _timing(context: ReportContext) -> list[str]:
    return timing_markdown(context.analysis)


def _deploy(context: ReportContext) -> list[str]:
    return deploy_markdown(context.analysis.deploy, context.analysis.stored)


def _audit(context: ReportContext) -> list[str]:
    return data_audit_markdown(context.analysis.ok)


def _figures(context: ReportContext) -> list[str]:
    if not context.figures:
        return []
    out = ["## Figures", ""]
    for name, path in context.figures.items():
        if name not in SHOWN_IN_SECTIONS:  # those are shown in their own sections
            out += [f"![{FIGURE_TITLES.get(name, name)}]({Path(path).name})", ""]
    return out


def _files(context: ReportContext) -> list[str]:
    return ["## Files", "", FILES_MARKDOWN, ""]


def _config(context: ReportContext) -> list[str]:
    import yaml

    ok = context.analysis.ok
    out = ["## Resolved config", "", "From the first successful run."]
    differing = _differing_config_keys(ok)
    if differing:
        out.append("Differs between runs: " + ", ".join(f"`{k}`" for k in differing) + ".")
    config = yaml.safe_dump(ok[0].config or {}, sort_keys=False).rstrip()
    return [*out, "", "```yaml", config, "```", ""]


def _environment(context: ReportContext) -> list[str]:
    return ["## Environment", "", _environment_table(context.analysis.ok), ""]


SECTIONS: tuple[Section, ...] = (
    _header,
    _summary,
    _uncertainty,
    _pairwise,
    _crossval,
    _clinical,
    _external,
    _explain,
    _robustness,
    _per_run,
    _timing,
    _deploy,
    _failed,
    _audit,
    _stored,
    _figures,
    _files,
    _config,
    _environment,
)


def data_audit_markdown(records: Sequence[RunRecord]) -> list[str]:
    """The data audit of the first run (skipped files, duplicates, label conflicts, leakage)."""
    audit = next((r.data.audit for r in records if r.data is not None and r.data.audit), None)
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
`std` (ddof=1), `median`, `min`, `max`, `ci_t_low`/`ci_t_high` (Student t interval of the mean: over \
seeds, or over folds with the Nadeau-Bengio correction; clipped to the metric's range; empty below 3 \
values or when all are equal), `ci_boot_low`/`ci_boot_high` (percentile resampling interval of the mean, \
from 10 seeds on, never over folds), `ci_note` (why an interval is empty), `interval` (how the t \
interval was made). Metrics: accuracy, \
balanced_accuracy, f1_macro, f1_weighted, auroc_macro, ece, `recall_<class>`, params, flops \
(2 FLOPs per multiply-add), infer_throughput (img/s), latency_p50_ms, train_throughput (img/s), \
train_seconds, peak_memory_mb, epochs_run (unmeasured metrics are left out).
- `runs.csv`: one row per run (newest record of each run_id, failed included), record fields \
flattened with dotted names (`test.accuracy`, `cost.latency_ms.p50`, ...).
- `pairwise.csv`: one row per (metric, model pair), differences A - B paired by seed: `n_pairs`, \
`mean_diff`, `diff_ci_low`/`diff_ci_high`, `t_p`, `wilcoxon_p`, their Holm-corrected `_holm` \
versions, `effect_size` (d_z), `prob_improvement` (P(A>B)), `note` (why a test was not run).
- `predictions/<run_id>.csv`: each run's per-image predictions (val, test, external sets): `set`, \
`index`, `path`, `split`, `repeat`, `fold`, `label`, `label_index`, `prob_<class>` and the \
temperature-scaled `cal_prob_<class>`.
- `pooled_oof.csv` (cross-validation): per model, seed and repeat, the metrics of the pooled \
out-of-fold test predictions (`n_images`, `complete`).
- `external.csv` (external test sets): per set and model, mean and std over runs of accuracy, \
balanced accuracy, macro F1 and macro AUROC over the classes present.
- `operating_points.csv`: per run (cross-validation: per seed and repeat, pooled over folds), the \
positive class's threshold (chosen on validation), tp/fp/tn/fn, sensitivity, specificity, PPV, NPV \
with Wilson intervals (`_low`/`_high`), sensitivity at 90% and 95% specificity, or a `note`.
- `calibration.csv`: per run, the fitted temperature, validation NLL before/after, test NLL, Brier \
scores (`brier_multiclass`; `brier_positive`, the positive class's binary one) and top-label ECE \
before/after temperature scaling.
- `delong.csv`: DeLong's test for every model pair, class (one vs rest) and run (cross-validation: \
fold): AUROCs, difference with CI, z, p and Holm-corrected p, or a `note`; `delong_over_folds.csv` \
(cross-validation): the per-fold differences combined by the corrected resampled t.
- `roc_pr.png`, `reliability.png`: ROC / precision-recall curves of the positive class (mean over runs, \
band min-max) and reliability diagrams before and after temperature scaling.
- `explain/<run_id>.csv` (runs with `explain` on): per test image its class, target, `has_lesion`, \
`lesion_fraction` and `<map>.<score>` for each method, its randomised copy (`<method>_randomised`) and the \
`centre` and `random` references; `explain/<run_id>_maps.npz`: the maps of the lesion images (small, \
float16) and the figure's images, masks and maps. `explain.csv`: every number of the explanation \
section, its `part` naming the table; `explain.png`: the figure.
- `corruption.csv`, `corruption_severities.csv`, `corruption_runs.csv`, `corruption_curves.png` \
(`robustness.corruptions`): per corruption and model the accuracy per severity, drop, pixel change and CE; \
every point of every curve (mean, sd, min, max, t interval over seeds); the scores per seed.
- `ensembles.csv`: every ensemble of stored probabilities with its scores, intervals, mean and best single \
member and the paired differences; `selective.csv`, `selective_seeds.csv`, `risk_coverage.png`: AURC, \
E-AURC, accuracy and sensitivity at 80% and 90% coverage per model (with intervals) and per seed."""


def _per_run_table(rows: Sequence[dict[str, Any]]) -> str:
    def with_interval(row: dict[str, Any], score: str) -> str:
        interval = row[f"{score}_interval"]
        value = fmt(row[score])
        return value if interval is None else f"{value} [{fmt(interval[0])}, {fmt(interval[1])}]"

    folds = any(row["fold"] is not None for row in rows)
    table = []
    for row in rows:
        where = [row["seed"], f"{row['repeat']}/{row['fold']}"] if folds else [row["seed"]]
        scores = [with_interval(row, score) for score in ("accuracy", "f1_macro", "auroc_macro")]
        table.append(
            [
                row["model"],
                *where,
                *scores,
                row["best_epoch"],
                row["epochs_run"],
                fmt(row["train_seconds"], 1),
            ]
        )
    headers = ["model", "seed", *(["repeat/fold"] if folds else []), "accuracy [95% CI]", "macro F1 [95% CI]"]
    headers.append("macro AUROC [95% CI]")
    return markdown_table([*headers, "best epoch", "epochs run", "train s"], table)


def _differing_config_keys(records: list[RunRecord]) -> list[str]:
    flats = [{key: repr(value) for key, value in flatten(r.config or {}).items()} for r in records]
    keys = list(dict.fromkeys(k for flat in flats for k in flat))
    return [k for k in keys if len({flat.get(k) for flat in flats}) > 1]


def _environment_table(records: list[RunRecord]) -> str:
    envs = [r.env.to_json() if r.env is not None else {} for r in records]
    keys = list(dict.fromkeys(k for env in envs for k, v in env.items() if v is not None))
    rows = []
    for key in keys:
        values = list(dict.fromkeys(str(env.get(key)) for env in envs))
        rows.append([key, ", ".join(values)])
    return markdown_table(["key", "value(s)"], rows) if rows else "No environment recorded."
