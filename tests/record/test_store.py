"""The JSONL store: append, load, torn lines, flattening; the atomic writer."""

import errno
import fcntl
import json
import math
import os
import warnings

import pytest

from bcbench.atomic import write_atomic
from bcbench.record import RunRecord, append_record, read_sweep, records_frame, shard_path
from bcbench.record.select import flatten_record
from bcbench.record.store import newest_per_run, ok_records


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


def test_appends_are_whole_lines_in_new_folders_without_a_blank_line_or_a_warning(tmp_path):
    """Missing parent folders are made; a RunRecord or a mapping is one JSON line; the next append starts
    right after the last newline (no blank line); unbuffered, so no RuntimeWarning (even as an error)."""
    path = tmp_path / "new" / "sweep" / "runs" / "w.jsonl"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        append_record(path, RunRecord(run_id="a", status="ok"))
        append_record(path, {"run_id": "b", "status": "failed"})
    lines = path.read_bytes().split(b"\n")
    assert len(lines) == 3 and lines[2] == b"" and all(lines[:2])
    assert [json.loads(line)["run_id"] for line in lines[:2]] == ["a", "b"]
    assert json.loads(lines[1]) == {"run_id": "b", "status": "failed"}


def test_an_append_goes_on_where_the_file_system_refuses_a_lock(tmp_path, monkeypatch):
    """NFS mounted with nolock answers ENOLCK to flock: the record is written all the same."""

    def no_locks(descriptor: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    path = tmp_path / "runs.jsonl"
    append_record(path, {"run_id": "a", "status": "ok"})
    append_record(path, {"run_id": "b", "status": "ok"})
    assert [r.run_id for r in read_sweep(tmp_path).records] == ["a", "b"]


def test_a_record_without_a_finish_time_never_replaces_a_timed_one():
    timed = {"run_id": "a", "status": "ok", "finished_at": "2025-01-01T00:01:00+00:00"}
    untimed = {"run_id": "a", "status": "failed"}
    assert [(r.run_id, r.status) for r in newest_per_run([timed, untimed])] == [("a", "ok")]
    assert [r.status for r in newest_per_run([untimed, timed])] == ["ok"]
    assert [r.run_id for r in ok_records([timed, untimed, {"run_id": "b", "status": "failed"}])] == ["a"]


def test_a_line_repeated_in_a_later_file_is_read_once_and_the_lines_after_it_still_count(tmp_path):
    """runs.jsonl (a consolidated copy) is read first; a shard repeating one of its lines still gives its
    other lines, and the repeated record is listed once."""
    first = {"run_id": "a", "status": "ok", "finished_at": "2025-01-01T00:01:00+00:00"}
    append_record(tmp_path / "runs.jsonl", first)
    shard = shard_path(tmp_path, "w")
    for record in (first, {"run_id": "b", "status": "ok"}, {"run_id": "c", "status": "failed"}):
        append_record(shard, record)
    loaded = read_sweep(tmp_path)
    assert [r.run_id for r in loaded.records] == ["a", "b", "c"] and loaded.bad == {}
    assert loaded.sources == [tmp_path / "runs.jsonl", shard]


def test_lines_that_are_no_record_are_reported_and_a_torn_multibyte_character_does_not_stop_the_read(
    tmp_path,
):
    """A JSON object without run_id, a bare number, a list and a last line cut inside a two-byte
    UTF-8 character (a full disk mid-write) are unreadable lines, reported by number; the rest is read."""
    path = tmp_path / "runs.jsonl"
    append_record(path, {"run_id": "a", "status": "ok"})
    torn = json.dumps({"run_id": "b", "error": "é"}).encode()
    with open(path, "ab") as handle:
        handle.write(b'{"status": "ok"}\n3\n[1, 2]\n' + torn[: torn.index(b"\\u00e9")] + "é".encode()[:1])
    loaded = read_sweep(tmp_path)
    assert [r.run_id for r in loaded.records] == ["a"] and loaded.bad == {str(path): [2, 3, 4, 5]}
