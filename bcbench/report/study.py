"""The reference study's single-seed numbers beside this sweep's seed distribution, in report.md."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bcbench.analysis import CONFIDENCE
from bcbench.record import metric_named
from bcbench.report.format import fmt, markdown_table, missing


def study_reference_markdown(rows: Sequence[dict[str, Any]], deviations: Sequence[str] = ()) -> str:
    """The table of ``analysis.study`` rows and the protocol ``deviations`` beside it (empty text when the
    sweep did not use the study's split)."""
    if not rows:
        return ""
    table = []
    for row in rows:
        sweep = fmt(row["mean"])
        if not missing(row["ci_low"]):
            sweep += f" [{fmt(row['ci_low'])}, {fmt(row['ci_high'])}]"
        elif row["n"] > 1:
            sweep += f" ({row['ci_note']})"
        table.append(
            [
                row["model"],
                metric_named(row["metric"]).label,
                f"{row['reported']:.2f}",
                sweep,
                f"{fmt(row['min'])} - {fmt(row['max'])}",
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
    text = (
        "The reference study trained each model once (one seed) on the same published split. "
        "A single seed is one draw from the distribution below.\n\n" + markdown_table(headers, table)
    )
    if not deviations:
        return text + "\n\nThese runs followed the study's protocol (preprocessing, recipe, epochs)."
    listed = "\n".join(f"- {deviation}" for deviation in deviations)
    return (
        f"{text}\n\n**Not the study's protocol**, so the numbers are not comparable one to one; these runs "
        f"differ in:\n\n{listed}"
    )
