"""The timing-stability section of report.md and its one line under the terminal tables."""

from __future__ import annotations

from typing import Any

from bcbench.analysis import TIMING_RULE, SweepAnalysis
from bcbench.report.format import fmt, markdown_table


def timing_markdown(analysis: SweepAnalysis) -> list[str]:
    """The flagged runs and models with the rule that flagged them (nothing when no run was timed)."""
    timing = analysis.timing
    if not timing.timed_runs:
        return []
    out = ["## Timing stability", "", TIMING_RULE, ""]
    if not timing.flagged:
        return [*out, f"No run or model flagged ({timing.timed_runs} runs timed).", ""]
    headers = [
        "model",
        "run",
        "p50 ms",
        "p90 ms (model: highest p50)",
        "ratio",
        "why flagged",
        "threads",
        "load",
    ]
    rows = [_row(flag) for flag in timing.flagged]
    return [*out, markdown_table(headers, rows), ""]


def timing_line(analysis: SweepAnalysis) -> str | None:
    """One line for the terminal when any timing was flagged."""
    flagged = analysis.timing.flagged
    if not flagged:
        return None
    models = sorted({flag["model"] for flag in flagged})
    return (
        f"{len(flagged)} timing(s) flagged as noise ({', '.join(models)}): the machine was busy or the "
        "repeats disagree; see report.md, Timing stability"
    )


def _row(flag: dict[str, Any]) -> list[Any]:
    load = flag["load"]
    return [
        flag["model"],
        "all runs" if flag["seed"] is None else _run_name(flag),
        fmt(flag["p50_ms"], 2),
        fmt(flag["p90_ms"], 2),
        f"{flag['ratio']:.1f}",
        flag["reason"],
        flag["threads"] if flag["threads"] is not None else "-",
        f"{load[0]:.1f}-{load[1]:.1f}" if load else "-",
    ]


def _run_name(flag: dict[str, Any]) -> str:
    name = f"seed {flag['seed']}"
    if flag["fold"] is not None:
        name += f", repeat {flag['repeat']} fold {flag['fold']}"
    return name
