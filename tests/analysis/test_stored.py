"""The recompute check: a run's test block rebuilt from its stored predictions, compared with its record."""

from __future__ import annotations

import numpy as np
import torch

from bcbench.analysis.stored import check_stored_predictions, differing_keys, recompute_test_block
from bcbench.metrics import TestMetrics, evaluate
from bcbench.record import RunRecord, prediction_rows, with_calibrated, write_predictions

CLASSES = ["benign", "malignant", "normal"]


def fake_split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    generator = torch.Generator().manual_seed(seed)
    probs = torch.softmax(torch.randn(n, 3, generator=generator), dim=1).to(torch.float32).numpy()
    return probs, torch.randint(0, 3, (n,), generator=generator).numpy()


def _stored_run(directory) -> RunRecord:
    (val_probs, val_y), (test_probs, test_y) = fake_split(40, 0), fake_split(60, 1)
    block = evaluate(test_probs, test_y, val_probs, val_y, CLASSES)
    frames = [
        prediction_rows("val", [f"v{i}.png" for i in range(40)], range(40), val_y, val_probs, CLASSES),
        prediction_rows(
            "test", [f"t{i}.png" for i in range(60)], range(40, 100), test_y, test_probs, CLASSES
        ),
    ]
    temperature = block.calibration["temperature"]
    relative = write_predictions(
        directory, "run-1", [with_calibrated(f, CLASSES, temperature) for f in frames]
    )
    return RunRecord(run_id="run-1", status="ok", test=block, predictions=relative)


def test_the_recomputed_block_equals_the_recorded_one(tmp_path):
    record = _stored_run(tmp_path)
    recomputed = recompute_test_block(tmp_path, record)
    assert recomputed == record.test.to_json()
    assert check_stored_predictions([record], tmp_path) == {"run-1": []}


def test_a_changed_number_is_caught_and_last_bit_noise_is_not():
    record = RunRecord(run_id="r", status="ok", test=TestMetrics(accuracy=0.5, f1_macro=0.4, n=10))
    assert differing_keys({"accuracy": 0.5, "f1_macro": 0.41, "n": 10}, record) == ["f1_macro"]
    assert differing_keys({"accuracy": 0.5 + 1e-15, "f1_macro": 0.4, "n": 10}, record) == []
    assert differing_keys({"accuracy": 0.5, "f1_macro": 0.4, "n": 11}, record) == ["n"]
    older = RunRecord(
        run_id="r", status="ok", test=TestMetrics(calibration={"before": {"brier": 0.3, "nll": 1.0}})
    )
    renamed = {"calibration": {"before": {"brier_multiclass": 0.3, "nll": 1.0}}}
    assert differing_keys(renamed, older) == []  # a score renamed since is not a difference
    assert differing_keys({"calibration": {"before": {"nll": 1.1}}}, older) == ["calibration"]


def test_runs_without_stored_predictions_are_not_checked(tmp_path):
    gone = RunRecord(run_id="gone", status="ok", predictions="predictions/gone.csv")
    assert recompute_test_block(tmp_path, gone) is None
    assert check_stored_predictions([gone, RunRecord(run_id="old", status="ok")], tmp_path) == {}
