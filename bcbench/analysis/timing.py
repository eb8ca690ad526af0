"""Timings that cannot be trusted, flagged rather than averaged silently.

A run's batch-1 latency is timed many times after warm-up; when its slowest tenth (p90) is far above its
median (p50) the repeats disagree, which on a CPU almost always means other work took the cores. Across
runs of one model the architecture is the same, so medians that differ severalfold are noise too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bcbench.record import RunRecord, group_records

JITTER_BOUND = 1.5  # a run is flagged when its p90 batch-1 latency exceeds this multiple of its p50
SPREAD_BOUND = 2.0  # a model is flagged when its slowest run's p50 exceeds this multiple of its fastest's

TIMING_RULE = (
    f"A run is flagged when its p90 batch-1 latency exceeds {JITTER_BOUND:g} x its p50 (its repeated "
    f"timings disagree); a model when the slowest of its runs' p50 latencies exceeds {SPREAD_BOUND:g} x "
    "the fastest (the same network timed differently). Flagged timings measure the machine, not the model: "
    "time again on a quiet machine or with fewer threads (`bcbench cost --threads 1`). The load average "
    "(1 minute) at the run's start and end and its thread count are beside each row."
)


def latency_of(record: RunRecord) -> dict[str, float] | None:
    """The run's batch-1 latency percentiles (ms), or None when it was not timed."""
    latency = record.cost.latency_ms if record.cost is not None else None
    if not latency or not _positive(latency.get("p50")) or not _positive(latency.get("p90")):
        return None
    return latency


@dataclass
class TimingStability:
    """How many runs had their latency timed, and the runs and models whose timings are noise."""

    timed_runs: int = 0
    flagged: list[dict[str, Any]] = field(default_factory=list)


def timing_stability(ok: Sequence[RunRecord]) -> TimingStability:
    """One flagged row per run (``seed`` set) and per model (``seed`` None): ``model``, ``seed``,
    ``repeat``, ``fold``, ``p50_ms``, ``p90_ms`` (a model row: its runs' lowest and highest p50),
    ``ratio``, ``reason``, ``threads``, ``load`` (start and end of the run, or the range over runs)."""
    rows: list[dict[str, Any]] = []
    timed_runs = 0
    for model, runs in group_records(ok).items():
        timed = [(record, latency) for record in runs if (latency := latency_of(record)) is not None]
        timed_runs += len(timed)
        rows += [
            _run_row(model, record, latency) for record, latency in timed if _jitter(latency) > JITTER_BOUND
        ]
        medians = [latency["p50"] for _, latency in timed]
        if len(medians) >= 2 and max(medians) / min(medians) > SPREAD_BOUND:
            rows.append(_model_row(model, [record for record, _ in timed], min(medians), max(medians)))
    return TimingStability(timed_runs, rows)


def _run_row(model: str, record: RunRecord, latency: dict[str, float]) -> dict[str, Any]:
    ratio = _jitter(latency)
    return {
        "model": model,
        "seed": record.seed,
        "repeat": record.repeat,
        "fold": record.fold,
        "p50_ms": latency["p50"],
        "p90_ms": latency["p90"],
        "ratio": ratio,
        "reason": f"p90 is {ratio:.1f} x p50 within the run",
        "threads": record.env.threads if record.env is not None else None,
        "load": _loads([record]),
    }


def _model_row(model: str, runs: list[RunRecord], low: float, high: float) -> dict[str, Any]:
    threads = sorted({r.env.threads for r in runs if r.env is not None and r.env.threads is not None})
    return {
        "model": model,
        "seed": None,
        "repeat": None,
        "fold": None,
        "p50_ms": low,
        "p90_ms": high,
        "ratio": high / low,
        "reason": f"p50 ranges {high / low:.1f} x over {len(runs)} runs",
        "threads": threads[0] if len(threads) == 1 else None,
        "load": _loads(runs),
    }


def _jitter(latency: dict[str, float]) -> float:
    return latency["p90"] / latency["p50"]


def _loads(runs: list[RunRecord]) -> list[float] | None:
    """[lowest, highest] of the load averages recorded at the runs' starts and ends."""
    loads = [
        load
        for record in runs
        if record.env is not None
        for load in (record.env.load_start, record.env.load_end)
        if load is not None
    ]
    return [min(loads), max(loads)] if loads else None


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0
