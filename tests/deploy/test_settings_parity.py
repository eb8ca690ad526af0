"""DeploySettings' checks, the parity figures against hand arithmetic, the result block's JSON round trip."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from bcbench.deploy import DeploySettings, FormResult, FormTiming, ParityBlock, parity
from bcbench.errors import ConfigError
from tests.helpers import assert_one_line_error


@pytest.mark.parametrize(
    ("changes", "fragments"),
    [
        ({"forms": ("onnx", "tensorrt")}, ("deploy.forms", "tensorrt")),
        ({"threads": (0,)}, ("deploy.threads", ">= 1")),
        ({"threads": ()}, ("deploy.threads",)),
        ({"exporter": "jit"}, ("deploy.exporter", "dynamo")),
        ({"opset": 11}, ("deploy.opset", ">= 13")),
        ({"batch_size": 0}, ("deploy.batch_size",)),
        ({"repeats": 0}, ("deploy.repeats",)),
        ({"normalize": "zscore"}, ("deploy.normalize",)),
    ],
)
def test_settings_reject_bad_values_naming_the_key(changes, fragments):
    with pytest.raises(ConfigError) as error:
        DeploySettings(**changes).checked()
    assert_one_line_error(error, *fragments)


def test_eager_comes_first_and_each_form_once():
    settings = DeploySettings(forms=("onnx_int8", "onnx", "eager", "onnx"))
    assert settings.requested_forms() == ("eager", "onnx_int8", "onnx")


def test_parity_against_hand_arithmetic():
    reference = np.array([[1.0, 2.0], [3.0, 0.0], [0.0, 0.0]])
    form = np.array([[1.0, 2.5], [2.0, 2.5], [0.0, 0.0]])
    block = parity(reference, form)
    assert block.images == 3
    assert block.max_abs_logit_diff == pytest.approx(2.5)
    assert block.reference_max_abs_logit == 3.0
    assert block.top1_agreement == pytest.approx(2 / 3)  # row 2 flips from class 0 to class 1
    # row 2 moves most: p0 = 1 / (1 + e^(0 - 3)) for eager, 1 / (1 + e^(2.5 - 2)) for the form
    expected = 1 / (1 + math.exp(-3.0)) - 1 / (1 + math.exp(0.5))
    assert block.max_abs_probability_diff == pytest.approx(expected, abs=1e-12)


def test_probability_difference_is_at_most_half_the_logit_difference():
    rng = np.random.default_rng(0)
    reference = rng.normal(scale=3.0, size=(500, 4))
    block = parity(reference, reference + rng.normal(scale=0.01, size=reference.shape))
    assert 0 < block.max_abs_probability_diff <= block.max_abs_logit_diff / 2


def test_parity_refuses_mismatched_shapes_and_handles_no_images():
    with pytest.raises(ValueError, match="cannot be compared"):
        parity(np.zeros((2, 3)), np.zeros((2, 2)))
    assert parity(np.zeros((0, 3)), np.zeros((0, 3))).top1_agreement is None


def test_form_result_round_trips_through_json():
    result = FormResult(
        form="onnx_int8", exporter="dynamo", opset=20, file_mb=1.5, calibration_indices=[4, 9],
        parity={"test": ParityBlock(images=2, max_abs_logit_diff=0.1, top1_agreement=1.0)},
        timing=[FormTiming(threads=1, latency_ms={"p50": 1.0}, throughput={"images_per_s": 10.0})],
    )  # fmt: skip
    text = json.dumps(result.fail("INT8 quantisation failed: x").to_json())
    loaded = FormResult.from_json(json.loads(text))
    assert loaded == result
    assert loaded.status == "failed" and not loaded.ok
    assert loaded.timing[0].latency_ms == {"p50": 1.0} and loaded.timing_summary(2) is None


def test_timing_summary_is_the_median_over_rounds():
    rounds = [
        FormTiming(threads=1, round=index, latency_ms={"p50": p50, "p90": p50 + 1, "p99": p50 + 2},
                   throughput={"images_per_s": speed, "batch_size_run": 32})
        for index, (p50, speed) in enumerate([(5.0, 100.0), (3.0, 300.0), (9.0, 200.0)])
    ]  # fmt: skip
    other = FormTiming(threads=2, latency_ms={"p50": 1.0, "p90": 1.0, "p99": 1.0}, throughput=None)
    summary = FormResult(form="onnx", timing=[*rounds, other]).timing_summary(1)
    assert summary["latency_ms"] == {"p50": 5.0, "p90": 6.0, "p99": 7.0}
    assert summary["images_per_s"] == 200.0 and summary["batch_size"] == 32 and summary["rounds"] == 3
