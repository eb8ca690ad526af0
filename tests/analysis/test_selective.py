"""Selective prediction through the analysis: AURC, accuracy and sensitivity at a coverage worked out by hand
from the stored temperature-scaled probabilities (not the raw ones, which rank the images the other way)."""

from __future__ import annotations

import numpy as np
import pytest

from bcbench.analysis import analyse
from bcbench.analysis.pooled import read_frames, seed_units
from bcbench.analysis.selective import selective_analysis
from bcbench.data import DataSummary
from bcbench.metrics import TestMetrics, selective_block, stratified_indices
from bcbench.record import (
    RunRecord,
    append_record,
    prediction_rows,
    read_sweep,
    shard_path,
    write_predictions,
)
from tests.analysis.fake_sweep import CLASSES

LABELS = [1, 0, 1, 2, 1]  # benign 0, malignant 1, normal 2
# temperature-scaled: confidences 0.9 (right), 0.8 (wrong), 0.7 (right), 0.6 (right), 0.5 (wrong)
CALIBRATED = [[0.05, 0.9, 0.05], [0.1, 0.1, 0.8], [0.15, 0.7, 0.15], [0.2, 0.2, 0.6], [0.5, 0.25, 0.25]]
# raw: the same classes win, the confidences run the other way
RAW = [[0.25, 0.5, 0.25], [0.2, 0.2, 0.6], [0.15, 0.7, 0.15], [0.1, 0.1, 0.8], [0.9, 0.05, 0.05]]


def hand_run(directory, seed: int = 0, calibrated=CALIBRATED) -> None:
    rows = prediction_rows(
        "test", [f"t/{i}.png" for i in range(5)], range(5), np.asarray(LABELS), np.asarray(RAW), CLASSES
    )
    for column, name in enumerate(CLASSES):
        rows[f"cal_prob_{name}"] = [row[column] for row in calibrated]
    run_id = f"m-s{seed}"
    record = RunRecord(
        run_id=run_id,
        model="m",
        seed=seed,
        status="ok",
        config={"evaluation": {"positive_class": "malignant"}},
        data=DataSummary(classes=list(CLASSES)),
        test=TestMetrics(calibration={"temperature": 2.0}),
        predictions=write_predictions(directory, run_id, [rows.assign(set="val", split="val"), rows]),
    )
    append_record(shard_path(directory, "w"), record)


def selective_of(directory, n_boot: int = 50):
    records = read_sweep(directory).records
    return selective_analysis(seed_units(records, read_frames(records, directory)), "malignant", n_boot)


def test_aurc_and_coverage_numbers_by_hand_from_the_calibrated_probabilities(tmp_path):
    hand_run(tmp_path)
    (row,) = selective_of(tmp_path).rows
    # errors in confidence order 0, 1, 0, 0, 1: risks 0, 1/2, 1/3, 1/4, 2/5
    assert row["aurc"] == pytest.approx((0 + 1 / 2 + 1 / 3 + 1 / 4 + 2 / 5) / 5, abs=1e-15)
    # a perfect ranking of 3 right and 2 wrong: risks 0, 0, 0, 1/4, 2/5
    assert row["eaurc"] == pytest.approx(row["aurc"] - (1 / 4 + 2 / 5) / 5, abs=1e-15)
    # 80% keeps ceil(4) = 4 images: 3 right; malignant kept: images 0 and 2, both called malignant
    assert row["accuracy_at_80"] == pytest.approx(3 / 4) and row["sensitivity_at_80"] == pytest.approx(1.0)
    # 90% keeps ceil(4.5) = 5: 3 right; malignant kept: 0, 2 and 4, two called malignant
    assert row["accuracy_at_90"] == pytest.approx(3 / 5) and row["sensitivity_at_90"] == pytest.approx(2 / 3)
    assert (row["seeds"], row["n"], row["aurc_std"]) == (1, 5, None)


def test_the_curve_is_the_selective_risk_at_each_coverage(tmp_path):
    hand_run(tmp_path)
    curve = selective_of(tmp_path).curves["m"]
    risks = {
        0.2: 0.0,
        0.4: 1 / 2,
        0.6: 1 / 3,
        0.8: 1 / 4,
        1.0: 2 / 5,
        0.21: 1 / 2,
    }  # 0.21 keeps ceil(1.05) = 2
    for coverage, risk in risks.items():
        assert curve["mean"][np.isclose(curve["coverage"], coverage)][0] == pytest.approx(risk)


def test_the_interval_resamples_the_test_images_the_same_way_for_every_seed(tmp_path):
    hand_run(tmp_path, 0)
    hand_run(tmp_path, 1, calibrated=RAW)  # a second seed that ranks the other way
    analysis = selective_of(tmp_path, n_boot=40)
    (row,) = analysis.rows
    per_seed = [selective_block(np.asarray(p), LABELS, 1)["aurc"] for p in (CALIBRATED, RAW)]
    assert row["aurc"] == pytest.approx(np.mean(per_seed)) and row["aurc_std"] == pytest.approx(
        np.std(per_seed, ddof=1)
    )
    index = stratified_indices(np.asarray(LABELS), 3, 40, np.random.default_rng(0))
    labels = np.asarray(LABELS)
    draws = [
        np.mean([selective_block(np.asarray(p)[rows], labels[rows], 1)["aurc"] for p in (CALIBRATED, RAW)])
        for rows in index
    ]
    assert (row["aurc_low"], row["aurc_high"]) == pytest.approx(
        tuple(np.quantile(draws, [0.025, 0.975])), abs=1e-12
    )


def test_analyse_fills_the_selective_view_with_the_sweep_s_positive_class(tmp_path):
    hand_run(tmp_path)
    selective = analyse(read_sweep(tmp_path).records, tmp_path).robustness.selective
    assert selective.positive == "malignant" and selective.rows[0]["sensitivity_at_90"] == pytest.approx(
        2 / 3
    )
