"""Temperature scaling and the calibration scores, against hand values and their defining properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bcbench.metrics.calibration import (
    apply_temperature,
    brier_multiclass,
    calibration_block,
    calibration_scores,
    fit_temperature,
    nll,
)


def overconfident(seed: int = 0, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities of a model that is right 70% of the time but says 97%."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    predicted = np.where(rng.random(n) < 0.7, labels, (labels + rng.integers(1, 3, n)) % 3)
    probs = np.full((n, 3), 0.015)
    probs[np.arange(n), predicted] = 0.97
    return probs, labels


def test_brier_and_nll_by_hand():
    probs = np.array([[0.8, 0.2], [0.4, 0.6]])
    labels = np.array([0, 0])
    assert brier_multiclass(probs, labels) == pytest.approx(((0.2**2 + 0.2**2) + (0.6**2 + 0.6**2)) / 2)
    assert nll(probs, labels) == pytest.approx(-(math.log(0.8) + math.log(0.4)) / 2)


def test_the_binary_brier_is_the_usual_one_and_the_multiclass_one_is_named_as_such():
    from sklearn.metrics import brier_score_loss

    probs, labels = np.array([[0.8, 0.2], [0.4, 0.6], [0.1, 0.9]]), np.array([0, 0, 1])
    scores = calibration_scores(probs, labels)
    assert scores["brier"] == pytest.approx(brier_score_loss(labels, probs[:, 1]))  # (0.04 + 0.36 + 0.01) / 3
    assert scores["brier_multiclass"] == pytest.approx(2 * scores["brier"])
    three = calibration_scores(np.array([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3]]), np.array([0, 2]), positive=2)
    assert "brier" not in three
    assert three["brier_positive"] == pytest.approx(brier_score_loss([0, 1], [0.1, 0.3]))


def test_temperature_one_is_the_identity_and_scaling_matches_logits():
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]], dtype=torch.float64)
    probs = torch.softmax(logits, dim=1).numpy()
    assert np.allclose(apply_temperature(probs, 1.0), probs)
    assert np.allclose(apply_temperature(probs, 2.5), torch.softmax(logits / 2.5, dim=1).numpy())


def test_fitted_temperature_cools_an_overconfident_model_without_changing_predictions():
    val_probs, val_labels = overconfident(0)
    test_probs, test_labels = overconfident(1)
    temperature = fit_temperature(val_probs, val_labels)
    assert temperature > 1.5  # softens the 97% claims
    scaled = apply_temperature(test_probs, temperature)
    assert np.array_equal(scaled.argmax(1), test_probs.argmax(1))
    block = calibration_block(val_probs, val_labels, test_probs, test_labels)
    assert block["val_nll_after"] <= block["val_nll_before"]
    assert block["after"]["nll"] < block["before"]["nll"] and block["after"]["ece"] < block["before"]["ece"]
    assert block["after"]["brier_multiclass"] < block["before"]["brier_multiclass"]


def test_a_calibrated_model_keeps_a_temperature_near_one_and_never_raises_validation_nll():
    rng = np.random.default_rng(5)
    logits = rng.normal(size=(500, 3)) * 2
    probs = torch.softmax(torch.tensor(logits), dim=1).numpy()
    labels = np.array([rng.choice(3, p=row) for row in probs])  # labels drawn from the model itself
    temperature = fit_temperature(probs, labels)
    assert 0.8 < temperature < 1.25
    assert nll(apply_temperature(probs, temperature), labels) <= nll(probs, labels)
