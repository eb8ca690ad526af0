"""Writing a sweep's report files, and rebuilding them from stored records (``bench/compare.py``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.markup import escape

from bcbench.atomic import write_atomic
from bcbench.record import RunRecord, newest_per_run, records_frame
from bcbench.report.analysis import Analysis, analyse
from bcbench.report.clinical_figures import reliability_figure, roc_pr_figure
from bcbench.report.compare import compare_sweeps
from bcbench.report.crossval import is_cross_validation, pooled_out_of_fold
from bcbench.report.external import external_names, external_rows
from bcbench.report.figures import confusion_figure, curves_figure, pareto_figure
from bcbench.report.format import clean_rows
from bcbench.report.frames import pairwise_frame, summary_frame
from bcbench.report.load import ReportError, load_sweep, load_sweep_with_notes
from bcbench.report.markdown import render_markdown
from bcbench.report.tables import pairwise_grid, summary_table


def write_report(
    directory: str | Path,
    records: Iterable[RunRecord | dict[str, Any]] | None = None,
    console: Console | None = None,
) -> dict[str, Path]:
    """Write summary.csv, runs.csv, pairwise.csv, report.md and the figures into ``directory``.

    ``records`` default to those stored in ``directory``. With a ``console`` the summary and
    pairwise tables are printed on it. Returns {name: path} of the files written.
    """
    directory = Path(directory)
    notes: list[str] = []
    if records is None:
        records, notes = load_sweep_with_notes(directory, console)
    newest = newest_per_run(records)
    ok = [record for record in newest if record.ok]
    if not ok:
        raise ReportError(f"{directory}: no successful runs to report")
    pairwise = pairwise_frame(ok)
    analysis = analyse(ok, directory)
    written = _write_tables(directory, newest, ok, pairwise)
    written.update(_write_analysis(directory, analysis))
    figure_paths = {**_write_figures(directory, ok), **_clinical_figures(directory, analysis)}
    written.update(figure_paths)
    markdown = render_markdown(newest, pairwise, figure_paths, notes, directory, analysis)
    written["report"] = write_atomic(directory / "report.md", markdown)
    if console is not None:
        _print_tables(console, ok, pairwise, newest, written)
    return written


def _write_tables(
    directory: Path, newest: list[RunRecord], ok: list[RunRecord], pairwise: pd.DataFrame
) -> dict[str, Path]:
    frames = {"summary": summary_frame(ok), "runs": records_frame(newest), "pairwise": pairwise}
    if is_cross_validation(ok):
        frames["pooled_oof"] = pooled_out_of_fold(ok, directory)
    if external_names(ok):
        frames["external"] = pd.DataFrame(external_rows(ok))
    return {
        name: write_atomic(directory / f"{name}.csv", frame.to_csv(index=False))
        for name, frame in frames.items()
    }


def _write_analysis(directory: Path, analysis: Analysis) -> dict[str, Path]:
    tables = {
        "operating_points": analysis.operating,
        "calibration": analysis.calibration,
        "delong": analysis.delong,
    }
    return {
        name: write_atomic(directory / f"{name}.csv", pd.DataFrame(rows).to_csv(index=False))
        for name, rows in tables.items()
        if rows
    }


def _clinical_figures(directory: Path, analysis: Analysis) -> dict[str, Path]:
    drawn = {"reliability": reliability_figure(analysis.units, directory / "reliability.png")}
    positive = analysis.settings.get("positive")
    if positive is not None:
        drawn["roc_pr"] = roc_pr_figure(analysis.units, positive, directory / "roc_pr.png")
    return {name: path for name, path in drawn.items() if path is not None}


def _write_figures(directory: Path, ok: list[RunRecord]) -> dict[str, Path]:
    drawn = {
        "confusion": confusion_figure(ok, directory / "confusion.png"),
        "curves": curves_figure(ok, directory / "curves.png"),
        "pareto": pareto_figure(ok, directory / "pareto.png"),
    }
    return {name: path for name, path in drawn.items() if path is not None}


def _print_tables(
    console: Console,
    ok: list[RunRecord],
    pairwise: pd.DataFrame,
    newest: list[RunRecord],
    written: dict[str, Path],
) -> None:
    console.print(summary_table(ok))
    if not pairwise.empty and "f1_macro" in set(pairwise["metric"]):
        rows = clean_rows(pairwise[pairwise["metric"] == "f1_macro"].to_dict("records"))
        console.print(pairwise_grid(rows, "f1_macro").rich())
    failed = [record for record in newest if not record.ok]
    if failed:
        console.print(f"[red]{len(failed)} failed run(s)[/]; see {escape(str(written['report']))}")
    console.print("wrote " + ", ".join(escape(str(path)) for path in written.values()))


def rebuild(
    directories: Sequence[str | Path], out: str | Path | None = None, console: Console | None = None
) -> dict[str, Path]:
    """What ``bench/compare.py`` does: one folder -> every table, file and figure again (into
    ``out`` when given); several -> the side-by-side table and ``comparison.csv`` (in ``out`` or
    the first folder). Raises ReportError (a BcbenchError) on a missing folder or file."""
    if not directories:
        raise ReportError("give at least one sweep folder")
    if len(directories) == 1:
        records = load_sweep(directories[0], console)
        return write_report(Path(out or directories[0]), records, console)
    table, frame = compare_sweeps(directories, console)
    if console is not None:
        console.print(table)
    path = write_atomic(Path(out or directories[0]) / "comparison.csv", frame.to_csv(index=False))
    if console is not None:
        console.print(f"wrote {escape(str(path))}")
    return {"comparison": path}
