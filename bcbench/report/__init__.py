"""Reports from stored run records (never from training): frames (``frames``), number formatting and
table models (``format``), the summary and pairwise tables (``tables``), the study's own numbers
(``study``), report.md as a list of sections (``markdown``), figures (``figures``), loading a sweep
folder (``load``), writing every file (``write``) and sweeps side by side (``compare``)."""

from bcbench.report.compare import compare_sweeps
from bcbench.report.frames import pairwise_frame, summary_frame
from bcbench.report.load import ReportError, load_sweep
from bcbench.report.markdown import data_audit_markdown, render_markdown
from bcbench.report.study import study_reference_rows
from bcbench.report.tables import pairwise_table, summary_table
from bcbench.report.write import rebuild, write_report

__all__ = [
    "ReportError",
    "compare_sweeps",
    "data_audit_markdown",
    "load_sweep",
    "pairwise_frame",
    "pairwise_table",
    "rebuild",
    "render_markdown",
    "study_reference_rows",
    "summary_frame",
    "summary_table",
    "write_report",
]
