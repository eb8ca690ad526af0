"""A whole sweep on the embedded data set with deployed forms on: every run records, for eager, ONNX fp32
and INT8, parity, test scores, latency and size, INT8 calibrated on training images only (checked against
the run's own split); the report shows the table and the forms' Pareto points, and ``bcbench compare``
rebuilds it, recomputing every form's scores from the stored rows. Without onnxruntime, the sweep still
runs and says so once."""

from __future__ import annotations

import pandas as pd
import pytest

import bcbench.sweep.deployed
from bcbench.analysis import analyse, load_sweep
from bcbench.cli import main as cli_main
from bcbench.deploy import DeployError
from bcbench.sweep import run_sweep
from tests import helpers
from tests.helpers import newest_json_records, quiet_console, run_in_process

DEPLOY = ("models=[simple_cnn]", "seeds=[0,1,2]", "deploy.forms=[onnx,onnx_int8]", "deploy.iterations=5")
MEASURED = ("cost.enabled=true", "cost.batch_sizes=[1,8]", "cost.warmup=1", "cost.iterations=3")
FORMS = ["eager", "onnx", "onnx_int8"]


@pytest.mark.slow
def test_a_sweep_with_deployed_forms_records_scores_and_reports_them(synthetic_root, tmp_path):
    pytest.importorskip("onnxruntime")
    config = helpers.tiny_config(synthetic_root, tmp_path, *DEPLOY, *MEASURED)
    assert run_sweep(config, console=quiet_console()).exit_code == 0
    directory = tmp_path / "tiny"
    records = newest_json_records(directory / "runs.jsonl")
    assert len(records) == 3
    for record in records.values():
        forms = record["deploy"]["forms"]
        assert list(forms) == FORMS and all(form["status"] == "ok" for form in forms.values())
        for form in forms.values():
            assert form["parity"]["test"]["images"] == record["data"]["n_test"]
            assert form["test"]["accuracy"] is not None and form["file_mb"] > 0
            assert form["timing"][0]["threads"] == 1 and form["timing"][0]["latency_ms"]["p50"] > 0
        assert forms["onnx"]["parity"]["test"]["max_abs_logit_diff"] <= 1e-4
        assert (
            forms["onnx"]["exporter"] == "dynamo" and forms["onnx_int8"]["file_mb"] < forms["onnx"]["file_mb"]
        )
        frame = pd.read_csv(directory / record["predictions"])
        held_out = set(frame.loc[frame["set"].isin(["val", "test"]), "index"])
        calibration = forms["onnx_int8"]["calibration_indices"]
        assert len(calibration) == 128 and not set(calibration) & held_out
        assert set(calibration) <= set(range(780)) - held_out  # training images of this run's split
        counts = frame["set"].value_counts()
        assert all(counts[f"form:{name}"] == record["data"]["n_test"] for name in FORMS)
    report = (directory / "report.md").read_text()
    assert "## Deployed forms" in report and "| simple_cnn | onnx_int8 | 3 |" in report
    assert "Every deployed form's test scores of all 3 runs" in report
    analysis = analyse(load_sweep(directory), directory)
    assert analysis.pareto.metric == "latency_p50_ms" and (directory / "pareto.png").is_file()
    assert [point.form for point in analysis.deploy.points] == FORMS  # drawn on the Pareto figure
    for name in ("report.md", "deploy.csv", "deploy_runs.csv"):
        (directory / name).unlink()
    assert run_in_process(cli_main, ["compare", str(directory)]) == 0
    assert (directory / "report.md").read_text() == report
    assert len(pd.read_csv(directory / "deploy_runs.csv")) == 9


@pytest.mark.slow
def test_without_onnxruntime_the_sweep_runs_and_says_so_once(synthetic_root, tmp_path, monkeypatch):
    def missing(*names):
        raise DeployError("onnxruntime, onnx not installed: deploy forms skipped")

    monkeypatch.setattr(bcbench.sweep.deployed, "import_optional", missing)
    config = helpers.tiny_config(synthetic_root, tmp_path, "models=[simple_cnn]", "seeds=[0,1]", *DEPLOY[2:])
    console = quiet_console()
    assert run_sweep(config, console=console).exit_code == 0
    assert console.export_text().count("onnxruntime not installed: deploy forms skipped") == 1
    for record in newest_json_records(tmp_path / "tiny" / "runs.jsonl").values():
        assert record["status"] == "ok" and record["test"]["accuracy"] is not None
        assert {form["status"] for form in record["deploy"]["forms"].values()} == {"failed"}
