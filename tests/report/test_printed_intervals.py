"""Every interval the terminal, report.md and summary.csv show contains the value printed beside it, stays in
the metric's range, and is withheld below 3 values or when all values are equal (saying so)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from bcbench.analysis import analyse
from bcbench.report import summary_grid, write_report
from tests.report.fake_records import _render, _write, make_record

PERFECT = [[10, 0, 0], [0, 5, 0], [0, 0, 8]]
HALF_NORMAL = [[10, 0, 0], [0, 5, 0], [4, 0, 4]]  # recall normal 0.5
EDGES = {
    "all_one": [PERFECT] * 3,  # every score 1.0: all equal (n = 3)
    "one_half": [PERFECT] * 9 + [HALF_NORMAL],  # nine seeds at 1.0, one at 0.5 (was [0.991, 1.000])
    "two_seeds": [PERFECT, HALF_NORMAL],  # n = 2: no interval
    "three_seeds": [PERFECT, HALF_NORMAL, [[9, 1, 0], [0, 5, 0], [1, 0, 7]]],  # n = 3
}
INTERVAL = re.compile(r"(-?\d+\.\d+)(?: ± -?\d+\.\d+)? \[(-?\d+\.\d+), (-?\d+\.\d+)\]")


@pytest.fixture(scope="module")
def edge_sweep(tmp_path_factory):
    directory = tmp_path_factory.mktemp("edges")
    records = [
        make_record(model, seed, matrix)
        for model, matrices in EDGES.items()
        for seed, matrix in enumerate(matrices)
    ]
    _write(directory, records)
    write_report(directory)
    return directory, records


def check_intervals(text: str) -> int:
    """Every ``value [low, high]`` in ``text`` has low <= value <= high; returns how many were checked."""
    found = INTERVAL.findall(text)
    for value, low, high in found:
        assert float(low) <= float(value) <= float(high), (value, low, high)
    return len(found)


@pytest.mark.slow  # over 1 s: writes a whole report with figures
def test_the_report_prints_no_interval_that_excludes_its_value(edge_sweep):
    directory, _ = edge_sweep
    markdown = (directory / "report.md").read_text()
    assert check_intervals(markdown) >= 6
    assert "all equal (n = 3)" in markdown and "n = 2: no interval" in markdown
    assert "[1.000, 1.000]" not in markdown  # no zero-width interval reads as certainty


@pytest.mark.slow  # over 1 s: shares the whole report above
def test_summary_csv_withholds_intervals_and_keeps_them_in_range(edge_sweep):
    directory, _ = edge_sweep
    summary = pd.read_csv(directory / "summary.csv")
    scores = summary[summary["metric"].isin(["accuracy", "f1_macro", "recall_normal", "balanced_accuracy"])]
    with_interval = scores.dropna(subset=["ci_t_low"])
    assert (
        (with_interval["ci_t_low"] <= with_interval["mean"])
        & (with_interval["mean"] <= with_interval["ci_t_high"])
    ).all()
    assert ((with_interval["ci_t_low"] >= 0) & (with_interval["ci_t_high"] <= 1)).all()
    by_model = scores.set_index(["model", "metric"])
    assert by_model.loc[("all_one", "recall_normal"), "ci_note"] == "all equal (n = 3)"
    assert by_model.loc[("two_seeds", "recall_normal"), "ci_note"] == "n = 2: no interval"
    assert np.isnan(by_model.loc[("two_seeds", "recall_normal"), "ci_t_low"])
    half = by_model.loc[("one_half", "recall_normal")]
    assert half["mean"] == pytest.approx(0.95) and half["ci_t_low"] < 0.95 and half["ci_t_high"] == 1.0
    assert (
        summary["ci_boot_low"].notna().sum()
        == summary[summary["model"] == "one_half"]["ci_boot_low"].notna().sum()
    )


@pytest.mark.slow  # over 1 s: shares the whole report above
def test_the_terminal_table_shows_the_same_cells(edge_sweep):
    _, records = edge_sweep
    grid = summary_grid(analyse(records))
    cells = " ".join(cell for row in grid.rows for cell in row)
    assert check_intervals(cells) >= 4
    assert "all equal (n = 3)" in cells and "n = 2: no interval" in cells
    text, _ = _render(grid.rich())
    assert "n = 2: no interval" in text.replace("\n", " ") or "no interval" in text
