"""Checking that every test metric can be recomputed from a run's stored predictions."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bcbench.record import RunRecord
from bcbench.record.predictions import matches_record, recompute_test_metrics


def check_stored_predictions(records: Sequence[RunRecord], directory: Path | None) -> dict[str, list[str]]:
    """{run_id: the test keys whose recomputed value differs} for runs with stored predictions; an empty
    list means every test metric was recomputed exactly."""
    if directory is None:
        return {}
    checked = {}
    for record in records:
        recomputed = recompute_test_metrics(directory, record)
        if recomputed is not None:
            checked[record.run_id] = matches_record(recomputed, record)
    return checked


def stored_markdown(checked: dict[str, list[str]]) -> list[str]:
    if not checked:
        return []
    differing = {run: keys for run, keys in checked.items() if keys}
    line = (
        f"Every test metric of all {len(checked)} runs recomputed from their stored predictions "
        "(`predictions/<run_id>.csv`) equals the recorded value."
        if not differing
        else f"{len(differing)} of {len(checked)} runs' recomputed test metrics differ from their records: "
        + "; ".join(f"{run} ({', '.join(keys)})" for run, keys in differing.items())
    )
    return ["## Stored predictions", "", line, ""]
