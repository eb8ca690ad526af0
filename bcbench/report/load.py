"""Reading a sweep folder's records for a report, with clear errors for what cannot be reported."""

from __future__ import annotations

import warnings
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from bcbench.errors import BcbenchError
from bcbench.record import RunRecord
from bcbench.record.store import RUNS_FILE, read_sweep


class ReportError(BcbenchError):
    """Nothing to report: missing folder, missing runs.jsonl, or no successful run."""


def load_sweep(directory: str | Path, console: Console | None = None) -> list[RunRecord]:
    """The newest record of each run of a sweep folder (failed included).

    Raises ReportError when the folder or its records are missing or no run succeeded; unreadable
    (torn) lines are a warning (printed on ``console``, else ``warnings.warn``).
    """
    return load_sweep_with_notes(Path(directory), console)[0]


def load_sweep_with_notes(directory: Path, console: Console | None) -> tuple[list[RunRecord], list[str]]:
    """(newest records, notes on unreadable lines) of a sweep folder."""
    if not directory.is_dir():
        raise ReportError(f"{directory}: no such folder")
    loaded = read_sweep(directory)
    if not loaded.sources:
        raise ReportError(f"{directory / RUNS_FILE}: not found (is {directory} a sweep folder?)")
    notes = [
        f"ignored unreadable lines {lines} (torn or corrupt) in {source}"
        for source, lines in loaded.bad.items()
    ]
    for note in notes:
        warn(note, console)
    records = loaded.newest()
    if not any(record.ok for record in records):
        failed = [record for record in records if not record.ok]
        detail = f"; first error: {failed[0].error}" if failed else ""
        raise ReportError(f"{directory}: no successful runs ({len(failed)} failed{detail})")
    return records, notes


def warn(message: str, console: Console | None) -> None:
    if console is not None:
        console.print(f"[yellow]warning:[/] {escape(message)}")
    else:
        warnings.warn(message, RuntimeWarning, stacklevel=3)
