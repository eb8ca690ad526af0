"""Run records on disk: an append-only JSONL file, written durably and read defensively.

A record is one JSON object on one line. Appends are a single ``write`` followed by flush and
fsync, so a killed process leaves at most one torn last line, which the reader reports and ignores.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bcbench.record.schema import RunRecord, as_record
from bcbench.serial import json_safe

RUNS_FILE = "runs.jsonl"


@dataclass
class LoadedRecords:
    """Records read from JSONL, plus the lines that could not be parsed."""

    records: list[RunRecord] = field(default_factory=list)
    bad_lines: list[int] = field(default_factory=list)  # 1-based line numbers

    def newest(self) -> list[RunRecord]:
        return newest_per_run(self.records)

    def ok(self) -> list[RunRecord]:
        return [record for record in self.newest() if record.ok]


def newest_per_run(records: Iterable[RunRecord | Mapping[str, Any]]) -> list[RunRecord]:
    """The newest record of each run_id (a retried run's latest outcome wins), in first-seen order.

    Newest: the later ``finished_at``; between equal or missing timestamps, the later in ``records``.
    """
    position: dict[str, int] = {}
    chosen: list[RunRecord] = []
    for index, raw in enumerate(records):
        record = as_record(raw)
        key = record.run_id or f"#{index}"
        if key not in position:
            position[key] = len(chosen)
            chosen.append(record)
        elif (record.finished_at or "") >= (chosen[position[key]].finished_at or ""):
            chosen[position[key]] = record
    return chosen


def ok_records(records: Iterable[RunRecord | Mapping[str, Any]]) -> list[RunRecord]:
    """The newest record of each run, successful ones only, in first-seen order."""
    return [record for record in newest_per_run(records) if record.ok]


def append_record(path: str | Path, record: RunRecord | Mapping[str, Any]) -> None:
    """Append one record as one line; durable on return (flush + fsync)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = record.to_json() if isinstance(record, RunRecord) else dict(record)
    line = json.dumps(json_safe(payload), allow_nan=False) + "\n"
    with open(path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)  # several processes of one host may share the file
        try:
            _terminate_torn_line(handle)
            handle.write(line.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _terminate_torn_line(handle: Any) -> None:
    """If a previous writer died mid-line, start the new record on a fresh line."""
    handle.seek(0, os.SEEK_END)
    if handle.tell() == 0:
        return
    handle.seek(-1, os.SEEK_END)
    if handle.read(1) != b"\n":
        handle.write(b"\n")


def load_records(path: str | Path) -> LoadedRecords:
    """Read every parseable record of one JSONL file; torn or corrupt lines are listed, not fatal."""
    loaded = LoadedRecords()
    path = Path(path)
    if not path.exists():
        return loaded
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            record = _parse(line)
            if record is None:
                loaded.bad_lines.append(number)
            else:
                loaded.records.append(record)
    return loaded


@dataclass
class SweepRecords(LoadedRecords):
    """Every record of a sweep folder, and which files they came from."""

    sources: list[Path] = field(default_factory=list)
    bad: dict[str, list[int]] = field(default_factory=dict)  # file -> unreadable line numbers


def sweep_record_files(directory: str | Path) -> list[Path]:
    """The record files of a sweep folder that exist: ``runs.jsonl``."""
    path = Path(directory) / RUNS_FILE
    return [path] if path.is_file() else []


def read_sweep(directory: str | Path) -> SweepRecords:
    """All records of a sweep folder (``bad_lines`` are those of the first file with any)."""
    merged = SweepRecords()
    for path in sweep_record_files(directory):
        loaded = load_records(path)
        merged.sources.append(path)
        merged.records += loaded.records
        if loaded.bad_lines:
            merged.bad[str(path)] = loaded.bad_lines
            merged.bad_lines = merged.bad_lines or loaded.bad_lines
    return merged


def _parse(line: str) -> RunRecord | None:
    try:
        raw = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(raw, dict) or "run_id" not in raw:
        return None
    try:
        return RunRecord.from_json(raw)
    except (TypeError, ValueError):
        return None
