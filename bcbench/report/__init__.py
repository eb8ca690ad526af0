"""Reports: render what ``bcbench.analysis`` computed, never compute. Number formatting and table models
(``format``), the summary and pairwise tables (``tables``), report.md as a list of sections
(``markdown`` and its parts ``clinical``, ``crossval``, ``delong``, ``external``, ``study``, ``stored``),
figures (``figures``, ``clinical_figures``), sweeps side by side (``compare``) and writing every file
(``write``)."""

from bcbench.report.compare import comparison_table
from bcbench.report.markdown import render_markdown
from bcbench.report.tables import pairwise_grid, summary_grid, summary_table
from bcbench.report.terminal import terminal_tables
from bcbench.report.write import rebuild, write_report

__all__ = [
    "comparison_table",
    "pairwise_grid",
    "rebuild",
    "render_markdown",
    "summary_grid",
    "summary_table",
    "terminal_tables",
    "write_report",
]
