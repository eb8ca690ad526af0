"""A tiny sweep with ``explain`` on, on the embedded data set (masks beside every image, none for normal):
every run stores its explanation files and block, the report has the section and the figure, and
``bcbench compare`` rebuilds them exactly from the stored files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bcbench.record import read_sweep
from bcbench.sweep import run_sweep
from tests.helpers import quiet_console, tiny_config
from tests.report.fake_records import compare

TEST_NORMAL = 20  # normal images of the synthetic set's test split: empty masks, so excluded


@pytest.mark.slow
def test_a_sweep_with_explain_on_stores_scores_and_maps_and_compare_rebuilds_the_report(
    synthetic_root, tmp_path
):
    overrides = ("models=[simple_cnn,study_mobilenet]", "seeds=[0,1]", "explain.enabled=true")
    overrides += ("explain.figure_count=3", "data.image_size=32")
    assert (
        run_sweep(tiny_config(synthetic_root, tmp_path, *overrides), console=quiet_console()).exit_code == 0
    )

    sweep = tmp_path / "tiny"
    records = read_sweep(sweep).newest()
    assert len(records) == 4 and all(record.ok for record in records)
    for record in records:
        block = record.explain
        assert (block.images, block.excluded, block.scored) == (117, TEST_NORMAL, 117 - TEST_NORMAL)
        assert record.data.audit["masks"]["without_lesion"]["test"] == TEST_NORMAL
        table = pd.read_csv(sweep / block.table)
        assert table["relpath"].str.startswith("normal/").tolist() == (~table["has_lesion"]).tolist()
        assert table.loc[table["has_lesion"], "gradcam.ap"].between(0, 1).all()
        with np.load(sweep / block.maps) as stored:
            assert stored["gradcam"].shape == (97, 32, 32) and len(stored["figure_relpath"]) == 3
            assert all(path.startswith("malignant/") for path in stored["figure_relpath"])
        assert block.seconds["total"] > 0

    report = (sweep / "report.md").read_text()
    assert "## Where the models look" in report and "](explain.png)" in report
    assert "| centre prior | centre |" in report and "### Repeatability and reproducibility" in report
    table = (sweep / "explain.csv").read_text()
    for name in ("report.md", "explain.csv", "explain.png"):
        (sweep / name).unlink()

    assert compare([sweep]) == 0
    assert (sweep / "report.md").read_text() == report and (sweep / "explain.csv").read_text() == table
    assert (sweep / "explain.png").stat().st_size > 0
