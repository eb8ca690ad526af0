"""Formatting shared by the Rich and markdown tables: numbers, intervals, p-values, table models."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.table import Table
from rich.text import Text


def fmt(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}"


def fmt_sig(value: float | None) -> str:
    """Three significant figures without scientific notation for ordinary magnitudes."""
    if value is None or math.isnan(value):
        return "-"
    if value == 0 or abs(value) >= 100:
        return f"{value:.0f}"
    digits = max(0, 2 - int(math.floor(math.log10(abs(value)))))
    return f"{value:.{digits}f}"


def fmt_stat(summary: dict[str, Any], digits: int = 3, spread: bool = True) -> str:
    """``mean ± std [ci_t_low, ci_t_high]`` of a ``describe`` summary; without an interval the reason in
    parentheses instead (``n = 2: no interval``, ``all equal (n = 5)``); just the value with one; '-' with
    none. ``spread``: show ± std."""
    if not summary or not summary.get("n") or missing(summary.get("mean")):
        return "-"
    text = fmt(summary["mean"], digits)
    if summary["n"] == 1:
        return text
    if spread and not missing(summary.get("std")) and summary["std"] > 0:
        text += f" ± {fmt(summary['std'], digits)}"
    if missing(summary.get("ci_t_low")):
        return f"{text} ({summary.get('ci_note') or 'no interval'})"
    return f"{text} [{fmt(summary['ci_t_low'], digits)}, {fmt(summary['ci_t_high'], digits)}]"


def fmt_p(p: float | None) -> str:
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


@dataclass
class TableModel:
    """A table as plain strings: headers, rows, which cells are best in their column, a caption."""

    title: str
    headers: list[str]
    rows: list[list[str]]
    best: list[list[bool]]
    caption: str = ""

    def rich(self) -> Table:
        """Rich table; an interval goes on its own line so the table fits a terminal."""
        table = Table(title=self.title, caption=self.caption or None, caption_justify="left")
        for index, header in enumerate(self.headers):
            numeric = numeric_column([row[index] for row in self.rows])
            table.add_column(header, justify="right" if numeric else "left", no_wrap=index == 0)
        for row, best in zip(self.rows, self.best, strict=True):
            table.add_row(
                *(
                    Text(cell.replace(" [", "\n["), style="bold green" if b else "")
                    for cell, b in zip(row, best, strict=True)
                )
            )
        return table

    def markdown(self) -> str:
        rows = [
            [f"**{c}**" if b and c != "-" else c for c, b in zip(row, best, strict=True)]
            for row, best in zip(self.rows, self.best, strict=True)
        ]
        return markdown_table(self.headers, rows)


NUMERIC_CELL = re.compile(r"^(\*\*)?[<+-]?\d")


def numeric_column(cells: Sequence[str]) -> bool:
    """True when every filled cell starts like a number (such columns are right-aligned)."""
    values = [c for c in cells if c not in ("", "-", "n/a")]
    if not values:
        return any(c in ("-", "n/a") for c in cells)
    return all(NUMERIC_CELL.match(c) for c in values)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured markdown table; pipes and newlines inside cells are escaped; columns
    whose cells are all numbers (or '-', 'n/a') are right-aligned."""

    def cell(value: Any) -> str:
        return " ".join(str(value).split()).replace("|", "\\|") if value is not None else "-"

    text_rows = [[cell(v) for v in row] for row in rows]
    numeric = [numeric_column([row[i] for row in text_rows]) for i in range(len(headers))]
    lines = ["| " + " | ".join(cell(h) for h in headers) + " |"]
    lines.append("|" + "|".join("---:" if right else "---" for right in numeric) + "|")
    lines += ["| " + " | ".join(row) + " |" for row in text_rows]
    return "\n".join(lines)


def best_flags(means: list[float | None], better: str | None) -> list[bool]:
    values = [m for m in means if not missing(m)]
    if better is None or len(values) < 2 or len(set(values)) < 2:
        return [False] * len(means)
    target = max(values) if better == "high" else min(values)
    return [not missing(m) and math.isclose(m, target, rel_tol=1e-12, abs_tol=1e-15) for m in means]


def clean_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """pandas turns None into NaN; give the formatters None back."""
    return [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()} for row in rows
    ]
