"""Writing a sweep's report files from its analysis, and rebuilding them from stored records
(``bench/compare.py``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.markup import escape

from bcbench.analysis import (
    ReportError,
    SweepAnalysis,
    analyse,
    compare_sweeps,
    comparison_folder,
    config_differences,
    load_sweep_with_notes,
)
from bcbench.atomic import write_atomic
from bcbench.record import RunRecord, class_names, records_frame
from bcbench.report.clinical_figures import reliability_figure, roc_pr_figure
from bcbench.report.compare import comparison_table
from bcbench.report.deploy import deploy_tables, form_points
from bcbench.report.explain_figure import explain_figure
from bcbench.report.figures import confusion_figure, curves_figure, pareto_figure
from bcbench.report.format import clean_rows
from bcbench.report.markdown import render_markdown
from bcbench.report.robustness import robustness_tables
from bcbench.report.robustness_figures import robustness_figures
from bcbench.report.tables import pairwise_grid
from bcbench.report.terminal import terminal_tables
from bcbench.report.timing import timing_line


def write_report(
    directory: str | Path,
    records: Iterable[RunRecord | dict[str, Any]] | None = None,
    console: Console | None = None,
    source: str | Path | None = None,
) -> dict[str, Path]:
    """Analyse a sweep and write summary.csv, runs.csv, pairwise.csv, the analysis CSVs, report.md and the
    figures into ``directory``.

    ``source`` is the sweep folder whose records (unless ``records`` are given) and stored predictions are
    analysed; default ``directory``. With a ``console`` the summary and pairwise tables are printed on it.
    Returns {name: path} of the files written.
    """
    directory = Path(directory)
    source = Path(source) if source is not None else directory
    notes: list[str] = []
    if records is None:
        records, notes = load_sweep_with_notes(source)
    for note in notes:
        if console is not None:
            console.print(f"[yellow]warning:[/] {escape(note)}")
    analysis = analyse(records, source)
    if not analysis.ok:
        raise ReportError(f"{directory}: no successful runs to report")
    written = _write_tables(directory, analysis)
    figure_paths = _write_figures(directory, analysis)
    written.update(figure_paths)
    written["report"] = write_atomic(directory / "report.md", render_markdown(analysis, figure_paths, notes))
    if console is not None:
        _print_tables(console, analysis, written)
    return written


def _write_tables(directory: Path, analysis: SweepAnalysis) -> dict[str, Path]:
    clinical = analysis.clinical
    frames = {
        "summary": analysis.summary,
        "runs": records_frame(analysis.records),
        "pairwise": analysis.pairwise,
        **deploy_tables(analysis.deploy),
        "pooled_oof": analysis.pooled,
        "external": pd.DataFrame(analysis.external) if analysis.external else None,
        "operating_points": pd.DataFrame(clinical.operating) if clinical.operating else None,
        "calibration": pd.DataFrame(clinical.calibration) if clinical.calibration else None,
        "delong": pd.DataFrame(clinical.delong) if clinical.delong else None,
        "delong_over_folds": pd.DataFrame(clinical.delong_over_folds) if clinical.delong_over_folds else None,
        "explain": analysis.explain.frame() if analysis.explain is not None else None,
        **robustness_tables(analysis.robustness),
    }
    return {
        name: write_atomic(directory / f"{name}.csv", frame.to_csv(index=False))
        for name, frame in frames.items()
        if frame is not None
    }


def _write_figures(directory: Path, analysis: SweepAnalysis) -> dict[str, Path]:
    clinical = analysis.clinical
    positive = clinical.settings.get("positive")
    source = analysis.data_source
    drawn = {
        "confusion": confusion_figure(
            analysis.confusion, class_names(analysis.ok), directory / "confusion.png", source
        ),
        "curves": curves_figure(analysis.curves, directory / "curves.png", source),
        "pareto": pareto_figure(
            analysis.pareto, directory / "pareto.png", source, form_points(analysis.deploy)
        ),
        "reliability": reliability_figure(clinical.reliability, directory / "reliability.png", source),
        "roc_pr": (
            roc_pr_figure(clinical.roc_pr, positive, directory / "roc_pr.png", source) if positive else None
        ),
        "explain_figure": explain_figure(analysis.explain.figure, directory / "explain.png")
        if analysis.explain
        else None,
        **robustness_figures(analysis.robustness, directory),
    }
    return {name: path for name, path in drawn.items() if path is not None}


def _print_tables(console: Console, analysis: SweepAnalysis, written: dict[str, Path]) -> None:
    for table in terminal_tables(analysis, console.width):
        console.print(table)
    pairwise = analysis.pairwise
    if not pairwise.empty and "f1_macro" in set(pairwise["metric"]):
        rows = clean_rows(pairwise[pairwise["metric"] == "f1_macro"].to_dict("records"))
        console.print(pairwise_grid(rows, "f1_macro").rich())
    unstable = timing_line(analysis)
    if unstable:
        console.print(f"[yellow]{escape(unstable)}[/]")
    if analysis.failed:
        console.print(f"[red]{len(analysis.failed)} failed run(s)[/]; see {escape(str(written['report']))}")
    console.print("wrote " + ", ".join(escape(str(path)) for path in written.values()))


def rebuild(
    directories: Sequence[str | Path], out: str | Path | None = None, console: Console | None = None
) -> dict[str, Path]:
    """What ``bench/compare.py`` does: one folder -> every table, file and figure again (into ``out`` when
    given); several -> what differs between their configs, the side-by-side table, ``comparison.csv`` and
    ``differences.txt`` (in ``out``, or a new folder beside the first: never inside a sweep). Raises
    ReportError (a BcbenchError) on a missing folder or file, or a folder mixing data sets."""
    if not directories:
        raise ReportError("give at least one sweep folder")
    if len(directories) == 1:
        return write_report(Path(out or directories[0]), console=console, source=directories[0])
    frame = compare_sweeps(directories)
    differences = config_differences(directories)
    folder = Path(out) if out is not None else comparison_folder(directories)
    if console is not None:
        for line in differences or ["the sweeps' configs differ only in models, seeds or swept axes"]:
            console.print(f"differs: {escape(line)}", soft_wrap=True)
        console.print(comparison_table(frame))
    written = {
        "comparison": write_atomic(folder / "comparison.csv", frame.to_csv(index=False)),
        "differences": write_atomic(folder / "differences.txt", "".join(f"{line}\n" for line in differences)),
    }
    if console is not None:
        console.print("wrote " + ", ".join(escape(str(path)) for path in written.values()))
    return written
