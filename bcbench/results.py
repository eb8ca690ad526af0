"""Run records: an append-only JSONL file per sweep, written atomically and read defensively.

A record is one JSON object on one line. Appends are written with a single ``write`` call
followed by flush and fsync, so a killed process leaves at most one torn last line, which
the reader reports and ignores.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RUNS_FILE = "runs.jsonl"


@dataclass
class LoadedRecords:
    """Records read from a runs.jsonl file, plus any lines that could not be parsed."""

    records: list[dict[str, Any]] = field(default_factory=list)
    bad_lines: list[int] = field(default_factory=list)  # 1-based line numbers

    def latest_by_run_id(self) -> dict[str, dict[str, Any]]:
        """The last record of each run_id (a retried run's newest outcome wins)."""
        latest: dict[str, dict[str, Any]] = {}
        for record in self.records:
            latest[record["run_id"]] = record
        return latest

    def ok_records(self) -> list[dict[str, Any]]:
        return [r for r in self.latest_by_run_id().values() if r.get("status") == "ok"]


def _json_safe(value: Any) -> Any:
    """NaN and infinities are not JSON: store them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def append_record(path: str | Path, record: dict[str, Any]) -> None:
    """Append one record as one line; durable on return (flush + fsync)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(_json_safe(record), sort_keys=False, allow_nan=False) + "\n"
    with open(path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)  # several processes of one sweep share the file
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
    """Read every parseable record; torn or corrupt lines are listed, not fatal."""
    loaded = LoadedRecords()
    path = Path(path)
    if not path.exists():
        return loaded
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                loaded.bad_lines.append(number)
                continue
            if isinstance(record, dict) and "run_id" in record:
                loaded.records.append(record)
            else:
                loaded.bad_lines.append(number)
    return loaded


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write a whole file so that readers see the old or the new content, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def flatten_record(record: dict[str, Any]) -> dict[str, Any]:
    """One flat row per record for runs.csv / pandas: nested keys joined with dots."""
    row: dict[str, Any] = {}
    for key in ("sweep", "run_id", "model", "seed", "status", "error", "best_epoch", "epochs_run"):
        row[key] = record.get(key)
    for block in ("data", "test", "efficiency", "env", "axes"):
        _flatten_into(row, block, record.get(block) or {})
    return row


def _flatten_into(row: dict[str, Any], prefix: str, value: Any) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            _flatten_into(row, f"{prefix}.{key}", child)
    elif isinstance(value, list) and value and isinstance(value[0], list):
        row[prefix] = json.dumps(value)  # matrices stay one cell
    elif isinstance(value, list):
        row[prefix] = ",".join(str(v) for v in value)
    else:
        row[prefix] = value


def records_frame(records: list[dict[str, Any]]) -> Any:
    """A pandas DataFrame of flattened records (pandas imported lazily)."""
    import pandas as pd

    return pd.DataFrame([flatten_record(r) for r in records])
