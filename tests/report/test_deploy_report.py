"""The deployed forms in the report: the section's table cells (numbers worked out by hand from the fake
records), failures, notes and the recompute line; the CSVs; the forms as their own points on the Pareto
figure, only on a latency axis."""

from __future__ import annotations

import numpy as np
from matplotlib.container import ErrorbarContainer

from bcbench.analysis import ParetoPoints
from bcbench.analysis.deploy import analyse_deploy
from bcbench.report.deploy import deploy_markdown, deploy_tables
from bcbench.report.figures import build_pareto
from tests.analysis.fake_deploy import holdout_records


def section(stored=None) -> str:
    return "\n".join(deploy_markdown(analyse_deploy(holdout_records()), stored))


def row_of(text: str, form: str) -> list[str]:
    line = next(line for line in text.splitlines() if line.startswith(f"| cnn | {form} |"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_the_table_shows_scores_differences_agreement_latency_and_size():
    text = section()
    assert text.startswith("## Deployed forms") and "at 1 thread(s)" in text
    int8 = row_of(text, "onnx_int8")
    assert int8[2] == "3 (1 failed)"
    assert int8[3].startswith("0.740 ± 0.036 [")  # mean and sd of 0.78, 0.71, 0.73
    assert int8[5].startswith("-0.010 [")  # -0.02, +0.01, -0.02 against eager
    assert int8[7] == "0.990 (0.980)" and int8[8] == "5.0e-02"
    assert int8[9] == "2.20" and int8[10] == "5.00x" and int8[11] == "10.2"  # median of 10/2, 12/3, 11/2.2
    onnx = row_of(text, "onnx")
    assert onnx[5] == "+0.000 (identical values: no test)" and onnx[10] == "2.00x"
    assert row_of(text, "eager")[5] == "-" and row_of(text, "eager")[10] == "1.00x"


def test_failures_notes_and_the_recompute_line():
    text = section()
    assert "- cnn · onnx_int8 (1 run(s)): INT8 quantisation failed: Unsupported op" in text
    assert "- note: a note" in text and "recomputed" not in text  # nothing stored, nothing said
    checked = section({f"cnn-s{seed}": [] for seed in range(4)})
    assert "Every deployed form's test scores of all 4 runs" in checked
    differing = section({"cnn-s0": ["deploy.onnx.accuracy"], "cnn-s1": ["accuracy"]})
    assert "differ from their records: cnn-s0 (deploy.onnx.accuracy)." in differing
    assert deploy_markdown(None) == []


def test_the_csvs_hold_the_table_and_every_run_and_form():
    tables = deploy_tables(analyse_deploy(holdout_records()))
    assert list(tables) == ["deploy", "deploy_runs"]
    assert len(tables["deploy"]) == 3 and len(tables["deploy_runs"]) == 12
    assert {"accuracy_diff_mean_diff", "top1_agreement_min", "speedup", "file_mb"} <= set(tables["deploy"])
    assert deploy_tables(None) == {}


def test_forms_are_their_own_points_on_a_latency_pareto_figure():
    forms = analyse_deploy(holdout_records()).points
    points = ParetoPoints("latency_p50_ms", ["cnn"], [10.5], [0.575], [0.06], [0], 0, [9.0], [12.0])
    figure = build_pareto(points, None, forms)
    ax = figure.axes[0]
    assert len([c for c in ax.containers if isinstance(c, ErrorbarContainer)]) == 1  # the models'
    int8 = next(line for line in ax.lines if line.get_label().startswith("deployed form onnx_int8"))
    assert np.allclose(int8.get_xdata(), [2.2]) and np.allclose(
        int8.get_ydata(), [np.mean([0.58, 0.52, 0.50])]
    )
    assert int8.get_marker() == "^" and "1 thread(s)" in int8.get_label()
    labels = [text.get_text() for text in figure.legends[0].get_texts()]
    assert sum(label.startswith("deployed form") for label in labels) == 3
    assert {text.get_text() for text in ax.texts} >= {"cnn onnx_int8", "cnn onnx"}
    assert "cnn eager" not in {text.get_text() for text in ax.texts}  # eager sits by the model's point
    by_params = ParetoPoints("params", ["cnn"], [1e6], [0.575], [0.06], [0], 0, [1e6], [1e6])
    unmarked = build_pareto(by_params, None, forms).axes[0]
    assert not any(line.get_label().startswith("deployed form") for line in unmarked.lines)  # not on params
