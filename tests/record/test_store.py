"""The JSONL store: append, load, torn lines, flattening; the atomic writer."""

import json
import math
import os

import pytest

from bcbench.atomic import write_atomic
from bcbench.record import append_record, read_sweep, records_frame, shard_path
from bcbench.record.select import flatten_record


def test_append_and_read(tmp_path):
    path = shard_path(tmp_path, "worker-1")
    append_record(path, {"run_id": "a", "status": "failed", "test": None})
    append_record(path, {"run_id": "a", "status": "ok", "test": {"accuracy": 0.5}})
    append_record(path, {"run_id": "b", "status": "ok", "test": {"accuracy": math.nan}})
    loaded = read_sweep(tmp_path)
    assert [r.run_id for r in loaded.records] == ["a", "a", "b"]
    assert [(r.run_id, r.status) for r in loaded.newest()] == [("a", "ok"), ("b", "ok")]
    assert loaded.records[2].test.accuracy is None  # NaN stored as null, file stays valid JSON
    assert len(loaded.ok()) == 2 and loaded.sources == [path]


def test_torn_last_line_is_reported_and_the_next_append_survives(tmp_path):
    path = tmp_path / "runs.jsonl"
    append_record(path, {"run_id": "a", "status": "ok"})
    with open(path, "a") as handle:
        handle.write('{"run_id": "b", "stat')  # a writer killed mid-line
    loaded = read_sweep(tmp_path)
    assert [r.run_id for r in loaded.records] == ["a"]
    assert loaded.bad == {str(path): [2]}
    append_record(path, {"run_id": "c", "status": "ok"})
    again = read_sweep(tmp_path)
    assert [r.run_id for r in again.records] == ["a", "c"]
    assert again.bad == {str(path): [2]}


def test_an_append_interrupted_mid_line_is_cut_back_and_the_interrupt_goes_on_unchanged(
    tmp_path, monkeypatch
):
    """Ctrl-C (or any error that is no storage failure) after half the line was written: the file is cut
    back to its former bytes and the same exception reaches the caller, not one raised by the cleanup."""
    path = tmp_path / "runs.jsonl"
    append_record(path, {"run_id": "a", "status": "ok"})
    before = path.read_bytes()
    real_write = os.write

    def half_then_interrupt(descriptor: int, data: bytes) -> int:
        real_write(descriptor, bytes(data)[: len(data) // 2])
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "write", half_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        append_record(path, {"run_id": "b", "status": "ok"})
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [r.run_id for r in read_sweep(tmp_path).records] == ["a"]


def test_a_folder_without_records_is_empty(tmp_path):
    loaded = read_sweep(tmp_path)
    assert loaded.records == [] and loaded.sources == [] and loaded.bad == {}


def test_a_record_from_before_0_3_reads_its_cost_block_from_efficiency():
    from bcbench.record import RunRecord

    record = RunRecord.from_json({"run_id": "old", "status": "ok", "efficiency": {"params": 12}})
    assert record.cost.params == 12 and "efficiency" not in record.to_json()


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
