"""External test sets as numbers: each model's scores on data it never saw, over the classes present."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bcbench.record import RunRecord, group_label
from bcbench.stats import describe

EXTERNAL_METRICS = ("accuracy", "balanced_accuracy", "f1_macro", "auroc_macro")


def external_names(records: Sequence[RunRecord]) -> list[str]:
    return list(dict.fromkeys(name for record in records for name in record.external))


def external_rows(records: Sequence[RunRecord]) -> list[dict]:
    """One row per (external set, model): n, classes present, and mean/std of each metric over runs."""
    rows = []
    for name in external_names(records):
        for model in dict.fromkeys(group_label(record) for record in records):
            blocks = [r.external[name] for r in records if group_label(r) == model and name in r.external]
            if not blocks:
                continue
            row = {"set": name, "model": model, "runs": len(blocks), "n": blocks[0].n}
            row["classes_present"] = ",".join(blocks[0].classes_present or [])
            for metric in EXTERNAL_METRICS:
                values = [getattr(block, metric) for block in blocks]
                summary = describe([np.nan if v is None else v for v in values], n_boot=1)
                row[f"{metric}_mean"], row[f"{metric}_std"] = summary["mean"], summary["std"]
            rows.append(row)
    return rows
