"""The deployed forms in report.md (one table: model x form) and their CSVs (``deploy.csv``: that table;
``deploy_runs.csv``: one row per run and form)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from bcbench.analysis import DeployAnalysis, FormPoint
from bcbench.report.format import fmt, fmt_p, fmt_sig, fmt_stat, markdown_table, missing

HEADERS = (
    "model", "form", "runs", "accuracy", "macro F1", "Δ accuracy vs eager", "Δ macro F1 vs eager",
    "top-1 agreement (lowest)", "max abs logit diff", "p50 ms", "x eager", "MiB",
)  # fmt: skip
INTRO = (
    "After training, each run's best weights were deployed in every form of `deploy.forms` "
    "(`bcbench.deploy`) and each form predicted the test set, scored by the same code as the run itself. "
    "*eager* is the deploy step's fp32 PyTorch form: the reference of every agreement and logit difference, "
    "and timed by the same rules and threads as the other forms (the run's own test block and cost block "
    "may differ from it where training used mixed precision, channels-last or other threads). "
    "Scores: mean ± std [95% interval; {interval}]; Δ: paired difference form - eager over the same runs "
    "[95% interval, paired t p]. Agreement: share of test images whose top-1 class equals eager's, mean "
    "over runs (lowest run). p50: median over runs of the batch-1 p50 latency at {threads} thread(s); "
    "x eager: median over runs of eager's p50 / the form's p50 (> 1 is faster); MiB: the file that ships "
    "(ONNX file, or the state dict). INT8 was calibrated on training images only (the indices are in each "
    "record)."
)

FILES_LINE = (
    "Files: `deploy.csv` (this table with every number: intervals, p-values, p90, throughput, notes), "
    "`deploy_runs.csv` (one row per run and form: scores, agreement, logit difference, latency, speed-up, "
    "size, export/quantisation/compilation seconds), rows `form:<form>` in `predictions/<run_id>.csv`; the "
    "forms are marked on the Pareto figure when its cost is latency."
)


def deploy_markdown(deploy: DeployAnalysis | None, stored: dict[str, list[str]] | None = None) -> list[str]:
    """The section (nothing without deployed forms); ``stored``: the recompute check's differing keys."""
    if deploy is None:
        return []
    threads = ", ".join(sorted({str(row["threads"]) for row in deploy.table if not missing(row["threads"])}))
    out = ["## Deployed forms", "", INTRO.format(interval=deploy.interval, threads=threads or "?"), ""]
    out += [*(f"- note: {note}" for note in deploy.notes), ""] if deploy.notes else []
    if deploy.table:
        out += [markdown_table(HEADERS, [_row(row) for row in deploy.table]), ""]
    if deploy.failures:
        out += ["Failed forms (the run and its other forms are kept):", ""]
        out += [f"- {f['model']} · {f['form']} ({f['runs']} run(s)): {f['reason']}" for f in deploy.failures]
        out.append("")
    recomputed = _recompute_line(deploy, stored or {})
    out += [recomputed, ""] if recomputed else []
    return [*out, FILES_LINE, ""]


def _row(row: dict[str, Any]) -> list[str]:
    eager = row["form"] == "eager"
    return [
        row["model"], row["form"], _runs(row), fmt_stat(_summary(row, "accuracy")),
        fmt_stat(_summary(row, "f1_macro")), "-" if eager else _difference(row, "accuracy"),
        "-" if eager else _difference(row, "f1_macro"), _agreement(row),
        "-" if missing(row["max_abs_logit_diff"]) else f"{row['max_abs_logit_diff']:.1e}",
        fmt_sig(row["p50_ms"]), "-" if missing(row["speedup"]) else f"{row['speedup']:.2f}x",
        fmt_sig(row["file_mb"]),
    ]  # fmt: skip


def _runs(row: dict[str, Any]) -> str:
    return f"{row['runs']}" + (f" ({row['failed']} failed)" if row["failed"] else "")


