"""The summary in a terminal of any width: the same numbers as report.md's table, split into narrow tables
(cost, scores as mean ± std, the scores' intervals) and each split again into as many tables as the width
needs, so no cell is ever cut and no number wraps over lines; model names are never cut."""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.table import Table
from rich.text import Text

from bcbench.analysis import CONFIDENCE, SweepAnalysis
from bcbench.report.format import fmt, missing
from bcbench.report.tables import SummaryColumn, seeds_description, summary_caption, summary_columns_of

PADDING = 2  # one space each side of a column


def terminal_tables(analysis: SweepAnalysis, width: int) -> list[Table]:
    """Tables that together show the summary, each at most ``width`` columns wide."""
    labels = list(analysis.groups)
    columns = summary_columns_of(analysis, interval=False)
    costs = [c for c in columns if c.metric.kind != "score"]
    scores = [c for c in columns if c.metric.kind == "score"]
    groups = [
        (f"Cost per model ({seeds_description(analysis.groups)})", costs),
        ("Test scores: mean ± std", scores),
        (f"Test scores: {CONFIDENCE:.0%} interval of the mean", _interval_columns(analysis, scores)),
    ]
    tables = [
        _table(title, labels, part, width)
        for title, group in groups
        if group
        for part in _packed(labels, group, width)
    ]
    if tables:
        tables[-1].caption = f"{summary_caption(analysis)} Data: {analysis.data_source or 'unknown'}."
    return tables


def _interval_columns(analysis: SweepAnalysis, scores: Sequence[SummaryColumn]) -> list[SummaryColumn]:
    stats = {(row["model"], row["metric"]): row for row in analysis.summary.to_dict("records")}
    columns = []
    for column in scores:
        cells = [_interval(stats.get((label, column.metric.name), {})) for label in analysis.groups]
        columns.append(SummaryColumn(column.metric, column.header, cells, [False] * len(cells)))
    return columns


def _interval(summary: dict) -> str:
    if not summary or not summary.get("n"):
        return "-"
    if missing(summary.get("ci_t_low")):
        return summary.get("ci_note") or "no interval"
    return f"[{fmt(summary['ci_t_low'])}, {fmt(summary['ci_t_high'])}]"


def column_width(header: str, cells: Sequence[str]) -> int:
    """The narrowest width that fits every cell whole and the header with one word per line at worst."""
    return max([*(len(cell) for cell in cells), *(len(word) for word in header.split())]) + PADDING


def _packed(labels: Sequence[str], columns: Sequence[SummaryColumn], width: int) -> list[list[SummaryColumn]]:
    """The columns in order, in as few groups as fit ``width`` beside the model column."""
    base = column_width("model", labels)
    parts: list[list[SummaryColumn]] = [[]]
    used = base
    for column in columns:
        needed = column_width(column.header, column.cells)
        if parts[-1] and used + needed > width:
            parts.append([])
            used = base
        parts[-1].append(column)
        used += needed
    return parts


def _table(title: str, labels: Sequence[str], columns: Sequence[SummaryColumn], width: int) -> Table:
    """A table of fixed column widths: whole headers when they fit in ``width``, else headers wrapped."""
    model = column_width("model", labels)
    natural = [max(len(c.header), *(len(cell) for cell in c.cells)) + PADDING for c in columns]
    fits = model + sum(natural) <= width
    widths = natural if fits else [column_width(c.header, c.cells) for c in columns]
    table = Table(title=title, box=box.SIMPLE_HEAD, padding=(0, 1), show_edge=False, caption_justify="left")
    table.add_column("model", no_wrap=True, width=model - PADDING)
    for column, size in zip(columns, widths, strict=True):
        table.add_column(column.header, justify="right", width=size - PADDING)
    for index, label in enumerate(labels):
        cells = [Text(c.cells[index], style="bold green" if c.best[index] else "") for c in columns]
        table.add_row(Text(label), *cells)
    return table
