"""Several sweeps side by side, as numbers: each model's accuracy and macro F1 per sweep."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from bcbench.analysis.load import load_sweep
from bcbench.config import experiment_differences, stored_experiment
from bcbench.record import RunRecord, group_records, metric_value
from bcbench.stats import describe

COMPARED = ("accuracy", "f1_macro")
COMPARISON_COLUMNS = [
    "model",
    "sweep",
    "directory",
    "n",
    *(f"{m}_{s}" for m in COMPARED for s in ("mean", "std")),
]


def sweep_labels(directories: Sequence[Path]) -> list[str]:
    """The folders' names, or their whole paths when two share a name."""
    names = [d.name for d in directories]
    return names if len(set(names)) == len(names) else [str(d) for d in directories]


def compare_sweeps(directories: Sequence[str | Path]) -> pd.DataFrame:
    """Each model's accuracy and macro F1 (mean, std, n) in each sweep: one row per (model, sweep) with
    the columns ``COMPARISON_COLUMNS`` (n = 0 and empty values where a sweep lacks a model)."""
    paths = [Path(d) for d in directories]
    labels = sweep_labels(paths)
    groups_per_sweep = [group_records(load_sweep(path)) for path in paths]
    models = list(dict.fromkeys(label for groups in groups_per_sweep for label in groups))
    rows = [
        _comparison_row(model, sweep, path, groups.get(model, []))
        for model in models
        for sweep, path, groups in zip(labels, paths, groups_per_sweep, strict=True)
    ]
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


def _comparison_row(model: str, sweep: str, path: Path, runs: list[RunRecord]) -> dict[str, Any]:
    row: dict[str, Any] = {"model": model, "sweep": sweep, "directory": str(path), "n": 0}
    for metric in COMPARED:
        summary = describe([metric_value(r, metric) for r in runs], n_boot=1)
        row["n"] = max(row["n"], summary["n"])
        row[f"{metric}_mean"], row[f"{metric}_std"] = summary["mean"], summary["std"]
    return row


def config_differences(directories: Sequence[str | Path]) -> list[str]:
    """What differs between the sweeps' stored configs (their ``config.yaml``), first folder against each
    other: the settings that make them different experiments (empty: only models, seeds or axes differ)."""
    paths = [Path(d) for d in directories]
    first = stored_experiment(paths[0] / "config.yaml") or {}
    found = []
    for path in paths[1:]:
        for text in experiment_differences(stored_experiment(path / "config.yaml") or {}, first, limit=None):
            found.append(f"{path.name} vs {paths[0].name}: {text}")
    return found


def comparison_folder(directories: Sequence[str | Path]) -> Path:
    """Where a comparison is written by default: a new folder beside the first sweep, never inside one."""
    paths = [Path(d) for d in directories]
    return paths[0].parent / ("compare-" + "-".join(path.name for path in paths))
