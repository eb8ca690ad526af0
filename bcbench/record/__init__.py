"""Run records: the typed record and the metrics table (``schema``), the JSONL store (``store``), and
selection and grouping for reports (``select``)."""

from bcbench.record.schema import METRICS, Metric, RunRecord, as_record, metric_named, metric_value
from bcbench.record.select import class_names, group_label, group_records, minority_class, records_frame
from bcbench.record.store import (
    RUNS_FILE,
    LoadedRecords,
    append_record,
    load_records,
    newest_per_run,
    ok_records,
)

__all__ = [
    "METRICS",
    "RUNS_FILE",
    "LoadedRecords",
    "Metric",
    "RunRecord",
    "append_record",
    "as_record",
    "class_names",
    "group_label",
    "group_records",
    "load_records",
    "metric_named",
    "metric_value",
    "minority_class",
    "newest_per_run",
    "ok_records",
    "records_frame",
]
