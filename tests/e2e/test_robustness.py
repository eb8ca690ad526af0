"""A whole sweep on the embedded data set with corruption curves on: every run predicts its test set under
each corruption x severity, records what it cost, and the report (rebuilt by ``bcbench compare`` without
training) shows corruption curves, ensembles and selective prediction."""

from __future__ import annotations

import pandas as pd
import pytest

from bcbench.cli import main as cli_main
from bcbench.sweep import run_sweep
from tests import helpers
from tests.helpers import newest_json_records, quiet_console, run_in_process

ROBUST = (
    "models=[simple_cnn,study_mobilenet]",
    "seeds=[0,1]",
    "robustness.corruptions=[speckle_noise,gaussian_blur]",
    "robustness.severities=[1,5]",
    "robustness.reference_model=study_mobilenet",
)


@pytest.mark.slow
def test_a_sweep_with_corruption_curves_stores_records_rows_and_report(synthetic_root, tmp_path):
    config = helpers.tiny_config(synthetic_root, tmp_path, *ROBUST)
    assert run_sweep(config, console=quiet_console()).exit_code == 0
    directory = tmp_path / "tiny"
    records = newest_json_records(directory / "runs.jsonl")
    assert len(records) == 4
    distances = set()
    for record in records.values():
        block = record["robustness"]
        assert block["corruptions"] == ["speckle_noise", "gaussian_blur"] and block["severities"] == [1, 5]
        assert block["images"] == record["data"]["n_test"] and block["device"] == "cpu"
        assert block["seconds"] >= block["corrupt_seconds"] + block["predict_seconds"] > 0
        for values in block["distance"].values():
            assert values[1] > values[0] >= 0
        distances.add(repr(block["distance"]))
        frame = pd.read_csv(directory / record["predictions"])
        counts = frame["set"].value_counts()
        for name in ("speckle_noise", "gaussian_blur"):
            for severity in (1, 5):
                assert counts[f"corrupted:{name}:{severity}"] == record["data"]["n_test"]
    assert len(distances) == 1  # the same test images, keyed by their hash: the same corruptions in every run
    report = (directory / "report.md").read_text()
    for heading in ("## Corruption curves", "## Ensembles of stored predictions", "## Selective prediction"):
        assert heading in report
    assert "relative to study_mobilenet" in report
    for name in (
        "corruption.csv",
        "ensembles.csv",
        "selective.csv",
        "corruption_curves.png",
        "risk_coverage.png",
    ):
        assert (directory / name).is_file()
    for name in ("report.md", "ensembles.csv"):
        (directory / name).unlink()
    assert run_in_process(cli_main, ["compare", str(directory)]) == 0
    assert (directory / "report.md").read_text() == report
    assert set(pd.read_csv(directory / "ensembles.csv")["kind"]) == {"seeds", "models"}
