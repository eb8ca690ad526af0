"""Temperature scaling and the calibration scores, against hand values and their defining properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bcbench.metrics.calibration import (
    apply_temperature,
    brier_multiclass,
    brier_one_vs_rest,
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


def _temperature_by_root(probs: np.ndarray, labels: np.ndarray) -> float:
    """The NLL-minimising T, from the root in beta = 1/T of dNLL/dbeta = mean(E_q[log p] - log p_true),
    q = softmax(beta log p): the NLL is convex in beta, so the root is its minimum."""
    from scipy.optimize import brentq
    from scipy.special import softmax

    log_p = np.log(probs)

    def slope(beta: float) -> float:
        q = softmax(beta * log_p, axis=1)
        return float(np.mean((q * log_p).sum(axis=1) - log_p[np.arange(len(labels)), labels]))

    return 1 / brentq(slope, math.exp(-4), math.exp(4), xtol=1e-14, rtol=1e-15)


def test_the_fitted_temperature_is_the_nll_minimum_to_a_part_in_ten_million():
    rng = np.random.default_rng(0)
    probs, labels = rng.dirichlet([1, 1, 1], 50), rng.integers(0, 3, 50)
    expected = _temperature_by_root(probs, labels)  # 7.2445163
    assert fit_temperature(probs, labels) == pytest.approx(expected, rel=1e-7)


def test_a_model_as_sure_as_it_is_right_keeps_a_temperature_of_one():
    # 80% sure of class 0 and right 4 times in 5: the NLL is minimal at T = 1 exactly
    assert fit_temperature(np.array([[0.8, 0.2]] * 5), np.array([0, 0, 0, 0, 1])) == pytest.approx(
        1.0, abs=1e-6
    )


def test_uniform_predictions_that_no_temperature_changes_keep_a_temperature_of_one():
    assert fit_temperature(np.full((4, 3), 1 / 3), np.array([0, 1, 2, 0])) == 1.0


def test_scaling_floors_a_zero_caps_one_and_stays_finite_at_a_tiny_temperature():
    root = math.sqrt(1e-15)  # a 0 is floored at 1e-15 first, so T = 2 makes it sqrt(1e-15) before normalising
    assert apply_temperature(np.array([[1.0, 0.0]]), 2.0)[0].tolist() == pytest.approx(
        [1 / (1 + root), root / (1 + root)], rel=1e-12, abs=0
    )
    above_one = apply_temperature(np.array([[1.0 + 1e-6, 0.0]]), 1.0)  # rounded above 1: read as 1
    assert above_one[0, 1] == pytest.approx(1e-15 / (1 + 1e-15), rel=1e-12, abs=0)
    sharp = apply_temperature(np.array([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]]), 0.001)  # rows of 3: C != N
    assert sharp == pytest.approx(np.array([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]]), abs=1e-15)
    single = np.array([[0.2, 0.5, 0.3], [0.6, 0.3, 0.1]], dtype=np.float32)
    logits = np.log(single.astype(np.float64)) / 2.5
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert apply_temperature(single, 2.5) == pytest.approx(expected, rel=1e-13)


def test_brier_scores_take_float_labels_and_float32_probabilities_exactly():
    probs = np.array([[0.3, 0.7], [0.9, 0.1], [0.35, 0.65]], dtype=np.float32)
    p1 = probs[:, 1].astype(np.float64)  # what the float32 numbers are, exactly
    labels = np.array([1.0, 1.0, 0.0])
    one_vs_rest = ((p1[0] - 1) ** 2 + (p1[1] - 1) ** 2 + p1[2] ** 2) / 3
    assert calibration_scores(probs, labels)["brier"] == pytest.approx(one_vs_rest, rel=1e-14)
    assert brier_one_vs_rest(probs, labels, 1) == pytest.approx(one_vs_rest, rel=1e-14)  # not float32 sums
    assert brier_multiclass(probs, labels) == pytest.approx(2 * one_vs_rest, rel=1e-7)


def _nll_by_hand(probs: np.ndarray, labels: np.ndarray) -> float:
    return -float(
        np.mean([math.log(max(row[label], 1e-15)) for row, label in zip(probs, labels, strict=True)])
    )


def test_the_calibration_block_scores_the_test_set_before_and_after_the_validation_temperature():
    rng = np.random.default_rng(0)
    val_probs, val_labels = rng.dirichlet([1, 1, 1], 50), rng.integers(0, 3, 50)
    test_probs, test_labels = (
        np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.5, 0.4, 0.1]]),
        np.array([0, 1, 1]),
    )
    block = calibration_block(val_probs, val_labels, test_probs, test_labels)
    temperature = _temperature_by_root(val_probs, val_labels)
    assert list(block) == ["method", "temperature", "val_nll_before", "val_nll_after", "before", "after"]
    assert block["method"] == "temperature scaling fitted on the validation predictions"
    assert block["temperature"] == pytest.approx(temperature, rel=1e-7)
    assert block["val_nll_before"] == pytest.approx(_nll_by_hand(val_probs, val_labels), rel=1e-12)
    logits = np.log(val_probs) / temperature
    scaled_val = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert block["val_nll_after"] == pytest.approx(_nll_by_hand(scaled_val, val_labels), rel=1e-6)
    assert block["before"] == pytest.approx(
        {
            "nll": _nll_by_hand(test_probs, test_labels),
            "ece": (abs(0.7 - 1) + abs(0.6 - 0) + abs(0.5 - 0)) / 3,  # one image in each of three bins
            "brier_multiclass": ((0.09 + 0.04 + 0.01) + (0.01 + 0.49 + 0.36) + (0.25 + 0.36 + 0.01)) / 3,
        },
        rel=1e-12,
    )
    logits = np.log(test_probs) / temperature
    scaled = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert list(block["after"]) == ["nll", "ece", "brier_multiclass"]
    assert block["after"]["nll"] == pytest.approx(_nll_by_hand(scaled, test_labels), rel=1e-6)
    onehot = np.eye(3)[test_labels]
    assert block["after"]["brier_multiclass"] == pytest.approx(
        ((scaled - onehot) ** 2).sum(axis=1).mean(), rel=1e-6
    )
