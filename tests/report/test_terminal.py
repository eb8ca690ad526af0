"""The summary in a terminal of 80 and of 120 columns: every cell whole, no line wider than the terminal,
model names never cut, every number of report.md's table there."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from bcbench.analysis import analyse
from bcbench.report import summary_grid, terminal_tables
from tests.report.fake_records import CONFUSIONS, make_record, sweep_records


def render(analysis, width: int) -> str:
    console = Console(width=width, file=io.StringIO(), record=True)
    for table in terminal_tables(analysis, width):
        console.print(table)
    return console.export_text()


def long_named_records():
    axes = {"train.lr": 0.001, "data.split_seed": 12}
    return [make_record("mobilenet_v3_large", seed, CONFUSIONS["mid"][seed], axes=axes) for seed in range(3)]


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("records", [sweep_records(), long_named_records()], ids=["costs", "long-names"])
def test_every_cell_is_whole_and_every_line_fits(records, width):
    analysis = analyse(records)
    text = render(analysis, width)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width
    assert "…" not in text
    grid = summary_grid(analysis)
    for row in grid.rows:
        model, _, *cells = row
        assert any(line.lstrip().startswith(model) for line in lines), model  # never cut
        for cell in cells:  # report.md's cell: the mean ± std part and the interval part, each whole
            for part in cell.replace(" [", "|[").replace(" (", "|(").split("|"):
                assert part.strip() in text, (part, width)


def test_a_wide_terminal_needs_fewer_tables():
    analysis = analyse(sweep_records())
    assert len(terminal_tables(analysis, 200)) <= len(terminal_tables(analysis, 80)) == 3


def test_the_data_source_is_named_under_the_tables():
    analysis = analyse(sweep_records())  # data.root /data/busi
    assert analysis.data_source == "busi"
    assert "Data: busi." in " ".join(render(analysis, 120).split())
    synthetic = sweep_records()
    for record in synthetic:
        record["config"]["data"]["root"] = None
    assert "Data: embedded synthetic data set." in " ".join(render(analyse(synthetic), 80).split())
