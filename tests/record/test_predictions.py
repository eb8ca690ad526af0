"""Stored per-image predictions: one row per image, written atomically, read back exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from bcbench.record import RunRecord
from bcbench.record.predictions import (
    prediction_rows,
    probabilities,
    read_predictions,
    with_calibrated,
    write_predictions,
)

CLASSES = ["benign", "malignant", "normal"]


def fake_split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    generator = torch.Generator().manual_seed(seed)
    probs = torch.softmax(torch.randn(n, 3, generator=generator), dim=1).to(torch.float32).numpy()
    return probs, torch.randint(0, 3, (n,), generator=generator).numpy()


def test_predictions_are_read_back_exactly_with_the_calibrated_columns(tmp_path):
    probs, labels = fake_split(30, 1)
    frame = prediction_rows("test", [f"t{i}.png" for i in range(30)], range(30), labels, probs, CLASSES)
    relative = write_predictions(tmp_path, "run-1", [with_calibrated(frame, CLASSES, 2.0)])
    stored = read_predictions(tmp_path, RunRecord(run_id="run-1", predictions=relative))
    read, read_labels = probabilities(stored, CLASSES)
    assert np.array_equal(read, probs.astype(np.float64)) and np.array_equal(read_labels, labels)
    calibrated, _ = probabilities(stored, CLASSES, calibrated=True)
    expected = np.exp(np.log(probs.astype(np.float64)) / 2.0)
    np.testing.assert_allclose(calibrated, expected / expected.sum(axis=1, keepdims=True), rtol=1e-12)
    assert not list(tmp_path.rglob("*.tmp"))


def test_runs_without_stored_predictions_read_none(tmp_path):
    assert read_predictions(tmp_path, RunRecord(run_id="old", status="ok")) is None
    gone = RunRecord(run_id="gone", status="ok", predictions="predictions/gone.csv")
    assert read_predictions(tmp_path, gone) is None


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
