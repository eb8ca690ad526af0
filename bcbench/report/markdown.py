"""report.md: a list of sections, each a function of the records (figures linked relative to the report)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from bcbench.record import RunRecord, group_records, metric_named, metric_value, newest_per_run
from bcbench.report.format import clean_rows, fmt, markdown_table, missing
from bcbench.report.frames import pairwise_frame
from bcbench.report.study import study_reference_markdown
from bcbench.report.tables import pairwise_grid, seeds_description, split_description, summary_grid

FIGURE_TITLES = {
    "confusion": "Confusion matrices (summed over seeds, row-normalised)",
    "curves": "Training curves",
    "pareto": "Macro F1 against cost",
}


@dataclass
class ReportContext:
    """What every section of report.md reads."""

    records: list[RunRecord]  # newest record of each run, failed included
    ok: list[RunRecord]
    failed: list[RunRecord]
    groups: dict[str, list[RunRecord]]
    pairwise: pd.DataFrame
    figures: dict[str, Path] = field(default_factory=dict)
    notes: Sequence[str] = ()


Section = Callable[[ReportContext], list[str]]


def render_markdown(
    records: Iterable[RunRecord | dict[str, Any]],
    pairwise: pd.DataFrame | None = None,
    figure_paths: dict[str, Path] | None = None,
    notes: Sequence[str] = (),
) -> str:
    """The whole report.md text (figures are linked relative to the report's folder)."""
    newest = newest_per_run(records)
    ok = [r for r in newest if r.ok]
    context = ReportContext(
        records=newest,
        ok=ok,
        failed=[r for r in newest if not r.ok],
        groups=group_records(ok),
        pairwise=pairwise_frame(ok) if pairwise is None else pairwise,
        figures=dict(figure_paths or {}),
        notes=notes,
    )
    lines: list[str] = []
    for section in SECTIONS:
        lines += section(context)
    return "\n".join(lines)


def _header(context: ReportContext) -> list[str]:
    sweep = next((r.sweep for r in context.records if r.sweep), "unnamed")
    out = [f"# bcbench report: {sweep}", ""]
    out.append(
        f"- runs: {len(context.ok)} ok, {len(context.failed)} failed; models: {', '.join(context.groups)}\n"
        f"- seeds: {seeds_description(context.groups)}\n- split: {split_description(context.ok)}"
    )
    out += [f"- note: {note}" for note in context.notes]
    return [*out, ""]


def _summary(context: ReportContext) -> list[str]:
    grid = summary_grid(context.ok)
    out = ["## Summary", "", grid.markdown(), "", grid.caption, ""]
    reference = study_reference_markdown(context.ok)
    if reference:
        out += ["### Reported by the study (one seed) vs this sweep", "", reference, ""]
    return out


def _pairwise(context: ReportContext) -> list[str]:
    out = ["## Pairwise comparisons", ""]
    pairwise = context.pairwise
    if pairwise.empty:
        return [*out, "One model only: nothing to compare.", ""]
    caption = ""
    for metric in dict.fromkeys(pairwise["metric"]):
        grid = pairwise_grid(clean_rows(pairwise[pairwise["metric"] == metric].to_dict("records")), metric)
        out += [f"### {metric_named(metric).label}", "", grid.markdown(), ""]
        caption = grid.caption
    return [*out, caption, ""]


def _per_run(context: ReportContext) -> list[str]:
    intro = (
        "Brackets: percentile bootstrap 95% CI over the test images of that run "
        "(test-set uncertainty of a single seed), when the run stored one."
    )
    return ["## Per run", "", intro, "", _per_run_table(context.ok), ""]


def _failed(context: ReportContext) -> list[str]:
    if not context.failed:
        return []
    rows = [[r.model, r.seed, r.run_id, r.error or "(no error recorded)"] for r in context.failed]
    return ["## Failed runs", "", markdown_table(["model", "seed", "run_id", "error"], rows), ""]


def _audit(context: ReportContext) -> list[str]:
    return data_audit_markdown(context.ok)


def _figures(context: ReportContext) -> list[str]:
    if not context.figures:
        return []
    out = ["## Figures", ""]
    for name, path in context.figures.items():
        out += [f"![{FIGURE_TITLES.get(name, name)}]({Path(path).name})", ""]
    return out


def _files(context: ReportContext) -> list[str]:
    return ["## Files", "", FILES_MARKDOWN, ""]


def _config(context: ReportContext) -> list[str]:
    import yaml

    out = ["## Resolved config", "", "From the first successful run."]
    differing = _differing_config_keys(context.ok)
    if differing:
        out.append("Differs between runs: " + ", ".join(f"`{k}`" for k in differing) + ".")
    config = yaml.safe_dump(context.ok[0].config or {}, sort_keys=False).rstrip()
    return [*out, "", "```yaml", config, "```", ""]


def _environment(context: ReportContext) -> list[str]:
    return ["## Environment", "", _environment_table(context.ok), ""]


SECTIONS: tuple[Section, ...] = (
    _header,
    _summary,
    _pairwise,
    _per_run,
    _failed,
    _audit,
    _figures,
    _files,
    _config,
    _environment,
)


def data_audit_markdown(records: Sequence[RunRecord | dict[str, Any]]) -> list[str]:
    """The data audit of the first run (skipped files, duplicates, label conflicts, leakage)."""
    typed = newest_per_run(records)
    audit = next((r.data.audit for r in typed if r.data is not None and r.data.audit), None)
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


def _per_run_table(ok: list[RunRecord]) -> str:
    def with_ci(record: RunRecord, metric: str) -> str:
        value = fmt(metric_value(record, metric))
        interval = (record.test.bootstrap if record.test else {}).get(metric)
        if interval and len(interval) == 2 and not any(missing(v) for v in interval):
            value += f" [{fmt(interval[0])}, {fmt(interval[1])}]"
        return value

    rows = []
    for label, runs in group_records(ok).items():
        for r in sorted(runs, key=lambda r: (str(type(r.seed)), r.seed)):
            train_s = fmt(metric_value(r, "train_seconds"), 1)
            rows.append(
                [
                    label,
                    r.seed,
                    with_ci(r, "accuracy"),
                    with_ci(r, "f1_macro"),
                    r.best_epoch,
                    r.epochs_run,
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


def _differing_config_keys(records: list[RunRecord]) -> list[str]:
    flats = [_flat(r.config or {}) for r in records]
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
