"""The channels_last form: the same network in channels-last memory format, on a copy of the model, giving
eager's logits (computed here by hand-normalised input) up to float reordering."""

from __future__ import annotations

import numpy as np

from bcbench.deploy import DeploySettings, evaluate_forms
from tests.deploy.helpers import eager_logits, softmax_by_hand, tiny_cnn, uint8_images


def test_channels_last_gives_eager_probabilities_and_leaves_the_model_alone():
    model, images = tiny_cnn(), uint8_images(12, seed=5)
    settings = DeploySettings(forms=("channels_last",), timing=True, iterations=2, batch_size=4)
    outcomes = evaluate_forms(model, settings, {"test": images})
    result = outcomes["channels_last"].result
    assert result.ok and result.precision == "fp32" and result.file_mb > 0
    assert result.parity["test"].max_abs_logit_diff <= 1e-5 and result.parity["test"].top1_agreement == 1.0
    expected = softmax_by_hand(eager_logits(model, images))
    assert np.abs(outcomes["channels_last"].probabilities["test"] - expected).max() <= 1e-5
    assert result.timing_summary(1)["latency_ms"]["p50"] > 0
    assert model[0].weight.is_contiguous()  # the copy was converted, not the model
