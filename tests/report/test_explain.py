"""The report's explanation section, explain.csv and the figure: rendered from the analysis, written with the
rest of the report, rebuilt identically by ``bcbench compare`` from the stored files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bcbench.analysis import ExplainAnalysis
from bcbench.report import rebuild
from bcbench.report.explain import explain_markdown
from bcbench.report.explain_figure import explanation_grid
from tests.analysis.fake_explain import SCORES, SOURCES, write_explained
from tests.report.fake_records import _write, sweep_records


def test_the_section_puts_the_references_beside_the_models() -> None:
    summary = {"n": 3, "std": 0.1}
    analysis = ExplainAnalysis(
        methods=["gradcam"],
        scores_named=["pointing", "iou10"],
        settings={"target": "predicted_class", "tolerance_px": 15},
        scores=[
            {
                "model": "m",
                "method": "gradcam",
                "score": "pointing",
                "mean": 0.61,
                "ci_low": 0.5,
                "ci_high": 0.7,
            }
            | summary,
            {"model": "m", "method": "gradcam", "score": "iou10", "mean": 0.2, "ci_low": 0.2, "ci_high": 0.2}
            | summary,
        ],
        references=[
            {"model": "centre prior", "method": "centre", "score": "pointing", "mean": 0.55, "ci_low": 0.55}
            | {"ci_high": 0.55, "n": 3},
        ],
    )

    text = "\n".join(explain_markdown(analysis, "explain.png"))

    assert "| model | method | pointing game | IoU top 10% |" in text
    assert "| m | gradcam | 0.610 [0.500, 0.700] | 0.200 |" in text
    assert "| centre prior | centre | 0.550 | - |" in text
    assert "explaining the predicted class" in text and "![Where each model looks](explain.png)" in text
    assert "One seed per model: no repeatability." in text
    assert explain_markdown(None) == []


def test_the_figure_is_a_grid_of_images_by_models() -> None:
    rng = np.random.default_rng(0)
    masks = np.zeros((3, 8, 8), bool)
    masks[:, 2:5, 3:6] = True
    maps = {"model a": rng.random((3, 8, 8)), "model b": np.zeros((3, 8, 8))}

    figure = explanation_grid(
        rng.integers(0, 256, (3, 3, 8, 8)), masks, maps, row_titles=["a", "b", "c"], title="Grad-CAM"
    )

    axes = figure.get_axes()
    assert len(axes) == 9
    assert [axes[k].get_title() for k in range(3)] == ["image, lesion", "model a", "model b"]
    assert axes[3].get_ylabel() == "b"
    assert len(axes[1].collections) == 1  # the lesion's outline
    assert len(axes[1].images) == 2  # the image and the map over it


def explained_sweep(directory: Path) -> Path:
    """The report tests' three models x three seeds, each run with stored explanation files."""
    records = sweep_records()
    rng = np.random.default_rng(3)
    for record in records:
        values = {f"{source}.{score}": list(rng.random(3)) for source in SOURCES for score in SCORES}
        maps = rng.random((3, 8, 8)).astype(np.float16)
        record["explain"] = write_explained(directory, record["run_id"], values, maps).to_json()
        record["config"]["explain"] = {"enabled": True, "methods": ["gradcam"], "target": "true_class"}
    return _write(directory, records)


@pytest.mark.slow  # over 1.5 s: a whole report with figures
def test_a_rebuild_gives_the_section_the_table_and_the_figure_from_the_stored_files(tmp_path: Path) -> None:
    sweep = explained_sweep(tmp_path / "sweep")

    written = rebuild([sweep], tmp_path / "report")  # what bcbench compare runs

    assert {"explain", "explain_figure"} <= set(written)  # the table and the figure

    report = tmp_path / "report"
    assert (report / "explain.png").stat().st_size > 0
    table = pd.read_csv(report / "explain.csv")
    assert {"scores", "references", "randomisation", "pairwise", "repeatability", "images"} <= set(
        table["part"]
    )
    assert len(table[table["part"] == "scores"]) == 3 * 2 * len(
        SCORES
    )  # models x (method, randomised) x scores
    markdown = (report / "report.md").read_text()
    section = markdown[markdown.index("## Where the models look") : markdown.index("## Per run")]
    assert "](explain.png)" in section and "| centre prior | centre |" in section
    assert "explain.png)" not in markdown[markdown.index("## Figures") :]  # shown once, in its section
