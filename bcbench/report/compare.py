"""Several sweeps side by side: each model's accuracy and macro F1 per sweep."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table
from rich.text import Text

from bcbench.record import group_records, metric_value
from bcbench.report.format import fmt
from bcbench.report.load import load_sweep
from bcbench.stats import describe


def _sweep_labels(directories: Sequence[Path]) -> list[str]:
    names = [d.name for d in directories]
    return names if len(set(names)) == len(names) else [str(d) for d in directories]


COMPARED = ("accuracy", "f1_macro")
COMPARISON_COLUMNS = [
    "model",
    "sweep",
    "directory",
    "n",
    *(f"{m}_{s}" for m in COMPARED for s in ("mean", "std")),
]


def compare_sweeps(
    directories: Sequence[str | Path], console: Console | None = None
) -> tuple[Table, pd.DataFrame]:
    """Each model's accuracy and macro F1 (mean ± std, n) in each sweep, side by side.

    The frame has one row per (model, sweep): model, sweep, directory, n, accuracy_mean,
    accuracy_std, f1_macro_mean, f1_macro_std (n = 0 and empty values where a sweep lacks a model).
    """
    paths = [Path(d) for d in directories]
    labels = _sweep_labels(paths)
    groups_per_sweep = [group_records(load_sweep(path, console)) for path in paths]
    models = list(dict.fromkeys(label for groups in groups_per_sweep for label in groups))
    rows = [
        _comparison_row(model, sweep, path, groups.get(model, []))
        for model in models
        for sweep, path, groups in zip(labels, paths, groups_per_sweep, strict=True)
    ]
    return _comparison_table(labels, models, rows), pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


def _comparison_row(model: str, sweep: str, path: Path, runs: list[Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"model": model, "sweep": sweep, "directory": str(path), "n": 0}
    for metric in COMPARED:
        summary = describe([metric_value(r, metric) for r in runs], n_boot=1)
        row["n"] = max(row["n"], summary["n"])
        row[f"{metric}_mean"], row[f"{metric}_std"] = summary["mean"], summary["std"]
    return row


def _comparison_table(labels: list[str], models: list[str], rows: list[dict[str, Any]]) -> Table:
    table = Table(title="Sweeps side by side (mean ± std over seeds)")
    table.add_column("model")
    for sweep in labels:
        table.add_column(f"{sweep}\nn", justify="right")
        table.add_column(f"{sweep}\naccuracy", justify="right")
        table.add_column(f"{sweep}\nmacro F1", justify="right")
    for model in models:
        cells: list[str] = [model]
        for row in (r for r in rows if r["model"] == model):
            cells.append(str(row["n"]) if row["n"] else "-")
            for metric in COMPARED:
                mean, std = row[f"{metric}_mean"], row[f"{metric}_std"]
                cells.append(fmt(mean) + (f" ± {fmt(std)}" if std is not None else ""))
        table.add_row(*(Text(c) for c in cells))
    return table
