"""Several sweeps side by side, rendered: each model's accuracy and macro F1 per sweep."""

from __future__ import annotations

import pandas as pd
from rich.table import Table
from rich.text import Text

from bcbench.analysis import COMPARED
from bcbench.report.format import fmt, missing


def comparison_table(frame: pd.DataFrame) -> Table:
    """A Rich table of ``compare_sweeps``'s frame: per model, n / accuracy / macro F1 of each sweep."""
    sweeps = list(dict.fromkeys(frame["sweep"]))
    table = Table(title="Sweeps side by side (mean ± std over seeds)")
    table.add_column("model")
    for sweep in sweeps:
        table.add_column(f"{sweep}\nn", justify="right")
        table.add_column(f"{sweep}\naccuracy", justify="right")
        table.add_column(f"{sweep}\nmacro F1", justify="right")
    for model, rows in frame.groupby("model", sort=False):
        cells: list[str] = [str(model)]
        for row in rows.to_dict("records"):
            cells.append(str(row["n"]) if row["n"] else "-")
            for metric in COMPARED:
                mean, std = row[f"{metric}_mean"], row[f"{metric}_std"]
                cells.append(
                    fmt(None if missing(mean) else mean) + ("" if missing(std) else f" ± {fmt(std)}")
                )
        table.add_row(*(Text(c) for c in cells))
    return table
