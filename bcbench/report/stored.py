"""The recompute check in report.md: whether every test metric equals its value recomputed from the stored
predictions."""

from __future__ import annotations


def stored_markdown(checked: dict[str, list[str]]) -> list[str]:
    if not checked:
        return []
    differing = {run: keys for run, keys in checked.items() if keys}
    line = (
        f"Every test metric of all {len(checked)} runs recomputed from their stored predictions "
        "(`predictions/<run_id>.csv`) equals the recorded value (to 1e-9 relative)."
        if not differing
        else f"{len(differing)} of {len(checked)} runs' recomputed test metrics differ from their records: "
        + "; ".join(f"{run} ({', '.join(keys)})" for run, keys in differing.items())
    )
    return ["## Stored predictions", "", line, ""]
