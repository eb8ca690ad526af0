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
    check_one_data_set(directory, records)
    if not any(record.ok for record in records):
        failed = [record for record in records if not record.ok]
        detail = f"; first error: {failed[0].error}" if failed else ""
        raise ReportError(f"{directory}: no successful runs ({len(failed)} failed{detail})")
    return records, notes


def data_set_of(record: RunRecord) -> tuple[str, tuple[str, ...], int | None]:
    """What a run was trained and tested on: the data root, the classes, and how many images in all."""
    data = record.data
    configured = ((record.config or {}).get("data") or {}).get("root")
    root = "the embedded synthetic data set" if configured is None else str(data.root if data else configured)
    sizes = (data.n_train, data.n_val, data.n_test) if data is not None else (None,)
    total = sum(sizes) if all(size is not None for size in sizes) else None
    return root, tuple(record.classes), total


def check_one_data_set(directory: str | Path, records: list[RunRecord]) -> None:
    """A report never averages runs of different data sets: one line saying which, when a folder holds
    records of more than one (folders written before bcbench kept one experiment per folder)."""
    found: dict[tuple[str, tuple[str, ...], int | None], int] = {}
    for record in records:
        if record.ok:
            key = data_set_of(record)
            found[key] = found.get(key, 0) + 1
    if len(found) > 1:
        listed = "; ".join(
            f"{count} runs on {root} ({len(classes)} classes)" for (root, classes, _), count in found.items()
        )
        raise ReportError(
            f"{directory} holds runs of {len(found)} data sets ({listed}): they cannot be averaged; move "
            "each set's records (runs/*.jsonl) to a folder of its own, or rerun them with name=..."
        )
