"""One row per successful run, for the report's per-run table: its headline scores with the stored
test-set interval of each (the record's ``test.bootstrap``), where it stopped, and how long it trained."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bcbench.record import RunRecord, group_records, metric_value

PER_RUN_SCORES = ("accuracy", "f1_macro", "auroc_macro")


def per_run_rows(ok: Sequence[RunRecord]) -> list[dict[str, Any]]:
    """Rows grouped by model, seeds (then repeat and fold) in order: ``model``, ``seed``, ``repeat``,
    ``fold``, each score of ``PER_RUN_SCORES`` with ``<score>_interval`` ([low, high] or None),
    ``best_epoch``, ``epochs_run``, ``train_seconds``."""
    rows = []
    for label, runs in group_records(ok).items():
        for record in sorted(runs, key=lambda r: (str(type(r.seed)), r.seed, r.repeat or 0, r.fold or 0)):
            intervals = (record.test.bootstrap if record.test else None) or {}
            row: dict[str, Any] = {"model": label, "seed": record.seed, "repeat": record.repeat}
            row["fold"] = record.fold
            for score in PER_RUN_SCORES:
                row[score] = metric_value(record, score)
                row[f"{score}_interval"] = _interval(intervals.get(score))
            row.update(best_epoch=record.best_epoch, epochs_run=record.epochs_run)
            row["train_seconds"] = metric_value(record, "train_seconds")
            rows.append(row)
    return rows


def _interval(value: Any) -> list[float] | None:
    if not value or len(value) != 2 or any(v is None for v in value):
        return None
    return [float(value[0]), float(value[1])]
