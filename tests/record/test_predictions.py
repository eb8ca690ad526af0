"""Stored per-image predictions: written atomically, read back exactly, every test metric recomputed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from bcbench.metrics import TestMetrics, classification_metrics
from bcbench.metrics.calibration import calibration_block
from bcbench.metrics.stratified import METHOD as BOOTSTRAP_METHOD
from bcbench.metrics.stratified import bootstrap_intervals
from bcbench.record import RunRecord
from bcbench.record.predictions import (
    matches_record,
    prediction_rows,
    probabilities,
    read_predictions,
    recompute_test_metrics,
    with_calibrated,
    write_predictions,
)

CLASSES = ["benign", "malignant", "normal"]


def fake_split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    generator = torch.Generator().manual_seed(seed)
    probs = torch.softmax(torch.randn(n, 3, generator=generator), dim=1).to(torch.float32).numpy()
    return probs, torch.randint(0, 3, (n,), generator=generator).numpy()


def test_recomputed_test_metrics_equal_the_recorded_ones_exactly(tmp_path):
    (val_probs, val_y), (test_probs, test_y) = fake_split(40, 0), fake_split(60, 1)
    recorded = classification_metrics(torch.from_numpy(test_probs), torch.from_numpy(test_y), CLASSES)
    recorded["bootstrap"] = bootstrap_intervals(test_probs, test_y, CLASSES)
    recorded["bootstrap_method"] = BOOTSTRAP_METHOD
    recorded["calibration"] = calibration_block(val_probs, val_y, test_probs, test_y)
    frames = [
        prediction_rows("val", [f"v{i}.png" for i in range(40)], range(40), val_y, val_probs, CLASSES),
        prediction_rows(
            "test", [f"t{i}.png" for i in range(60)], range(40, 100), test_y, test_probs, CLASSES
        ),
    ]
    temperature = recorded["calibration"]["temperature"]
    relative = write_predictions(
        tmp_path, "run-1", [with_calibrated(f, CLASSES, temperature) for f in frames]
    )
    record = RunRecord(
        run_id="run-1", status="ok", test=TestMetrics.from_json(recorded), predictions=relative
    )
    record.extra["classes"] = CLASSES
    record.data = None
    record.test.per_class = TestMetrics.from_json(recorded).per_class  # class names come from the test block
    recomputed = recompute_test_metrics(tmp_path, record)
    assert matches_record(recomputed, record) == []
    stored = read_predictions(tmp_path, record)
    assert list(stored["set"].unique()) == ["val", "test"] and len(stored) == 100
    probs, labels = probabilities(stored[stored["set"] == "test"], CLASSES)
    assert np.array_equal(probs, test_probs.astype(np.float64)) and np.array_equal(labels, test_y)
    calibrated, _ = probabilities(stored[stored["set"] == "test"], CLASSES, calibrated=True)
    assert np.array_equal(calibrated.argmax(1), test_probs.argmax(1))


def test_a_changed_number_is_caught():
    record = RunRecord(run_id="r", status="ok", test=TestMetrics(accuracy=0.5, f1_macro=0.4))
    assert matches_record({"accuracy": 0.5, "f1_macro": 0.41}, record) == ["f1_macro"]


def test_runs_without_stored_predictions_are_skipped(tmp_path):
    assert read_predictions(tmp_path, RunRecord(run_id="old", status="ok")) is None
    gone = RunRecord(run_id="gone", status="ok", predictions="predictions/gone.csv")
    assert read_predictions(tmp_path, gone) is None and recompute_test_metrics(tmp_path, gone) is None


def test_prediction_rows_are_one_row_per_image_with_a_probability_column_per_class():
    probs, labels = fake_split(5, 2)
    frame = prediction_rows(
        "external:site-b", list("abcde"), range(5), labels, probs, CLASSES, repeat=1, fold=2
    )
    assert isinstance(frame, pd.DataFrame) and len(frame) == 5
    assert list(frame.columns) == [
        "set", "index", "path", "split", "repeat", "fold", "label", "label_index",
        "prob_benign", "prob_malignant", "prob_normal",
    ]  # fmt: skip
    assert frame["label"].tolist() == [CLASSES[i] for i in labels]
