"""Choosing and grouping records for reports: group labels, class names, the minority class, whether a sweep
is cross-validated, flat rows."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bcbench.record.schema import RunRecord, as_record
from bcbench.record.store import ok_records
from bcbench.serial import flatten

FLAT_BLOCKS = ("data", "test", "cost", "env", "axes")
FLAT_TOP = ("sweep", "run_id", "model", "seed", "status", "error", "best_epoch", "epochs_run")


def group_label(record: RunRecord | Mapping[str, Any]) -> str:
    """The model name, plus ``key=value`` for each swept axis (last part of the dotted key)."""
    record = as_record(record)
    parts = [str(record.model)]
    parts += [f"{str(key).rsplit('.', 1)[-1]}={value}" for key, value in (record.axes or {}).items()]
    return " ".join(parts)


def group_records(records: Iterable[RunRecord | Mapping[str, Any]]) -> dict[str, list[RunRecord]]:
    """Successful records (newest per run) by group label, groups in first-seen order."""
    groups: dict[str, list[RunRecord]] = {}
    for record in ok_records(records):
        groups.setdefault(group_label(record), []).append(record)
    return groups


def class_names(records: Iterable[RunRecord | Mapping[str, Any]]) -> list[str]:
    """Class names in the order of the records' classes (union, first seen first)."""
    names: list[str] = []
    for record in records:
        names += [name for name in as_record(record).classes if name not in names]
    return names


def minority_class(records: Sequence[RunRecord | Mapping[str, Any]]) -> str | None:
    """The class with the smallest total support: the data block's class counts over all splits when
    stored, else the test-set support summed over runs."""
    typed = [as_record(record) for record in records]
    names = class_names(typed)
    if not names:
        return None
    totals = _counted_classes(typed, names)
    if totals is None:
        totals = dict.fromkeys(names, 0.0)
        for record in typed:
            for name, scores in (record.test.per_class if record.test else {}).items():
                totals[name] = totals.get(name, 0.0) + (scores.support or 0)
    return min(names, key=lambda name: totals[name])


def _counted_classes(records: Sequence[RunRecord], names: list[str]) -> dict[str, float] | None:
    totals = dict.fromkeys(names, 0.0)
    counted = False
    for record in records:
        data = record.data
        if data is None or not data.classes or not data.class_counts:
            continue
        counted = True
        for split_counts in data.class_counts.values():
            for name, count in zip(data.classes, split_counts or [], strict=False):
                totals[name] += count or 0
    return totals if counted else None


def is_cross_validation(records: Iterable[RunRecord]) -> bool:
    """Whether any run is a cross-validation fold (holdout runs have no fold)."""
    return any(record.fold is not None for record in records)


def flatten_record(record: RunRecord | Mapping[str, Any]) -> dict[str, Any]:
    """One flat row per record for runs.csv / pandas: nested keys joined with dots, a matrix as one JSON
    cell, other lists comma-joined."""
    payload = as_record(record).to_json()
    row: dict[str, Any] = {key: payload.get(key) for key in FLAT_TOP}
    for block in FLAT_BLOCKS:
        for key, value in flatten(payload.get(block) or {}, block).items():
            row[key] = _cell(value)
    return row


def _cell(value: Any) -> Any:
    if isinstance(value, list) and value and isinstance(value[0], list):
        return json.dumps(value)  # matrices stay one cell
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return value


def records_frame(records: Iterable[RunRecord | Mapping[str, Any]]) -> Any:
    """A pandas DataFrame of flattened records (pandas imported lazily)."""
    import pandas as pd

    return pd.DataFrame([flatten_record(record) for record in records])