def _summary(row: dict[str, Any], score: str) -> dict[str, Any]:
    keys = ("n", "mean", "std", "ci_t_low", "ci_t_high", "ci_note")
    return {key: row.get(f"{score}_{key}") for key in keys}


def _difference(row: dict[str, Any], score: str) -> str:
    mean = row.get(f"{score}_diff_mean_diff")
    if missing(mean):
        return "-"
    low, high = row.get(f"{score}_diff_diff_ci_low"), row.get(f"{score}_diff_diff_ci_high")
    text = f"{mean:+.3f}"
    if missing(low):
        return f"{text} ({row.get(f'{score}_diff_note') or 'no interval'})"
    return f"{text} [{low:+.3f}, {high:+.3f}], p {fmt_p(row.get(f'{score}_diff_t_p'))}"


def _agreement(row: dict[str, Any]) -> str:
    mean, low = row["top1_agreement_mean"], row["top1_agreement_min"]
    if missing(mean):
        return "-"
    return fmt(mean) if missing(low) or row["runs"] <= 1 else f"{fmt(mean)} ({fmt(low)})"


def _recompute_line(deploy: DeployAnalysis, stored: dict[str, list[str]]) -> str | None:
    scored = {row["run_id"] for row in deploy.runs if row["status"] == "ok"}
    checked = [run for run in scored if run in stored]
    if not checked:
        return None
    differing = {run: [k for k in stored[run] if k.startswith("deploy.")] for run in checked}
    differing = {run: keys for run, keys in differing.items() if keys}
    if not differing:
        return (
            f"Every deployed form's test scores of all {len(checked)} runs, recomputed from their stored "
            "rows `form:<form>` of `predictions/<run_id>.csv`, equal the recorded ones (to 1e-9 relative)."
        )
    listed = "; ".join(f"{run} ({', '.join(keys)})" for run, keys in differing.items())
    return f"Deployed forms whose recomputed test scores differ from their records: {listed}."


def deploy_tables(deploy: DeployAnalysis | None) -> dict[str, pd.DataFrame | None]:
    """``deploy.csv`` (model x form) and ``deploy_runs.csv`` (run x form); none without deployed forms."""
    if deploy is None:
        return {}
    return {"deploy": pd.DataFrame(deploy.table), "deploy_runs": pd.DataFrame(deploy.runs)}


FORM_MARKERS = {"eager": "x", "onnx": "s", "onnx_int8": "^", "onnx_cuda": "s", "compile": "P"}
FORM_MARKERS |= {"channels_last": "v", "bf16": "*", "fp16": "*"}


def form_points(deploy: DeployAnalysis | None) -> list[FormPoint]:
    return list(deploy.points) if deploy is not None else []


def draw_form_points(ax: Any, points: Sequence[FormPoint]) -> None:
    """The deployed forms as their own marked points (one marker and colour per form), beside the models'
    points: mean macro F1 over runs against the median p50 latency (the spread over seeds is the model's,
    in the table). Eager, which sits by its model's point, is left unlabelled."""
    forms = list(dict.fromkeys(point.form for point in points))
    for index, form in enumerate(forms):
        chosen = [point for point in points if point.form == form]
        threads = "/".join(map(str, sorted({point.threads for point in chosen if point.threads is not None})))
        ax.plot(
            [p.latency_ms for p in chosen], [p.f1_macro for p in chosen], FORM_MARKERS.get(form, "o"),
            color=f"C{(index + 4) % 10}", markersize=7, linestyle="none",
            label=f"deployed form {form}: mean macro F1, median p50 (deploy step, {threads} thread(s))",
        )  # fmt: skip
        for point in chosen if form != "eager" else []:
            ax.annotate(
                f"{point.model} {point.form}", (point.latency_ms, point.f1_macro), textcoords="offset points",
                xytext=(5, -10), fontsize=7, color="0.3",
            )  # fmt: skip
