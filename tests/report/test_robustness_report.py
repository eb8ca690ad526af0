"""Corruption curves, ensembles and selective prediction in report.md, the CSVs and the two figures, rebuilt
from the stored files alone (what ``bcbench compare`` does)."""

from __future__ import annotations

import pandas as pd
import pytest

from bcbench.analysis import analyse
from bcbench.record import read_sweep
from bcbench.report import rebuild, render_markdown, write_report
from bcbench.report.robustness import robustness_tables
from tests.analysis.fake_robust import robust_run


def fake_sweep(directory):
    for model in ("a", "b"):
        for seed in (0, 1):
            robust_run(directory, model, seed, ("speckle_noise", "gaussian_blur"), (1, 5), reference="a")
    return directory


@pytest.fixture(scope="module")
def analysis(tmp_path_factory):
    directory = fake_sweep(tmp_path_factory.mktemp("robust-report"))
    return analyse(read_sweep(directory).records, directory)


def test_the_sections_name_what_was_computed(analysis):
    markdown = render_markdown(analysis, {})
    for heading in (
        "## Corruption curves",
        "### Ranking under corruption",
        "## Ensembles of stored predictions",
    ):
        assert heading in markdown
    assert "## Selective prediction" in markdown and "sens. malignant @90%" in markdown
    assert "| speckle_noise | a | 1.5 / 5.5 |" in markdown  # pixel change per severity, mean over runs
    assert "relative to a" in markdown and "(corruption_curves.png)" not in markdown


def test_the_tables_hold_the_analysis_numbers(analysis):
    tables = robustness_tables(analysis.robustness)
    table = tables["corruption"]
    assert set(table["corruption"]) == {"speckle_noise", "gaussian_blur", "mean"}
    assert table.loc[table["model"] == "a", "ce"].dropna().tolist() == pytest.approx([1.0, 1.0])
    assert table["distance"].iloc[0] == "1.5 / 5.5"
    assert sorted(tables["ensembles"]["kind"]) == ["models", "seeds", "seeds"]
    assert tables["selective"]["model"].tolist() == ["a", "b"]
    assert len(tables["corruption_runs"]) == 4 * (
        1 + 2 * 2
    )  # 4 seeds x (clean + 2 corruptions x 2 severities)


@pytest.mark.slow
def test_the_report_files_and_figures_are_rebuilt_from_the_stored_files(tmp_path):
    directory = fake_sweep(tmp_path / "sweep")
    files = write_report(directory)
    assert files["corruption_curves"].stat().st_size > 0 and files["risk_coverage"].stat().st_size > 0
    markdown = files["report"].read_text()
    assert markdown.count("](corruption_curves.png)") == 1 and markdown.count("](risk_coverage.png)") == 1
    again = rebuild([directory], out=tmp_path / "again")
    assert again["report"].read_text() == markdown
    for name in ("corruption", "corruption_runs", "corruption_severities", "ensembles", "selective"):
        assert pd.read_csv(again[name]).equals(pd.read_csv(files[name]))
