"""The clinical report from stored predictions alone: bench/compare.py rebuilds the operating points,
calibration, DeLong comparisons and the three labelled kinds of uncertainty exactly."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from bcbench.report import rebuild
from bcbench.sweep import run_sweep
from tests.helpers import quiet_console, tiny_config

REBUILT = ("summary.csv", "pairwise.csv", "operating_points.csv", "calibration.csv", "delong.csv")


@pytest.mark.slow
def test_compare_rebuilds_the_clinical_view_from_stored_predictions(synthetic_root, tmp_path):
    overrides = ("models=[simple_cnn,study_mobilenet]", "seeds=[0,1,2]", "data.image_size=24")
    assert (
        run_sweep(tiny_config(synthetic_root, tmp_path, *overrides), console=quiet_console()).exit_code == 0
    )
    sweep = tmp_path / "tiny"
    report = (sweep / "report.md").read_text()
    for section in ("## How the intervals were made", "## Clinical view", "### AUROC: DeLong's test"):
        assert section in report
    assert "positive class: **malignant**" in report and "Wilson" in report
    first = {name: pd.read_csv(sweep / name) for name in REBUILT}
    operating = first["operating_points.csv"]
    assert len(operating) == 6 and operating["sensitivity_low"].between(0, 1).all()
    assert set(first["delong.csv"]["class"]) == {"benign", "malignant", "normal"}
    assert (
        first["calibration.csv"]["val_nll_after"] <= first["calibration.csv"]["val_nll_before"] + 1e-12
    ).all()
    summary = first["summary.csv"]
    scores = summary[summary["metric"].isin(["accuracy", "recall_normal", "f1_macro"])]
    assert scores["ci_t_low"].ge(0).all() and scores["ci_t_high"].le(1).all()
    for name in (*REBUILT, "report.md", "roc_pr.png", "reliability.png"):
        (sweep / name).unlink()
    shutil.rmtree(sweep / "claims", ignore_errors=True)
    rebuild([sweep])
    for name, frame in first.items():
        pd.testing.assert_frame_equal(pd.read_csv(sweep / name), frame, check_exact=False, rtol=1e-12)
    assert (sweep / "roc_pr.png").stat().st_size > 0 and (sweep / "reliability.png").stat().st_size > 0
    assert "every test metric of all 6 runs recomputed" in (sweep / "report.md").read_text().lower()
