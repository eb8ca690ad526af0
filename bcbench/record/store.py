"""Run records on disk: append-only JSONL files, written durably and read defensively.

A record is one JSON object on one line. Appends are a single ``write`` followed by fsync, so a killed
process leaves at most one torn last line, which the reader reports and ignores. An append that fails
(full disk, quota, I/O error) cuts the file back to its length before the append, so every line
already there stays readable, and raises ``StorageError``.

A sweep folder holds one shard per worker process, ``runs/<worker-id>.jsonl``: each file has a
single writer, so no lock is needed across machines (``flock`` is node-local on NFS and appends
there are not atomic). Readers merge every shard with ``runs.jsonl``, which is either the file of
a sweep written before shards existed or the merged copy that ``consolidate`` writes when a sweep
completes; a line present in both is read once.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bcbench.atomic import write_all, write_atomic
from bcbench.errors import storage_errors
from bcbench.record.schema import RunRecord, as_record
from bcbench.serial import json_safe

RUNS_FILE = "runs.jsonl"
SHARDS_DIR = "runs"  # <sweep>/runs/<worker-id>.jsonl: one append-only file per worker process


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
    """Append one record as one line; durable on return (fsync). Raises ``StorageError`` (the file as
    it was before) when the disk refuses it."""
    path = Path(path)
    payload = record.to_json() if isinstance(record, RunRecord) else dict(record)
    line = (json.dumps(json_safe(payload), allow_nan=False) + "\n").encode("utf-8")
    with storage_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+b", buffering=0) as handle:
            locked = _lock(handle)  # several processes of one host may share a file written by hand
            try:
                _append_line(handle, line)
            finally:
                if locked:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _lock(handle: Any) -> bool:
    """Take the file lock where the file system offers one; a shard has one writer and needs none
    (NFS mounted with ``nolock`` answers ENOLCK, which must not stop a sweep)."""
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
    except OSError:
        return False
    return True


def _append_line(handle: Any, line: bytes) -> None:
    """Write ``line`` at the end, on a fresh line if a previous writer died mid-line; if the write or
    its fsync fails, cut the file back to its former length, so no torn line is left behind."""
    handle.seek(0, os.SEEK_END)
    length = handle.tell()
    if length:
        handle.seek(-1, os.SEEK_END)
        if handle.read(1) != b"\n":
            line = b"\n" + line
    try:
        write_all(handle.fileno(), line)
        os.fsync(handle.fileno())
    except BaseException:
        _cut_back(handle.fileno(), length)
        raise


def _cut_back(descriptor: int, length: int) -> None:
    """Best effort: a file system that refuses even this leaves a torn last line, which readers skip."""
    try:
        os.ftruncate(descriptor, length)
        os.fsync(descriptor)
    except OSError:
        pass


@dataclass
class SweepRecords:
    """Every record of a sweep folder (a line found in several files counted once), their files, and the
    lines that could not be read."""

    records: list[RunRecord] = field(default_factory=list)
    sources: list[Path] = field(default_factory=list)
    bad: dict[str, list[int]] = field(default_factory=dict)  # file -> unreadable line numbers (1-based)

    def newest(self) -> list[RunRecord]:
        return newest_per_run(self.records)

    def ok(self) -> list[RunRecord]:
        return [record for record in self.newest() if record.ok]


def shard_path(directory: str | Path, worker_id: str) -> Path:
    """The records file that worker ``worker_id`` alone appends to."""
    return Path(directory) / SHARDS_DIR / f"{worker_id}.jsonl"


def sweep_record_files(directory: str | Path) -> list[Path]:
    """The record files of a sweep folder that exist: ``runs.jsonl``, then ``runs/*.jsonl`` by name."""
    directory = Path(directory)
    legacy = directory / RUNS_FILE
    shards = sorted((directory / SHARDS_DIR).glob("*.jsonl")) if (directory / SHARDS_DIR).is_dir() else []
    return [path for path in [legacy, *shards] if path.is_file()]


def read_sweep(directory: str | Path) -> SweepRecords:
    """All records of a sweep folder, every file merged. ``newest()`` keeps one record per run id; a torn
    last line of any file is reported in ``bad``, not fatal."""
    merged = SweepRecords()
    seen: set[str] = set()
    for path in sweep_record_files(directory):
        merged.sources.append(path)
        bad = []
        for number, text in _lines(path):
            if text in seen:  # the consolidated runs.jsonl repeats the shards' lines
                continue
            record = _parse(text)
            if record is None:
                bad.append(number)
                continue
            seen.add(text)
            merged.records.append(record)
        if bad:
            merged.bad[str(path)] = bad
    return merged


def consolidate(directory: str | Path) -> Path:
    """Make ``runs.jsonl`` hold every record of the sweep: its own lines first, as they are, then each
    shard line it lacks, oldest finished first. Written atomically; the shards stay the source (a
    worker may still be appending), so two workers consolidating at once lose nothing."""
    directory = Path(directory)
    legacy = directory / RUNS_FILE
    kept = [text for _, text in _lines(legacy)] if legacy.is_file() else []
    present = set(kept)
    added: list[tuple[str, str, int, str]] = []
    for path in sweep_record_files(directory):
        if path == legacy:
            continue
        for number, text in _lines(path):
            record = None if text in present else _parse(text)
            if record is not None:
                present.add(text)
                added.append((record.finished_at or "", path.name, number, text))
    if added:
        write_atomic(legacy, "".join(f"{text}\n" for text in [*kept, *(a[-1] for a in sorted(added))]))
    return legacy


def _lines(path: Path) -> list[tuple[int, str]]:
    """(1-based line number, stripped text) of every non-blank line of a file."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        return [(number, line.strip()) for number, line in enumerate(handle, start=1) if line.strip()]


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
