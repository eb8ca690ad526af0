"""Deployed forms as numbers: per run and form the scores, agreement with eager, latency, speed-up and size
(from the records' ``deploy`` blocks), and per model and form their summary over seeds (over folds in
cross-validation), with the paired difference to eager fp32 on the same runs.

Eager here is the deploy step's own fp32 eager form (the reference of every parity block, timed by the
same rules and threads as the other forms), so a difference or a speed-up compares like with like; the
run's ``test`` block may differ from it where training ran in mixed precision or channels-last.
Intervals follow the summary's rules (``summary.interval_method``): Student t over seeds, clipped to
[0, 1]; over folds with the Nadeau-Bengio correction. Paired differences are form - eager.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bcbench.analysis.summary import (
    CONFIDENCE,
    RUN_COLUMNS,
    fold_frame,
    interval_method,
    pair_key,
    test_train_ratio,
)
from bcbench.record import RunRecord, group_label, is_cross_validation
from bcbench.stats import corrected_resampled_ttest, describe, paired_comparison

EAGER = "eager"
FORM_SCORES = ("accuracy", "f1_macro")  # summarised with intervals and paired with eager
RUN_SCORES = ("accuracy", "balanced_accuracy", "f1_macro", "auroc_macro", "ece")


@dataclass(frozen=True)
class FormPoint:
    """One model's deployed form on the Pareto figure: median p50 latency over its runs (ms, batch 1,
    ``threads`` threads) against its mean macro F1 (± std over runs)."""

    model: str
    form: str
    latency_ms: float
    f1_macro: float
    f1_std: float
    threads: int | None


@dataclass
class DeployAnalysis:
    """``runs``: one row per (run, form); ``table``: one per (model, form); ``points``: the forms' Pareto
    points; ``failures``: (model, form, reason, runs) of forms that failed; ``notes``: the records' notes
    (a missing package); ``interval``: how the intervals were made."""

    runs: list[dict[str, Any]] = field(default_factory=list)
    table: list[dict[str, Any]] = field(default_factory=list)
    points: list[FormPoint] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    interval: str = ""


def analyse_deploy(records: Sequence[RunRecord], confidence: float = CONFIDENCE) -> DeployAnalysis | None:
    """The deployed forms of ``records`` (successful runs); None when no run has a ``deploy`` block."""
    deployed = [record for record in records if record.ok and record.deploy is not None]
    if not deployed:
        return None
    runs = deploy_run_rows(deployed)
    table = deploy_table(runs, deployed, confidence) if runs else []
    return DeployAnalysis(
        runs=runs,
        table=table,
        points=form_points(table),
        failures=form_failures(runs),
        notes=list(dict.fromkeys(r.deploy.note for r in deployed if r.deploy.note)),
        interval=interval_method(deployed),
    )


def deploy_run_rows(records: Sequence[RunRecord]) -> list[dict[str, Any]]:
    """One row per (run, form): where it ran, status and reason, scores, parity with eager on the test set,
    latency at the first thread count timed, speed-up over eager at those threads, size, build times."""
    rows = []
    for record in records:
        block = record.deploy
        threads = block.threads[0] if block.threads else None
        eager = block.forms.get(EAGER)
        eager_timing = eager.timing_summary(threads) if eager is not None and eager.ok else None
        for form, result in block.forms.items():
            rows.append(_run_row(record, form, result, threads, eager_timing))
    return rows


def _run_row(record: RunRecord, form: str, result: Any, threads: int | None, eager: dict | None) -> dict:
    test = result.test.to_json() if result.test is not None else {}
    parity = result.parity.get("test")
    timing = result.timing_summary(threads) if result.ok else None
    p50 = timing["latency_ms"]["p50"] if timing else None
    speed = timing["images_per_s"] if timing else None
    return {
        "model": group_label(record), "seed": record.seed, "repeat": record.repeat, "fold": record.fold,
        "run_id": record.run_id, "form": form, "status": result.status, "reason": result.reason,
        **{score: _number(test.get(score)) for score in RUN_SCORES},
        "top1_agreement": _number(parity.top1_agreement if parity else None),
        "max_abs_logit_diff": _number(parity.max_abs_logit_diff if parity else None),
        "threads": threads, "p50_ms": _number(p50),
        "p90_ms": _number(timing["latency_ms"]["p90"] if timing else None),
        "images_per_s": _number(speed),
        "speedup": _ratio(eager["latency_ms"]["p50"] if eager else None, p50),
        "throughput_speedup": _ratio(speed, eager["images_per_s"] if eager else None),
        "file_mb": _number(result.file_mb), "export_s": _number(result.export_seconds),
        "quantize_s": _number(result.quantize_seconds), "compile_s": _number(result.compile_seconds),
        "calibration_images": result.calibration_images,
    }  # fmt: skip


def deploy_table(
    runs: Sequence[dict[str, Any]], records: Sequence[RunRecord], confidence: float = CONFIDENCE
) -> list[dict[str, Any]]:
    """One row per (model, form), models and forms in first-seen order."""
    frame = pd.DataFrame(runs)
    cross_validation = is_cross_validation(records)
    ratio = test_train_ratio(records) if cross_validation else 0.0
    rows = []
    for (model, form), group in frame.groupby(["model", "form"], sort=False):
        ok = group[group["status"] == "ok"]
        eager = frame[(frame["model"] == model) & (frame["form"] == EAGER) & (frame["status"] == "ok")]
        row: dict[str, Any] = {"model": model, "form": form, "runs": len(ok), "failed": len(group) - len(ok)}
        row["reason"] = next(iter(group.loc[group["status"] != "ok", "reason"].dropna()), None)
        for score in FORM_SCORES:
            row |= _score_summary(ok, score, ratio, cross_validation, confidence)
            if form != EAGER:
                row |= _difference_to_eager(ok, eager, score, ratio, cross_validation, confidence)
        row |= _form_figures(ok)
        rows.append(row)
    return rows


def _score_summary(
    ok: pd.DataFrame, score: str, ratio: float, cross_validation: bool, confidence: float
) -> dict[str, Any]:
    values = fold_frame(ok[[*RUN_COLUMNS, score]])[score] if cross_validation else ok[score]
    summary = describe(values.to_numpy(dtype=np.float64), confidence, bounds=(0.0, 1.0), correction=ratio)
    return {
        f"{score}_{key}": summary[key] for key in ("n", "mean", "std", "ci_t_low", "ci_t_high", "ci_note")
    }


def _difference_to_eager(
    ok: pd.DataFrame, eager: pd.DataFrame, score: str, ratio: float, cross_validation: bool, confidence: float
) -> dict[str, Any]:
    """form - eager over the runs (seeds; folds, seeds averaged, in cross-validation) both have."""
    if cross_validation:
        pair = ["repeat", "fold"]
        form_values = fold_frame(ok[[*RUN_COLUMNS, score]]).set_index(pair)[score]
        eager_values = fold_frame(eager[[*RUN_COLUMNS, score]]).set_index(pair)[score]
        shared = form_values.index.intersection(eager_values.index)
        test = corrected_resampled_ttest(
            (form_values[shared] - eager_values[shared]).tolist(), ratio, confidence
        )
    else:
        form_values = {_key(row): row[score] for row in ok.to_dict("records")}
        eager_values = {_key(row): row[score] for row in eager.to_dict("records")}
        shared = sorted(set(form_values) & set(eager_values))
        test = paired_comparison(
            [form_values[k] for k in shared], [eager_values[k] for k in shared], confidence, n_boot=1
        )
    keys = ("n", "mean_diff", "diff_ci_low", "diff_ci_high", "t_p", "note")
    return {f"{score}_diff_{key}": test.get(key) for key in keys}


def _key(row: dict[str, Any]) -> tuple[int, int, int]:
    return pair_key(RunRecord(seed=row["seed"], repeat=_int(row["repeat"]), fold=_int(row["fold"])))


def _form_figures(ok: pd.DataFrame) -> dict[str, Any]:
    """Agreement (mean and lowest over runs), the largest logit difference, and medians over runs of the
    latency, the speed-up over eager, the throughput and the size."""
    return {
        "top1_agreement_mean": _mean(ok["top1_agreement"]),
        "top1_agreement_min": _extreme(ok["top1_agreement"], min),
        "max_abs_logit_diff": _extreme(ok["max_abs_logit_diff"], max),
        "threads": next(iter(ok["threads"].dropna()), None),
        "p50_ms": _median(ok["p50_ms"]),
        "speedup": _median(ok["speedup"]),
        "images_per_s": _median(ok["images_per_s"]),
        "throughput_speedup": _median(ok["throughput_speedup"]),
        "file_mb": _median(ok["file_mb"]),
    }


def form_points(table: Sequence[dict[str, Any]]) -> list[FormPoint]:
    """Every (model, form) with a latency and a macro F1: the forms' points on the Pareto figure."""
    points = []
    for row in table:
        latency, score = row["p50_ms"], row["f1_macro_mean"]
        if latency is None or score is None or math.isnan(latency) or latency <= 0:
            continue
        std = row["f1_macro_std"] if row["f1_macro_std"] is not None else 0.0
        threads = None if row["threads"] is None else int(row["threads"])
        points.append(FormPoint(row["model"], row["form"], float(latency), float(score), float(std), threads))
    return points


