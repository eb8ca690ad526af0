"""The typed run record: JSON both ways, records of older and newer versions, the metrics table."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bcbench.cost import CostBlock
from bcbench.metrics import TestMetrics
from bcbench.record import METRICS, RunRecord, metric_named, metric_value
from bcbench.record.schema import recall_metric

LEGACY = Path(__file__).resolve().parents[1] / "fixtures" / "legacy_runs.jsonl"


def legacy_lines() -> list[dict]:
    return [json.loads(line) for line in LEGACY.read_text().splitlines()]


def contains(written: object, original: object) -> bool:
    """Every key and value of ``original`` is in ``written`` (which may add keys of its own)."""
    if isinstance(original, dict):
        return isinstance(written, dict) and all(
            k in written and contains(written[k], v) for k, v in original.items()
        )
    if isinstance(original, list):
        return (
            isinstance(written, list)
            and len(written) == len(original)
            and all(map(contains, written, original))
        )
    return written == original


@pytest.mark.parametrize("raw", legacy_lines(), ids=lambda raw: raw["run_id"])
def test_a_record_written_by_the_old_main_loads_typed_and_writes_back_what_it_read(raw):
    record = RunRecord.from_json(raw)
    assert isinstance(record.test, TestMetrics) and isinstance(record.cost, CostBlock)
    assert record.test.confusion_matrix == raw["test"]["confusion_matrix"]
    assert record.test.per_class["normal"].recall == raw["test"]["per_class"]["normal"]["recall"]
    assert record.env.device == "cpu:x86_64" and record.data.n_test == raw["data"]["n_test"]
    renamed = {("cost" if key == "efficiency" else key): value for key, value in raw.items()}
    assert contains(record.to_json(), renamed)  # the cost block is written under its name since 0.3
    assert RunRecord.from_json(record.to_json()) == record


def test_unknown_keys_of_a_newer_version_survive_a_load_and_save():
    raw = {
        "run_id": "r",
        "status": "ok",
        "from_the_future": {"x": 1},
        "test": {"accuracy": 0.5, "new_score": 2},
    }
    record = RunRecord.from_json(raw)
    assert record.extra == {"from_the_future": {"x": 1}} and record.test.extra == {"new_score": 2}
    assert contains(record.to_json(), raw)


def test_absent_blocks_stay_absent_and_metrics_read_as_nan():
    record = RunRecord.from_json({"run_id": "failed-run", "status": "failed", "error": "boom"})
    assert record.test is None and record.cost is None and not record.ok
    assert math.isnan(metric_value(record, "accuracy")) and math.isnan(metric_value(record, "latency_p50_ms"))


def test_every_metric_of_the_table_reads_the_value_at_its_path():
    raw = legacy_lines()[0]
    record = RunRecord.from_json(raw)
    for metric in METRICS:
        expected = {("cost" if key == "efficiency" else key): value for key, value in raw.items()}
        for step in metric.path:
            expected = expected[step]
        assert metric_value(record, metric) == pytest.approx(float(expected)), metric.name
        assert metric_value(raw, metric.name) == metric_value(record, metric), metric.name


def test_per_class_recall_is_a_metric_and_unknown_names_say_what_is_known():
    record = RunRecord.from_json(legacy_lines()[0])
    assert metric_value(record, "recall_benign") == record.test.per_class["benign"].recall
    assert recall_metric("benign").bounds == (0.0, 1.0) and metric_named("recall_benign").better == "high"
    with pytest.raises(KeyError, match="recall_<class>"):
        metric_named("accurracy")


def test_the_metrics_table_is_consistent():
    names = [metric.name for metric in METRICS]
    assert len(names) == len(set(names))
    for metric in METRICS:
        assert metric.kind in ("score", "cost", "info")
        assert metric.better in ("high", "low", None)
        assert (metric.bounds == (0.0, 1.0)) == (metric.kind == "score"), metric.name
        assert not metric.paired or metric.better is not None, metric.name
