"""Tables and reports built from run records."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
from rich.table import Table

SUMMARY_METRICS = (
    ("accuracy", "accuracy"),
    ("balanced_accuracy", "bal. acc"),
    ("f1_macro", "macro F1"),
    ("f1_weighted", "weighted F1"),
)


def _mean_std(values: list[float]) -> str:
    array = np.asarray([v for v in values if v is not None], dtype=float)
    if array.size == 0:
        return "-"
    if array.size == 1:
        return f"{array[0]:.3f}"
    return f"{array.mean():.3f} ± {array.std(ddof=1):.3f}"


def summary_table(records: list[dict[str, Any]]) -> Table:
    """One row per model: mean ± std over seeds of the test metrics, params and train time."""
    by_model: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        by_model[record["model"]].append(record)
    table = Table(title="Test metrics per model (mean ± std over seeds)")
    for header in ("model", "seeds", "params", *(label for _, label in SUMMARY_METRICS), "epochs", "train s"):
        table.add_column(header, justify="left" if header == "model" else "right")
    for model, runs in by_model.items():
        params = (runs[0].get("efficiency") or {}).get("params")
        table.add_row(
            model,
            str(len(runs)),
            f"{params / 1e6:.2f}M" if params else "-",
            *(_mean_std([r["test"].get(key) for r in runs]) for key, _ in SUMMARY_METRICS),
            _mean_std([r["epochs_run"] for r in runs]),
            _mean_std([(r.get("efficiency") or {}).get("train_seconds") for r in runs]),
        )
    return table
