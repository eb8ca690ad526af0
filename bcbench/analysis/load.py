"""Reading a sweep folder's records for analysis, with clear errors for what cannot be analysed."""

from __future__ import annotations

from pathlib import Path

from bcbench.errors import BcbenchError
from bcbench.record import RUNS_FILE, RunRecord, read_sweep


class ReportError(BcbenchError):
    """Nothing to report: missing folder, missing runs.jsonl, or no successful run."""


def load_sweep(directory: str | Path) -> list[RunRecord]:
    """The newest record of each run of a sweep folder (failed included).

    Raises ReportError when the folder or its records are missing or no run succeeded; unreadable (torn)
    lines are left out (``load_sweep_with_notes`` says which).
    """
    return load_sweep_with_notes(Path(directory))[0]


def load_sweep_with_notes(directory: Path) -> tuple[list[RunRecord], list[str]]:
    """(newest records, one note per file with unreadable lines) of a sweep folder."""
    if not directory.is_dir():
        raise ReportError(f"{directory}: no such folder")
    loaded = read_sweep(directory)
    if not loaded.sources:
        raise ReportError(f"{directory / RUNS_FILE}: not found (is {directory} a sweep folder?)")
    notes = [
        f"ignored unreadable lines {lines} (torn or corrupt) in {source}"
        for source, lines in loaded.bad.items()
    ]
    records = loaded.newest()
    if not any(record.ok for record in records):
        failed = [record for record in records if not record.ok]
        detail = f"; first error: {failed[0].error}" if failed else ""
        raise ReportError(f"{directory}: no successful runs ({len(failed)} failed{detail})")
    return records, notes
