"""Helpers shared by the tests: one-line error checks, and one tiny sweep used by every whole-sweep test."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from bcbench.config import Config, load_config
from bcbench.record import RunRecord

REPO = Path(__file__).resolve().parents[1]
TINY_SWEEP = (
    "data.image_size=32",
    "train.epochs=2",
    "train.min_epochs=1",
    "train.batch_size=64",
    "cost.enabled=false",
)


def assert_one_line_error(error: pytest.ExceptionInfo[Exception], *fragments: str) -> None:
    """The error's message is one line and contains every fragment."""
    message = str(error.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def tiny_sweep_args(root: Path, out: Path, name: str = "tiny", *overrides: str) -> list[str]:
    """Overrides of a sweep small enough for a test: 32 px, 2 epochs, no cost measurement."""
    return [f"name={name}", f"output_dir={out}", f"data.root={root}", *TINY_SWEEP, *overrides]


def tiny_config(root: Path, out: Path, *overrides: str, name: str = "tiny") -> Config:
    return load_config(None, tiny_sweep_args(root, out, name, *overrides))


def quiet_console() -> Console:
    return Console(record=True, width=200, force_terminal=False)


def script_command(script: str, *args: str) -> list[str]:
    """The command line of ``python bench/<script> args``."""
    return [sys.executable, str(REPO / "bench" / script), *map(str, args)]


def run_script(
    script: str, *args: str, env: dict[str, str] | None = None, **kwargs: Any
) -> subprocess.CompletedProcess:
    """``python bench/<script> args`` run to its end, output captured (text); ``env`` is added to this
    process's environment; ``kwargs`` go to ``subprocess.run`` (cwd defaults to the repository root)."""
    kwargs.setdefault("cwd", REPO)
    return subprocess.run(
        script_command(script, *args),
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        **kwargs,
    )


def start_script(
    script: str, *args: str, env: dict[str, str] | None = None, **kwargs: Any
) -> subprocess.Popen:
    """``python bench/<script> args`` started in the background, stdout and stderr merged into one pipe."""
    return subprocess.Popen(
        script_command(script, *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
        **kwargs,
    )


def json_records(path: Path) -> list[dict[str, Any]]:
    """The records of a runs.jsonl exactly as written (raw JSON objects; unparseable lines left out):
    what the file contract promises to users' own scripts."""
    records = []
    for line in Path(path).read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def newest_json_records(path: Path) -> dict[str, dict[str, Any]]:
    """run_id -> the last record of that run in the file."""
    return {record["run_id"]: record for record in json_records(path)}


def run_in_process(command: Callable[[list[str]], int], argv: list[str]) -> int:
    """Call a command-line entry point in this process (no interpreter start-up), restoring the signal
    handlers it installs."""
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        return command(argv)
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)


def sweep_json_records(directory: Path) -> list[dict[str, Any]]:
    """Every record of a sweep folder as written, while it runs too: ``runs.jsonl`` and the workers'
    shards ``runs/*.jsonl`` (a line found in both counted once; unparseable lines left out)."""
    seen: set[str] = set()
    records = []
    for path in [directory / "runs.jsonl", *sorted((directory / "runs").glob("*.jsonl"))]:
        if not path.is_file():
            continue
        for line in path.read_text().splitlines():
            if line.strip() in seen:
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
            seen.add(line.strip())
    return records


def shard_files(directory: Path) -> list[Path]:
    """The workers' record files of a sweep folder."""
    return sorted((directory / "runs").glob("*.jsonl"))


def live_claims(directory: Path) -> list[Path]:
    """The claim files left in a sweep folder."""
    return sorted((directory / "claims").glob("*.claim"))


@dataclass
class RecordFile:
    """The records of one JSONL file, and the 1-based numbers of the lines that are not records."""

    records: list[RunRecord]
    bad_lines: list[int]


def read_record_file(path: Path) -> RecordFile:
    """Every parseable record of one file (a shard or runs.jsonl), and the torn or corrupt line numbers."""
    records, bad = [], []
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        try:
            records.append(RunRecord.from_json(json.loads(line)))
        except (json.JSONDecodeError, TypeError):
            bad.append(number)
    return RecordFile(records, bad)
