"""The JSONL store: append, load, torn lines, flattening; the atomic writer."""

import json
import math

from bcbench.atomic import write_atomic
from bcbench.record import append_record, load_records, records_frame
from bcbench.record.select import flatten_record


def test_append_and_load(tmp_path):
    path = tmp_path / "sweep" / "runs.jsonl"
    append_record(path, {"run_id": "a", "status": "failed", "test": None})
    append_record(path, {"run_id": "a", "status": "ok", "test": {"accuracy": 0.5}})
    append_record(path, {"run_id": "b", "status": "ok", "test": {"accuracy": math.nan}})
    loaded = load_records(path)
    assert [r.run_id for r in loaded.records] == ["a", "a", "b"]
    assert [(r.run_id, r.status) for r in loaded.newest()] == [("a", "ok"), ("b", "ok")]
    assert loaded.records[2].test.accuracy is None  # NaN stored as null, file stays valid JSON
    assert len(loaded.ok()) == 2


def test_torn_last_line_is_reported_and_the_next_append_survives(tmp_path):
    path = tmp_path / "runs.jsonl"
    append_record(path, {"run_id": "a", "status": "ok"})
    with open(path, "a") as handle:
        handle.write('{"run_id": "b", "stat')  # a writer killed mid-line
    loaded = load_records(path)
    assert [r.run_id for r in loaded.records] == ["a"]
    assert loaded.bad_lines == [2]
    append_record(path, {"run_id": "c", "status": "ok"})
    again = load_records(path)
    assert [r.run_id for r in again.records] == ["a", "c"]
    assert again.bad_lines == [2]


def test_missing_file_is_empty(tmp_path):
    assert load_records(tmp_path / "none.jsonl").records == []


def test_flatten_and_frame():
    record = {
        "run_id": "r",
        "model": "m",
        "seed": 1,
        "status": "ok",
        "test": {"accuracy": 0.9, "per_class": {"a": {"f1": 0.5}}, "confusion_matrix": [[1, 0], [0, 1]]},
        "data": {"classes": ["a", "b"]},
    }
    row = flatten_record(record)
    assert row["test.per_class.a.f1"] == 0.5
    assert json.loads(row["test.confusion_matrix"]) == [[1, 0], [0, 1]]
    assert row["data.classes"] == "a,b"
    frame = records_frame([record, record])
    assert list(frame["test.accuracy"]) == [0.9, 0.9]


def test_write_text_atomic(tmp_path):
    path = tmp_path / "x" / "report.md"
    write_atomic(path, "one")
    write_atomic(path, "two")
    assert path.read_text() == "two"
    assert [p.name for p in path.parent.iterdir()] == ["report.md"]