def form_failures(runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """(model, form, reason) of every failure, with the runs it happened in."""
    failed: dict[tuple[str, str, str], list[str]] = {}
    for row in runs:
        if row["status"] != "ok":
            failed.setdefault((row["model"], row["form"], row["reason"] or "?"), []).append(row["run_id"])
    return [
        {"model": model, "form": form, "reason": reason, "runs": len(run_ids), "run_ids": run_ids}
        for (model, form, reason), run_ids in failed.items()
    ]


def _number(value: Any) -> float:
    if value is None or isinstance(value, bool):
        return math.nan
    return float(value)


def _ratio(numerator: Any, denominator: Any) -> float:
    top, bottom = _number(numerator), _number(denominator)
    return top / bottom if bottom > 0 and not math.isnan(top) else math.nan


def _int(value: Any) -> int | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else int(value)


def _present(values: pd.Series) -> np.ndarray:
    array = values.to_numpy(dtype=np.float64)
    return array[~np.isnan(array)]


def _mean(values: pd.Series) -> float | None:
    present = _present(values)
    return float(present.mean()) if present.size else None


def _median(values: pd.Series) -> float | None:
    present = _present(values)
    return float(np.median(present)) if present.size else None


def _extreme(values: pd.Series, pick: Any) -> float | None:
    present = _present(values)
    return float(pick(present)) if present.size else None
